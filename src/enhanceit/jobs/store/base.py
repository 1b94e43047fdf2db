"""The job store interface.

Records are whole :class:`~enhanceit.jobs.model.Job` documents; ``update`` is an atomic read-modify-write,
so a worker's progress and an API's cancel request never overwrite each other. Idempotency keys map
(owner, key) to the job they created and the fingerprint of the request that created it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from enhanceit.errors import EnhanceItError, NotFound
from enhanceit.jobs.model import Job, JobStatus, now


class IdempotencyConflict(EnhanceItError):
    status_code = 422
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


class JobStore(ABC):
    @abstractmethod
    def insert(self, job: Job, idempotency: tuple[str, str] | None = None) -> Job:
        """Store a new job. With ``idempotency=(key, fingerprint)``: when the owner already used the key,
        return that job instead (same fingerprint) or raise :class:`IdempotencyConflict`."""

    @abstractmethod
    def get(self, job_id: str) -> Job | None: ...

    @abstractmethod
    def _replace(self, job_id: str, change: Any) -> Job:
        """Apply ``change(job) -> job`` atomically and store the result; :class:`NotFound` if missing."""

    @abstractmethod
    def delete(self, job_id: str) -> None:
        """Forget a job that was never queued (and its idempotency key)."""

    @abstractmethod
    def unfinished(self) -> list[Job]:
        """Queued and running jobs, oldest first (to resume after a restart)."""

    @abstractmethod
    def purge(self, before: datetime) -> int:
        """Forget finished jobs created before ``before``; returns how many."""

    def check(self) -> None:
        """Readiness: raise when the store cannot answer."""

    def close(self) -> None:
        """Release connections."""

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    def update(self, job_id: str, **fields: Any) -> Job:
        def change(job: Job) -> Job:
            return job.model_copy(update={**fields, "updated_at": now()})

        return self._replace(job_id, change)

    def transition(self, job_id: str, status: JobStatus, **fields: Any) -> Job:
        """Move a job on, unless it already finished (a late worker must not undo a cancel)."""

        def change(job: Job) -> Job:
            if job.status.finished:
                return job
            extra = {"finished_at": now()} if status.finished else {}
            return job.model_copy(update={**fields, **extra, "status": status, "updated_at": now()})

        return self._replace(job_id, change)

    def request_cancel(self, job_id: str) -> Job:
        """Flag a job for cancellation; a queued one is canceled at once, a running one between tiles."""

        def change(job: Job) -> Job:
            if job.status.finished:
                return job
            if job.status == JobStatus.QUEUED:
                return job.model_copy(
                    update={
                        "status": JobStatus.CANCELED,
                        "cancel_requested": True,
                        "finished_at": now(),
                        "updated_at": now(),
                    }
                )
            return job.model_copy(update={"cancel_requested": True, "updated_at": now()})

        return self._replace(job_id, change)
