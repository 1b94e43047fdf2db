"""A batch's end: one webhook, whoever ends its last items and however many at once; resent by reapers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from enhanceit.jobs.batches import BatchCompletion, BatchStatus, render, status_of
from enhanceit.jobs.model import Batch, Job, JobStatus, Source
from enhanceit.jobs.reaper import Reaper
from enhanceit.jobs.store.base import JobStore
from enhanceit.jobs.store.in_memory import MemoryJobStore
from enhanceit.jobs.store.sqlite import SqliteJobStore
from enhanceit.jobs.webhooks import MAX_ROUNDS, WebhookSender
from enhanceit.options import EnhanceOptions
from enhanceit.storage.in_memory import MemoryStorage
from tests.jobs.test_reaper import SETTINGS, FakeQueue


class Sender(WebhookSender):
    """Records each round of delivery instead of posting it; settles it at once, as a receiver's 2xx would."""

    def __init__(self, settle: bool = True) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self.settle = settle
        self._lock = threading.Lock()

    def send(self, url: str, message_id: str, body: bytes, settled: Callable[[], object] | None = None) -> None:
        with self._lock:
            self.sent.append((url, message_id, body))
        if self.settle and settled is not None:
            settled()


def add_batch(store: JobStore, count: int, hook: str | None = "https://example.com/hook") -> tuple[Batch, list[Job]]:
    batch = Batch(job_ids=[], webhook_url=hook)
    jobs = [Job(options=EnhanceOptions(), source=Source(url="https://example.com/a.png"), batch_id=batch.id)]
    jobs += [jobs[0].model_copy(update={"id": f"job_{i}"}) for i in range(1, count)]
    for job in jobs:
        store.insert(job)
    batch = store.insert_batch(batch.model_copy(update={"job_ids": [j.id for j in jobs]}))
    return batch, jobs


def test_the_status_is_read_from_the_items() -> None:
    job = Job(options=EnhanceOptions(), source=Source(url="https://example.com/a.png"))
    done = job.model_copy(update={"status": JobStatus.SUCCEEDED})
    failed = job.model_copy(update={"status": JobStatus.FAILED})
    assert status_of([done, job]) == BatchStatus.RUNNING
    assert status_of([done, done]) == BatchStatus.SUCCEEDED
    assert status_of([done, failed]) == status_of([done, None]) == BatchStatus.COMPLETED_WITH_FAILURES
    view = render(Batch(job_ids=[done.id, "job_gone"]), [done, None], MemoryStorage())
    assert view["counts"] == {"total": 2, "queued": 0, "running": 0, "succeeded": 1, "failed": 1, "canceled": 0}
    assert view["items"][1]["error"]["type"] == "not-found"


def test_workers_ending_the_last_items_at_once_send_one_webhook(tmp_path: Path) -> None:
    """Each of eight workers ends one item and looks at the batch at the same moment, through a connection of
    its own: every one may find all items ended, one claim wins."""
    path = tmp_path / "jobs.sqlite3"
    store = SqliteJobStore(path)
    batch, jobs = add_batch(store, 8)
    sender = Sender()
    start = threading.Barrier(len(jobs))

    def worker(job: Job) -> None:
        own = SqliteJobStore(path)
        ended = own.transition(job.id, JobStatus.SUCCEEDED)
        start.wait()
        BatchCompletion(own, MemoryStorage(), sender).finished(ended)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [message_id for _, message_id, _ in sender.sent] == [f"{batch.id}.succeeded"]
    assert not store.require_batch(batch.id).watched  # claimed and delivered


def test_no_webhook_while_items_run_nor_for_a_batch_without_one() -> None:
    store = MemoryJobStore()
    batch, jobs = add_batch(store, 2)
    _, quiet_jobs = add_batch(store, 1, hook=None)
    sender = Sender()
    completion = BatchCompletion(store, MemoryStorage(), sender)
    completion.finished(store.transition(jobs[0].id, JobStatus.FAILED))
    completion.finished(store.transition(quiet_jobs[0].id, JobStatus.SUCCEEDED))
    assert sender.sent == []
    completion.finished(store.transition(jobs[1].id, JobStatus.SUCCEEDED))
    completion.finished(store.require(jobs[1].id))  # told twice: still one
    assert [m for _, m, _ in sender.sent] == [f"{batch.id}.completed_with_failures"]


def test_a_reaper_sends_the_webhook_of_a_batch_nobody_settled() -> None:
    """The last item ended where nobody looked at the batch (the reaper ended it, or its process died before
    looking): the sweep finds the batch ended and unclaimed, and sends its webhook once."""
    store = MemoryJobStore()
    batch, jobs = add_batch(store, 2)
    store.transition(jobs[0].id, JobStatus.SUCCEEDED)
    sender = Sender()
    reaper = Reaper(store, FakeQueue(), SETTINGS, batches=BatchCompletion(store, MemoryStorage(), sender))
    assert reaper.sweep().webhooks == [] and sender.sent == []  # one item still queued
    store.transition(jobs[1].id, JobStatus.CANCELED)
    assert reaper.sweep().webhooks == [batch.id]
    assert reaper.sweep().webhooks == []
    assert [m for _, m, _ in sender.sent] == [f"{batch.id}.completed_with_failures"]


def test_a_pending_batch_webhook_is_sent_again_round_by_round_then_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a job's: another round once quiet for resend_after, at most MAX_ROUNDS, the same message each time."""
    from enhanceit.jobs import reaper as reaper_module

    store = MemoryJobStore()
    batch, jobs = add_batch(store, 1)
    store.transition(jobs[0].id, JobStatus.SUCCEEDED)
    sender = Sender(settle=False)  # the receiver never answers 2xx
    completion = BatchCompletion(store, MemoryStorage(), sender)
    assert completion.settle(batch.id) and len(sender.sent) == 1
    reaper = Reaper(store, FakeQueue(), SETTINGS, batches=completion, resend_after=60)
    assert reaper.sweep().webhooks == []  # its first round may still be running

    def a_minute_later() -> None:  # the reaper's clock, not a sleep: the record's age is what counts
        later = store.require_batch(batch.id).updated_at + timedelta(seconds=61)
        monkeypatch.setattr(reaper_module, "now", lambda: later)

    for round_ in range(1, MAX_ROUNDS + 1):
        a_minute_later()
        assert reaper.sweep().webhooks == [batch.id]
        assert store.require_batch(batch.id).webhook_rounds == round_
    a_minute_later()
    assert reaper.sweep().webhooks == []
    assert len(sender.sent) == 1 + MAX_ROUNDS and len({m for _, m, _ in sender.sent}) == 1
    assert not store.require_batch(batch.id).watched  # given up, and logged
