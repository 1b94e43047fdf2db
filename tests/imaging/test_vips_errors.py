"""libvips' errors become ours at one place (imaging/vips.py), with one useful line and no server path."""

from __future__ import annotations

from pathlib import Path

import pytest

from enhanceit.errors import InsufficientStorage, OutputError, UndecodableImage
from enhanceit.imaging.vips import error_line, pyvips, reading, writing
from tests.helpers import photo, to_vips


def test_a_failed_decode_is_a_422_in_libvips_words_without_the_path(tmp_path: Path) -> None:
    path = tmp_path / "secret-folder" / "in.png"
    path.parent.mkdir()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(UndecodableImage) as caught, reading("cannot decode the PNG image"):
        pyvips.Image.new_from_file(str(path), fail_on="error").avg()
    message = str(caught.value)
    assert message.startswith("cannot decode the PNG image: ")
    assert "secret-folder" not in message and "\n" not in message


def test_a_failed_encode_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"^encoding PNG failed: "), writing("PNG"):
        to_vips(photo(size=8)).pngsave(str(tmp_path / "missing" / "out.png"))


def test_a_full_disc_while_writing_is_a_507() -> None:
    with pytest.raises(InsufficientStorage), writing("PNG"):
        raise pyvips.Error("unable to call pngsave", "write failed: No space left on device")


def test_our_own_errors_and_others_pass_through() -> None:
    with pytest.raises(KeyError), reading("cannot decode"):
        raise KeyError("x")


def test_the_useful_line_is_the_last_named_one() -> None:
    error = pyvips.Error("unable to call VipsForeignLoadPngFile", "pngload: libpng read error\nmore: detail\n")
    assert error_line(error) == "detail"
    assert error_line(pyvips.Error("", "")) == "decoder error"
