"""``enhanceit models add``: an operator's model, checked by our reader and a limited probe before anything
runs it; then it runs like a zoo model, from the CLI, and is found again (and checked again) at each start."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from enhanceit.cli.main import main
from enhanceit.config import load_settings
from enhanceit.engine.runtime import registry_from
from enhanceit.errors import ModelNotEnabled
from enhanceit.imaging.vips import pyvips
from enhanceit.models import ncnnfile
from enhanceit.models.registry import get_model
from enhanceit.models.weights import verified_net_files
from tests.helpers import photo, psnr

#: How much an operator's copy of a zoo net may differ from the built-in: the issue's bar (they are equal).
SAME_PICTURE_DB = 45.0
#: A refused file must not cost the process more than this (the issue's bound).
REFUSAL_MAX_MB = 600


def upconv7_files() -> tuple[Path, Path]:
    return verified_net_files(get_model("waifu2x-upconv7-photo").net(2, -1))


def upconv7_onnx(folder: Path) -> Path:
    """The same net made into ONNX (tests/models/onnx_export.py), as an operator would bring it."""
    import onnx

    from tests.models.onnx_export import to_onnx

    net = get_model("waifu2x-upconv7-photo").net(2, -1)
    assert net is not None
    path = folder / "upconv7-photo.onnx"
    onnx.save(to_onnx(ncnnfile.read(*upconv7_files()), net.input_blob, net.output_blob), str(path))
    return path


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("ENHANCEIT_MODELS_DIR", str(folder))
    return folder


def add(*args: str | Path) -> int:
    return main(["models", "add", *(str(a) for a in args)])


@pytest.mark.parametrize("given", ["ncnn", "onnx"])
def test_an_added_copy_of_upconv7_gives_the_built_in_picture(
    given: str, models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = upconv7_files() if given == "ncnn" else (upconv7_onnx(tmp_path),)
    assert add("my-upconv7", *files, "--scale", "2", "--licence", "MIT", "--name", "UpConv7 again") == 0
    assert capsys.readouterr().out.startswith(f"added my-upconv7: 2x from {given}, tiles padded by 7 px, exact")
    manifest = json.loads((models_dir / "added" / "my-upconv7" / "manifest.json").read_text())
    assert manifest["probe"]["pad"] == 7 and manifest["licence"] == "MIT" and manifest["given_as"] == given

    source = tmp_path / "in.png"
    image = photo(size=96)
    pyvips.Image.new_from_memory(image.tobytes(), 96, 96, 3, "uchar").pngsave(str(source))
    for model in ("my-upconv7", "waifu2x-upconv7-photo"):
        out = str(tmp_path / f"{model}.png")
        assert main(["upscale", str(source), "-o", out, "--model", model, "--noise", "-1"]) == 0
    ours, theirs = (
        pyvips.Image.new_from_file(str(tmp_path / f"{m}.png")).numpy() for m in ("my-upconv7", "waifu2x-upconv7-photo")
    )
    assert psnr(ours, theirs) >= SAME_PICTURE_DB

    capsys.readouterr()
    assert main(["models", "list"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("my-upconv7")]
    assert listed and "MIT" in listed[0] and "added" in listed[0]


def test_remove_takes_it_out(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add("gone-soon", *upconv7_files(), "--scale", "2", "--licence", "MIT") == 0
    assert main(["models", "remove", "gone-soon"]) == 0
    assert not (models_dir / "added" / "gone-soon").exists()
    assert "gone-soon" not in registry_from(load_settings()).ids()
    assert main(["models", "remove", "gone-soon"]) == 1
    assert capsys.readouterr().err.strip() == "enhanceit: models remove: no added model 'gone-soon'"


def test_a_model_whose_files_changed_is_left_out_at_start(models_dir: Path) -> None:
    assert add("tampered", *upconv7_files(), "--scale", "2", "--licence", "MIT") == 0
    assert "tampered" in registry_from(load_settings()).ids()
    weights = models_dir / "added" / "tampered" / "model.bin"
    data = bytearray(weights.read_bytes())
    data[-4:] = struct.pack("<f", 1e30)
    weights.write_bytes(bytes(data))
    assert "tampered" not in registry_from(load_settings()).ids()


def test_a_restricted_model_is_listed_but_off_until_enabled(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        add("nc-model", *upconv7_files(), "--scale", "2", "--licence", "CC-BY-NC-4.0", "--restricted", "non-commercial")
        == 0
    )
    with pytest.raises(ModelNotEnabled, match="non-commercial"):
        registry_from(load_settings()).get("nc-model")
    monkeypatch.setenv("ENHANCEIT_MODELS_ENABLE", "nc-model")
    assert registry_from(load_settings()).get("nc-model").licence == "CC-BY-NC-4.0"


def test_an_id_of_the_zoo_or_one_already_added_is_refused(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add("waifu2x-cunet", *upconv7_files(), "--scale", "2", "--licence", "MIT") == 1
    assert "built-in model's id" in capsys.readouterr().err
    assert add("twice", *upconv7_files(), "--scale", "2", "--licence", "MIT") == 0
    assert add("twice", *upconv7_files(), "--scale", "2", "--licence", "MIT") == 1
    assert "already added" in capsys.readouterr().err


def test_a_licence_must_be_stated(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add("no-licence", *upconv7_files(), "--scale", "2", "--licence", " ") == 1
    assert "--licence: say under which licence" in capsys.readouterr().err
    assert not (models_dir / "added").exists()


def test_a_net_that_scales_otherwise_than_given_is_refused(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add("wrong-scale", *upconv7_files(), "--scale", "4", "--licence", "MIT") == 1
    assert capsys.readouterr().err.strip() == "enhanceit: models add: the net scales by 2, not 4 as given"
    assert not (models_dir / "added" / "wrong-scale").exists()


# --- hostile files: each refused in one line, nothing added, the process small ---------------------------


def _param(*layers: str, blobs: int | None = None) -> str:
    return "\n".join(["7767517", f"{len(layers)} {blobs if blobs is not None else len(layers)}", *layers]) + "\n"


def _conv(name: str, src: str, dst: str, out: int = 3, inp: int = 3, k: int = 3) -> str:
    return f"Convolution {name} 1 1 {src} {dst} 0={out} 1={k} 5=1 6={out * inp * k * k}"


def _weights(*counts: int) -> bytes:
    """Tagged float32 weights then a bias, for each convolution's weight count."""
    return b"".join(
        struct.pack("<I", 0) + np.full(n, 0.01, "<f4").tobytes() + np.zeros(3, "<f4").tobytes() for n in counts
    )


def _hostile(case: str, folder: Path) -> list[Path]:
    param, weights = folder / "m.param", folder / "m.bin"
    if case == "onnx custom domain":
        import onnx
        from onnx import TensorProto, helper

        node = helper.make_node("Foo", ["x"], ["y"], domain="com.example")
        graph = helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, None])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, None, None])],
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
        )
        path = folder / "m.onnx"
        onnx.save(model, str(path))
        return [path]
    if case == "pth":
        path = folder / "m.pth"
        path.write_bytes(b"\x80\x04\x95PK")  # a pickle's opening bytes: never read at all
        return [path]
    if case == "unknown layer":
        param.write_text(_param("Input in 0 1 in0", "FooLayer foo 1 1 in0 out0"))
        weights.write_bytes(b"")
    elif case == "weights past the bin":
        param.write_text(_param("Input in 0 1 in0", _conv("c1", "in0", "out0")))
        weights.write_bytes(_weights(81)[:40])
    elif case == "truncated bin":
        zoo_param, zoo_bin = upconv7_files()
        param.write_text(zoo_param.read_text())
        weights.write_bytes(zoo_bin.read_bytes()[: zoo_bin.stat().st_size // 2])
    elif case == "2**30 channels":
        param.write_text(_param("Input in 0 1 in0", _conv("c1", "in0", "out0", out=2**30)))
        weights.write_bytes(_weights(81))
    elif case == "10000 layers":
        relus = [f"ReLU r{i} 1 1 b{i} b{i + 1}" for i in range(9999)]
        param.write_text(_param("Input in 0 1 b0", *relus))
        weights.write_bytes(b"")
    return [param, weights]


HOSTILE = {
    "unknown layer": "layer 2 (foo): layer kind 'FooLayer' is not supported",
    "weights past the bin": "layer c1: the .bin file ends before this layer's weights",
    "truncated bin": "the .bin file ends before this layer's weights",
    "2**30 channels": "layer c1: parameter 0 = 1073741824 is outside 1..4096",
    "10000 layers": "the net has 10000 layers; at most 4096 are accepted",
    "onnx custom domain": "custom operator domain 'com.example'",
    "pth": "m.pth: PyTorch and pickled weights are never loaded (unpickling runs code); export the model to ONNX",
}

#: Runs the CLI in a fresh process and reports its peak memory on stdout: VmHWM, the peak since the exec
#: (ru_maxrss would carry over the forking test process's own peak).
_RUN = (
    "import sys; from enhanceit.cli.main import main; code = main(sys.argv[1:]); "
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]; "
    "print(int(hwm) // 1024); sys.exit(code)"
)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_model_is_refused_in_one_line(case: str, models_dir: Path, tmp_path: Path) -> None:
    files = _hostile(case, tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _RUN, "models", "add", "hostile", *map(str, files), "--scale", "2", "--licence", "MIT"],
        capture_output=True,
        text=True,
        env={**os.environ, "ENHANCEIT_MODELS_DIR": str(models_dir)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("enhanceit: models add: "), done.stderr
    assert HOSTILE[case] in lines[0]
    assert int(done.stdout.split()[-1]) < REFUSAL_MAX_MB
    assert not (models_dir / "added").exists() or not any((models_dir / "added").iterdir())


def test_a_net_that_breaks_the_probe_is_refused_and_the_caller_goes_on(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A well-formed net that asks ncnn for a 3x30000x30000 blob: past the probe's memory limit, so ncnn
    fails or the probe process dies; either way the model is refused, and this process never loaded it."""
    param, weights = tmp_path / "big.param", tmp_path / "big.bin"
    param.write_text(
        _param("Input in 0 1 in0", _conv("c1", "in0", "c1o"), "Interp up 1 1 c1o out0 0=1 3=30000 4=30000")
    )
    weights.write_bytes(_weights(81))
    assert add("too-big", param, weights, "--scale", "2", "--licence", "MIT") == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("enhanceit: models add: the net ") and "probe" in error, error
    assert not (models_dir / "added" / "too-big").exists()
