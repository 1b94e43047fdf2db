"""What a HEIF or AVIF file makes its decoder allocate, read from its boxes before any decoder sees it.

libvips' header gives the size after the file's transforms: a ``clap`` crop can say 64x64 for a grid the
decoder builds whole first. A 12 KB HEIC, a grid of 225 tiles that all name one 2048x2048 bitstream (30720²
in all) cropped to 64x64, took a server to 2.9 GB. So the limits also see :func:`decoded_pixels`, the
largest of:

* every item's image extent (``ispe``), a grid's own included, and
* for every derived image (a grid, an overlay), the tiles it names (``iref``/``dimg``, repeats counted) times
  each one's extent: a grid's canvas cannot be smaller than what its tiles fill.

ISOBMFF, as far as this needs: a box is a 32-bit size (1: a 64-bit size follows the type; 0: to the end of
its parent), a 4-character type and its body; ``meta``, ``iref``, ``ipma`` and ``ispe`` are "full boxes"
whose body starts with a version byte and 3 flag bytes. ``meta`` holds ``iprp`` -> ``ipco`` (the item
properties, ``ispe`` among them, numbered from 1) and ``ipma`` (which properties each item has), and
``iref`` (references between items: ``dimg`` from a derived image to its inputs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

#: The ``meta`` box is read only this far: real ones are a few KB (an iPhone photo's: 4 KB).
MAX_META_BYTES = 4 << 20


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in ``data[start:end]``; stops at the first malformed one."""
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = pos + 8
        if size == 1:
            if body + 8 > end:
                return
            size = int.from_bytes(data[body : body + 8], "big")
            body += 8
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            return
        yield kind, body, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, body, stop in _boxes(data, start, end):
        if found == kind:
            return body, stop
    return None


def _meta(path: Path) -> bytes | None:
    """The top-level ``meta`` box's body (after its version and flags), or None."""
    with path.open("rb") as f:
        head = f.read(MAX_META_BYTES)
    found = _child(head, 0, len(head), b"meta")
    if found is None:
        return None
    body, end = found
    return head[body + 4 : end]


def _extents(data: bytes) -> list[tuple[int, int]]:
    """Every property of ``ipco`` in order, as (width, height) for an ``ispe`` and (0, 0) for the others."""
    iprp = _child(data, 0, len(data), b"iprp")
    ipco = _child(data, *iprp, b"ipco") if iprp else None
    if ipco is None:
        return []
    out = []
    for kind, body, end in _boxes(data, *ipco):
        if kind == b"ispe" and end - body >= 12:
            out.append(
                (int.from_bytes(data[body + 4 : body + 8], "big"), int.from_bytes(data[body + 8 : body + 12], "big"))
            )
        else:
            out.append((0, 0))
    return out


def _item_pixels(data: bytes, extents: list[tuple[int, int]]) -> dict[int, int]:
    """Each item's extent in pixels, from ``ipma``."""
    iprp = _child(data, 0, len(data), b"iprp")
    ipma = _child(data, *iprp, b"ipma") if iprp else None
    if ipma is None:
        return {}
    body, end = ipma
    version, flags = data[body], int.from_bytes(data[body + 1 : body + 4], "big")
    id_size, index_size = (4 if version >= 1 else 2), (2 if flags & 1 else 1)
    pos = body + 4
    count = int.from_bytes(data[pos : pos + 4], "big")
    pos += 4
    pixels: dict[int, int] = {}
    for _ in range(count):
        if pos + id_size + 1 > end:
            break
        item = int.from_bytes(data[pos : pos + id_size], "big")
        associations = data[pos + id_size]
        pos += id_size + 1
        for _ in range(associations):
            if pos + index_size > end:
                break
            index = int.from_bytes(data[pos : pos + index_size], "big") & (0x7FFF if index_size == 2 else 0x7F)
            pos += index_size
            if 1 <= index <= len(extents):
                w, h = extents[index - 1]
                pixels[item] = max(pixels.get(item, 0), w * h)
    return pixels


def _derived_inputs(data: bytes) -> dict[int, list[int]]:
    """For each derived image, the items it is made of (``dimg`` references, repeats kept)."""
    iref = _child(data, 0, len(data), b"iref")
    if iref is None:
        return {}
    body, end = iref
    id_size = 4 if data[body] >= 1 else 2
    inputs: dict[int, list[int]] = defaultdict(list)
    for kind, start, stop in _boxes(data, body + 4, end):
        if kind != b"dimg" or start + id_size + 2 > stop:
            continue
        source = int.from_bytes(data[start : start + id_size], "big")
        count = int.from_bytes(data[start + id_size : start + id_size + 2], "big")
        pos = start + id_size + 2
        for _ in range(count):
            if pos + id_size > stop:
                break
            inputs[source].append(int.from_bytes(data[pos : pos + id_size], "big"))
            pos += id_size
    return inputs


def decoded_pixels(path: Path) -> int:
    """The most pixels any image of the file makes its decoder hold (0 when the file says nothing)."""
    data = _meta(path)
    if data is None:
        return 0
    extents = _extents(data)
    pixels = _item_pixels(data, extents)
    largest = max((w * h for w, h in extents), default=0)
    for tiles in _derived_inputs(data).values():
        largest = max(largest, sum(pixels.get(tile, 0) for tile in tiles))
    return largest
