"""Shared test helpers: real photos, images written with libvips, and image comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import skimage.data

from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.imaging.vips import pyvips

Array = npt.NDArray[np.generic]


def photo(name: str = "astronaut", size: int | None = None) -> npt.NDArray[np.uint8]:
    """A real photograph from scikit-image's bundled data, optionally cropped to a square."""
    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=2)
    if size is not None:
        img = img[:size, :size]
    return np.ascontiguousarray(img[:, :, :3] if img.shape[2] > 3 else img)


def to_vips(pixels: Array) -> pyvips.Image:
    arr = np.ascontiguousarray(pixels)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    fmt = {np.dtype(np.uint8): "uchar", np.dtype(np.uint16): "ushort"}[arr.dtype]
    image = pyvips.Image.new_from_memory(arr.tobytes(), arr.shape[1], arr.shape[0], arr.shape[2], fmt)
    bands = arr.shape[2]
    if arr.dtype == np.uint16:
        interpretation = "grey16" if bands <= 2 else "rgb16"
    else:
        interpretation = "b-w" if bands <= 2 else "srgb"
    return image.copy(interpretation=interpretation)


def from_vips(image: pyvips.Image) -> Array:
    dtype = {"uchar": np.uint8, "ushort": np.uint16}[str(image.format)]
    return np.ndarray(buffer=image.write_to_memory(), dtype=dtype, shape=(image.height, image.width, image.bands))


def save(pixels: Array, path: Path, **options: object) -> Path:
    to_vips(pixels).write_to_file(str(path), **options)
    return path


def load(path: Path) -> Array:
    return from_vips(pyvips.Image.new_from_file(str(path)))


def raster_of(pixels: Array, path: Path) -> Raster:
    arr = pixels if pixels.ndim == 3 else pixels[:, :, None]
    dtype = "uint8" if arr.dtype == np.uint8 else "uint16"
    raster = Raster.create(path, RasterInfo(arr.shape[1], arr.shape[0], arr.shape[2], dtype))
    raster.write_rows(0, arr)
    return raster


def psnr(a: Array, b: Array, peak: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def box_down(img: npt.NDArray[np.uint8], factor: int) -> npt.NDArray[np.uint8]:
    """Each ``factor`` x ``factor`` block averaged: the downscaling the quality tables are measured on."""
    h, w = img.shape[0] // factor * factor, img.shape[1] // factor * factor
    small = img[:h, :w].reshape(h // factor, factor, w // factor, factor, -1).mean(axis=(1, 3))
    return np.rint(small).astype(np.uint8)


def box_down2(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return box_down(img, 2)


def bicubic_of(path: Path, factor: float) -> Array:
    return from_vips(pyvips.Image.new_from_file(str(path)).resize(factor, kernel="cubic"))
