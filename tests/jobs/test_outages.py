"""Outages of Redis, for real: a redis-server with its append-only file, stopped or killed while jobs are
queued and running, then started again on the same port and folder. Every accepted job must end; with the
log intact, every one must succeed.

Leases, reaper passes and backoff are short here (seconds, not the production half-minute) so that each test
takes tens of seconds; the figures printed are what a client saw and how long recovery took.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enhanceit.config import Settings
from tests.api.conftest import png_bytes
from tests.helpers import photo
from tests.jobs.redis_server import RedisProcess
from tests.jobs.test_distributed import Workers, api, distributed_settings

FAST_JOBS = {
    "lease_seconds": 3,
    "reap_seconds": 1,
    "retry_min_seconds": 0.2,
    "retry_max_seconds": 1,
    "deadline_seconds": 240,
}
FINISHED = {"succeeded", "failed", "canceled"}

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[RedisProcess]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisProcess(folder, persistent=True).start()
    yield server
    server.stop()


def outage_settings(tmp_path: Path, server: RedisProcess) -> Settings:
    return distributed_settings(tmp_path, server.url, jobs=FAST_JOBS)


def submit(c: httpx.Client, i: int) -> str:
    """A job of a few seconds on one thread: CUnet 2x of a 128x128 photo in small tiles."""
    files = {"file": (f"{i}.png", png_bytes(photo("astronaut")[:128, i : 128 + i]), "image/png")}
    r = c.post("/v1/enhance", files=files, data={"scale": "2", "tile": "16"}, headers={"Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def poll(c: httpx.Client, job_ids: list[str], seconds: float) -> tuple[dict[str, Any], list[int]]:
    """Each job's last state once all finished (or time ran out), and every status code seen meanwhile."""
    deadline = time.monotonic() + seconds
    last: dict[str, Any] = {}
    codes: list[int] = []
    while time.monotonic() < deadline:
        for job_id in job_ids:
            try:
                r = c.get(f"/v1/jobs/{job_id}")
            except httpx.TransportError:
                codes.append(0)
                continue
            codes.append(r.status_code)
            if r.status_code == 200:
                last[job_id] = r.json()
        if all(last.get(j, {}).get("status") in FINISHED for j in job_ids):
            break
        time.sleep(0.2)
    return last, codes


def wait_running(c: httpx.Client, job_id: str) -> None:
    deadline = time.monotonic() + 90
    while c.get(f"/v1/jobs/{job_id}").json()["progress"] == 0:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)


def run_outage(tmp_path: Path, server: RedisProcess, how: signal.Signals, down_seconds: float) -> dict[str, Any]:
    settings = outage_settings(tmp_path, server)
    workers = Workers(settings)
    workers.log = tmp_path / "workers.log"
    workers.start(1)
    try:
        with api(settings) as c:
            job_ids = [submit(c, i) for i in range(3)]
            wait_running(c, job_ids[0])  # one running, two queued
            server.stop(how)
            _, during = poll(c, job_ids[:1], 2)
            time.sleep(down_seconds)
            server.start()
            back = time.monotonic()
            jobs, after = poll(c, job_ids, 180)
            recovery = time.monotonic() - back
    finally:
        workers.stop()
    statuses = [jobs.get(j, {}).get("status") for j in job_ids]
    attempts = [jobs.get(j, {}) for j in job_ids]
    print(f"\n{how.name}, Redis down {down_seconds:g} s: during the outage GET /v1/jobs answered {sorted(set(during))}")
    print(f"after the restart: all ended in {recovery:.1f} s; statuses {statuses}; codes {sorted(set(after))}")
    return {"statuses": statuses, "during": during, "jobs": attempts}


def test_redis_stopped_for_10_s_with_jobs_queued_and_running_loses_none(
    tmp_path: Path, redis_aof: RedisProcess
) -> None:
    outcome = run_outage(tmp_path, redis_aof, signal.SIGTERM, 10)
    assert set(outcome["during"]) == {503}  # the job store is away: said so, no 500
    assert outcome["statuses"] == ["succeeded"] * 3, outcome


def test_redis_killed_leaves_no_job_unfinished(tmp_path: Path, redis_aof: RedisProcess) -> None:
    outcome = run_outage(tmp_path, redis_aof, signal.SIGKILL, 3)
    assert all(s in FINISHED for s in outcome["statuses"]), outcome
