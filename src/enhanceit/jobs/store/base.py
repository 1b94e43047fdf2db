"""The job store interface.

Records are whole :class:`~enhanceit.jobs.model.Job` documents; ``update`` is an atomic read-modify-write,
so a worker's progress and an API's cancel request never overwrite each other. Idempotency keys map
(owner, key) to the job they created and the fingerprint of the request that created it.

A running job is held by a lease (``lease_owner``, ``lease_until``): :meth:`JobStore.claim` takes it,
:meth:`JobStore.renew` keeps it, :meth:`JobStore.requeue` hands a lapsed one back. All three are built on
the same atomic ``_replace``, so every store gets them and two workers can never both hold a live lease.

Batches are records of their own beside the jobs (their items' job ids and their own fields, never an image
or a result), with their own atomic ``_replace_batch``. :meth:`JobStore.claim_batch_webhook` is built on it:
of several processes that find a batch's last items ended at the same moment, exactly one sends its webhook.
Batch records expire like job records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from enhanceit.errors import NotFound
from enhanceit.jobs.model import Batch, Job, JobStatus, now


class JobStore(ABC):
    @abstractmethod
    def insert(self, job: Job, idempotency: tuple[str, str] | None = None) -> Job:
        """Store a new job. With ``idempotency=(key, fingerprint)``: when the owner already used the key,
        return that job instead (same fingerprint) or raise :class:`~enhanceit.errors.IdempotencyConflict`."""

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
    def pending_webhooks(self) -> list[Job]:
        """Finished jobs whose webhook is still to be delivered, oldest first."""

    @abstractmethod
    def purge(self, before: datetime) -> int:
        """Forget finished jobs, and batches, created before ``before``; returns how many records."""

    @abstractmethod
    def insert_batch(self, batch: Batch) -> Batch:
        """Store a new batch (its items' jobs are inserted on their own, first)."""

    @abstractmethod
    def get_batch(self, batch_id: str) -> Batch | None: ...

    @abstractmethod
    def _replace_batch(self, batch_id: str, change: Callable[[Batch], Batch]) -> Batch:
        """Apply ``change(batch) -> batch`` atomically and store the result; :class:`NotFound` if missing."""

    @abstractmethod
    def watched_batches(self) -> list[Batch]:
        """Batches whose webhook is still to send (:attr:`Batch.watched`: unclaimed, or claimed and pending),
        oldest first: what a reaper looks at."""

    def get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        """The jobs in the order asked, None where there is none: a batch's items, in one read where the store
        can (Redis MGET, one SQL query)."""
        return [self.get(job_id) for job_id in job_ids]

    def check(self) -> None:
        """Readiness: raise when the store cannot answer."""

    def warnings(self) -> list[str]:
        """Readiness: what works now but risks jobs (e.g. a Redis without persistence); none by default."""
        return []

    def close(self) -> None:
        """Release connections."""

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    def require_batch(self, batch_id: str) -> Batch:
        batch = self.get_batch(batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        return batch

    def update_batch(self, batch_id: str, **fields: Any) -> Batch:
        def change(batch: Batch) -> Batch:
            return batch.model_copy(update={**fields, "updated_at": now()})

        return self._replace_batch(batch_id, change)

    def claim_batch_webhook(self, batch_id: str) -> bool:
        """Take the batch's webhook to send it: True for exactly one caller, however many processes found the
        batch ended at the same moment; False for the others, for every later call, and for a batch without a
        webhook. Marks it pending in the same write, so a crash right after loses nothing (a reaper sends it)."""
        won = [False]

        def change(batch: Batch) -> Batch:
            # Set on every call, not only when winning: a store may run ``change`` again after a conflict
            # (Redis), and the last run is the one that was written.
            won[0] = batch.webhook_url is not None and not batch.webhook_claimed
            if not won[0]:
                return batch
            return batch.model_copy(update={"webhook_claimed": True, "webhook_pending": True, "updated_at": now()})

        self._replace_batch(batch_id, change)
        return won[0]

    def update(self, job_id: str, **fields: Any) -> Job:
        def change(job: Job) -> Job:
            return job.model_copy(update={**fields, "updated_at": now()})

        return self._replace(job_id, change)

    def transition(self, job_id: str, status: JobStatus, **fields: Any) -> Job:
        """Move a job on, unless it already finished (a late worker must not undo a cancel)."""

        def change(job: Job) -> Job:
            if job.status.finished:
                return job
            extra: dict[str, Any] = {"finished_at": now()} if status.finished else {}
            if status.finished and job.webhook_url:
                extra["webhook_pending"] = True  # in the same write as the end: a crash right after loses nothing
            return job.model_copy(update={**fields, **extra, "status": status, "updated_at": now()})

        return self._replace(job_id, change)

    def claim(self, job_id: str, owner: str, until: datetime, max_claims: int | None = None) -> Job:
        """Take a job to run it: a queued one, or a running one whose lease lapsed (its worker died or lost
        Redis). The answer's ``lease_owner`` tells whether the claim held: a finished job, or one another run
        holds a live lease on, comes back unchanged (a duplicate message is then simply dropped). So does a
        job already claimed ``max_claims`` times: the caller fails it (see :func:`claimable`)."""

        def change(job: Job) -> Job:
            if not claimable(job, now()) or (max_claims is not None and job.attempts >= max_claims):
                return job
            return job.model_copy(
                update={
                    "status": JobStatus.RUNNING,
                    "lease_owner": owner,
                    "lease_until": until,
                    "started_at": now(),
                    "attempts": job.attempts + 1,
                    "progress": 0.0,
                    "error": None,
                    "updated_at": now(),
                }
            )

        return self._replace(job_id, change)

    def renew(self, job_id: str, owner: str, until: datetime) -> bool:
        """Extend ``owner``'s lease; False when it no longer holds the job (finished, re-queued, taken over)."""
        held = [False]

        def change(job: Job) -> Job:
            if job.status != JobStatus.RUNNING or job.lease_owner != owner:
                return job
            held[0] = True
            return job.model_copy(update={"lease_until": until})

        self._replace(job_id, change)
        return held[0]

    def requeue(self, job_id: str, lapsed_at: datetime | None) -> bool:
        """Put a running job back in line: only if its lease lapsed by ``lapsed_at`` (None: whatever its
        lease, for a single process restarting). Never touches a finished job: a retry never undoes a cancel.
        Returns whether it moved, so of several reapers only one re-sends it."""
        moved = [False]

        def change(job: Job) -> Job:
            if job.status != JobStatus.RUNNING or (lapsed_at is not None and not lease_lapsed(job, lapsed_at)):
                return job
            moved[0] = True
            return job.model_copy(
                update={"status": JobStatus.QUEUED, "lease_owner": None, "lease_until": None, "updated_at": now()}
            )

        self._replace(job_id, change)
        return moved[0]

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


def lease_lapsed(job: Job, at: datetime) -> bool:
    """Whether nobody holds ``job`` at ``at``: no lease (a record from before leases) or an expired one."""
    return job.lease_until is None or job.lease_until < at


def claimable(job: Job, at: datetime) -> bool:
    """Whether a run may take ``job`` at ``at``: queued, or running on a lease that lapsed."""
    return job.status == JobStatus.QUEUED or (job.status == JobStatus.RUNNING and lease_lapsed(job, at))
