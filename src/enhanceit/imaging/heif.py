"""HEVC-coded HEIF (every iPhone photo since 2017), which the libvips build cannot decode: pillow-heif.

pillow-heif's wheels bundle libheif with the libde265 HEVC decoder. It is used for HEVC only; AVIF and other
AV1-coded HEIF stay on libvips. The size, bands and depth come from libvips' header read (it parses HEVC
files, it only cannot decode their pixels), so the limits are checked before anything is decoded here.

What this module guarantees:

* The primary image is taken, with the HEIF transforms (``irot``, ``imir``) applied by libheif, exactly
  once. iPhones also keep an EXIF orientation tag in the file; it describes the same rotation and must not
  be applied again (the probe reports orientation 1 for HEIF).
* The EXIF block and XMP packet are handed on as libvips fields, as libvips' own loaders do (the
  orientation in that EXIF is the one libheif applied: the result's block says 1).
* Colour: an ICC profile is kept and re-attached to the result, as for every format. A file that only has
  an nclx description is converted to sRGB when its primaries are Display P3 (libvips has that profile
  built in); BT.709 primaries are sRGB's already. Other primaries (BT.2020 HDR) are passed through with a
  warning.
* 10- and 12-bit images come out as 16-bit samples (libheif puts the bits at the top; the lowest ones are
  filled by bit replication so that white is 65535) and go through the existing 16-bit path.
* One decoded frame is held (bounded by the pixel limit), never a float copy: libvips reads it from
  memory and the decode pipeline streams it to the raster file as for any other format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enhanceit.errors import UndecodableImage
from enhanceit.imaging.vips import pyvips

#: nclx colour primaries (ITU-T H.273) that need no conversion: BT.709 (= sRGB's) and "unspecified".
_SRGB_PRIMARIES = (1, 2)
_DISPLAY_P3 = 12
#: pillow-heif's modes: (bands, libvips sample format).
_MODES = {
    "RGB": (3, "uchar"),
    "RGBA": (4, "uchar"),
    "RGB;16": (3, "ushort"),
    "RGBA;16": (4, "ushort"),
    "L": (1, "uchar"),
    "L;16": (1, "ushort"),
}


@dataclass
class HeifImage:
    """A decoded primary image as a libvips image over memory that ``keep`` holds alive."""

    image: pyvips.Image
    warnings: list[str] = field(default_factory=list)
    keep: list[object] = field(default_factory=list)


def load(path: Path) -> HeifImage:
    """Decode the primary image of an HEVC-coded HEIF file."""
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=False)
        frame = heif[heif.primary_index]
        mode = frame.mode
        if mode not in _MODES:
            raise UndecodableImage(f"HEIF images in mode {mode} are not supported")
        data = frame.data  # decodes here
    except (ValueError, RuntimeError, OSError, EOFError) as e:  # pillow-heif's errors for broken or cut files
        raise UndecodableImage(f"cannot decode the HEIF image: {str(e).splitlines()[0][:200]}") from None
    width, height = frame.size
    bands, sample = _MODES[mode]
    itemsize = 2 if sample == "ushort" else 1
    row = width * bands * itemsize
    if frame.stride % (bands * itemsize) == 0:
        # libheif pads rows to its stride: read it as a wider image and crop, without copying the frame
        image = pyvips.Image.new_from_memory(data, frame.stride // (bands * itemsize), height, bands, sample)
        image = image.crop(0, 0, width, height) if frame.stride != row else image
    else:
        packed = b"".join(data[y * frame.stride : y * frame.stride + row] for y in range(height))
        data = memoryview(packed)
        image = pyvips.Image.new_from_memory(data, width, height, bands, sample)
    image = image.copy(interpretation=_interpretation(bands, sample))
    if sample == "ushort":
        depth = frame.info.get("bit_depth")
        image = _to_full_range(image, depth if isinstance(depth, int) else 16)
    if frame.premultiplied_alpha and bands == 4:
        image = image.unpremultiply(max_alpha=65535 if sample == "ushort" else 255).cast(sample)
    out = HeifImage(image, keep=[data, frame, heif])
    _colour(out, dict(frame.info))
    _metadata(out, dict(frame.info))
    return out


def _metadata(out: HeifImage, info: dict[str, Any]) -> None:
    """The file's EXIF block and XMP packet as libvips' fields, where the decoder reads every other
    format's (what of them a result carries is :mod:`enhanceit.imaging.metadata`'s to say)."""
    for key, name in (("exif", "exif-data"), ("xmp", "xmp-data")):
        blob = info.get(key)
        if isinstance(blob, bytes) and blob:
            out.image = out.image.copy()
            out.image.set_type(pyvips.GValue.blob_type, name, blob)
    if out.image.get_typeof("orientation"):
        out.image.remove("orientation")  # libvips reads it from the EXIF it is given; libheif applied it


def _interpretation(bands: int, sample: str) -> str:
    if bands == 1:
        return "grey16" if sample == "ushort" else "b-w"
    return "rgb16" if sample == "ushort" else "srgb"


def _to_full_range(image: pyvips.Image, bits: int) -> pyvips.Image:
    """libheif returns a ``bits``-deep sample in the top bits of 16; copy its top bits into the bottom ones."""
    if bits >= 16:
        return image
    return (image | (image >> bits)).cast("ushort")


def _colour(out: HeifImage, info: dict[str, Any]) -> None:
    icc = info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        out.image = out.image.copy()
        out.image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
        return
    nclx = info.get("nclx_profile")
    primaries = nclx.get("color_primaries", 2) if isinstance(nclx, dict) else 2
    if primaries in _SRGB_PRIMARIES:
        return
    if primaries == _DISPLAY_P3 and out.image.bands >= 3:
        depth = "rgb16" if out.image.format == "ushort" else "srgb"
        colour, alpha = (out.image[:3], out.image[3]) if out.image.bands == 4 else (out.image, None)
        converted = colour.icc_transform("srgb", input_profile="p3", depth=16 if depth == "rgb16" else 8)
        converted = converted.copy(interpretation=depth)
        if converted.get_typeof("icc-profile-data") != 0:
            converted.remove("icc-profile-data")  # the result is plain sRGB: no profile to re-attach
        out.image = converted.bandjoin(alpha) if alpha is not None else converted
        return
    out.warnings.append(f"the image's colour primaries (nclx {primaries}) were not converted to sRGB")
