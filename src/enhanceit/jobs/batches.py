"""Batches: several images submitted at once (``POST /v1/batches``), each item an ordinary job.

* **Submitting** checks every item as :meth:`JobService.submit` checks one (options, the URL policy, an
  upload's header) before anything is stored: an item refused refuses the whole batch, with its index
  (:class:`ItemRefused`), and nothing created. Then the queue's room for all its jobs at once: 429 when they
  would not fit now, 400 when they never could. Then the jobs are recorded (each knows its batch), the batch
  record after them, and the jobs queued.
* **Reading**: a batch record holds its items' job ids and its own fields only; its status, counts and
  results are read from the jobs each time (:func:`render`). ``running`` until every item has ended, then
  ``succeeded`` when every item did, else ``completed_with_failures``.
* **Its webhook** is sent once, when every item has ended. Whoever ends a job of a batch looks at the batch's
  other items (:class:`BatchCompletion`: a runner's observer, a cancel, a reaper's sweep), and the one that
  finds them all ended and wins the store's atomic claim sends it
  (:meth:`~enhanceit.jobs.store.base.JobStore.claim_batch_webhook`): several workers ending the last items at
  the same moment send one webhook. It is signed, retried and re-sent by reapers as a job's is.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from enhanceit.errors import Busy, EnhanceItError, InvalidRequest, NotFound, StorageUnavailable
from enhanceit.jobs.model import Batch, Job, JobStatus, Source, new_batch_id
from enhanceit.jobs.runner import Observer
from enhanceit.jobs.service import JobService, Upload
from enhanceit.jobs.service import render as render_job
from enhanceit.jobs.store.base import JobStore
from enhanceit.jobs.webhooks import WebhookSender
from enhanceit.options import EnhanceOptions
from enhanceit.security.outbound import check_at_submit
from enhanceit.storage.base import Storage

logger = logging.getLogger(__name__)

#: What an item whose job record is gone (expired before its batch's) shows.
EXPIRED = {"type": "not-found", "message": "the job's record has expired", "status": 404}


class BatchStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPLETED_WITH_FAILURES = "completed_with_failures"


@dataclass(frozen=True)
class BatchItem:
    """One image of a batch: a URL or an upload, with its options (the batch's shared ones under its own)."""

    options: EnhanceOptions
    url: str | None = None
    upload: Upload | None = None


class ItemRefused(Exception):
    """The item a batch was refused for: its index and the error it got (the API answers with both)."""

    def __init__(self, index: int, error: EnhanceItError) -> None:
        super().__init__(f"item {index}: {error.detail}")
        self.index = index
        self.error = error


def status_of(items: Sequence[Job | None]) -> BatchStatus:
    """A missing record (expired) counts as ended and failed."""
    if any(job is not None and not job.status.finished for job in items):
        return BatchStatus.RUNNING
    if all(job is not None and job.status == JobStatus.SUCCEEDED for job in items):
        return BatchStatus.SUCCEEDED
    return BatchStatus.COMPLETED_WITH_FAILURES


def render(batch: Batch, items: Sequence[Job | None], storage: Storage) -> dict[str, Any]:
    """The batch as clients (and its webhook) see it: each item's job in brief, results with fresh URLs."""
    entries: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for index, (job_id, job) in enumerate(zip(batch.job_ids, items, strict=True)):
        entry: dict[str, Any]
        if job is None:
            entry = {"index": index, "id": job_id, "status": "failed", "progress": 0.0, "result": None}
            entry["error"] = EXPIRED
        else:
            view = render_job(job, storage)
            entry = {"index": index, **{k: view[k] for k in ("id", "status", "progress", "result", "error")}}
        counts[entry["status"]] += 1
        entries.append(entry)
    return {
        "id": batch.id,
        "status": status_of(items).value,
        "created_at": batch.created_at,
        "counts": {"total": len(entries), **{s.value: counts[s.value] for s in JobStatus}},
        "items": entries,
        "archive": f"/v1/batches/{batch.id}/archive",
    }


class BatchCompletion(Observer):
    """Sends a batch's webhook once its last item has ended, wherever that item ended.

    As a runner's observer it hears of every job a runner ends; :meth:`JobService.cancel` tells it of a queued
    job a cancel ended; a reaper's sweep calls :meth:`settle` for batches nobody settled (an item ended by the
    reaper, or a process that died between ending a job and looking at its batch).
    """

    def __init__(self, store: JobStore, storage: Storage, webhooks: WebhookSender) -> None:
        self.store = store
        self.storage = storage
        self.webhooks = webhooks

    def finished(self, job: Job) -> None:
        if job.batch_id is None:
            return
        try:
            self.settle(job.batch_id)
        except EnhanceItError as e:  # the store is away: a reaper's sweep looks at the batch again
            logger.warning("batch %s: could not tell whether it ended: %s", job.batch_id, e.detail)

    def settle(self, batch_id: str) -> bool:
        """If every item ended and nobody claimed the batch's webhook yet, claim it and send it; whether it did.
        Reads the batch record first: a batch without a webhook, or one already claimed, costs one read."""
        batch = self.store.get_batch(batch_id)
        if batch is None or batch.webhook_url is None or batch.webhook_claimed:
            return False
        items = self.store.get_many(batch.job_ids)
        if status_of(items) == BatchStatus.RUNNING:
            return False
        if not self.store.claim_batch_webhook(batch_id):  # another process found it ended at the same moment
            return False
        self.send(batch, items)
        return True

    def send(self, batch: Batch, items: Sequence[Job | None] | None = None) -> None:
        """One round of delivery of the batch's webhook (its record is settled once delivered or refused)."""
        if batch.webhook_url is None:
            return
        view = render(batch, self.store.get_many(batch.job_ids) if items is None else items, self.storage)
        body = json.dumps({"type": f"batch.{view['status']}", "batch": view}, default=str).encode()
        self.webhooks.send(
            batch.webhook_url,
            f"{batch.id}.{view['status']}",
            body,
            settled=lambda: self.store.update_batch(batch.id, webhook_pending=False),
        )


class BatchService:
    """Accepting batches and reading them, over the job service (every item is submitted as a job is)."""

    def __init__(self, jobs: JobService, completion: BatchCompletion) -> None:
        self.jobs = jobs
        self.completion = completion
        self.store = jobs.store

    def submit(self, items: Sequence[BatchItem], *, webhook_url: str | None = None, owner: str = "anonymous") -> Batch:
        """Check every item, then the queue's room for all of them, then record and queue: all or nothing.
        Raises :class:`ItemRefused` for an item's own fault, and the batch's errors as they are."""
        settings = self.jobs.settings
        if not items:
            raise InvalidRequest("a batch needs at least one item")
        if len(items) > settings.batches.max_items:
            raise InvalidRequest(f"a batch holds at most {settings.batches.max_items} items; this one has {len(items)}")
        if webhook_url is not None:
            check_at_submit(webhook_url, settings.fetch)
        batch = Batch(id=new_batch_id(), job_ids=[], owner=owner, webhook_url=webhook_url)
        jobs = [self._checked(index, item, batch) for index, item in enumerate(items)]
        self._check_room(sum(not job.status.finished for job in jobs))
        batch = batch.model_copy(update={"job_ids": [job.id for job in jobs]})
        jobs = self._record(batch, jobs, items)
        self._queue(jobs)
        self.completion.settle(batch.id)  # every item reused an earlier result: the batch ended already
        return batch

    def _checked(self, index: int, item: BatchItem, batch: Batch) -> Job:
        """The item's job, as :meth:`JobService.submit` would record it; nothing stored yet."""
        source = Source(url=item.url, filename=item.upload.filename if item.upload else None)
        job = Job(options=item.options, source=source, owner=batch.owner, batch_id=batch.id)
        try:
            self.jobs.check(item.options, url=item.url, upload=item.upload)
            return job if item.upload is None else self.jobs.read_header(job, item.upload)
        except EnhanceItError as e:
            if e.status_code >= 500:  # the service's trouble (the results storage away), not the item's
                raise
            raise ItemRefused(index, e) from None

    def _check_room(self, waiting: int) -> None:
        queue = self.jobs.queue
        capacity = queue.capacity()
        if capacity is not None and waiting > capacity:
            raise InvalidRequest(
                f"this server's queue holds {capacity} jobs at most: a batch of {waiting} could never be accepted"
            )
        if waiting > queue.room():
            raise Busy(
                f"no room in the queue for {waiting} more jobs now; try again later", retry_after=queue.retry_after()
            )

    def _record(self, batch: Batch, jobs: list[Job], items: Sequence[BatchItem]) -> list[Job]:
        """Uploads stored, then the jobs, then the batch: its record exists before any item can end. Undone
        as far as it went when the store or storage fails half-way (what is left expires)."""
        done: list[Job] = []
        inserted: list[Job] = []
        try:
            for job, item in zip(jobs, items, strict=True):
                if item.upload is not None and not job.status.finished:
                    job = self.jobs.store_upload(job, item.upload)
                done.append(job)
            for job in done:
                inserted.append(self.store.insert(job))
            self.store.insert_batch(batch)
        except EnhanceItError:
            self._forget(done, inserted)
            raise
        return done

    def _forget(self, stored: list[Job], inserted: list[Job]) -> None:
        try:
            for job in inserted:
                self.store.delete(job.id)
            for job in stored:
                if job.source.upload_key:
                    self.jobs.storage.delete(job.source.upload_key)
        except EnhanceItError as e:
            logger.warning("a refused batch left records behind (they expire): %s", e.detail)

    def _queue(self, jobs: list[Job]) -> None:
        """The batch was admitted whole: its jobs go in even if other requests took the room meanwhile
        (``resend`` ignores the depth limit), rather than leave it half queued."""
        for job in jobs:
            if job.status.finished:
                continue
            try:
                self.jobs.queue.resend(job.id)
            except StorageUnavailable as e:  # recorded but not sent: the reaper sends it, as for a job
                logger.warning("batch job recorded but not queued (%s); the reaper will queue it", e.detail)

    def get(self, batch_id: str, owner: str | None = None) -> Batch:
        """:class:`NotFound` for an unknown id and for another ``owner``'s batch, as for jobs."""
        batch = self.store.get_batch(batch_id)
        if batch is None or (owner is not None and batch.owner != owner):
            raise NotFound(f"no batch {batch_id}")
        return batch

    def items(self, batch: Batch) -> list[Job | None]:
        return self.store.get_many(batch.job_ids)

    def render(self, batch: Batch, items: Sequence[Job | None] | None = None) -> dict[str, Any]:
        return render(batch, self.items(batch) if items is None else items, self.jobs.storage)
