"""The two interfaces of the engine: a raw backend that runs a network file, and the network the tiler uses.

A :class:`Backend` is what a runtime (ncnn on the CPU or Vulkan, OpenVINO, the test fake) has to
offer: one array in, the net's output out, nothing model-specific. :class:`~enhanceit.engine.model.ModelNetwork`
wraps one with what a model's :class:`~enhanceit.models.spec.Net` asks for (luma only, pre-upsampling,
adding the enlarged input, cropping the context) and is the :class:`Network` the tiler calls; so every
backend gets those steps from one place, and tests with the fake run them too.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from enhanceit.models.spec import PadMode

FloatImage = npt.NDArray[np.float32]


class Backend(Protocol):
    """A loaded network file, safe to call from several threads at once."""

    #: CPU threads one call uses (fixed when the network is loaded: ncnn bakes it into its weights' layout).
    threads: int
    #: What runs it (``ncnn``, ``ncnn-vulkan``, ``openvino``, ``fake``) and in which precision (``f32``, ``bf16``).
    name: str
    precision: str

    def infer(self, data: FloatImage) -> FloatImage:
        """The net's raw output for ``data`` (float32, channels first, as the net takes it)."""
        ...

    def release(self) -> None:
        """Let go of working memory kept for the next call (a pass has ended); the net stays loaded."""
        ...


class Network(Protocol):
    """A loaded network as the tiler sees it, safe to call from several threads at once.

    ``run`` takes one tile as float32 RGB in [0, 1], channels first, with ``pad`` context pixels on each
    side: shape (3, h + 2*pad, w + 2*pad) where h and w are multiples of ``multiple``. It returns the
    enhanced tile without its context, unclipped: shape (3, scale*h, scale*w).
    """

    scale: int
    pad: int
    pad_mode: PadMode
    multiple: int
    #: Quantise with truncation instead of rounding (waifu2x-chainer's convention, for parity).
    truncate: bool
    threads: int

    def run(self, tile: FloatImage) -> FloatImage: ...

    def release(self) -> None:
        """Called when a pass ends: memory kept from tile to tile is freed until the next pass."""
        ...


def crop_output(out: FloatImage, tile_h: int, tile_w: int, scale: int) -> FloatImage:
    """Cut a network's output down to ``scale * tile`` pixels, centred.

    Nets with valid convolutions already trim most of their input's context; nets with same-padding keep
    all of it (scaled). Either way the excess is symmetric, which this checks.
    """
    want_h, want_w = scale * tile_h, scale * tile_w
    extra_h, extra_w = out.shape[1] - want_h, out.shape[2] - want_w
    if extra_h < 0 or extra_w < 0 or extra_h % 2 or extra_w % 2:
        raise RuntimeError(f"network output {out.shape[1]}x{out.shape[2]} cannot be centred on {want_h}x{want_w}")
    top, left = extra_h // 2, extra_w // 2
    return out[:, top : top + want_h, left : left + want_w]
