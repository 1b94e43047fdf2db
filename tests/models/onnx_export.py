"""An ncnn net, as :mod:`enhanceit.models.ncnnfile` reads it, written as ONNX with ``onnx.helper``: the same
net in the other format, for the ONNX converter's tests. It knows the layer kinds of waifu2x's UpConv7
(Convolution with its activation, ReLU with a slope, Deconvolution) and refuses any other."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from enhanceit.models import ncnnfile

OPSET = 17


def _geometry(layer: ncnnfile.Layer) -> dict[str, list[int]]:
    kw, dw, sw, left = layer.integer(1), layer.integer(2, 1), layer.integer(3, 1), layer.integer(4)
    top = layer.integer(14, left)
    return {
        "kernel_shape": [layer.integer(11, kw), kw],
        "dilations": [layer.integer(12, dw), dw],
        "strides": [layer.integer(13, sw), sw],
        "pads": [top, left, layer.integer(16, top), layer.integer(15, left)],
    }


def _activation(kind: int, slope: float, source: str, target: str, name: str) -> onnx.NodeProto:
    if kind == 1 or (kind == 2 and slope == 0.0):
        return helper.make_node("Relu", [source], [target], name=name)
    if kind == 2:
        return helper.make_node("LeakyRelu", [source], [target], name=name, alpha=slope)
    if kind == 4:
        return helper.make_node("Sigmoid", [source], [target], name=name)
    raise ValueError(f"activation {kind} has no ONNX export here")


def to_onnx(graph: ncnnfile.Graph, input_blob: str, output_blob: str) -> onnx.ModelProto:
    """``graph`` as an ONNX model taking ``input_blob`` as a [1, 3, h, w] image and giving ``output_blob``."""
    nodes: list[onnx.NodeProto] = []
    initializers: list[TensorProto] = []
    for layer in graph.layers:
        if layer.kind == "Input":
            continue
        if layer.kind in ("Convolution", "Deconvolution"):
            weight = layer.weights[0]
            attributes = _geometry(layer)
            op = "Conv"
            if layer.kind == "Deconvolution":  # ONNX keeps [in][out][kh][kw], ncnn [out][in][kh][kw]
                weight = np.ascontiguousarray(weight.transpose(1, 0, 2, 3))
                attributes["output_padding"] = [layer.integer(19), layer.integer(18)]
                op = "ConvTranspose"
            inputs = [layer.inputs[0], f"{layer.name}.weight"]
            initializers.append(numpy_helper.from_array(weight, inputs[1]))
            if len(layer.weights) > 1:
                inputs.append(f"{layer.name}.bias")
                initializers.append(numpy_helper.from_array(layer.weights[1], inputs[2]))
            activation = layer.integer(9)
            raw = f"{layer.name}.raw" if activation else layer.outputs[0]
            nodes.append(helper.make_node(op, inputs, [raw], name=layer.name, **attributes))
            if activation:
                slopes = layer.numbers(10)
                slope = slopes[0] if slopes else 0.0
                nodes.append(_activation(activation, slope, raw, layer.outputs[0], f"{layer.name}.act"))
        elif layer.kind == "ReLU":
            nodes.append(_activation(2, layer.number(0), layer.inputs[0], layer.outputs[0], layer.name))
        else:
            raise ValueError(f"layer kind {layer.kind} has no ONNX export here")
    image = helper.make_tensor_value_info(input_blob, TensorProto.FLOAT, [1, 3, "height", "width"])
    result = helper.make_tensor_value_info(output_blob, TensorProto.FLOAT, [1, 3, None, None])
    model = helper.make_model(
        helper.make_graph(nodes, "exported", [image], [result], initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    onnx.checker.check_model(model)
    return model
