"""A request decided once: what the input is, which model runs how, and what comes out, before pixels move.

:func:`prepare` reads the input's header (the only time a job does) and makes every decision the later steps
need; the result is a frozen :class:`Prepared` that the steps read and no step decides again::

    probe header -> check input limits (pixels, frames) -> output format and size -> check output limits
      -> choose the model (alias and noise: auto resolved), plan its passes -> check work and scratch

A job whose header was read at submit keeps it (:attr:`enhanceit.jobs.model.Job.input`), and the worker
decides again from it with :func:`decide`, which reads no file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from enhanceit.config import LimitSettings
from enhanceit.engine.choose import Coding, choose
from enhanceit.engine.plan import Plan, target_size
from enhanceit.engine.runtime import Engine
from enhanceit.imaging.decode import TRUNCATED, TRUNCATED_FRAMES, cut_short
from enhanceit.imaging.formats import OutputFormat
from enhanceit.imaging.info import ImageInfo
from enhanceit.imaging.probe import probe
from enhanceit.models.spec import ModelSpec
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.limits import check_input, check_output_size, check_scratch, check_work, output_format_for


@dataclass(frozen=True)
class Prepared:
    """Everything decided about one request before any pixel is decoded."""

    #: The input's header.
    info: ImageInfo
    #: The request's options with the output format settled (PNG, or an animation's own): what a result
    #: is stored and found again under.
    options: EnhanceOptions
    #: The concrete model (an alias resolved).
    model: ModelSpec
    #: Its passes (``noise: auto`` resolved) and the exact output size.
    plan: Plan
    #: Whether the alpha channel goes through the network too (a still with alpha, ``alpha: network``).
    alpha_pass: bool

    @property
    def format(self) -> OutputFormat:
        assert self.options.format is not None  # settled by decide()
        return self.options.format

    @property
    def animated(self) -> bool:
        """Every frame of an animation is asked for (else its first frame is a still image)."""
        return self.info.animated and self.options.frames == "all"

    @property
    def noise(self) -> int:
        return self.plan.noise


def prepare(src: Path, options: EnhanceOptions, engine: Engine, limits: LimitSettings) -> Prepared:
    """Read ``src``'s header and decide the request; raises before any pixel is decoded if it cannot run."""
    return decide(probe(src), options, engine, limits)


def decide(info: ImageInfo, options: EnhanceOptions, engine: Engine, limits: LimitSettings) -> Prepared:
    """The decisions for an input whose header is ``info`` (read before, maybe by another process)."""
    check_input(info, limits)
    fmt = output_format_for(info, options.format, options.frames)
    width, height = target_size(info.width, info.height, options.scale, options.width, options.height)
    frames = info.frames if options.frames == "all" else 1
    check_output_size(width, height, fmt, limits, frames=frames)
    spec, plan = choose(
        engine.registry, options.model, options.noise, info.width, info.height, width, height, Coding.of(info)
    )
    # the alpha through the network too (stills only: an animation's alpha is resized)
    alpha_pass = options.alpha == "network" and info.has_alpha and frames == 1 and bool(plan.passes)
    check_work(info, plan, options.tta, limits, frames=frames, alpha_pass=alpha_pass)
    check_scratch(info, plan, limits, frames=frames, alpha_pass=alpha_pass)
    settled = options.model_copy(update={"format": fmt})
    return Prepared(info=info, options=settled, model=spec, plan=plan, alpha_pass=alpha_pass)


def input_warnings(src: Path, info: ImageInfo) -> list[str]:
    """The warnings decoding ``src`` gives, known without decoding it: for a result that is reused."""
    if not cut_short(src, info.format):
        return []
    return [TRUNCATED_FRAMES if info.animated else TRUNCATED]
