"""``enhanceit upscale`` with animations: in.gif -o out.gif just works; a still format is a usage error."""

from __future__ import annotations

from pathlib import Path

import pytest

from enhanceit.cli import main
from enhanceit.imaging.probe import probe
from tests.animations import frames_of, pans, save_animation

FAST = ["--model", "waifu2x-upconv7-anime", "--quiet"]


def test_a_gif_to_a_gif(tmp_path: Path) -> None:
    src = save_animation(pans(3, 32, 24), tmp_path / "in.gif", [60, 70, 80], loop=0)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.gif"), *FAST]) == 0
    frames, delays, loop = frames_of(tmp_path / "out.gif")
    assert (len(frames), frames[0].shape[:2], delays, loop) == (3, (48, 64), [60, 70, 80], 0)


def test_into_a_folder_an_animation_keeps_its_format(tmp_path: Path) -> None:
    src = save_animation(pans(2, 32, 24), tmp_path / "in.webp", [60, 70], lossless=True)
    assert main(["upscale", str(src), str(src), "-o", str(tmp_path / "out"), *FAST]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["in-2.webp", "in.webp"]
    assert len(frames_of(tmp_path / "out" / "in.webp")[0]) == 2


def test_an_animation_to_png_is_a_usage_error_unless_only_the_first_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = save_animation(pans(3, 32, 24), tmp_path / "in.gif", [60] * 3)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "WEBP or GIF" in err[0] and "first" in err[0]
    assert not (tmp_path / "out.png").exists()
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--frames", "first", *FAST]) == 0
    assert probe(tmp_path / "out.png").frames == 1
