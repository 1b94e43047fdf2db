"""Decodable HEIF/AVIF grid bombs, built from a real one-image file the way the probes built theirs.

A grid item (``grid``) names one coded tile ``tiles²`` times (``iref``/``dimg``), so the decoder builds a
canvas of ``(tiles x tile)²`` pixels from a few hundred bytes of bitstream; a ``clap`` box then crops it to
``crop²``, which is all that libvips' header reports. The tile is the source file's own image (item 1), kept
bit for bit; only the ``meta`` box is written anew:

* ``pitm`` makes the grid (item 2) the primary image;
* ``iinf`` keeps item 1's ``infe`` and adds the grid's;
* ``iloc`` (version 1) points item 1 at the bitstream in ``mdat`` and item 2 at its 8-byte descriptor in
  ``idat`` (construction method 1);
* ``ipco`` keeps the source's properties and adds the grid's ``ispe`` and the ``clap``.

Only what the tests need is read from the source: a single ``iloc`` of version 0 with 4-byte offsets and
lengths, item 1 in one extent, and item 1 first in ``ipma`` (what libheif writes for pillow-heif and libvips).
"""

from __future__ import annotations

from collections.abc import Iterator


def box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def full(kind: bytes, body: bytes, version: int = 0, flags: int = 0) -> bytes:
    """A "full box": its body starts with a version byte and 3 bytes of flags."""
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + body)


def ispe(width: int, height: int) -> bytes:
    return full(b"ispe", width.to_bytes(4, "big") + height.to_bytes(4, "big"))


def _u(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "big")


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each box in ``data[start:end]``, header included."""
    while start + 8 <= end:
        size = _u(data, start, 4)
        yield data[start + 4 : start + 8], start, start + size
        start += size


def _find(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int]:
    return next((s, e) for k, s, e in _children(data, start, end) if k == kind)


def grid_bomb(source: bytes, tiles: int, crop: int = 64) -> bytes:
    """``source`` (a one-image HEIC or AVIF) as a ``tiles`` x ``tiles`` grid of its image, cropped to ``crop²``."""
    meta = _find(source, 0, len(source), b"meta")
    inside = (meta[0] + 12, meta[1])  # after the header, the version and the flags
    iloc, iinf, iprp = (_find(source, *inside, kind) for kind in (b"iloc", b"iinf", b"iprp"))
    hdlr = _find(source, *inside, b"hdlr")
    ipco = _find(source, iprp[0] + 8, iprp[1], b"ipco")
    ipma = _find(source, iprp[0] + 8, iprp[1], b"ipma")

    at = iloc[0] + 12
    assert source[iloc[0] + 8] == 0 and source[at : at + 2] == b"\x44\x40", "iloc v0, 4-byte fields"
    pos = at + 4
    bitstream = b""
    for _ in range(_u(source, at + 2, 2)):
        item, base, extents = _u(source, pos, 2), _u(source, pos + 4, 4), _u(source, pos + 8, 2)
        if item == 1:
            assert extents == 1, "item 1 in one extent"
            offset, length = base + _u(source, pos + 10, 4), _u(source, pos + 14, 4)
            bitstream = source[offset : offset + length]
        pos += 10 + 8 * extents
    infe = next(source[s:e] for k, s, e in _children(source, iinf[0] + 14, iinf[1]) if _u(source, s + 12, 2) == 1)
    first = ipma[0] + 16  # the first entry, after the version, the flags and the entry count
    assert source[ipma[0] + 8] == 0 and source[ipma[0] + 11] & 1 == 0 and _u(source, first, 2) == 1
    associations = source[first + 2 : first + 3 + source[first + 2]]
    properties = source[ipco[0] + 8 : ipco[1]]
    count = sum(1 for _ in _children(source, ipco[0] + 8, ipco[1]))

    side = tiles * tile_side(source, ipco)
    offset = (crop - side) // 2  # the clap's centre offset, from the canvas' centre
    clap = box(b"clap", b"".join(v.to_bytes(4, "big", signed=True) for v in (crop, 1, crop, 1, offset, 1, offset, 1)))
    descriptor = bytes([0, 0, tiles - 1, tiles - 1]) + side.to_bytes(2, "big") * 2  # 16-bit output size
    properties_box = box(
        b"iprp",
        box(b"ipco", properties + ispe(side, side) + clap)
        + full(
            b"ipma", (2).to_bytes(4, "big") + b"\0\1" + associations + b"\0\2\2" + bytes([count + 1, 0x80 | count + 2])
        ),
    )
    names = full(b"iinf", (2).to_bytes(2, "big") + infe + full(b"infe", b"\0\2\0\0grid\0", version=2))
    uses = full(b"iref", box(b"dimg", b"\0\2" + (tiles * tiles).to_bytes(2, "big") + b"\0\1" * tiles * tiles))

    def meta_box(data_at: int) -> bytes:
        locations = full(
            b"iloc",
            b"\x44\x00\0\2"
            + b"\0\1\0\0\0\0\0\1" + data_at.to_bytes(4, "big") + len(bitstream).to_bytes(4, "big")
            + b"\0\2\0\1\0\0\0\1" + (0).to_bytes(4, "big") + len(descriptor).to_bytes(4, "big"),
            version=1,
        )  # fmt: skip
        body = source[hdlr[0] : hdlr[1]] + full(b"pitm", b"\0\2") + locations + names + uses + properties_box
        return full(b"meta", body + box(b"idat", descriptor))

    ftyp = source[slice(*_find(source, 0, len(source), b"ftyp"))]
    data_at = len(ftyp) + len(meta_box(0)) + 8
    return ftyp + meta_box(data_at) + box(b"mdat", bitstream)


def tile_side(source: bytes, ipco: tuple[int, int]) -> int:
    """The source image's width, from its ``ispe`` (the tests' sources are square)."""
    s, _ = next((s, e) for k, s, e in _children(source, ipco[0] + 8, ipco[1]) if k == b"ispe")
    return _u(source, s + 12, 4)
