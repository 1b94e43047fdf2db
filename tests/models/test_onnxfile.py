"""The ONNX converter: UpConv7 made into ONNX comes back as the same ncnn net; each operator's conversion means
what ONNX means (ONNX's reference evaluator against ncnn and OpenVINO running the result); and hostile or
unsupported files are refused in one line that names the fault."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from enhanceit.engine import openvino_backend  # noqa: E402
from enhanceit.engine.ncnn_backend import NcnnBackend  # noqa: E402
from enhanceit.errors import ModelIntegrityError  # noqa: E402
from enhanceit.models import ncnnfile, onnxfile  # noqa: E402
from enhanceit.models.registry import get_model  # noqa: E402
from enhanceit.models.spec import Net  # noqa: E402
from enhanceit.models.weights import verified_net_files  # noqa: E402
from tests.models.onnx_export import to_onnx  # noqa: E402

RNG = np.random.default_rng(7)


def upconv7() -> Net:
    net = get_model("waifu2x-upconv7-photo").net(2, -1)
    assert net is not None
    return net


def save(model: onnx.ModelProto, folder: Path, name: str = "model.onnx") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def run_ncnn(converted: onnxfile.Converted, folder: Path, x: np.ndarray) -> np.ndarray:
    param, weights = folder / "converted.param", folder / "converted.bin"
    param.write_text(converted.param)
    weights.write_bytes(converted.weights)
    net = dataclasses.replace(upconv7(), input_blob=converted.input_blob, output_blob=converted.output_blob)
    return NcnnBackend(net, param, weights, threads=1).infer(x)


def run_openvino(converted: onnxfile.Converted, x: np.ndarray) -> np.ndarray:
    graph = ncnnfile.from_bytes(converted.param, converted.weights)
    model = openvino_backend.build(graph, converted.input_blob, converted.output_blob, x.shape)
    compiled = openvino_backend.core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.asarray(compiled({0: x[np.newaxis]})[0][0], dtype=np.float32)


def test_upconv7_made_into_onnx_converts_back_to_the_same_net(tmp_path: Path) -> None:
    net = upconv7()
    param, weights = verified_net_files(net)
    original = ncnnfile.read(param, weights)
    converted = onnxfile.convert(save(to_onnx(original, net.input_blob, net.output_blob), tmp_path))
    graph = ncnnfile.from_bytes(converted.param, converted.weights)
    # the activations fold back into their convolutions: layer for layer the same kinds
    assert [layer.kind for layer in graph.layers] == [layer.kind for layer in original.layers]
    x = np.random.default_rng(0).random((3, 40, 40), dtype=np.float32)
    theirs = NcnnBackend(net, param, weights, threads=1).infer(x)
    ours = run_ncnn(converted, tmp_path, x)
    assert ours.shape == theirs.shape == (3, 52, 52)
    assert np.abs(ours - theirs).max() <= 1e-4


def test_external_data_beside_the_model_is_read(tmp_path: Path) -> None:
    net = upconv7()
    model = to_onnx(ncnnfile.read(*verified_net_files(net)), net.input_blob, net.output_blob)
    inline = onnxfile.convert(save(model, tmp_path / "inline"))
    (tmp_path / "external").mkdir()
    onnx.save_model(model, tmp_path / "external" / "model.onnx", save_as_external_data=True, location="weights.data")
    assert onnxfile.convert(tmp_path / "external" / "model.onnx") == inline


# Small nets, one or a few operators each, run by ONNX's reference evaluator and by ncnn and OpenVINO on
# what the converter made of them.


def tensor(name: str, shape: tuple[int, ...], scale: float = 0.5) -> TensorProto:
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def model_of(
    nodes: list[onnx.NodeProto],
    initializers: list[TensorProto],
    opset: int = 17,
    channels: int | str = 3,
    inputs: tuple[str, ...] = ("x",),
) -> onnx.ModelProto:
    images = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, channels, "h", "w"]) for n in inputs]
    result = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "net", images, [result], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def conv(
    name: str, source: str, target: str, out: int, inp: int = 3, k: int = 3, **attributes: object
) -> tuple[onnx.NodeProto, list[TensorProto]]:
    node = helper.make_node("Conv", [source, f"{name}.w", f"{name}.b"], [target], name=name, **attributes)
    return node, [tensor(f"{name}.w", (out, inp, k, k)), tensor(f"{name}.b", (out,))]


def _conv_leaky() -> onnx.ModelProto:
    node, weights = conv("c", "x", "a", 5, pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2])
    leaky = helper.make_node("LeakyRelu", ["a"], ["y"], alpha=0.2)
    return model_of([node, leaky], weights)


def _conv_transpose() -> onnx.ModelProto:
    node = helper.make_node(
        "ConvTranspose", ["x", "w", "b"], ["a"], pads=[1, 2, 1, 0], strides=[2, 2], output_padding=[1, 0]
    )
    return model_of([node, helper.make_node("Relu", ["a"], ["y"])], [tensor("w", (3, 4, 4, 4)), tensor("b", (4,))])


def _prelu_sigmoid() -> onnx.ModelProto:
    node, weights = conv("c", "x", "a", 4, auto_pad="SAME_UPPER", k=4)
    prelu = helper.make_node("PRelu", ["a", "slope"], ["p"])
    return model_of([node, prelu, helper.make_node("Sigmoid", ["p"], ["y"])], [*weights, tensor("slope", (4, 1, 1))])


def _arithmetic() -> onnx.ModelProto:
    node, weights = conv("c", "x", "a", 3, pads=[1, 1, 1, 1])
    nodes = [
        node,
        helper.make_node("Constant", [], ["half"], value_float=0.5),
        helper.make_node("Mul", ["a", "half"], ["m"]),  # a shared by four nodes: Splits
        helper.make_node("Add", ["a", "m"], ["s"]),
        helper.make_node("Sub", ["one", "a"], ["r"]),  # a scalar first: rsub
        helper.make_node("Div", ["a", "per_channel"], ["d"]),
        helper.make_node("Sub", ["mean", "x"], ["centred"]),  # a per-channel constant first
        helper.make_node("Identity", ["centred"], ["same"]),
        helper.make_node("Mul", ["s", "r"], ["t"]),
        helper.make_node("Concat", ["t", "d", "same", "a"], ["y"], axis=1),
        helper.make_node("Relu", ["x"], ["unused"]),  # not on the way to the output: dropped
    ]
    constants = [
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array([1.5, -2.0, 4.0], np.float32).reshape(1, 3, 1, 1), "per_channel"),
        numpy_helper.from_array(np.array([0.4, 0.5, 0.6], np.float32).reshape(3, 1, 1), "mean"),
    ]
    return model_of(nodes, [*weights, *constants])


def _resize(mode: str, scale: float, opset: int = 17, **attributes: object) -> Callable[[], onnx.ModelProto]:
    def make() -> onnx.ModelProto:
        scales = numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales")
        if opset < 10:
            node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode=mode)
        else:
            node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode, **attributes)
        return model_of([node], [scales], opset=opset)

    return make


def _depth_to_space(mode: str) -> Callable[[], onnx.ModelProto]:
    def make() -> onnx.ModelProto:
        node, weights = conv("c", "x", "a", 12, pads=[1, 1, 1, 1])
        nodes = [node, helper.make_node("Relu", ["a"], ["r"])]
        nodes.append(helper.make_node("DepthToSpace", ["r"], ["y"], blocksize=2, mode=mode))
        return model_of(nodes, weights)

    return make


NETS: dict[str, tuple[Callable[[], onnx.ModelProto], list[str]]] = {
    "conv, pads, strides, dilations, leaky": (_conv_leaky, ["Input", "Convolution"]),
    "conv transpose, pads, output padding": (_conv_transpose, ["Input", "Deconvolution"]),
    "same padding, prelu, sigmoid": (_prelu_sigmoid, ["Input", "Convolution", "PReLU", "Sigmoid"]),
    "binary ops, constants, splits, concat": (
        _arithmetic,
        [
            *("Input", "Split", "Convolution", "Split", "BinaryOp", "BinaryOp", "BinaryOp"),
            *("MemoryData", "BinaryOp", "MemoryData", "BinaryOp", "BinaryOp", "Concat"),
        ],
    ),
    "nearest x2, asymmetric floor": (
        _resize("nearest", 2, coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        ["Input", "Interp"],
    ),
    "nearest x3, half pixel": (_resize("nearest", 3), ["Input", "Interp"]),
    "linear x2, pytorch half pixel": (
        _resize("linear", 2, coordinate_transformation_mode="pytorch_half_pixel"),
        ["Input", "Interp"],
    ),
    "upsample nearest x4 (opset 9)": (_resize("nearest", 4, opset=9), ["Input", "Interp"]),
    "depth to space CRD": (_depth_to_space("CRD"), ["Input", "Convolution", "PixelShuffle"]),
    "depth to space DCR": (_depth_to_space("DCR"), ["Input", "Convolution", "PixelShuffle"]),
}


@pytest.mark.parametrize("name", NETS)
def test_each_operator_means_what_onnx_means(name: str, tmp_path: Path) -> None:
    make, kinds = NETS[name]
    model = make()
    converted = onnxfile.convert(save(model, tmp_path))
    graph = ncnnfile.from_bytes(converted.param, converted.weights)
    assert [layer.kind for layer in graph.layers] == kinds
    x = np.random.default_rng(1).random((3, 11, 9), dtype=np.float32)
    expected = ReferenceEvaluator(model).run(None, {"x": x[np.newaxis]})[0][0]
    for ours in (run_ncnn(converted, tmp_path, x), run_openvino(converted, x)):
        assert ours.shape == expected.shape
        assert np.abs(ours - expected).max() <= 1e-4


def test_float16_weights_are_widened(tmp_path: Path) -> None:
    """float16 tensors, as raw bytes or as their bits in int32_data, convert to their float32 values."""
    wide = _conv_leaky()
    halves = {t.name: numpy_helper.to_array(t).astype(np.float16) for t in wide.graph.initializer}
    for t in wide.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(halves[t.name].astype(np.float32), t.name))
    expected = onnxfile.convert(save(wide, tmp_path / "wide"))
    for raw in (True, False):
        model = _conv_leaky()
        for t in model.graph.initializer:
            half = halves[t.name]
            values = half.tobytes() if raw else half.ravel().tolist()
            t.CopyFrom(helper.make_tensor(t.name, TensorProto.FLOAT16, half.shape, values, raw=raw))
            assert bool(t.int32_data) is not raw  # the bits of each value, where not raw
        model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
        assert onnxfile.convert(save(model, tmp_path / f"raw{raw}")) == expected


# Refusals: each file is refused by the converter in one line, no traceback, saying what is wrong.


def _custom_domain_opset() -> onnx.ModelProto:
    model = model_of([helper.make_node("Foo", ["x"], ["y"], domain="com.example")], [])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    return model


def _two_inputs() -> onnx.ModelProto:
    return model_of([helper.make_node("Add", ["x", "x2"], ["y"])], [], inputs=("x", "x2"))


def _if_node() -> onnx.ModelProto:
    branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["z"])], "b", [], [helper.make_tensor_value_info("z", 1, None)]
    )
    node = helper.make_node("If", ["cond"], ["y"], name="choose", then_branch=branch, else_branch=branch)
    return model_of([node], [numpy_helper.from_array(np.array(1.0, np.float32), "cond")])


def declared(name: str, dims: list[int], data: bytes) -> TensorProto:
    """A tensor whose data need not fill its shape (onnx.helper would check that it does)."""
    made = TensorProto(name=name, data_type=TensorProto.FLOAT, raw_data=data)
    made.dims.extend(dims)
    return made


def _huge_channels() -> onnx.ModelProto:
    # 2**30 channels declared, four bytes given: refused from the dimensions, before any data is read
    weight = declared("w", [2**30, 3, 3, 3], b"\0\0\0\0")
    return model_of([helper.make_node("Conv", ["x", "w"], ["y"])], [weight])


def _too_many_weights() -> onnx.ModelProto:
    # each 1 GB as float32, declared only: together past the bound
    weights = [declared(n, [4096, 4096, 4, 4], b"") for n in "vw"]
    return model_of([helper.make_node("Conv", ["x", "w"], ["y"])], weights)


def _external(location: str) -> Callable[[], onnx.ModelProto]:
    def make() -> onnx.ModelProto:
        weight = tensor("w", (3, 3, 3, 3))
        weight.ClearField("raw_data")
        weight.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "324")):
            entry = weight.external_data.add()
            entry.key, entry.value = key, value
        return model_of([helper.make_node("Conv", ["x", "w"], ["y"])], [weight])

    return make


def _with(op: str, inputs: list[str], initializers: list[TensorProto] | None = None, **attributes: object) -> Callable:
    def make() -> onnx.ModelProto:
        return model_of([helper.make_node(op, inputs, ["y"], name="n", **attributes)], initializers or [])

    return make


def _after_relu(op: str, **attributes: object) -> Callable[[], onnx.ModelProto]:
    def make() -> onnx.ModelProto:
        nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node(op, ["r"], ["y"], name="t", **attributes)]
        return model_of(nodes, [])

    return make


def _function() -> onnx.ModelProto:
    model = _conv_leaky()
    model.functions.append(helper.make_function("local", "F", ["a"], ["b"], [], []))
    return model


def _int_initializer() -> onnx.ModelProto:
    sizes = numpy_helper.from_array(np.array([1, 3, 8, 8], np.int64), "sizes")
    return model_of([helper.make_node("Resize", ["x", "", "", "sizes"], ["y"])], [sizes])


def _nan_weight() -> onnx.ModelProto:
    model = _conv_leaky()
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.full((5, 3, 3, 3), np.nan, np.float32), "c.w"))
    return model


REFUSED: dict[str, tuple[Callable[[], onnx.ModelProto], str]] = {
    "custom domain declared": (_custom_domain_opset, "custom operator domain 'com.example'"),
    "custom domain of a node": (
        _with("Foo", ["x"], domain="com.example"),
        "node 1 'n': operator 'Foo' of the custom domain 'com.example'",
    ),
    "unsupported operator": (_after_relu("Tanh"), "node 2 't': operator 'Tanh' is not supported"),
    "external data outside the folder": (_external("../x"), "external data '../x' is not a file beside the model"),
    "external data by absolute path": (_external("/etc/passwd"), "'/etc/passwd' is not a file beside the model"),
    "external data missing": (_external("absent.bin"), "'absent.bin' is not a file beside the model"),
    "2**30 channels declared": (_huge_channels, "dimension 1073741824 is outside 0..4096"),
    "weights past the bound": (_too_many_weights, "the weights take more than 1024 MB"),
    "two inputs": (_two_inputs, "the model takes 2 inputs; one image input is supported"),
    "a subgraph": (_if_node, "node 1 'choose': subgraphs (If) are not supported"),
    "a function": (_function, "defines functions of its own"),
    "an int64 tensor": (_int_initializer, "element type 7 is not supported"),
    "a weight that is not finite": (_nan_weight, "holds a value that is not finite"),
    "four channels": (lambda: model_of([helper.make_node("Relu", ["x"], ["y"])], [], channels=4), "3 channels"),
    "grouped conv": (_with("Conv", ["x", "w"], [tensor("w", (3, 1, 3, 3))], group=3), "node 1 'n': grouped"),
    "leaky slope above 1": (_after_relu("LeakyRelu", alpha=2.0), "LeakyRelu alpha 2.0 is outside 0..1"),
    "fractional resize": (_resize("nearest", 1.5), "must be whole numbers"),
    "cubic resize": (_resize("cubic", 2), "mode 'cubic' with half_pixel coordinates is not supported"),
    "linear upsample": (_resize("linear", 2, opset=9), "Upsample mode 'linear' with asymmetric"),
    "DCR not after a conv": (
        _after_relu("DepthToSpace", blocksize=2),
        "node 2 't': DepthToSpace in DCR mode is supported only right after",
    ),
    "output padding past the stride": (
        _with("ConvTranspose", ["x", "w"], [tensor("w", (3, 3, 3, 3))], strides=[2, 2], output_padding=[2, 0]),
        "output_padding 2,0 must be below the stride or the dilation",
    ),
    "a Constant of int64": (
        lambda: model_of([helper.make_node("Constant", [], ["y"], name="k", value_int=3)], []),
        "attribute 'value_int' of Constant is not supported",
    ),
    "unknown attribute": (_with("Relu", ["x"], extra=1), "attribute 'extra' of Relu is not supported"),
    "huge kernel": (_with("Conv", ["x", "w"], [tensor("w", (3, 3, 17, 17))]), "kernel 17x17 is outside 1..15"),
    "output is the input": (_with("Identity", ["x"]), "is not made from its input by any layer"),
}


def assert_refused(path: Path, expected: str) -> None:
    with pytest.raises(ModelIntegrityError) as caught:
        onnxfile.convert(path)
    message = str(caught.value)
    assert expected in message
    # no traceback of a foreign error chained to it: what the operator reads is this one line
    assert "\n" not in message and caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


@pytest.mark.parametrize("case", REFUSED)
def test_a_hostile_or_unsupported_model_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    make, expected = REFUSED[case]
    (tmp_path / "x").write_bytes(b"\0" * 324)  # what "../x" would reach: it exists, and is still refused
    assert_refused(save(make(), tmp_path / "model"), expected)


def test_random_bytes_are_not_an_onnx_model(tmp_path: Path) -> None:
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(3).bytes(4096))
    assert_refused(path, "noise.onnx is not an ONNX model")


def test_a_file_past_the_bound_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.onnx"
    with path.open("wb") as f:  # sparse: no disk taken
        f.truncate(onnxfile.MAX_FILE_BYTES + 1)
    assert_refused(path, f"big.onnx is larger than {onnxfile.MAX_FILE_BYTES >> 20} MB")


def test_without_the_onnx_package_the_hint_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(_conv_leaky(), tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    assert_refused(path, "pip install 'enhanceit[onnx]'")


def test_the_bounds_are_ncnnfiles() -> None:
    assert onnxfile.MAX_FILE_BYTES == ncnnfile.MAX_WEIGHT_BYTES + 64 * 2**20
    assert math.prod([4096, 4096, 4, 4]) * 4 == ncnnfile.MAX_WEIGHT_BYTES  # _too_many_weights: two of these
