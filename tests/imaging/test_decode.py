"""Images as people have them: every input format, orientation, profile, depth, grey, palette, alpha."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enhanceit.config import LimitSettings
from enhanceit.errors import ImageTooLarge, UndecodableImage, UnsupportedFormat
from enhanceit.imaging.decode import decode
from enhanceit.imaging.formats import sniff
from enhanceit.imaging.probe import probe
from enhanceit.imaging.vips import pyvips
from enhanceit.pipeline.limits import check_input
from tests.helpers import photo, to_vips
from tests.imaging.bmp_writer import bmp_bytes, rle8_bmp_bytes


def decoded_pixels(path: Path, tmp_path: Path) -> np.ndarray:
    info = probe(path)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    result = decode(path, info, work)
    with result.raster as r:
        return r.read_rows(0, r.info.height)


LOSSLESS = {"png": {}, "webp": {"lossless": True}, "tif": {}, "avif": {"lossless": True}}


@pytest.mark.parametrize("suffix", ["png", "webp", "tif"])
def test_lossless_formats_decode_exactly(tmp_path: Path, suffix: str) -> None:
    pixels = photo("astronaut", 48)
    path = tmp_path / f"in.{suffix}"
    to_vips(pixels).write_to_file(str(path), **LOSSLESS[suffix])
    assert np.array_equal(decoded_pixels(path, tmp_path), pixels)


@pytest.mark.parametrize(("suffix", "options", "tolerance"), [("jpg", {"Q": 95}, 12), ("avif", {"Q": 90}, 24)])
def test_lossy_formats_decode_close(tmp_path: Path, suffix: str, options: dict[str, object], tolerance: int) -> None:
    pixels = photo("astronaut", 48)
    path = tmp_path / f"in.{suffix}"
    to_vips(pixels).write_to_file(str(path), **options)
    out = decoded_pixels(path, tmp_path).astype(int)
    assert out.shape == pixels.shape
    assert np.abs(out - pixels).mean() < tolerance / 4
    assert sniff(path.read_bytes()[:32]) == ("jpeg" if suffix == "jpg" else "avif")


def test_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [np.full((16, 20, 3), v, np.uint8) for v in (10, 200, 90)]
    strip = to_vips(np.concatenate(frames, axis=0)).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 16)
    path = tmp_path / "anim.gif"
    strip.gifsave(str(path))
    info = probe(path)
    assert (info.width, info.height, info.pages) == (20, 16, 3)
    out = decoded_pixels(path, tmp_path)
    assert out.shape[:2] == (16, 20) and abs(int(out[..., :3].mean()) - 10) <= 2  # libvips adds alpha to GIF


@pytest.mark.parametrize("bpp", [1, 4, 8, 16, 24, 32])
@pytest.mark.parametrize("top_down", [False, True])
def test_bmp_variants(tmp_path: Path, bpp: int, top_down: bool) -> None:
    rng = np.random.default_rng(bpp)
    h, w = 13, 21
    palette = None
    if bpp <= 8:
        palette = rng.integers(0, 256, (1 << bpp, 3), dtype=np.uint8)
        index = rng.integers(0, 1 << bpp, (h, w), dtype=np.uint8)
        pixels, expected = index, palette[index]
    elif bpp == 32:
        pixels = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        pixels[..., 3] = 255  # opaque, so colours are kept exactly
        expected = pixels
    else:
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        expected = pixels if bpp == 24 else ((pixels >> 3).astype(np.uint16) * 255 // 31).astype(np.uint8)
    path = tmp_path / "in.bmp"
    path.write_bytes(bmp_bytes(pixels, bpp, top_down, palette))
    out = decoded_pixels(path, tmp_path)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= (1 if bpp == 16 else 0)


def test_an_rle8_bmp_decodes(tmp_path: Path) -> None:
    """RLE-compressed BMPs used to be refused; Pillow decodes them."""
    quantised = Image.fromarray(photo("coffee", 96)).quantize(colors=64, dither=Image.Dither.NONE)
    index = np.asarray(quantised)
    palette = np.asarray(quantised.getpalette(), np.uint8).reshape(-1, 3)[:64]
    path = tmp_path / "rle8.bmp"
    path.write_bytes(rle8_bmp_bytes(index, palette))
    with Image.open(path) as written:
        assert written.info["compression"] == 1  # BI_RLE8: what the hand-written reader refused
    info = probe(path)
    assert (info.format, info.width, info.height, info.bands) == ("bmp", 96, 96, 3)
    assert np.array_equal(decoded_pixels(path, tmp_path), palette[index])


def test_a_cut_short_rle8_bmp_is_undecodable(tmp_path: Path) -> None:
    index = np.asarray(Image.fromarray(photo("coffee", 64)).quantize(colors=16))
    data = rle8_bmp_bytes(index, np.zeros((16, 3), np.uint8))
    path = tmp_path / "cut.bmp"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UndecodableImage):
        decoded_pixels(path, tmp_path)


def test_a_bmp_embedding_a_png_is_refused_as_unsupported(tmp_path: Path) -> None:
    data = bytearray(bmp_bytes(np.zeros((4, 4, 3), np.uint8), 24))
    data[30:34] = (5).to_bytes(4, "little")  # BI_PNG
    path = tmp_path / "png-in.bmp"
    path.write_bytes(bytes(data))
    with pytest.raises(UnsupportedFormat, match="BMP"):
        probe(path)


def test_a_bmp_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    """A header announcing 100,000 x 100,000 pixels over a few bytes: the limit is checked before decoding."""
    data = bytearray(bmp_bytes(np.zeros((4, 4, 3), np.uint8), 24))
    data[18:26] = struct.pack("<ii", 100_000, 100_000)
    path = tmp_path / "bomb.bmp"
    path.write_bytes(bytes(data))
    info = probe(path)
    assert info.pixels == 10**10
    with pytest.raises(ImageTooLarge, match="10,000,000,000"):
        check_input(info, LimitSettings())
    with pytest.raises(UndecodableImage, match="truncated"):  # and were it decoded, it has no such rows
        decoded_pixels(path, tmp_path)


def _display(stored: np.ndarray, orientation: int) -> np.ndarray:
    """What EXIF says the viewer shows for pixels stored with an orientation tag."""
    return {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }[orientation](stored)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    stored = photo("astronaut")[:30, :40]  # not square: a missed rotation changes the shape
    image = to_vips(stored).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    path = tmp_path / "oriented.png"
    image.pngsave(str(path))
    info = probe(path)
    expected = _display(stored, orientation)
    assert (info.height, info.width) == expected.shape[:2]
    assert np.array_equal(decoded_pixels(path, tmp_path), expected)


def test_icc_profile_is_kept_and_pixels_untouched(tmp_path: Path) -> None:
    pixels = photo("coffee", 40)
    tagged = to_vips(pixels).copy()
    p3 = to_vips(pixels).icc_transform("p3", input_profile="srgb").get("icc-profile-data")
    tagged.set_type(pyvips.GValue.blob_type, "icc-profile-data", p3)
    path = tmp_path / "p3.png"
    tagged.pngsave(str(path))
    info = probe(path)
    result = decode(path, info, tmp_path)
    assert result.icc == p3
    assert np.array_equal(result.raster.read_rows(0, 40), pixels)


def test_cmyk_is_converted_to_srgb(tmp_path: Path) -> None:
    midtones = (photo("coffee", 32) // 2 + 60).astype(np.uint8)  # inside the CMYK gamut
    rgb = to_vips(midtones)
    cmyk = rgb.icc_transform("cmyk", input_profile="srgb")
    path = tmp_path / "cmyk.jpg"
    cmyk.jpegsave(str(path), Q=95)
    info = probe(path)
    assert info.interpretation == "cmyk"
    result = decode(path, info, tmp_path)
    assert result.icc is None and result.raster.info.bands == 3
    back = result.raster.read_rows(0, 32).astype(int)
    assert np.abs(back - midtones).mean() < 8


def test_sixteen_bit_grey_and_palette(tmp_path: Path) -> None:
    deep = photo("astronaut", 24).astype(np.uint16) * 257 + 3
    path = tmp_path / "deep.png"
    to_vips(deep).pngsave(str(path), bitdepth=16)
    out = decode(path, probe(path), tmp_path)
    assert out.sample == "uint16" and np.array_equal(out.raster.read_rows(0, 24), deep)

    grey = photo("camera", 24)[:, :, 0]
    path = tmp_path / "grey.png"
    to_vips(grey).pngsave(str(path))
    (tmp_path / "g").mkdir()
    out = decode(path, probe(path), tmp_path / "g")
    assert out.gray and out.raster.info.bands == 1
    assert np.array_equal(out.raster.read_rows(0, 24)[:, :, 0], grey)

    path = tmp_path / "palette.png"
    to_vips(photo("chelsea", 24)).pngsave(str(path), palette=True, colours=16)
    (tmp_path / "p").mkdir()
    out = decode(path, probe(path), tmp_path / "p")
    assert out.raster.info.bands == 3 and not out.gray


def test_transparent_pixels_get_colour_from_visible_neighbours(tmp_path: Path) -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = (200, 40, 30)
    rgba[10:30, 10:30, 3] = 255
    rgba[rgba[..., 3] == 0, :3] = (0, 255, 0)  # garbage colour where nothing is visible
    path = tmp_path / "rgba.png"
    to_vips(rgba).pngsave(str(path))
    out = decode(path, probe(path), tmp_path)
    pixels = out.raster.read_rows(0, 40)
    assert out.alpha and pixels.shape[2] == 4
    assert np.array_equal(pixels[..., 3], rgba[..., 3])
    assert np.array_equal(pixels[10:30, 10:30], rgba[10:30, 10:30])
    near = pixels[5:35, 5:35, :3].astype(int)  # within reach of a network's context
    assert np.abs(near - (200, 40, 30)).max() <= 2


def test_unknown_and_broken_inputs(tmp_path: Path) -> None:
    svg = tmp_path / "x.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    with pytest.raises(UnsupportedFormat):
        probe(svg)
    truncated = tmp_path / "cut.png"
    to_vips(photo("astronaut", 64)).pngsave(str(truncated))
    truncated.write_bytes(truncated.read_bytes()[:3000])
    with pytest.raises(UndecodableImage, match="ends early"):  # filled with a warning unless strict
        decode(truncated, probe(truncated), tmp_path, strict=True)
    garbage = tmp_path / "bad.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    with pytest.raises(UndecodableImage):
        decode(garbage, probe(garbage), tmp_path)


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header announcing a huge image, followed by almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(100_000, 100_000))
    info = probe(path)
    assert info.pixels == 10**10
    with pytest.raises(ImageTooLarge, match="10,000,000,000"):
        check_input(info, LimitSettings())
