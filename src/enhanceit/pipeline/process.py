"""One image from a file to a file: the processing pipeline as a list of small steps.

    probe header -> check input limits (pixels, frames) -> output format -> check output limits
      -> choose the model, plan passes -> check work
      -> decode (orient, colour, fill alpha) -> enhance tiles -> encode (resize, alpha, profile) -> rename

An animation (all its frames asked for) takes the same steps one frame at a time
(:mod:`enhanceit.pipeline.animated`).

Each step is timed; ``check`` runs between steps and between tiles, and raises to stop (cancel, deadline).
The CLI calls this directly; the service's worker calls it between fetching and storing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from enhanceit.config import LimitSettings
from enhanceit.engine.choose import Coding, choose
from enhanceit.engine.plan import Plan, make_plan, target_size
from enhanceit.engine.runtime import Engine, Progress
from enhanceit.errors import InsufficientStorage, UndecodableImage, disk_full
from enhanceit.imaging.decode import TRUNCATED, TRUNCATED_FRAMES, Decoded, cut_short, decode
from enhanceit.imaging.encode import Encoded, encode
from enhanceit.imaging.probe import ImageInfo, probe
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.models.spec import ModelSpec
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.animated import enhance_animation
from enhanceit.pipeline.clock import Clock
from enhanceit.pipeline.limits import (
    check_input,
    check_output_size,
    check_scratch,
    check_work,
    output_format_for,
)


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


def prepare(
    src: Path, options: EnhanceOptions, engine: Engine, limits: LimitSettings
) -> tuple[ImageInfo, ModelSpec, Plan]:
    """Probe the header, choose the model and plan the work; raises before any pixel is decoded if the
    request cannot run."""
    info = probe(src)
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
    return info, spec, plan


def resolve_options(src: Path, options: EnhanceOptions) -> EnhanceOptions:
    """``options`` with the output format settled from the input's header (PNG, or an animation's own
    format when none was asked for): what a result is stored and found again under."""
    return options.model_copy(update={"format": output_format_for(probe(src), options.format, options.frames)})


def alpha_by_network(
    engine: Engine,
    spec: ModelSpec,
    decoded: Decoded,
    plan: Plan,
    work: Path,
    options: EnhanceOptions,
    check: Callable[[], None] | None,
) -> Raster:
    """The input's alpha channel enlarged by the same network as its colours (``alpha: network``): a grey
    image in all three bands, through the plan's passes without noise reduction (alpha holds no JPEG
    noise); the result's first band is the alpha, resized to the exact size when encoded."""
    info = decoded.raster.info
    grey = Raster.create(work / "alpha-in.raw", RasterInfo(info.width, info.height, 3, info.dtype))
    try:
        rows = max(1, (1 << 20) // max(1, info.row_bytes))
        for y in range(0, info.height, rows):
            band = decoded.raster.read_rows(y, min(info.height, y + rows))[:, :, -1:]
            grey.write_rows(y, np.repeat(band, 3, axis=2))
        passes = make_plan(spec, -1, info.width, info.height, plan.width, plan.height)
        folder = work / "alpha"
        folder.mkdir()
        return engine.run_plan(spec, passes, grey, folder, tta=options.tta, tile=options.tile, check=check)
    finally:
        grey.close()


def input_warnings(src: Path, info: ImageInfo) -> list[str]:
    """The warnings decoding ``src`` gives, known without decoding it: for a result that is reused."""
    if not cut_short(src, info.format):
        return []
    return [TRUNCATED_FRAMES if info.animated else TRUNCATED]


def enhance_file(
    src: Path,
    dst: Path,
    options: EnhanceOptions,
    engine: Engine,
    limits: LimitSettings,
    *,
    tmp_dir: Path | None = None,
    progress: Progress | None = None,
    check: Callable[[], None] | None = None,
) -> Outcome:
    """Enhance ``src`` into ``dst`` as ``options`` ask. A scratch disk that fills up meanwhile (other jobs'
    files, say) is a 507, never an internal error."""
    try:
        return _enhance_file(src, dst, options, engine, limits, tmp_dir=tmp_dir, progress=progress, check=check)
    except OSError as e:
        if disk_full(e):
            raise InsufficientStorage("the scratch disk filled up while the job ran; try again later") from None
        raise


def _enhance_file(
    src: Path,
    dst: Path,
    options: EnhanceOptions,
    engine: Engine,
    limits: LimitSettings,
    *,
    tmp_dir: Path | None,
    progress: Progress | None,
    check: Callable[[], None] | None,
) -> Outcome:
    def checkpoint() -> None:
        if check is not None:
            check()

    clock = Clock()
    with clock.phase("probe"):
        info, spec, plan = prepare(src, options, engine, limits)
    fmt = output_format_for(info, options.format, options.frames)
    checkpoint()
    if info.animated and options.frames == "all":
        warnings = []
        if cut_short(src, info.format):  # libvips keeps the frames that arrived whole and says nothing
            if options.strict:
                raise UndecodableImage(f"the {info.format.upper()} animation's data ends early (refused: strict)")
            warnings.append(TRUNCATED_FRAMES)

        encoded, reused = enhance_animation(
            src,
            dst,
            info,
            spec,
            plan,
            options,
            fmt,
            engine,
            tmp_dir=tmp_dir,
            clock=clock,
            progress=progress,
            check=check,
        )
        return Outcome(encoded, info, spec, plan, timings=clock.timings, warnings=warnings, reused_frames=reused)
    with tempfile.TemporaryDirectory(prefix="enhanceit-", dir=tmp_dir) as scratch:
        work = Path(scratch)
        with clock.phase("decode"):
            decoded = decode(src, info, work, strict=options.strict)
        try:
            checkpoint()
            with clock.phase("inference"):
                result = engine.run_plan(
                    spec,
                    plan,
                    decoded.raster,
                    work,
                    tta=options.tta,
                    tile=options.tile,
                    progress=progress,
                    check=check,
                )
            alpha = None
            try:
                if options.alpha == "network" and decoded.alpha and plan.passes:
                    checkpoint()
                    with clock.phase("inference"):
                        alpha = alpha_by_network(engine, spec, decoded, plan, work, options, check)
                checkpoint()
                with clock.phase("encode"):
                    encoded = encode(
                        result,
                        decoded,
                        plan.width,
                        plan.height,
                        fmt,
                        dst,
                        options.quality,
                        metadata=options.metadata,
                        alpha=alpha,
                    )
            finally:
                if result is not decoded.raster:
                    result.close()
                if alpha is not None:
                    alpha.close()
        finally:
            decoded.raster.close()
    return Outcome(encoded=encoded, input=info, model=spec, plan=plan, timings=clock.timings, warnings=decoded.warnings)
