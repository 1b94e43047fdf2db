"""A model's own steps around whatever backend runs its net: the one :class:`Network` the tiler calls.

What a :class:`~enhanceit.models.spec.Net` declares is done here, the same for every backend:

* ``color="y"``: waifu2x-chainer's luma models see Y alone; chroma is carried over, enlarged;
* ``pre_upsample``: the input is enlarged (nearest) before a 1x net that then restores it;
* ``post="add-nearest-input"``: the net predicts a residual, added to the enlarged input;
* ``bgr`` and ``value_range``: the net's channel order and white (an added model's), around the net alone;
* the output loses the context it kept (``crop_output``).
"""

from __future__ import annotations

import numpy as np

from enhanceit.engine.base import Backend, FloatImage, crop_output
from enhanceit.models.spec import Net


def nearest(data: FloatImage, factor: int) -> FloatImage:
    """Each pixel repeated ``factor`` times in both directions (channels first)."""
    if factor == 1:
        return data
    return data.repeat(factor, axis=1).repeat(factor, axis=2)


class ModelNetwork:
    def __init__(self, net: Net, backend: Backend) -> None:
        self.net = net
        self.backend = backend
        self.scale = net.scale
        self.pad = net.pad
        self.pad_mode = net.pad_mode
        self.multiple = net.multiple
        self.truncate = net.truncate
        self.threads = backend.threads

    def run(self, tile: FloatImage) -> FloatImage:
        h, w = tile.shape[1] - 2 * self.pad, tile.shape[2] - 2 * self.pad
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"tile {h}x{w} is not a multiple of {self.multiple}")
        if self.net.color == "y":
            return self._run_luma(tile, h, w)
        return self._run(tile, h, w)

    def release(self) -> None:
        self.backend.release()

    def _run(self, tile: FloatImage, h: int, w: int) -> FloatImage:
        data = np.ascontiguousarray(nearest(tile, self.net.pre_upsample), dtype=np.float32)
        result = crop_output(self._infer(data), h, w, self.scale)
        if self.net.post == "add-nearest-input":
            core = tile[:, self.pad : self.pad + h, self.pad : self.pad + w]
            result = result + nearest(core, self.scale)
        return result

    def _infer(self, data: FloatImage) -> FloatImage:
        """The backend's run, in the net's own channel order and range."""
        bgr, white = self.net.bgr, self.net.value_range
        if bgr:
            data = np.ascontiguousarray(data[::-1])
        if white != 1.0:
            data = data * np.float32(white)
        out = self.backend.infer(data)
        if white != 1.0:
            out = out / np.float32(white)
        return np.ascontiguousarray(out[::-1]) if bgr else out

    def _run_luma(self, tile: FloatImage, h: int, w: int) -> FloatImage:
        """waifu2x-chainer's ``-y`` models, step for step: Pillow's 8-bit YCbCr, the net on Y alone, Y
        truncated to 8 bits, the chroma carried over (nearest-neighbour enlarged), Pillow back to RGB."""
        from enhanceit.engine.luma import merge_luma, split_luma

        y, cbcr = split_luma(tile)
        out = self._run(y, h, w)[0]
        core = cbcr[self.pad : self.pad + h, self.pad : self.pad + w]
        return merge_luma(out, core.repeat(self.scale, axis=0).repeat(self.scale, axis=1))
