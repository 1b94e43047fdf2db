"""Damaged files, the way browsers show them: a cut-short image is decoded as far as it goes, with a warning.

Every fixture is a real photo, encoded and then cut by the test as a broken download would cut it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enhanceit.errors import UndecodableImage
from enhanceit.imaging.decode import TRUNCATED, decode
from enhanceit.imaging.probe import probe
from tests.helpers import photo, psnr, to_vips


def _cut(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _rows(decoded_path: Path, width: int, height: int) -> np.ndarray:
    return np.fromfile(decoded_path, np.uint8).reshape(height, width, 3)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_a_cut_short_image_is_filled_and_says_so(fmt: str, tmp_path: Path) -> None:
    pixels = photo("astronaut", 256)
    path = tmp_path / f"photo.{fmt}"
    to_vips(pixels).write_to_file(str(path), **({"Q": 90} if fmt == "jpeg" else {}))
    _cut(path, 0.6)
    decoded = decode(path, probe(path), tmp_path)
    assert decoded.warnings == [TRUNCATED]
    rows = _rows(decoded.raster.path, 256, 256)
    top = slice(0, 64)  # well inside what arrived
    assert psnr(rows[top], pixels[top]) > 30
    bottom = rows[-16:].astype(int)
    assert bottom.std() < 2, "the rows that never arrived are one flat fill"


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_strict_refuses_a_cut_short_image(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"photo.{fmt}"
    to_vips(photo("astronaut", 128)).write_to_file(str(path))
    _cut(path, 0.6)
    with pytest.raises(UndecodableImage, match="ends early"):
        decode(path, probe(path), tmp_path, strict=True)


def test_an_intact_image_has_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    to_vips(photo("astronaut", 128)).jpegsave(str(path))
    assert decode(path, probe(path), tmp_path).warnings == []


def test_a_corrupt_png_that_is_not_cut_short_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.png"
    to_vips(photo("astronaut", 64)).pngsave(str(path))
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 60
    data[start : start + 200] = bytes(b ^ 0x5A for b in data[start : start + 200])  # the end is intact
    path.write_bytes(bytes(data))
    with pytest.raises(UndecodableImage, match="cannot decode the PNG image"):
        decode(path, probe(path), tmp_path)


def test_a_cut_short_webp_is_refused_with_the_reason(tmp_path: Path) -> None:
    """libwebp decodes a WebP only whole (libvips and Pillow alike): it cannot be shown in part."""
    path = tmp_path / "photo.webp"
    to_vips(photo("astronaut", 128)).webpsave(str(path), Q=80)
    _cut(path, 0.6)
    with pytest.raises(UndecodableImage, match="WebP data ends early"):
        probe(path)


def test_a_file_cut_inside_its_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    to_vips(photo("astronaut", 128)).pngsave(str(path))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(UndecodableImage):
        decode(path, probe(path), tmp_path)


def with_a_preview(main: bytes, preview: bytes) -> bytes:
    """``main`` with ``preview`` (a whole JPEG, end marker included) in a comment segment after SOI, where
    cameras put their EXIF previews."""
    segment = b"\xff\xfe" + (len(preview) + 2).to_bytes(2, "big") + preview
    return main[:2] + segment + main[2:]


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_a_cut_short_jpeg_with_an_embedded_preview_is_filled(tmp_path: Path, progressive: bool) -> None:
    """thumbor's BlueSquare_truncated.jpg: the preview's end marker lies in the file's last 4 KB, and a tail
    search took the file for whole (then refused it). The marker walk skips the preview."""
    main = to_vips(photo("astronaut", 96)).jpegsave_buffer(Q=80, interlace=progressive)
    preview = to_vips(photo("coffee", 16)).jpegsave_buffer(Q=50)
    data = with_a_preview(main, preview)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) - len(main) // 3])
    assert len(path.read_bytes()) < 4096 and b"\xff\xd9" in path.read_bytes()  # the case that fooled the tail search
    decoded = decode(path, probe(path), tmp_path)
    assert decoded.warnings == [TRUNCATED]
    with pytest.raises(UndecodableImage, match="ends early"):
        decode(path, probe(path), tmp_path, strict=True)
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(data)
    assert decode(whole, probe(whole), tmp_path).warnings == []


def test_a_cut_short_interlaced_png_is_refused_in_plain_words(tmp_path: Path) -> None:
    """libvips decodes an interlaced PNG whole or not at all; its message ("unable to call rawsave") said
    nothing to a user."""
    path = tmp_path / "interlaced.png"
    to_vips(photo("astronaut", 128)).pngsave(str(path), interlace=True)
    _cut(path, 0.6)
    with pytest.raises(UndecodableImage, match="ends early, and what arrived cannot be shown") as caught:
        decode(path, probe(path), tmp_path)
    assert "rawsave" not in str(caught.value)
