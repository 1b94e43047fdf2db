"""Transient faults are waited out, not fatal: retry with capped exponential backoff until a deadline.

Only errors marked ``retryable`` (the object store, Redis, the job store, a DNS server that said "try again")
are retried; bad input fails at once, as it always did. An outage of the object store or of Redis therefore
delays jobs instead of failing them, for as long as each job's deadline allows. Waits grow from ``first`` to
``longest`` with jitter, so workers coming back together do not hammer a recovering server in step.
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
            if not e.retryable:
                raise
            wait = backoff.delay(attempt)
            if time.monotonic() + wait > until:
                raise
            logger.warning("%s: %s; trying again in %.1f s", what, e.detail, wait)
            pause(wait)
            attempt += 1
