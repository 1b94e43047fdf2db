"""iPhone photos: HEVC-coded HEIC decoded with pillow-heif, transforms applied once, colour and depth kept.

The fixtures are real photos encoded by the tests with pillow-heif's HEVC encoder (x265).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pillow_heif
import pytest
from PIL import Image, ImageCms

from enhanceit.config import LimitSettings
from enhanceit.engine.runtime import Engine
from enhanceit.errors import ImageTooLarge, UndecodableImage
from enhanceit.imaging.decode import decode
from enhanceit.imaging.probe import probe
from enhanceit.imaging.vips import pyvips
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.limits import check_input
from enhanceit.pipeline.process import enhance_file
from tests.helpers import load, photo, psnr


def heic(path: Path, pixels: npt.NDArray[np.generic], **options: object) -> Path:
    mode = "RGB;16" if pixels.dtype == np.uint16 else "RGB"
    height, width = pixels.shape[:2]
    image = pillow_heif.from_bytes(mode=mode, size=(width, height), data=np.ascontiguousarray(pixels).tobytes())
    image.save(str(path), **options)
    return path


def raster(decoded_path: Path, shape: tuple[int, ...], dtype: type) -> npt.NDArray[np.generic]:
    return np.fromfile(decoded_path, dtype).reshape(shape)


def test_an_iphone_style_heic_decodes(tmp_path: Path) -> None:
    pixels = photo("astronaut", 256)
    path = heic(tmp_path / "IMG_0001.HEIC", pixels, quality=90)
    info = probe(path)
    assert (info.format, info.codec, info.width, info.height, info.orientation) == ("heif", "hevc", 256, 256, 1)
    decoded = decode(path, info, tmp_path)
    assert decoded.sample == "uint8" and decoded.warnings == []
    assert psnr(raster(decoded.raster.path, (256, 256, 3), np.uint8), pixels) > 35


def test_the_heif_rotation_is_applied_exactly_once(tmp_path: Path) -> None:
    """pillow-heif turns an EXIF orientation into an ``irot`` transform and keeps the EXIF tag, as iPhones
    do: libheif applies the transform, and the tag must not rotate the picture a second time."""
    pixels = photo("astronaut")[:256, :192]  # taller than wide
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "rotated.heic"
    pillow_heif.register_heif_opener()
    image.save(path, format="HEIF", quality=90, exif=exif.tobytes())
    assert b"irot" in path.read_bytes()
    info = probe(path)
    assert (info.width, info.height, info.orientation) == (256, 192, 1)
    decoded = decode(path, info, tmp_path)
    shown = raster(decoded.raster.path, (192, 256, 3), np.uint8)
    assert psnr(shown, np.rot90(pixels, -1)) > 35


def test_a_ten_bit_heic_takes_the_sixteen_bit_path(tmp_path: Path) -> None:
    pixels = photo("astronaut", 128).astype(np.uint16) * 257
    path = heic(tmp_path / "deep.heic", pixels, quality=-1)
    info = probe(path)
    assert info.sixteen_bit
    decoded = decode(path, info, tmp_path)
    assert decoded.sample == "uint16"
    out = raster(decoded.raster.path, (128, 128, 3), np.uint16)
    assert out.max() > 60000, "10-bit samples are spread over the whole 16-bit range"
    assert psnr(out, pixels, peak=65535) > 35


def test_an_icc_profile_is_kept(tmp_path: Path) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = pillow_heif.from_bytes(mode="RGB", size=(64, 64), data=photo("astronaut", 64).tobytes())
    image.info["icc_profile"] = profile
    path = tmp_path / "icc.heic"
    image.save(str(path), quality=90)
    decoded = decode(path, probe(path), tmp_path)
    assert decoded.icc == profile


def test_display_p3_without_a_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[...] = (40, 200, 60)  # a saturated green: P3's is wider than sRGB's
    nclx = {"color_primaries": 12, "transfer_characteristics": 13, "matrix_coefficients": 6, "full_range_flag": 1}
    plain = decode(heic(tmp_path / "srgb.heic", pixels, quality=95), probe(tmp_path / "srgb.heic"), tmp_path)
    same = raster(plain.raster.path, (64, 64, 3), np.uint8).reshape(-1, 3).mean(axis=0)
    (tmp_path / "p3").mkdir()
    p3 = tmp_path / "p3.heic"
    decoded = decode(heic(p3, pixels, quality=95, nclx_profile=nclx), probe(p3), tmp_path / "p3")
    converted = raster(decoded.raster.path, (64, 64, 3), np.uint8).reshape(-1, 3).mean(axis=0)
    assert decoded.icc is None and decoded.warnings == []
    # P3 (40, 200, 60) is about sRGB (0, 204, 12): a purer green than the same numbers mean in sRGB
    assert converted[0] < same[0] - 20 and converted[2] < same[2] - 20, (converted, same)


def test_the_pixel_limit_is_checked_from_the_header(tmp_path: Path) -> None:
    path = heic(tmp_path / "photo.heic", photo("astronaut", 128), quality=50)
    with pytest.raises(ImageTooLarge):
        check_input(probe(path), LimitSettings(max_input_pixels=128 * 128 - 1))


def test_a_cut_short_heic_is_refused(tmp_path: Path) -> None:
    path = heic(tmp_path / "photo.heic", photo("astronaut", 256), quality=90)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UndecodableImage):
        decode(path, probe(path), tmp_path)


def test_a_heic_is_enhanced_end_to_end(engine: Engine, tmp_path: Path) -> None:
    pixels = photo("astronaut", 64)
    src = heic(tmp_path / "IMG_0002.heic", pixels, quality=90)
    out = tmp_path / "out.png"
    outcome = enhance_file(src, out, EnhanceOptions(model="photo"), engine, LimitSettings())
    assert outcome.model.id == "waifu2x-upconv7-photo"
    result = load(out)
    assert result.shape == (128, 128, 3)
    assert psnr(np.asarray(pyvips.Image.new_from_file(str(out)).resize(0.5).numpy()), pixels) > 28
