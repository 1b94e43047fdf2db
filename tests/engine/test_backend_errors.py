"""Each backend's runtime failing for real, on a one-layer net written here, reaches its caller as a typed
engine error with its HTTP meaning and no server path; and the boundary that translates them."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from enhanceit.engine.boundary import MAX_DETAIL, describe, runtime_errors
from enhanceit.engine.ncnn_backend import NcnnBackend
from enhanceit.engine.openvino_backend import OpenVinoBackend
from enhanceit.errors import (
    EngineError,
    EngineLoadError,
    EngineOutOfMemory,
    InferenceError,
    InvalidRequest,
    ModelIntegrityError,
    public_detail,
)
from enhanceit.models import get_model
from enhanceit.models.spec import Net

#: One 3x3 convolution from 3 channels to 3, without padding: an input under 3x3 pixels is impossible.
PARAM = """7767517
2 2
Input            data             0 1 data
Convolution      conv             1 1 data out 0=3 1=3 5=1 6=81
"""


def conv_net() -> Net:
    zoo = get_model("waifu2x-upconv7-photo").net(2, -1)
    assert zoo is not None
    return dataclasses.replace(zoo, input_blob="data", output_blob="out", pad=1, scale=1, multiple=1)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    param, weights = tmp_path / "conv.param", tmp_path / "conv.bin"
    param.write_text(PARAM)
    kernel = np.random.default_rng(0).random(81, dtype=np.float32)
    weights.write_bytes((0).to_bytes(4, "little") + kernel.tobytes() + np.zeros(3, np.float32).tobytes())
    return param, weights


def tile(side: int) -> np.ndarray:
    return np.random.default_rng(1).random((3, side, side), dtype=np.float32)


def assert_public(error: EngineError, tmp_path: Path) -> None:
    """Nothing of the server's folders in what a client is told."""
    assert str(tmp_path) not in error.detail and public_detail(error.detail) == error.detail


def test_ncnn_runs_the_written_net(files: tuple[Path, Path]) -> None:
    """The net the failures below start from is sound: a 3x3 valid convolution, two pixels smaller."""
    assert NcnnBackend(conv_net(), *files, threads=1).infer(tile(8)).shape == (3, 6, 6)


def test_ncnn_refusing_truncated_weights_is_a_load_error(files: tuple[Path, Path], tmp_path: Path) -> None:
    param, weights = files
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(EngineLoadError) as caught:
        NcnnBackend(conv_net(), param, weights, threads=1)
    error = caught.value
    assert (error.status_code, error.slug, error.retryable) == (500, "engine-load-error", False)
    assert error.detail == "ncnn could not load the weights conv.bin"
    assert_public(error, tmp_path)


def test_ncnn_refusing_a_param_file_is_a_load_error(files: tuple[Path, Path], tmp_path: Path) -> None:
    param, weights = files
    param.write_text(PARAM.replace("0=3 1=3", "0=x 1=3"))
    with pytest.raises(EngineLoadError, match=r"^ncnn could not parse conv\.param$") as caught:
        NcnnBackend(conv_net(), param, weights, threads=1)
    assert_public(caught.value, tmp_path)


@pytest.mark.parametrize(
    ("side", "reason"),
    [
        (2, r"code -100"),  # a 0x0 output: ncnn's "could not allocate", which on a CPU is no memory shortage
        (1, r"output of 3x-1x-1 from an input of 3x1x1"),  # ncnn says it succeeded
    ],
)
def test_ncnn_on_an_input_smaller_than_its_kernel_is_an_inference_error(
    files: tuple[Path, Path], side: int, reason: str
) -> None:
    backend = NcnnBackend(conv_net(), *files, threads=1)
    with pytest.raises(InferenceError, match=reason) as caught:
        backend.infer(tile(side))
    assert (caught.value.status_code, caught.value.slug, caught.value.retryable) == (500, "inference-error", False)
    assert backend.infer(tile(8)).shape == (3, 6, 6)  # the net is still usable


def test_ncnn_without_the_input_blob_is_an_inference_error(files: tuple[Path, Path]) -> None:
    backend = NcnnBackend(dataclasses.replace(conv_net(), input_blob="nope"), *files, threads=1)
    with pytest.raises(InferenceError, match="refused input blob 'nope'"):
        backend.infer(tile(8))


def test_ncnn_on_a_gpu_it_does_not_see_is_a_load_error(files: tuple[Path, Path]) -> None:
    with pytest.raises(EngineLoadError, match=r"GPU 99 was requested but ncnn sees \d+ Vulkan device"):
        NcnnBackend(conv_net(), *files, threads=1, gpu=99)


def test_openvino_runs_the_written_net(files: tuple[Path, Path]) -> None:
    backend = OpenVinoBackend(conv_net(), *files, threads=1, precision="f32", input_side=8)
    assert backend.infer(tile(8)).shape == (3, 6, 6)


def test_openvino_refusing_to_compile_is_a_load_error(files: tuple[Path, Path], tmp_path: Path) -> None:
    """OpenVINO's own failure (a precision its CPU plugin does not know), said without its source lines."""
    with pytest.raises(EngineLoadError) as caught:
        OpenVinoBackend(conv_net(), *files, threads=1, precision="f8x", input_side=8)
    error = caught.value
    assert (error.status_code, error.slug, error.retryable) == (500, "engine-load-error", False)
    assert error.detail.startswith("OpenVINO could not compile conv.param for 3x8x8: RuntimeError: Wrong value f8x")
    assert "Exception from" not in error.detail and ".cpp" not in error.detail
    assert_public(error, tmp_path)
    assert isinstance(error.__cause__, RuntimeError)  # the runtime's own words stay for the log


def test_openvino_reading_a_damaged_file_is_still_an_integrity_error(files: tuple[Path, Path]) -> None:
    """Our own reader sees the file before OpenVINO does and can say what is wrong with it."""
    param, weights = files
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelIntegrityError):
        OpenVinoBackend(conv_net(), param, weights, threads=1, precision="f32", input_side=8)


def test_the_boundary_translates_the_runtimes_errors_only(caplog: pytest.LogCaptureFixture) -> None:
    message = (
        "Exception from src/inference/src/cpp/infer_request.cpp:223:\n"
        "Exception from src/plugins/intel_cpu/src/node.cpp:45:\n"
        "Cannot open /srv/enhanceit/cache/openvino/blob.bin\n"
    )
    boundary = runtime_errors("OpenVINO", "run a tile", InferenceError)
    with (
        caplog.at_level(logging.WARNING, "enhanceit.engine.boundary"),
        pytest.raises(InferenceError) as caught,
        boundary,
    ):
        raise RuntimeError(message)
    assert caught.value.detail == "OpenVINO could not run a tile: RuntimeError: Cannot open <file>"
    assert "/srv/enhanceit/cache/openvino/blob.bin" in caplog.text  # the operator's log keeps where

    with pytest.raises(EngineOutOfMemory) as oom, runtime_errors("ncnn", "run a tile", InferenceError):
        raise MemoryError
    assert (oom.value.status_code, oom.value.retryable, oom.value.slug) == (503, True, "engine-out-of-memory")

    with pytest.raises(InvalidRequest), runtime_errors("ncnn", "run a tile"):  # ours pass through as they are
        raise InvalidRequest("bad")
    with pytest.raises(TypeError), runtime_errors("ncnn", "run a tile"):  # a wrong call of ours is a bug
        raise TypeError("infer() takes 2 arguments")
    loading = runtime_errors("ncnn", "load", foreign=(RuntimeError, ValueError))
    with pytest.raises(EngineError, match="ncnn could not load: ValueError: x"), loading:
        raise ValueError("x")


def test_a_long_runtime_message_is_cut() -> None:
    detail = describe(RuntimeError("shape " * 200))
    assert len(detail) == len("RuntimeError: ") + MAX_DETAIL and detail.endswith("…")
    assert describe(RuntimeError()) == "RuntimeError"


def test_engine_errors_sit_in_the_tree() -> None:
    for cls in (EngineLoadError, InferenceError, EngineOutOfMemory):
        assert issubclass(cls, EngineError)
    assert not EngineError.retryable and EngineError.status_code == 500 and EngineError.slug == "engine-error"
