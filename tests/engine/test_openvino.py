"""The OpenVINO backend: every zoo net gives ncnn's picture at f32, shapes stay few and compiled once, the
settings and the machine choose the backend, and bf16 costs no measurable quality where the CPU has it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from enhanceit.config import EngineSettings, LimitSettings
from enhanceit.engine import choice
from enhanceit.engine.choice import Cpu, resolve
from enhanceit.engine.model import ModelNetwork
from enhanceit.engine.ncnn_backend import NcnnBackend
from enhanceit.engine.openvino_backend import MAX_SHAPES, SHAPE_STEP, OpenVinoBackend
from enhanceit.engine.runtime import Engine, EngineConfig
from enhanceit.errors import InvalidRequest
from enhanceit.models import get_model, weights
from enhanceit.models.registry import REGISTRY
from enhanceit.models.spec import Net
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file
from tests.helpers import box_down, load, photo, psnr, save

NETS = [(spec.id, net) for spec in REGISTRY for net in spec.nets]


def net_input(net: Net, tile: int) -> np.ndarray:
    """A photo crop as the net takes it: the tile and its context, pre-upsampled, luma alone for Y nets."""
    side = tile + 2 * net.pad
    pixels = photo("astronaut")[40 : 40 + side, 160 : 160 + side].astype(np.float32) / 255
    if net.color == "y":
        pixels = pixels @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
    data = pixels.transpose(2, 0, 1).repeat(net.pre_upsample, axis=1).repeat(net.pre_upsample, axis=2)
    return np.ascontiguousarray(data)


@pytest.mark.parametrize(("model_id", "net"), NETS, ids=[f"{m}-{n.key}" for m, n in NETS])
def test_every_zoo_net_gives_ncnns_picture_at_f32(model_id: str, net: Net) -> None:
    """Both backends read the same files: at f32 they agree to 1e-3 on a photo (about 1e-6 in practice).
    On random noise some nets' activations reach the hundreds, where float rounding shows: photos only."""
    param, bin_path = weights.verified_net_files(net)
    tile = -(-32 // net.multiple) * net.multiple
    data = net_input(net, tile)
    ours = OpenVinoBackend(net, param, bin_path, threads=2, precision="f32", input_side=data.shape[1])
    theirs = NcnnBackend(net, param, bin_path, 2)
    a, b = ours.infer(data), theirs.infer(data)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-3


def upconv7(side: int = 100, exact: bool = True) -> OpenVinoBackend:
    net = get_model("waifu2x-upconv7-photo").net(2, -1)
    assert net is not None
    param, bin_path = weights.verified_net_files(net)
    return OpenVinoBackend(net, param, bin_path, threads=2, precision="f32", input_side=side, exact_tiling=exact)


def test_small_inputs_of_exact_nets_share_a_padded_shape() -> None:
    """An image smaller than a tile is padded to a shape rounded up to SHAPE_STEP and its output cut back:
    for a convolution-only net that is the picture of the input alone, and three sizes compile one shape."""
    backend = upconv7()
    reference = NcnnBackend(backend.net, *weights.verified_net_files(backend.net), 2)
    full = net_input(backend.net, 64)
    for h, w in ((40, 52), (44, 60), (50, 64)):
        data = np.ascontiguousarray(full[:, :h, :w])
        out = backend.infer(data)
        assert np.abs(out - reference.infer(data)).max() <= 1e-3
    assert sorted(backend._compiled) == [(3, SHAPE_STEP, SHAPE_STEP), (3, 100, 100)]


def test_squeeze_excitation_nets_compile_the_inputs_own_shape() -> None:
    """Padding would enter their pooling: the small input's own shape is compiled instead, and the compiled
    shapes other than the tile's stay few."""
    backend = upconv7(exact=False)
    full = net_input(backend.net, 64)
    for h in (40, 44, 48, 52):
        backend.infer(np.ascontiguousarray(full[:, :h, :h]))
    assert len(backend._compiled) == MAX_SHAPES
    assert list(backend._compiled) == [(3, 100, 100), (3, 48, 48), (3, 52, 52)]  # the tile's stays


def test_a_pass_end_lets_go_of_idle_requests_and_the_next_call_still_runs() -> None:
    backend = upconv7()
    data = net_input(backend.net, 64)[:, :100, :100]
    first = backend.infer(np.ascontiguousarray(data))
    assert backend._requests[(3, 100, 100)]
    backend._running = 1  # another job's pass on the same net: OpenVINO may not let go under a running request
    backend.release()
    assert backend._requests[(3, 100, 100)]
    backend._running = 0
    backend.release()
    assert not backend._requests[(3, 100, 100)]
    assert np.array_equal(backend.infer(np.ascontiguousarray(data)), first)


RESTART = """
import sys
from pathlib import Path
from enhanceit.engine.runtime import Engine, EngineConfig
from enhanceit.models import get_model
spec = get_model("waifu2x-cunet")
engine = Engine(EngineConfig(backend="openvino", precision="f32", cache_dir=Path(sys.argv[1])))
print(engine.network(spec, spec.net(2, -1)).backend.from_cache)
"""


def test_a_restart_loads_the_compiled_net_from_the_cache(tmp_path: Path) -> None:
    def start() -> str:
        done = subprocess.run(
            [sys.executable, "-c", RESTART, str(tmp_path)], capture_output=True, text=True, timeout=120, check=True
        )
        return done.stdout.strip()

    assert start() == "False"  # compiled
    assert list((tmp_path / "openvino").glob("*.blob"))
    assert start() == "True"  # loaded


def test_the_load_says_what_runs_the_net(tmp_path: Path) -> None:
    spec = get_model("waifu2x-upconv7-photo")
    net = spec.net(2, -1)
    assert net is not None
    for backend in ("ncnn", "openvino"):
        engine = Engine(EngineConfig(backend=backend, precision="f32"))  # type: ignore[arg-type]
        network = engine.network(spec, net)
        assert isinstance(network, ModelNetwork)
        assert type(network.backend) is (NcnnBackend if backend == "ncnn" else OpenVinoBackend)
        loaded = engine.runs_on(spec)["loaded"]
        assert [(e["net"], e["backend"], e["precision"]) for e in loaded] == [("2x/noise-1", backend, "f32")]


AMX = Cpu("Xeon", frozenset({"avx2", "avx512f", "amx_bf16", "avx512_bf16"}))
AVX2 = Cpu("EPYC", frozenset({"avx2", "fma"}))


@pytest.mark.parametrize(
    ("backend", "precision", "gpu", "machine", "expected"),
    [
        ("auto", "auto", None, AMX, ("openvino", "bf16")),
        ("auto", "auto", None, AVX2, (None, "f32")),  # measured per net
        ("auto", "f32", None, AMX, (None, "f32")),
        ("auto", "bf16", None, AVX2, ("openvino", "bf16")),  # asked for: OpenVINO emulates it, slowly
        ("openvino", "auto", None, AVX2, ("openvino", "f32")),
        ("openvino", "auto", None, AMX, ("openvino", "bf16")),
        ("ncnn", "auto", None, AMX, ("ncnn", "f32")),
        ("auto", "auto", 0, AMX, ("ncnn", "f32")),  # the GPU is ncnn's Vulkan
    ],
)
def test_the_settings_and_the_cpu_choose_backend_and_precision(
    backend: Any, precision: Any, gpu: int | None, machine: Cpu, expected: tuple[str | None, str]
) -> None:
    resolved = resolve(backend, precision, gpu, machine)
    assert (resolved.backend, resolved.precision) == expected


def test_without_openvino_auto_is_ncnn_and_asking_for_it_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice, "openvino_version", lambda: None)
    assert resolve("auto", "auto", None, AMX).backend == "ncnn"
    with pytest.raises(InvalidRequest, match="OpenVINO is not installed"):
        resolve("openvino", "auto", None, AMX)


@pytest.mark.parametrize(("backend", "precision", "gpu"), [("ncnn", "bf16", None), ("openvino", "auto", 0)])
def test_settings_that_cannot_run_are_refused(backend: str, precision: str, gpu: int | None) -> None:
    with pytest.raises(ValidationError):
        EngineSettings(backend=backend, precision=precision, gpu=gpu)  # type: ignore[arg-type]


def test_auto_at_f32_measures_each_net_once_per_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_model("waifu2x-upconv7-photo")
    net = spec.net(2, -1)
    assert net is not None
    first = Engine(EngineConfig(precision="f32", threads=2, cache_dir=tmp_path))
    assert first.resolved.backend is None
    kind = first.kind(spec, net)
    saved = json.loads((tmp_path / "backend-choice.json").read_text())
    assert list(saved.values()) == [kind]
    assert first.runs_on(spec)["loaded"] == []
    assert first.network(spec, net) is not None  # the measured winner, already loaded

    second = Engine(EngineConfig(precision="f32", threads=2, cache_dir=tmp_path))

    def no_loading(*args: object) -> None:
        raise AssertionError("measured again")

    monkeypatch.setattr(second, "_load_backend", no_loading)
    assert second.kind(spec, net) == kind


@pytest.mark.skipif(not choice.cpu().bf16, reason="bf16 runs at its speed only on CPUs with AMX-BF16 or AVX512-BF16")
@pytest.mark.parametrize(("model_id", "factor"), [("waifu2x-cunet", 2), ("waifu2x-upconv7-photo", 2), ("span", 4)])
def test_bf16_costs_no_measurable_quality(tmp_path: Path, model_id: str, factor: int) -> None:
    """Against the original photos, bf16's PSNR is within 0.05 dB of f32's (measured: -0.03 to +0.01)."""
    engines = {p: Engine(EngineConfig(threads=2, backend="openvino", precision=p)) for p in ("f32", "bf16")}  # type: ignore[arg-type]
    for name in ("astronaut", "coffee"):
        original = photo(name, 256)
        src = save(box_down(original, factor), tmp_path / f"{name}.png")
        scores = {}
        for precision, engine in engines.items():
            out = tmp_path / f"{name}-{precision}.png"
            enhance_file(src, out, EnhanceOptions(model=model_id, scale=factor), engine, LimitSettings())
            scores[precision] = psnr(load(out), original)
        assert abs(scores["bf16"] - scores["f32"]) <= 0.05, scores
