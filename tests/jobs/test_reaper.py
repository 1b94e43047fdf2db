"""The reaper: lapsed leases re-queued and re-sent, lost messages re-sent, jobs past their deadline ended."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from enhanceit.config import JobSettings
from enhanceit.jobs.model import Job, JobStatus, Source, now
from enhanceit.jobs.queue.base import JobQueue
from enhanceit.jobs.reaper import Reaper
from enhanceit.jobs.store.in_memory import MemoryJobStore
from enhanceit.options import EnhanceOptions

SETTINGS = JobSettings(lease_seconds=30, deadline_seconds=3600)


class FakeQueue(JobQueue):
    """Records what is sent; ``waiting`` is what the queue says has a message (None: it cannot tell)."""

    def __init__(self, waiting: set[str] | None = None) -> None:
        self.sent: list[str] = []
        self.waiting = waiting

    def submit(self, job_id: str) -> None:
        self.sent.append(job_id)

    def has_room(self) -> bool:
        return True

    def depth(self) -> int:
        return len(self.sent)

    def running(self) -> int:
        return 0

    def waiting_ids(self) -> set[str] | None:
        return self.waiting


def add(store: MemoryJobStore, age: float = 0.0, **fields: object) -> Job:
    created = now() - timedelta(seconds=age)
    job = Job(options=EnhanceOptions(), source=Source(url="https://example.com/a.png"), created_at=created)
    job = job.model_copy(update={"updated_at": created, **fields})
    return store.insert(job)


def test_a_running_job_whose_lease_lapsed_is_requeued_and_resent(tmp_path: Path) -> None:
    store, queue = MemoryJobStore(), FakeQueue(waiting=set())
    lapsed = add(store, age=60, status=JobStatus.RUNNING, lease_owner="dead", lease_until=now() - timedelta(seconds=1))
    live = add(store, age=60, status=JobStatus.RUNNING, lease_owner="alive", lease_until=now() + timedelta(seconds=20))
    done = Reaper(store, queue, SETTINGS).sweep()
    assert done.requeued == [lapsed.id] and queue.sent == [lapsed.id]
    assert store.require(lapsed.id).status == JobStatus.QUEUED and store.require(lapsed.id).lease_owner is None
    assert store.require(live.id).status == JobStatus.RUNNING and store.require(live.id).lease_owner == "alive"


def test_a_lapsed_job_with_a_cancel_request_is_canceled_not_rerun() -> None:
    store, queue = MemoryJobStore(), FakeQueue(waiting=set())
    job = add(store, status=JobStatus.RUNNING, lease_until=now() - timedelta(seconds=1), cancel_requested=True)
    Reaper(store, queue, SETTINGS).sweep()
    assert store.require(job.id).status == JobStatus.CANCELED and queue.sent == []


def test_a_queued_job_whose_message_is_lost_is_resent_once_it_is_stale() -> None:
    store = MemoryJobStore()
    lost = add(store, age=60)
    in_line = add(store, age=60)
    fresh = add(store, age=1)  # the API may be about to send it
    queue = FakeQueue(waiting={in_line.id})
    done = Reaper(store, queue, SETTINGS).sweep()
    assert done.resent == [lost.id] and queue.sent == [lost.id]
    assert {store.require(j.id).status for j in (lost, in_line, fresh)} == {JobStatus.QUEUED}


def test_queued_jobs_are_left_alone_when_the_queue_cannot_tell() -> None:
    store, queue = MemoryJobStore(), FakeQueue(waiting=None)
    add(store, age=60)
    assert not Reaper(store, queue, SETTINGS).sweep() and queue.sent == []


def test_jobs_past_their_deadline_end_failed_or_canceled() -> None:
    store, queue = MemoryJobStore(), FakeQueue(waiting=set())
    queued = add(store, age=7200)
    running = add(store, age=7200, status=JobStatus.RUNNING, lease_until=now() + timedelta(seconds=20))
    asked = add(store, age=7200, status=JobStatus.RUNNING, cancel_requested=True)
    done = Reaper(store, queue, SETTINGS).sweep()
    assert sorted(done.failed) == sorted([queued.id, running.id]) and done.canceled == [asked.id]
    for j in (queued, running):
        failed = store.require(j.id)
        assert failed.status == JobStatus.FAILED and failed.error is not None and failed.error.type == "job-timeout"
    assert store.require(asked.id).status == JobStatus.CANCELED and queue.sent == []


def test_a_finished_job_is_never_touched() -> None:
    store, queue = MemoryJobStore(), FakeQueue(waiting=set())
    job = add(store, age=7200, status=JobStatus.SUCCEEDED)
    assert not Reaper(store, queue, SETTINGS).sweep()
    assert store.require(job.id).status == JobStatus.SUCCEEDED


def test_a_job_recorded_but_not_sent_is_accepted_and_the_reaper_sends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis went away between the record and the message: the client was told 503 for a job that existed."""
    from enhanceit.engine.fake import fake_engine
    from enhanceit.errors import StorageUnavailable
    from enhanceit.jobs import reaper
    from enhanceit.jobs.runner import JobRunner
    from enhanceit.jobs.service import JobService
    from enhanceit.storage.in_memory import MemoryStorage
    from tests.api.conftest import make_settings

    class Unsendable(FakeQueue):
        def submit(self, job_id: str) -> None:
            raise StorageUnavailable("the queue (Redis) is unavailable: ConnectionError")

    settings = make_settings(tmp_path)
    store, queue, storage, engine = MemoryJobStore(), Unsendable(waiting=set()), MemoryStorage(), fake_engine()
    service = JobService(settings, engine, storage, store, queue, JobRunner(settings, engine, storage, store))
    job = service.submit(EnhanceOptions(), url="http://127.0.0.1:9/a.png")
    assert store.require(job.id).status == JobStatus.QUEUED  # accepted, not refused
    sender = FakeQueue(waiting=set())
    sweeper = Reaper(store, sender, SETTINGS)
    assert not sweeper.sweep() and sender.sent == []  # untouched for less than a lease: the API may yet send it
    # A sweep a lease's length later (the reaper's clock, not a sleep: the record's age is what counts).
    later = store.require(job.id).updated_at + timedelta(seconds=SETTINGS.lease_seconds + 1)
    monkeypatch.setattr(reaper, "now", lambda: later)
    assert sweeper.sweep().resent == [job.id]
    assert sender.sent == [job.id]
    assert store.require(job.id).status == JobStatus.QUEUED


def test_a_pending_webhook_is_sent_again_round_by_round_then_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished job whose webhook round gave up (or died with its process) gets another round once it has
    been quiet for resend_after, at most MAX_ROUNDS rounds; a round that may still run is left alone."""
    from enhanceit.jobs import reaper
    from enhanceit.jobs.webhooks import MAX_ROUNDS

    store = MemoryJobStore()
    job = store.insert(Job(options=EnhanceOptions(), source=Source(upload_key="u"), webhook_url="https://r/h"))
    store.transition(job.id, JobStatus.SUCCEEDED)
    sent: list[Job] = []
    sweeper = Reaper(store, FakeQueue(), SETTINGS, notify=sent.append, resend_after=60)
    assert sweeper.sweep().webhooks == [] and sent == []  # just finished: its first round may be running

    def a_minute_later() -> None:  # the reaper's clock, not a sleep: the record's age is what counts
        later = store.require(job.id).updated_at + timedelta(seconds=61)
        monkeypatch.setattr(reaper, "now", lambda: later)

    for round_ in range(1, MAX_ROUNDS + 1):
        a_minute_later()
        assert sweeper.sweep().webhooks == [job.id]
        assert sent[-1].id == job.id and store.require(job.id).webhook_rounds == round_
    a_minute_later()
    assert sweeper.sweep().webhooks == [] and len(sent) == MAX_ROUNDS
    assert not store.require(job.id).webhook_pending  # given up, and logged
