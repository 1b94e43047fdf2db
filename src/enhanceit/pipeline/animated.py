"""An animation from a file to a file, one frame at a time, every frame through the same plan.

    for each frame: decode it composited (colour, fill alpha) -> same pixels as the frame before? reuse its
      result -> else enhance its tiles -> compose (resize, alpha) -> append to the output strip on disc
    then: encode the strip with every frame's duration and the loop count -> rename

At most one frame is in memory at a time, as libvips rows or the engine's tiles; the enhanced frames wait on
disc. Progress counts tiles over all frames (a reused frame's tiles count as done at once), and ``check``
runs between tiles and between frames, so a cancel stops the work within a tile.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from enhanceit.engine.plan import Plan
from enhanceit.engine.runtime import Progress
from enhanceit.errors import UndecodableImage
from enhanceit.imaging.animation import FrameStrip, Timing, content_hash, encode_animation, read_frames
from enhanceit.imaging.decode import Decoded, to_raster
from enhanceit.imaging.encode import Encoded, composed
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.imaging.vips import pyvips
from enhanceit.pipeline.context import Run


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


def enhance_animation(run: Run) -> tuple[Encoded, int]:
    """Enhance every frame of the animation ``run.src`` into ``run.dst``; (what was written, frames reused
    from the frame before)."""
    p = run.prepared
    info, plan = p.info, p.plan
    timing = Timing()
    tiles = _Tiles(run.progress, info.frames)
    reused = 0
    with tempfile.TemporaryDirectory(prefix="enhanceit-anim-", dir=run.tmp_dir) as scratch:
        work = Path(scratch)
        strip: FrameStrip | None = None
        previous: bytes | None = None
        icc: bytes | None = None
        frames = read_frames(run.src, info, timing)
        try:
            while True:
                with run.clock.phase("decode"):
                    try:
                        frame = next(frames, None)
                        if frame is None:
                            break
                        decoded = to_raster(frame, info, work / "frame.raw")
                    except pyvips.Error as e:
                        raise UndecodableImage(
                            f"cannot decode frame {tiles.frame + 1} of the {info.format.upper()} animation"
                        ) from e
                try:
                    icc = decoded.icc
                    digest = content_hash(decoded.raster)
                    if strip is None:
                        strip = _new_strip(work, decoded, plan)
                    if digest == previous:
                        strip.repeat()
                        reused += 1
                    else:
                        run.checkpoint()
                        _enhance_frame(run, decoded, strip, work, tiles)
                    previous = digest
                finally:
                    decoded.raster.close()
                tiles.next_frame()
                run.checkpoint()
            if strip is None:
                raise UndecodableImage(f"the {info.format.upper()} animation has no frames")
            with run.clock.phase("encode"):
                encoded = encode_animation(strip, timing, p.format, run.dst, p.options.quality, icc)
        finally:
            frames.close()
            if strip is not None:
                strip.raster.close()
    return encoded, reused


def _new_strip(work: Path, first: Decoded, plan: Plan) -> FrameStrip:
    """The raster every output frame goes into: the composed output's bands, 8 bits (WebP and GIF)."""
    colour = 1 if first.gray else 3
    bands = colour + (1 if first.alpha else 0)
    info = RasterInfo(plan.width, plan.height * first.info.frames, bands, "uint8")
    return FrameStrip(Raster.create(work / "frames.raw", info), plan.height)


def _enhance_frame(run: Run, decoded: Decoded, strip: FrameStrip, work: Path, tiles: _Tiles) -> None:
    p = run.prepared
    with run.clock.phase("inference"):
        result = run.infer(decoded.raster, work, progress=tiles)
    try:
        with run.clock.phase("encode"), composed(result, decoded, p.format, p.plan.width, p.plan.height) as image:
            strip.put(image)
    finally:
        if result is not decoded.raster:
            result.close()
            result.path.unlink(missing_ok=True)
