"""The job runner's outcomes: success, bad input, transient faults (retried or recorded), cancel, reuse."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from enhanceit.errors import StorageUnavailable
from enhanceit.jobs.model import Job, JobStatus, Source, now
from enhanceit.jobs.runner import JobRunner
from enhanceit.jobs.store.memory import MemoryJobStore
from enhanceit.jobs.worker import _job_actor
from enhanceit.options import EnhanceOptions
from enhanceit.storage.base import StoredObject
from enhanceit.storage.memory import MemoryStorage
from tests.api.conftest import fake_engine, make_settings, png_bytes


class FlakyStorage(MemoryStorage):
    """Publishing fails ``failures`` times, like a store that is briefly down."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def put_file(self, key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        if self.failures and not key.startswith("uploads/"):
            self.failures -= 1
            raise StorageUnavailable("memory: down for a moment")
        return super().put_file(key, path, content_type, expires_at)


def setup(tmp_path: Path, storage: MemoryStorage, body: bytes) -> tuple[JobRunner, MemoryJobStore, str]:
    store = MemoryJobStore()
    runner = JobRunner(make_settings(tmp_path), fake_engine(), storage, store)
    upload = tmp_path / "upload"
    upload.write_bytes(body)
    storage.put_file("uploads/x", upload, "application/octet-stream", now().replace(year=now().year + 1))
    job = store.insert(Job(options=EnhanceOptions(), source=Source(upload_key="uploads/x")))
    return runner, store, job.id


def test_a_transient_fault_is_handed_back_for_a_retry_then_recorded(tmp_path: Path) -> None:
    runner, store, job_id = setup(tmp_path, FlakyStorage(failures=2), png_bytes())
    with pytest.raises(StorageUnavailable):
        runner.run(job_id, reraise_retryable=True)
    job = store.require(job_id)
    assert job.status == JobStatus.QUEUED and job.error is not None and job.error.type == "storage-unavailable"
    failed = runner.run(job_id, reraise_retryable=False)  # the queue's last attempt
    assert failed.status == JobStatus.FAILED and failed.error.type == "storage-unavailable"  # type: ignore[union-attr]


def test_a_retry_that_succeeds_clears_the_error(tmp_path: Path) -> None:
    runner, _, job_id = setup(tmp_path, FlakyStorage(failures=1), png_bytes())
    with pytest.raises(StorageUnavailable):
        runner.run(job_id, reraise_retryable=True)
    job = runner.run(job_id, reraise_retryable=True)
    assert job.status == JobStatus.SUCCEEDED and job.error is None and job.attempts == 2
    assert runner.run(job_id).status == JobStatus.SUCCEEDED  # delivered again: nothing happens


def test_bad_input_is_never_retried(tmp_path: Path) -> None:
    runner, _, job_id = setup(tmp_path, FlakyStorage(failures=0), png_bytes()[:200])
    job = runner.run(job_id, reraise_retryable=True)  # no exception: nothing to retry
    assert job.status == JobStatus.FAILED and job.error is not None and job.error.status == 422


def test_a_canceled_job_is_not_requeued_by_a_late_fault(tmp_path: Path) -> None:
    storage = FlakyStorage(failures=1)
    runner, store, job_id = setup(tmp_path, storage, png_bytes())
    original = storage.put_file

    def cancel_then_fail(*args: object, **kwargs: object) -> StoredObject:
        store.request_cancel(job_id)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    storage.put_file = cancel_then_fail  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        runner.run(job_id, reraise_retryable=True)
    requeued = store.require(job_id)
    assert requeued.status == JobStatus.QUEUED and requeued.cancel_requested  # the cancel is not lost
    assert runner.run(job_id).status == JobStatus.CANCELED


def test_the_worker_actor_reraises_only_before_the_last_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []

    class Runner:
        def run(self, job_id: str, *, reraise_retryable: bool) -> None:
            calls.append(reraise_retryable)

    class Message:
        def __init__(self, retries: int) -> None:
            self.options = {"retries": retries}

    from dramatiq.middleware import CurrentMessage

    actor = _job_actor(Runner(), max_retries=3)
    for retries in (0, 2, 3):
        monkeypatch.setattr(CurrentMessage, "get_current_message", staticmethod(lambda r=retries: Message(r)))
        actor("job_x")
    assert calls == [True, True, False]
