"""Scratch folders a killed worker left behind are removed at start; fresh ones (in use) are kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from enhanceit.jobs.scratch import STALE_SECONDS, remove_stale_scratch
from tests.api.conftest import make_settings, start


def scratch(folder: Path, name: str, age: float) -> Path:
    path = folder / name
    (path / "tiles").mkdir(parents=True)
    (path / "tiles" / "raster").write_bytes(b"\0" * 100)
    then = time.time() - age
    for p in (path / "tiles" / "raster", path / "tiles", path):
        os.utime(p, (then, then))
    return path


def test_stale_scratch_folders_go_fresh_ones_and_others_stay(tmp_path: Path) -> None:
    stale = scratch(tmp_path, "enhanceit-job-dead", STALE_SECONDS * 2)
    fresh = scratch(tmp_path, "enhanceit-job-busy", 5)
    other = scratch(tmp_path, "someone-elses", STALE_SECONDS * 2)
    assert remove_stale_scratch(tmp_path) == 1
    assert not stale.exists() and fresh.exists() and other.exists()


def test_the_embedded_service_cleans_its_scratch_folder_at_start(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    stale = scratch(tmp, "enhanceit-job-dead", STALE_SECONDS * 2)
    server, _ = start(make_settings(tmp_path, tmp_dir=tmp))
    with server:
        assert not stale.exists()


def test_a_dead_processs_scratch_goes_at_once_a_live_ones_stays(tmp_path: Path) -> None:
    """A SIGKILL and an immediate restart left 1.5 GB: the folders were removed only after an hour. Now a
    folder names its owner (pid and start time) and goes as soon as that process no longer runs, whatever
    its age; a process that got the dead one's pid is not taken for it."""
    import subprocess
    import sys

    from enhanceit.jobs.scratch import JOB_PREFIX, _start_ticks, owned

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ticks = _start_ticks(child.pid)
        assert ticks is not None
        theirs = scratch(tmp_path, f"{JOB_PREFIX}{child.pid}.{ticks}-abc", 1)
        reused_pid = scratch(tmp_path, f"{JOB_PREFIX}{child.pid}.{int(ticks) + 1}-def", 1)  # an earlier owner
        mine = scratch(tmp_path, f"{owned(JOB_PREFIX)}ghi", 1)
        assert remove_stale_scratch(tmp_path) == 1
        assert theirs.exists() and mine.exists() and not reused_pid.exists()
    finally:
        child.kill()
        child.wait()
    assert remove_stale_scratch(tmp_path) == 1  # fresh, but its owner is gone
    assert not theirs.exists() and mine.exists()
