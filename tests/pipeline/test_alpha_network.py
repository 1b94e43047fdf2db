"""``alpha: network`` (the default): an image's alpha channel is enlarged by the network, as its colours are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.fake import fake_engine
from enhanceit.engine.runtime import Engine
from enhanceit.errors import ImageTooLarge
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.prepared import prepare
from enhanceit.pipeline.process import enhance_file
from tests.animations import save_animation
from tests.helpers import box_down, load, photo, psnr, save


def star(size: int) -> np.ndarray:
    """An anti-aliased star, drawn 4x larger and box-averaged: the hard edge of a sprite or an icon."""
    big = size * 4
    y, x = np.mgrid[0:big, 0:big] / big - 0.5
    angle, radius = np.arctan2(y, x), np.hypot(x, y)
    inside = radius < 0.2 + 0.2 * (np.cos(5 * angle) + 1) / 2
    return box_down(np.repeat((inside * 255).astype(np.uint8)[:, :, None], 3, axis=2), 4)[:, :, 0]


def rgba(size: int) -> np.ndarray:
    return np.dstack([photo("astronaut", size), star(size)])


def test_the_alpha_goes_through_the_network_by_default(tmp_path: Path) -> None:
    """The nearest-neighbour engine makes it exact: each alpha value repeated 2x2, where Lanczos would
    make intermediate values along the edge."""
    src = save(rgba(32), tmp_path / "in.png")
    for mode in ("network", "lanczos"):
        options = EnhanceOptions(model="waifu2x-cunet", alpha=mode) if mode == "lanczos" else EnhanceOptions()
        enhance_file(src, tmp_path / f"{mode}.png", options, fake_engine(), LimitSettings())
    nearest = star(32).repeat(2, 0).repeat(2, 1)
    assert np.array_equal(load(tmp_path / "network.png")[:, :, 3], nearest)
    assert not np.array_equal(load(tmp_path / "lanczos.png")[:, :, 3], nearest)


def test_the_networks_alpha_is_nearer_the_truth_than_lanczos(tmp_path: Path, engine: Engine) -> None:
    """A star box-downscaled 2x and enlarged back by UpConv7-photo: the measured choice of the default
    (``bench/alpha.py``: +6.8 to +21 dB on the alpha, soft edges and hard)."""
    truth = rgba(128)
    src = save(box_down(truth, 2), tmp_path / "in.png")
    scores = {}
    for mode in ("network", "lanczos"):
        options = EnhanceOptions(model="waifu2x-upconv7-photo", alpha=mode, noise=-1)  # type: ignore[arg-type]
        enhance_file(src, tmp_path / f"{mode}.png", options, engine, LimitSettings())
        scores[mode] = psnr(load(tmp_path / f"{mode}.png")[:, :, 3], truth[:, :, 3])
    assert scores["network"] > scores["lanczos"] + 3, scores


def test_the_alpha_pass_counts_twice_against_the_work_limit(tmp_path: Path) -> None:
    src = save(rgba(32), tmp_path / "in.png")
    limits = LimitSettings(max_output_pixels=32 * 32 * 4 * 2 - 1)  # the colours fit, twice does not
    with pytest.raises(ImageTooLarge, match="twice"):
        prepare(src, EnhanceOptions(), fake_engine(), limits)
    prepare(src, EnhanceOptions(alpha="lanczos"), fake_engine(), limits)
    opaque = save(photo("astronaut", 32), tmp_path / "opaque.png")
    prepare(opaque, EnhanceOptions(), fake_engine(), limits)  # no alpha: one pass


def test_an_animations_alpha_is_resized(tmp_path: Path) -> None:
    """Frames are enhanced one at a time; their alpha is resized with Lanczos, whatever ``alpha`` says."""
    frames = [rgba(24), np.ascontiguousarray(rgba(24)[::-1])]
    src = save_animation(frames, tmp_path / "in.webp", [100, 100], lossless=True)
    outcome = enhance_file(src, tmp_path / "out.webp", EnhanceOptions(), fake_engine(), LimitSettings())
    assert outcome.frames == 2 and outcome.encoded.width == 48
