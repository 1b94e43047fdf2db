"""libvips, set up once for untrusted images: only our formats, no operation cache, big decodes to disc.

Import pyvips through this module. It quiets libvips' chatter (below), blocks every libvips loader except
PNG, JPEG, WebP, HEIF/AVIF, TIFF and GIF (no SVG, no vips/matrix/CSV files), turns off the operation cache
(a service sees each image once; the cache would only hold memory), and makes random-access decodes above
16 MB go to a temporary file instead of memory (``VIPS_DISC_THRESHOLD``).
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("VIPS_DISC_THRESHOLD", "16m")

import pyvips

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


__all__ = ["has_field", "pyvips"]
