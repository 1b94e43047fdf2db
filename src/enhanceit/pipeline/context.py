"""What the steps of one image share, and what a step is.

A :class:`Run` is one request going through: the prepared decisions, the files, the engine, the clock, the
checks. A :class:`Frame` is one image in it (a still image is one frame; an animation has many), holding
what the steps have made of it so far. A :class:`Step` is a function of the two, timed under a phase name;
:meth:`Run.through` runs a list of steps over a frame with a cancel/deadline check before each. The steps
themselves are in :mod:`enhanceit.pipeline.steps` (a still image's and every frame's) and
:mod:`enhanceit.pipeline.animated` (an animation's own). Every run ends in an :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from enhanceit.engine.plan import Plan
from enhanceit.engine.runtime import Engine, Progress
from enhanceit.imaging.decode import Decoded
from enhanceit.imaging.encode import Encoded
from enhanceit.imaging.info import ImageInfo
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

    def through(self, frame: Frame, steps: Sequence[Step]) -> None:
        """Run ``steps`` over ``frame`` in order, each timed under its phase, checking for a cancel or the
        deadline before each; a step that sets ``frame.done`` ends the list early."""
        for step in steps:
            if frame.done:
                return
            self.checkpoint()
            with self.clock.phase(step.phase):
                step.run(self, frame)

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


@dataclass
class Frame:
    """One image going through the steps: its scratch folder, and what the steps have made of it."""

    work: Path
    #: Tile progress of this frame's passes (an animation counts over every frame).
    progress: Progress | None = None
    #: The decoded pixels (decode's step, or an animation's frame reader).
    decoded: Decoded | None = None
    #: The enhanced colours (the decoded raster itself when the plan has no pass).
    result: Raster | None = None
    #: The alpha channel enhanced by the network, when the request has it so.
    alpha: Raster | None = None
    #: What was written (a still image's encode step).
    encoded: Encoded | None = None
    #: Set by a step when nothing is left to do for this frame (an animation's unchanged frame).
    done: bool = False

    def close(self) -> None:
        """Close the frame's rasters, and delete what the passes wrote (an animation's next frame needs the
        room; the decoded raster's file is the next frame's too, and is overwritten)."""
        for made in (self.result, self.alpha):
            if made is not None and (self.decoded is None or made is not self.decoded.raster):
                made.close()
                made.path.unlink(missing_ok=True)
        if self.decoded is not None:
            self.decoded.raster.close()
        self.result = self.alpha = None

    @property
    def pixels(self) -> Decoded:
        assert self.decoded is not None, "a step before decode"
        return self.decoded


@dataclass(frozen=True)
class Step:
    """One step of the pipeline: ``run(run, frame)``, timed under ``phase`` (decode, inference, encode)."""

    phase: str
    run: Callable[[Run, Frame], None]
