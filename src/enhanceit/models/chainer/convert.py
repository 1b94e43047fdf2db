"""waifu2x-chainer's four architectures, rebuilt as ncnn graphs from their Chainer ``.npz`` weights.

All convolutions are 3x3 and unpadded ("valid") with leaky ReLU 0.1, so each net trims its own context:

* VGG7: C→32→32→64→64→128→128→C, 7 px per side. A 1x net; for 2x it is fed a nearest-neighbour 2x input.
* UpConv7: C→16→32→64→128→256→256, then a 4x4 stride-2 deconvolution (pad 3, no bias): 7 input px.
* ResNet10: conv_pre C→64; five residual blocks (two convs; the identity cut by 2 px to match);
  conv_bridge 64→64; a skip from conv_pre cut by 11 px; conv_post 64→C: 13 px.
* UpResNet10: ResNet10 with squeeze-excitation in every block (global average → Linear 64→16 → ReLU →
  Linear 16→64 → sigmoid → per-channel scale) and a deconvolution for conv_post: 13 input px.

The names here (``conv1``, ``res3/fc1``…) are the npz keys; the ncnn graph keeps them as layer names, so a
test can extract any intermediate blob and compare it with a numpy reference of the same layer.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from enhanceit.models.chainer.ncnn_writer import RELU, SIGMOID, Float32Array, Graph

SLOPE = 0.1
ARCHS = ("vgg7", "upconv7", "resnet10", "upresnet10")
OUTPUT = "output"

Weights = Mapping[str, Float32Array]


def _w(weights: Weights, key: str) -> Float32Array:
    try:
        return np.asarray(weights[key], dtype=np.float32)
    except KeyError:
        raise ValueError(f"npz has no {key!r}") from None


def _vgg7(g: Graph, x: str, w: Weights) -> str:
    for i in range(1, 7):
        x = g.conv(x, f"conv{i}", _w(w, f"conv{i}/W"), _w(w, f"conv{i}/b"), leaky=SLOPE)
    return g.conv(x, OUTPUT, _w(w, "conv7/W"), _w(w, "conv7/b"))


def _upconv7(g: Graph, x: str, w: Weights) -> str:
    for i in range(1, 7):
        x = g.conv(x, f"conv{i}", _w(w, f"conv{i}/W"), _w(w, f"conv{i}/b"), leaky=SLOPE)
    return g.deconv(x, OUTPUT, _w(w, "conv7/W"), stride=2, pad=3)


def _res_block(g: Graph, x: str, w: Weights, name: str, se: bool) -> str:
    into_conv, into_skip = g.split(x)
    h = g.conv(into_conv, f"{name}/conv1", _w(w, f"{name}/conv1/W"), _w(w, f"{name}/conv1/b"), leaky=SLOPE)
    h = g.conv(h, f"{name}/conv2", _w(w, f"{name}/conv2/W"), _w(w, f"{name}/conv2/b"), leaky=SLOPE)
    if se:
        h, into_pool = g.split(h)
        s = g.global_average(into_pool, f"{name}/pool")
        s = g.dense(s, f"{name}/fc1", _w(w, f"{name}/fc1/W"), _w(w, f"{name}/fc1/b"), RELU)
        s = g.dense(s, f"{name}/fc2", _w(w, f"{name}/fc2/W"), _w(w, f"{name}/fc2/b"), SIGMOID)
        h = g.scale_channels(h, s, f"{name}/se")
    h, like = g.split(h)
    skip = g.crop_like(into_skip, like, f"{name}/skip", 2)
    return g.add(h, skip, f"{name}/sum")


def _resnet10(g: Graph, x: str, w: Weights, up: bool) -> str:
    x = g.conv(x, "conv_pre", _w(w, "conv_pre/W"), _w(w, "conv_pre/b"), leaky=SLOPE)
    h, bridge = g.split(x)
    for i in range(1, 6):
        h = _res_block(g, h, w, f"res{i}", se=up)
    h = g.conv(h, "conv_bridge", _w(w, "conv_bridge/W"), _w(w, "conv_bridge/b"), leaky=SLOPE)
    h, like = g.split(h)
    skip = g.crop_like(bridge, like, "bridge_skip", 11)
    h = g.add(h, skip, "bridge_sum")
    if up:
        return g.deconv(h, OUTPUT, _w(w, "conv_post/W"), stride=2, pad=3)
    return g.conv(h, OUTPUT, _w(w, "conv_post/W"), _w(w, "conv_post/b"))


def convert(arch: str, weights: Weights) -> tuple[str, bytes]:
    """(param text, bin bytes) of the ncnn model for ``arch`` with Chainer ``weights``."""
    g = Graph()
    x = g.input("input")
    if arch == "vgg7":
        _vgg7(g, x, weights)
    elif arch == "upconv7":
        _upconv7(g, x, weights)
    elif arch in ("resnet10", "upresnet10"):
        _resnet10(g, x, weights, up=arch == "upresnet10")
    else:
        raise ValueError(f"unknown waifu2x-chainer architecture {arch!r}; known: {', '.join(ARCHS)}")
    return g.param_text(), g.bin_bytes()


def convert_npz(arch: str, npz: bytes) -> tuple[str, bytes]:
    import io

    with np.load(io.BytesIO(npz), allow_pickle=False) as data:
        return convert(arch, {k: data[k] for k in data.files})
