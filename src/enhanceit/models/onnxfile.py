"""ONNX models an operator adds, converted into ncnn files (``.param`` text + ``.bin`` bytes) when added.

The service runs ncnn files only (ncnn itself, or OpenVINO built from :mod:`~enhanceit.models.ncnnfile`'s
graph), so an ``.onnx`` file is converted once, here, and what comes out goes through
:func:`ncnnfile.from_bytes`, the gate every ncnn model passes. The converter is its own first line of
defence too, since it reads a file nobody checked:

* the file's size is bounded before it is parsed, and it is parsed without its external data;
* custom domains, functions, training information and subgraphs (``If``, ``Loop``, ``Scan``) are refused, so
  every node is one of ONNX's own operators with a meaning fixed by its opset;
* every tensor's type and dimensions are checked against ncnnfile's bounds before any of its data is read
  or converted (a declared 2**30 channels is refused, not allocated); external data is read only from plain
  file names beside the ``.onnx`` file, bounded in total;
* only the operators of :data:`OPERATORS` are converted, each into layer kinds ncnnfile knows, with every
  attribute that could change its meaning checked (an unknown one is refused, never ignored).

What each operator becomes (:data:`OPERATORS`):

=====================================  =====================================================================
ONNX                                   ncnn
=====================================  =====================================================================
Conv (2-D, group 1)                    Convolution; a Relu, LeakyRelu or Sigmoid after it folds into it
ConvTranspose (2-D, group 1)           Deconvolution (pads cut, output_padding at the bottom and right)
Relu, LeakyRelu (alpha 0..1)           ReLU (slope)
PRelu (one slope or one per channel)   PReLU
Sigmoid                                Sigmoid
Add, Sub, Mul, Div                     BinaryOp; with a scalar constant, its scalar form (rsub, rdiv when
                                       the constant comes first); a per-channel constant, a MemoryData
Concat (axis 1)                        Concat (axis 0, ncnn's channels)
Resize, Upsample (whole scales 1..8)   Interp: nearest (floor or half-pixel centres), bilinear (half-pixel)
DepthToSpace                           PixelShuffle mode 0: CRD as it is; DCR by reordering the output
                                       channels of the Conv before it
Identity, Constant                     nothing: a blob's other name, a constant
=====================================  =====================================================================

A blob used by several layers is copied by a ``Split`` (ncnn lets a blob go after its first consumer), and
nodes the output does not depend on are dropped.

Every refusal is a :class:`~enhanceit.errors.ModelIntegrityError` of one line naming the node, as
``node 4 'Foo': operator 'NonMaxSuppression' is not supported`` (nodes are counted from 1, as ncnnfile counts
layers).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from enhanceit.errors import ModelIntegrityError
from enhanceit.models import ncnnfile

if TYPE_CHECKING:
    from onnx import AttributeProto, ModelProto, NodeProto, TensorProto, ValueInfoProto

Float32Array = npt.NDArray[np.float32]
ParamValue = int | float | list[float]
_Weight = tuple[Float32Array, bool]

INSTALL_HINT = "pip install 'enhanceit[onnx]'"
#: The weights' own bound, with room for the graph around them.
MAX_FILE_BYTES = ncnnfile.MAX_WEIGHT_BYTES + (64 << 20)
MAX_NODES = 4096
#: The oldest opset whose operators mean what this converter assumes (Upsample-7 onwards).
MIN_OPSET = 7
_DOMAINS = frozenset({"", "ai.onnx"})
_EXTERNAL_KEYS = frozenset({"location", "offset", "length", "checksum", "basepath"})

# Numbers of the ONNX protocol (onnx.proto), used before and without the onnx package's own enums.
_T_FLOAT, _T_FLOAT16 = 1, 10
_A_FLOAT, _A_INT, _A_STRING, _A_TENSOR, _A_GRAPH, _A_FLOATS, _A_INTS, _A_GRAPHS = 1, 2, 3, 4, 5, 6, 7, 10
_EXTERNAL = 1

#: ncnn's activations folded into a convolution (ncnnfile's Convolution key 9).
_ACT_RELU, _ACT_LEAKY, _ACT_SIGMOID = 1, 2, 4
_CONVS = ("Convolution", "Deconvolution")
_BINARY = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3}
#: The same operation with the constant first: ncnn's rsub and rdiv (add and mul commute).
_REVERSED = {0: 0, 1: 7, 2: 2, 3: 8}
_BAD_NAME = re.compile(r"[^A-Za-z0-9_./:\-]")


@dataclass(frozen=True)
class Converted:
    """ncnn files that passed :func:`ncnnfile.from_bytes`, and the blobs a net takes and gives."""

    param: str
    weights: bytes
    input_blob: str
    output_blob: str


@dataclass
class _Layer:
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, ParamValue] = field(default_factory=dict)
    #: (array, tagged): a weight matrix has ncnn's 4-byte type tag, a bias, slope or constant none.
    weights: list[_Weight] = field(default_factory=list)
    #: The ONNX node it came from, for a refusal found after conversion.
    where: str = ""


def _fail(text: str) -> ModelIntegrityError:
    return ModelIntegrityError(text)


def _label(name: str) -> str:
    return repr(name[:60])


def convert(path: Path) -> Converted:
    """The ncnn files of the ONNX model at ``path``, or a one-line :class:`ModelIntegrityError` saying why not."""
    try:
        import onnx
    except ImportError:
        raise _fail(f"reading ONNX models needs the onnx package: {INSTALL_HINT}") from None
    model = _load(onnx, path)
    opset = _check_structure(model)
    tensors = _check_tensors(model)
    if any(tensor.data_location == _EXTERNAL for tensor, _ in tensors):
        _load_external(model, tensors, path.parent)
    converter = _Converter(model, opset)
    converter.run()
    param, weights = converter.write()
    try:
        ncnnfile.from_bytes(param, weights)
    except ModelIntegrityError as e:
        raise _fail(f"the converted model does not pass the ncnn reader: {e}") from None
    return Converted(param, weights, converter.input_blob, converter.output_blob)


def _load(onnx: Any, path: Path) -> ModelProto:
    # protobuf has no type hints here unless types-protobuf is installed
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]

    too_large = _fail(f"{path.name} is larger than {MAX_FILE_BYTES >> 20} MB")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:  # never read
            raise too_large
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # bounded too, should the file grow meanwhile
    except OSError as e:
        raise _fail(f"{path.name} cannot be read: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise too_large
    try:
        # from the bytes read, in the binary format whatever the file's name says, without external data
        model: ModelProto = onnx.load_model_from_string(data, format="protobuf")
    except (DecodeError, ValueError, RuntimeError):
        raise _fail(f"{path.name} is not an ONNX model (it does not parse)") from None
    if not model.HasField("graph") or not model.ir_version:
        raise _fail(f"{path.name} is not an ONNX model (it has no graph)")
    return model


def _check_structure(model: ModelProto) -> int:
    """The opset of ONNX's own operators, once nothing outside them can run: no custom domain, function,
    training step or subgraph."""
    opset = 0
    for entry in model.opset_import:
        if entry.domain not in _DOMAINS:
            raise _fail(f"the model uses the custom operator domain {_label(entry.domain)}")
        opset = entry.version
    from onnx.defs import onnx_opset_version

    if not MIN_OPSET <= opset <= onnx_opset_version():
        raise _fail(f"ONNX opset {opset} is not supported ({MIN_OPSET}..{onnx_opset_version()})")
    if model.functions:
        raise _fail("the model defines functions of its own, which are not supported")
    if model.training_info:
        raise _fail("the model holds training information, which is not supported")
    graph = model.graph
    if graph.sparse_initializer:
        raise _fail("sparse initializers are not supported")
    if len(graph.node) > MAX_NODES:
        raise _fail(f"the model has {len(graph.node)} nodes, more than {MAX_NODES}")
    for index, node in enumerate(graph.node, start=1):
        where = f"node {index} {_label(node.name or node.op_type)}"
        if node.domain not in _DOMAINS:
            raise _fail(f"{where}: operator {_label(node.op_type)} of the custom domain {_label(node.domain)}")
        for attribute in node.attribute:
            if attribute.type in (_A_GRAPH, _A_GRAPHS):
                raise _fail(f"{where}: subgraphs ({node.op_type[:40]}) are not supported")
    return opset


def _all_tensors(model: ModelProto) -> Iterator[tuple[TensorProto, str]]:
    """Every tensor with the words that name it: the initializers and the nodes' (a Constant's value)."""
    for tensor in model.graph.initializer:
        yield tensor, f"initializer {_label(tensor.name)}"
    for index, node in enumerate(model.graph.node, start=1):
        where = f"node {index} {_label(node.name or node.op_type)}"
        for attribute in node.attribute:
            if attribute.type == _A_TENSOR:
                yield attribute.t, where
            for tensor in attribute.tensors:
                yield tensor, where


def _check_tensors(model: ModelProto) -> list[tuple[TensorProto, str]]:
    """Every tensor, its type and dimensions checked against the bounds before any of its data is used."""
    tensors = list(_all_tensors(model))
    total = 0
    for tensor, where in tensors:
        if tensor.data_type not in (_T_FLOAT, _T_FLOAT16):
            raise _fail(f"{where}: element type {tensor.data_type} is not supported (float32 or float16 only)")
        if len(tensor.dims) > 4:
            raise _fail(f"{where}: {len(tensor.dims)} dimensions, at most 4 are supported")
        for dim in tensor.dims:
            if not 0 <= dim <= ncnnfile.MAX_CHANNELS:
                raise _fail(f"{where}: dimension {dim} is outside 0..{ncnnfile.MAX_CHANNELS}")
        total += 4 * math.prod(tensor.dims)  # as float32, as ncnn keeps it
        if total > ncnnfile.MAX_WEIGHT_BYTES:
            raise _fail(f"the weights take more than {ncnnfile.MAX_WEIGHT_BYTES >> 20} MB")
    return tensors


def _load_external(model: ModelProto, tensors: list[tuple[TensorProto, str]], folder: Path) -> None:
    """Data kept beside the model, read only from plain files in the model's own folder."""
    total = 0
    for tensor, where in tensors:
        if tensor.data_location != _EXTERNAL:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        if set(entries) - _EXTERNAL_KEYS:
            raise _fail(f"{where}: unknown external data key {_label(min(set(entries) - _EXTERNAL_KEYS))}")
        location = entries.get("location", "")
        plain = location not in ("", ".", "..") and not any(c in location for c in "/\\\0")
        file = folder / location
        if not plain or file.is_symlink() or not file.is_file():
            raise _fail(f"{where}: external data {_label(location)} is not a file beside the model")
        try:
            offset, length = int(entries.get("offset", "0")), entries.get("length")
            size = file.stat().st_size - offset if length is None else int(length)
        except ValueError:
            raise _fail(f"{where}: external data offset or length is not a number") from None
        if offset < 0 or size < 0 or offset + size > file.stat().st_size:
            raise _fail(f"{where}: external data lies outside {_label(location)}")
        total += size
        if total > ncnnfile.MAX_WEIGHT_BYTES:
            raise _fail(f"the external data is larger than {ncnnfile.MAX_WEIGHT_BYTES >> 20} MB")
    from onnx.external_data_helper import load_external_data_for_model

    try:
        load_external_data_for_model(model, str(folder))
    except (OSError, ValueError, RuntimeError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise _fail(f"the external data cannot be read: {first}") from None


def _array(tensor: TensorProto, where: str) -> Float32Array:
    """A checked tensor's data as float32: as many values as its shape holds, every one finite."""
    count = math.prod(tensor.dims)
    data: npt.NDArray[Any]
    if tensor.data_type == _T_FLOAT:
        data = np.frombuffer(tensor.raw_data, "<f4") if tensor.raw_data else np.asarray(tensor.float_data, "<f4")
    elif tensor.raw_data:
        data = np.frombuffer(tensor.raw_data, "<f2")
    else:  # float16 values travel as their bits in int32_data
        data = (np.asarray(tensor.int32_data, np.int64) & 0xFFFF).astype(np.uint16).view(np.float16)
    if data.size != count:
        raise _fail(f"{where}: holds {data.size} values where its shape needs {count}")
    array = data.astype(np.float32).reshape(tuple(tensor.dims))
    if not np.isfinite(array).all():
        raise _fail(f"{where}: holds a value that is not finite")
    return array


class _Names:
    """Names ncnnfile accepts, unique, made from ONNX's (which may hold any character)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def take(self, wanted: str) -> str:
        base = _BAD_NAME.sub("_", wanted)[:100] or "x"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


class _Node:
    """One ONNX node with typed access to its attributes; every failure names it."""

    def __init__(self, index: int, proto: NodeProto) -> None:
        self.proto = proto
        self.op = proto.op_type
        self.where = f"node {index} {_label(proto.name or proto.op_type)}"
        self.attributes: dict[str, AttributeProto] = {a.name: a for a in proto.attribute}

    def fail(self, text: str) -> ModelIntegrityError:
        return _fail(f"{self.where}: {text}")

    def _get(self, key: str, kind: int, what: str) -> AttributeProto | None:
        attribute = self.attributes.get(key)
        if attribute is not None and attribute.type != kind:
            raise self.fail(f"attribute {key!r} must be {what}")
        return attribute

    def integer(self, key: str, default: int) -> int:
        attribute = self._get(key, _A_INT, "an integer")
        return default if attribute is None else int(attribute.i)

    def integers(self, key: str, default: list[int]) -> list[int]:
        attribute = self._get(key, _A_INTS, "a list of integers")
        values = default if attribute is None else [int(v) for v in attribute.ints]
        if len(values) != len(default):
            raise self.fail(f"attribute {key!r} must hold {len(default)} values (2-D only)")
        return values

    def number(self, key: str, default: float) -> float:
        attribute = self._get(key, _A_FLOAT, "a number")
        return default if attribute is None else float(attribute.f)

    def text(self, key: str, default: str) -> str:
        attribute = self._get(key, _A_STRING, "a string")
        return default if attribute is None else attribute.s.decode("utf-8", "replace")[:40]


class _Converter:
    def __init__(self, model: ModelProto, opset: int) -> None:
        self.graph = model.graph
        self.opset = opset
        self.layers: list[_Layer] = []
        self.layer_names, self.blob_names = _Names(), _Names()
        #: ONNX value -> ncnn blob, and ONNX value -> constant (the tensor, converted when first used).
        self.blobs: dict[str, str] = {}
        self.tensors: dict[str, tuple[TensorProto, str]] = {
            t.name: (t, f"initializer {_label(t.name)}") for t in self.graph.initializer
        }
        self.constants: dict[str, Float32Array] = {}
        self.input_blob = self.output_blob = ""

    # the graph

    def run(self) -> None:
        inputs = [value for value in self.graph.input if value.name not in self.tensors]
        if len(inputs) != 1:
            raise _fail(f"the model takes {len(inputs)} inputs; one image input is supported")
        if len(self.graph.output) != 1:
            raise _fail(f"the model gives {len(self.graph.output)} outputs; one image output is supported")
        channels_known = self._check_input(inputs[0])
        self.input_blob = self.blob_names.take(inputs[0].name)
        self.blobs[inputs[0].name] = self.input_blob
        self.layers.append(_Layer("Input", self.layer_names.take("input"), [], [self.input_blob]))
        nodes = [_Node(index, proto) for index, proto in enumerate(self.graph.node, start=1)]
        for node in nodes:
            if node.op not in OPERATORS:
                raise node.fail(f"operator {_label(node.op)} is not supported")
        for node in self._needed(nodes):
            allowed = OPERATORS[node.op][1]
            unknown = set(node.attributes) - allowed
            if unknown:
                raise node.fail(f"attribute {_label(min(unknown))} of {node.op} is not supported")
            if len(node.proto.output) != 1 or not node.proto.output[0]:
                raise node.fail("one output expected")
            OPERATORS[node.op][0](self, node)
        output = self.graph.output[0].name
        if output not in self.blobs or self.blobs[output] == self.input_blob:
            raise _fail(f"the model's output {_label(output)} is not made from its input by any layer")
        self.output_blob = self.blobs[output]
        self._fold_activations()
        self._pixel_shuffle_order()
        if not channels_known:
            convs = [layer for layer in self.layers if layer.kind in _CONVS]
            if not convs or convs[0].weights[0][0].shape[1] != 3:
                raise _fail("the input's channels are not declared 3, nor does the first convolution take 3")
        self._insert_splits()

    def _check_input(self, value: ValueInfoProto) -> bool:
        """Whether the image input declares its 3 channels (False: undeclared, the first Conv must take 3)."""
        tensor = value.type.tensor_type
        dims = tensor.shape.dim
        if not value.type.HasField("tensor_type") or tensor.elem_type not in (_T_FLOAT, _T_FLOAT16):
            raise _fail(f"the input {_label(value.name)} must be a float32 or float16 tensor")
        known = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(known) != 4 or known[0] not in (1, None) or known[1] not in (3, None):
            raise _fail(f"the input {_label(value.name)} must be 4-D NCHW with 3 channels")
        return known[1] == 3

    def _needed(self, nodes: list[_Node]) -> list[_Node]:
        """The nodes in order, checked for wiring, less those that the output does not depend on."""
        made = {value.name for value in self.graph.input} | set(self.tensors)
        for node in nodes:
            for name in node.proto.input:
                if name and name not in made:
                    raise node.fail(f"input {_label(name)} is not made by an earlier node")
            for name in node.proto.output:
                if name in made:
                    raise node.fail(f"output {_label(name)} is made twice")
                made.add(name)
        wanted = {self.graph.output[0].name}
        kept = []
        for node in reversed(nodes):
            if wanted.intersection(node.proto.output):
                wanted.update(node.proto.input)
                kept.append(node)
        return kept[::-1]

    # what the operators take and give

    def blob(self, node: _Node, k: int) -> str:
        name = node.proto.input[k] if k < len(node.proto.input) else ""
        if name not in self.blobs:
            raise node.fail(f"input {k + 1} must be a tensor computed from the image")
        return self.blobs[name]

    def is_constant(self, node: _Node, k: int) -> bool:
        name = node.proto.input[k] if k < len(node.proto.input) else ""
        return name in self.tensors or name in self.constants

    def constant(self, node: _Node, k: int) -> Float32Array:
        name = node.proto.input[k] if k < len(node.proto.input) else ""
        if name not in self.constants:
            if name not in self.tensors:
                raise node.fail(f"input {k + 1} must be a constant (an initializer)")
            self.constants[name] = _array(*self.tensors[name])
        return self.constants[name]

    def add(self, node: _Node, kind: str, inputs: list[str], params: dict[int, ParamValue], *weights: _Weight) -> str:
        output = node.proto.output[0]
        blob = self.blob_names.take(output)
        name = self.layer_names.take(node.proto.name or output)
        self.layers.append(_Layer(kind, name, inputs, [blob], params, list(weights), node.where))
        self.blobs[output] = blob
        return blob

    # passes over the ncnn layers

    def _fold_activations(self) -> None:
        """A ReLU or Sigmoid right after a convolution becomes the convolution's own activation (ncnn's key 9),
        one layer and one feature map fewer."""
        uses = Counter(blob for layer in self.layers for blob in layer.inputs)
        producer = {blob: layer for layer in self.layers for blob in layer.outputs}
        kept = []
        for layer in self.layers:
            source = producer.get(layer.inputs[0]) if layer.kind in ("ReLU", "Sigmoid") else None
            if source is not None and source.kind in _CONVS and 9 not in source.params and uses[layer.inputs[0]] == 1:
                slope = _scalar(layer.params.get(0, 0.0))
                if layer.kind == "Sigmoid":
                    source.params[9] = _ACT_SIGMOID
                elif slope:
                    source.params |= {9: _ACT_LEAKY, 10: [slope]}
                else:
                    source.params[9] = _ACT_RELU
                source.outputs = layer.outputs
                producer[layer.outputs[0]] = source
                continue
            kept.append(layer)
        self.layers = kept

    def _pixel_shuffle_order(self) -> None:
        """ONNX's DCR DepthToSpace takes channels blocks first; ncnn's PixelShuffle mode 0 (PyTorch's order, the
        only one the OpenVINO builder knows) takes them channel first. When the convolution before it feeds it
        alone, its output channels are reordered so that mode 0 gives DCR's picture; otherwise it is refused."""
        uses = Counter(blob for layer in self.layers for blob in layer.inputs)
        producer = {blob: layer for layer in self.layers for blob in layer.outputs}
        for layer in self.layers:
            if layer.kind != "PixelShuffle" or not layer.params.get(1):
                continue
            source = producer.get(layer.inputs[0])
            if source is None or source.kind not in _CONVS or uses[layer.inputs[0]] != 1:
                raise _fail(f"{layer.where}: DepthToSpace in DCR mode is supported only right after a Conv")
            r = int(_scalar(layer.params[0]))
            channels = source.weights[0][0].shape[0]
            if channels % (r * r):
                raise _fail(f"{layer.where}: {channels} channels do not divide into blocks of {r}x{r}")
            out = channels // (r * r)
            # CRD reads channel p * r² + k where DCR reads k * out + p (k: the pixel in the block, p: the channel)
            order = [k * out + p for p in range(out) for k in range(r * r)]
            source.weights = [(array[order], tagged) for array, tagged in source.weights]
            layer.params[1] = 0

    def _insert_splits(self) -> None:
        """ncnn lets a blob go after its first consumer: a blob used more than once is copied by a Split."""
        uses = Counter(blob for layer in self.layers for blob in layer.inputs)
        copies: dict[str, list[str]] = {}
        layers: list[_Layer] = []
        for layer in self.layers:
            layer.inputs = [copies[blob].pop(0) if blob in copies else blob for blob in layer.inputs]
            layers.append(layer)
            for blob in layer.outputs:
                if uses[blob] > 1:
                    copies[blob] = [self.blob_names.take(f"{blob}_{i}") for i in range(uses[blob])]
                    name = self.layer_names.take(f"{blob}_split")
                    layers.append(_Layer("Split", name, [blob], list(copies[blob])))
        self.layers = layers

    def write(self) -> tuple[str, bytes]:
        lines = [ncnnfile.MAGIC, f"{len(self.layers)} {sum(len(layer.outputs) for layer in self.layers)}"]
        chunks: list[bytes] = []
        for layer in self.layers:
            fields = [layer.kind, layer.name, str(len(layer.inputs)), str(len(layer.outputs))]
            fields += layer.inputs + layer.outputs
            fields += [_param(key, value) for key, value in sorted(layer.params.items())]
            lines.append(" ".join(fields))
            for array, tagged in layer.weights:
                if tagged:
                    chunks.append(ncnnfile.TAG_FLOAT32.to_bytes(4, "little"))
                chunks.append(np.ascontiguousarray(array, dtype="<f4").tobytes())
        return "\n".join(lines) + "\n", b"".join(chunks)


def _scalar(value: ParamValue) -> float:
    assert not isinstance(value, list)  # the converter's own layers: never an array where a number goes
    return float(value)


def _number(value: float) -> str:
    return f"{value:.9e}"  # nine digits: a float32 exactly


def _param(key: int, value: ParamValue) -> str:
    if isinstance(value, list):
        return f"{ncnnfile.ARRAY_KEY_BASE - key}={len(value)}," + ",".join(_number(v) for v in value)
    return f"{key}={_number(value) if isinstance(value, float) else value}"


# the operators


def _geometry(node: _Node, kh: int, kw: int, transposed: bool) -> dict[int, ParamValue]:
    """ncnn's kernel, dilation, stride and pad keys of a 2-D convolution, each within ncnnfile's bounds."""
    sh, sw = node.integers("strides", [1, 1])
    dh, dw = node.integers("dilations", [1, 1])
    top, left, bottom, right = node.integers("pads", [0, 0, 0, 0])
    auto = node.text("auto_pad", "NOTSET")
    if auto == "VALID":
        top = left = bottom = right = 0
    elif auto in ("SAME_UPPER", "SAME_LOWER") and not transposed and sh == sw == 1:
        # stride 1: the same padding whatever the size, the odd pixel at the end (UPPER) or the start (LOWER)
        (top, bottom), (left, right) = (_same(dh * (kh - 1), auto), _same(dw * (kw - 1), auto))
    elif auto != "NOTSET":
        raise node.fail(f"auto_pad {auto} is supported only as SAME with stride 1, or VALID")
    if not (1 <= kh <= ncnnfile.MAX_KERNEL and 1 <= kw <= ncnnfile.MAX_KERNEL):
        raise node.fail(f"kernel {kh}x{kw} is outside 1..{ncnnfile.MAX_KERNEL}")
    if not all(1 <= s <= ncnnfile.MAX_STRIDE for s in (sh, sw)):
        raise node.fail(f"strides {sh},{sw} are outside 1..{ncnnfile.MAX_STRIDE}")
    if not all(1 <= d <= ncnnfile.MAX_KERNEL for d in (dh, dw)):
        raise node.fail(f"dilations {dh},{dw} are outside 1..{ncnnfile.MAX_KERNEL}")
    if not all(0 <= p <= ncnnfile.MAX_KERNEL for p in (top, left, bottom, right)):
        raise node.fail(f"pads {top},{left},{bottom},{right} are outside 0..{ncnnfile.MAX_KERNEL}")
    return {1: kw, 11: kh, 2: dw, 12: dh, 3: sw, 13: sh, 4: left, 14: top, 15: right, 16: bottom}


def _same(total: int, auto: str) -> tuple[int, int]:
    small = total // 2
    return (small, total - small) if auto == "SAME_UPPER" else (total - small, small)


def _conv_weights(c: _Converter, node: _Node) -> tuple[Float32Array, Float32Array | None]:
    weight = c.constant(node, 1)
    if weight.ndim != 4:
        raise node.fail(f"weights of {weight.ndim} dimensions: only 2-D convolutions are supported")
    if node.integer("group", 1) != 1:
        raise node.fail("grouped convolutions are not supported")
    kernel = node.integers("kernel_shape", list(weight.shape[2:]))
    if kernel != list(weight.shape[2:]):
        raise node.fail(f"kernel_shape {kernel} does not match the weights' {list(weight.shape[2:])}")
    bias = c.constant(node, 2) if len(node.proto.input) > 2 and node.proto.input[2] else None
    return weight, bias


def _conv(c: _Converter, node: _Node) -> None:
    weight, bias = _conv_weights(c, node)  # [out][in][kh][kw], as ncnn keeps it
    kh, kw = weight.shape[2:]
    _add_conv(c, node, "Convolution", weight, bias, _geometry(node, kh, kw, transposed=False))


def _conv_transpose(c: _Converter, node: _Node) -> None:
    if "output_shape" in node.attributes:
        raise node.fail("output_shape is not supported (give pads and output_padding)")
    weight, bias = _conv_weights(c, node)
    # ONNX keeps [in][out][kh][kw], ncnn [out][in][kh][kw]: a transpose, no flip (ncnn's scatter is ONNX's)
    weight = np.ascontiguousarray(weight.transpose(1, 0, 2, 3))
    kh, kw = weight.shape[2:]
    params = _geometry(node, kh, kw, transposed=True)
    # both add output_padding at the bottom and right of the full result, then cut the pads from each side
    extra_h, extra_w = node.integers("output_padding", [0, 0])
    # ncnn's keys: 13/12 stride/dilation of the height, 3/2 of the width
    limit_h, limit_w = (
        max(_scalar(params[stride]), _scalar(params[dilation])) for stride, dilation in ((13, 12), (3, 2))
    )
    if not (0 <= extra_h < limit_h and 0 <= extra_w < limit_w):
        raise node.fail(f"output_padding {extra_h},{extra_w} must be below the stride or the dilation")
    _add_conv(c, node, "Deconvolution", weight, bias, params | {18: extra_w, 19: extra_h})


def _add_conv(
    c: _Converter,
    node: _Node,
    kind: str,
    weight: Float32Array,
    bias: Float32Array | None,
    params: dict[int, ParamValue],
) -> None:
    out = weight.shape[0]
    if bias is not None and bias.shape != (out,):
        raise node.fail(f"bias of shape {list(bias.shape)} for {out} output channels")
    params |= {0: out, 5: int(bias is not None), 6: int(weight.size)}
    weights: list[_Weight] = [(weight, True)] + ([] if bias is None else [(bias, False)])
    c.add(node, kind, [c.blob(node, 0)], params, *weights)


def _relu(c: _Converter, node: _Node) -> None:
    c.add(node, "ReLU", [c.blob(node, 0)], {})


def _sigmoid(c: _Converter, node: _Node) -> None:
    c.add(node, "Sigmoid", [c.blob(node, 0)], {})


def _leaky_relu(c: _Converter, node: _Node) -> None:
    slope = node.number("alpha", 0.01)
    if not 0.0 <= slope <= 1.0:
        # the OpenVINO builder makes a leaky ReLU as max(x, slope·x), true only for slopes up to 1
        raise node.fail(f"LeakyRelu alpha {slope} is outside 0..1")
    c.add(node, "ReLU", [c.blob(node, 0)], {0: slope} if slope else {})


def _prelu(c: _Converter, node: _Node) -> None:
    slope = c.constant(node, 1)
    if slope.size != 1 and slope.shape not in ((slope.size, 1, 1), (1, slope.size, 1, 1)):
        raise node.fail(f"slope of shape {list(slope.shape)}: one slope, or one per channel ([C,1,1])")
    c.add(node, "PReLU", [c.blob(node, 0)], {0: int(slope.size)}, (slope.ravel(), False))


def _binary(c: _Converter, node: _Node) -> None:
    op = _BINARY[node.op]
    constants = [c.is_constant(node, k) for k in (0, 1)]
    if all(constants):
        raise node.fail("both inputs are constants (fold them before exporting)")
    if not any(constants):
        c.add(node, "BinaryOp", [c.blob(node, 0), c.blob(node, 1)], {0: op})
        return
    k = constants.index(True)
    value = c.constant(node, k)
    x = c.blob(node, 1 - k)
    if value.size == 1:
        c.add(node, "BinaryOp", [x], {0: op if k == 1 else _REVERSED[op], 1: 1, 2: float(value.ravel()[0])})
        return
    if value.shape not in ((value.size, 1, 1), (1, value.size, 1, 1)):
        raise node.fail(f"a constant of shape {list(value.shape)}: only a scalar or one value per channel")
    # a per-channel constant: a MemoryData blob of C x 1 x 1, broadcast by BinaryOp
    name = c.layer_names.take(f"{node.proto.input[k]}_data")
    blob = c.blob_names.take(node.proto.input[k])
    c.layers.append(_Layer("MemoryData", name, [], [blob], {0: 1, 1: 1, 2: value.size}, [(value.ravel(), False)]))
    c.add(node, "BinaryOp", [blob, x] if k == 0 else [x, blob], {0: op})


def _concat(c: _Converter, node: _Node) -> None:
    if node.integer("axis", 1) not in (1, -3):
        raise node.fail("Concat is supported along the channels (axis 1) only")
    c.add(node, "Concat", [c.blob(node, k) for k in range(len(node.proto.input))], {0: 0})


def _resize(c: _Converter, node: _Node) -> None:
    mode = node.text("mode", "nearest")
    # Upsample and Resize-10 sample at dst / scale (asymmetric); Resize-11 on says how, half-pixel by default
    transform, rounding, legacy = "asymmetric", "floor", node.op == "Upsample" or c.opset < 11
    if node.op == "Upsample" and "scales" in node.attributes:  # Upsample-7
        scales = [float(v) for v in node.attributes["scales"].floats]
    else:
        scales_input = 1 if legacy else 2
        if not legacy and len(node.proto.input) > 3 and node.proto.input[3]:
            raise node.fail("Resize to fixed sizes is not supported (give scale factors)")
        scales = [float(v) for v in c.constant(node, scales_input).ravel()]
    if legacy and set(node.attributes) - {"mode", "scales"}:
        raise node.fail(f"attribute {_label(min(set(node.attributes) - {'mode', 'scales'}))} is not {node.op}'s")
    if not legacy:
        transform = node.text("coordinate_transformation_mode", "half_pixel")
        rounding = node.text("nearest_mode", "round_prefer_floor")
        if node.integer("antialias", 0) or node.integer("exclude_outside", 0):
            raise node.fail("antialias and exclude_outside are not supported")
        axes = node.attributes.get("axes")
        if axes is not None:
            if [a % 4 for a in axes.ints] != [2, 3]:
                raise node.fail("Resize is supported over height and width (axes 2, 3) only")
            scales = [1.0, 1.0, *scales]
    if len(scales) != 4 or scales[:2] != [1.0, 1.0]:
        raise node.fail(f"scales {scales[:8]} must scale height and width only")
    if not all(s.is_integer() and 1 <= s <= ncnnfile.MAX_STRIDE for s in scales[2:]):
        raise node.fail(f"scales {scales[2:]} must be whole numbers in 1..{ncnnfile.MAX_STRIDE}")
    # ncnn's nearest takes floor(dst / scale); with whole scales, half-pixel centres rounded to the nearest
    # pick the same pixel. Its bilinear samples at half-pixel centres, clamped at the edges.
    half = transform in ("half_pixel", "pytorch_half_pixel")
    if mode == "nearest" and ((transform, rounding) == ("asymmetric", "floor") or (half and "prefer" in rounding)):
        kind = 1
    elif mode == "linear" and half and not legacy:
        kind = 2
    else:
        raise node.fail(f"{node.op} mode {mode!r} with {transform} coordinates is not supported")
    c.add(node, "Interp", [c.blob(node, 0)], {0: kind, 1: scales[2], 2: scales[3]})


def _depth_to_space(c: _Converter, node: _Node) -> None:
    factor = node.integer("blocksize", 0)
    if not 1 <= factor <= ncnnfile.MAX_STRIDE:
        raise node.fail(f"blocksize {factor} is outside 1..{ncnnfile.MAX_STRIDE}")
    mode = node.text("mode", "DCR")
    if mode not in ("CRD", "DCR"):
        raise node.fail(f"DepthToSpace mode {mode!r} is not supported")
    # ncnn's mode 1 is DCR's order; it is turned into mode 0 (see _pixel_shuffle_order)
    c.add(node, "PixelShuffle", [c.blob(node, 0)], {0: factor, 1: int(mode == "DCR")})


def _identity(c: _Converter, node: _Node) -> None:
    target = node.proto.output[0]
    if c.is_constant(node, 0):
        c.constants[target] = c.constant(node, 0)
    else:
        c.blobs[target] = c.blob(node, 0)


def _constant(c: _Converter, node: _Node) -> None:
    output = node.proto.output[0]
    if "value" in node.attributes:
        c.tensors[output] = (node.attributes["value"].t, node.where)
    elif "value_float" in node.attributes:
        c.constants[output] = np.asarray([node.number("value_float", 0.0)], np.float32)
    elif "value_floats" in node.attributes and node.attributes["value_floats"].type == _A_FLOATS:
        c.constants[output] = np.asarray(node.attributes["value_floats"].floats, np.float32)
    else:
        raise node.fail("a Constant needs a float value")
    if output in c.constants and not np.isfinite(c.constants[output]).all():
        raise node.fail("holds a value that is not finite")


_GEOMETRY = frozenset({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
_RESIZE = frozenset(
    {"mode", "coordinate_transformation_mode", "nearest_mode", "antialias", "exclude_outside", "axes"}
    | {"cubic_coeff_a", "extrapolation_value", "keep_aspect_ratio_policy"}  # used by modes refused anyway
)

#: The operators converted, each with the attributes it may carry (any other is refused).
OPERATORS: dict[str, tuple[Callable[[_Converter, _Node], None], frozenset[str]]] = {
    "Conv": (_conv, _GEOMETRY),
    "ConvTranspose": (_conv_transpose, _GEOMETRY | {"output_padding", "output_shape"}),
    "Relu": (_relu, frozenset()),
    "LeakyRelu": (_leaky_relu, frozenset({"alpha"})),
    "PRelu": (_prelu, frozenset()),
    "Sigmoid": (_sigmoid, frozenset()),
    **{op: (_binary, frozenset()) for op in _BINARY},
    "Concat": (_concat, frozenset({"axis"})),
    "Resize": (_resize, _RESIZE),
    "Upsample": (_resize, frozenset({"mode", "scales"})),
    "DepthToSpace": (_depth_to_space, frozenset({"blocksize", "mode"})),
    "Identity": (_identity, frozenset()),
    "Constant": (_constant, frozenset({"value", "value_float", "value_floats"})),
}
