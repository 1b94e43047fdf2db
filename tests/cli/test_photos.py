"""Photos as people send them, from the command line: HEIC in, damaged files, the photo and art aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pillow_heif
import pytest

from enhanceit.cli import main
from tests.helpers import load, photo, save


def _cut_jpeg(path: Path) -> Path:
    save(photo("astronaut", 64), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return path


def test_a_cut_short_jpeg_gives_one_warning_line_and_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _cut_jpeg(tmp_path / "cut.jpg")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "photo", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"enhanceit: warning: {src}: the image data ended early; missing rows were filled"]
    assert load(tmp_path / "out.png").shape == (128, 128, 3)


def test_strict_refuses_it_with_exit_1_and_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _cut_jpeg(tmp_path / "cut.jpg")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "photo", "--strict"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "ends early" in lines[0]
    assert not (tmp_path / "out.png").exists()


def test_a_heic_from_a_folder_becomes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    pixels = photo("astronaut", 48)
    pillow_heif.from_bytes(mode="RGB", size=(48, 48), data=pixels.tobytes()).save(str(tmp_path / "in" / "IMG.HEIC"))
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", "photo"]) == 0
    assert load(tmp_path / "out" / "IMG.png").shape == (96, 96, 3)
    assert "waifu2x-upconv7-photo" in capsys.readouterr().err  # the model the alias chose


def test_models_list_shows_aliases_and_what_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert (
        "photo" in out and "alias: 2x waifu2x-upconv7-photo, 3x waifu2x-upconv7-photo, 4x waifu2x-upconv7-photo" in out
    )
    clear = next(line for line in out.splitlines() if line.startswith("clearreality"))
    assert "off: licence" in clear
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["art"]["alias"] is True and rows["art"]["resolves_to"]["scale"]["4"] == "realcugan-se"
    assert rows["span"]["licence"] == "Apache-2.0" and rows["span"]["enabled"] is True


def test_a_restricted_model_is_refused_until_enabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = save(photo("astronaut", 16), tmp_path / "in.png")
    args = ["upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "clearreality", "--scale", "4"]
    assert main(args) == 2
    assert "ENHANCEIT_MODELS_ENABLE=clearreality" in capsys.readouterr().err
    monkeypatch.setenv("ENHANCEIT_MODELS_ENABLE", "clearreality")
    assert main(args) == 0
    assert load(tmp_path / "out.png").shape == (64, 64, 3)
