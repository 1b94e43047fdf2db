"""The distributed queue: Dramatiq on Redis. The API sends job ids; ``enhanceit worker`` processes run them.

Why Dramatiq: it acknowledges a message only after the job ran, and requeues the messages of a worker
whose heartbeat stopped, so a killed worker loses no job. Its Redis broker does that in a maintenance pass
that runs on a random fraction of commands once a worker has been silent for ``heartbeat_timeout``; the
defaults (1 in 1000 commands, 60 s) take minutes, so both are tuned here: a dead worker's job runs again
within about half a minute.

Jobs are idempotent (content-addressed results, published whole, status changes that never undo a
finished job) and claimed under a lease, so a duplicate message is harmless: at-least-once delivery is
enough. Messages can still be lost while Redis is away (a retry or an acknowledgement that could not be
sent); :mod:`enhanceit.jobs.reaper` re-sends those jobs, using :meth:`DramatiqQueue.waiting_ids` to see
which queued jobs have no message left.

Retries are :class:`JobRetries`, in place of Dramatiq's ``Retries``: a run that failed with a transient fault
is delivered again with the runner's backoff until the job's deadline, and the last attempt ends the job as
failed with its reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.message import Message
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)

from enhanceit.config import JobSettings, Settings
from enhanceit.errors import Busy, EnhanceItError, StorageUnavailable
from enhanceit.jobs.queue.base import JobQueue
from enhanceit.jobs.retry import Backoff, retry_wait

logger = logging.getLogger(__name__)

ACTOR = "enhance"
NAMESPACE = "dramatiq"
#: Chance per Redis command (out of a million) of a maintenance pass; Dramatiq's default is 1000. An idle
#: worker polls every WORKER_POLL_MS, so 2% gives a pass every few seconds per worker.
MAINTENANCE_CHANCE = 20_000
#: How long an idle consumer may sleep between fetches. Dramatiq's 1 s default leaves a worker idle for up
#: to a second after each job (with prefetch 1 it cannot fetch the next one before). Measured with
#: 'bench/run.py --only distributed' (256x256 CUnet jobs, one worker process): 1.03 -> 1.28 jobs/s.
WORKER_POLL_MS = 100


#: ``give_up(job_id, error)``: the last attempt at a job failed with ``error``; end the job as failed.
GiveUp = Callable[[str, BaseException], object]


class JobRetries(Middleware):
    """The queue's retry policy, in one place: which failed runs are delivered again, when, and what the last
    attempt does.

    A run raises only what the runner could not wait out itself (the job store away for as long as the job's
    deadline allowed) or a crash. A transient fault (``retryable``) is delivered again after the runner's
    own backoff (:func:`~enhanceit.jobs.retry.retry_wait`), at most ``max_retries`` times and only while the
    next try starts before the job's deadline, counted from when its message was first sent. Anything else
    is the last attempt: the message is failed (dead-lettered) and ``give_up`` ends the job as failed with
    its reason. Should the store still be away then, the reaper fails the job at its deadline, so a job
    never stays running forever.
    """

    def __init__(
        self,
        jobs: JobSettings,
        max_retries: int,
        give_up: GiveUp | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backoff = Backoff.of(jobs)
        self.deadline_seconds = jobs.deadline_seconds
        self.max_retries = max_retries
        self.give_up = give_up
        self.clock = clock  # wall time, like the message's timestamp

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is None:
            return
        retries = int(message.options.get("retries", 0))
        left = message.message_timestamp / 1000 + self.deadline_seconds - self.clock()
        wait = retry_wait(exception, retries, self.backoff, left) if retries < self.max_retries else None
        if wait is not None:
            message.options["retries"] = retries + 1
            logger.warning("job run failed (%s); delivering it again in %.1f s", _reason(exception), wait)
            broker.enqueue(message, delay=max(1, int(wait * 1000)))
            return
        logger.warning("job run failed (%s) after %d tries: the job fails", _reason(exception), retries + 1)
        message.fail()
        if self.give_up is not None and message.args:
            try:
                self.give_up(str(message.args[0]), exception)
            except Exception:  # the worker thread must go on; the reaper ends the job at its deadline
                logger.exception("could not fail the job")


def _reason(error: BaseException) -> str:
    return error.slug if isinstance(error, EnhanceItError) else type(error).__name__


def middleware(settings: Settings, give_up: GiveUp | None = None) -> list[Middleware]:
    """The broker's middleware: Dramatiq's defaults, with :class:`JobRetries` in place of its ``Retries``."""
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        CurrentMessage(),
        JobRetries(settings.jobs, settings.queue.max_retries, give_up),
    ]


def make_broker(settings: Settings, give_up: GiveUp | None = None) -> RedisBroker:
    """The Redis broker; a worker passes ``give_up`` (the API only sends)."""
    q = settings.queue
    broker_class: Any = RedisBroker  # its constructor is untyped
    broker: RedisBroker = broker_class(
        url=q.url,
        namespace=NAMESPACE,
        heartbeat_timeout=q.heartbeat_timeout_ms,
        maintenance_chance=MAINTENANCE_CHANCE,
        middleware=middleware(settings, give_up),
    )
    return broker


def declare(broker: dramatiq.Broker, settings: Settings, fn: Any) -> dramatiq.Actor[Any, Any]:
    """The one actor: ``fn(job_id)``, with the job's deadline as Dramatiq's backstop time limit (the runner
    waits out transient faults until then)."""
    limit_ms = int((settings.jobs.deadline_seconds + 60) * 1000)
    options = {"time_limit": limit_ms}
    return dramatiq.Actor(
        fn, broker=broker, actor_name=ACTOR, queue_name=settings.queue.name, priority=0, options=options
    )


class DramatiqQueue(JobQueue):
    def __init__(
        self, settings: Settings, broker: RedisBroker | None = None, actor: dramatiq.Actor[Any, Any] | None = None
    ) -> None:
        self.settings = settings
        self.broker = broker or make_broker(settings)
        self.actor = actor or declare(self.broker, settings, _never_called_here)
        self._list = f"{NAMESPACE}:{settings.queue.name}"

    def has_room(self) -> bool:
        return self.depth() < self.settings.queue.max_depth

    def room(self) -> int:
        return max(0, self.settings.queue.max_depth - self.depth())

    def capacity(self) -> int:
        return self.settings.queue.max_depth

    def submit(self, job_id: str) -> None:
        if not self.has_room():
            raise Busy(f"{self.depth()} jobs are waiting for a worker; try again later", retry_after=self.retry_after())
        try:
            self.actor.send(job_id)
        except dramatiq.errors.ConnectionError as e:
            raise StorageUnavailable(f"the queue (Redis) is unavailable: {type(e).__name__}") from None

    def resend(self, job_id: str) -> None:
        try:
            self.actor.send(job_id)
        except dramatiq.errors.ConnectionError as e:
            raise StorageUnavailable(f"the queue (Redis) is unavailable: {type(e).__name__}") from None

    def waiting_ids(self) -> set[str] | None:
        """Job ids of the messages in the queue and in its delay queue (retries waiting for their time)."""
        found: set[str] = set()
        try:
            client = self.broker.client
            for name in (self._list, f"{self._list}.DQ"):
                ids = client.lrange(name, 0, -1)
                raws = client.hmget(f"{name}.msgs", ids) if ids else []
                for raw in raws:
                    if raw is not None:
                        args = Message.decode(raw if isinstance(raw, bytes) else str(raw).encode()).args
                        if args:
                            found.add(str(args[0]))
        except Exception as e:  # redis errors: the reaper tries again later
            raise StorageUnavailable(f"the queue (Redis) is unavailable: {type(e).__name__}") from None
        return found

    def depth(self) -> int:
        try:
            return int(self.broker.client.llen(self._list))
        except Exception as e:  # redis errors: report as unavailable, never crash a request
            raise StorageUnavailable(f"the queue (Redis) is unavailable: {type(e).__name__}") from None

    def running(self) -> int:
        return 0  # counted by the workers, not here

    def workers(self) -> int:
        """What one ``enhanceit worker`` runs at once; with more of them running, a Retry-After errs long."""
        return self.settings.queue.worker_processes * self.settings.queue.worker_threads

    def check(self) -> None:
        self.depth()

    def stop(self, timeout: float = 10.0) -> None:
        self.broker.close()  # a no-op for Dramatiq's Redis broker: its connections stay open until closed here
        self.broker.client.connection_pool.disconnect()


def _never_called_here(job_id: str) -> None:  # pragma: no cover - the API only sends
    raise RuntimeError("jobs run in 'enhanceit worker' processes")
