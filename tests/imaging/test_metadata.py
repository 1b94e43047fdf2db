"""The ``metadata`` option: the input's EXIF carried through an allow-list, never the position by default.

Every result is made by the real pipeline (with the nearest-neighbour engine) from a camera-like JPEG whose
EXIF has what a phone or a camera writes and what must not leak: a GPS position, a MakerNote, a serial
number, the owner's name, a thumbnail (IFD1), an orientation to apply. Results are read back with Pillow,
not with libvips' own EXIF code (libexif), so a block libvips wrote wrongly would show.
"""

from __future__ import annotations

import io
import logging
import struct
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms
from PIL.TiffImagePlugin import IFDRational

from enhanceit.config import LimitSettings
from enhanceit.engine.fake import fake_engine
from enhanceit.engine.runtime import Engine
from enhanceit.imaging import metadata
from enhanceit.imaging.decode import Decoded
from enhanceit.imaging.encode import save_atomically, with_metadata
from enhanceit.imaging.formats import OutputFormat
from enhanceit.imaging.metadata import MAX_EXIF_BYTES, result_exif
from enhanceit.imaging.probe import probe
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.imaging.vips import pyvips
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import Outcome, enhance_file
from tests.helpers import photo

EXIF_FORMATS = ["jpeg", "png", "webp", "avif"]
#: The input is 64x48 stored, turned by orientation 6 to 48x64 shown; results are twice that.
SHOWN = (96, 128)

IFD_EXIF, IFD_GPS = ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo
MAKER_NOTE, SERIAL, OWNER, USER_COMMENT = 0x927C, 0xA431, 0xA430, 0x9286
#: Bytes of what must not leak, found by a plain search of a result's file.
SECRETS = (b"MAKERNOTE-SECRET", b"SERIAL-4242", b"OWNER-NAME", b"COMMENT-SECRET", b"PRIVATE-TAG")
R = IFDRational
GPS = {0: b"\x02\x03\x00\x00", 1: "N", 2: (R(52), R(31), R(25, 2)), 3: "E", 4: (R(13), R(24), R(29, 4))}
CAMERA = {
    0x010F: "Canon",  # Make
    0x0110: "Canon EOS R6",  # Model
    0x0131: "Firmware 1.8",  # Software
    0x0132: "2024:05:06 07:08:09",  # DateTime
    0x013B: "Ann Author",  # Artist
    0x8298: "(c) Ann Author",  # Copyright
    0x010E: "A test card",  # ImageDescription
}
SHOOTING = {
    0x829A: R(1, 250),  # ExposureTime
    0x829D: R(28, 10),  # FNumber
    0x8827: 400,  # ISO
    0x8822: 3,  # ExposureProgram
    0x9003: "2024:05:06 07:08:09",  # DateTimeOriginal
    0x9291: "042",  # SubSecTimeOriginal
    0x9011: "+02:00",  # OffsetTimeOriginal
    0x9204: R(-2, 3),  # ExposureBiasValue
    0x9207: 5,  # MeteringMode
    0x9209: 16,  # Flash
    0x920A: R(50),  # FocalLength
    0xA405: 75,  # FocalLengthIn35mmFilm
    0xA403: 1,  # WhiteBalance
    0xA434: "RF24-105mm F4 L IS USM",  # LensModel
}
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'


def _with_thumbnail(block: bytes) -> bytes:
    """``block`` (Pillow's, IFD0 at offset 8) with an IFD1 after it that points to a JPEG thumbnail."""
    tiff = bytearray(block.removeprefix(b"Exif\x00\x00"))
    order = "<" if tiff[:2] == b"II" else ">"
    (count,) = struct.unpack_from(order + "H", tiff, 8)
    thumb = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(thumb, "JPEG")
    ifd1_at = len(tiff) + (len(tiff) & 1)
    tiff += b"\x00" * (ifd1_at - len(tiff))
    struct.pack_into(order + "I", tiff, 8 + 2 + 12 * count, ifd1_at)
    thumb_at = ifd1_at + 2 + 2 * 12 + 4
    tiff += struct.pack(order + "H", 2)
    tiff += struct.pack(order + "HHII", 0x0201, 4, 1, thumb_at)  # JPEGInterchangeFormat
    tiff += struct.pack(order + "HHII", 0x0202, 4, 1, len(thumb.getvalue()))  # ...Length
    tiff += struct.pack(order + "I", 0) + thumb.getvalue()
    return b"Exif\x00\x00" + bytes(tiff)


def camera_exif(orientation: int = 6) -> bytes:
    """An EXIF block as a camera writes it, with what must never leak by default."""
    exif = Image.Exif()
    exif.update(CAMERA)
    exif[0x0112] = orientation
    exif[0xC000] = "PRIVATE-TAG"  # a tag this program has never heard of
    shooting: dict[int, object] = dict(SHOOTING)
    shooting |= {MAKER_NOTE: b"MAKERNOTE-SECRET", SERIAL: "SERIAL-4242", OWNER: "OWNER-NAME"}
    shooting |= {USER_COMMENT: b"ASCII\x00\x00\x00COMMENT-SECRET", 0xA002: 64, 0xA003: 48}
    exif[IFD_EXIF] = shooting
    exif[IFD_GPS] = GPS
    return _with_thumbnail(exif.tobytes())


SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_jpeg(path: Path, exif: bytes | None = None) -> Path:
    """A 64x48 photo stored with orientation 6, EXIF, an XMP packet and an ICC profile, as a camera saves it."""
    block = camera_exif() if exif is None else exif
    Image.fromarray(photo("astronaut")[:48, :64]).save(
        path, "JPEG", quality=95, exif=block, xmp=XMP, icc_profile=SRGB_ICC
    )
    return path


#: Nearest-neighbour "networks" with the real models' shapes: exact and fast.
ENGINE: Engine = fake_engine()


def enhance(src: Path, dst: Path, **options: object) -> Outcome:
    return enhance_file(src, dst, EnhanceOptions(**options), ENGINE, LimitSettings())


class ReadBack:
    """A result as other programs see it: Pillow's EXIF reader, libvips' size and XMP, the file's bytes."""

    def __init__(self, path: Path) -> None:
        self.bytes = path.read_bytes()
        with Image.open(path) as image:
            self.size = image.size
            exif = image.getexif()
            self.icc = image.info.get("icc_profile")
        self.ifd0 = dict(exif)
        self.exif = exif.get_ifd(IFD_EXIF)
        self.gps = exif.get_ifd(IFD_GPS)
        self.ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
        vips = pyvips.Image.new_from_file(str(path))
        self.vips_size = (vips.width, vips.height)
        self.vips_orientation = int(vips.get("orientation")) if vips.get_typeof("orientation") else 1
        self.xmp = bytes(vips.get("xmp-data")) if vips.get_typeof("xmp-data") else None


@pytest.fixture
def camera(tmp_path: Path) -> Path:
    return camera_jpeg(tmp_path / "IMG_0001.JPG")


def assert_camera_kept(out: ReadBack) -> None:
    for tag, text in CAMERA.items():
        assert out.ifd0.get(tag) == text, hex(tag)
    for tag, value in SHOOTING.items():
        assert out.exif.get(tag) == value, hex(tag)


def assert_upright_and_resized(out: ReadBack) -> None:
    """Orientation 1 (the pixels were turned when decoded), the result's dimensions, and no reader turns the
    picture again (libvips' AVIF saver would have written an ``irot`` box from a stale orientation)."""
    assert out.size == SHOWN
    assert out.ifd0.get(0x0112) == 1
    assert (out.exif.get(0xA002), out.exif.get(0xA003)) == SHOWN
    assert out.vips_size == SHOWN and out.vips_orientation == 1


def assert_nothing_private(out: ReadBack) -> None:
    for tag in (MAKER_NOTE, SERIAL, OWNER, USER_COMMENT):
        assert tag not in out.exif, hex(tag)
    assert 0xC000 not in out.ifd0
    assert out.ifd1 == {}, "no thumbnail"
    for secret in SECRETS:
        assert secret not in out.bytes, secret


@pytest.mark.parametrize("fmt", EXIF_FORMATS)
def test_keep_is_the_default_and_carries_the_camera_but_never_the_position(
    camera: Path, tmp_path: Path, fmt: str
) -> None:
    dst = tmp_path / f"out.{fmt}"
    enhance(camera, dst, format=fmt)  # no metadata option: "keep"
    out = ReadBack(dst)
    assert_camera_kept(out)
    assert_upright_and_resized(out)
    assert_nothing_private(out)
    assert IFD_GPS not in out.ifd0 and out.gps == {}
    assert out.xmp is None, "XMP may hold a position too: only 'all' carries it"
    assert out.icc == SRGB_ICC


@pytest.mark.parametrize("fmt", EXIF_FORMATS)
def test_all_adds_the_position_and_the_xmp(camera: Path, tmp_path: Path, fmt: str) -> None:
    dst = tmp_path / f"out.{fmt}"
    enhance(camera, dst, format=fmt, metadata="all")
    out = ReadBack(dst)
    assert_camera_kept(out)
    assert_upright_and_resized(out)
    assert_nothing_private(out)
    assert out.gps == GPS
    assert out.xmp == XMP
    assert out.icc == SRGB_ICC


@pytest.mark.parametrize("fmt", EXIF_FORMATS)
def test_none_carries_only_the_profile(camera: Path, tmp_path: Path, fmt: str) -> None:
    dst = tmp_path / f"out.{fmt}"
    enhance(camera, dst, format=fmt, metadata="none")
    out = ReadBack(dst)
    assert out.ifd0 == {} and out.exif == {} and out.gps == {}
    assert out.xmp is None
    assert b"Canon" not in out.bytes
    assert out.icc == SRGB_ICC
    assert out.vips_size == SHOWN


def test_gif_holds_no_metadata(camera: Path, tmp_path: Path) -> None:
    """Nothing is set for GIF (libvips 8.18's GIF saver would drop it too, but that is not ours to lean on)."""
    dst = tmp_path / "out.gif"
    enhance(camera, dst, format="gif", metadata="all")
    out = ReadBack(dst)
    assert out.ifd0 == {} and out.xmp is None
    assert b"Canon" not in out.bytes and b"xmpmeta" not in out.bytes
    assert out.size == SHOWN
    with Raster.create(tmp_path / "r.raw", RasterInfo(8, 8, 3, "uint8")) as raster:
        decoded = Decoded(raster, probe(camera), None, False, False, exif=camera_exif(), xmp=XMP)
        image, keep = with_metadata(pyvips.Image.black(8, 8, bands=3), decoded, "gif", "all")
        assert keep == pyvips.ForeignKeep.ICC
        assert not image.get_typeof("exif-data") and not image.get_typeof("xmp-data")
        everything = pyvips.ForeignKeep.ICC | pyvips.ForeignKeep.EXIF | pyvips.ForeignKeep.XMP
        assert with_metadata(pyvips.Image.black(8, 8, bands=3), decoded, "png", "all")[1] == everything


@pytest.mark.parametrize("container", ["png", "webp", "avif"])
def test_exif_is_read_from_every_format_that_holds_it(camera: Path, tmp_path: Path, container: str) -> None:
    """PNG's eXIf chunk, WebP's EXIF chunk and AVIF's Exif item, as libvips writes them from the camera's
    JPEG (orientation 6 kept, and applied to the pixels of PNG and WebP, or as ``irot`` in AVIF)."""
    src = tmp_path / f"in.{container}"
    pyvips.Image.new_from_file(str(camera)).write_to_file(str(src), keep="exif,icc")
    dst = tmp_path / "out.jpeg"
    enhance(src, dst, format="jpeg")
    out = ReadBack(dst)
    assert_camera_kept(out)
    assert_upright_and_resized(out)
    assert out.gps == {} and b"SERIAL-4242" not in out.bytes


def test_a_heic_keeps_its_exif(tmp_path: Path) -> None:
    """An iPhone-style HEIC (pillow-heif): libheif applies the rotation, the EXIF comes from pillow-heif."""
    pillow_heif.register_heif_opener()
    src = tmp_path / "IMG_0001.HEIC"
    Image.fromarray(photo("astronaut")[:48, :64]).save(src, format="HEIF", quality=90, exif=camera_exif())
    dst = tmp_path / "out.jpeg"
    enhance(src, dst, format="jpeg")
    out = ReadBack(dst)
    assert_camera_kept(out)
    assert_upright_and_resized(out)
    assert out.gps == {} and b"SERIAL-4242" not in out.bytes


@pytest.mark.parametrize(
    "exif",
    [
        pytest.param(b"Exif\x00\x00" + b"SECRET-VALUE" * 20, id="not-tiff"),
        pytest.param(b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"SECRET-VALUE" * 20, id="entries-past-the-end"),
        pytest.param(b"Exif\x00\x00II*\x00\xf0\xff\xff\x00" + b"SECRET-VALUE" * 20, id="ifd-outside"),
        pytest.param(b"Exif\x00\x00II*\x00", id="header-only"),
    ],
)
def test_a_malformed_exif_costs_the_metadata_never_the_job(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, exif: bytes
) -> None:
    src = camera_jpeg(tmp_path / "in.jpg", exif=exif)
    dst = tmp_path / "out.jpeg"
    with caplog.at_level(logging.DEBUG):
        outcome = enhance(src, dst, format="jpeg")
    assert outcome.encoded.bytes == dst.stat().st_size
    out = ReadBack(dst)
    assert out.ifd0 == {} and out.size == (128, 96)
    warnings = [r for r in caplog.records if r.name == "enhanceit.imaging.metadata"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert not any("SECRET" in r.getMessage() or str(src) in r.getMessage() for r in caplog.records)


def test_an_error_no_rule_foresaw_costs_the_metadata_never_the_job(
    camera: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> bytes:
        raise struct.error("SECRET-VALUE")

    monkeypatch.setattr(metadata, "_rebuild", broken)
    dst = tmp_path / "out.jpeg"
    with caplog.at_level(logging.WARNING):
        enhance(camera, dst, format="jpeg")
    assert ReadBack(dst).ifd0 == {}
    assert "unreadable" in caplog.text and "SECRET" not in caplog.text


def test_damage_anywhere_never_raises_and_never_yields_a_broken_block() -> None:
    """Every truncation of a camera's block, and blocks with random bytes overwritten: ``result_exif`` gives
    None or a block Pillow reads without a warning (warnings are errors in this test suite)."""
    good = camera_exif()
    rng = np.random.default_rng(7)
    damaged = [good[:n] for n in range(0, len(good), 3)]
    for _ in range(300):
        changed = bytearray(good)
        for at in rng.integers(6, len(good), size=int(rng.integers(1, 6))):
            changed[at] = int(rng.integers(0, 256))
        damaged.append(bytes(changed))
    carried = 0
    for block in damaged:
        for mode in ("keep", "all"):
            rebuilt = result_exif(block, mode, 96, 128, srgb=True)
            if rebuilt is None:
                continue
            carried += 1
            exif = Image.Exif()
            exif.load(rebuilt)
            assert exif[0x0112] == 1 and exif.get_ifd(IFD_EXIF)[0xA002] == 96
            assert not {MAKER_NOTE, SERIAL, OWNER, USER_COMMENT} & set(exif.get_ifd(IFD_EXIF))
            if mode == "keep":
                assert IFD_GPS not in exif
    assert carried > 100, "most damage leaves the IFDs readable: the block is carried"


def _entry(tiff: bytes | bytearray, ifd: int, tag: int) -> tuple[int, int, int]:
    """(where the entry for ``tag`` is, its count, its value or value offset) in the IFD at ``ifd`` of a
    big-endian TIFF structure (Pillow writes EXIF big-endian)."""
    (count,) = struct.unpack_from(">H", tiff, ifd)
    for at in range(ifd + 2, ifd + 2 + 12 * count, 12):
        found, _, n, value = struct.unpack_from(">HHII", tiff, at)
        if found == tag:
            return at, n, value
    raise KeyError(tag)


@pytest.mark.parametrize("target", ["serial number", "position", "thumbnail"])
def test_an_allowed_tag_cannot_carry_another_tags_bytes(target: str) -> None:
    """A value that overlaps another value or an IFD (a damaged or a crafted offset) is dropped: it could be a
    serial number, a position or a thumbnail under an allowed tag's name. The block's other tags stay."""
    tiff = bytearray(camera_exif().removeprefix(b"Exif\x00\x00"))
    exif_ifd = _entry(tiff, 8, IFD_EXIF)[2]
    if target == "serial number":
        _, size, offset = _entry(tiff, exif_ifd, SERIAL)
    elif target == "position":
        _, n, offset = _entry(tiff, _entry(tiff, 8, IFD_GPS)[2], 2)  # GPSLatitude: 3 rationals
        size = 8 * n
    else:
        (ifd0_entries,) = struct.unpack_from(">H", tiff, 8)
        (ifd1,) = struct.unpack_from(">I", tiff, 8 + 2 + 12 * ifd0_entries)
        offset, size = _entry(tiff, ifd1, 0x0201)[2], _entry(tiff, ifd1, 0x0202)[2]
    lens_model = _entry(tiff, exif_ifd, 0xA434)[0]
    struct.pack_into(">II", tiff, lens_model + 4, size, offset)
    rebuilt = result_exif(b"Exif\x00\x00" + bytes(tiff), "keep", 96, 128, srgb=True)
    assert rebuilt is not None
    exif = Image.Exif()
    exif.load(rebuilt)
    assert 0xA434 not in exif.get_ifd(IFD_EXIF)
    assert exif[0x010F] == "Canon" and exif.get_ifd(IFD_EXIF)[0x9003] == SHOOTING[0x9003]
    assert bytes(tiff[offset : offset + size]) not in rebuilt


@pytest.mark.parametrize("tag", [0x8827, 0x8822, 0xA405])
def test_a_tag_with_more_values_than_the_standard_gives_is_dropped(tag: int) -> None:
    """ISO, the exposure program, the 35 mm focal length are one number each: an entry that says two is
    damaged (its second "value" is padding, or another tag's bytes), so it is dropped and the others stay."""
    tiff = bytearray(camera_exif().removeprefix(b"Exif\x00\x00"))
    at = _entry(tiff, _entry(tiff, 8, IFD_EXIF)[2], tag)[0]
    struct.pack_into(">I", tiff, at + 4, 2)
    rebuilt = result_exif(b"Exif\x00\x00" + bytes(tiff), "keep", 96, 128, srgb=True)
    assert rebuilt is not None
    exif = Image.Exif()
    exif.load(rebuilt)
    assert tag not in exif.get_ifd(IFD_EXIF) and exif.get_ifd(IFD_EXIF)[0x9003] == SHOOTING[0x9003]


def test_an_oversized_exif_is_dropped_unread(caplog: pytest.LogCaptureFixture) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x010E] = "x" * MAX_EXIF_BYTES
    with caplog.at_level(logging.WARNING):
        assert result_exif(exif.tobytes(), "keep", 8, 8, srgb=True) is None
    assert "KiB" in caplog.text and "Canon" not in caplog.text
    small = Image.Exif()
    small[0x010F] = "Canon"
    assert result_exif(small.tobytes(), "keep", 8, 8, srgb=True) is not None


def test_a_block_with_nothing_allowed_is_not_carried() -> None:
    """A block with only a position and an orientation (``keep``) gives no block at all, rather than one
    that only repeats the result's own size."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[IFD_GPS] = {1: "N"}
    assert result_exif(exif.tobytes(), "keep", 8, 8, srgb=True) is None
    assert result_exif(exif.tobytes(), "all", 8, 8, srgb=True) is not None


def test_the_colour_space_says_srgb_only_without_a_profile() -> None:
    block = Image.Exif()
    block[0x010F] = "Canon"
    for srgb, expected in ((True, 1), (False, 0xFFFF)):
        rebuilt = result_exif(block.tobytes(), "keep", 8, 8, srgb=srgb)
        assert rebuilt is not None
        exif = Image.Exif()
        exif.load(rebuilt)
        assert exif.get_ifd(IFD_EXIF)[0xA001] == expected


@pytest.mark.parametrize("fmt", ["jpeg", "avif"])
def test_fields_on_the_saved_image_cannot_bring_tags_back(camera: Path, tmp_path: Path, fmt: OutputFormat) -> None:
    """libvips writes every ``exif-ifd*`` field and the ``orientation`` field of the image it saves into the
    block, adding tags the block lacks (and its AVIF saver makes an ``irot`` box of the orientation). The
    encoder strips them, so an image that carried them (the loaded input, say) still gets only what the
    allow-list kept, upright."""
    loaded = pyvips.Image.new_from_file(str(camera))
    assert loaded.get_typeof("exif-ifd3-GPSLatitudeRef"), "libvips parsed the GPS IFD into fields"
    assert loaded.get("orientation") == 6
    with Raster.create(tmp_path / "r.raw", RasterInfo(64, 48, 3, "uint8")) as raster:
        decoded = Decoded(raster, probe(camera), None, False, False, exif=loaded.get("exif-data"))
        image, keep = with_metadata(loaded, decoded, fmt, "keep")
    dst = tmp_path / f"out.{fmt}"
    save_atomically(image, fmt, dst, None, False, keep)
    out = ReadBack(dst)
    assert out.gps == {} and b"SERIAL-4242" not in out.bytes
    assert out.ifd0.get(0x010F) == "Canon" and out.ifd0.get(0x0112) == 1
    assert out.vips_size == (64, 48) and out.vips_orientation == 1


def test_a_stale_orientation_field_is_not_saved(camera: Path, tmp_path: Path) -> None:
    """XMP without EXIF (a block that could not be carried) on an image that still has the input's
    ``orientation`` field: the AVIF saver would make an ``irot`` box of it and turn the pixels again."""
    loaded = pyvips.Image.new_from_file(str(camera))
    assert loaded.get("orientation") == 6
    with Raster.create(tmp_path / "r.raw", RasterInfo(64, 48, 3, "uint8")) as raster:
        decoded = Decoded(raster, probe(camera), None, False, False, exif=b"Exif\x00\x00not-tiff", xmp=XMP)
        image, keep = with_metadata(loaded, decoded, "avif", "all")
    dst = tmp_path / "out.avif"
    save_atomically(image, "avif", dst, None, False, keep)
    out = ReadBack(dst)
    assert out.xmp == XMP and out.ifd0 == {}
    assert out.vips_size == (64, 48) and b"irot" not in out.bytes


def test_the_test_image_has_what_must_not_leak(camera: Path) -> None:
    """The fixture itself: every secret the other tests look for is in the input, as a reader sees it."""
    with Image.open(camera) as image:
        exif = image.getexif()
        assert exif[0x0112] == 6 and exif.get_ifd(IFD_GPS) == GPS
        assert {MAKER_NOTE, SERIAL, OWNER, USER_COMMENT} <= set(exif.get_ifd(IFD_EXIF))
        assert exif.get_ifd(ExifTags.IFD.IFD1), "a thumbnail"
        assert image.info.get("xmp") == XMP
    data = camera.read_bytes()
    assert all(secret in data for secret in SECRETS)
