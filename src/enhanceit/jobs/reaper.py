"""The reaper: no accepted job stays queued or running forever.

Messages can be lost where records are not: a Redis restart without the last second of its log, a retry
Dramatiq could not send while Redis was away, an acknowledgement that never arrived, a worker killed between
taking a message and claiming its job. The job store is the truth, so the reaper reads it and acts on what it
finds (every worker runs it periodically, the API once at start and then periodically too):

* past its deadline and not finished: failed (``job-timeout``), or canceled if a cancel was asked for;
* running with a lapsed lease (its worker died, hangs, or lost Redis): re-queued and re-sent, or canceled if a
  cancel was asked for;
* queued, untouched for a lease's length, and with no message waiting for it in the queue: re-sent;
* finished with its webhook still pending (its round gave up, or died with its process): sent again;
* a batch whose items all ended and whose webhook nobody claimed (its last item ended here, by a cancel, or in
  a process that died before looking): its webhook sent; a claimed one still pending: sent again.

Re-sending is safe because a job is claimed atomically (:meth:`JobStore.claim`): a duplicate message finds
the job held or finished and is dropped. Several reapers at once are safe for the same reason, and because
:meth:`JobStore.requeue` moves a job only once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from enhanceit.config import JobSettings
from enhanceit.errors import EnhanceItError
from enhanceit.jobs.lease import deadline_of
from enhanceit.jobs.model import Job, JobError, JobStatus, now
from enhanceit.jobs.queue.base import JobQueue
from enhanceit.jobs.store.base import JobStore, lease_lapsed
from enhanceit.jobs.webhooks import MAX_ROUNDS, RESEND_AFTER_SECONDS

if TYPE_CHECKING:
    from enhanceit.jobs.batches import BatchCompletion

logger = logging.getLogger(__name__)


@dataclass
class Reaped:
    """What one sweep did, by job id (for logs and tests)."""

    failed: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    #: Jobs and batches whose webhook was sent again (a batch's: or sent, nobody having claimed it).
    webhooks: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.failed or self.canceled or self.requeued or self.resent or self.webhooks)


class Reaper:
    def __init__(
        self,
        store: JobStore,
        queue: JobQueue,
        settings: JobSettings,
        notify: Callable[[Job], None] | None = None,
        resend_after: float = RESEND_AFTER_SECONDS,
        batches: BatchCompletion | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.settings = settings
        self.notify = notify
        self.batches = batches
        #: A pending webhook whose job was last written this long ago is sent again (0: every one, as at the
        #: start of an embedded service, whose earlier rounds died with it).
        self.resend_after = resend_after

    def sweep(self) -> Reaped:
        """One pass over the unfinished jobs. Raises only when the store cannot be read at all."""
        done = Reaped()
        at = now()
        waiting: set[str] | None = None
        unfinished = self.store.unfinished()
        for job in unfinished:
            try:
                if at > deadline_of(job, self.settings):
                    self._end(job, done)
                elif job.status == JobStatus.RUNNING and lease_lapsed(job, at):
                    self._requeue(job, at, done)
                elif job.status == JobStatus.QUEUED and job.updated_at < at - timedelta(
                    seconds=self.settings.lease_seconds
                ):
                    if waiting is None:
                        waiting = self.queue.waiting_ids()
                    if waiting is not None and job.id not in waiting:
                        self.queue.resend(job.id)
                        done.resent.append(job.id)
            except EnhanceItError as e:  # one job's trouble must not stop the sweep
                logger.warning("reaper: job %s: %s", job.id, e.detail)
        if self.notify is not None:
            self._resend_webhooks(at, done)
        if self.batches is not None:
            ended = {*done.failed, *done.canceled}
            self._watch_batches(at, {j.id for j in unfinished} - ended, done)
        if done:
            logger.info(
                "reaper: %d failed, %d canceled, %d re-queued, %d re-sent, %d webhooks sent again",
                len(done.failed),
                len(done.canceled),
                len(done.requeued),
                len(done.resent),
                len(done.webhooks),
            )
        return done

    def _resend_webhooks(self, at: datetime, done: Reaped) -> None:
        """Webhooks whose round ended without an answer or died with its process: another round, up to
        ``MAX_ROUNDS``; past that, given up (logged)."""
        assert self.notify is not None
        for job in self.store.pending_webhooks():
            if job.updated_at > at - timedelta(seconds=self.resend_after):
                continue  # its round may still be running
            try:
                if job.webhook_rounds >= MAX_ROUNDS:
                    self.store.update(job.id, webhook_pending=False)
                    logger.warning("reaper: job %s: webhook given up after %d rounds", job.id, job.webhook_rounds)
                    continue
                job = self.store.update(job.id, webhook_rounds=job.webhook_rounds + 1)  # marks the round started
                self.notify(job)
                done.webhooks.append(job.id)
            except EnhanceItError as e:
                logger.warning("reaper: job %s: %s", job.id, e.detail)

    def _watch_batches(self, at: datetime, unfinished: set[str], done: Reaped) -> None:
        """Batches with a webhook still to send. An unclaimed one none of whose items is among the ``unfinished``
        jobs is settled (its items are read again first); a claimed one still pending after ``resend_after`` gets
        another round, up to ``MAX_ROUNDS``, as a job's webhook does."""
        assert self.batches is not None
        for batch in self.store.watched_batches():
            try:
                if not batch.webhook_claimed:
                    if unfinished.isdisjoint(batch.job_ids) and self.batches.settle(batch.id):
                        done.webhooks.append(batch.id)
                    continue
                if batch.updated_at > at - timedelta(seconds=self.resend_after):
                    continue  # its round may still be running
                if batch.webhook_rounds >= MAX_ROUNDS:
                    self.store.update_batch(batch.id, webhook_pending=False)
                    logger.warning("reaper: batch %s: webhook given up after %d rounds", batch.id, batch.webhook_rounds)
                    continue
                self.batches.send(self.store.update_batch(batch.id, webhook_rounds=batch.webhook_rounds + 1))
                done.webhooks.append(batch.id)
            except EnhanceItError as e:  # one batch's trouble must not stop the sweep
                logger.warning("reaper: batch %s: %s", batch.id, e.detail)

    def _end(self, job: Job, done: Reaped) -> None:
        from enhanceit.jobs.runner import past_deadline

        if job.cancel_requested:
            ended = self.store.transition(job.id, JobStatus.CANCELED)
            done.canceled.append(job.id)
        else:
            ended = self.store.transition(job.id, JobStatus.FAILED, error=JobError.of(past_deadline(self.settings)))
            done.failed.append(job.id)
        if self.notify is not None and ended.webhook_url:
            self.notify(ended)

    def _requeue(self, job: Job, at: datetime, done: Reaped) -> None:
        if job.cancel_requested:
            self.store.transition(job.id, JobStatus.CANCELED)
            done.canceled.append(job.id)
        elif self.store.requeue(job.id, lapsed_at=at):
            self.queue.resend(job.id)
            done.requeued.append(job.id)

    def run(self, stop: threading.Event, first: bool = True) -> None:
        """Sweep every ``reap_seconds`` until ``stop`` is set (a thread's target)."""
        if first:
            self._sweep_logged()
        while not stop.wait(self.settings.reap_seconds):
            self._sweep_logged()

    def _sweep_logged(self) -> None:
        try:
            self.sweep()
        except EnhanceItError as e:  # the store is away: try at the next beat
            logger.warning("reaper: %s", e.detail)
        except Exception:
            logger.exception("reaper failed")

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), daemon=True, name="enhanceit-reaper")
        thread.start()
        return thread
