"""``enhanceit url sign`` and ``enhanceit upscale --preset``, with the settings from the environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from enhanceit.cli import main
from enhanceit.config import UrlSettings
from enhanceit.imaging.formats import sniff
from enhanceit.security.urlsigning import UrlKeys
from enhanceit.signedurls import decode_source
from tests.helpers import load, photo, save

KEY = "cli-key-0123456789abcdef"
SOURCE = "https://images.example/a.jpg"
FAST = {"model": "waifu2x-upconv7-photo"}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no config.yaml of the working folder
    monkeypatch.setenv("ENHANCEIT_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def sign(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["url", "sign", *args])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def test_url_sign_prints_the_signed_path(environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    environment.setenv("ENHANCEIT_URLS_KEY", KEY)
    code, out, _ = sign(capsys, SOURCE, "--model", "photo", "--scale", "2", "--format", "webp", "--quality", "85")
    assert code == 0
    match = re.fullmatch(r"/v1/u/([A-Za-z0-9_-]{43})(/m:photo/s:2/f:webp/q:85/([A-Za-z0-9_-]+))", out)
    assert match, out
    assert decode_source(match.group(3)) == SOURCE
    UrlKeys.from_settings(UrlSettings(key=KEY)).verify(match.group(1), match.group(2))  # type: ignore[arg-type]
    code, out, _ = sign(capsys, SOURCE, "--noise", "-1", "--tta", "8", "--strict", "--frames", "first")
    assert code == 0 and "/n:-1/t:8/fr:first/st:1/" in out


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({}, [SOURCE], "no URL key to sign with: set ENHANCEIT_URLS_KEY"),
        ({"ENHANCEIT_URLS_KEY": "short"}, [SOURCE], "invalid configuration: urls.key"),
        ({"ENHANCEIT_URLS_KEY": KEY}, ["ftp://x.example/a"], "the source is an http(s) URL"),
        ({"ENHANCEIT_URLS_KEY": KEY}, [SOURCE, "--quality", "0"], "--quality: Input should be greater than"),
        ({"ENHANCEIT_URLS_KEY": KEY}, [SOURCE, "--preset", "nope"], "unknown preset 'nope'"),
        (
            {"ENHANCEIT_URLS_KEY": KEY, "ENHANCEIT_PRESETS_ONLY": "true"},
            [SOURCE, "--scale", "2"],
            "accepts only presets in URLs",
        ),
        (
            {"ENHANCEIT_URLS_KEY": KEY, "ENHANCEIT_PRESETS": '{"t": {"scale": 99}}'},
            [SOURCE],
            "invalid configuration: preset 't': scale: Input should be less than or equal to 16",
        ),
    ],
)
def test_url_sign_refuses_what_the_server_would(
    environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    for name, value in env.items():
        environment.setenv(name, value)
    code, out, err = sign(capsys, *args)
    assert (code, out) == (2, "")
    assert err.startswith("enhanceit: ") and message in err, err


def test_url_sign_with_presets_only(environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    environment.setenv("ENHANCEIT_URLS_KEY", KEY)
    environment.setenv("ENHANCEIT_PRESETS", json.dumps({"thumb2x": {"model": "photo", "scale": 2}}))
    environment.setenv("ENHANCEIT_PRESETS_ONLY", "true")
    code, out, _ = sign(capsys, SOURCE, "--preset", "thumb2x")
    assert code == 0 and re.fullmatch(r"/v1/u/[A-Za-z0-9_-]+/p:thumb2x/[A-Za-z0-9_-]+", out), out


def test_a_bad_preset_is_a_configuration_error_for_every_command(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("ENHANCEIT_PRESETS", json.dumps({"thumb2x": {"scale": 2, "modle": "photo"}}))
    assert main(["config", "show"]) == 2
    assert "invalid configuration: preset 'thumb2x': modle: Extra inputs are not permitted" in capsys.readouterr().err


def test_upscale_with_a_preset(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment.setenv("ENHANCEIT_PRESETS", json.dumps({"web3x": {**FAST, "scale": 3, "format": "webp"}}))
    src = save(photo("astronaut", 32), tmp_path / "in.png")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["upscale", str(src), "-o", str(out), "--preset", "web3x", "--quiet"]) == 0
    assert sniff((out / "in.webp").read_bytes()[:32]) == "webp"  # the preset's format names the file too
    assert load(out / "in.webp").shape == (96, 96, 3)
    # options given override the preset's; an output file's extension says its format
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--preset", "web3x", "--scale", "2"]) == 0
    assert sniff((tmp_path / "o.png").read_bytes()[:32]) == "png"
    assert load(tmp_path / "o.png").shape == (64, 64, 3)


def test_upscale_with_an_unknown_preset_exits_2(
    environment: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = save(photo("astronaut", 16), tmp_path / "in.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--preset", "nope"]) == 2
    assert "unknown preset 'nope' (presets here: none are defined)" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
