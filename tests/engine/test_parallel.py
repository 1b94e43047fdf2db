"""Tiles in parallel: the same tiles, assembled the same way, as one at a time; memory decides how many."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.base import FloatImage
from enhanceit.engine.runtime import Engine, EngineConfig
from enhanceit.errors import Canceled
from enhanceit.models import get_model
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file
from tests.engine.test_tiles import BoxBlur, run
from tests.helpers import load, photo, save


class Recording(BoxBlur):
    """A box blur whose output also depends on the tile's position, so a tile written to the wrong place,
    or an overlap taken from the wrong tile, changes the result; it records how many ran at once."""

    def __init__(self) -> None:
        super().__init__(radius=3)
        self.scale = 2
        self.lock = threading.Lock()
        self.running = self.most = 0

    def run(self, tile: FloatImage) -> FloatImage:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            blurred = super().run(tile)
            out = blurred.repeat(2, axis=1).repeat(2, axis=2) + np.float32(tile[0, 0, 0] * 0.01)
            threading.Event().wait(0.002)  # long enough for the other thread to start its tile
            return out
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("size", [(70, 130), (64, 64), (33, 100)])
def test_parallel_tiles_equal_one_at_a_time_bit_for_bit(tmp_path: Path, size: tuple[int, int]) -> None:
    pixels = photo("astronaut")[: size[0], : size[1]]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    serial = run(Recording(), pixels, tmp_path / "a", 24)
    net = Recording()
    with ThreadPoolExecutor(2) as pool:
        parallel = run(net, pixels, tmp_path / "b", 24, pool=pool, in_flight=2)
    np.testing.assert_array_equal(parallel, serial)
    assert net.most == 2, "two tiles ran at once"


def test_a_cancel_stops_parallel_tiles_between_tiles(tmp_path: Path) -> None:
    net = Recording()
    calls = {"n": 0}

    def check() -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise Canceled("stop")

    with ThreadPoolExecutor(2) as pool, pytest.raises(Canceled):
        run(net, photo("astronaut")[:96, :96], tmp_path, 16, pool=pool, in_flight=2, check=check)
    assert net.running == 0, "no tile is left running"


def test_tiles_in_flight_follow_threads_and_the_memory_budget() -> None:
    cunet = get_model("waifu2x-cunet")
    net = cunet.net(2, -1)
    assert net is not None
    assert Engine(EngineConfig(threads=2, backend="ncnn")).tiles_in_flight(cunet, net, 64) == 2
    assert Engine(EngineConfig(threads=2, backend="ncnn", parallel_tiles=False)).tiles_in_flight(cunet, net, 64) == 1
    assert Engine(EngineConfig(threads=1, backend="ncnn")).tiles_in_flight(cunet, net, 64) == 1
    # 100 px padded tiles of CUnet take ~146 MB each: a 250 MB budget holds one beside the base
    assert Engine(EngineConfig(threads=4, backend="ncnn", memory_budget_mb=250)).tiles_in_flight(cunet, net, 64) == 1
    assert Engine(EngineConfig(threads=4, backend="ncnn", memory_budget_mb=700)).tiles_in_flight(cunet, net, 64) == 4


@pytest.mark.parametrize("model_id", ["waifu2x-cunet", "waifu2x-upconv7-photo", "span"])
def test_real_models_give_the_same_picture_either_way(tmp_path: Path, model_id: str) -> None:
    """Single-thread extractions sum in another order than two-thread ones: 8-bit results within 1."""
    src = save(photo("chelsea")[:160, :200], tmp_path / "in.png")
    results = []
    for parallel in (True, False):
        config = EngineConfig(threads=2, parallel_tiles=parallel, backend="ncnn")
        out = tmp_path / f"{parallel}.png"
        enhance_file(src, out, EnhanceOptions(model=model_id), Engine(config), LimitSettings())
        results.append(load(out).astype(int))
    diff = np.abs(results[0] - results[1])
    assert diff.max() <= 1 and (diff > 0).mean() < 0.001


def test_real_cugan_3x_nets_are_sized_by_their_own_memory() -> None:
    """Real-CUGAN's 3x nets take 22 KB per padded tile pixel on ncnn, its 2x nets 15: sized by the model's
    16, two 3x tiles in flight took a server to 558-583 MB under a 400 MB budget. Now one fits there, while
    the 2x nets keep two."""
    spec = get_model("realcugan-se")
    three, two = spec.net(3, -1), spec.net(2, -1)
    assert three is not None and two is not None
    engine = Engine(EngineConfig(threads=2, backend="ncnn", memory_budget_mb=400))
    assert engine.tiles_in_flight(spec, three, 64) == 1
    assert engine.tiles_in_flight(spec, two, 64) == 2
