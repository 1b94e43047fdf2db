"""Networks run by ncnn: CPU by default (fp32, Winograd), Vulkan when a GPU is asked for and present.

One ``ncnn.Net`` is loaded per model file and shared by every call and thread; each call makes its own
extractor. The thread count is the net's, fixed when it is loaded: ncnn lays out the Winograd and GEMM
weights for that count, and an extractor asking for another one still runs those layers with it. ncnn
reads the input through a pointer to the numpy buffer, so the array given to ``ncnn.Mat`` is kept
contiguous and referenced until the extraction is done (a temporary gives garbage).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from enhanceit.engine.base import FloatImage, crop_output
from enhanceit.errors import EnhanceItError, ModelIntegrityError
from enhanceit.models.spec import Net

# ncnn's wheel uses GNU OpenMP, whose threads spin at every layer's barrier. When cores are shared (a busy
# machine, a container on a node with neighbours) a spinning thread burns the time slice its partner needs:
# measured here with the other core busy, CUnet tiles on a two-thread extractor took 6.9 s where one thread
# took 0.8 s; with passive waiting 1.2 s. Set before ncnn (and its libgomp) is first loaded; an operator's
# own OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_gpu_lock = threading.Lock()
_gpu_count: int | None = None


def gpu_count() -> int:
    """Vulkan devices ncnn can use. Probing prints loader noise on machines without Vulkan: hide it."""
    global _gpu_count
    with _gpu_lock:
        if _gpu_count is None:
            import ncnn

            saved = os.dup(2)
            try:
                with open(os.devnull, "w") as devnull:
                    os.dup2(devnull.fileno(), 2)
                    _gpu_count = int(ncnn.get_gpu_count())
            finally:
                os.dup2(saved, 2)
                os.close(saved)
        return _gpu_count


class NcnnNetwork:
    def __init__(self, net: Net, param: Path, weights: Path, threads: int, gpu: int | None = None) -> None:
        import ncnn

        self.spec = net
        self.scale = net.scale
        self.pad = net.pad
        self.pad_mode = net.pad_mode
        self.multiple = net.multiple
        self.truncate = net.truncate
        self._net = ncnn.Net()
        self.threads = max(1, threads)
        opt = self._net.opt
        opt.num_threads = max(1, threads)
        opt.lightmode = True  # free intermediate blobs as soon as they are consumed
        if gpu is not None:
            if gpu >= gpu_count():
                raise EnhanceItError(f"GPU {gpu} was requested but ncnn sees {gpu_count()} Vulkan device(s)")
            opt.use_vulkan_compute = True
            self._net.set_vulkan_device(gpu)
        else:
            # Measured on AVX-512: fp16/bf16 storage gives no speed and costs precision; fp32 it is.
            opt.use_vulkan_compute = False
            opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
            opt.use_bf16_storage = False
        if self._net.load_param(str(param)) != 0:
            raise ModelIntegrityError(f"ncnn could not parse {param}")
        if self._net.load_model(str(weights)) != 0:
            raise ModelIntegrityError(f"ncnn could not load {weights}")

    def run(self, tile: FloatImage) -> FloatImage:
        if self.spec.color == "y":
            return self._run_luma(tile)
        return self._run(tile)

    def _run(self, tile: FloatImage) -> FloatImage:
        import ncnn

        net = self.spec
        data = tile
        if net.pre_upsample > 1:
            data = data.repeat(net.pre_upsample, axis=1).repeat(net.pre_upsample, axis=2)
        data = np.ascontiguousarray(data, dtype=np.float32)
        mat = ncnn.Mat(data)
        ex = self._net.create_extractor()
        try:
            if ex.input(net.input_blob, mat) != 0:
                raise EnhanceItError(f"ncnn refused input blob {net.input_blob!r}")
            ret, out = ex.extract(net.output_blob)
            if ret != 0:
                raise EnhanceItError(f"ncnn failed to extract {net.output_blob!r} (code {ret})")
            result = np.array(out, dtype=np.float32, copy=True)
        finally:
            ex.clear()
            del mat, data
        h, w = tile.shape[1] - 2 * self.pad, tile.shape[2] - 2 * self.pad
        result = crop_output(result, h, w, self.scale)
        if net.post == "add-nearest-input":
            core = tile[:, self.pad : self.pad + h, self.pad : self.pad + w]
            result = result + core.repeat(self.scale, axis=1).repeat(self.scale, axis=2)
        return result

    def _run_luma(self, tile: FloatImage) -> FloatImage:
        """waifu2x-chainer's ``-y`` models, step for step: Pillow's 8-bit YCbCr, the net on Y alone, Y
        truncated to 8 bits, the chroma carried over (nearest-neighbour enlarged), Pillow back to RGB."""
        from enhanceit.engine.luma import merge_luma, split_luma

        y, cbcr = split_luma(tile)
        out = self._run(y)[0]
        h, w = tile.shape[1] - 2 * self.pad, tile.shape[2] - 2 * self.pad
        core = cbcr[self.pad : self.pad + h, self.pad : self.pad + w]
        return merge_luma(out, core.repeat(self.scale, axis=0).repeat(self.scale, axis=1))
