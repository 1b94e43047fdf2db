"""Process-wide allocator settings that keep peak memory flat; called by every entry point.

glibc raises its mmap threshold each time a large block is freed, after which big numpy buffers (strips,
tiles) come from the heap and their memory stays with the process when freed. Pinning the threshold at
128 KiB keeps every large buffer in its own mapping, returned to the system as soon as it is freed.
Measured (``make bench``): peak RSS of a 3840x2160 2x upscale 177 -> 151 MB, growth from 0.9 to 8.3 MP
input 14% -> 9%.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024
_done = False


def tune_allocator() -> bool:
    """Pin glibc's mmap threshold; returns whether it was applied (False on other C libraries)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return _done
