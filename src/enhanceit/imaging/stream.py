"""Hand a raster file to libvips as a stream, so encoding never holds or maps the whole image.

libvips would memory-map a raw file (``rawload``), which makes every page of a large result resident. So
the raster is served through a custom source as an *uncompressed* PNG (deflate "stored" blocks: a copy,
no compression work), produced a band of rows at a time as libvips asks for bytes; its PNG loader then
streams it in sequential mode. Peak memory stays at a few bands of rows, whatever the image size.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import numpy as np

from enhanceit.imaging.raster import Raster
from enhanceit.imaging.vips import pyvips

_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # grey, grey+alpha, RGB, RGBA
_BAND_BYTES = 1 << 18


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(raster: Raster, bands: slice | None = None) -> Iterator[bytes]:
    """An uncompressed PNG of ``raster`` (optionally only some of its bands), in pieces."""
    info = raster.info
    picked = range(info.bands)[bands] if bands is not None else range(info.bands)
    count = len(picked)
    depth = 8 * info.itemsize
    yield b"\x89PNG\r\n\x1a\n" + _chunk(
        b"IHDR", struct.pack(">IIBBBBB", info.width, info.height, depth, _COLOUR_TYPE[count], 0, 0, 0)
    )
    deflate = zlib.compressobj(0)
    row_bytes = info.width * count * info.itemsize
    rows_per_band = max(1, _BAND_BYTES // max(1, row_bytes))
    for y0 in range(0, info.height, rows_per_band):
        y1 = min(info.height, y0 + rows_per_band)
        rows = raster.read_rows(y0, y1)
        if bands is not None:
            rows = rows[:, :, bands]
        if info.itemsize == 2:
            rows = rows.astype(">u2")  # PNG samples are big-endian
        block = np.zeros((y1 - y0, row_bytes + 1), np.uint8)  # filter byte 0 (none) per row
        block[:, 1:] = np.ascontiguousarray(rows).view(np.uint8).reshape(y1 - y0, row_bytes)
        data = deflate.compress(block.tobytes())
        if data:
            yield _chunk(b"IDAT", data)
    yield _chunk(b"IDAT", deflate.flush())
    yield _chunk(b"IEND", b"")


class _Reader:
    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._pending = bytearray()

    def read(self, size: int) -> bytes:
        while len(self._pending) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._pending += piece
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out


class StreamedRaster:
    """A sequential libvips image that reads a raster on demand.

    libvips calls back into Python while it saves, so this object (which owns the callback) must stay
    referenced until the save has finished; keep the raster open as long, too.
    """

    def __init__(self, raster: Raster, bands: slice | None = None) -> None:
        self._reader = _Reader(png_bytes(raster, bands))
        self._source = pyvips.SourceCustom()
        self._source.on_read(self._reader.read)
        self.image: pyvips.Image = pyvips.Image.new_from_source(self._source, "", access="sequential")
