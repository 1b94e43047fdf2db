"""The formats table: what is derived from it agrees with it, each row's magic and reader recognise and read
its files, and each saver writes its format."""

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
    accept_header,
    output_format,
    sniff,
)
from enhanceit.imaging.probe import probe
from enhanceit.imaging.readers import READERS
from enhanceit.imaging.vips import pyvips
from enhanceit.options import EnhanceOptions
from tests.helpers import photo, to_vips


def test_the_types_the_schema_is_built_from_name_the_table_rows_in_order() -> None:
    assert get_args(InputFormat) == ("png", "webp", "jpeg", "avif", "gif", "tiff", "bmp", "heif")
    assert get_args(OutputFormat) == OUTPUT_FORMATS == ("png", "webp", "jpeg", "avif", "gif")
    schema = EnhanceOptions.model_json_schema()["properties"]["format"]
    assert next(c for c in schema["anyOf"] if "enum" in c)["enum"] == list(OUTPUT_FORMATS)


def test_every_row_names_a_reader_and_a_magic() -> None:
    for name, row in FORMATS.items():
        assert row.reader in READERS, name
        assert row.magic, name


def test_the_accept_header_asks_for_every_format_written_first() -> None:
    accept = accept_header().decode()
    types = [part.split(";")[0] for part in accept.split(",")]
    assert types[: len(OUTPUT_FORMATS)] == [FORMATS[f].media_type for f in OUTPUT_FORMATS]
    assert set(types) == {f.media_type for f in FORMATS.values()} | {"image/*"}
    assert "image/bmp;q=0.9" in accept


@pytest.mark.parametrize(
    "head",
    [
        b"BM" + b"\0" * 10,  # a BMP's magic, but shorter than its headers
        b"RIFF\0\0\0\0WEBX".ljust(32, b"\0"),
        b"\0\0\0\x18ftypmp42".ljust(32, b"\0"),  # ISO-BMFF, but a video's brand
        b"GIF88a".ljust(32, b"\0"),
    ],
)
def test_near_misses_are_not_sniffed(head: bytes) -> None:
    assert sniff(head) is None


@pytest.mark.parametrize(
    ("fmt", "save", "lossy"),
    [
        ("png", {}, False),
        ("jpeg", {}, True),
        ("webp", {"lossless": True}, False),
        ("webp", {"Q": 80}, True),
        ("gif", {}, False),
        ("tiff", {}, False),
        ("avif", {"compression": "av1"}, True),
    ],
)
def test_each_rows_reader_reads_a_real_file_of_it(
    fmt: str, save: dict[str, object], lossy: bool, tmp_path: Path
) -> None:
    """(HEIC and BMP, which libvips does not write, have their own tests: test_heif.py, test_decode.py.)"""
    path = tmp_path / f"in.{fmt}"
    getattr(to_vips(photo(size=48)), "heifsave" if fmt == "avif" else f"{fmt}save")(str(path), **save)
    info = probe(path)
    assert (info.format, info.width, info.height) == (fmt, 48, 48)
    assert info.lossy is lossy
    assert (info.quality is not None) is (fmt == "jpeg")


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
