"""A minimal BMP writer for tests (the code under test only reads BMP)."""

from __future__ import annotations

import struct

import numpy as np


def bmp_bytes(pixels: np.ndarray, bpp: int = 24, top_down: bool = False, palette: np.ndarray | None = None) -> bytes:
    h, w = pixels.shape[:2]
    stride = (w * bpp + 31) // 32 * 4
    rows = []
    for y in range(h):
        src = pixels[y]
        if bpp == 24:
            raw = src[:, ::-1].astype(np.uint8).tobytes()
        elif bpp == 32:  # BGRA with an alpha bit field
            raw = np.concatenate([src[:, 2::-1], src[:, 3:4]], axis=1).astype(np.uint8).tobytes()
        elif bpp == 16:  # 5-5-5
            r, g, b = (src[:, i].astype(np.uint16) >> 3 for i in range(3))
            raw = ((r << 10) | (g << 5) | b).astype("<u2").tobytes()
        else:  # palette indices
            idx = src.astype(np.uint8)
            bits = np.unpackbits(idx[:, None], axis=1)[:, 8 - bpp :]
            raw = np.packbits(bits.reshape(-1)).tobytes()
        rows.append(raw.ljust(stride, b"\0"))
    data = b"".join(rows if top_down else rows[::-1])
    if bpp == 32:
        dib = struct.pack("<IiiHHIIiiII", 56, w, -h if top_down else h, 1, 32, 3, len(data), 2835, 2835, 0, 0)
        dib += struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    else:
        colours = 0 if palette is None else len(palette)
        dib = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bpp, 0, len(data), 2835, 2835, colours, 0)
    table = b""
    if palette is not None:
        table = b"".join(bytes([c[2], c[1], c[0], 0]) for c in palette)
    offset = 14 + len(dib) + len(table)
    head = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    return head + dib + table + data


def rle8_bmp_bytes(index: np.ndarray, palette: np.ndarray) -> bytes:
    """An 8-bit RLE-compressed (BI_RLE8) bottom-up BMP of palette ``index`` rows; Pillow writes no RLE itself.

    Encoded mode only: each run is (count 1..255, index); every row ends with (0, 0), the bitmap with (0, 1).
    """
    h, w = index.shape
    data = bytearray()
    for row in index[::-1]:
        x = 0
        while x < w:
            run = 1
            while x + run < w and run < 255 and row[x + run] == row[x]:
                run += 1
            data += bytes([run, int(row[x])])
            x += run
        data += b"\0\0"
    data[-2:] = b"\0\1"
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 1, len(data), 2835, 2835, len(palette), 0)
    table = b"".join(bytes([c[2], c[1], c[0], 0]) for c in palette)
    offset = 14 + len(dib) + len(table)
    head = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    return head + dib + table + bytes(data)
