"""The quality a JPEG was saved at, estimated from its quantization tables: no pixel is decoded.

A JPEG encoder divides each 8x8 block's DCT coefficients by a quantization table (the ``DQT`` segments before
the first scan) and rounds: the coarser the table, the stronger the blocks and ringing that an upscaler would
enlarge, and the stronger the noise reduction that removes them (:mod:`enhanceit.models.autonoise`).

Nearly every encoder (libjpeg and libjpeg-turbo, mozjpeg's default, Pillow, libvips, browsers, most phones'
and cameras' settings) scales the two example tables of the JPEG standard (ITU-T T.81, Annex K) by the IJG
rule: for a quality ``q`` from 1 to 100, a factor ``5000/q`` percent below 50 and ``200 - 2q`` from 50 up,
each entry rounded and clamped to 1..255. So the estimate is the ``q`` whose scaled tables lie nearest the
file's, entry by entry on a log scale (a table's coarseness is a ratio): exact for IJG tables, and for other
encoders' tables the IJG quality with the same coarseness, which is what the noise level depends on.
"""

from __future__ import annotations

import math
from pathlib import Path

#: The standard's example luminance and chrominance tables, in natural (row by row) order.
_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA = (17, 18, 24, 47, *[99] * 4, 18, 21, 26, 66, *[99] * 4, 24, 26, 56, *[99] * 5, 47, 66, *[99] * 38)

#: Headers are read this far at most: the tables come before the first scan, after EXIF and ICC segments
#: (at most 64 KB each; an ICC profile may take several).
MAX_HEADER_BYTES = 4 << 20


def _zigzag() -> tuple[int, ...]:
    """The natural index of each coefficient in the order a DQT segment stores them (by anti-diagonals,
    alternating direction, from the top-left corner)."""
    order = sorted(
        ((r, c) for r in range(8) for c in range(8)), key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 else p[0])
    )
    return tuple(r * 8 + c for r, c in order)


_ZIGZAG = _zigzag()


def ijg_table(base: tuple[int, ...], quality: int) -> tuple[int, ...]:
    """``base`` scaled for ``quality`` (1-100) the way libjpeg's ``jpeg_set_quality`` does (baseline)."""
    factor = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(min(255, max(1, (v * factor + 50) // 100)) for v in base)


def read_tables(path: Path) -> dict[int, tuple[int, ...]]:
    """The quantization tables by id (0-3), each in natural order; empty when there are none before the
    first scan (or the file is not a JPEG, or its header is malformed). Segments are walked by their lengths:
    only marker headers and DQT bodies are read, never an EXIF or ICC segment's bytes."""
    tables: dict[int, tuple[int, ...]] = {}
    with path.open("rb") as f:
        if f.read(2) != b"\xff\xd8":
            return tables
        while f.tell() + 4 <= MAX_HEADER_BYTES:
            head = f.read(2)
            if len(head) < 2 or head[0] != 0xFF:
                return tables
            marker = head[1]
            if marker == 0xFF:  # a fill byte
                f.seek(-1, 1)
                continue
            if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8):
                continue
            if marker in (0xDA, 0xD9):  # the first scan (or the end): no table comes later that matters
                return tables
            size = f.read(2)
            length = int.from_bytes(size, "big")
            if len(size) < 2 or length < 2:
                return tables
            if marker == 0xDB:
                segment = f.read(length - 2)
                if len(segment) < length - 2:
                    return tables
                tables.update(_dqt(segment))
            else:
                f.seek(length - 2, 1)
    return tables


def _dqt(segment: bytes) -> dict[int, tuple[int, ...]]:
    """A DQT segment's tables: each a byte (precision: 0 for 8-bit entries, 1 for 16-bit; id) and 64 entries."""
    out: dict[int, tuple[int, ...]] = {}
    pos = 0
    while pos < len(segment):
        precision, table_id = segment[pos] >> 4, segment[pos] & 0x0F
        size = 2 if precision else 1
        body = segment[pos + 1 : pos + 1 + 64 * size]
        if len(body) < 64 * size or table_id > 3 or precision > 1:
            return out
        stored = [int.from_bytes(body[i * size : (i + 1) * size], "big") for i in range(64)]
        natural = [0] * 64
        for k, index in enumerate(_ZIGZAG):
            natural[index] = stored[k]
        if min(natural) < 1:  # a zero divisor: no encoder writes one
            return out
        out[table_id] = tuple(natural)
        pos += 1 + 64 * size
    return out


def _distance(table: tuple[int, ...], reference: tuple[int, ...]) -> float:
    return sum(abs(math.log(a) - math.log(b)) for a, b in zip(table, reference, strict=True))


def estimate(path: Path) -> int | None:
    """The IJG quality (1-100) whose tables lie nearest the file's, or None when it has no usable table.
    Table 0 is compared with the luminance example, table 1 (when present) with the chrominance one."""
    tables = read_tables(path)
    if 0 not in tables:
        return None
    pairs = [(tables[0], _LUMA)] + ([(tables[1], _CHROMA)] if 1 in tables else [])
    best = min(range(100, 0, -1), key=lambda q: sum(_distance(t, ijg_table(base, q)) for t, base in pairs))
    return best
