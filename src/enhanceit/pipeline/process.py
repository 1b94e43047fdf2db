"""One image from a file to a file, as a request was decided (:mod:`enhanceit.pipeline.prepared`).

    prepare (read the header once, decide everything, check every limit)
      -> a still image: the STILL steps (:mod:`enhanceit.pipeline.steps`)
      -> an animation (all its frames asked for): the same steps per frame, then its own
         (:mod:`enhanceit.pipeline.animated`)

Each step is timed; ``check`` runs between steps and between tiles, and raises to stop (cancel, deadline).
The CLI calls :func:`enhance_file`; the service's worker prepares the job itself (from the header it read at
submit, when it did) and calls :func:`enhance` between fetching and storing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from enhanceit.config import LimitSettings
from enhanceit.engine.runtime import Engine, Progress
from enhanceit.errors import InsufficientStorage, UndecodableImage, disk_full
from enhanceit.imaging.decode import TRUNCATED_FRAMES, cut_short
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.animated import enhance_animation
from enhanceit.pipeline.clock import Clock
from enhanceit.pipeline.context import Frame, Outcome, Run
from enhanceit.pipeline.prepared import Prepared, prepare
from enhanceit.pipeline.steps import STILL

__all__ = ["Outcome", "enhance", "enhance_file"]


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
    with tempfile.TemporaryDirectory(prefix="enhanceit-", dir=run.tmp_dir) as scratch:
        frame = Frame(Path(scratch), progress=run.progress)
        try:
            run.through(frame, STILL)
        finally:
            frame.close()
    assert frame.encoded is not None
    return run.outcome(frame.encoded, frame.pixels.warnings)
