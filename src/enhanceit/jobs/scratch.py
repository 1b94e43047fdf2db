"""Scratch folders of jobs: a process killed mid-job (SIGKILL, out of memory) leaves its folder behind.

Each running job works in ``<tmp>/enhanceit-job-<owner>-*`` (downloads and reused results in their own
``enhanceit-reuse-``/``enhanceit-upload-`` folders), where ``<owner>`` names the process: its pid and its
start time since boot, so a later process given the same pid (as a restarted container's is) is not taken
for it. A worker or an embedded service removes, when it starts and every :data:`SWEEP_SECONDS` after,
every folder whose owner is no longer running, at once; a folder without an owner's name (an older
version's) once nobody has touched it for :data:`STALE_SECONDS`. A SIGKILL and an immediate restart left
1.5 GB behind when only the age counted.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

#: Older than this (by modification time, which a running job keeps moving) = left by a dead process, for
#: folders that do not name their owner.
STALE_SECONDS = 3600.0
#: How often a running service or worker looks again.
SWEEP_SECONDS = 300.0
JOB_PREFIX = "enhanceit-job-"
REUSE_PREFIX = "enhanceit-reuse-"
UPLOAD_PREFIX = "enhanceit-upload-"
PREFIXES = (JOB_PREFIX, REUSE_PREFIX, UPLOAD_PREFIX)


def _start_ticks(pid: int) -> str | None:
    """The process's start time since boot, in clock ticks (/proc/<pid>/stat field 22); None if none runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # fields after the command name, which may hold spaces


@lru_cache(maxsize=1)
def _me() -> str:
    return f"{os.getpid()}.{_start_ticks(os.getpid()) or 0}"


def owned(prefix: str) -> str:
    """``prefix`` with this process's owner name: the prefix of a scratch folder it creates."""
    return f"{prefix}{_me()}-"


def _owner_alive(name: str) -> bool | None:
    """Whether the process a folder name names still runs; None when the name names none."""
    rest = next((name[len(p) :] for p in PREFIXES if name.startswith(p)), "")
    owner = rest.split("-", 1)[0]
    pid, _, ticks = owner.partition(".")
    if not pid.isdigit() or not ticks.isdigit() or "-" not in rest:
        return None
    return _start_ticks(int(pid)) == ticks


def remove_stale_scratch(folder: Path | None, older_than: float = STALE_SECONDS) -> int:
    """Remove the scratch folders under ``folder`` (the system's temporary folder when None) that no running
    process owns, or, for those that do not say, that nobody touched for ``older_than`` seconds."""
    root = Path(folder or tempfile.gettempdir())
    limit = time.time() - older_than
    removed = 0
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(PREFIXES) and p.is_dir()]
    except OSError:
        return 0
    for path in candidates:
        try:
            alive = _owner_alive(path.name)
            if alive is False or (alive is None and _newest(path) < limit):
                shutil.rmtree(path)
                removed += 1
        except OSError as e:
            logger.warning("could not remove a stale scratch folder: %s", type(e).__name__)
    if removed:
        logger.info("removed %d stale scratch folder(s)", removed)
    return removed


def sweep_scratch(folder: Path | None, stop: threading.Event, every: float = SWEEP_SECONDS) -> threading.Thread:
    """Remove stale scratch now and every ``every`` seconds until ``stop``, on a thread of its own."""

    def loop() -> None:
        while True:
            remove_stale_scratch(folder)
            if stop.wait(every):
                return

    thread = threading.Thread(target=loop, daemon=True, name="enhanceit-scratch")
    thread.start()
    return thread


def _newest(path: Path) -> float:
    """The latest modification time in the folder (a job writes its files as it goes)."""
    newest = path.stat().st_mtime
    for child in path.rglob("*"):
        newest = max(newest, child.lstat().st_mtime)
    return newest
