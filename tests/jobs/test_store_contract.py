"""One contract for every job store: in memory, SQLite (embedded) and Redis (distributed)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from enhanceit.errors import IdempotencyConflict, NotFound
from enhanceit.imaging.probe import ImageInfo
from enhanceit.jobs.model import Batch, Job, JobStatus, Source, now
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


def another_connection(store: JobStore) -> JobStore:
    """The same records through a connection of its own, as another process has (memory: the same store)."""
    if isinstance(store, SqliteJobStore):
        return SqliteJobStore(store.path)
    if isinstance(store, RedisJobStore):
        import redis

        kwargs = store.client.connection_pool.connection_kwargs
        client = redis.Redis(host=kwargs["host"], port=kwargs["port"], db=kwargs.get("db", 0))
        return RedisJobStore("", store.keep, client=client)
    return store


def test_a_batch_holds_its_items_ids_and_its_jobs_know_it(store: JobStore) -> None:
    items = [store.insert(job(batch_id="bat_x")) for _ in range(3)]
    b = store.insert_batch(Batch(job_ids=[j.id for j in items], owner="key:a", webhook_url="https://example.com/h"))
    assert store.get_batch(b.id) == b and store.require_batch(b.id) == b
    assert store.get_batch("bat_missing") is None
    with pytest.raises(NotFound):
        store.update_batch("bat_missing", webhook_rounds=1)
    assert store.require(items[0].id).batch_id == "bat_x"
    found = store.get_many([items[2].id, "job_missing", items[0].id])  # in the order asked, None for a gap
    assert [j.id if j else None for j in found] == [items[2].id, None, items[0].id]
    assert store.get_many([]) == []
    assert store.update_batch(b.id, webhook_rounds=2).webhook_rounds == 2
    assert store.require_batch(b.id).updated_at > b.updated_at


def test_a_batch_webhook_is_claimed_once_and_watched_until_settled(store: JobStore) -> None:
    hooked = store.insert_batch(Batch(job_ids=["job_a"], webhook_url="https://example.com/hook"))
    plain = store.insert_batch(Batch(job_ids=["job_b"]))
    assert [b.id for b in store.watched_batches()] == [hooked.id]  # unclaimed: its items may still run
    assert not store.claim_batch_webhook(plain.id)  # no webhook: nothing to claim
    assert store.claim_batch_webhook(hooked.id)
    assert not store.claim_batch_webhook(hooked.id)
    claimed = store.require_batch(hooked.id)
    assert claimed.webhook_claimed and claimed.webhook_pending  # one write: a crash now loses no webhook
    assert [b.id for b in store.watched_batches()] == [hooked.id]  # pending: still the reaper's to resend
    store.update_batch(hooked.id, webhook_pending=False)
    assert store.watched_batches() == []
    assert not store.claim_batch_webhook(hooked.id)  # delivered: never claimed, so never sent, again
    with pytest.raises(NotFound):
        store.claim_batch_webhook("bat_missing")


def test_of_many_processes_claiming_a_batch_webhook_at_once_exactly_one_wins(store: JobStore) -> None:
    """Several workers finishing a batch's last items at the same moment: one webhook."""
    b = store.insert_batch(Batch(job_ids=["job_a", "job_b"], webhook_url="https://example.com/hook"))
    stores = [another_connection(store) for _ in range(8)]
    start = threading.Barrier(len(stores))
    wins: list[bool] = []

    def claim(s: JobStore) -> None:
        start.wait()
        wins.append(s.claim_batch_webhook(b.id))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_batch_records_expire_like_job_records(store: JobStore) -> None:
    b = store.insert_batch(Batch(job_ids=["job_a"], webhook_url="https://example.com/hook"))
    if isinstance(store, RedisJobStore):  # keys expire by themselves, keep_seconds after their last write
        assert 0 < store.client.ttl(store._key("batch", b.id)) <= store.keep
        return
    store.purge(now() - timedelta(hours=1))
    assert store.get_batch(b.id) is not None
    store.purge(now() + timedelta(seconds=1))
    assert store.get_batch(b.id) is None and store.watched_batches() == []
