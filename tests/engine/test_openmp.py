"""ncnn's OpenMP threads wait passively (see :mod:`enhanceit.allocator`): in every command, and in the tests from
before the first test module that imports ncnn. Checked where it counts, in libgomp itself: with
``OMP_DISPLAY_ENV=VERBOSE`` it prints its settings when it is loaded, and a passive wait policy is a spin
count of 0 (unset, the threads spin 300000 times at each barrier before they sleep)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from enhanceit.allocator import wait_passively
from tests.helpers import photo, save

ROOT = Path(__file__).parents[2]
PASSIVE = "GOMP_SPINCOUNT = '0'"


def unconfigured() -> dict[str, str]:
    """This environment without a wait policy, and with libgomp showing its settings when it loads."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return {**env, "OMP_DISPLAY_ENV": "VERBOSE"}


def libgomp_settings(output: str) -> str:
    start = output.find("OPENMP DISPLAY ENVIRONMENT BEGIN")
    assert start >= 0, f"libgomp was never loaded:\n{output}"
    return output[start : output.find("OPENMP DISPLAY ENVIRONMENT END", start)]


def test_the_tests_load_ncnn_with_passive_waits() -> None:
    """tests/models/chainer/test_convert.py imports ncnn at the top, so collecting it loads libgomp."""
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-s", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*collect, "tests/models/chainer/test_convert.py"],
        cwd=ROOT,
        env=unconfigured(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert PASSIVE in libgomp_settings(run.stderr)


def test_a_command_sets_the_policy_first() -> None:
    """Before it even parses its arguments (``--version`` ends there), with nothing of ncnn loaded yet."""
    script = (
        "import os, sys\n"
        "from enhanceit.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('OMP_WAIT_POLICY'), 'ncnn' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], env=unconfigured(), capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.split()[-2:] == ["PASSIVE", "False"], run.stdout


def test_a_command_runs_ncnn_with_passive_waits(tmp_path: Path) -> None:
    src = save(photo("astronaut", 16), tmp_path / "in.png")
    command = [sys.executable, "-m", "enhanceit", "upscale", str(src), "-o", str(tmp_path / "out.png")]
    run = subprocess.run(
        [*command, "--model", "waifu2x-upconv7-photo", "--quiet"],
        env={**unconfigured(), "ENHANCEIT_ENGINE_BACKEND": "ncnn"},  # auto may pick OpenVINO: no libgomp then
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert PASSIVE in libgomp_settings(run.stderr)


def test_an_operators_own_policy_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    wait_passively()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    wait_passively()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
