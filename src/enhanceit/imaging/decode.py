"""Decode an image into a raster file the engine reads: oriented, in RGB or grey, 8 or 16 bits.

Steps, each a libvips operation in one streaming pipeline: load (sequentially unless the EXIF orientation
needs random access), apply the orientation, convert CMYK and other colour spaces to sRGB, keep 8/16-bit
samples, fill the colour under transparent pixels, write raw rows to a file. RGB ICC profiles are not
applied: pixels are enhanced as they are and the profile is re-attached to the result, which keeps colours
exactly (a round trip through sRGB would clip wide-gamut colours).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from enhanceit.errors import UndecodableImage
from enhanceit.imaging import bmp
from enhanceit.imaging.alpha import fill_transparent
from enhanceit.imaging.probe import ImageInfo, vips_error_line
from enhanceit.imaging.raster import Raster, RasterInfo, SampleType
from enhanceit.imaging.stream import StreamedRaster
from enhanceit.imaging.vips import pyvips

_RGB = ("srgb", "rgb", "rgb16")
_GREY = ("b-w", "grey16")


@dataclass
class Decoded:
    raster: Raster
    info: ImageInfo
    #: ICC profile to attach to the result (None when the pixels were converted to sRGB).
    icc: bytes | None
    gray: bool
    alpha: bool

    @property
    def sample(self) -> SampleType:
        return self.raster.info.dtype


def _load(path: Path, info: ImageInfo, workdir: Path) -> tuple[pyvips.Image, list[object]]:
    keep: list[object] = []
    if info.format == "bmp":
        raster = bmp.decode_to_raster(path, workdir / "bmp.raw")
        streamed = StreamedRaster(raster)
        keep += [raster, streamed]
        return streamed.image, keep
    access = "sequential" if info.orientation == 1 else "random"
    image = pyvips.Image.new_from_file(str(path), access=access, fail_on="error")
    if info.orientation != 1:
        image = image.autorot()
    return image, keep


def _normalise(image: pyvips.Image, info: ImageInfo) -> tuple[pyvips.Image, bytes | None, bool]:
    """(image in sRGB/grey with 8/16-bit samples and at most one alpha band, profile to keep, is grey)."""
    fields = set(image.get_fields())
    icc = image.get("icc-profile-data") if "icc-profile-data" in fields else None
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


def decode(path: Path, info: ImageInfo, workdir: Path) -> Decoded:
    try:
        image, keep = _load(path, info, workdir)
        image, icc, gray = _normalise(image, info)
        alpha = bool(image.hasalpha())
        if alpha:
            colour = image[: image.bands - 1]
            mask = image[image.bands - 1]
            image = fill_transparent(colour, mask).bandjoin(mask)
        sample: SampleType = "uint16" if image.format == "ushort" else "uint8"
        out = workdir / "input.raw"
        image.rawsave(str(out))
        raster = Raster(out, RasterInfo(image.width, image.height, image.bands, sample))
        del keep
    except pyvips.Error as e:
        raise UndecodableImage(f"cannot decode the {info.format.upper()} image: {vips_error_line(e)}") from None
    return Decoded(raster=raster, info=info, icc=icc, gray=gray, alpha=alpha)
