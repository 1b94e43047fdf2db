"""The job runner's outcomes: success, bad input, transient faults waited out until the deadline, cancel,
a job store that is away when the job ends, a lost lease."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.fake import fake_engine
from enhanceit.engine.plan import make_plan
from enhanceit.errors import StorageUnavailable
from enhanceit.jobs.model import Job, JobStatus, Source, now
from enhanceit.jobs.results import result_key
from enhanceit.jobs.runner import JobRunner
from enhanceit.jobs.store.in_memory import MemoryJobStore
from enhanceit.models.registry import REGISTRY
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.prepared import prepare
from enhanceit.storage.base import StoredObject
from enhanceit.storage.in_memory import MemoryStorage
from tests.api.conftest import make_settings, png_bytes
from tests.helpers import photo, save

#: Short waits so that retries happen within a test's second.
FAST = {"retry_min_seconds": 0.01, "retry_max_seconds": 0.05, "lease_seconds": 0.3}


class FlakyStorage(MemoryStorage):
    """Publishing fails ``failures`` times, like a store that is briefly down; counts the tries."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.puts = 0
        self.opens = 0

    def put_file(self, key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        if not key.startswith("uploads/"):
            self.puts += 1
            if self.failures:
                self.failures -= 1
                raise StorageUnavailable("memory: down for a moment")
        return super().put_file(key, path, content_type, expires_at)

    def open(self, key: str) -> BinaryIO:
        self.opens += 1
        return super().open(key)


class AwayStore(MemoryJobStore):
    """A job store that can be switched off, like Redis stopped: every call raises while ``away``."""

    def __init__(self) -> None:
        super().__init__()
        self.away = threading.Event()
        self.refused = 0

    def _gate(self) -> None:
        if self.away.is_set():
            self.refused += 1
            raise StorageUnavailable("job store (Redis): ConnectionError")

    def get(self, job_id: str) -> Job | None:
        self._gate()
        return super().get(job_id)

    def _replace(self, job_id: str, change: Callable[[Job], Job]) -> Job:
        self._gate()
        return super()._replace(job_id, change)


def setup(
    tmp_path: Path, storage: MemoryStorage, body: bytes, store: MemoryJobStore | None = None, **jobs: Any
) -> tuple[JobRunner, MemoryJobStore, str]:
    store = store if store is not None else MemoryJobStore()
    runner = JobRunner(make_settings(tmp_path, jobs={**FAST, **jobs}), fake_engine(), storage, store)
    upload = tmp_path / "upload"
    upload.write_bytes(body)
    storage.put_file("uploads/x", upload, "application/octet-stream", now().replace(year=now().year + 1))
    job = store.insert(Job(options=EnhanceOptions(), source=Source(upload_key="uploads/x")))
    return runner, store, job.id


def test_a_transient_fault_is_waited_out_without_computing_again(tmp_path: Path) -> None:
    storage = FlakyStorage(failures=5)
    runner, _, job_id = setup(tmp_path, storage, png_bytes())
    job = runner.run(job_id)
    assert job is not None and job.status == JobStatus.SUCCEEDED and job.error is None
    assert storage.puts == 6 and storage.opens == 1 and job.attempts == 1  # the input was read once
    assert runner.run(job_id) == job  # delivered again: nothing happens


def test_a_fault_outlasting_the_deadline_fails_the_job_with_its_reason(tmp_path: Path) -> None:
    storage = FlakyStorage(failures=10**9)
    runner, _, job_id = setup(tmp_path, storage, png_bytes(), deadline_seconds=0.5)
    job = runner.run(job_id)
    assert job is not None and job.status == JobStatus.FAILED
    assert job.error is not None and job.error.type == "storage-unavailable"
    assert storage.puts > 1  # it was retried before giving up


def test_bad_input_is_never_retried(tmp_path: Path) -> None:
    storage = FlakyStorage(failures=0)
    runner, _, job_id = setup(tmp_path, storage, png_bytes()[:200])
    job = runner.run(job_id)
    assert job is not None and job.status == JobStatus.FAILED and job.error is not None and job.error.status == 422
    assert storage.opens == 1


def test_a_cancel_during_a_fault_ends_the_job_canceled(tmp_path: Path) -> None:
    storage = FlakyStorage(failures=10**9)
    runner, store, job_id = setup(tmp_path, storage, png_bytes(), retry_min_seconds=0.3, retry_max_seconds=0.3)
    original = storage.put_file

    def cancel_then_fail(*args: Any, **kwargs: Any) -> StoredObject:
        store.request_cancel(job_id)
        return original(*args, **kwargs)

    storage.put_file = cancel_then_fail  # type: ignore[method-assign]
    job = runner.run(job_id)
    assert job is not None and job.status == JobStatus.CANCELED and job.cancel_requested


def test_a_job_store_away_when_the_job_ends_is_waited_for(tmp_path: Path) -> None:
    """Defect 1: the end could not be recorded while Redis was away, and the job stayed running forever."""
    store = AwayStore()
    storage = FlakyStorage(failures=0)
    runner, _, job_id = setup(tmp_path, storage, png_bytes(), store=store)
    original = storage.put_file

    def outage_during_upload(*args: Any, **kwargs: Any) -> StoredObject:
        store.away.set()  # Redis goes away while the result is stored
        threading.Timer(0.5, store.away.clear).start()  # and comes back
        return original(*args, **kwargs)

    storage.put_file = outage_during_upload  # type: ignore[method-assign]
    job = runner.run(job_id)
    assert store.refused > 0  # the outage was met
    assert job is not None and job.status == JobStatus.SUCCEEDED
    assert store.require(job_id).status == JobStatus.SUCCEEDED and store.require(job_id).result is not None


def test_a_run_that_lost_its_lease_stops_and_leaves_the_job_to_its_new_owner(tmp_path: Path) -> None:
    storage = FlakyStorage(failures=10**9)  # keeps the run busy retrying
    runner, store, job_id = setup(tmp_path, storage, png_bytes())
    original = storage.put_file

    def taken_over(*args: Any, **kwargs: Any) -> StoredObject:
        held = store.require(job_id)
        if held.lease_owner != "another-run":  # a reaper re-queued it and another worker claimed it
            store.requeue(job_id, lapsed_at=None)
            store.claim(job_id, "another-run", now().replace(year=now().year + 1))
        return original(*args, **kwargs)

    storage.put_file = taken_over  # type: ignore[method-assign]
    assert runner.run(job_id) is None
    job = store.require(job_id)
    assert job.status == JobStatus.RUNNING and job.lease_owner == "another-run" and job.error is None


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.CANCELED])
def test_a_finished_job_delivered_again_is_left_alone(tmp_path: Path, status: JobStatus) -> None:
    runner, store, job_id = setup(tmp_path, FlakyStorage(failures=0), png_bytes())
    store.transition(job_id, status)
    job = runner.run(job_id)
    assert job is not None and job.status == status and job.attempts == 0


def test_a_job_claimed_as_often_as_max_claims_without_ending_fails_as_worker_lost(tmp_path: Path) -> None:
    """Each claim whose worker died leaves the job running until the reaper re-queues it: the claim after the
    last allowed one fails the job instead of killing another worker. One lost worker is retried as usual."""
    runner, store, job_id = setup(tmp_path, FlakyStorage(failures=0), png_bytes(), max_claims=3)
    for _ in range(3):  # a worker claims the job and dies; the reaper puts it back
        store.claim(job_id, "a-worker-that-dies", now().replace(year=2000))
        assert store.requeue(job_id, lapsed_at=now())
    job = runner.run(job_id)
    assert job is not None and job.status == JobStatus.FAILED and job.attempts == 3
    assert job.error is not None and job.error.type == "worker-lost" and "3 times" in job.error.message

    # The dead worker's message is redelivered once its lease lapsed, before the reaper re-queues the job: the
    # job is still running, on a lease nobody holds. Found by the end-to-end test (1 run in 8 claimed a 4th time).
    runner, store, job_id = setup(tmp_path, FlakyStorage(failures=0), png_bytes(), max_claims=3)
    for _ in range(3):
        store.claim(job_id, "a-worker-that-dies", now().replace(year=2000))
    job = runner.run(job_id)
    assert job is not None and job.status == JobStatus.FAILED and job.attempts == 3
    assert job.error is not None and job.error.type == "worker-lost"

    runner, store, job_id = setup(tmp_path, FlakyStorage(failures=0), png_bytes(), max_claims=3)
    store.claim(job_id, "a-worker-that-dies", now().replace(year=2000))
    assert store.requeue(job_id, lapsed_at=now())
    job = runner.run(job_id)
    assert job is not None and job.status == JobStatus.SUCCEEDED and job.attempts == 2


class DownFor(MemoryStorage):
    """Publishing fails for ``seconds`` from the first try, like an object store that is down for a while."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.since: float | None = None
        self.refused = 0

    def put_file(self, key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        import time

        if not key.startswith("uploads/"):
            self.since = self.since if self.since is not None else time.monotonic()
            if time.monotonic() - self.since < self.seconds:
                self.refused += 1
                raise StorageUnavailable("memory: down")
        return super().put_file(key, path, content_type, expires_at)


def test_an_outage_longer_than_the_time_limit_is_waited_out_until_the_deadline(tmp_path: Path) -> None:
    """The time limit bounds running, not waiting: retries go on until the job's deadline."""
    storage = DownFor(seconds=1.0)
    runner, _, job_id = setup(tmp_path, storage, png_bytes(), timeout_seconds=0.3, deadline_seconds=60)
    job = runner.run(job_id)
    assert storage.refused > 1
    assert job is not None and job.status == JobStatus.SUCCEEDED, job


def test_a_results_key_names_what_the_alias_and_auto_resolved_to(tmp_path: Path) -> None:
    """A later version may resolve `photo` or `noise: auto` otherwise (photo at 4x was SPAN until issue 21):
    its results must not be taken for this one's."""
    src = save(photo("astronaut", 32), tmp_path / "a.png")
    prepared = prepare(src, EnhanceOptions(model="photo", scale=4), fake_engine(), LimitSettings())
    span = REGISTRY.find("span")
    other_model = dataclasses.replace(prepared, model=span, plan=make_plan(span, -1, 32, 32, 128, 128))
    other_noise = dataclasses.replace(prepared, plan=make_plan(prepared.model, 1, 32, 32, 128, 128))
    keys = {result_key("0" * 64, p) for p in (prepared, other_model, other_noise)}
    assert len(keys) == 3 and result_key("0" * 64, prepared) == result_key("0" * 64, prepared)
