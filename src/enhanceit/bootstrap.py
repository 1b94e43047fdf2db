"""Wiring: every long-lived part of the service built from the settings, in one place.

The HTTP service (:func:`build_services`, then :func:`start`/:func:`stop` around its life), the queue
workers (:func:`run_worker`) and the CLI all build their engine, storage, job store, queue and runner
here, so a new setting or part is wired once. This module sits above :mod:`enhanceit.jobs` and below
:mod:`enhanceit.api` and :mod:`enhanceit.cli`, which only call it: data flows down.

Embedded defaults need nothing else installed: local files, SQLite, and jobs run by threads in this
process; ``ENHANCEIT_QUEUE_URL`` hands jobs to Dramatiq workers on Redis instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from enhanceit import logs
from enhanceit.allocator import configure_process
from enhanceit.config import Settings
from enhanceit.engine.runtime import Engine, engine_from
from enhanceit.jobs.batches import BatchCompletion, BatchService
from enhanceit.jobs.model import JobStatus, now
from enhanceit.jobs.queue.base import JobQueue
from enhanceit.jobs.queue.inprocess import InProcessQueue
from enhanceit.jobs.reaper import Reaper
from enhanceit.jobs.runner import JobRunner, Observers
from enhanceit.jobs.scratch import sweep_scratch
from enhanceit.jobs.service import JobService, render
from enhanceit.jobs.store.base import JobStore
from enhanceit.jobs.waiters import Waiters
from enhanceit.jobs.webhooks import WebhookSender, webhook_secret
from enhanceit.metrics import Metrics
from enhanceit.models.registry import get_model
from enhanceit.options import DEFAULT_MODEL
from enhanceit.presets import Presets, load_presets
from enhanceit.security.apikeys import ApiKeys, TokenBucket
from enhanceit.storage import make_storage
from enhanceit.storage.base import Storage

logger = logging.getLogger(__name__)
#: How often the service deletes expired results and forgets old job records.
SWEEP_SECONDS = 300.0


@dataclass
class Services:
    """What the HTTP routes use; built by :func:`build_services`, or in parts by tests."""

    settings: Settings
    engine: Engine
    storage: Storage
    store: JobStore
    queue: JobQueue
    jobs: JobService
    runner: JobRunner
    webhooks: WebhookSender
    metrics: Metrics
    api_keys: ApiKeys
    waiters: Waiters
    batches: BatchService
    #: The queue when it runs jobs in this process and no other process does (the embedded default):
    #: jobs left unfinished by the last run are resumed here at start, and no reaper is needed.
    embedded: InProcessQueue | None = None
    #: Set once the default model is loaded: /readyz waits for it.
    models_ready: threading.Event = field(default_factory=threading.Event)
    model_error: str | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    #: The named option sets (``ENHANCEIT_PRESETS``), checked when the services are built.
    presets: Presets = field(default_factory=Presets)
    #: New jobs started by signed URLs, per client address (those URLs carry no API key to count them by).
    url_limit: TokenBucket = field(default_factory=lambda: TokenBucket(60))


def job_store(settings: Settings) -> JobStore:
    """Redis when there is a queue (shared by every replica and worker), else SQLite in the data folder."""
    if settings.queue.url is not None:
        from enhanceit.jobs.store.redis import RedisJobStore

        return RedisJobStore(settings.queue.url, settings.jobs.keep_seconds)
    from enhanceit.jobs.store.sqlite import SqliteJobStore

    return SqliteJobStore(settings.data_dir / "jobs.sqlite3")


def webhook_sender(settings: Settings, storage: Storage, store: JobStore) -> WebhookSender:
    """Webhooks recorded as settled in ``store`` once delivered (or refused for good), so none is lost."""
    return WebhookSender(
        webhook_secret(settings),
        settings.fetch,
        render=lambda job: render(job, storage),
        settled=lambda job_id: store.update(job_id, webhook_pending=False),
    )


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    storage: Storage | None = None,
    store: JobStore | None = None,
    queue: JobQueue | None = None,
) -> Services:
    """Everything the API needs, from the settings; any part can be given instead (tests)."""
    logs.stamp_records()
    presets = load_presets(settings.presets)  # first: a bad preset stops the start before anything is opened
    engine = engine or engine_from(settings)
    storage = storage or make_storage(settings)
    store = store or job_store(settings)
    metrics = Metrics()
    webhooks = webhook_sender(settings, storage, store)
    waiters = Waiters()
    completion = BatchCompletion(store, storage, webhooks)  # a runner ending a batch's last job sends its webhook
    observer = Observers(metrics, waiters, completion)
    runner = JobRunner(settings, engine, storage, store, notify=webhooks.notify, observer=observer)
    embedded = None
    if queue is None and settings.queue.url is not None:
        from enhanceit.jobs.queue.dramatiq import DramatiqQueue

        queue = DramatiqQueue(settings)
    elif queue is None:
        queue = embedded = InProcessQueue(runner.run, settings.jobs.max_concurrent, settings.jobs.max_queue)
    jobs = JobService(settings, engine, storage, store, queue, runner)
    batches = BatchService(jobs, completion)
    metrics.watch_queue(queue.depth, queue.running)
    metrics.watch_engine(lambda: len(engine.loaded()), engine.loaded_mb)
    keys = ApiKeys([k.get_secret_value() for k in settings.api_keys], settings.rate_limit_per_minute)
    return Services(
        settings,
        engine,
        storage,
        store,
        queue,
        jobs,
        runner,
        webhooks,
        metrics,
        keys,
        waiters,
        batches=batches,
        embedded=embedded,
        presets=presets,
        url_limit=TokenBucket(settings.rate_limit_per_minute),
    )


def load_default_model(engine: Engine) -> None:
    """Load (and verify) the default model's 2x net, so the first request does not pay for it."""
    spec = get_model(DEFAULT_MODEL)
    net = spec.net(2, -1)
    if net is not None:
        engine.network(spec, net)


def start(services: Services) -> None:
    """The service's start: storage ready, the queue consuming, unfinished jobs resumed or reaped; the
    default model loads and housekeeping runs on threads of their own, off the start path."""
    services.storage.start()
    services.queue.start()
    # scratch of processes that no longer run (this one's, before a restart, too), now and every few minutes
    sweep_scratch(services.settings.tmp_dir, services.stopping)
    if services.embedded is not None:
        _resume(services, services.embedded)
    else:  # workers elsewhere: a reaper here too, first pass at start (off the start path: Redis may be away)
        Reaper(
            services.store,
            services.queue,
            services.settings.jobs,
            notify=services.webhooks.notify,
            batches=services.batches.completion,
        ).start(services.stopping)
    threading.Thread(target=_preload, args=(services,), daemon=True, name="enhanceit-preload").start()
    threading.Thread(target=_housekeeping, args=(services,), daemon=True, name="enhanceit-sweeper").start()


def stop(services: Services) -> None:
    services.stopping.set()
    services.waiters.wake_all()
    services.queue.stop()
    services.webhooks.close()


def _preload(services: Services) -> None:
    """Off the request path; readiness waits for it."""
    try:
        load_default_model(services.engine)
        services.models_ready.set()
    except Exception as e:  # reported by /readyz, not fatal: other models may still work
        services.model_error = str(e)
        logger.error("default model failed to load: %s", e)


def _housekeeping(services: Services) -> None:
    """Delete expired results (where no lifecycle rule does) and forget old job records."""
    while not services.stopping.wait(SWEEP_SECONDS):
        try:
            removed = services.storage.sweep(now())
            purged = services.store.purge(now() - timedelta(seconds=services.settings.jobs.keep_seconds))
            if removed or purged:
                logger.info("housekeeping: %d results and %d job records removed", removed, purged)
        except Exception:
            logger.exception("housekeeping failed")


def _resume(services: Services, queue: InProcessQueue) -> None:
    """The embedded mode at start: jobs past their deadline fail, every other unfinished one runs again
    (one that was running when the process died is put back in line first: no other process holds it)."""
    for job in services.store.unfinished():
        if job.status == JobStatus.RUNNING:
            services.store.requeue(job.id, lapsed_at=None)
    # fails those past their deadline, and sends every webhook still pending: its round died with the process
    Reaper(
        services.store,
        queue,
        services.settings.jobs,
        notify=services.webhooks.notify,
        resend_after=0,
        batches=services.batches.completion,
    ).sweep()
    waiting = [j.id for j in services.store.unfinished()]
    if waiting:
        logger.info("resuming %d unfinished jobs", len(waiting))
        queue.resume(waiting)


def run_worker(settings: Settings) -> int:
    """``enhanceit worker``: ``ENHANCEIT_QUEUE_WORKER_PROCESSES`` processes, each built here, until SIGTERM."""
    assert settings.queue.url is not None, "a worker needs a queue"
    processes, threads = settings.queue.worker_processes, settings.queue.worker_threads
    if processes == 1:
        return _worker_process(settings, threads)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no forked ncnn/libvips state
    children = [
        context.Process(target=_worker_child, args=(settings, threads), name=f"enhanceit-worker-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: each finishes its running job, then exits

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    for child in children:
        child.join()
    return 0 if all(child.exitcode == 0 for child in children) else 1


def _worker_child(settings: Settings, threads: int) -> None:
    logs.configure(settings.log_format, settings.log_level)
    _worker_process(settings, threads)


def _worker_process(settings: Settings, threads: int) -> int:
    """One worker process: its models loaded once, then jobs from the queue until SIGTERM/SIGINT."""
    from enhanceit.jobs.worker import serve

    assert settings.queue.url is not None
    logs.stamp_records()
    configure_process()  # again in a spawned child: the allocator setting is per process
    stop_sweeping = threading.Event()
    sweep_scratch(settings.tmp_dir, stop_sweeping)
    engine = engine_from(settings)
    load_default_model(engine)
    storage = make_storage(settings)
    store = job_store(settings)
    webhooks = webhook_sender(settings, storage, store)
    completion = BatchCompletion(store, storage, webhooks)
    runner = JobRunner(settings, engine, storage, store, notify=webhooks.notify, observer=completion)
    try:
        return serve(settings, threads, runner, store, webhooks, completion)
    finally:
        stop_sweeping.set()
