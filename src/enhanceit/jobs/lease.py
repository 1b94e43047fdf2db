"""A running job's lease: renewed by a thread of the live worker, so a dead or cut-off one is noticed.

The lease says "this run holds the job until T". A worker renews it every third of its length; a job whose
lease lapsed is re-queued by a reaper (:mod:`enhanceit.jobs.reaper`). Renewal failures are tolerated (Redis
may be away for a while: the job goes on, and its result is recorded once Redis is back); only a store that
answers "someone else holds it now" stops the run, through :attr:`LeaseKeeper.lost`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from datetime import datetime, timedelta
from types import TracebackType

from enhanceit.config import JobSettings
from enhanceit.errors import EnhanceItError
from enhanceit.jobs.model import Job, now
from enhanceit.jobs.store.base import JobStore

logger = logging.getLogger(__name__)


def new_owner() -> str:
    """A name for one run of one job: the host, the process and a random part (two threads never share it)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def lease_end(settings: JobSettings) -> datetime:
    return now() + timedelta(seconds=settings.lease_seconds)


def deadline_of(job: Job, settings: JobSettings) -> datetime:
    """When an accepted job must have finished, retries and outages included."""
    return job.created_at + timedelta(seconds=settings.deadline_seconds)


class LeaseKeeper:
    """``with LeaseKeeper(...)``: renews ``owner``'s lease on ``job_id`` in a thread until the block ends."""

    def __init__(self, store: JobStore, job_id: str, owner: str, settings: JobSettings) -> None:
        self.store = store
        self.job_id = job_id
        self.owner = owner
        self.settings = settings
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"enhanceit-lease-{job_id}")

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.lease_seconds / 3):
            try:
                if not self.store.renew(self.job_id, self.owner, lease_end(self.settings)):
                    logger.warning("lost the lease on the job (re-queued, taken over or finished elsewhere)")
                    self.lost.set()
                    return
            except EnhanceItError as e:  # the store is away: keep working, try again at the next beat
                logger.warning("could not renew the lease: %s", e.detail)
