"""The queue interface: hand a job id to whatever runs jobs, and say how busy it is."""

from __future__ import annotations

from abc import ABC, abstractmethod


class JobQueue(ABC):
    @abstractmethod
    def submit(self, job_id: str) -> None:
        """Queue a job; raises :class:`~enhanceit.errors.Busy` (429) when the queue is full."""

    @abstractmethod
    def has_room(self) -> bool:
        """Whether ``submit`` would accept a job now (checked before an upload is stored)."""

    @abstractmethod
    def depth(self) -> int:
        """Jobs waiting (not yet running)."""

    @abstractmethod
    def running(self) -> int:
        """Jobs running now (in this process, for the embedded queue)."""

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
