"""Raw pixel files: how images travel between libvips and the engine without living in memory.

A :class:`Raster` is a headerless file of interleaved pixels (rows of ``width x bands`` samples, uint8 or
uint16, native byte order). Rows are read and written with ``pread``/``pwrite``, never memory-mapped, so a
large image costs disk and page cache, not resident memory: the process only ever holds the rows it is
working on. Decoding writes one, each model pass reads one and writes the next, encoding streams the last.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

SampleType = Literal["uint8", "uint16"]


@dataclass(frozen=True)
class RasterInfo:
    width: int
    height: int
    bands: int
    dtype: SampleType

    @property
    def itemsize(self) -> int:
        return 1 if self.dtype == "uint8" else 2

    @property
    def row_bytes(self) -> int:
        return self.width * self.bands * self.itemsize

    @property
    def nbytes(self) -> int:
        return self.row_bytes * self.height

    @property
    def max_value(self) -> int:
        return 255 if self.dtype == "uint8" else 65535


class Raster:
    """An open raw pixel file. Use as a context manager; ``create`` makes a new one of the full size."""

    def __init__(self, path: Path, info: RasterInfo, *, writable: bool = False) -> None:
        self.path = Path(path)
        self.info = info
        flags = os.O_RDWR if writable else os.O_RDONLY
        self._fd = os.open(self.path, flags)
        size = os.fstat(self._fd).st_size
        if size != info.nbytes:
            os.close(self._fd)
            raise ValueError(f"{path}: {size} bytes, expected {info.nbytes} for {info}")

    @classmethod
    def create(cls, path: Path, info: RasterInfo) -> Raster:
        with open(path, "wb") as f:
            f.truncate(info.nbytes)
        return cls(path, info, writable=True)

    def read_rows(self, y0: int, y1: int) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
        """Rows ``y0 <= y < y1`` as an array of shape (rows, width, bands)."""
        info = self.info
        if not 0 <= y0 <= y1 <= info.height:
            raise IndexError(f"rows {y0}:{y1} outside 0:{info.height}")
        out = np.empty((y1 - y0, info.width, info.bands), dtype=info.dtype)
        view = out.data.cast("B")
        offset, done = y0 * info.row_bytes, 0
        while done < len(view):
            n = os.preadv(self._fd, [view[done:]], offset + done)
            if n == 0:
                raise OSError(f"{self.path}: unexpected end of file")
            done += n
        return out

    def write_rows(self, y0: int, rows: npt.NDArray[np.generic]) -> None:
        info = self.info
        if rows.shape[1:] != (info.width, info.bands) or rows.dtype != np.dtype(info.dtype):
            raise ValueError(f"rows of shape {rows.shape} {rows.dtype} do not fit {info}")
        if y0 < 0 or y0 + rows.shape[0] > info.height:
            raise IndexError(f"rows {y0}:{y0 + rows.shape[0]} outside 0:{info.height}")
        view = np.ascontiguousarray(rows).data.cast("B")
        offset, done = y0 * info.row_bytes, 0
        while done < len(view):
            done += os.pwritev(self._fd, [view[done:]], offset + done)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Raster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
