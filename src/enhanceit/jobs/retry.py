"""Transient faults are waited out, not fatal: retry with capped exponential backoff until a deadline.

Only errors marked ``retryable`` (the object store, Redis, the job store, a DNS server that said "try again")
are retried; bad input fails at once, as it always did. An outage of the object store or of Redis therefore
delays jobs instead of failing them, for as long as each job's deadline allows. Waits grow from ``first`` to
``longest`` with jitter, so workers coming back together do not hammer a recovering server in step.

:func:`retry_wait` is that rule, in one place. The runner applies it to each step of a run (:func:`retrying`);
the distributed queue applies it to whole runs that still failed (:class:`enhanceit.jobs.queue.dramatiq.JobRetries`,
which also ends the job as failed after the last attempt).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from enhanceit.config import JobSettings
from enhanceit.errors import EnhanceItError

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    first: float
    longest: float

    @classmethod
    def of(cls, settings: JobSettings) -> Backoff:
        return cls(settings.retry_min_seconds, max(settings.retry_min_seconds, settings.retry_max_seconds))

    def delay(self, attempt: int) -> float:
        """The wait before try ``attempt + 1``: doubling, capped, between half and all of it (jitter)."""
        base = min(self.longest, self.first * 2.0 ** min(attempt, 30))
        return base * random.uniform(0.5, 1.0)


def retry_wait(error: BaseException, attempt: int, backoff: Backoff, left: float) -> float | None:
    """How long to wait before trying again after ``error`` ended try ``attempt`` (from 0), with ``left``
    seconds to the deadline; None when it must not be tried again: not a transient fault, or the next try
    would start after the deadline."""
    if not (isinstance(error, EnhanceItError) and error.retryable):
        return None
    wait = backoff.delay(attempt)
    return wait if wait <= left else None


def retrying(
    fn: Callable[[], T],
    *,
    until: float,
    backoff: Backoff,
    what: str,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """``fn()``, tried again after each retryable error while the next try can start before ``until``
    (a :func:`time.monotonic` time); then the last error propagates. ``pause`` waits (and may raise, e.g.
    on cancel)."""
    attempt = 0
    while True:
        try:
            return fn()
        except EnhanceItError as e:
            wait = retry_wait(e, attempt, backoff, until - time.monotonic())
            if wait is None:
                raise
            logger.warning("%s: %s; trying again in %.1f s", what, e.detail, wait)
            pause(wait)
            attempt += 1
