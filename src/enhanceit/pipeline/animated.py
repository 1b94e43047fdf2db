"""An animation from a file to a file: every frame through the same steps as a still image, plus its own.

    for each frame: read it (decode, composite, colour, fill alpha) -> unchanged since the frame before?
      repeat that one's result -> else FRAME_STEPS (enhance, alpha) -> compose (resize, alpha) into the
      output strip on disc
    then: encode the strip with every frame's duration and the loop count -> rename

At most one frame is in memory at a time, as libvips rows or the engine's tiles; the enhanced frames wait on
disc. Progress counts tiles over all frames (a reused frame's tiles count as done at once), and the run's
check runs between steps and between tiles, so a cancel stops the work within a tile.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from enhanceit.engine.runtime import Progress
from enhanceit.errors import UndecodableImage
from enhanceit.imaging.animation import FrameStrip, Timing, content_hash, decoded_frames, encode_animation
from enhanceit.imaging.decode import Decoded
from enhanceit.imaging.encode import Encoded, composed
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.pipeline.context import Frame, Run, Step
from enhanceit.pipeline.steps import FRAME_STEPS


class _Tiles:
    """Per-frame tile progress as progress over every frame: frame k's tile i is tile k x per-frame + i."""

    def __init__(self, progress: Progress | None, frames: int) -> None:
        self.progress = progress
        self.frames = frames
        self.per_frame = 0
        self.frame = 0

    def __call__(self, done: int, total: int) -> None:
        self.per_frame = total
        if self.progress is not None:
            self.progress(self.frame * total + done, total * self.frames)

    def next_frame(self) -> None:
        """The current frame is finished (enhanced, or reused without any tile)."""
        self.frame += 1
        if self.progress is not None and self.per_frame:
            self.progress(self.frame * self.per_frame, self.per_frame * self.frames)


class Animation:
    """What an animation's own steps share across its frames: the output strip, the frame before's
    pixels, the timing read, the progress over every frame."""

    def __init__(self, run: Run, work: Path) -> None:
        self.work = work
        self.timing = Timing()
        self.tiles = _Tiles(run.progress, run.prepared.info.frames)
        self.strip: FrameStrip | None = None
        self.previous: bytes | None = None
        self.icc: bytes | None = None
        self.reused = 0
        #: Every frame's steps: the shared ones between reusing an unchanged frame and composing.
        self.steps = (Step("inference", self.reuse_unchanged), *FRAME_STEPS, Step("encode", self.compose))

    def reuse_unchanged(self, run: Run, frame: Frame) -> None:
        """A frame with the same pixels as the one before repeats its result: no step more for it."""
        decoded = frame.pixels
        self.icc = decoded.icc
        digest = content_hash(decoded.raster)
        if self.strip is None:
            self.strip = _new_strip(self.work, decoded, run)
        if digest == self.previous:
            self.strip.repeat()
            self.reused += 1
            frame.done = True
        self.previous = digest

    def compose(self, run: Run, frame: Frame) -> None:
        """The enhanced frame at the output size, with its alpha, into the strip."""
        p = run.prepared
        assert frame.result is not None and self.strip is not None
        with composed(frame.result, frame.pixels, p.format, p.plan.width, p.plan.height, frame.alpha) as image:
            self.strip.put(image)

    def encode(self, run: Run) -> Encoded:
        """The strip written as the animated output, with every frame's duration and the loop count."""
        p = run.prepared
        if self.strip is None:
            raise UndecodableImage(f"the {p.info.format.upper()} animation has no frames")
        return encode_animation(self.strip, self.timing, p.format, run.dst, p.options.quality, self.icc)


def enhance_animation(run: Run) -> tuple[Encoded, int]:
    """Enhance every frame of the animation ``run.src`` into ``run.dst``; (what was written, frames reused
    from the frame before)."""
    p = run.prepared
    with tempfile.TemporaryDirectory(prefix="enhanceit-anim-", dir=run.tmp_dir) as scratch:
        work = Path(scratch)
        animation = Animation(run, work)
        frames = decoded_frames(run.src, p.info, animation.timing, work / "frame.raw")
        try:
            while True:
                with run.clock.phase("decode"):
                    decoded = next(frames, None)
                if decoded is None:
                    break
                frame = Frame(work, progress=animation.tiles, decoded=decoded)
                try:
                    run.through(frame, animation.steps)
                finally:
                    frame.close()
                animation.tiles.next_frame()
            run.checkpoint()
            with run.clock.phase("encode"):
                encoded = animation.encode(run)
        finally:
            frames.close()
            if animation.strip is not None:
                animation.strip.raster.close()
    return encoded, animation.reused


def _new_strip(work: Path, first: Decoded, run: Run) -> FrameStrip:
    """The raster every output frame goes into: the composed output's bands, 8 bits (WebP and GIF)."""
    plan = run.prepared.plan
    colour = 1 if first.gray else 3
    bands = colour + (1 if first.alpha else 0)
    info = RasterInfo(plan.width, plan.height * first.info.frames, bands, "uint8")
    return FrameStrip(Raster.create(work / "frames.raw", info), plan.height)
