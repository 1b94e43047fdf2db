"""Our own reader of ncnn models (``.param`` text + ``.bin`` weights), checked before anything runs them.

Every backend that is not ncnn itself builds its network from what this reader returns (OpenVINO today),
and models an operator adds are read by it before any native parser sees them: it accepts only the layer
kinds and parameters it knows, and refuses a file that is malformed, inconsistent or too large with a
:class:`~enhanceit.errors.ModelIntegrityError` naming the layer.

The format, as ncnn reads it:

* ``.param``: the magic ``7767517``, a line ``<layers> <blobs>``, then one line per layer:
  ``Type name n_in n_out in_blobs… out_blobs… key=value …``. Keys are 0..31; a value with ``.`` or ``e`` is a
  float, else an int; an array is written under key ``-23300 - key`` as ``count,v1,v2,…``. A blob is made by
  one layer, before the layers that use it (usually one: ``Split`` makes copies; a two-input ``Crop`` may
  take its size from a blob that another layer uses too).
* ``.bin``: each layer's weights in layer order, with no header and no padding between layers. A weight
  matrix starts with a 4-byte tag: 0 for float32 data, ``0x01306B47`` for float16 (its data padded to 4
  bytes); a bias, a slope or a constant has no tag and is float32.

What a layer's parameters mean (the keys this reader looks at) is written beside each kind below; the
OpenVINO builder (:mod:`enhanceit.engine.openvino_backend`) gives each kind its meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from enhanceit.errors import ModelIntegrityError

Float32Array = npt.NDArray[np.float32]
ParamValue = int | float | tuple[float, ...]

MAGIC = "7767517"
TAG_FLOAT32 = 0
TAG_FLOAT16 = 0x01306B47
ARRAY_KEY_BASE = -23300
MAX_KEY = 31  # ncnn's NCNN_MAX_PARAM_COUNT is 32

#: Bounds a model must keep: ours are far inside them (the largest, Real-ESRGAN x4plus, has 999 layers
#: and 67 MB of weights), and a file past them is refused before any array is made.
MAX_LAYERS = 4096
MAX_PARAM_BYTES = 16 << 20
MAX_WEIGHT_BYTES = 1 << 30
MAX_CHANNELS = 4096
MAX_KERNEL = 15
MAX_STRIDE = 8
MAX_ARRAY = 64

_NAME = re.compile(r"[A-Za-z0-9_./:\-]{1,128}\Z")

#: Layer kinds this reader knows, with the keys it accepts for each (any other key is refused, so a
#: parameter that would change a layer's meaning is never silently ignored).
KNOWN: dict[str, frozenset[int]] = {
    "Input": frozenset({0, 1, 2, 11}),  # 0=w 1=h 2=c: a size hint only
    "Split": frozenset(),
    # 0 num_output, 1/11 kernel w/h, 2/12 dilation, 3/13 stride, 4/14/15/16 pads left/top/right/bottom,
    # 5 bias_term, 6 weight_data_size, 9 activation (0 none, 1 relu, 2 leaky, 3 clip, 4 sigmoid), 10 its args
    "Convolution": frozenset({0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16}),
    # as Convolution; the pads are cut from the result, 18/19 add output padding right/bottom
    "Deconvolution": frozenset({0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19}),
    "InnerProduct": frozenset({0, 1, 2, 9, 10}),  # 0 num_output, 1 bias_term, 2 weight_data_size, 9/10 activation
    "Pooling": frozenset({0, 4}),  # 0 type (0 max, 1 average), 4 global: only global pooling is supported
    "Scale": frozenset({0, 1}),  # 0 scale_data_size (-233: the second input), 1 bias_term
    "Crop": frozenset(
        {0, 1, 9, 10, 11}
    ),  # 0/1 w/h offsets (two inputs: to the second's size); 9/10/11 starts/ends/axes
    "Eltwise": frozenset({0, 1}),  # 0 op (0 product, 1 sum, 2 max), 1 coefficients (array)
    # 0 op (0 add 1 sub 2 mul 3 div 4 max 5 min 6 pow 7 rsub 8 rdiv), 1 with a scalar, 2 the scalar
    "BinaryOp": frozenset({0, 1, 2}),
    "Concat": frozenset({0}),  # 0 axis (0 = channels)
    "Interp": frozenset({0, 1, 2, 3, 4, 6}),  # 0 mode (1 nearest 2 bilinear 3 bicubic), 1/2 h/w scale, 3/4 size
    "PixelShuffle": frozenset({0, 1}),  # 0 upscale factor, 1 mode (0: PyTorch's order)
    "ReLU": frozenset({0}),  # 0 slope
    "PReLU": frozenset({0}),  # 0 slopes count (1: one for every channel)
    "Sigmoid": frozenset(),
    "Swish": frozenset(),
    "MemoryData": frozenset({0, 1, 2}),  # a constant of w x h x c
}


@dataclass(frozen=True)
class Layer:
    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, ParamValue]
    #: The layer's arrays from ``.bin`` in ncnn's order, shaped (a convolution's is [out][in][kh][kw]).
    weights: tuple[Float32Array, ...] = field(default=())

    def integer(self, key: int, default: int = 0) -> int:
        value = self.params.get(key, default)
        if isinstance(value, tuple) or int(value) != value:
            raise ModelIntegrityError(f"layer {self.name}: parameter {key} must be a whole number")
        return int(value)

    def number(self, key: int, default: float = 0.0) -> float:
        value = self.params.get(key, default)
        if isinstance(value, tuple):
            raise ModelIntegrityError(f"layer {self.name}: parameter {key} must be a number")
        return float(value)

    def numbers(self, key: int) -> tuple[float, ...]:
        value = self.params.get(key, ())
        if not isinstance(value, tuple):
            raise ModelIntegrityError(f"layer {self.name}: parameter {key} must be an array")
        return value


@dataclass(frozen=True)
class Graph:
    layers: tuple[Layer, ...]

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(layer.outputs[0] for layer in self.layers if layer.kind == "Input")

    def blobs(self) -> set[str]:
        return {blob for layer in self.layers for blob in layer.outputs}

    @property
    def outputs(self) -> tuple[str, ...]:
        """The blobs no layer reads: what the net gives."""
        used = {blob for layer in self.layers for blob in layer.inputs}
        return tuple(blob for layer in self.layers for blob in layer.outputs if blob not in used)


def _value(text: str, where: str) -> int | float:
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise ModelIntegrityError(f"{where}: {text!r} is not a number") from None


def _parse_params(fields: list[str], where: str) -> dict[int, ParamValue]:
    params: dict[int, ParamValue] = {}
    for item in fields:
        key_text, sep, value_text = item.partition("=")
        try:
            key = int(key_text)
        except ValueError:
            key = None
        if not sep or key is None:
            raise ModelIntegrityError(f"{where}: {item!r} is not key=value")
        if key <= ARRAY_KEY_BASE:
            key = ARRAY_KEY_BASE - key
            parts = value_text.split(",")
            count = _value(parts[0], where)
            if not isinstance(count, int) or not 0 <= count <= MAX_ARRAY or count != len(parts) - 1:
                raise ModelIntegrityError(f"{where}: array {key} does not hold the count it declares")
            value: ParamValue = tuple(float(_value(p, where)) for p in parts[1:])
        else:
            value = _value(value_text, where)
        if not 0 <= key <= MAX_KEY or key in params:
            raise ModelIntegrityError(f"{where}: parameter key {key} is out of range or given twice")
        if not np.isfinite(value).all():
            raise ModelIntegrityError(f"{where}: parameter {key} is not finite")
        params[key] = value
    return params


def parse_param(text: str) -> list[Layer]:
    """The layers of a ``.param`` file, checked for form and wiring; no weights yet."""
    if len(text) > MAX_PARAM_BYTES:
        raise ModelIntegrityError("the .param file is too large")
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [MAGIC]:
        raise ModelIntegrityError(f"not an ncnn .param file (the first line must be {MAGIC})")
    if len(lines) < 2 or len(lines[1]) != 2 or not all(v.isdigit() for v in lines[1]):
        raise ModelIntegrityError("the .param file's second line must be '<layers> <blobs>'")
    layer_count, blob_count = int(lines[1][0]), int(lines[1][1])
    if layer_count > MAX_LAYERS:
        raise ModelIntegrityError(f"the net has {layer_count} layers; at most {MAX_LAYERS} are accepted")
    if layer_count != len(lines) - 2:
        raise ModelIntegrityError(f"the .param file declares {layer_count} layers and has {len(lines) - 2}")
    layers: list[Layer] = []
    made: set[str] = set()
    names: set[str] = set()
    for number, fields in enumerate(lines[2:], start=1):
        where = f"layer {number}"
        if len(fields) < 4 or not fields[2].isdigit() or not fields[3].isdigit():
            raise ModelIntegrityError(f"{where}: expected 'Type name inputs outputs …'")
        kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
        where = f"layer {number} ({name})" if _NAME.match(name) else where
        if kind not in KNOWN:
            raise ModelIntegrityError(f"{where}: layer kind {kind[:40]!r} is not supported")
        if not _NAME.match(name) or name in names:
            raise ModelIntegrityError(f"{where}: bad or repeated layer name")
        if len(fields) < 4 + n_in + n_out:
            raise ModelIntegrityError(f"{where}: fewer blob names than it declares")
        inputs, outputs = fields[4 : 4 + n_in], fields[4 + n_in : 4 + n_in + n_out]
        for blob in inputs:
            if blob not in made:
                raise ModelIntegrityError(f"{where}: input blob {blob[:40]!r} is not made by an earlier layer")
        for blob in outputs:
            if not _NAME.match(blob) or blob in made:
                raise ModelIntegrityError(f"{where}: bad or repeated output blob name")
            made.add(blob)
        params = _parse_params(fields[4 + n_in + n_out :], where)
        unknown = set(params) - KNOWN[kind]
        if unknown:
            raise ModelIntegrityError(f"{where}: {kind} parameter {min(unknown)} is not supported")
        names.add(name)
        layers.append(Layer(kind, name, tuple(inputs), tuple(outputs), params))
    if len(made) != blob_count:
        raise ModelIntegrityError(f"the .param file declares {blob_count} blobs and makes {len(made)}")
    inputs = [layer.name for layer in layers if layer.kind == "Input"]
    if len(inputs) != 1:
        raise ModelIntegrityError(f"the net must have one Input layer; it has {len(inputs)}")
    used = {blob for layer in layers for blob in layer.inputs}
    ends = [blob for blob in made if blob not in used]
    if len(ends) != 1:  # a blob nothing reads is a second output, or a branch left dangling
        raise ModelIntegrityError(f"the net must give one output blob; {len(ends)} are read by no layer")
    return layers


class _Weights:
    """A cursor over the ``.bin`` bytes that never reads past their end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def _take(self, size: int, where: str) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise ModelIntegrityError(f"{where}: the .bin file ends before this layer's weights")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def raw(self, count: int, where: str) -> Float32Array:
        array = np.frombuffer(self._take(4 * count, where), dtype="<f4").astype(np.float32)
        return self._finite(array, where)

    def tagged(self, count: int, where: str) -> Float32Array:
        tag = int.from_bytes(self._take(4, where), "little")
        if tag == TAG_FLOAT32:
            return self.raw(count, where)
        if tag == TAG_FLOAT16:
            data = self._take((2 * count + 3) // 4 * 4, where)
            return self._finite(np.frombuffer(data[: 2 * count], dtype="<f2").astype(np.float32), where)
        raise ModelIntegrityError(f"{where}: weight encoding {tag:#x} is not supported (float32 or float16 only)")

    @staticmethod
    def _finite(array: Float32Array, where: str) -> Float32Array:
        if not np.isfinite(array).all():
            raise ModelIntegrityError(f"{where}: the weights hold a value that is not finite")
        return array


def _bounded(layer: Layer, key: int, low: int, high: int, default: int | None = None) -> int:
    value = layer.integer(key, low if default is None else default)
    if not low <= value <= high:
        raise ModelIntegrityError(f"layer {layer.name}: parameter {key} = {value} is outside {low}..{high}")
    return value


def _conv_weights(layer: Layer, cursor: _Weights) -> tuple[Float32Array, ...]:
    where = f"layer {layer.name}"
    out = _bounded(layer, 0, 1, MAX_CHANNELS)
    kw = _bounded(layer, 1, 1, MAX_KERNEL)
    kh = _bounded(layer, 11, 1, MAX_KERNEL, default=kw)
    for key in (2, 12):
        _bounded(layer, key, 1, MAX_KERNEL, default=1)
    for key in (3, 13):
        _bounded(layer, key, 1, MAX_STRIDE, default=1)
    for key in (4, 14, 15, 16, 18, 19):
        _bounded(layer, key, 0, MAX_KERNEL)
    _bounded(layer, 9, 0, 4)
    size = _bounded(layer, 6, 1, MAX_WEIGHT_BYTES // 4)
    if size % (out * kh * kw):
        raise ModelIntegrityError(f"{where}: weight_data_size {size} does not divide into {out}x?x{kh}x{kw}")
    inp = size // (out * kh * kw)
    if inp > MAX_CHANNELS:
        raise ModelIntegrityError(f"{where}: {inp} input channels")
    arrays = [cursor.tagged(size, where).reshape(out, inp, kh, kw)]
    if _bounded(layer, 5, 0, 1):
        arrays.append(cursor.raw(out, where))
    return tuple(arrays)


def _dense_weights(layer: Layer, cursor: _Weights) -> tuple[Float32Array, ...]:
    where = f"layer {layer.name}"
    out = _bounded(layer, 0, 1, MAX_CHANNELS)
    size = _bounded(layer, 2, 1, MAX_CHANNELS * MAX_CHANNELS)
    _bounded(layer, 9, 0, 4)
    if size % out:
        raise ModelIntegrityError(f"{where}: weight_data_size {size} does not divide by {out} outputs")
    arrays = [cursor.tagged(size, where).reshape(out, size // out)]
    if _bounded(layer, 1, 0, 1):
        arrays.append(cursor.raw(out, where))
    return tuple(arrays)


def _layer_weights(layer: Layer, cursor: _Weights) -> tuple[Float32Array, ...]:
    where = f"layer {layer.name}"
    if layer.kind in ("Convolution", "Deconvolution"):
        return _conv_weights(layer, cursor)
    if layer.kind == "InnerProduct":
        return _dense_weights(layer, cursor)
    if layer.kind == "PReLU":
        return (cursor.raw(_bounded(layer, 0, 1, MAX_CHANNELS), where),)
    if layer.kind == "MemoryData":
        w, h, c = (_bounded(layer, k, 1, MAX_CHANNELS, default=1) for k in (0, 1, 2))
        return (cursor.raw(w * h * c, where).reshape(c, h, w),)
    if layer.kind == "Scale":
        size = layer.integer(0)
        if size == -233:
            if len(layer.inputs) != 2:
                raise ModelIntegrityError(f"{where}: a Scale without its own data takes two inputs")
            return ()
        count = _bounded(layer, 0, 1, MAX_CHANNELS)
        arrays = [cursor.raw(count, where)]
        if _bounded(layer, 1, 0, 1):
            arrays.append(cursor.raw(count, where))
        return tuple(arrays)
    return ()


def read(param: Path, weights: Path) -> Graph:
    """The whole model: its layers with their weights, every part checked; the ``.bin`` must be used up."""
    return from_bytes(*load(param, weights))


def load(param: Path, weights: Path) -> tuple[str, bytes]:
    """The two files' contents, each refused by its size before it is read whole, and the ``.param``
    parsed before the weights are read at all."""
    if param.stat().st_size > MAX_PARAM_BYTES:
        raise ModelIntegrityError(f"{param.name} is larger than {MAX_PARAM_BYTES >> 20} MB")
    try:
        text = param.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise ModelIntegrityError(f"{param.name} is not an ncnn .param file (not ASCII text)") from None
    parse_param(text)
    if weights.stat().st_size > MAX_WEIGHT_BYTES:
        raise ModelIntegrityError(f"{weights.name} is larger than {MAX_WEIGHT_BYTES >> 20} MB")
    return text, weights.read_bytes()


def from_bytes(text: str, data: bytes) -> Graph:
    layers = parse_param(text)
    cursor = _Weights(data)
    loaded = tuple(
        Layer(layer.kind, layer.name, layer.inputs, layer.outputs, layer.params, _layer_weights(layer, cursor))
        for layer in layers
    )
    if cursor.at != len(data):
        raise ModelIntegrityError(
            f"the .bin file has {len(data) - cursor.at} bytes more than the .param file's layers take"
        )
    return Graph(loaded)
