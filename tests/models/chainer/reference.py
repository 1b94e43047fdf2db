"""waifu2x-chainer's architectures written plainly in numpy: the reference the converter is tested against.

Every function returns a dict of named intermediate results (the converter's layer names), so a test can
compare ncnn's blobs layer by layer.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Arr = np.ndarray


def conv(x: Arr, w: Arr, b: Arr | None) -> Arr:
    """Valid cross-correlation, stride 1: x (C, H, W), w (O, C, kh, kw)."""
    kh, kw = w.shape[2:]
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (C, H', W', kh, kw)
    out = np.einsum("chwij,ocij->ohw", windows, w, optimize=True)
    return out + b[:, None, None] if b is not None else out


def deconv(x: Arr, w_chainer: Arr, stride: int, pad: int) -> Arr:
    """Chainer's Deconvolution2D without bias: w (C_in, C_out, kh, kw), no kernel flip."""
    _, c_out, kh, kw = w_chainer.shape
    _, h, w = x.shape
    out = np.zeros((c_out, (h - 1) * stride + kh, (w - 1) * stride + kw))
    for i in range(kh):
        for j in range(kw):
            out[:, i : i + stride * h : stride, j : j + stride * w : stride] += np.einsum(
                "chw,co->ohw", x, w_chainer[:, :, i, j]
            )
    return out[:, pad : out.shape[1] - pad, pad : out.shape[2] - pad]


def leaky(x: Arr) -> Arr:
    return np.where(x > 0, x, 0.1 * x)


def vgg7(x: Arr, p: dict[str, Arr]) -> dict[str, Arr]:
    out = {}
    for i in range(1, 7):
        x = out[f"conv{i}"] = leaky(conv(x, p[f"conv{i}/W"], p[f"conv{i}/b"]))
    out["output"] = conv(x, p["conv7/W"], p["conv7/b"])
    return out


def upconv7(x: Arr, p: dict[str, Arr]) -> dict[str, Arr]:
    out = {}
    for i in range(1, 7):
        x = out[f"conv{i}"] = leaky(conv(x, p[f"conv{i}/W"], p[f"conv{i}/b"]))
    out["output"] = deconv(x, p["conv7/W"], 2, 3)
    return out


def resnet10(x: Arr, p: dict[str, Arr], up: bool) -> dict[str, Arr]:
    out = {}
    h = bridge = out["conv_pre"] = leaky(conv(x, p["conv_pre/W"], p["conv_pre/b"]))
    for i in range(1, 6):
        n = f"res{i}"
        r = leaky(conv(h, p[f"{n}/conv1/W"], p[f"{n}/conv1/b"]))
        r = out[f"{n}/conv2"] = leaky(conv(r, p[f"{n}/conv2/W"], p[f"{n}/conv2/b"]))
        if up:
            s = r.mean(axis=(1, 2))
            s = np.maximum(p[f"{n}/fc1/W"] @ s + p[f"{n}/fc1/b"], 0)
            s = 1 / (1 + np.exp(-(p[f"{n}/fc2/W"] @ s + p[f"{n}/fc2/b"])))
            r = out[f"{n}/se"] = r * s[:, None, None]
        h = out[f"{n}/sum"] = r + h[:, 2:-2, 2:-2]
    h = out["conv_bridge"] = leaky(conv(h, p["conv_bridge/W"], p["conv_bridge/b"]))
    h = out["bridge_sum"] = h + bridge[:, 11:-11, 11:-11]
    out["output"] = deconv(h, p["conv_post/W"], 2, 3) if up else conv(h, p["conv_post/W"], p["conv_post/b"])
    return out


def random_weights(arch: str, channels: int, width: int, seed: int = 0) -> dict[str, Arr]:
    """Weights of the right shapes for ``arch`` (narrower than the real nets: ``width`` features)."""
    rng = np.random.default_rng(seed)

    def t(*shape: int) -> Arr:
        return (rng.standard_normal(shape) * (1.0 / np.sqrt(np.prod(shape[1:])))).astype(np.float32)

    p: dict[str, Arr] = {}
    if arch in ("vgg7", "upconv7"):
        widths = [channels, width, width, 2 * width, 2 * width, 4 * width, 4 * width]
        for i in range(1, 7):
            p[f"conv{i}/W"], p[f"conv{i}/b"] = t(widths[i], widths[i - 1], 3, 3), t(widths[i])
        if arch == "vgg7":
            p["conv7/W"], p["conv7/b"] = t(channels, widths[6], 3, 3), t(channels)
        else:
            p["conv7/W"] = t(widths[6], channels, 4, 4)
        return p
    p["conv_pre/W"], p["conv_pre/b"] = t(width, channels, 3, 3), t(width)
    for i in range(1, 6):
        for c in ("conv1", "conv2"):
            p[f"res{i}/{c}/W"], p[f"res{i}/{c}/b"] = t(width, width, 3, 3), t(width)
        if arch == "upresnet10":
            p[f"res{i}/fc1/W"], p[f"res{i}/fc1/b"] = t(width // 4, width), t(width // 4)
            p[f"res{i}/fc2/W"], p[f"res{i}/fc2/b"] = t(width, width // 4), t(width)
    p["conv_bridge/W"], p["conv_bridge/b"] = t(width, width, 3, 3), t(width)
    if arch == "upresnet10":
        p["conv_post/W"] = t(width, channels, 4, 4)
    else:
        p["conv_post/W"], p["conv_post/b"] = t(channels, width, 3, 3), t(channels)
    return p


def forward(arch: str, x: Arr, p: dict[str, Arr]) -> dict[str, Arr]:
    if arch == "vgg7":
        return vgg7(x, p)
    if arch == "upconv7":
        return upconv7(x, p)
    return resnet10(x, p, up=arch == "upresnet10")
