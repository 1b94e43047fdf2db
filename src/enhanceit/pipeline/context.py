"""What the steps of one image share: the prepared request, the files, the engine, the clock, the checks.

A still image goes through :mod:`enhanceit.pipeline.process`'s steps, an animation through
:mod:`enhanceit.pipeline.animated`'s, each step a function of one :class:`Run`; both end in an
:class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from enhanceit.engine.plan import Plan
from enhanceit.engine.runtime import Engine, Progress
from enhanceit.imaging.encode import Encoded
from enhanceit.imaging.probe import ImageInfo
from enhanceit.imaging.raster import Raster
from enhanceit.models.spec import ModelSpec
from enhanceit.pipeline.clock import Clock
from enhanceit.pipeline.prepared import Prepared


@dataclass
class Outcome:
    encoded: Encoded
    input: ImageInfo
    #: The concrete model that ran (an alias such as ``photo`` resolved).
    model: ModelSpec
    plan: Plan
    #: Seconds per phase: probe, decode, inference, encode.
    timings: dict[str, float] = field(default_factory=dict)
    #: What the user should know about the result, in plain words (a damaged input, say).
    warnings: list[str] = field(default_factory=list)
    #: Frames of an animation that were identical to the one before and reused its result.
    reused_frames: int = 0

    @property
    def frames(self) -> int:
        return self.encoded.frames

    @property
    def noise(self) -> int:
        """The noise reduction level that ran (-1: none)."""
        return self.plan.noise

    @property
    def animated(self) -> bool:
        return self.encoded.frames > 1


@dataclass
class Run:
    """One image going through the steps: what they all read, and the clock they are timed on."""

    src: Path
    dst: Path
    prepared: Prepared
    engine: Engine
    tmp_dir: Path | None
    progress: Progress | None
    check: Callable[[], None] | None
    clock: Clock

    def checkpoint(self) -> None:
        if self.check is not None:
            self.check()

    def infer(self, raster: Raster, work: Path, progress: Progress | None = None, plan: Plan | None = None) -> Raster:
        """``raster`` through the prepared plan (or ``plan``, the same model's), at the request's TTA and
        tile, stopping where ``check`` says; the last pass's raster (``raster`` itself if no pass)."""
        p = self.prepared
        return self.engine.run_plan(
            p.model,
            plan or p.plan,
            raster,
            work,
            tta=p.options.tta,
            tile=p.options.tile,
            progress=progress,
            check=self.check,
        )

    def outcome(self, encoded: Encoded, warnings: list[str], reused_frames: int = 0) -> Outcome:
        p = self.prepared
        return Outcome(encoded, p.info, p.model, p.plan, self.clock.timings, warnings, reused_frames)
