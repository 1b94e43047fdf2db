"""Whether a file stops before its end marker: cut short, typically by a broken download.

Each format's reader says how its files end (:mod:`enhanceit.imaging.readers`); these are the checks, read
from the file's tail or walked from its start, never decoded. A file with its end marker in place is
corrupt, not cut short, whatever its decoder says.
"""

from __future__ import annotations

import mmap
from pathlib import Path

#: PNG's last chunk, IEND (its type and CRC), which some encoders follow with a little trailing data.
_PNG_END = b"IEND\xaeB`\x82"
_TAIL_BYTES = 4096


def png_cut_short(path: Path) -> bool:
    """A PNG's IEND chunk is its last bytes (give or take a little trailing data)."""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - _TAIL_BYTES))
        return _PNG_END not in f.read()


def gif_cut_short(path: Path) -> bool:
    """A GIF's last byte is its trailer, ``;``."""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 1))
        return f.read() != b";"


def riff_cut_short(path: Path) -> bool:
    """A RIFF file (WebP) shorter than its own header says."""
    with path.open("rb") as f:
        head = f.read(8)
    return len(head) < 8 or path.stat().st_size < int.from_bytes(head[4:8], "little") + 8


def jpeg_cut_short(path: Path) -> bool:
    """A JPEG is walked from marker to marker to the end of its own scans: an end marker (EOI) anywhere else
    (an embedded preview's, in its EXIF block or a comment) says nothing about the main image, and a tail
    search took such a preview's for the file's end."""
    with path.open("rb") as f:
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            return True
        with data:
            return _jpeg_ends_early(data)


def _jpeg_ends_early(data: mmap.mmap) -> bool:
    """Walk the marker segments (skipping each by its length) and each scan's entropy-coded data (where FF 00
    is a stuffed byte and FF D0-D7 a restart marker) until EOI; True if the data runs out first. A file that
    is malformed rather than short is not called cut short: the decoder's own error stands for it."""
    end = len(data)
    pos = 2  # after SOI
    while pos < end:
        if data[pos] != 0xFF:
            return False
        while pos < end and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= end:
            return True
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return False
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a segment
            continue
        if pos + 2 > end:
            return True
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            return False
        pos += length
        if pos > end:
            return True
        if marker == 0xDA:  # a scan: its data runs to the next marker that is not stuffing or a restart
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= end:
                    return True
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                elif following == 0xFF:
                    pos += 1
                else:
                    break
    return True
