"""The model's own steps around a backend (engine/model.py), run with the fake backend as with ncnn."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from enhanceit.engine.base import FloatImage
from enhanceit.engine.fake import fake_net, nearest_backend
from enhanceit.engine.model import ModelNetwork, nearest
from tests.helpers import photo


def tile_of(pad: int, side: int = 16) -> FloatImage:
    pixels = photo("astronaut", side + 2 * pad).astype(np.float32) / 255
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def core(tile: FloatImage, pad: int) -> FloatImage:
    return tile[:, pad : tile.shape[1] - pad, pad : tile.shape[2] - pad]


@pytest.mark.parametrize(
    "flags",
    [{}, {"pre_upsample": 2}, {"post": "add-nearest-input"}, {"pre_upsample": 2, "post": "add-nearest-input"}],
)
def test_every_step_gives_back_the_enlarged_tile(flags: dict[str, object]) -> None:
    net = dataclasses.replace(fake_net(scale=2, pad=4), **flags)  # type: ignore[arg-type]
    tile = tile_of(4)
    out = ModelNetwork(net, nearest_backend(net)).run(tile)
    np.testing.assert_array_equal(out, nearest(core(tile, 4), 2))


class Recorder:
    """A backend that keeps what it was given and answers with a constant residual."""

    threads = 1

    def __init__(self, scale: int, value: float) -> None:
        self.scale, self.value, self.inputs = scale, value, list[FloatImage]()

    def infer(self, data: FloatImage) -> FloatImage:
        self.inputs.append(data)
        return np.full((data.shape[0], data.shape[1] * self.scale, data.shape[2] * self.scale), self.value, np.float32)

    def release(self) -> None:
        pass


def test_pre_upsampling_feeds_the_backend_the_enlarged_input() -> None:
    net = dataclasses.replace(fake_net(scale=2, pad=3), pre_upsample=2)
    backend = Recorder(scale=1, value=0.25)
    tile = tile_of(3)
    ModelNetwork(net, backend).run(tile)
    np.testing.assert_array_equal(backend.inputs[0], nearest(tile, 2))


def test_a_residual_is_added_to_the_enlarged_input() -> None:
    net = dataclasses.replace(fake_net(scale=2, pad=2), post="add-nearest-input")
    tile = tile_of(2)
    out = ModelNetwork(net, Recorder(scale=2, value=0.25)).run(tile)
    np.testing.assert_allclose(out, nearest(core(tile, 2), 2) + 0.25, atol=1e-6)


def test_luma_models_see_one_channel_and_keep_the_colour() -> None:
    net = dataclasses.replace(fake_net(scale=2, pad=4), color="y")
    backend = Recorder(scale=2, value=0.5)
    tile = tile_of(4)
    out = ModelNetwork(net, backend).run(tile)
    assert backend.inputs[0].shape == (1, tile.shape[1], tile.shape[2])
    assert out.shape == (3, 32, 32)
    # A flat grey Y with the photo's chroma: the colour differences between channels survive.
    assert float(np.abs(out[0] - out[2]).mean()) > 0.02
    fake = ModelNetwork(net, nearest_backend(net)).run(tile)  # the whole luma path, round trip included
    assert float(np.abs(fake - nearest(core(tile, 4), 2)).max()) <= 3.5 / 255  # 8-bit YCbCr, Y truncated


def test_a_tile_off_the_multiple_is_refused() -> None:
    net = fake_net(scale=2, pad=2, multiple=4)
    with pytest.raises(ValueError, match="multiple of 4"):
        ModelNetwork(net, nearest_backend(net)).run(tile_of(2, side=10))


class Swapping:
    """A net that takes B, G, R in 0..255 and answers its input enlarged with its first band doubled: so a
    wrong channel order or range shows in the result."""

    threads = 1
    seen: FloatImage | None = None

    def infer(self, data: FloatImage) -> FloatImage:
        self.seen = data
        out = nearest(data, 2).copy()
        out[0] *= 2
        return out

    def release(self) -> None:
        pass


def test_a_bgr_net_in_0_255_sees_and_gives_its_own_order_and_range() -> None:
    net = dataclasses.replace(fake_net(scale=2, pad=0), bgr=True, value_range=255.0)
    tile = tile_of(0, side=8)
    backend = Swapping()
    out = ModelNetwork(net, backend).run(tile)  # type: ignore[arg-type]
    assert backend.seen is not None
    np.testing.assert_allclose(backend.seen, tile[::-1] * 255, rtol=1e-6)
    expected = nearest(tile, 2).copy()
    expected[2] *= 2  # the net's first band is blue
    np.testing.assert_allclose(out, expected, rtol=1e-6)
