"""The queue interface: hand a job id to whatever runs jobs, and say how busy it is.

How busy, as the Retry-After a client turned away gets, is one rule for every queue: :func:`retry_after`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from enhanceit.errors import clamp_retry_after

#: A rough time a job holds a worker, for Retry-After only: a queue knows how many jobs wait, not how large
#: they are (the bench's 256x256 photos take about a second; larger ones more).
SECONDS_PER_JOB = 2.0


def retry_after(waiting: int, workers: int, seconds_per_job: float = SECONDS_PER_JOB) -> int:
    """Seconds a client turned away by a full queue should wait: until ``workers`` are likely to have run the
    ``waiting`` jobs and one more, freeing a place; clamped like every Retry-After
    (:func:`~enhanceit.errors.clamp_retry_after`)."""
    return clamp_retry_after(seconds_per_job * (waiting + 1) / max(1, workers))


class JobQueue(ABC):
    @abstractmethod
    def submit(self, job_id: str) -> None:
        """Queue a job; raises :class:`~enhanceit.errors.Busy` (429) when the queue is full."""

    @abstractmethod
    def has_room(self) -> bool:
        """Whether ``submit`` would accept a job now (checked before an upload is stored)."""

    def room(self) -> int:
        """How many more jobs ``submit`` would take now: a batch is accepted only when all its items fit."""
        return 1 if self.has_room() else 0

    def capacity(self) -> int | None:
        """The most jobs the queue takes at once when idle (None: no fixed bound): a batch of more can never fit,
        however long its client waits."""
        return None

    @abstractmethod
    def depth(self) -> int:
        """Jobs waiting (not yet running)."""

    @abstractmethod
    def running(self) -> int:
        """Jobs running now (in this process, for the embedded queue)."""

    def workers(self) -> int:
        """How many jobs run at once when every worker is busy (1 where the queue cannot tell)."""
        return 1

    def retry_after(self) -> int:
        """The Retry-After of a :class:`~enhanceit.errors.Busy` for this queue being full, as it is now."""
        return retry_after(self.depth(), self.workers())

    def resend(self, job_id: str) -> None:
        """Queue a job that was accepted once (re-queued by the reaper), whatever the depth limit."""
        self.submit(job_id)

    def waiting_ids(self) -> set[str] | None:
        """The jobs that have a message waiting in the queue, or None when the queue cannot tell."""
        return None

    def start(self) -> None:
        """Start consuming (the embedded queue starts its threads)."""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; let running ones finish for up to ``timeout`` seconds."""

    def check(self) -> None:
        """Readiness: raise when jobs cannot be queued."""
