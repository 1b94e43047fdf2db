from __future__ import annotations

import numpy as np
import pytest

from enhanceit.engine.base import FloatImage
from enhanceit.engine.tiles import run_tile
from enhanceit.engine.tta import augmented


@pytest.mark.parametrize("level", [0, 2, 4, 8])
def test_each_inverse_undoes_its_transform(level: int) -> None:
    tile = np.random.default_rng(0).random((3, 6, 10), dtype=np.float32)
    pairs = augmented(level)
    assert len(pairs) == max(1, level)
    seen = set()
    for forward, inverse in pairs:
        moved = forward(tile)
        seen.add(moved.tobytes() + bytes(moved.shape))
        assert np.array_equal(inverse(moved), tile)
    assert len(seen) == len(pairs), "transforms must differ"


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError):
        augmented(3)


class Lopsided:
    """A net that is not flip-invariant: it adds the column index (scaled), so TTA must average it away."""

    scale, pad, pad_mode, multiple, truncate = 1, 0, "replicate", 1, False

    def run(self, tile: FloatImage) -> FloatImage:
        ramp = np.arange(tile.shape[2], dtype=np.float32)[None, None, :] / 100
        return tile + ramp


def test_tta_averages_the_outputs_of_all_transforms() -> None:
    tile = np.random.default_rng(1).random((3, 4, 5), dtype=np.float32)
    net = Lopsided()
    # mirror averaging: ramp and its mirror sum to a constant (width-1)/100
    two = run_tile(net, tile, 2)
    assert np.allclose(two, tile + (tile.shape[2] - 1) / 200, atol=1e-6)
    eight = run_tile(net, tile, 8)
    # transposed passes add the ramp along rows instead; all eight average to the mean of both constants
    expected = tile + ((tile.shape[2] - 1) / 200 + (tile.shape[1] - 1) / 200) / 2
    assert np.allclose(eight, expected, atol=1e-6)
