"""Networks run by OpenVINO on the CPU: bf16 on the matrix units of CPUs that have them, f32 elsewhere.

The network is built from the zoo's own ncnn files, read by :mod:`enhanceit.models.ncnnfile` (one reader,
no second copy of the weights), with OpenVINO's opset API: each ncnn layer kind becomes one or a few
OpenVINO operations (:data:`BUILDERS`). Every blob is four-dimensional, ``[1, C, H, W]``; the flat blobs of
ncnn (after global pooling and InnerProduct) are ``[1, C, 1, 1]``, so a per-channel product is plain
broadcasting.

Shapes are static: a network is compiled for one input shape, the tile the engine chose (compiling takes
0.1–0.7 s, and OpenVINO's own cache on disk makes a second start load the result instead), so every tile
of every image larger than a tile runs on it. A smaller input (an image smaller than one tile) of a net
whose tiles are exact (convolutions only) is padded at its bottom and right edges to a shape rounded up to
:data:`SHAPE_STEP` and its output cut back, so such images share a few compiled shapes. Nets with
squeeze-excitation blocks pool over the whole tile, padding included (up to 6/255 off waifu2x-chainer's
picture, measured), so for them, as for larger inputs, the input's own shape is compiled.

A call runs on every thread the net was given (one infer request per call in flight). Several
single-thread streams, one tile each, were measured no faster on CUnet bf16 (0.32 against 0.31 µs per
output pixel at tile 256) and held 100 MB more, so the engine runs one tile at a time.

OpenVINO's exceptions are translated where it is called (:func:`~enhanceit.engine.boundary.runtime_errors`):
building or compiling a shape fails as :class:`~enhanceit.errors.EngineLoadError` (a file whose layers do not
agree, as read here, as :class:`~enhanceit.errors.ModelIntegrityError`), a call as
:class:`~enhanceit.errors.InferenceError`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from enhanceit.engine.base import FloatImage
from enhanceit.engine.boundary import runtime_errors
from enhanceit.engine.tiles import round_up
from enhanceit.errors import EngineError, EngineLoadError, InferenceError, ModelIntegrityError
from enhanceit.models import ncnnfile
from enhanceit.models.ncnnfile import Layer
from enhanceit.models.spec import Net

#: Inputs smaller than the compiled tile are padded up to a multiple of this (input pixels a side).
SHAPE_STEP = 64
#: Compiled shapes kept per net, the tile's included; the least recently used other one goes first. Each
#: holds its own copy of the weights in OpenVINO's layout (14 MB for CUnet, about 90 for x4plus).
MAX_SHAPES = 3

Node = Any  # an OpenVINO output (ov.Output); the Python API has no precise types
Ops = Any  # the openvino.opset13 module


def foreign() -> tuple[type[Exception], ...]:
    """What OpenVINO raises: its C++ exceptions arrive as RuntimeError (a compile's "Wrong value f8 for
    property key INFERENCE_PRECISION_HINT", measured), its Python layer's checks as OVError."""
    from openvino.exceptions import OVError

    return (RuntimeError, OVError)


def _activation(ops: Ops, layer: Layer, x: Node, key: int = 9, args: int = 10) -> Node:
    kind = layer.integer(key)
    values = layer.numbers(args)
    if kind == 0:
        return x
    if kind == 1:
        return ops.relu(x)
    if kind == 2:
        slope = values[0] if values else 0.0
        return ops.maximum(x, ops.multiply(x, _const(ops, slope)))
    if kind == 3:
        return ops.clamp(x, values[0], values[1])
    if kind == 4:
        return ops.sigmoid(x)
    raise ModelIntegrityError(f"layer {layer.name}: activation {kind} is not supported")


def _const(ops: Ops, value: float | np.ndarray) -> Node:
    return ops.constant(np.asarray(value, dtype=np.float32))


def _channels(array: np.ndarray) -> np.ndarray:
    """A per-channel vector as ``[1, C, 1, 1]``, to broadcast over a feature map."""
    return array.reshape(1, -1, 1, 1)


def _pads(layer: Layer) -> tuple[list[int], list[int]]:
    left = layer.integer(4)
    top = layer.integer(14, left)
    return [top, left], [layer.integer(16, top), layer.integer(15, left)]


def _convolution(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    stride_w, dilation_w = layer.integer(3, 1), layer.integer(2, 1)
    begin, end = _pads(layer)
    y = ops.convolution(
        xs[0],
        _const(ops, layer.weights[0]),
        strides=[layer.integer(13, stride_w), stride_w],
        pads_begin=begin,
        pads_end=end,
        dilations=[layer.integer(12, dilation_w), dilation_w],
    )
    if len(layer.weights) > 1:
        y = ops.add(y, _const(ops, _channels(layer.weights[1])))
    return [_activation(ops, layer, y)]


def _deconvolution(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    # ncnn keeps [out][in][kh][kw]; OpenVINO's transposed convolution takes [in][out][kh][kw]. No flip.
    weights = np.ascontiguousarray(layer.weights[0].transpose(1, 0, 2, 3))
    stride_w, dilation_w = layer.integer(3, 1), layer.integer(2, 1)
    begin, end = _pads(layer)
    y = ops.convolution_backprop_data(
        xs[0],
        _const(ops, weights),
        strides=[layer.integer(13, stride_w), stride_w],
        pads_begin=begin,  # by keyword: the third positional argument is the output shape
        pads_end=end,
        dilations=[layer.integer(12, dilation_w), dilation_w],
        output_padding=[layer.integer(19), layer.integer(18)],
    )
    if len(layer.weights) > 1:
        y = ops.add(y, _const(ops, _channels(layer.weights[1])))
    return [_activation(ops, layer, y)]


def _inner_product(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    weights = layer.weights[0]
    y = ops.convolution(
        xs[0], _const(ops, weights.reshape(*weights.shape, 1, 1)), [1, 1], [0, 0], [0, 0], [1, 1]
    )  # on a [1, C, 1, 1] blob, a 1x1 convolution
    if len(layer.weights) > 1:
        y = ops.add(y, _const(ops, _channels(layer.weights[1])))
    return [_activation(ops, layer, y)]


def _pooling(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    if not layer.integer(4):
        raise ModelIntegrityError(f"layer {layer.name}: only global pooling is supported")
    axes = _const_int(ops, [2, 3])
    if layer.integer(0) == 1:
        return [ops.reduce_mean(xs[0], axes, keep_dims=True)]
    return [ops.reduce_max(xs[0], axes, keep_dims=True)]


def _const_int(ops: Ops, values: Sequence[int]) -> Node:
    return ops.constant(np.asarray(values, dtype=np.int64))


def _scale(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    if len(xs) == 2:
        return [ops.multiply(xs[0], xs[1])]
    y = ops.multiply(xs[0], _const(ops, _channels(layer.weights[0])))
    if len(layer.weights) > 1:
        y = ops.add(y, _const(ops, _channels(layer.weights[1])))
    return [y]


def _static(node: Node) -> list[int]:
    return [int(d) for d in node.get_shape()]


def _crop(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    if len(xs) == 2:  # to the second blob's height and width, from the given offsets
        top, left = layer.integer(1), layer.integer(0)
        _, _, h, w = _static(xs[1])
        start, stop = [top, left], [top + h, left + w]
        axes = [2, 3]
    else:  # starts, ends (negative: from the end) and axes of a (c, h, w) blob, as in Python slicing
        start, stop = [int(v) for v in layer.numbers(9)], [int(v) for v in layer.numbers(10)]
        axes = [int(a) + 4 if a < 0 else int(a) + 1 for a in layer.numbers(11)]
        if not (len(start) == len(stop) == len(axes)) or not set(axes) <= {1, 2, 3}:
            raise ModelIntegrityError(f"layer {layer.name}: starts, ends and axes do not match")
    ones = [1] * len(axes)
    return [
        ops.slice(xs[0], _const_int(ops, start), _const_int(ops, stop), _const_int(ops, ones), _const_int(ops, axes))
    ]


def _eltwise(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    op = layer.integer(0, 1)
    coeffs = layer.numbers(1)
    if coeffs and (op != 1 or len(coeffs) != len(xs)):
        raise ModelIntegrityError(f"layer {layer.name}: coefficients apply to a sum of as many inputs")
    terms = [
        ops.multiply(x, _const(ops, c)) if coeffs and c != 1.0 else x
        for x, c in zip(xs, coeffs or [1.0] * len(xs), strict=True)
    ]
    combine = {0: ops.multiply, 1: ops.add, 2: ops.maximum}.get(op)
    if combine is None:
        raise ModelIntegrityError(f"layer {layer.name}: Eltwise operation {op} is not supported")
    y = terms[0]
    for term in terms[1:]:
        y = combine(y, term)
    return [y]


def _binary(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    a = xs[0]
    b = _const(ops, layer.number(2)) if layer.integer(1) else xs[1]
    table: dict[int, Callable[[Node, Node], Node]] = {
        0: ops.add,
        1: ops.subtract,
        2: ops.multiply,
        3: ops.divide,
        4: ops.maximum,
        5: ops.minimum,
        6: ops.power,
        7: lambda x, y: ops.subtract(y, x),
        8: lambda x, y: ops.divide(y, x),
    }
    op = layer.integer(0)
    if op not in table:
        raise ModelIntegrityError(f"layer {layer.name}: BinaryOp operation {op} is not supported")
    return [table[op](a, b)]


def _concat(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    axis = layer.integer(0)
    return [ops.concat(xs, axis + 1 if axis >= 0 else axis)]


def _interp(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    mode = {1: "nearest", 2: "linear", 3: "cubic"}.get(layer.integer(0, 1))
    if mode is None or layer.integer(6):
        raise ModelIntegrityError(f"layer {layer.name}: this Interp mode is not supported")
    _, _, h, w = _static(xs[0])
    out_h = layer.integer(3) or int(h * layer.number(1, 1.0))
    out_w = layer.integer(4) or int(w * layer.number(2, 1.0))
    # ncnn: nearest takes floor(dst * in / out); linear and cubic sample at (dst + 0.5) * in / out - 0.5,
    # cubic with a = -0.75, without antialiasing: OpenVINO's asymmetric/floor and half_pixel modes.
    return [
        ops.interpolate(
            xs[0],
            _const_int(ops, [out_h, out_w]),
            mode,
            "sizes",
            axes=_const_int(ops, [2, 3]),
            coordinate_transformation_mode="asymmetric" if mode == "nearest" else "half_pixel",
            nearest_mode="floor",
            cube_coeff=-0.75,
        )
    ]


def _pixel_shuffle(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    if layer.integer(1):
        raise ModelIntegrityError(f"layer {layer.name}: PixelShuffle mode {layer.integer(1)} is not supported")
    return [ops.depth_to_space(xs[0], "depth_first", layer.integer(0))]  # PyTorch's channel order


def _prelu(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    slope = layer.weights[0]
    return [ops.prelu(xs[0], _const(ops, slope if slope.size > 1 else slope.reshape(1)))]


def _relu(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    slope = layer.number(0)
    if slope == 0.0:
        return [ops.relu(xs[0])]
    return [ops.maximum(xs[0], ops.multiply(xs[0], _const(ops, slope)))]


def _memory_data(ops: Ops, layer: Layer, xs: list[Node]) -> list[Node]:
    return [_const(ops, layer.weights[0][np.newaxis])]


#: What each ncnn layer kind becomes; ``Input`` and ``Split`` are wiring, handled by :func:`build`.
BUILDERS: dict[str, Callable[[Ops, Layer, list[Node]], list[Node]]] = {
    "Convolution": _convolution,
    "Deconvolution": _deconvolution,
    "InnerProduct": _inner_product,
    "Pooling": _pooling,
    "Scale": _scale,
    "Crop": _crop,
    "Eltwise": _eltwise,
    "BinaryOp": _binary,
    "Concat": _concat,
    "Interp": _interp,
    "PixelShuffle": _pixel_shuffle,
    "PReLU": _prelu,
    "ReLU": _relu,
    "Sigmoid": lambda ops, layer, xs: [ops.sigmoid(xs[0])],
    "Swish": lambda ops, layer, xs: [ops.swish(xs[0])],
    "MemoryData": _memory_data,
}


def build(graph: ncnnfile.Graph, input_blob: str, output_blob: str, shape: tuple[int, int, int]) -> Any:
    """An ``openvino.Model`` of ``graph`` taking one ``(C, H, W)`` float32 input (batch of one)."""
    import openvino as ov
    import openvino.opset13 as ops

    blobs: dict[str, Node] = {}
    parameter = None
    for layer in graph.layers:
        if layer.kind == "Input":
            node = ops.parameter([1, *shape], np.float32, name=layer.outputs[0])
            if layer.outputs[0] == input_blob:
                parameter = node
            blobs[layer.outputs[0]] = node.output(0)
            continue
        inputs = [blobs.pop(name) for name in layer.inputs]
        if layer.kind == "Split":
            outputs = inputs * len(layer.outputs)
        else:
            try:
                outputs = [_output(node) for node in BUILDERS[layer.kind](ops, layer, inputs)]
            except (RuntimeError, ValueError, TypeError, IndexError) as e:  # shapes that do not agree
                raise ModelIntegrityError(f"layer {layer.name} ({layer.kind}) cannot be built: {e}") from None
        if len(outputs) != len(layer.outputs):
            raise ModelIntegrityError(f"layer {layer.name}: {len(layer.outputs)} outputs expected")
        blobs.update(zip(layer.outputs, outputs, strict=True))
    if parameter is None or output_blob not in blobs:
        raise ModelIntegrityError(f"the model has no input {input_blob!r} or output {output_blob!r}")
    return ov.Model([blobs[output_blob]], [parameter], "enhanceit")


def _output(node: Node) -> Node:
    return node.output(0) if hasattr(node, "output") else node


class OpenVinoBackend:
    """One net compiled by OpenVINO for the CPU, in ``precision`` (``bf16`` or ``f32``)."""

    def __init__(
        self,
        net: Net,
        param: Path,
        weights: Path,
        *,
        threads: int,
        precision: str = "f32",
        input_side: int | None = None,
        exact_tiling: bool = False,
        cache_dir: Path | None = None,
    ) -> None:
        self.net = net
        self.name = "openvino"
        self.threads = max(1, threads)
        self.precision = precision
        self.cache_dir = cache_dir if cache_dir is not None and _writable(cache_dir) else None
        self.exact_tiling = exact_tiling
        self._files = (param, weights)
        self._lock = threading.Lock()
        self._compiled: dict[tuple[int, int, int], Any] = {}
        self._requests: dict[tuple[int, int, int], list[Any]] = {}
        self._main: tuple[int, int, int] | None = None
        #: Calls running now: a compiled model's memory may be let go only while none is.
        self._running = 0
        self._channels = 1 if net.color == "y" else 3
        #: Whether the last compiled shape came from OpenVINO's cache on disk (a restart) rather than a compile.
        self.from_cache = False
        if input_side:
            # compiled now, not at its first use: what loading a net costs is measured when it loads and
            # counts against the memory budget (an image smaller than a tile then compiles a second shape)
            self._main = (self._channels, input_side, input_side)
            self._compile(self._main)

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": self.precision,
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        if self.cache_dir is not None:
            config["CACHE_DIR"] = str(self.cache_dir)
        return config

    def _compile(self, shape: tuple[int, int, int]) -> Any:
        compiled = self._compiled.pop(shape, None)
        if compiled is not None:
            self._compiled[shape] = compiled  # the most recently used last
        else:
            others = [s for s in self._compiled if s != self._main]
            if len(self._compiled) >= MAX_SHAPES and others:  # a call still running keeps its own alive
                del self._compiled[others[0]], self._requests[others[0]]
            # read again for each shape: holding the float32 arrays between compiles would double the
            # memory of a loaded net (67 MB for Real-ESRGAN x4plus)
            graph = ncnnfile.read(*self._files)
            size = "x".join(str(n) for n in shape)
            with runtime_errors("OpenVINO", f"compile {self._files[0].name} for {size}", EngineLoadError, foreign()):
                model = build(graph, self.net.input_blob, self.net.output_blob, shape)
                compiled = core().compile_model(model, "CPU", self._config())
                self.from_cache = bool(compiled.get_property("LOADED_FROM_CACHE"))
            self._compiled[shape] = compiled
            self._requests[shape] = []
        return compiled

    def _shape_for(self, c: int, h: int, w: int) -> tuple[int, int, int]:
        if (c, h, w) in self._compiled:
            return (c, h, w)
        if self.exact_tiling and self._main is not None and h <= self._main[1] and w <= self._main[2]:
            return (c, min(self._main[1], round_up(h, SHAPE_STEP)), min(self._main[2], round_up(w, SHAPE_STEP)))
        return (c, h, w)

    def infer(self, data: FloatImage) -> FloatImage:
        c, h, w = data.shape
        with self._lock:
            shape = self._shape_for(c, h, w)
            self._compile(shape)
            idle = self._requests[shape]
            with runtime_errors("OpenVINO", "start a request", InferenceError, foreign()):
                request = idle.pop() if idle else self._compiled[shape].create_infer_request()
            self._running += 1
        if shape != (c, h, w):
            data = np.pad(data, ((0, 0), (0, shape[1] - h), (0, shape[2] - w)), mode="edge")
        try:
            with runtime_errors("OpenVINO", "run a tile", InferenceError, foreign()):
                request.infer({0: np.ascontiguousarray(data[np.newaxis], dtype=np.float32)})
                out = request.get_output_tensor(0).data[0]
            if shape != (c, h, w):  # cut off what the padding made (the net enlarges its input by ratio)
                ratio = self.net.scale // self.net.pre_upsample
                out = out[:, : out.shape[1] - (shape[1] - h) * ratio, : out.shape[2] - (shape[2] - w) * ratio]
            result = np.array(out, dtype=np.float32, copy=True)
        finally:
            with self._lock:
                self._running -= 1
                back = self._requests.get(shape)  # None: that shape was dropped meanwhile
                if back is not None:
                    back.append(request)
        return result

    def release(self) -> None:
        """A compiled model keeps its feature maps (89 MB for CUnet bf16 at tile 256) after a call: when a pass
        ends, they are let go, with the idle infer requests, unless another job's pass is running on this net
        (OpenVINO lets go only while no request runs). The next call allocates them again."""
        with self._lock:
            if self._running:
                return
            with runtime_errors("OpenVINO", "release memory", EngineError, foreign()):
                for shape, idle in self._requests.items():
                    idle.clear()
                    self._compiled[shape].release_memory()


def _writable(folder: Path) -> bool:
    """Whether compiled nets can be kept in ``folder`` (a read-only data folder just compiles each start)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


_core_lock = threading.Lock()
_core: Any = None


def core() -> Any:
    """The process's one ``openvino.Core`` (it loads the CPU plugin once)."""
    global _core
    with _core_lock:
        if _core is None:
            import openvino as ov

            with runtime_errors("OpenVINO", "start its CPU plugin", EngineLoadError, foreign()):
                _core = ov.Core()
        return _core
