"""``enhanceit worker``: processes that take jobs from the Redis queue and run them.

Each process loads its models once at start, then runs ``ENHANCEIT_QUEUE_WORKER_THREADS`` jobs at a time
(1 by default: a job uses every core it is given) and fetches a new message only when it has room
(prefetch = threads), so an idle worker never waits behind a busy one's backlog. On SIGTERM or SIGINT it
takes no new job, lets the running one finish (up to the job time limit), and hands back any message it
had not started; a job it could not finish runs again elsewhere (its lease lapses and a reaper re-queues
it). Give a worker a grace period longer than your longest job (Kubernetes: terminationGracePeriodSeconds),
or accept that a job cut short runs again from the start.

Every worker also runs the reaper (:mod:`enhanceit.jobs.reaper`) every ``ENHANCEIT_JOBS_REAP_SECONDS``, and at
start removes scratch folders that a killed worker left behind. The processes, and what each one runs, are
built by :func:`enhanceit.bootstrap.run_worker`; this module runs one Dramatiq worker around them.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import dramatiq

from enhanceit.config import Settings
from enhanceit.jobs.batches import BatchCompletion
from enhanceit.jobs.queue.dramatiq import WORKER_POLL_MS, DramatiqQueue, declare, make_broker
from enhanceit.jobs.reaper import Reaper
from enhanceit.jobs.runner import JobRunner
from enhanceit.jobs.store.base import JobStore
from enhanceit.jobs.webhooks import WebhookSender

logger = logging.getLogger(__name__)


def _job_actor(runner: Any) -> Any:
    def enhance(job_id: str) -> None:
        # The runner waits out transient faults itself, until the job's deadline; what still escapes it
        # (the job store unreachable for that long) is the queue's JobRetries' to retry or give up on.
        runner.run(job_id)

    return enhance


def serve(
    settings: Settings,
    threads: int,
    runner: JobRunner,
    store: JobStore,
    webhooks: WebhookSender,
    batches: BatchCompletion | None = None,
) -> int:
    """Run jobs from the queue with a runner built by :mod:`enhanceit.bootstrap`, until SIGTERM/SIGINT."""
    broker = make_broker(settings, give_up=runner.give_up)
    actor = declare(broker, settings, _job_actor(runner))
    queue = DramatiqQueue(settings, broker, actor)
    reaper = Reaper(store, queue, settings.jobs, notify=webhooks.notify, batches=batches)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_POLL_MS)
    worker.queue_prefetch = threads  # fetch only what we can start now
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    reaper.start(stop)
    logger.info("worker ready: %d thread(s) on queue %s", threads, settings.queue.name)
    stop.wait()
    logger.info("stopping: finishing the running job")
    worker.stop(timeout=int(settings.jobs.timeout_seconds * 1000))
    webhooks.close(wait=True)
    broker.close()
    return 0
