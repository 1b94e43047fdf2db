"""Where queued jobs wait for a worker: threads in this process, or Dramatiq workers on Redis."""

from enhanceit.jobs.queue.base import JobQueue
from enhanceit.jobs.queue.inprocess import InProcessQueue

__all__ = ["InProcessQueue", "JobQueue"]
