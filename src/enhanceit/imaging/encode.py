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
from dataclasses import dataclass
from pathlib import Path

from enhanceit.errors import OutputError
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
    tmp = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.part")
    streams = [StreamedRaster(result)]
    alpha = None
    if decoded.alpha:
        streams.append(StreamedRaster(decoded.raster, bands=slice(decoded.raster.info.bands - 1, None)))
        alpha = streams[-1].image
    try:
        image = _compose(streams[0].image, decoded, alpha, fmt, width, height)
        saver = FORMATS[fmt].saver
        assert saver is not None  # every OutputFormat has one
        saver(image, tmp, quality, decoded.sample == "uint16" and fmt == "png", pyvips.ForeignKeep.ICC)
        size = tmp.stat().st_size
        os.replace(tmp, destination)
    except pyvips.Error as e:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise OutputError(f"encoding {fmt.upper()} failed: {str(e).splitlines()[0][:200]}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        del streams
    return Encoded(destination, fmt, width, height, size)
