"""Requests waiting for a job: woken the moment a runner in this process finishes it."""

from __future__ import annotations

import asyncio
import threading

from enhanceit.jobs.model import Job
from enhanceit.jobs.runner import Observer


class Waiters(Observer):
    """Wakes requests waiting on a job the moment a runner in this process finishes it.

    Jobs run elsewhere (queue workers) never wake anyone here; waiting requests read the store again now
    and then too (``enhanceit.api.routes.enhance.wait_for``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def register(self, job_id: str) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._events.setdefault(job_id, []).append((asyncio.get_running_loop(), event))
        return event

    def forget(self, job_id: str, event: asyncio.Event) -> None:
        with self._lock:
            left = [(loop, e) for loop, e in self._events.get(job_id, []) if e is not event]
            if left:
                self._events[job_id] = left
            else:
                self._events.pop(job_id, None)

    def finished(self, job: Job) -> None:
        self.wake(job.id)

    def wake_all(self) -> None:
        """Wake every waiting request (the server is stopping: each answers 202 with its job's Location)."""
        with self._lock:
            waiting = [entry for entries in self._events.values() for entry in entries]
        for loop, event in waiting:
            loop.call_soon_threadsafe(event.set)

    def wake(self, job_id: str) -> None:
        with self._lock:
            waiting = list(self._events.get(job_id, []))
        for loop, event in waiting:
            loop.call_soon_threadsafe(event.set)
