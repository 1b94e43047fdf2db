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
from typing import Any

import numpy as np

from enhanceit.engine.base import FloatImage
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


_local = threading.local()


def _pools_for(backend: object) -> tuple[Any, Any]:
    """This thread's memory pools for feature maps, emptied when the thread moves to another net.

    ncnn's default pools belong to each net and keep every block they ever handed out until the net is
    dropped: measured, four CUnet variants each run once on a 256x256 image held 1151 MB, where the same with
    these pools holds 156 MB. Here each thread keeps one working set, of the net it ran last (what the
    memory budget counts for each tile in flight), and the same net's next tile reuses it.
    """
    import ncnn

    if getattr(_local, "owner", None) != id(backend):
        if getattr(_local, "blobs", None) is None:
            _local.blobs, _local.workspace = ncnn.UnlockedPoolAllocator(), ncnn.UnlockedPoolAllocator()
        else:
            _local.blobs.clear()
            _local.workspace.clear()
        _local.owner = id(backend)
    return _local.blobs, _local.workspace


class NcnnBackend:
    """One ncnn net: its input and output blobs, nothing model-specific (see :mod:`enhanceit.engine.model`)."""

    def __init__(self, net: Net, param: Path, weights: Path, threads: int, gpu: int | None = None) -> None:
        import ncnn

        self.input_blob, self.output_blob = net.input_blob, net.output_blob
        self._net = ncnn.Net()
        self.threads = max(1, threads)
        opt = self._net.opt
        opt.num_threads = self.threads
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

    def infer(self, data: FloatImage) -> FloatImage:
        import ncnn

        data = np.ascontiguousarray(data, dtype=np.float32)  # ncnn reads through a pointer: keep it alive
        mat = ncnn.Mat(data)
        ex = self._net.create_extractor()
        blobs, workspace = _pools_for(self)
        ex.set_blob_allocator(blobs)
        ex.set_workspace_allocator(workspace)
        try:
            if ex.input(self.input_blob, mat) != 0:
                raise EnhanceItError(f"ncnn refused input blob {self.input_blob!r}")
            ret, out = ex.extract(self.output_blob)
            if ret != 0:
                raise EnhanceItError(f"ncnn failed to extract {self.output_blob!r} (code {ret})")
            return np.array(out, dtype=np.float32, copy=True)
        finally:
            ex.clear()
            del mat, data
