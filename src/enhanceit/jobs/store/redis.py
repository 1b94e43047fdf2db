"""Jobs in Redis: the distributed mode's store, shared by every API replica and worker.

Keys (``enhanceit:`` prefix): ``job:<id>`` the job document (JSON), ``idem:<owner>:<key>`` an idempotency
record, ``idem-of:<id>`` the way back from a job to it, and the sorted set ``unfinished`` (queued and running
jobs by creation time, and finished ones whose webhook is still to send), ``batch:<id>`` a batch document and
the sorted set ``batch-hooks`` (batches whose webhook is still to send, by creation time). Every key expires
``keep_seconds`` after its last write, so old jobs and batches need no sweep.
Updates are optimistic transactions (WATCH the job, read, change, MULTI/EXEC, retry on conflict): a worker's
progress and an API's cancel never overwrite each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import redis

from enhanceit.errors import IdempotencyConflict, NotFound, StorageUnavailable
from enhanceit.jobs.model import Batch, Job
from enhanceit.jobs.store.base import JobStore

#: A job or a batch record.
_Record = TypeVar("_Record", Job, Batch)


@contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as e:
        raise StorageUnavailable(f"job store (Redis): {type(e).__name__}") from None


class RedisJobStore(JobStore):
    def __init__(self, url: str, keep_seconds: int, prefix: str = "enhanceit", client: Any = None) -> None:
        # Any: redis-py's stubs type every reply as a union of everything a command can return.
        self.client: Any = client or redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.keep = keep_seconds
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _stage(self, pipe: Any, job: Job) -> None:
        """Queue the writes that store ``job`` (inside a MULTI)."""
        pipe.set(self._key("job", job.id), job.model_dump_json(), ex=self.keep)
        if job.status.finished and not job.webhook_pending:  # a webhook still to send keeps it in the index
            pipe.zrem(self._key("unfinished"), job.id)
        else:
            pipe.zadd(self._key("unfinished"), {job.id: job.created_at.timestamp()})

    def insert(self, job: Job, idempotency: tuple[str, str] | None = None) -> Job:
        with _redis_errors(), self.client.pipeline() as pipe:
            while True:
                try:
                    if idempotency is not None:
                        idem = self._key("idem", job.owner, idempotency[0])
                        pipe.watch(idem)
                        found = pipe.get(idem)
                        if found is not None:
                            record = json.loads(found)
                            pipe.unwatch()
                            if record["fingerprint"] != idempotency[1]:
                                raise IdempotencyConflict(
                                    f"Idempotency-Key {idempotency[0]!r} was used for another request"
                                )
                            return self.require(record["job_id"])
                    pipe.multi()
                    self._stage(pipe, job)
                    if idempotency is not None:
                        record = {"fingerprint": idempotency[1], "job_id": job.id}
                        pipe.set(idem, json.dumps(record), ex=self.keep)
                        pipe.set(self._key("idem-of", job.id), idem, ex=self.keep)
                    pipe.execute()
                    return job
                except redis.WatchError:
                    continue

    def get(self, job_id: str) -> Job | None:
        with _redis_errors():
            raw = self.client.get(self._key("job", job_id))
        return None if raw is None else Job.model_validate_json(raw)

    def _replace(self, job_id: str, change: Callable[[Job], Job]) -> Job:
        return self._swap(self._key("job", job_id), Job.model_validate_json, change, self._stage, f"no job {job_id}")

    def _swap(
        self,
        key: str,
        parse: Callable[[bytes], _Record],
        change: Callable[[_Record], _Record],
        stage: Callable[[Any, _Record], None],
        missing: str,
    ) -> _Record:
        """Read the record at ``key``, ``change`` it and write it back (``stage``) in one optimistic
        transaction: WATCH, then MULTI/EXEC, again from the read whenever another client wrote in between."""
        with _redis_errors(), self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        pipe.unwatch()
                        raise NotFound(missing)
                    record = change(parse(raw))
                    pipe.multi()
                    stage(pipe, record)
                    pipe.execute()
                    return record
                except redis.WatchError:
                    continue

    def delete(self, job_id: str) -> None:
        with _redis_errors():
            idem = self.client.get(self._key("idem-of", job_id))
            keys = [self._key("job", job_id), self._key("idem-of", job_id)] + ([idem.decode()] if idem else [])
            self.client.delete(*keys)
            self.client.zrem(self._key("unfinished"), job_id)

    def unfinished(self) -> list[Job]:
        with _redis_errors():
            ids = [i.decode() for i in self.client.zrange(self._key("unfinished"), 0, -1)]
            raws = self.client.mget([self._key("job", i) for i in ids]) if ids else []
        return [j for j in (Job.model_validate_json(r) for r in raws if r is not None) if not j.status.finished]

    def pending_webhooks(self) -> list[Job]:
        with _redis_errors():
            ids = [i.decode() for i in self.client.zrange(self._key("unfinished"), 0, -1)]
            raws = self.client.mget([self._key("job", i) for i in ids]) if ids else []
        jobs = (Job.model_validate_json(r) for r in raws if r is not None)
        return [j for j in jobs if j.status.finished and j.webhook_pending]

    def purge(self, before: datetime) -> int:
        """Job and batch keys expire by themselves; this only drops index entries whose record has expired."""
        gone = 0
        with _redis_errors():
            for index, kind in (("unfinished", "job"), ("batch-hooks", "batch")):
                ids = [i.decode() for i in self.client.zrangebyscore(self._key(index), 0, before.timestamp())]
                expired = [i for i in ids if not self.client.exists(self._key(kind, i))]
                if expired:
                    self.client.zrem(self._key(index), *expired)
                gone += len(expired)
        return gone

    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        if not job_ids:
            return []
        with _redis_errors():
            raws = self.client.mget([self._key("job", i) for i in job_ids])
        return [None if raw is None else Job.model_validate_json(raw) for raw in raws]

    def _stage_batch(self, pipe: Any, batch: Batch) -> None:
        pipe.set(self._key("batch", batch.id), batch.model_dump_json(), ex=self.keep)
        if batch.watched:
            pipe.zadd(self._key("batch-hooks"), {batch.id: batch.created_at.timestamp()})
        else:
            pipe.zrem(self._key("batch-hooks"), batch.id)

    def insert_batch(self, batch: Batch) -> Batch:
        with _redis_errors(), self.client.pipeline() as pipe:
            self._stage_batch(pipe, batch)  # a transaction: the record and its index entry together
            pipe.execute()
        return batch

    def get_batch(self, batch_id: str) -> Batch | None:
        with _redis_errors():
            raw = self.client.get(self._key("batch", batch_id))
        return None if raw is None else Batch.model_validate_json(raw)

    def _replace_batch(self, batch_id: str, change: Callable[[Batch], Batch]) -> Batch:
        key = self._key("batch", batch_id)
        return self._swap(key, Batch.model_validate_json, change, self._stage_batch, f"no batch {batch_id}")

    def watched_batches(self) -> list[Batch]:
        with _redis_errors():
            ids = [i.decode() for i in self.client.zrange(self._key("batch-hooks"), 0, -1)]
            raws = self.client.mget([self._key("batch", i) for i in ids]) if ids else []
        return [b for b in (Batch.model_validate_json(r) for r in raws if r is not None) if b.watched]

    def check(self) -> None:
        with _redis_errors():
            self.client.ping()

    def warnings(self) -> list[str]:
        """Redis without its append-only file forgets every job on a restart (snapshots lose the last
        minutes); INFO works where CONFIG GET is often refused (managed Redis)."""
        with _redis_errors():
            info = self.client.info("persistence")
        if str(info.get("aof_enabled", "0")) != "1":
            return ["Redis has no append-only file (appendonly no): a Redis restart loses jobs; see the deploy docs"]
        return []

    def close(self) -> None:
        self.client.close()
