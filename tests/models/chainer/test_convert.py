"""The npz -> ncnn converter, layer by layer against a plain numpy version of each architecture."""

from __future__ import annotations

from pathlib import Path

import ncnn
import numpy as np
import pytest

from enhanceit.models.chainer.convert import ARCHS, convert
from tests.models.chainer import reference


def run_ncnn(param: str, weights: bytes, tmp_path: Path, x: np.ndarray, blobs: list[str]) -> dict[str, np.ndarray]:
    (tmp_path / "m.param").write_text(param)
    (tmp_path / "m.bin").write_bytes(weights)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    assert net.load_param(str(tmp_path / "m.param")) == 0
    assert net.load_model(str(tmp_path / "m.bin")) == 0
    out = {}
    for blob in blobs:
        ex = net.create_extractor()
        data = np.ascontiguousarray(x, dtype=np.float32)
        mat = ncnn.Mat(data)
        ex.input("input", mat)
        ret, result = ex.extract(blob)
        assert ret == 0, blob
        out[blob] = np.array(result).reshape(np.array(result).shape)
    return out


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("channels", [3, 1])
def test_every_layer_matches_numpy(tmp_path: Path, arch: str, channels: int) -> None:
    weights = reference.random_weights(arch, channels, width=8, seed=len(arch) + channels)
    x = np.random.default_rng(7).random((channels, 40, 36), dtype=np.float32)
    expected = reference.forward(arch, x.astype(np.float64), {k: v.astype(np.float64) for k, v in weights.items()})
    param, blob_bytes = convert(arch, weights)
    got = run_ncnn(param, blob_bytes, tmp_path, x, list(expected))
    for name, want in expected.items():
        have = got[name].reshape(want.shape)
        # float32 and Winograd against float64: errors grow with depth, structural mistakes are O(1)
        assert np.allclose(have, want, atol=1e-3, rtol=1e-3), f"{arch}: {name} off by {np.abs(have - want).max()}"


def test_output_offsets_match_waifu2x_chainer() -> None:
    """VGG7 and ResNet10 keep the size minus 2x7 and 2x13; UpConv7 and UpResNet10 double it minus 2x14 and 2x26."""
    shapes = {}
    for arch in ARCHS:
        p = reference.random_weights(arch, 3, width=4)
        shapes[arch] = reference.forward(arch, np.zeros((3, 60, 60)), p)["output"].shape[1]
    assert shapes == {"vgg7": 46, "upconv7": 92, "resnet10": 34, "upresnet10": 68}


def test_conversion_is_deterministic_and_refuses_what_it_does_not_know() -> None:
    weights = reference.random_weights("upconv7", 3, width=4)
    assert convert("upconv7", weights) == convert("upconv7", weights)
    with pytest.raises(ValueError, match="unknown"):
        convert("srcnn", weights)
    del weights["conv3/b"]
    with pytest.raises(ValueError, match="conv3/b"):
        convert("upconv7", weights)
