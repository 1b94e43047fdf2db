"""One contract for every job store: in memory, SQLite (embedded) and Redis (distributed)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from enhanceit.errors import IdempotencyConflict, NotFound
from enhanceit.imaging.probe import ImageInfo
from enhanceit.jobs.model import Job, JobStatus, Source, now
from enhanceit.jobs.store.base import JobStore
from enhanceit.jobs.store.in_memory import MemoryJobStore
from enhanceit.jobs.store.redis import RedisJobStore
from enhanceit.jobs.store.sqlite import SqliteJobStore
from enhanceit.options import EnhanceOptions


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    if request.param == "memory":
        return MemoryJobStore()
    if request.param == "sqlite":
        return SqliteJobStore(tmp_path / "jobs.sqlite3")
    return RedisJobStore(request.getfixturevalue("clean_redis"), keep_seconds=3600)


def job(**kw: object) -> Job:
    return Job(options=EnhanceOptions(), source=Source(url="https://example.com/a.png"), **kw)  # type: ignore[arg-type]


def test_insert_get_update(store: JobStore) -> None:
    j = store.insert(job())
    assert store.get(j.id) == j
    assert store.get("job_missing") is None
    updated = store.update(j.id, progress=0.5)
    assert updated.progress == 0.5 and store.require(j.id).progress == 0.5
    with pytest.raises(NotFound):
        store.update("job_missing", progress=1.0)


def test_finished_jobs_stay_finished(store: JobStore) -> None:
    j = store.insert(job())
    store.transition(j.id, JobStatus.RUNNING)
    canceled = store.request_cancel(j.id)
    assert canceled.cancel_requested and canceled.status == JobStatus.RUNNING
    assert store.transition(j.id, JobStatus.CANCELED).status == JobStatus.CANCELED
    late = store.transition(j.id, JobStatus.SUCCEEDED, progress=1.0)  # a late worker
    assert late.status == JobStatus.CANCELED and late.finished_at is not None


def test_a_queued_job_is_canceled_at_once(store: JobStore) -> None:
    j = store.insert(job())
    assert store.request_cancel(j.id).status == JobStatus.CANCELED


def test_idempotency_keys(store: JobStore) -> None:
    first = store.insert(job(owner="key:a"), ("k1", "fp1"))
    assert store.insert(job(owner="key:a"), ("k1", "fp1")).id == first.id
    with pytest.raises(IdempotencyConflict):
        store.insert(job(owner="key:a"), ("k1", "other"))
    assert store.insert(job(owner="key:b"), ("k1", "fp1")).id != first.id  # keys are per owner
    store.update(first.id, progress=0.3)  # updates keep the key
    assert store.insert(job(owner="key:a"), ("k1", "fp1")).id == first.id
    store.delete(first.id)
    assert store.get(first.id) is None
    assert store.insert(job(owner="key:a"), ("k1", "fp1")).id != first.id  # deleted with its job


def test_unfinished_and_purge(store: JobStore) -> None:
    a, b, c = (store.insert(job()) for _ in range(3))
    store.transition(b.id, JobStatus.RUNNING)
    store.transition(c.id, JobStatus.SUCCEEDED)
    assert [j.id for j in store.unfinished()] == [a.id, b.id]
    store.purge(now() + timedelta(days=1))
    assert store.get(a.id) is not None  # unfinished jobs are never purged


def test_a_finished_jobs_webhook_stays_pending_until_settled(store: JobStore) -> None:
    """The end and the webhook still to send are one write: a crash right after loses no webhook."""
    hooked = store.insert(job(webhook_url="https://example.com/hook"))
    plain = store.insert(job())
    store.transition(hooked.id, JobStatus.RUNNING)
    assert store.pending_webhooks() == []
    store.transition(hooked.id, JobStatus.SUCCEEDED)
    store.transition(plain.id, JobStatus.SUCCEEDED)
    assert [j.id for j in store.pending_webhooks()] == [hooked.id]
    assert store.unfinished() == []  # a pending webhook does not make a job unfinished
    store.update(hooked.id, webhook_pending=False)
    assert store.pending_webhooks() == []


def test_the_input_header_read_at_submit_comes_back_whole(store: JobStore) -> None:
    """What the worker decides the request from (issue 22): every field of the header comes back."""
    header = ImageInfo("gif", 48, 40, 4, "uchar", "srgb", 1, True, False, 3, "", 3, 0, True, None)
    j = store.insert(job(input=header))
    assert store.require(j.id).input == header


def test_concurrent_updates_lose_nothing(store: JobStore) -> None:
    j = store.insert(job())

    def add(name: str) -> None:
        for i in range(20):

            def change(current: Job, i: int = i) -> Job:
                return current.model_copy(update={"timings": {**current.timings, f"{name}{i}": float(i)}})

            store._replace(j.id, change)

    threads = [threading.Thread(target=add, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.require(j.id).timings) == 40


def test_a_live_lease_is_held_by_one_run_only(store: JobStore) -> None:
    j = store.insert(job())
    first = store.claim(j.id, "run-a", now() + timedelta(seconds=60))
    assert first.status == JobStatus.RUNNING and first.lease_owner == "run-a" and first.attempts == 1
    second = store.claim(j.id, "run-b", now() + timedelta(seconds=60))  # a duplicate message
    assert second.lease_owner == "run-a" and second.attempts == 1
    assert store.renew(j.id, "run-a", now() + timedelta(seconds=60))
    assert not store.renew(j.id, "run-b", now() + timedelta(seconds=60))
    assert not store.requeue(j.id, lapsed_at=now())  # the lease is live


def test_a_lapsed_lease_can_be_requeued_once_and_taken_over(store: JobStore) -> None:
    j = store.insert(job())
    store.claim(j.id, "run-a", now() - timedelta(seconds=1))  # its worker stopped renewing
    assert store.requeue(j.id, lapsed_at=now())
    assert not store.requeue(j.id, lapsed_at=now())  # a second reaper finds it queued already
    taken = store.claim(j.id, "run-b", now() + timedelta(seconds=60))
    assert taken.lease_owner == "run-b" and taken.attempts == 2
    assert not store.renew(j.id, "run-a", now() + timedelta(seconds=60))  # the old run learns it lost it


def test_requeue_and_claim_never_undo_a_finished_job(store: JobStore) -> None:
    j = store.insert(job())
    store.claim(j.id, "run-a", now() - timedelta(seconds=1))
    store.request_cancel(j.id)
    store.transition(j.id, JobStatus.CANCELED)
    assert not store.requeue(j.id, lapsed_at=None)
    assert store.claim(j.id, "run-b", now() + timedelta(seconds=60)).status == JobStatus.CANCELED


def test_a_locked_sqlite_database_is_a_transient_fault(tmp_path: Path) -> None:
    """The runner waits out retryable errors; a raw sqlite3.OperationalError would crash the job instead."""
    import sqlite3

    from enhanceit.errors import StorageUnavailable

    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    j = store.insert(job())

    class Locked:
        def execute(self, *args: object) -> None:
            raise sqlite3.OperationalError("database is locked")

    real, store._db = store._db, Locked()  # type: ignore[assignment]
    try:
        for call in (lambda: store.get(j.id), lambda: store.update(j.id, progress=0.5), store.unfinished):
            with pytest.raises(StorageUnavailable) as caught:
                call()
            assert caught.value.retryable
    finally:
        store._db = real
