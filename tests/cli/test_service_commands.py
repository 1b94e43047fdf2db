"""``enhanceit config show`` and ``storage init``: effective settings with secrets masked, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from enhanceit.cli import main


def test_config_show_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ENHANCEIT_API_KEYS", "k-one,k-two")
    monkeypatch.setenv("ENHANCEIT_SIGNING_KEY", "super-secret-signing")
    monkeypatch.setenv("ENHANCEIT_ENGINE_THREADS", "3")
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["engine"]["threads"] == 3 and data["storage"] == "local"
    assert data["api_keys"] == ["********", "********"] and data["signing_key"] == "********"
    assert "k-one" not in out and "super-secret-signing" not in out
    assert main(["config", "show"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["engine"]["threads"] == 3


@pytest.mark.parametrize(
    ("backend", "precision", "runs_on"),
    [("ncnn", "auto", "ncnn f32 (set)"), ("openvino", "f32", "openvino f32 (set)")],
)
def test_config_show_says_what_the_engine_settings_come_to(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], backend: str, precision: str, runs_on: str
) -> None:
    monkeypatch.setenv("ENHANCEIT_ENGINE_BACKEND", backend)
    monkeypatch.setenv("ENHANCEIT_ENGINE_PRECISION", precision)
    assert main(["config", "show", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["engine"]["backend"], data["engine"]["precision"]) == (backend, precision)
    assert data["engine_on_this_machine"]["runs_on"] == runs_on
    assert data["engine_on_this_machine"]["cpu"]


def test_config_show_refuses_bf16_on_ncnn(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ENHANCEIT_ENGINE_BACKEND", "ncnn")
    monkeypatch.setenv("ENHANCEIT_ENGINE_PRECISION", "bf16")
    assert main(["config", "show"]) == 2
    assert "bf16 runs on OpenVINO" in capsys.readouterr().err


def test_yaml_config_file_and_its_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("engine:\n  tile: 96\nlimits:\n  max_input_pixels: 1000\n")
    monkeypatch.setenv("ENHANCEIT_CONFIG", str(config))
    assert main(["config", "show", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["engine"]["tile"] == 96 and data["limits"]["max_input_pixels"] == 1000
    monkeypatch.setenv("ENHANCEIT_ENGINE_THREADS", "lots")
    assert main(["config", "show"]) == 2
    assert "engine.threads" in capsys.readouterr().err
    monkeypatch.setenv("ENHANCEIT_CONFIG", str(tmp_path / "missing.yaml"))
    assert main(["config", "show"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_storage_init_creates_the_local_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ENHANCEIT_DATA_DIR", str(tmp_path / "d"))
    assert main(["storage", "init"]) == 0
    assert (tmp_path / "d" / "results").is_dir()
    assert "local" in capsys.readouterr().out


def test_each_command_works_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """The command modules import their work lazily: each command, run in a new process, still finds it."""
    import os
    import subprocess
    import sys

    from tests.helpers import photo, save

    env = {**os.environ, "ENHANCEIT_DATA_DIR": str(tmp_path / "data")}
    env.pop("ENHANCEIT_QUEUE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "enhanceit", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert cli("--help").returncode == 0
    listed = cli("models", "list", "--json")
    assert listed.returncode == 0 and "waifu2x-cunet" in {m["id"] for m in json.loads(listed.stdout)}
    shown = cli("config", "show", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["storage"] == "local"
    init = cli("storage", "init")
    assert init.returncode == 0 and init.stdout.startswith("local: results in")
    worker = cli("worker")
    assert worker.returncode == 2 and "ENHANCEIT_QUEUE_URL" in worker.stderr
    src = save(photo("astronaut", 24), tmp_path / "in.png")
    up = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "waifu2x-upconv7-photo", "--quiet")
    assert up.returncode == 0, up.stderr
    assert (tmp_path / "out.png").stat().st_size > 0
