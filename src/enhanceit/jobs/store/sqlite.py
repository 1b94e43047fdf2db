"""Jobs in SQLite: the embedded default. A restart finds every job where it was.

One connection shared by the process's threads under a lock (SQLite serialises writers anyway; the
lock keeps Python's connection object safe), WAL journal so readers never wait on the writer. SQLite's
operational errors (a locked or full database, a disk gone read-only) are transient faults: they become
:class:`StorageUnavailable`, which the runner waits out and the API answers with 503.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from enhanceit.errors import IdempotencyConflict, NotFound, StorageUnavailable
from enhanceit.jobs.model import Batch, Job
from enhanceit.jobs.store.base import JobStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS idempotency (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (owner, key)
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    watched INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_watched ON batches (watched, created_at);
"""
#: Ids per query when reading many jobs at once (SQLite allows 32766 parameters; old builds 999).
_IDS_PER_QUERY = 500


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as e:  # the message names no path ("database is locked", "disk I/O error")
        raise StorageUnavailable(f"job database: {e}") from None


class SqliteJobStore(JobStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def _write(self, job: Job) -> None:
        # An upsert, not INSERT OR REPLACE: REPLACE deletes the row first, which would cascade to its
        # idempotency key.
        self._db.execute(
            "INSERT INTO jobs (id, status, created_at, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data",
            (job.id, job.status.value, job.created_at.isoformat(), job.model_dump_json()),
        )

    def insert(self, job: Job, idempotency: tuple[str, str] | None = None) -> Job:
        with _sqlite_errors(), self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if idempotency is not None:
                    key, fingerprint = idempotency
                    row = self._db.execute(
                        "SELECT fingerprint, job_id FROM idempotency WHERE owner = ? AND key = ?", (job.owner, key)
                    ).fetchone()
                    if row is not None:
                        if row[0] != fingerprint:
                            raise IdempotencyConflict(f"Idempotency-Key {key!r} was used for another request")
                        found = self._db.execute("SELECT data FROM jobs WHERE id = ?", (row[1],)).fetchone()
                        self._db.execute("COMMIT")
                        return Job.model_validate_json(found[0])
                self._write(job)
                if idempotency is not None:
                    self._db.execute(
                        "INSERT INTO idempotency (owner, key, fingerprint, job_id) VALUES (?, ?, ?, ?)",
                        (job.owner, idempotency[0], idempotency[1], job.id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return job

    def get(self, job_id: str) -> Job | None:
        with _sqlite_errors(), self._lock:
            row = self._db.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else Job.model_validate_json(row[0])

    def _replace(self, job_id: str, change: Callable[[Job], Job]) -> Job:
        with _sqlite_errors(), self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None:
                    raise NotFound(f"no job {job_id}")
                job = change(Job.model_validate_json(row[0]))
                self._write(job)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return job

    def delete(self, job_id: str) -> None:
        with _sqlite_errors(), self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def unfinished(self) -> list[Job]:
        with _sqlite_errors(), self._lock:
            rows = self._db.execute(
                "SELECT data FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
            ).fetchall()
        return [Job.model_validate_json(r[0]) for r in rows]

    def pending_webhooks(self) -> list[Job]:
        with _sqlite_errors(), self._lock:
            rows = self._db.execute(
                "SELECT data FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled') "
                "AND json_extract(data, '$.webhook_pending') = 1 ORDER BY created_at"
            ).fetchall()
        return [Job.model_validate_json(r[0]) for r in rows]

    def purge(self, before: datetime) -> int:
        with _sqlite_errors(), self._lock:
            cur = self._db.execute(
                "DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled') AND created_at < ?",
                (before.isoformat(),),
            )
            batches = self._db.execute("DELETE FROM batches WHERE created_at < ?", (before.isoformat(),))
            return cur.rowcount + batches.rowcount

    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        found: dict[str, str] = {}
        with _sqlite_errors(), self._lock:
            for start in range(0, len(job_ids), _IDS_PER_QUERY):
                part = list(job_ids[start : start + _IDS_PER_QUERY])
                marks = ",".join("?" * len(part))
                found.update(self._db.execute(f"SELECT id, data FROM jobs WHERE id IN ({marks})", part).fetchall())
        return [Job.model_validate_json(found[i]) if i in found else None for i in job_ids]

    def _write_batch(self, batch: Batch) -> None:
        self._db.execute(
            "INSERT INTO batches (id, created_at, watched, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET watched = excluded.watched, data = excluded.data",
            (batch.id, batch.created_at.isoformat(), int(batch.watched), batch.model_dump_json()),
        )

    def insert_batch(self, batch: Batch) -> Batch:
        with _sqlite_errors(), self._lock:
            self._write_batch(batch)
        return batch

    def get_batch(self, batch_id: str) -> Batch | None:
        with _sqlite_errors(), self._lock:
            row = self._db.execute("SELECT data FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return None if row is None else Batch.model_validate_json(row[0])

    def _replace_batch(self, batch_id: str, change: Callable[[Batch], Batch]) -> Batch:
        with _sqlite_errors(), self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT data FROM batches WHERE id = ?", (batch_id,)).fetchone()
                if row is None:
                    raise NotFound(f"no batch {batch_id}")
                batch = change(Batch.model_validate_json(row[0]))
                self._write_batch(batch)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return batch

    def watched_batches(self) -> list[Batch]:
        with _sqlite_errors(), self._lock:
            rows = self._db.execute("SELECT data FROM batches WHERE watched = 1 ORDER BY created_at").fetchall()
        return [Batch.model_validate_json(r[0]) for r in rows]

    def check(self) -> None:
        try:
            with self._lock:
                self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error as e:
            raise StorageUnavailable(f"job database: {e}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
