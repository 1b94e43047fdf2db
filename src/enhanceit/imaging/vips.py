"""libvips, set up once for untrusted images: only our formats, no operation cache, big decodes to disc.

Import pyvips through this module. It quiets libvips' chatter (below), blocks every libvips loader except
PNG, JPEG, WebP, HEIF/AVIF, TIFF and GIF (no SVG, no vips/matrix/CSV files), turns off the operation cache
(a service sees each image once; the cache would only hold memory), and makes random-access decodes above
16 MB go to a temporary file instead of memory (``VIPS_DISC_THRESHOLD``).

It is also where libvips' errors become ours, once: :func:`reading` turns a ``pyvips.Error`` into
:class:`~enhanceit.errors.UndecodableImage` (422) and :func:`writing` into
:class:`~enhanceit.errors.OutputError` (500) or, for a full disc, :class:`~enhanceit.errors.InsufficientStorage`
(507), each with the one useful line of libvips' message (:func:`error_line`) and never a server path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("VIPS_DISC_THRESHOLD", "16m")

import pyvips

from enhanceit.errors import InsufficientStorage, OutputError, UndecodableImage, disk_full

# libvips reports through GLib's log, which pyvips forwards to this logger: a damaged file gives a warning
# per row ("not enough data"), a finished threadpool an info line. What matters reaches users as our own
# errors and job warnings; the service's log keeps only libvips' errors.
logging.getLogger("pyvips").setLevel(logging.ERROR)

ALLOWED_LOADERS = (
    "VipsForeignLoadPng",
    "VipsForeignLoadJpeg",
    "VipsForeignLoadWebp",
    "VipsForeignLoadHeif",
    "VipsForeignLoadTiff",
    "VipsForeignLoadNsgif",
)

pyvips.cache_set_max(0)
pyvips.operation_block_set("VipsForeignLoad", True)
for _name in ALLOWED_LOADERS:
    pyvips.operation_block_set(_name, False)


def has_field(image: pyvips.Image, name: str) -> bool:
    """Whether ``image`` carries the metadata field ``name``. Asked field by field, never by listing them all:
    a file may name its own fields in bytes that are not UTF-8, and pyvips' ``get_fields`` then raises
    UnicodeDecodeError (an AVIF from ``make fuzz``)."""
    return bool(image.get_typeof(name))


def error_line(error: Exception) -> str:
    """The useful line of a libvips error: libvips stacks a line per operation ("unable to call …") above
    the loader's own reason, which is the last line naming its operation ("pngload: …")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in reversed(lines):
        if ":" in line and not line.startswith("unable to"):
            return line.split(":", 1)[1].strip()[:200]
    return lines[-1][:200] if lines else "decoder error"


@contextmanager
def reading(what: str, why: bool = True) -> Iterator[None]:
    """Run a decode; a libvips error is a 422 saying ``what`` could not be done (``"cannot decode the PNG
    image"``) and, with ``why``, why in libvips' words (without, when ``what`` says it better)."""
    try:
        yield
    except pyvips.Error as e:
        raise UndecodableImage(f"{what}: {error_line(e)}" if why else what) from None


@contextmanager
def writing(label: str) -> Iterator[None]:
    """Run an encode; a libvips error is a 500 (``encoding PNG failed: …``), or a 507 when the disc is full."""
    try:
        yield
    except pyvips.Error as e:
        if disk_full(e):
            raise InsufficientStorage("the disk filled up while the result was written; try again later") from None
        raise OutputError(f"encoding {label} failed: {error_line(e)}") from None


__all__ = ["error_line", "has_field", "pyvips", "reading", "writing"]
