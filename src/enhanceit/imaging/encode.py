"""Encode the engine's result: exact size, alpha and grey restored, profile re-attached, written atomically.

The result raster streams into libvips (see :mod:`enhanceit.imaging.stream`); a Lanczos resize brings it
to the requested size; the input's alpha band is resized on its own with Lanczos and joined back; grey
inputs go back to grey; 16-bit inputs stay 16-bit in PNG. The file is written under a temporary name in
the destination folder and renamed when complete, so a reader never sees half a file.

The ICC profile is always carried; the input's EXIF and XMP as the ``metadata`` mode allows, rebuilt by
:mod:`enhanceit.imaging.metadata`, in the formats that hold them (JPEG, PNG, WebP, AVIF; not GIF).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from enhanceit.imaging.decode import Decoded
from enhanceit.imaging.formats import FORMATS, OutputFormat
from enhanceit.imaging.metadata import Mode, result_exif, result_xmp
from enhanceit.imaging.raster import Raster
from enhanceit.imaging.stream import StreamedRaster
from enhanceit.imaging.vips import pyvips, writing


@dataclass(frozen=True)
class Encoded:
    path: Path
    format: OutputFormat
    width: int
    height: int
    bytes: int
    #: Frames written: more than one for an animation.
    frames: int = 1


def resize_to(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Lanczos-3 resize to exactly ``width`` x ``height``."""
    if (image.width, image.height) == (width, height):
        return image
    out = image.resize(width / image.width, vscale=height / image.height, kernel="lanczos3")
    if (out.width, out.height) != (width, height):  # float rounding: at most one pixel off
        out = out.embed(0, 0, max(width, out.width), max(height, out.height), extend="copy")
        out = out.crop(0, 0, width, height)
    return out


def _compose(
    result: pyvips.Image,
    decoded: Decoded,
    alpha: pyvips.Image | None,
    fmt: OutputFormat,
    width: int,
    height: int,
) -> pyvips.Image:
    image = resize_to(result, width, height)
    sixteen = decoded.sample == "uint16" and FORMATS[fmt].sixteen_bit
    if decoded.gray:
        image = image.colourspace("grey16" if decoded.sample == "uint16" else "b-w")
    if alpha is not None:
        image = image.bandjoin(resize_to(alpha, width, height))
    if decoded.sample == "uint16" and not sixteen:
        image = image.colourspace("b-w" if decoded.gray else "srgb")  # to 8 bits
    if alpha is not None and not FORMATS[fmt].alpha:
        image = image.flatten(background=[255] * (image.bands - 1))
    if decoded.icc is not None:
        image = image.copy()
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", decoded.icc)
    return image


def encode(
    result: Raster,
    decoded: Decoded,
    width: int,
    height: int,
    fmt: OutputFormat,
    destination: Path,
    quality: int | None = None,
    *,
    metadata: Mode = "none",
    alpha: Raster | None = None,
) -> Encoded:
    """Write ``result`` (RGB, enhanced) to ``destination`` as ``fmt``; atomically, or not at all. The input's
    EXIF and XMP go with it as ``metadata`` says (``keep``, ``all``, ``none``: see
    :mod:`enhanceit.imaging.metadata`)."""
    with composed(result, decoded, fmt, width, height, alpha) as image:
        image, keep = with_metadata(image, decoded, fmt, metadata)
        sixteen = decoded.sample == "uint16" and FORMATS[fmt].sixteen_bit
        size = save_atomically(image, fmt, destination, quality, sixteen, keep)
    return Encoded(destination, fmt, width, height, size)


def with_metadata(image: pyvips.Image, decoded: Decoded, fmt: OutputFormat, mode: Mode) -> tuple[pyvips.Image, int]:
    """``image`` with the EXIF block and XMP packet that ``mode`` carries from the input, and the libvips
    ``keep`` flags that save them (and the ICC profile; nothing else)."""
    keep = int(pyvips.ForeignKeep.ICC)
    if not FORMATS[fmt].holds_metadata:
        return image, keep
    exif = result_exif(decoded.exif, mode, image.width, image.height, srgb=decoded.icc is None)
    xmp = result_xmp(decoded.xmp, mode)
    if exif is None and xmp is None:
        return image, keep
    image = image.copy()
    if not _without_stale_fields(image):
        return image, keep
    if exif is not None:
        image.set_type(pyvips.GValue.blob_type, "exif-data", exif)
        keep |= int(pyvips.ForeignKeep.EXIF)
    if xmp is not None:
        image.set_type(pyvips.GValue.blob_type, "xmp-data", xmp)
        keep |= int(pyvips.ForeignKeep.XMP)
    return image, keep


def _without_stale_fields(image: pyvips.Image) -> bool:
    """Remove every ``exif-ifd*`` field and the ``orientation`` field from ``image``. When libvips saves EXIF
    it writes each ``exif-ifd*`` field into the block, adding the tags the block lacks (a GPS position the
    allow-list left out, say); setting ``exif-data`` re-reads the orientation from the block, but with XMP
    alone a stale ``orientation`` would be saved, and the AVIF saver makes an ``irot`` box of it that turns
    the upright pixels again. A result streamed from a raster file has none of these fields; this keeps
    that true whatever composes it. False when the fields cannot be listed (a name that is not UTF-8):
    then nothing more is set."""
    try:
        names = image.get_fields()
    except UnicodeDecodeError:
        return False
    for name in names:
        if name.startswith("exif-") or name == "orientation":
            image.remove(name)
    return True


@contextlib.contextmanager
def composed(
    result: Raster, decoded: Decoded, fmt: OutputFormat, width: int, height: int, alpha: Raster | None = None
) -> Iterator[pyvips.Image]:
    """``result`` streamed into libvips and composed for ``fmt``: exact size, alpha, grey, profile. The
    streams it reads stay alive until the block ends. ``alpha``: the input's alpha channel enlarged by the
    network (its first band), resized from there; else the input's own, resized with Lanczos."""
    colour = None
    if result is decoded.raster and decoded.alpha:  # no pass ran: the decoded frame, whose alpha joins below
        colour = slice(0, decoded.raster.info.bands - 1)
    streams = [StreamedRaster(result, bands=colour)]
    if decoded.alpha:
        if alpha is not None:
            streams.append(StreamedRaster(alpha, bands=slice(0, 1)))
        else:
            streams.append(StreamedRaster(decoded.raster, bands=slice(decoded.raster.info.bands - 1, None)))
    alpha_image = streams[1].image if decoded.alpha else None
    try:
        with writing(fmt.upper()):
            yield _compose(streams[0].image, decoded, alpha_image, fmt, width, height)
    finally:
        del streams


def save_atomically(
    image: pyvips.Image,
    fmt: OutputFormat,
    destination: Path,
    quality: int | None,
    sixteen: bool = False,
    keep: int = pyvips.ForeignKeep.ICC,
) -> int:
    """Write ``image`` to ``destination`` as ``fmt`` under a temporary name, renamed when complete; its size.
    ``keep``: the libvips metadata flags saved (the ICC profile; EXIF and XMP when they were set for it)."""
    tmp = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        saver = FORMATS[fmt].saver
        assert saver is not None  # every OutputFormat has one
        with writing(fmt.upper()):
            saver(image, tmp, quality, sixteen, keep)
        size = tmp.stat().st_size
        os.replace(tmp, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return size
