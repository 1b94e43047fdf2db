"""Networks run by ncnn: CPU by default (fp32, Winograd), Vulkan when a GPU is asked for and present.

One ``ncnn.Net`` is loaded per model file and shared by every call and thread; each call makes its own
extractor. The thread count is the net's, fixed when it is loaded: ncnn lays out the Winograd and GEMM
weights for that count, and an extractor asking for another one still runs those layers with it. ncnn
reads the input through a pointer to the numpy buffer, so the array given to ``ncnn.Mat`` is kept
contiguous and referenced until the extraction is done (a temporary gives garbage).

Feature maps come from the backend's own pools, one pair per extraction running at once, reused by the
next tile and freed by :meth:`NcnnBackend.release` when a pass ends. ncnn's default pools belong to the net
and keep every block until the net is dropped, so a server that had run several models held a working set
for each: four CUnet variants each run once at tile 128 held 1151 MB, against 156 MB with pools that are
let go. Pools kept by each thread (this engine's first fix) still held, in every thread, the working set
of the last net it had run: a server running every model in turn peaked at 800 MB.

ncnn reports most failures by return codes, checked where they are returned, and a few by exceptions
(pybind11's), translated at :func:`~enhanceit.engine.boundary.runtime_errors`: either way the caller gets an
:class:`~enhanceit.errors.EngineError`. Messages name files, never their folders (they reach clients).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from enhanceit.allocator import wait_passively
from enhanceit.engine.base import FloatImage
from enhanceit.engine.boundary import runtime_errors
from enhanceit.errors import EngineLoadError, EngineOutOfMemory, InferenceError
from enhanceit.models.spec import Net

# Why, and where entry points do it first: enhanceit.allocator. Here for code that uses the engine directly.
wait_passively()

#: What ncnn's Python binding raises: pybind11 turns its C++ exceptions into RuntimeError, and numpy refuses
#: a Mat of impossible shape with ValueError (an input smaller than a kernel: ncnn returns success and a
#: Mat of -1x-1, measured).
FOREIGN: tuple[type[Exception], ...] = (RuntimeError, ValueError)
#: ncnn's code for a blob it could not allocate. On a CPU also a blob of size 0 (an input smaller than a
#: kernel, measured): only on a Vulkan GPU is it taken for the memory running out (see EngineOutOfMemory).
OUT_OF_MEMORY = -100

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


class NcnnBackend:
    """One ncnn net: its input and output blobs, nothing model-specific (see :mod:`enhanceit.engine.model`)."""

    def __init__(self, net: Net, param: Path, weights: Path, threads: int, gpu: int | None = None) -> None:
        self.input_blob, self.output_blob = net.input_blob, net.output_blob
        self._lock = threading.Lock()
        #: (blob, workspace) pool pairs, each free for the next extraction.
        self._idle: list[tuple[Any, Any]] = []
        self.threads = max(1, threads)
        self.name = "ncnn" if gpu is None else "ncnn-vulkan"
        self.precision = "f32"
        with runtime_errors("ncnn", f"load {param.name}", EngineLoadError, FOREIGN):
            self._net = self._load(param, weights, gpu)

    def _load(self, param: Path, weights: Path, gpu: int | None) -> Any:
        import ncnn

        loaded = ncnn.Net()
        opt = loaded.opt
        opt.num_threads = self.threads
        opt.lightmode = True  # free intermediate blobs as soon as they are consumed
        if gpu is not None:
            if gpu >= gpu_count():
                raise EngineLoadError(f"GPU {gpu} was requested but ncnn sees {gpu_count()} Vulkan device(s)")
            opt.use_vulkan_compute = True
            loaded.set_vulkan_device(gpu)
        else:
            # Measured on AVX-512: fp16/bf16 storage gives no speed and costs precision; fp32 it is.
            opt.use_vulkan_compute = False
            opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
            opt.use_bf16_storage = False
        # ncnn says why on stderr only (the log of the process), and returns -1
        if loaded.load_param(str(param)) != 0:
            raise EngineLoadError(f"ncnn could not parse {param.name}")
        if loaded.load_model(str(weights)) != 0:
            raise EngineLoadError(f"ncnn could not load the weights {weights.name}")
        return loaded

    def infer(self, data: FloatImage) -> FloatImage:
        data = np.ascontiguousarray(data, dtype=np.float32)  # ncnn reads through a pointer: keep it alive
        with self._lock:
            pools = self._idle.pop() if self._idle else None
        with runtime_errors("ncnn", "run a tile", InferenceError, FOREIGN):
            if pools is None:
                import ncnn

                pools = (ncnn.UnlockedPoolAllocator(), ncnn.UnlockedPoolAllocator())  # blobs, workspace
            result = self._extract(data, *pools)
        with self._lock:  # after a failure they are not reused: dropped with the exception
            self._idle.append(pools)
        return result

    def _extract(self, data: FloatImage, blobs: Any, workspace: Any) -> FloatImage:
        import ncnn

        mat = ncnn.Mat(data)
        ex = self._net.create_extractor()
        ex.set_blob_allocator(blobs)
        ex.set_workspace_allocator(workspace)
        out = None
        try:
            if ex.input(self.input_blob, mat) != 0:
                raise InferenceError(f"ncnn refused input blob {self.input_blob!r}")
            ret, out = ex.extract(self.output_blob)
            if ret == OUT_OF_MEMORY and self.name == "ncnn-vulkan":
                raise EngineOutOfMemory(f"ncnn ran out of GPU memory to extract {self.output_blob!r}")
            if ret != 0:
                raise InferenceError(f"ncnn failed to extract {self.output_blob!r} (code {ret})")
            if out.empty() or min(out.w, out.h, out.c) < 1:  # "success" on an input smaller than a kernel
                size = "x".join(str(n) for n in data.shape)
                raise InferenceError(f"ncnn made an output of {out.c}x{out.h}x{out.w} from an input of {size}")
            return np.array(out, dtype=np.float32, copy=True)
        finally:
            # Every Mat goes before its pools can be reused or freed (a pool freed under a live Mat aborts
            # ncnn), also when an exception's traceback would keep this frame alive.
            del out, mat
            ex.clear()
            del ex

    def release(self) -> None:
        """Free the feature-map pools no extraction is using (a pass has ended); in use, they come back."""
        with self._lock:
            idle, self._idle = self._idle, []
        idle.clear()
