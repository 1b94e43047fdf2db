from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enhanceit.engine.base import FloatImage
from enhanceit.engine.fake import NearestNetwork
from enhanceit.engine.tiles import count_tiles, edge_index, run_pass, tile_shape, tile_starts
from enhanceit.errors import Canceled
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.models.spec import PadMode
from tests.helpers import raster_of


class BoxBlur:
    """A 'network' with a real receptive field: each output pixel is the mean of a (2r+1)² window.

    Computed with valid windows over the padded tile, in a fixed order, so a tiled run can equal the
    whole-image run bit for bit only if every tile got exactly the right context.
    """

    def __init__(self, radius: int, pad_mode: PadMode = "replicate", multiple: int = 1) -> None:
        self.scale, self.pad, self.pad_mode, self.multiple, self.truncate = 1, radius, pad_mode, multiple, False

    def run(self, tile: FloatImage) -> FloatImage:
        r = self.pad
        h, w = tile.shape[1] - 2 * r, tile.shape[2] - 2 * r
        out = np.zeros((3, h, w), np.float32)
        for dy in range(2 * r + 1):
            for dx in range(2 * r + 1):
                out += tile[:, dy : dy + h, dx : dx + w]
        return out / np.float32((2 * r + 1) ** 2)


def whole_image(net: BoxBlur, pixels: np.ndarray) -> np.ndarray:
    mode = "edge" if net.pad_mode == "replicate" else "reflect"
    padded = np.pad(pixels.astype(np.float32) / 255, ((net.pad, net.pad), (net.pad, net.pad), (0, 0)), mode=mode)
    out = net.run(np.ascontiguousarray(padded.transpose(2, 0, 1)))
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)


def run(net: object, pixels: np.ndarray, tmp_path: Path, tile: int, **kw: object) -> np.ndarray:
    src = raster_of(pixels, tmp_path / "src.raw")
    s = net.scale  # type: ignore[attr-defined]
    h, w = pixels.shape[:2]
    dtype = "uint16" if pixels.dtype == np.uint16 else "uint8"
    dst = Raster.create(tmp_path / "dst.raw", RasterInfo(w * s, h * s, 3, dtype))
    run_pass(net, src, dst, tile, **kw)  # type: ignore[arg-type]
    return dst.read_rows(0, h * s)


@pytest.mark.parametrize(
    ("length", "tile", "expected"),
    [(10, 16, [0]), (16, 16, [0]), (17, 16, [0, 1]), (40, 16, [0, 16, 24]), (48, 16, [0, 16, 32])],
)
def test_tiles_cover_the_axis_and_the_last_one_ends_at_the_edge(length: int, tile: int, expected: list[int]) -> None:
    assert tile_starts(length, tile) == expected


@pytest.mark.parametrize("mode", ["replicate", "reflect"])
@pytest.mark.parametrize("length", [1, 2, 5, 9])
def test_edge_index_extends_like_numpy_pad(mode: PadMode, length: int) -> None:
    pad = 7  # wider than some of the axes: reflect must keep bouncing
    data = np.arange(length)
    expected = np.pad(data, pad, mode="edge" if mode == "replicate" or length == 1 else "reflect")
    assert np.array_equal(data[edge_index(-pad, length + pad, length, mode)], expected)


def test_tile_shape_keeps_the_multiple_and_shrinks_for_small_images() -> None:
    assert tile_shape(width=500, height=300, tile=64, multiple=4) == (64, 64)
    assert tile_shape(width=5, height=7, tile=64, multiple=4) == (8, 8)
    assert tile_shape(width=30, height=1, tile=62, multiple=4) == (4, 32)
    assert count_tiles(100, 40, 32, 1) == 4 * 2


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (33, 64), (70, 130)])
@pytest.mark.parametrize(
    ("tile", "multiple", "pad", "scale"), [(16, 1, 0, 2), (16, 4, 5, 2), (24, 2, 9, 3), (64, 4, 3, 1)]
)
def test_every_pixel_lands_in_its_place(
    tmp_path: Path, size: tuple[int, int], tile: int, multiple: int, pad: int, scale: int
) -> None:
    rng = np.random.default_rng(sum(size))
    pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    net = NearestNetwork(scale=scale, pad=pad, multiple=multiple)
    out = run(net, pixels, tmp_path, tile)
    assert np.array_equal(out, pixels.repeat(scale, 0).repeat(scale, 1))


@pytest.mark.parametrize("mode", ["replicate", "reflect"])
@pytest.mark.parametrize("tile", [8, 20, 64])
def test_tiles_take_context_from_real_neighbours(tmp_path: Path, mode: PadMode, tile: int) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    net = BoxBlur(radius=4, pad_mode=mode)
    assert np.array_equal(run(net, pixels, tmp_path, tile), whole_image(net, pixels))


def test_grey_and_alpha_rasters_feed_rgb(tmp_path: Path) -> None:
    grey_alpha = np.random.default_rng(2).integers(0, 256, (20, 30, 2), dtype=np.uint8)
    out = run(NearestNetwork(scale=2), grey_alpha, tmp_path, 16)
    expected = np.repeat(grey_alpha[:, :, :1], 3, axis=2).repeat(2, 0).repeat(2, 1)
    assert np.array_equal(out, expected)
    rgba = np.random.default_rng(3).integers(0, 256, (20, 30, 4), dtype=np.uint8)
    (tmp_path / "b").mkdir()
    out = run(NearestNetwork(scale=2), rgba, tmp_path / "b", 16)
    assert np.array_equal(out, rgba[:, :, :3].repeat(2, 0).repeat(2, 1))


def test_sixteen_bit_samples_keep_their_precision(tmp_path: Path) -> None:
    pixels = np.random.default_rng(4).integers(0, 65536, (17, 23, 3), dtype=np.uint16)
    out = run(NearestNetwork(scale=2), pixels, tmp_path, 16)
    assert out.dtype == np.uint16
    assert np.array_equal(out, pixels.repeat(2, 0).repeat(2, 1))


def test_progress_is_reported_per_tile_and_cancel_stops_between_tiles(tmp_path: Path) -> None:
    pixels = np.zeros((64, 64, 3), np.uint8)
    net = NearestNetwork(scale=2)
    ticks: list[int] = []
    run(net, pixels, tmp_path, 16, on_tile=lambda: ticks.append(1))
    assert len(ticks) == 16

    calls = {"n": 0}

    def check() -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise Canceled("stop")

    net = NearestNetwork(scale=2)
    (tmp_path / "b").mkdir()
    with pytest.raises(Canceled):
        run(net, pixels, tmp_path / "b", 16, check=check)
    assert net.backend.calls == 3  # type: ignore[attr-defined]


def test_destination_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    src = raster_of(np.zeros((8, 8, 3), np.uint8), tmp_path / "s.raw")
    dst = Raster.create(tmp_path / "d.raw", RasterInfo(8, 8, 3, "uint8"))
    with pytest.raises(ValueError, match="does not fit"):
        run_pass(NearestNetwork(scale=2), src, dst, 16)
