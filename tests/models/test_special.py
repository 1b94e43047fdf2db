"""Models whose files need more than 'run the net': each checked against the computation written plainly.

* Real-CUGAN 4x predicts a residual: result = net output + nearest-neighbour 4x input.
* realesr-animevideov3's 2x/3x files are its 4x net followed by a bicubic resize inside the graph
  (ncnn's Interp: a = -0.75, half-pixel centres); the engine must trim their context at the right scale.
"""

from __future__ import annotations

from pathlib import Path

import ncnn
import numpy as np
import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.runtime import Engine
from enhanceit.models import get_model, weights
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file
from tests.helpers import load, photo, save


def run_file(model_id: str, scale: int, padded: np.ndarray) -> np.ndarray:
    net = get_model(model_id).net(scale, -1)
    assert net is not None
    param, bin_path = weights.verified_net_files(net)
    n = ncnn.Net()
    n.opt.use_vulkan_compute = False
    n.opt.num_threads = 2
    assert n.load_param(str(param)) == 0 and n.load_model(str(bin_path)) == 0
    data = np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32)
    mat = ncnn.Mat(data)
    ex = n.create_extractor()
    ex.input(net.input_blob, mat)
    ret, out = ex.extract(net.output_blob)
    assert ret == 0
    return np.array(out).transpose(1, 2, 0)


def to_8bit(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0, 1) * 255).astype(int)


def cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """The four bicubic tap weights at fractional offsets ``t``."""
    x = np.stack([1 + t, t, 1 - t, 2 - t], axis=-1)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, far)


def bicubic_resize_axis(img: np.ndarray, out_len: int, axis: int) -> np.ndarray:
    n = img.shape[axis]
    src = (np.arange(out_len) + 0.5) * n / out_len - 0.5
    base = np.floor(src).astype(int)
    w = cubic_weights(src - base)
    taps = np.clip(base[:, None] + np.arange(-1, 3)[None, :], 0, n - 1)
    moved = np.moveaxis(img, axis, 0)
    out = np.einsum("ok,ok...->o...", w, moved[taps])
    return np.moveaxis(out, 0, axis)


def test_realcugan_4x_adds_the_nearest_input(engine: Engine, tmp_path: Path) -> None:
    pixels = photo("chelsea")[100:140, 150:186]
    ours = tmp_path / "ours.png"
    enhance_file(
        save(pixels, tmp_path / "in.png"), ours, EnhanceOptions(model="realcugan-se", scale=4), engine, LimitSettings()
    )
    p = 19
    x = pixels.astype(np.float32) / 255
    residual = run_file("realcugan-se", 4, np.pad(x, ((p, p), (p, p), (0, 0)), mode="reflect"))
    plain = residual + x.repeat(4, 0).repeat(4, 1)
    assert np.abs(load(ours).astype(int) - to_8bit(plain)).max() <= 1
    # and the residual alone is nothing like a picture: the addition is what makes it one
    assert np.abs(to_8bit(residual) - to_8bit(plain)).mean() > 50


@pytest.mark.parametrize("scale", [2, 3])
def test_animevideov3_small_scales_are_the_4x_net_then_bicubic(engine: Engine, tmp_path: Path, scale: int) -> None:
    pixels = photo("astronaut")[150:190, 200:236]
    h, w = pixels.shape[:2]
    ours = tmp_path / "ours.png"
    enhance_file(
        save(pixels, tmp_path / "in.png"),
        ours,
        EnhanceOptions(model="realesr-animevideov3", scale=float(scale)),
        engine,
        LimitSettings(),
    )
    p = 10
    x4 = run_file(
        "realesr-animevideov3", 4, np.pad(pixels.astype(np.float32) / 255, ((p, p), (p, p), (0, 0)), mode="edge")
    )
    resized = bicubic_resize_axis(bicubic_resize_axis(x4, scale * (h + 2 * p), 0), scale * (w + 2 * p), 1)
    plain = resized[scale * p : scale * (p + h), scale * p : scale * (p + w)]
    result = load(ours).astype(int)
    assert result.shape == (scale * h, scale * w, 3)
    assert np.abs(result - to_8bit(plain)).max() <= 1
