"""Our reader of ncnn files: every zoo net reads whole, and a malformed file is refused, naming the fault."""

from __future__ import annotations

import numpy as np
import pytest

from enhanceit.errors import ModelIntegrityError
from enhanceit.models import ncnnfile, weights
from enhanceit.models.chainer.ncnn_writer import Graph
from enhanceit.models.registry import REGISTRY

NETS = [(spec, net) for spec in REGISTRY for net in spec.nets]


@pytest.mark.parametrize(("spec", "net"), NETS, ids=[f"{s.id}-{n.key}" for s, n in NETS])
def test_every_zoo_net_reads_whole(spec: object, net: object) -> None:
    """Every layer is known, every weight is where the layers say, and the .bin holds nothing more."""
    param, bin_path = weights.verified_net_files(net)  # type: ignore[arg-type]
    graph = ncnnfile.read(param, bin_path)
    assert net.input_blob in graph.inputs  # type: ignore[attr-defined]
    assert net.output_blob in graph.blobs()  # type: ignore[attr-defined]
    convs = [layer for layer in graph.layers if layer.kind == "Convolution"]
    assert convs and all(layer.weights[0].ndim == 4 for layer in convs)


def small() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph()
    x = g.input("data")
    a, b = g.split(x)
    y = g.conv(a, "conv1", rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32), leaky=0.1)
    z = g.conv(y, "conv2", rng.standard_normal((3, 4, 3, 3)).astype(np.float32), np.ones(3, np.float32))
    g.crop_like(b, z, "crop", 2)
    g.add("crop", z, "out")
    return g


def test_a_written_model_reads_back_with_its_weights() -> None:
    g = small()
    graph = ncnnfile.from_bytes(g.param_text(), g.bin_bytes())
    conv1 = next(layer for layer in graph.layers if layer.name == "conv1")
    assert conv1.weights[0].shape == (4, 3, 3, 3)
    assert conv1.params[9] == 2 and conv1.numbers(10) == pytest.approx((0.1,))
    assert np.array_equal(graph.layers[-2].weights, ())  # the Crop has none


def test_float16_weights_are_widened() -> None:
    text = "7767517\n2 2\nInput in 0 1 in\nConvolution conv 1 1 in out 0=1 1=1 5=0 6=3\n"
    half = np.array([0.5, -2.0, 1.25], dtype="<f2").tobytes() + b"\0\0"  # padded to 4 bytes
    graph = ncnnfile.from_bytes(text, ncnnfile.TAG_FLOAT16.to_bytes(4, "little") + half)
    assert graph.layers[1].weights[0].ravel().tolist() == [0.5, -2.0, 1.25]


def corrupt_param(old: str, new: str) -> tuple[str, bytes]:
    g = small()
    text = g.param_text()
    assert old in text
    return text.replace(old, new, 1), g.bin_bytes()


def spaced(counts: str, new_counts: str, extra_line: str, old: str = "", new: str = "") -> tuple[str, bytes]:
    """The small model's .param with single spaces, its counts line replaced, ``old`` by ``new`` and one more
    line at the end."""
    g = small()
    lines = [" ".join(line.split()) for line in g.param_text().splitlines()]
    assert lines[1] == counts
    text = "\n".join([lines[0], new_counts, *lines[2:], *([extra_line] if extra_line else [])]) + "\n"
    assert old in text
    return text.replace(old, new, 1), g.bin_bytes()


CASES = {
    "bad magic": (lambda: ("7767518" + small().param_text()[7:], small().bin_bytes()), "not an ncnn .param"),
    "unknown layer kind": (lambda: corrupt_param("Eltwise ", "Python  "), "not supported"),
    "unknown parameter": (lambda: corrupt_param("0=1\n", "0=1 7=3\n"), "parameter 7 is not supported"),
    "input not made yet": (lambda: corrupt_param("1 1 data_split0 conv1", "1 1 conv2 conv1"), "not made by an earlier"),
    "blob made twice": (lambda: corrupt_param(" conv2 0=3", " conv1 0=3"), "repeated output blob"),
    "layer count": (lambda: corrupt_param("\n6 ", "\n7 "), "declares 7 layers"),
    "huge kernel": (lambda: corrupt_param(" 1=3 11=3", " 1=99 11=3"), "outside 1..15"),
    "not a number": (lambda: corrupt_param("0=4", "0=four"), "is not a number"),
    "non-finite parameter": (lambda: corrupt_param("1.000000e-01", "1e999"), "not finite"),
    "array count lies": (lambda: corrupt_param("-23310=1,", "-23310=5,"), "does not hold the count"),
    "truncated weights": (lambda: (small().param_text(), small().bin_bytes()[:-8]), "ends before"),
    "trailing bytes": (lambda: (small().param_text(), small().bin_bytes() + b"\0" * 8), "bytes more than"),
    "unknown weight encoding": (
        lambda: (small().param_text(), b"\x01\0\0\0" + small().bin_bytes()[4:]),
        "encoding 0x1 is not supported",
    ),
    "non-finite weight": (
        lambda: (small().param_text(), b"\0\0\0\0" + np.float32(np.nan).tobytes() + small().bin_bytes()[8:]),
        "not finite",
    ),
    "weights that do not divide": (lambda: corrupt_param("6=108", "6=107"), "does not divide"),
    "two inputs": (lambda: spaced("6 7", "7 8", "Input second 0 1 second"), "one Input layer; it has 2"),
    "a dangling branch": (
        lambda: spaced("6 7", "6 8", "", "1 2 data data_split0 data_split1", "1 3 data data_split0 data_split1 spare"),
        "one output blob; 2 are read by no layer",
    ),
    "too many layers": (lambda: ("7767517\n4097 4097\n", b""), "4097 layers; at most 4096"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_files_are_refused_with_the_reason(case: str) -> None:
    make, reason = CASES[case]
    text, data = make()
    with pytest.raises(ModelIntegrityError, match=reason):
        ncnnfile.from_bytes(text, data)


def test_the_small_model_itself_is_accepted() -> None:
    """The control for the cases above: each differs from this accepted model by its one fault."""
    g = small()
    assert len(ncnnfile.from_bytes(g.param_text(), g.bin_bytes()).layers) == 6
