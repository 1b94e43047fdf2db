"""A network that needs no weights: nearest-neighbour upscaling, for tests of everything above the engine.

It honours the same contract as a real network (context padding, tile multiples, output cropping), so the
tiler, the pipeline, the API and the queue can be tested quickly and exactly: its output is the input
repeated ``scale`` times in each direction, whatever the tile size.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from enhanceit.engine.base import FloatImage, crop_output
from enhanceit.models.spec import PadMode


class NearestNetwork:
    def __init__(
        self,
        scale: int = 2,
        pad: int = 4,
        multiple: int = 1,
        pad_mode: PadMode = "replicate",
        delay: float = 0.0,
    ) -> None:
        self.scale = scale
        self.pad = pad
        self.multiple = multiple
        self.pad_mode: PadMode = pad_mode
        self.truncate = False
        self.threads = 1
        #: Seconds each tile takes, to make jobs slow enough to cancel or kill in tests.
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def run(self, tile: FloatImage) -> FloatImage:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        h, w = tile.shape[1] - 2 * self.pad, tile.shape[2] - 2 * self.pad
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"tile {h}x{w} is not a multiple of {self.multiple}")
        up = tile.repeat(self.scale, axis=1).repeat(self.scale, axis=2)
        return crop_output(np.ascontiguousarray(up, dtype=np.float32), h, w, self.scale)
