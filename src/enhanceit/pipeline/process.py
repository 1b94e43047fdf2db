"""One image from a file to a file, as a request was decided (:mod:`enhanceit.pipeline.prepared`).

    prepare (read the header once, decide everything, check every limit)
      -> decode (orient, colour, fill alpha) -> enhance tiles -> alpha (by the network, or resized)
      -> encode (resize, alpha, profile, metadata) -> rename

An animation (all its frames asked for) takes the same steps one frame at a time
(:mod:`enhanceit.pipeline.animated`).

Each step is timed; ``check`` runs between steps and between tiles, and raises to stop (cancel, deadline).
The CLI calls :func:`enhance_file`; the service's worker prepares the job itself (from the header it read at
submit, when it did) and calls :func:`enhance` between fetching and storing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from enhanceit.config import LimitSettings
from enhanceit.engine.plan import make_plan
from enhanceit.engine.runtime import Engine, Progress
from enhanceit.errors import InsufficientStorage, UndecodableImage, disk_full
from enhanceit.imaging.decode import TRUNCATED_FRAMES, Decoded, cut_short, decode
from enhanceit.imaging.encode import encode
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.animated import enhance_animation
from enhanceit.pipeline.clock import Clock
from enhanceit.pipeline.context import Outcome, Run
from enhanceit.pipeline.prepared import Prepared, prepare

__all__ = ["Outcome", "enhance", "enhance_file"]


def alpha_by_network(run: Run, decoded: Decoded, work: Path) -> Raster:
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
        plan = run.prepared.plan
        passes = make_plan(run.prepared.model, -1, info.width, info.height, plan.width, plan.height)
        folder = work / "alpha"
        folder.mkdir()
        return run.infer(grey, folder, plan=passes)
    finally:
        grey.close()


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
    """Enhance ``src`` into ``dst`` as ``options`` ask: :func:`prepare`, then :func:`enhance`."""
    clock = Clock()
    with clock.phase("probe"):
        prepared = prepare(src, options, engine, limits)
    return enhance(src, dst, prepared, engine, tmp_dir=tmp_dir, progress=progress, check=check, clock=clock)


def enhance(
    src: Path,
    dst: Path,
    prepared: Prepared,
    engine: Engine,
    *,
    tmp_dir: Path | None = None,
    progress: Progress | None = None,
    check: Callable[[], None] | None = None,
    clock: Clock | None = None,
) -> Outcome:
    """Enhance ``src`` into ``dst`` as ``prepared`` says. A scratch disk that fills up meanwhile (other jobs'
    files, say) is a 507, never an internal error."""
    run = Run(src, dst, prepared, engine, tmp_dir, progress, check, clock or Clock())
    try:
        return _animation(run) if prepared.animated else _still(run)
    except OSError as e:
        if disk_full(e):
            raise InsufficientStorage("the scratch disk filled up while the job ran; try again later") from None
        raise


def _animation(run: Run) -> Outcome:
    p, warnings = run.prepared, []
    run.checkpoint()
    if cut_short(run.src, p.info.format):  # libvips keeps the frames that arrived whole and says nothing
        if p.options.strict:
            raise UndecodableImage(f"the {p.info.format.upper()} animation's data ends early (refused: strict)")
        warnings.append(TRUNCATED_FRAMES)
    encoded, reused = enhance_animation(run)
    return run.outcome(encoded, warnings, reused)


def _still(run: Run) -> Outcome:
    p = run.prepared
    run.checkpoint()
    with tempfile.TemporaryDirectory(prefix="enhanceit-", dir=run.tmp_dir) as scratch:
        work = Path(scratch)
        with run.clock.phase("decode"):
            decoded = decode(run.src, p.info, work, strict=p.options.strict)
        try:
            run.checkpoint()
            with run.clock.phase("inference"):
                result = run.infer(decoded.raster, work, progress=run.progress)
            alpha = None
            try:
                if p.alpha_pass and decoded.alpha:
                    run.checkpoint()
                    with run.clock.phase("inference"):
                        alpha = alpha_by_network(run, decoded, work)
                run.checkpoint()
                with run.clock.phase("encode"):
                    encoded = encode(
                        result,
                        decoded,
                        p.plan.width,
                        p.plan.height,
                        p.format,
                        run.dst,
                        p.options.quality,
                        metadata=p.options.metadata,
                        alpha=alpha,
                    )
            finally:
                if result is not decoded.raster:
                    result.close()
                if alpha is not None:
                    alpha.close()
        finally:
            decoded.raster.close()
    return run.outcome(encoded, decoded.warnings)
