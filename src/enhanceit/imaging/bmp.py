"""Windows BMP, read in row bands (the libvips build we ship has no BMP loader).

Supports what cameras, scanners and paint programs write: 1/4/8-bit palette, 16-bit (5-5-5 or bit
fields), 24-bit, 32-bit (with alpha only when its bit field says so), bottom-up or top-down rows.
RLE-compressed and embedded JPEG/PNG BMPs are refused as unsupported.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from enhanceit.errors import UndecodableImage, UnsupportedFormat
from enhanceit.imaging.raster import Raster, RasterInfo

BI_RGB, BI_RLE8, BI_RLE4, BI_BITFIELDS, BI_JPEG, BI_PNG, BI_ALPHABITFIELDS = range(7)


@dataclass(frozen=True)
class BmpHeader:
    width: int
    height: int
    top_down: bool
    bpp: int
    offset: int
    stride: int
    masks: tuple[int, int, int, int]
    palette: npt.NDArray[np.uint8] | None

    @property
    def has_alpha(self) -> bool:
        return self.bpp in (16, 32) and self.masks[3] != 0


def read_header(path: Path) -> BmpHeader:
    with path.open("rb") as f:
        head = f.read(14 + 124)
        if len(head) < 26 or head[:2] != b"BM":
            raise UndecodableImage("not a BMP file")
        (offset,) = struct.unpack_from("<I", head, 10)
        (dib,) = struct.unpack_from("<I", head, 14)
        if dib == 12:
            width, height, _planes, bpp = struct.unpack_from("<hhHH", head, 18)
            compression, colors, entry = BI_RGB, 0, 3
        elif dib >= 40 and len(head) >= 14 + 40:
            width, height, _planes, bpp, compression = struct.unpack_from("<iiHHI", head, 18)
            (colors,) = struct.unpack_from("<I", head, 46)
            entry = 4
        else:
            raise UndecodableImage(f"unknown BMP header size {dib}")
        if compression in (BI_RLE8, BI_RLE4, BI_JPEG, BI_PNG) or compression > BI_ALPHABITFIELDS:
            raise UnsupportedFormat("compressed BMP files are not supported; save as PNG or uncompressed BMP")
        if bpp not in (1, 4, 8, 16, 24, 32):
            raise UndecodableImage(f"BMP with {bpp} bits per pixel")
        top_down = height < 0
        height = abs(height)
        if width <= 0 or height == 0:
            raise UndecodableImage("BMP with no pixels")
        masks = _masks(head, dib, bpp, compression)
        palette = None
        if bpp <= 8:
            count = colors or (1 << bpp)
            f.seek(14 + dib + (12 if compression == BI_BITFIELDS and dib == 40 else 0))
            raw = f.read(count * entry)
            if len(raw) < count * entry:
                raise UndecodableImage("BMP palette is truncated")
            table = np.frombuffer(raw, np.uint8).reshape(count, entry)[:, 2::-1]
            palette = np.ascontiguousarray(table)
    stride = (width * bpp + 31) // 32 * 4
    return BmpHeader(width, height, top_down, bpp, offset, stride, masks, palette)


def _masks(head: bytes, dib: int, bpp: int, compression: int) -> tuple[int, int, int, int]:
    if compression in (BI_BITFIELDS, BI_ALPHABITFIELDS):
        # after a 40-byte header, or inside a V2+ header: the same place either way
        if len(head) < 66:
            raise UndecodableImage("BMP bit fields are truncated")
        r, g, b = struct.unpack_from("<III", head, 54)
        with_alpha = (dib >= 56 or compression == BI_ALPHABITFIELDS) and len(head) >= 70
        a = struct.unpack_from("<I", head, 66)[0] if with_alpha else 0
        return r, g, b, a
    if bpp == 16:
        return 0x7C00, 0x03E0, 0x001F, 0
    return 0x00FF0000, 0x0000FF00, 0x000000FF, 0


def _channel(values: npt.NDArray[np.uint32], mask: int) -> npt.NDArray[np.uint8]:
    if mask == 0:
        return np.zeros(values.shape, np.uint8)
    shift = (mask & -mask).bit_length() - 1
    top = mask >> shift
    return ((((values & mask) >> shift) * 255 + top // 2) // top).astype(np.uint8)


def _decode_rows(h: BmpHeader, raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    n, w = raw.shape[0], h.width
    if h.bpp == 24:
        return raw[:, : w * 3].reshape(n, w, 3)[:, :, ::-1]
    if h.bpp in (16, 32):
        dtype = "<u2" if h.bpp == 16 else "<u4"
        values = raw[:, : w * h.bpp // 8].copy().view(dtype).astype(np.uint32)
        bands = [_channel(values, m) for m in (h.masks if h.has_alpha else h.masks[:3])]
        return np.stack(bands, axis=2)
    assert h.palette is not None
    bits = np.unpackbits(raw, axis=1)[:, : w * h.bpp].reshape(n, w, h.bpp)
    weights = (1 << np.arange(h.bpp - 1, -1, -1)).astype(np.uint16)
    index = (bits * weights).sum(axis=2)
    rgb: npt.NDArray[np.uint8] = h.palette[np.minimum(index, len(h.palette) - 1)]
    return rgb


def decode_to_raster(path: Path, out: Path, band_rows: int = 256) -> Raster:
    """Decode a BMP into an RGB or RGBA 8-bit raster file, ``band_rows`` rows at a time."""
    h = read_header(path)
    if path.stat().st_size < h.offset + h.stride * h.height:
        raise UndecodableImage("BMP pixel data is truncated")
    raster = Raster.create(out, RasterInfo(h.width, h.height, 4 if h.has_alpha else 3, "uint8"))
    with path.open("rb") as f:
        for y0 in range(0, h.height, band_rows):
            y1 = min(h.height, y0 + band_rows)
            # file rows for image rows y0..y1-1; bottom-up files store the last image row first
            first = y0 if h.top_down else h.height - y1
            f.seek(h.offset + first * h.stride)
            raw = np.frombuffer(f.read(h.stride * (y1 - y0)), np.uint8).reshape(y1 - y0, h.stride)
            rows = _decode_rows(h, raw)
            raster.write_rows(y0, rows if h.top_down else rows[::-1])
    return raster
