"""Scratch folders of jobs: a process killed mid-job (SIGKILL, out of memory) leaves its folder behind.

Each running job works in ``<tmp>/enhanceit-job-*``; a worker or an embedded service removes, when it starts,
those nobody has touched for a while (another process on the same machine may be using fresh ones).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

#: Older than this (by modification time, which a running job keeps moving) = left by a dead process.
STALE_SECONDS = 3600.0
JOB_PREFIX = "enhanceit-job-"
PREFIXES = (JOB_PREFIX, "enhanceit-reuse-", "enhanceit-upload-")


def remove_stale_scratch(folder: Path | None, older_than: float = STALE_SECONDS) -> int:
    """Remove stale scratch folders under ``folder`` (the system's temporary folder when None)."""
    root = Path(folder or tempfile.gettempdir())
    limit = time.time() - older_than
    removed = 0
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(PREFIXES) and p.is_dir()]
    except OSError:
        return 0
    for path in candidates:
        try:
            if _newest(path) < limit:
                shutil.rmtree(path)
                removed += 1
        except OSError as e:
            logger.warning("could not remove a stale scratch folder: %s", type(e).__name__)
    if removed:
        logger.info("removed %d stale scratch folder(s)", removed)
    return removed


def _newest(path: Path) -> float:
    """The latest modification time in the folder (a job writes its files as it goes)."""
    newest = path.stat().st_mtime
    for child in path.rglob("*"):
        newest = max(newest, child.lstat().st_mtime)
    return newest
