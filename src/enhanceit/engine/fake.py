"""A backend that needs no weights, nearest-neighbour upscaling, for tests of everything above ncnn.

:func:`nearest_backend` stands in for a real net's backend behind the same
:class:`~enhanceit.engine.model.ModelNetwork`, so the model's own steps (luma, pre-upsampling, the
residual, cropping) run as they do with ncnn, and the whole result is the input repeated ``scale`` times
in each direction, whatever the tile size: the tiler, the pipeline, the API and the queue can be tested
quickly and exactly. (For a luma net the result goes through 8-bit YCbCr and back, Y truncated: within three levels.)
"""

from __future__ import annotations

import threading
import time

import numpy as np

from enhanceit.engine.base import FloatImage
from enhanceit.engine.model import ModelNetwork, nearest
from enhanceit.engine.runtime import Engine
from enhanceit.models.spec import Net, PadMode, Source, WeightFile


class NearestBackend:
    def __init__(
        self, scale: int = 2, residual: bool = False, delay: float = 0.0, resident_mb: float | None = None
    ) -> None:
        self.scale = scale
        #: What the engine counts for it against the memory budget (None: what loading it measurably took).
        self.resident_mb = resident_mb
        #: Answer zeros, as a residual net would for an image it leaves as it is.
        self.residual = residual
        self.threads = 1
        self.name = "fake"
        self.precision = "f32"
        #: Seconds each tile takes, to make jobs slow enough to cancel or kill in tests.
        self.delay = delay
        self.calls = 0
        #: Passes ended (the engine releases working memory after each).
        self.releases = 0
        self._lock = threading.Lock()

    def infer(self, data: FloatImage) -> FloatImage:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        up = np.ascontiguousarray(nearest(data, self.scale), dtype=np.float32)
        return np.zeros_like(up) if self.residual else up

    def release(self) -> None:
        with self._lock:
            self.releases += 1


def nearest_backend(net: Net, delay: float = 0.0) -> NearestBackend:
    """The fake for ``net``: what makes its :class:`ModelNetwork` enlarge by nearest neighbour."""
    return NearestBackend(net.scale // net.pre_upsample, residual=net.post == "add-nearest-input", delay=delay)


_NONE = WeightFile(Source("none", "0", "none"), "none", "0" * 64)


def fake_net(scale: int = 2, pad: int = 4, multiple: int = 1, pad_mode: PadMode = "replicate") -> Net:
    """A net description for tests of the tiler, with no files behind it."""
    return Net(scale, -1, _NONE, _NONE, "in", "out", pad, pad_mode, multiple)


def NearestNetwork(
    scale: int = 2, pad: int = 4, multiple: int = 1, pad_mode: PadMode = "replicate", delay: float = 0.0
) -> ModelNetwork:
    """A whole fake network: :func:`fake_net` behind :class:`NearestBackend`."""
    net = fake_net(scale, pad, multiple, pad_mode)
    return ModelNetwork(net, nearest_backend(net, delay))


def fake_engine(delay: float = 0.0) -> Engine:
    """An engine with real model shapes (pads, multiples, scales, steps) and nearest-neighbour pixels:
    exact and fast, for tests of the pipeline, the API and the queue."""
    return Engine(factory=lambda spec, net: nearest_backend(net, delay))
