"""Luma/chroma split and merge exactly as waifu2x-chainer does it, for its ``-y`` models.

waifu2x-chainer converts with Pillow (``convert("YCbCr")`` and back), which uses its own fixed-point
tables; a textbook float formula differs by one level in a few percent of pixels, and one level of Cb
is almost two of blue. So this module calls Pillow itself, on 8-bit data, as the original does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from enhanceit.engine.base import FloatImage

Bytes3 = npt.NDArray[np.uint8]


def split_luma(tile: FloatImage) -> tuple[FloatImage, Bytes3]:
    """(Y as a 1-channel float tile, Cb/Cr as an H x W x 2 uint8 array) of an RGB float tile."""
    from PIL import Image

    rgb = np.rint(np.clip(tile, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    ycc = np.asarray(Image.fromarray(np.ascontiguousarray(rgb), "RGB").convert("YCbCr"))
    y = (ycc[:, :, 0].astype(np.float32) / np.float32(255))[None]
    return np.ascontiguousarray(y), np.ascontiguousarray(ycc[:, :, 1:])


def merge_luma(y: FloatImage, cbcr: Bytes3) -> FloatImage:
    """RGB float tile from a float Y plane (truncated to 8 bits, as waifu2x-chainer does) and 8-bit Cb/Cr."""
    from PIL import Image

    y8 = (np.clip(y, 0, 1) * 255).astype(np.uint8)
    ycc = np.ascontiguousarray(np.concatenate([y8[:, :, None], cbcr], axis=2))
    rgb = np.asarray(Image.fromarray(ycc, "YCbCr").convert("RGB"))
    return np.ascontiguousarray(rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
