"""What an image is, from its header alone: format, displayed size, bands, depth, orientation.

The format is sniffed from the first bytes (:func:`enhanceit.imaging.formats.sniff`), and the format's
reader (:mod:`enhanceit.imaging.readers`) reads the header. Nothing here decodes pixels, so limits can be
checked before a decompression bomb costs anything.
"""

from __future__ import annotations

from pathlib import Path

from enhanceit.errors import UnsupportedFormat
from enhanceit.imaging.formats import FORMATS, READABLE, SNIFF_BYTES, sniff
from enhanceit.imaging.info import ImageInfo
from enhanceit.imaging.readers import READERS

__all__ = ["ImageInfo", "probe"]


def probe(path: Path) -> ImageInfo:
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    fmt = sniff(head)
    if fmt is None:
        raise UnsupportedFormat(f"not an image in a supported format ({READABLE})")
    row = FORMATS[fmt]
    return READERS[row.reader].header(path, row)
