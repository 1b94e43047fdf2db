"""A JPEG's quality, estimated from its tables: exact for the encoders users meet, nearest for others."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from enhanceit.imaging import jpegquality
from enhanceit.imaging.probe import probe
from tests.helpers import photo, to_vips

QUALITIES = (5, 20, 50, 60, 75, 85, 92, 97, 100)


@pytest.mark.parametrize("quality", QUALITIES)
def test_libvips_and_pillow_jpegs_give_back_their_quality(tmp_path: Path, quality: int) -> None:
    pixels = photo("coffee", 64)
    vips = tmp_path / "vips.jpg"
    to_vips(pixels).jpegsave(str(vips), Q=quality)
    pillow = tmp_path / "pillow.jpg"
    Image.fromarray(pixels).save(pillow, quality=quality, subsampling=0)
    gray = tmp_path / "gray.jpg"  # one table only
    Image.fromarray(pixels[:, :, 0]).save(gray, quality=quality)
    assert [jpegquality.estimate(p) for p in (vips, pillow, gray)] == [quality] * 3
    assert probe(vips).quality == quality and probe(vips).lossy


def test_a_jpeg_of_a_jpeg_reads_as_its_last_save(tmp_path: Path) -> None:
    first = tmp_path / "first.jpg"
    to_vips(photo("astronaut", 64)).jpegsave(str(first), Q=92)
    again = tmp_path / "again.jpg"
    Image.open(first).save(again, quality=70)
    assert jpegquality.estimate(again) == 70


def dqt(table_id: int, natural: list[int], sixteen: bool = False) -> bytes:
    zigzag = jpegquality._ZIGZAG
    stored = [natural[index] for index in zigzag]
    body = bytes([(1 if sixteen else 0) << 4 | table_id]) + b"".join(
        v.to_bytes(2 if sixteen else 1, "big") for v in stored
    )
    return b"\xff\xdb" + (2 + len(body)).to_bytes(2, "big") + body


def test_other_tables_get_the_ijg_quality_of_the_same_coarseness(tmp_path: Path) -> None:
    """A camera's own tables (here: the quality-80 ones, 15% coarser at high frequencies) sit between
    their IJG neighbours; 16-bit entries read like 8-bit ones."""
    q80 = list(jpegquality.ijg_table(jpegquality._LUMA, 80))
    coarser = [v if i % 8 + i // 8 < 6 else round(v * 1.15) for i, v in enumerate(q80)]
    path = tmp_path / "camera.jpg"
    path.write_bytes(b"\xff\xd8" + dqt(0, coarser) + b"\xff\xda\x00\x02" + b"\0" * 8 + b"\xff\xd9")
    assert 75 <= (jpegquality.estimate(path) or 0) < 80
    path.write_bytes(b"\xff\xd8" + dqt(0, q80, sixteen=True) + b"\xff\xd9")
    assert jpegquality.estimate(path) == 80


def test_the_tables_are_read_in_zigzag_order(tmp_path: Path) -> None:
    """Stored in natural order by mistake, the quality-50 table reads as another quality."""
    path = tmp_path / "natural.jpg"
    stored = list(jpegquality.ijg_table(jpegquality._LUMA, 50))
    body = bytes([0]) + bytes(stored)
    path.write_bytes(b"\xff\xd8\xff\xdb" + (2 + len(body)).to_bytes(2, "big") + body + b"\xff\xd9")
    assert jpegquality.estimate(path) != 50


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",  # nothing after the start
        b"\xff\xd8\xff\xdb\x00\x43\x00" + b"\x10" * 10,  # a table cut short
        b"\xff\xd8\xff\xdb\x00\x43\x00" + b"\x00" * 64 + b"\xff\xd9",  # zero divisors
        b"\xff\xd8\xff\xda\x00\x02\xff\xdb",  # a table after the first scan
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff\xe1\xff\xff" + b"\0" * 100,  # an EXIF segment longer than the file
    ],
)
def test_files_without_a_usable_table_have_no_estimate(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    assert jpegquality.estimate(path) is None
