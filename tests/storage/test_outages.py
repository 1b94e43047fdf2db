"""Outages of the object store, for real: SeaweedFS stopped for 20 s while jobs run, then started again on the
same ports and data; the local results folder made read-only (a real read-only bind mount), then writable.

Jobs must wait (retrying with backoff until their deadline) and succeed once the store is back; a request
refused meanwhile says so without a server path; nothing is left half-written. Backoff is short here so
that each test takes tens of seconds; the figures printed are what a client saw and how long recovery took.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enhanceit.config import S3Settings
from enhanceit.engine.fake import fake_engine
from enhanceit.storage import S3Storage
from tests.api.conftest import make_settings, png_bytes, start
from tests.helpers import photo
from tests.storage import servers
from tests.storage.conftest import make_test_s3_client

FAST_JOBS = {"retry_min_seconds": 0.2, "retry_max_seconds": 1, "deadline_seconds": 240, "max_concurrent": 1}
FINISHED = {"succeeded", "failed", "canceled"}


def submit(c: httpx.Client, i: int) -> httpx.Response:
    files = {"file": (f"{i}.png", png_bytes(photo("coffee", 32) + i), "image/png")}
    return c.post("/v1/enhance", files=files, headers={"Prefer": "respond-async"})


def poll(c: httpx.Client, job_ids: list[str], seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    jobs: dict[str, Any] = {}
    while time.monotonic() < deadline:
        jobs = {j: c.get(f"/v1/jobs/{j}").json() for j in job_ids}
        if all(job["status"] in FINISHED for job in jobs.values()):
            break
        time.sleep(0.2)
    return jobs


@pytest.fixture
def own_seaweedfs(tmp_path: Path) -> Iterator[servers.SeaweedFS]:
    folder = tmp_path / "seaweedfs"
    folder.mkdir()
    server = servers.SeaweedFS(folder)
    server.start()
    yield server
    server.stop()


def test_s3_stopped_for_20_s_while_jobs_run_then_they_succeed(
    tmp_path: Path, own_seaweedfs: servers.SeaweedFS, aws_environment: None
) -> None:
    assert own_seaweedfs.server is not None
    endpoint = own_seaweedfs.server.url
    make_test_s3_client(endpoint).create_bucket(Bucket="outage")
    s3 = S3Settings(endpoint_url=endpoint, bucket="outage", region="us-east-1")
    settings = make_settings(tmp_path, storage="s3", s3=s3.model_dump(), jobs=FAST_JOBS)
    server, _ = start(settings, engine=fake_engine(delay=0.5), storage=S3Storage(s3, 86_400))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        answers = [submit(c, i) for i in range(4)]
        assert [r.status_code for r in answers] == [202] * 4, [r.text for r in answers]
        job_ids = [r.json()["id"] for r in answers]
        own_seaweedfs.stop()  # one job is running, three wait
        refused = submit(c, 9)  # its upload cannot be stored now
        time.sleep(20)
        own_seaweedfs.start()
        back = time.monotonic()
        jobs = poll(c, job_ids, 120)
        recovery = time.monotonic() - back
    statuses = [jobs[j]["status"] for j in job_ids]
    print(f"\nS3 down 20 s: a new upload got {refused.status_code}; after the restart all ended in {recovery:.1f} s")
    assert refused.status_code == 503 and refused.json()["type"].endswith("/storage-unavailable")
    assert statuses == ["succeeded"] * 4, jobs
    for job in jobs.values():
        assert httpx.get(job["result"]["url"], timeout=30).status_code == 200


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Any]:
    """``folder`` as a read-only bind mount of itself; ``writable()`` undoes it. Needs CAP_SYS_ADMIN."""
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs CAP_SYS_ADMIN): {bind.stderr.decode().strip()}")
    mounted = [True]

    def writable() -> None:
        if mounted[0]:
            subprocess.run(["umount", str(folder)], check=True)
            mounted[0] = False

    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield writable
    finally:
        writable()


def test_local_storage_read_only_then_writable_jobs_wait_and_nothing_is_half_written(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, jobs=FAST_JOBS)
    server, _ = start(settings, engine=fake_engine(delay=0.5))
    results = settings.data_dir / "results"
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        answers = [submit(c, i) for i in range(3)]
        job_ids = [r.json()["id"] for r in answers]
        with read_only(results) as writable:
            refused = submit(c, 9)
            readyz = c.get("/readyz")
            time.sleep(5)
            during = {j: c.get(f"/v1/jobs/{j}").json()["status"] for j in job_ids}
            writable()
            back = time.monotonic()
            jobs = poll(c, job_ids, 120)
            recovery = time.monotonic() - back
    print(
        f"\nread-only results: a new upload got {refused.status_code}, /readyz {readyz.status_code}; "
        f"jobs meanwhile {sorted(set(during.values()))}; after: all ended in {recovery:.1f} s"
    )
    assert refused.status_code == 503 and str(tmp_path) not in refused.text
    assert readyz.status_code == 503 and str(tmp_path) not in readyz.text
    assert set(during.values()) <= {"queued", "running"}  # waiting, not failed
    assert [jobs[j]["status"] for j in job_ids] == ["succeeded"] * 3, jobs
    leftovers = [p for p in results.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == [] or all(p.name == ".keep" for p in leftovers), leftovers
