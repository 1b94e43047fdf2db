"""The embedded queue: a bounded FIFO and a few threads in the API process. Nothing else to run.

The queue holds job ids only; the records live in the job store, so a restart re-queues whatever was
queued or running (see :meth:`InProcessQueue.resume`). ``max_queue`` bounds the waiting line: beyond it
``submit`` raises :class:`Busy` and the API answers 429 with Retry-After.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from enhanceit.errors import Busy
from enhanceit.jobs.queue.base import JobQueue

logger = logging.getLogger(__name__)
_STOP = ""


class InProcessQueue(JobQueue):
    def __init__(self, run: Callable[[str], object], workers: int = 1, max_queue: int = 16) -> None:
        self._run = run
        self._workers = workers
        self._queue: queue.Queue[str] = queue.Queue()
        self._max_queue = max_queue
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._lock = threading.Lock()
        self._accepting = False

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            self._accepting = True
            for i in range(self._workers):
                t = threading.Thread(target=self._loop, name=f"enhanceit-job-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def has_room(self) -> bool:
        return self._accepting and self._queue.qsize() < self._max_queue + max(0, self._workers - self._running)

    def room(self) -> int:
        if not self._accepting:
            return 0
        return max(0, self._max_queue + max(0, self._workers - self._running) - self._queue.qsize())

    def capacity(self) -> int:
        return self._max_queue + self._workers

    def submit(self, job_id: str) -> None:
        with self._lock:
            if not self._accepting:
                raise Busy("the service is shutting down", retry_after=self.retry_after())
            if not self.has_room():
                raise Busy(f"{self._queue.qsize()} jobs are waiting; try again later", retry_after=self.retry_after())
            self._queue.put(job_id)

    def resume(self, job_ids: list[str]) -> None:
        """Re-queue jobs found unfinished at start, whatever the limit (they were accepted once)."""
        for job_id in job_ids:
            self._queue.put(job_id)

    def resend(self, job_id: str) -> None:
        self._queue.put(job_id)

    def depth(self) -> int:
        return self._queue.qsize()

    def running(self) -> int:
        return self._running

    def workers(self) -> int:
        return self._workers

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id == _STOP:
                return
            with self._lock:
                self._running += 1
            try:
                self._run(job_id)
            except Exception:  # the runner records failures; this only keeps the thread alive
                logger.exception("job runner raised", extra={"job_id": job_id})
            finally:
                with self._lock:
                    self._running -= 1

    def stop(self, timeout: float = 10.0) -> None:
        """Take no more jobs; waiting ones stay queued in the store and resume at the next start."""
        with self._lock:
            self._accepting = False
            threads, self._threads = self._threads, []
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in threads:
            self._queue.put(_STOP)
        for t in threads:
            t.join(timeout / max(1, len(threads)))
