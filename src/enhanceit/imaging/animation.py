"""Animations in and out, one frame at a time: GIF, WebP and APNG frames read composited; WebP and GIF written.

Reading. libvips loads every page of a GIF or WebP composited onto the full canvas (disposal and blending
applied: each frame is the picture a viewer shows) as one tall image with ``page-height``, ``delay`` (ms per
frame) and ``loop`` (how many times it plays; 0 = for ever). That image is read in sequential mode and cut
into frames top to bottom, so only the rows being worked on are decoded. APNG, which libvips reads as its
still image only, is read with Pillow, which composites its frames the same way, one at a time.

Writing. libvips' GIF and WebP savers take one tall image with the same three fields and encode it page by
page. The enhanced frames are put one after another into a tall raster file on disc (never in memory all at
once) and streamed into the saver from there (see :mod:`enhanceit.imaging.stream`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np

from enhanceit.imaging.decode import Decoded, to_raster
from enhanceit.imaging.encode import Encoded, save_atomically
from enhanceit.imaging.formats import OutputFormat
from enhanceit.imaging.info import ImageInfo
from enhanceit.imaging.raster import Raster
from enhanceit.imaging.readers import DEFAULT_DELAY_MS, Timing, reader
from enhanceit.imaging.stream import StreamedRaster
from enhanceit.imaging.vips import has_field, pyvips, reading

__all__ = ["DEFAULT_DELAY_MS", "FrameStrip", "Timing", "content_hash", "decoded_frames", "encode_animation"]

_COPY_ROWS_BYTES = 1 << 20


def read_frames(path: Path, info: ImageInfo, timing: Timing) -> Iterator[pyvips.Image]:
    """Every frame of the animation at ``path``, composited, in order, as its format's reader reads them;
    ``timing`` is filled as they come. Each frame is a libvips image to be used (written out) before the
    next is asked for."""
    return reader(info.format).frames(path, info, timing)


def decoded_frames(path: Path, info: ImageInfo, timing: Timing, out: Path) -> Generator[Decoded]:
    """Every frame decoded into the raster file ``out`` (colour, depth, alpha filled, as a still image is),
    one at a time: each is overwritten by the next, so use it (and close it) before asking for that."""
    frames = read_frames(path, info, timing)
    try:
        for k in itertools.count(1):
            with reading(f"cannot decode frame {k} of the {info.format.upper()} animation"):
                frame = next(frames, None)
                if frame is None:
                    return
                decoded = to_raster(frame, info, out)
            yield decoded
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


def content_hash(raster: Raster) -> bytes:
    """A digest of a raster's pixels, read a band of rows at a time."""
    digest = hashlib.sha256()
    rows = max(1, _COPY_ROWS_BYTES // raster.info.row_bytes)
    for y in range(0, raster.info.height, rows):
        digest.update(raster.read_rows(y, min(raster.info.height, y + rows)).tobytes())
    return digest.digest()


class FrameStrip:
    """Output frames one below the other in a raster file: ``put`` writes frame k, ``repeat`` copies the last."""

    def __init__(self, raster: Raster, frame_height: int) -> None:
        self.raster = raster
        self.frame_height = frame_height
        self.count = 0

    def put(self, image: pyvips.Image) -> None:
        """Write the next frame (a composed libvips image of the strip's width, frame height and bands)."""
        info = self.raster.info
        if (image.width, image.height, image.bands) != (info.width, self.frame_height, info.bands):
            raise ValueError(f"a {image.width}x{image.height}x{image.bands} frame does not fit {info}")
        dtype = np.uint16 if info.dtype == "uint16" else np.uint8
        pixels = np.ndarray(buffer=image.write_to_memory(), dtype=dtype, shape=(image.height, image.width, image.bands))
        self.raster.write_rows(self.count * self.frame_height, pixels)
        self.count += 1

    def repeat(self) -> None:
        """Write the next frame as a copy of the previous one."""
        if self.count == 0:
            raise ValueError("no frame to repeat")
        rows = max(1, _COPY_ROWS_BYTES // self.raster.info.row_bytes)
        src, dst = (self.count - 1) * self.frame_height, self.count * self.frame_height
        for y in range(0, self.frame_height, rows):
            n = min(rows, self.frame_height - y)
            self.raster.write_rows(dst + y, self.raster.read_rows(src + y, src + y + n))
        self.count += 1


def encode_animation(
    strip: FrameStrip,
    timing: Timing,
    fmt: OutputFormat,
    destination: Path,
    quality: int | None = None,
    icc: bytes | None = None,
) -> Encoded:
    """Write the frames of ``strip`` as an animated ``fmt`` (WebP or GIF) with ``timing``; atomically."""
    stream = StreamedRaster(strip.raster)
    image = stream.image.copy()
    image.set_type(pyvips.GValue.gint_type, "page-height", strip.frame_height)
    image.set_type(pyvips.GValue.array_int_type, "delay", timing.delays[: strip.count])
    image.set_type(pyvips.GValue.gint_type, "loop", timing.loop)
    if icc is not None:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    size = save_atomically(image, fmt, destination, quality)
    del stream
    # The encoders merge a frame identical to the one before into it (its duration added): count what is there.
    written = pyvips.Image.new_from_file(str(destination))
    frames = int(written.get("n-pages")) if has_field(written, "n-pages") else 1
    return Encoded(destination, fmt, strip.raster.info.width, strip.frame_height, size, frames=frames)
