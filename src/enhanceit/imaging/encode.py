"""Encode the engine's result: exact size, alpha and grey restored, profile re-attached, written atomically.

The result raster streams into libvips (see :mod:`enhanceit.imaging.stream`); a Lanczos resize brings it
to the requested size; the input's alpha band is resized on its own with Lanczos and joined back; grey
inputs go back to grey; 16-bit inputs stay 16-bit in PNG. The file is written under a temporary name in
the destination folder and renamed when complete, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from enhanceit.errors import InsufficientStorage, OutputError, disk_full
from enhanceit.imaging.decode import Decoded
from enhanceit.imaging.formats import FORMATS, OutputFormat
from enhanceit.imaging.raster import Raster
from enhanceit.imaging.stream import StreamedRaster
from enhanceit.imaging.vips import pyvips


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
    sixteen = decoded.sample == "uint16" and fmt == "png"
    if decoded.gray:
        image = image.colourspace("grey16" if decoded.sample == "uint16" else "b-w")
    if alpha is not None:
        image = image.bandjoin(resize_to(alpha, width, height))
    if decoded.sample == "uint16" and not sixteen:
        image = image.colourspace("b-w" if decoded.gray else "srgb")  # to 8 bits
    if fmt == "jpeg" and alpha is not None:
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
) -> Encoded:
    """Write ``result`` (RGB, enhanced) to ``destination`` as ``fmt``; atomically, or not at all."""
    with composed(result, decoded, fmt, width, height) as image:
        size = save_atomically(image, fmt, destination, quality, decoded.sample == "uint16" and fmt == "png")
    return Encoded(destination, fmt, width, height, size)


@contextlib.contextmanager
def composed(result: Raster, decoded: Decoded, fmt: OutputFormat, width: int, height: int) -> Iterator[pyvips.Image]:
    """``result`` streamed into libvips and composed for ``fmt``: exact size, alpha, grey, profile. The
    streams it reads stay alive until the block ends."""
    colour = None
    if result is decoded.raster and decoded.alpha:  # no pass ran: the decoded frame, whose alpha joins below
        colour = slice(0, decoded.raster.info.bands - 1)
    streams = [StreamedRaster(result, bands=colour)]
    alpha = None
    if decoded.alpha:
        streams.append(StreamedRaster(decoded.raster, bands=slice(decoded.raster.info.bands - 1, None)))
        alpha = streams[-1].image
    try:
        yield _compose(streams[0].image, decoded, alpha, fmt, width, height)
    except pyvips.Error as e:
        raise OutputError(f"encoding {fmt.upper()} failed: {str(e).splitlines()[0][:200]}") from None
    finally:
        del streams


def save_atomically(
    image: pyvips.Image, fmt: OutputFormat, destination: Path, quality: int | None, sixteen: bool = False
) -> int:
    """Write ``image`` to ``destination`` as ``fmt`` under a temporary name, renamed when complete; its size."""
    tmp = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        saver = FORMATS[fmt].saver
        assert saver is not None  # every OutputFormat has one
        saver(image, tmp, quality, sixteen, pyvips.ForeignKeep.ICC)
        size = tmp.stat().st_size
        os.replace(tmp, destination)
    except pyvips.Error as e:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if disk_full(e):
            raise InsufficientStorage("the disk filled up while the result was written; try again later") from None
        raise OutputError(f"encoding {fmt.upper()} failed: {str(e).splitlines()[0][:200]}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return size
