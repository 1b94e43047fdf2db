"""Jobs in a dict: the test double (and nothing else)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from enhanceit.errors import IdempotencyConflict, NotFound
from enhanceit.jobs.model import Batch, Job
from enhanceit.jobs.store.base import JobStore


class MemoryJobStore(JobStore):
    def __init__(self) -> None:
        self._jobs: dict[str, str] = {}
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}
        self._batches: dict[str, str] = {}
        self._lock = threading.Lock()

    def insert(self, job: Job, idempotency: tuple[str, str] | None = None) -> Job:
        with self._lock:
            if idempotency is not None:
                key, fingerprint = idempotency
                found = self._keys.get((job.owner, key))
                if found is not None:
                    if found[1] != fingerprint:
                        raise IdempotencyConflict(f"Idempotency-Key {key!r} was used for another request")
                    return Job.model_validate_json(self._jobs[found[0]])
                self._keys[(job.owner, key)] = (job.id, fingerprint)
            self._jobs[job.id] = job.model_dump_json()
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            raw = self._jobs.get(job_id)
        return None if raw is None else Job.model_validate_json(raw)

    def _replace(self, job_id: str, change: Callable[[Job], Job]) -> Job:
        with self._lock:
            raw = self._jobs.get(job_id)
            if raw is None:
                raise NotFound(f"no job {job_id}")
            job = change(Job.model_validate_json(raw))
            self._jobs[job_id] = job.model_dump_json()
            return job

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)
            self._keys = {k: v for k, v in self._keys.items() if v[0] != job_id}

    def unfinished(self) -> list[Job]:
        with self._lock:
            jobs = [Job.model_validate_json(raw) for raw in self._jobs.values()]
        return sorted((j for j in jobs if not j.status.finished), key=lambda j: j.created_at)

    def pending_webhooks(self) -> list[Job]:
        with self._lock:
            jobs = [Job.model_validate_json(raw) for raw in self._jobs.values()]
        return sorted((j for j in jobs if j.status.finished and j.webhook_pending), key=lambda j: j.created_at)

    def purge(self, before: datetime) -> int:
        with self._lock:
            old = [
                i
                for i, raw in self._jobs.items()
                if (j := Job.model_validate_json(raw)).status.finished and j.created_at < before
            ]
            for job_id in old:
                del self._jobs[job_id]
            self._keys = {k: v for k, v in self._keys.items() if v[0] not in old}
            batches = [i for i, raw in self._batches.items() if Batch.model_validate_json(raw).created_at < before]
            for batch_id in batches:
                del self._batches[batch_id]
            return len(old) + len(batches)

    def insert_batch(self, batch: Batch) -> Batch:
        with self._lock:
            self._batches[batch.id] = batch.model_dump_json()
        return batch

    def get_batch(self, batch_id: str) -> Batch | None:
        with self._lock:
            raw = self._batches.get(batch_id)
        return None if raw is None else Batch.model_validate_json(raw)

    def _replace_batch(self, batch_id: str, change: Callable[[Batch], Batch]) -> Batch:
        with self._lock:
            raw = self._batches.get(batch_id)
            if raw is None:
                raise NotFound(f"no batch {batch_id}")
            batch = change(Batch.model_validate_json(raw))
            self._batches[batch_id] = batch.model_dump_json()
            return batch

    def watched_batches(self) -> list[Batch]:
        with self._lock:
            batches = [Batch.model_validate_json(raw) for raw in self._batches.values()]
        return sorted((b for b in batches if b.watched), key=lambda b: b.created_at)
