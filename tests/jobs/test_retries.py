"""The distributed queue's retry policy (:class:`JobRetries`), on Dramatiq's StubBroker with a real Worker:
which failed runs are delivered again, and how the last attempt fails the job."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware.time_limit import TimeLimitExceeded

from enhanceit.config import Settings
from enhanceit.engine.fake import fake_engine
from enhanceit.errors import StorageUnavailable, UndecodableImage
from enhanceit.jobs.model import Job, JobStatus, Source, now
from enhanceit.jobs.queue.dramatiq import declare, middleware
from enhanceit.jobs.runner import JobRunner
from enhanceit.jobs.store.in_memory import MemoryJobStore
from enhanceit.jobs.worker import _job_actor
from enhanceit.options import EnhanceOptions
from enhanceit.storage.in_memory import MemoryStorage
from tests.api.conftest import make_settings, png_bytes
from tests.jobs.test_runner import FAST, AwayStore

JOB = "job_x"


class Deliveries:
    """An actor that fails its first ``failures`` runs with ``error``, and a ``give_up`` that records."""

    def __init__(self, error: BaseException | None = None, failures: int = 0) -> None:
        self.error = error
        self.failures = failures
        self.runs: list[str] = []
        self.gave_up: list[tuple[str, BaseException]] = []

    def run(self, job_id: str) -> None:
        self.runs.append(job_id)
        if self.error is not None and len(self.runs) <= self.failures:
            raise self.error

    def give_up(self, job_id: str, error: BaseException) -> None:
        self.gave_up.append((job_id, error))


@contextmanager
def consuming(
    settings: Settings, fn: Callable[[str], None], give_up: Callable[[str, BaseException], object]
) -> Iterator[tuple[StubBroker, dramatiq.Actor[Any, Any]]]:
    """The worker's broker middleware and actor on a StubBroker, consumed by a real dramatiq.Worker."""
    broker = StubBroker(middleware=middleware(settings, give_up))
    broker.emit_after("process_boot")
    actor = declare(broker, settings, fn)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=20)
    worker.start()
    try:
        yield broker, actor
    finally:
        worker.stop()
        broker.close()


def deliver(settings: Settings, fn: Callable[[str], None], give_up: Callable[[str, BaseException], object]) -> int:
    """Send one job and wait until it and its retries are done; returns how many messages were dead-lettered."""
    with consuming(settings, fn, give_up) as (broker, actor):
        actor.send(JOB)
        broker.join(actor.queue_name, fail_fast=False, timeout=60_000)  # a bound on a broken policy
        return len(broker.dead_letters)


def fast(tmp_path: Path, max_retries: int = 3, **jobs: Any) -> Settings:
    return make_settings(tmp_path, jobs={**FAST, **jobs}, queue={"max_retries": max_retries})


def test_a_transient_fault_is_delivered_again_until_the_run_succeeds(tmp_path: Path) -> None:
    d = Deliveries(StorageUnavailable("job store (Redis): ConnectionError"), failures=2)
    assert deliver(fast(tmp_path), d.run, d.give_up) == 0
    assert d.runs == [JOB] * 3 and d.gave_up == []


@pytest.mark.parametrize("error", [UndecodableImage("cut short"), RuntimeError("a bug")])
def test_bad_input_or_a_crash_is_not_delivered_again_and_fails_the_job(tmp_path: Path, error: Exception) -> None:
    d = Deliveries(error, failures=1)
    assert deliver(fast(tmp_path), d.run, d.give_up) == 1
    assert d.runs == [JOB] and d.gave_up == [(JOB, error)]


def test_the_last_attempt_fails_the_job(tmp_path: Path) -> None:
    fault = StorageUnavailable("job store (Redis): ConnectionError")
    d = Deliveries(fault, failures=10**9)
    assert deliver(fast(tmp_path, max_retries=2), d.run, d.give_up) == 1
    assert d.runs == [JOB] * 3 and d.gave_up == [(JOB, fault)]


def test_no_delivery_is_scheduled_past_the_jobs_deadline(tmp_path: Path) -> None:
    """The first wait (at least 2.5 s) would start the next run after the deadline (1 s after sending)."""
    fault = StorageUnavailable("job store (Redis): ConnectionError")
    d = Deliveries(fault, failures=10**9)
    settings = fast(tmp_path, max_retries=100, retry_min_seconds=5, retry_max_seconds=5, deadline_seconds=1)
    assert deliver(settings, d.run, d.give_up) == 1
    assert d.runs == [JOB] and d.gave_up == [(JOB, fault)]


def runner_for(tmp_path: Path, store: MemoryJobStore, **settings: Any) -> tuple[JobRunner, Settings, str]:
    config = fast(tmp_path, **settings)
    storage = MemoryStorage()
    upload = tmp_path / "upload"
    upload.write_bytes(png_bytes())
    storage.put_file("uploads/x", upload, "application/octet-stream", now() + timedelta(days=1))
    job = store.insert(Job(id=JOB, options=EnhanceOptions(), source=Source(upload_key="uploads/x")))
    return JobRunner(config, fake_engine(), storage, store), config, job.id


def test_the_worker_actor_runs_the_job(tmp_path: Path) -> None:
    store = MemoryJobStore()
    runner, settings, job_id = runner_for(tmp_path, store)
    assert deliver(settings, _job_actor(runner), runner.give_up) == 0
    job = store.require(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.result is not None and job.attempts == 1


def test_a_job_store_away_for_the_whole_run_fails_the_job_once_it_is_back(tmp_path: Path) -> None:
    """The runner waits for the store until the deadline, then the fault escapes; at the last attempt the
    job is failed with that fault as its reason (here the store is back by then)."""
    store = AwayStore()
    runner, settings, job_id = runner_for(tmp_path, store, max_retries=0, deadline_seconds=0.3)
    store.away.set()

    def run_then_store_back(job_id: str) -> None:
        try:
            _job_actor(runner)(job_id)
        finally:
            store.away.clear()

    assert deliver(settings, run_then_store_back, runner.give_up) == 1
    assert store.refused > 1  # the run waited for it
    job = store.require(job_id)
    assert job.status == JobStatus.FAILED and job.error is not None and job.error.type == "storage-unavailable"


class CrashingClaim(MemoryJobStore):
    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    def claim(self, job_id: str, owner: str, until: datetime, max_claims: int | None = None) -> Job:
        self.claims += 1
        raise RuntimeError("a bug in claim")


def test_a_crash_escaping_the_runner_fails_the_job_at_once(tmp_path: Path) -> None:
    """It used to leave the job queued until its deadline (an hour by default)."""
    store = CrashingClaim()
    runner, settings, job_id = runner_for(tmp_path, store)
    assert deliver(settings, _job_actor(runner), runner.give_up) == 1
    job = store.require(job_id)
    assert store.claims == 1
    assert job.status == JobStatus.FAILED and job.error is not None and job.error.type == "internal-error"


def test_giving_up_never_undoes_a_finished_job(tmp_path: Path) -> None:
    store = MemoryJobStore()
    runner, _, job_id = runner_for(tmp_path, store)
    store.transition(job_id, JobStatus.CANCELED)
    job = runner.give_up(job_id, StorageUnavailable("down"))
    assert job is not None and job.status == JobStatus.CANCELED and store.require(job_id).error is None


def test_giving_up_past_the_deadline_names_the_deadline(tmp_path: Path) -> None:
    """Dramatiq's time limit (the deadline plus a minute) is not one of ours: the reason is the deadline."""
    store = MemoryJobStore()
    runner, _, _ = runner_for(tmp_path, store, deadline_seconds=60)
    old = store.insert(Job(id="job_old", options=EnhanceOptions(), source=Source(url="https://example.com/a.png")))
    store.update(old.id, created_at=now() - timedelta(minutes=2))
    job = runner.give_up(old.id, TimeLimitExceeded())
    assert job is not None and job.status == JobStatus.FAILED and job.error is not None
    assert job.error.type == "job-timeout"


def test_giving_up_while_the_store_is_away_leaves_the_job_to_the_reaper(tmp_path: Path) -> None:
    store = AwayStore()
    runner, _, job_id = runner_for(tmp_path, store)
    store.away.set()
    assert runner.give_up(job_id, StorageUnavailable("down")) is None
    store.away.clear()
    assert store.require(job_id).status == JobStatus.QUEUED
