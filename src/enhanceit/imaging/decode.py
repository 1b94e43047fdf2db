"""Decode an image into a raster file the engine reads: oriented, in RGB or grey, 8 or 16 bits.

Steps, each a libvips operation in one streaming pipeline: load (sequentially unless the EXIF orientation
needs random access), apply the orientation, convert CMYK and other colour spaces to sRGB, keep 8/16-bit
samples, fill the colour under transparent pixels, write raw rows to a file. RGB ICC profiles are not
applied: pixels are enhanced as they are and the profile is re-attached to the result, which keeps colours
exactly (a round trip through sRGB would clip wide-gamut colours). HEVC-coded HEIF, which libvips cannot
decode, is loaded by :mod:`enhanceit.imaging.heif` and then goes through the same steps.

Damaged files are shown the way browsers show them. A decode first runs strictly (libvips ``fail_on=error``).
If that fails and the file is a JPEG or PNG that lacks its end marker (EOI, IEND) — cut short, typically by
a broken download — it is decoded again leniently (libvips fills the rows that are missing) and the result
carries a warning, unless the request is ``strict``. A file with its end marker in place is corrupt, not
cut short, and is refused as before. (libvips' own ``fail_on=truncated`` cannot tell them apart: it
classes every PNG read error as truncation.) Intact files are decoded once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from enhanceit.errors import UndecodableImage
from enhanceit.imaging.alpha import fill_transparent
from enhanceit.imaging.info import ImageInfo
from enhanceit.imaging.raster import Raster, RasterInfo, SampleType
from enhanceit.imaging.readers import reader
from enhanceit.imaging.vips import has_field, pyvips, reading

_RGB = ("srgb", "rgb", "rgb16")
_GREY = ("b-w", "grey16")
TRUNCATED = "the image data ended early; missing rows were filled"
TRUNCATED_FRAMES = "the animation's data ended early; the frames that arrived whole were kept"


@dataclass
class Decoded:
    raster: Raster
    info: ImageInfo
    #: ICC profile to attach to the result (None when the pixels were converted to sRGB).
    icc: bytes | None
    gray: bool
    alpha: bool
    #: Things the user should know about the result (a damaged input, say), in plain words.
    warnings: list[str] = field(default_factory=list)
    #: The input's EXIF block and XMP packet as its file holds them (None: it has none, or it is an
    #: animation's frame). What of them a result carries is decided when it is encoded, as the request's
    #: ``metadata`` option says (:mod:`enhanceit.imaging.metadata`).
    exif: bytes | None = None
    xmp: bytes | None = None

    @property
    def sample(self) -> SampleType:
        return self.raster.info.dtype


def _normalise(image: pyvips.Image, info: ImageInfo) -> tuple[pyvips.Image, bytes | None, bool]:
    """(image in sRGB/grey with 8/16-bit samples and at most one alpha band, profile to keep, is grey)."""
    icc = image.get("icc-profile-data") if has_field(image, "icc-profile-data") else None
    interpretation = str(image.interpretation)
    alpha = bool(image.hasalpha())
    colour_bands = image.bands - (1 if alpha else 0)
    if interpretation == "multiband" and colour_bands in (1, 3):
        interpretation = "b-w" if colour_bands == 1 else "srgb"
        image = image.copy(interpretation=interpretation)
    sixteen = info.sixteen_bit or image.format not in ("uchar", "char")
    if interpretation not in _RGB + _GREY or image.format not in ("uchar", "ushort"):
        grey = interpretation in _GREY
        target = ("grey16" if grey else "rgb16") if sixteen else ("b-w" if grey else "srgb")
        image = image.colourspace(target)
        icc = None
        interpretation = target
    gray = interpretation in _GREY
    colour = 1 if gray else 3
    if image.bands > colour + (1 if alpha else 0):
        image = image[:colour].bandjoin(image[image.bands - 1]) if alpha else image[:colour]
    if gray and icc is not None and b"GRAY" not in icc[12:20]:
        icc = None  # an RGB profile on grey pixels would be wrong on the (grey) result
    return image, icc, gray


def to_raster(image: pyvips.Image, info: ImageInfo, out: Path) -> Decoded:
    """Normalise a loaded image (colour, depth, bands), fill the colour under transparent pixels and write
    it to the raster file ``out``: the steps every decoded image, and every frame of an animation, takes."""
    image, icc, gray = _normalise(image, info)
    alpha = bool(image.hasalpha())
    if alpha:
        colour = image[: image.bands - 1]
        mask = image[image.bands - 1]
        image = fill_transparent(colour, mask).bandjoin(mask)
    sample: SampleType = "uint16" if image.format == "ushort" else "uint8"
    image.rawsave(str(out))
    raster = Raster(out, RasterInfo(image.width, image.height, image.bands, sample))
    return Decoded(raster=raster, info=info, icc=icc, gray=gray, alpha=alpha)


def _decode(path: Path, info: ImageInfo, workdir: Path, fail_on: str) -> Decoded:
    loaded = reader(info.format).load(path, info, workdir, fail_on)
    decoded = to_raster(loaded.image, info, workdir / "input.raw")
    decoded.warnings += loaded.warnings
    decoded.exif, decoded.xmp = _blob(loaded.image, "exif-data"), _blob(loaded.image, "xmp-data")
    return decoded


def _blob(image: pyvips.Image, name: str) -> bytes | None:
    """A metadata blob as the loader read it from the file (libvips' loaders for JPEG, PNG, WebP and AVIF;
    :mod:`enhanceit.imaging.heif` for HEIC), or None. Its size is bounded where it is used."""
    if not has_field(image, name):
        return None
    value = image.get(name)
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


def cut_short(path: Path, fmt: str) -> bool:
    """Whether the file stops before its end marker (formats whose end cannot be told: never said)."""
    return reader(fmt).cut_short(path)


def decode(path: Path, info: ImageInfo, workdir: Path, *, strict: bool = False) -> Decoded:
    """Decode ``path`` into ``workdir/input.raw``. A cut-short file is decoded with a warning, or refused
    when ``strict``; any other decoder error is refused (422)."""
    name = info.format.upper()
    try:
        with reading(f"cannot decode the {name} image"):
            return _decode(path, info, workdir, "error")
    except UndecodableImage:
        if not cut_short(path, info.format):
            raise
    if strict:
        raise UndecodableImage(f"the {name} image data ends early (refused: strict)")
    # e.g. an interlaced PNG, which libvips decodes whole or not at all
    with reading(f"the {name} image data ends early, and what arrived cannot be shown", why=False):
        decoded = _decode(path, info, workdir, "none")
    decoded.warnings.append(TRUNCATED)
    return decoded
