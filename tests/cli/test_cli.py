"""The command line: files and folders, exit codes, one-line errors, no partial output."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enhanceit.cli import main
from enhanceit.cli.upscale import ProgressBar
from enhanceit.imaging.formats import sniff
from tests.helpers import load, photo, save

FAST = ["--model", "waifu2x-upconv7-photo"]


def test_one_file_to_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = save(photo("astronaut", 32), tmp_path / "in.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.jpg"), *FAST]) == 0
    assert sniff((tmp_path / "out.jpg").read_bytes()[:32]) == "jpeg"  # format from the extension
    assert load(tmp_path / "out.jpg").shape == (64, 64, 3)
    assert "out.jpg (64x64 jpeg" in capsys.readouterr().err


def test_folders_recursively(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    save(photo("astronaut", 16), inputs / "a.png")
    save(photo("coffee", 16), inputs / "a.jpg")
    save(photo("chelsea", 16), inputs / "sub" / "b.webp")
    (inputs / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert main(["upscale", str(inputs), "-o", str(out), *FAST, "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg.png", "a.png"]
    assert main(["upscale", str(inputs), "-o", str(out), *FAST, "-r", "--quiet", "--format", "webp"]) == 0
    assert (out / "sub" / "b.webp").is_file()
    assert capsys.readouterr().err == ""  # --quiet


def test_several_files_into_a_folder(tmp_path: Path) -> None:
    a = save(photo("astronaut", 16), tmp_path / "a.png")
    b = save(photo("coffee", 16), tmp_path / "b.png")
    assert main(["upscale", str(a), str(b), "-o", str(tmp_path / "o"), *FAST, "--scale", "3", "--quiet"]) == 0
    assert load(tmp_path / "o" / "b.png").shape == (48, 48, 3)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--model", "nope"], 2, "unknown model 'nope'"),
        (["--noise", "5"], 2, "invalid level '5': auto, or -1 (none) to 3"),
        (["--scale", "2", "--width", "10"], 2, "not allowed with"),
        (["--tta", "3"], 2, "invalid choice"),
        (["--quality", "0"], 2, "--quality"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    src = save(photo("astronaut", 16), tmp_path / "in.png")
    with pytest.raises(SystemExit) if "invalid" in message or "not allowed" in message else _no_exit() as exc:
        result = main(["upscale", str(src), "-o", str(tmp_path / "o.png"), *args])
    err = capsys.readouterr().err
    assert (exc.value.code if exc else result) == code  # type: ignore[union-attr]
    assert message in err
    assert not (tmp_path / "o.png").exists()


class _no_exit:
    value = None

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


@pytest.mark.parametrize(
    ("make_input", "output", "message"),
    [
        (lambda d: d / "missing.png", "o.png", "no such file"),
        (lambda d: (d / "t.png").write_text("hello") and d / "t.png", "o.png", "not an image"),
        (lambda d: save(photo("astronaut", 16), d / "in.png"), "file.txt/o.png", "not exist"),
    ],
)
def test_failures_exit_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_input: object, output: str, message: str
) -> None:
    (tmp_path / "file.txt").write_text("a file, not a folder")
    src = make_input(tmp_path)  # type: ignore[operator]
    assert main(["upscale", str(src), "-o", str(tmp_path / output)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("enhanceit: ") and message in lines[0]


def test_progress_bar_counts_tiles() -> None:
    stream = io.StringIO()
    bar = ProgressBar("x.png", stream, enabled=True)
    bar(1, 4)
    bar(4, 4)
    assert "[##############################] 4/4 tiles" in stream.getvalue()
    quiet = io.StringIO()
    ProgressBar("x.png", quiet, enabled=False)(4, 4)
    assert quiet.getvalue() == ""


def test_models_list(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENHANCEIT_ENGINE_BACKEND", "openvino")
    monkeypatch.setenv("ENHANCEIT_ENGINE_PRECISION", "f32")
    assert main(["models", "list", "--json"]) == 0
    import json

    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["waifu2x-cunet"]["noise_levels"] == [-1, 0, 1, 2, 3]
    assert rows["waifu2x-cunet"]["scales"] == [1, 2] and rows["waifu2x-cunet"]["licence"] == "MIT"
    engine = rows["waifu2x-cunet"]["engine"]
    assert (engine["backend"], engine["precision"], engine["loaded"]) == ("openvino", "f32", [])
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "waifu2x-upconv7-photo" in out and "Nets run on openvino f32 (set)" in out


#: ``python -m enhanceit.cli`` with Ctrl-C's usual meaning restored first. A shell starts background jobs with
#: SIGINT ignored and children inherit that, so a test run started with ``&`` would send a signal the CLI
#: never sees; Python installs its KeyboardInterrupt handler only when SIGINT is not ignored at start.
WITH_CTRL_C = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('enhanceit.cli', run_name='__main__', alter_sys=True)"
)


def test_ctrl_c_mid_run_stops_at_once_and_leaves_no_partial_output(tmp_path: Path) -> None:
    """Ctrl-C on a terminal while tiles are running: exit 130 with one line, before the work is done, and no
    output file or scratch left. The run's stderr is a terminal, so it draws its progress bar: SIGINT is sent
    once that shows a tile done, not after a guessed time, with thousands still to go (a 512x512 photo at 4x
    in 16-pixel tiles), so no machine is fast enough to finish first."""
    src = save(photo("astronaut"), tmp_path / "in.png")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "ENHANCEIT_TMP_DIR": str(scratch), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-c", WITH_CTRL_C, "upscale", str(src), "-o", str(tmp_path / "out.png")]
    terminal, stderr = pty.openpty()
    try:
        proc = subprocess.Popen([*command, "--tile", "16", "--scale", "4"], env=env, stderr=stderr)
    finally:
        os.close(stderr)
    seen = b""

    def read(seconds: float) -> bool:
        """What the run wrote within ``seconds``; False once it has closed its terminal."""
        nonlocal seen
        if not select.select([terminal], [], [], seconds)[0]:
            return True
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: every writer is gone
            return False
        seen += chunk
        return bool(chunk)

    try:
        deadline = time.monotonic() + 120
        while not re.search(rb"\b[1-9]\d*/\d+ tiles", seen):  # a tile is done: inference is under way
            assert time.monotonic() < deadline and proc.poll() is None, seen.decode(errors="replace")
            read(0.5)
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 60
        while read(1.0) and time.monotonic() < deadline:
            pass
        code = proc.wait(timeout=60)
    finally:
        os.close(terminal)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = seen.decode(errors="replace")
    assert code == 130, out
    assert out.rstrip().endswith("enhanceit: interrupted"), out
    done, total = (int(n) for n in re.findall(r"(\d+)/(\d+) tiles", out)[-1])
    assert done < total, out  # it stopped mid-run: the work was not done
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "scratch"]
    assert list(scratch.iterdir()) == []
