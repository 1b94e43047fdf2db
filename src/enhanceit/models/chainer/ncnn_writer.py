"""Write ncnn models (``.param`` text + ``.bin`` weights) from numpy arrays.

The format, as ncnn reads it:

* ``.param``: the magic ``7767517``, a line ``<layers> <blobs>``, then one line per layer:
  ``Type name n_in n_out in_blobs… out_blobs… key=value …``; an array value is written under key
  ``-23300 - key`` as ``count,v1,v2,…``. A blob consumed by two layers needs an explicit ``Split``.
* ``.bin``: each layer's weights in layer order, no header. A weight matrix is a 4-byte tag
  (0 = raw float32) followed by its float32 data; a bias vector is plain float32.

Output is deterministic (same arrays, same bytes), so converted files can be pinned by sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]
ParamValue = int | float | list[float]

LEAKY_RELU = 2
RELU = 1
SIGMOID = 4


def _format(value: ParamValue) -> str:
    if isinstance(value, list):
        return ",".join([str(len(value)), *(f"{v:e}" for v in value)])
    if isinstance(value, float):
        return f"{value:e}"
    return str(value)


@dataclass
class Graph:
    layers: list[str] = field(default_factory=list)
    weights: bytearray = field(default_factory=bytearray)
    blobs: list[str] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)

    def _add(self, kind: str, name: str, inputs: list[str], outputs: list[str], params: dict[int, ParamValue]) -> None:
        if name in self._names:
            raise ValueError(f"layer {name!r} defined twice")
        self._names.add(name)
        for blob in outputs:
            if blob in self.blobs:
                raise ValueError(f"blob {blob!r} produced twice")
            self.blobs.append(blob)
        fields = [f"{kind:<24}", f"{name:<24}", str(len(inputs)), str(len(outputs)), *inputs, *outputs]
        for key, value in params.items():
            fields.append(f"{-23300 - key if isinstance(value, list) else key}={_format(value)}")
        self.layers.append(" ".join(fields))

    def _weight(self, array: npt.NDArray[np.floating]) -> None:
        self.weights += b"\0\0\0\0"
        self.weights += np.ascontiguousarray(array, dtype="<f4").tobytes()

    def _bias(self, array: npt.NDArray[np.floating]) -> None:
        self.weights += np.ascontiguousarray(array, dtype="<f4").tobytes()

    def input(self, name: str = "input") -> str:
        self._add("Input", name, [], [name], {})
        return name

    def split(self, blob: str, count: int = 2) -> list[str]:
        outs = [f"{blob}_split{i}" for i in range(count)]
        self._add("Split", f"{blob}_split", [blob], outs, {})
        return outs

    def conv(self, blob: str, name: str, w: Float32Array, b: Float32Array | None, leaky: float | None = None) -> str:
        """Valid (unpadded) stride-1 convolution; Chainer and ncnn both store weights [out][in][kh][kw]."""
        out_ch, _, kh, kw = w.shape
        params: dict[int, ParamValue] = {0: out_ch, 1: kw, 11: kh, 5: int(b is not None), 6: int(w.size)}
        if leaky is not None:
            params |= {9: LEAKY_RELU, 10: [leaky]}
        self._add("Convolution", name, [blob], [name], params)
        self._weight(w)
        if b is not None:
            self._bias(b)
        return name

    def deconv(self, blob: str, name: str, w_chainer: Float32Array, stride: int, pad: int) -> str:
        """Transposed convolution without bias. Chainer stores [in][out][kh][kw], ncnn [out][in][kh][kw]
        (a transpose, no kernel flip); ``pad`` pixels are cut from every side of the result."""
        w = np.ascontiguousarray(w_chainer.transpose(1, 0, 2, 3))
        out_ch, _, kh, kw = w.shape
        params: dict[int, ParamValue] = {0: out_ch, 1: kw, 11: kh, 3: stride, 4: pad, 5: 0, 6: int(w.size)}
        self._add("Deconvolution", name, [blob], [name], params)
        self._weight(w)
        return name

    def crop_like(self, blob: str, like: str, name: str, offset: int) -> str:
        """``blob`` cut to the size of ``like``, starting ``offset`` pixels in from the top left."""
        self._add("Crop", name, [blob, like], [name], {0: offset, 1: offset})
        return name

    def add(self, a: str, b: str, name: str) -> str:
        self._add("Eltwise", name, [a, b], [name], {0: 1})
        return name

    def global_average(self, blob: str, name: str) -> str:
        self._add("Pooling", name, [blob], [name], {0: 1, 4: 1})
        return name

    def dense(self, blob: str, name: str, w: Float32Array, b: Float32Array, activation: int) -> str:
        """Fully connected layer; Chainer's Linear and ncnn's InnerProduct both store [out][in]."""
        self._add("InnerProduct", name, [blob], [name], {0: int(w.shape[0]), 1: 1, 2: int(w.size), 9: activation})
        self._weight(w)
        self._bias(b)
        return name

    def scale_channels(self, blob: str, scales: str, name: str) -> str:
        """Multiply each channel of ``blob`` by the matching entry of the 1-D blob ``scales``."""
        self._add("BinaryOp", name, [blob, scales], [name], {0: 2})
        return name

    def param_text(self) -> str:
        return "\n".join(["7767517", f"{len(self.layers)} {len(self.blobs)}", *self.layers]) + "\n"

    def bin_bytes(self) -> bytes:
        return bytes(self.weights)
