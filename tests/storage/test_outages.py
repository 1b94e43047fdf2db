"""Outages of the object store, for real: SeaweedFS stopped while jobs run, then started again on the same
ports and data; the local results folder made read-only (a real read-only bind mount), then writable.

Jobs must wait (retrying with backoff until their deadline) and succeed once the store is back; a request
refused meanwhile says so without a server path; nothing is left half-written. Each outage lasts until the
jobs are seen waiting it out (a result the store refused, and refused again after a backoff), not for a
guessed time; backoff is short here. The figures printed are what a client saw and how long recovery took.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from enhanceit.config import S3Settings
from enhanceit.engine.base import Backend, FloatImage
from enhanceit.engine.fake import nearest_backend
from enhanceit.engine.runtime import Engine
from enhanceit.errors import EnhanceItError
from enhanceit.storage import S3Storage
from enhanceit.storage.base import Storage, StoredObject
from tests.api.conftest import make_settings, png_bytes, start
from tests.helpers import photo
from tests.storage import servers
from tests.storage.conftest import make_test_s3_client

FAST_JOBS = {"retry_min_seconds": 0.2, "retry_max_seconds": 1, "deadline_seconds": 240, "max_concurrent": 1}
FINISHED = {"succeeded", "failed", "canceled"}

pytestmark = pytest.mark.slow  # each outage lasts until SeaweedFS is back: about 20 s


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


class Gate:
    """Holds the engine's tiles: ``reached`` once a job is computing (its input read), until ``open()``."""

    def __init__(self) -> None:
        self.reached, self.opened = threading.Event(), threading.Event()

    def engine(self) -> Engine:
        return Engine(factory=lambda spec, net: HeldBackend(nearest_backend(net), self))

    def open(self) -> None:
        self.opened.set()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.open()  # whatever happened: a held job would hold up the server's stop


class HeldBackend:
    """The fake engine's nearest-neighbour net, each tile held until the gate opens."""

    def __init__(self, inner: Backend, gate: Gate) -> None:
        self.inner, self.gate = inner, gate

    def __getattr__(self, name: str) -> Any:  # what the engine reads of a backend (threads, name…): the fake's
        return getattr(self.inner, name)

    def infer(self, data: FloatImage) -> FloatImage:
        self.gate.reached.set()
        assert self.gate.opened.wait(120), "the test never let the tile through"
        return self.inner.infer(data)

    def release(self) -> None:
        self.inner.release()


def watch_results(storage: Storage) -> list[str]:
    """The keys of the results ``storage`` is asked to store and cannot (the store away), one per try."""
    refused: list[str] = []
    put_file = storage.put_file

    def watched(key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        try:
            return put_file(key, path, content_type, expires_at)
        except EnhanceItError as e:
            if e.retryable and content_type.startswith("image/"):  # a result: uploads are octet-streams
                refused.append(key)
            raise

    storage.put_file = watched  # type: ignore[method-assign]
    return refused


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:g} s: {what}"
        time.sleep(0.05)


@pytest.mark.s3
def test_s3_stopped_while_jobs_run_then_they_succeed(
    tmp_path: Path, own_seaweedfs: servers.SeaweedFS, aws_environment: None
) -> None:
    assert own_seaweedfs.server is not None
    endpoint = own_seaweedfs.server.url
    make_test_s3_client(endpoint).create_bucket(Bucket="outage")
    s3 = S3Settings(endpoint_url=endpoint, bucket="outage", region="us-east-1")
    settings = make_settings(tmp_path, storage="s3", s3=s3.model_dump(), jobs=FAST_JOBS)
    gate = Gate()
    server, services = start(settings, engine=gate.engine(), storage=S3Storage(s3, 86_400))
    refusals = watch_results(services.storage)
    with server, httpx.Client(base_url=server.url, timeout=30) as c, gate:
        answers = [submit(c, i) for i in range(4)]
        assert [r.status_code for r in answers] == [202] * 4, [r.text for r in answers]
        job_ids = [r.json()["id"] for r in answers]
        assert gate.reached.wait(60), "no job started computing"
        own_seaweedfs.stop()  # one job is computing (its upload read), three wait their turn
        down = time.monotonic()
        gate.open()
        # the outage as the running job sees it: its result refused, and refused again after a backoff
        wait_until(lambda: len(refusals) >= 2, 60, "the running job tried twice to store its result")
        refused = submit(c, 9)  # its upload cannot be stored now
        during = [c.get(f"/v1/jobs/{j}").json()["status"] for j in job_ids]
        own_seaweedfs.start()
        back = time.monotonic()
        jobs = poll(c, job_ids, 120)
        recovery = time.monotonic() - back
    statuses = [jobs[j]["status"] for j in job_ids]
    print(
        f"\nS3 away {back - down:.1f} s (stopped, then started until ready): a new upload got "
        f"{refused.status_code}, the running job's result was refused {len(refusals)} times; "
        f"after the restart all ended in {recovery:.1f} s"
    )
    assert refused.status_code == 503 and refused.json()["type"].endswith("/storage-unavailable")
    assert sorted(during) == ["queued", "queued", "queued", "running"], during  # waiting, none failed
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
    gate = Gate()
    server, services = start(settings, engine=gate.engine())
    refusals = watch_results(services.storage)
    results = settings.data_dir / "results"
    with server, httpx.Client(base_url=server.url, timeout=30) as c, gate:
        answers = [submit(c, i) for i in range(3)]
        job_ids = [r.json()["id"] for r in answers]
        assert gate.reached.wait(60), "no job started computing"
        with read_only(results) as writable:
            gate.open()
            wait_until(lambda: len(refusals) >= 2, 60, "the running job tried twice to store its result")
            refused = submit(c, 9)
            readyz = c.get("/readyz")
            during = {j: c.get(f"/v1/jobs/{j}").json()["status"] for j in job_ids}
            writable()
            back = time.monotonic()
            jobs = poll(c, job_ids, 120)
            recovery = time.monotonic() - back
    print(
        f"\nread-only results: a new upload got {refused.status_code}, /readyz {readyz.status_code}; "
        f"jobs meanwhile {sorted(during.values())}; after: all ended in {recovery:.1f} s"
    )
    assert refused.status_code == 503 and str(tmp_path) not in refused.text
    assert readyz.status_code == 503 and str(tmp_path) not in readyz.text
    assert sorted(during.values()) == ["queued", "queued", "running"], during  # waiting, not failed
    assert [jobs[j]["status"] for j in job_ids] == ["succeeded"] * 3, jobs
    leftovers = [p for p in results.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == [] or all(p.name == ".keep" for p in leftovers), leftovers
