"""The formats table: the types the API schema is built from agree with it, and each saver writes its format."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from enhanceit.imaging.formats import (
    FORMATS,
    IMAGE_SUFFIXES,
    OUTPUT_FORMATS,
    InputFormat,
    OutputFormat,
    output_format,
    sniff,
)
from enhanceit.imaging.vips import pyvips
from tests.helpers import photo, to_vips


def test_the_literals_name_exactly_the_table_rows() -> None:
    assert set(get_args(InputFormat)) == set(FORMATS)
    assert {name for name, f in FORMATS.items() if f.writable} == set(get_args(OutputFormat))


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_each_saver_writes_its_own_format(fmt: OutputFormat, tmp_path: Path) -> None:
    spec = FORMATS[fmt]
    path = tmp_path / f"out{spec.extension}"
    assert spec.saver is not None
    spec.saver(to_vips(photo(size=64)), path, None, False, pyvips.ForeignKeep.ICC)
    assert sniff(path.read_bytes()[:32]) == fmt
    assert pyvips.Image.new_from_file(str(path)).width == 64


def test_png_saver_keeps_sixteen_bits_only_when_asked(tmp_path: Path) -> None:
    image = to_vips(photo(size=32).astype("uint16") * 257)
    saver = FORMATS["png"].saver
    assert saver is not None
    saver(image, tmp_path / "16.png", None, True, 0)
    saver(image, tmp_path / "8.png", None, False, 0)
    assert pyvips.Image.new_from_file(str(tmp_path / "16.png")).format == "ushort"
    assert pyvips.Image.new_from_file(str(tmp_path / "8.png")).format == "uchar"


def test_names_and_suffixes() -> None:
    assert output_format("JPG") == "jpeg"
    assert output_format("webp") == "webp"
    assert output_format("GIF") == "gif"
    with pytest.raises(ValueError, match="png, webp, jpeg, avif, gif"):
        output_format("bmp")
    assert {".jpg", ".jpeg", ".heic", ".tif", ".bmp"} <= IMAGE_SUFFIXES
    assert ".txt" not in IMAGE_SUFFIXES
