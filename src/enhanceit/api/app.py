"""The HTTP service: ``create_app(settings)`` builds it, ``enhanceit serve`` runs it.

One :class:`Services` object holds what the routes use (engine, storage, job store, queue, webhooks,
metrics), built from the settings or injected by tests. Embedded defaults need nothing else installed:
local files, SQLite, and jobs run by threads in this process; ``ENHANCEIT_QUEUE_URL`` hands them to
Dramatiq workers instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from enhanceit import __version__
from enhanceit.api import problems
from enhanceit.api.auth import ApiKeys
from enhanceit.api.metrics import Metrics
from enhanceit.api.middleware import RequestContext
from enhanceit.config import Settings, get_settings
from enhanceit.engine.runtime import Engine, engine_from
from enhanceit.jobs.model import JobStatus, now
from enhanceit.jobs.queue.base import JobQueue
from enhanceit.jobs.queue.inprocess import InProcessQueue
from enhanceit.jobs.reaper import Reaper
from enhanceit.jobs.runner import JobRunner, Observers
from enhanceit.jobs.scratch import remove_stale_scratch
from enhanceit.jobs.service import JobService, render
from enhanceit.jobs.store.base import JobStore
from enhanceit.jobs.waiters import Waiters
from enhanceit.jobs.webhooks import WebhookSender, webhook_secret
from enhanceit.models.registry import get_model
from enhanceit.options import DEFAULT_MODEL
from enhanceit.storage import make_storage
from enhanceit.storage.base import Storage

logger = logging.getLogger(__name__)
SWEEP_SECONDS = 300.0


@dataclass
class Services:
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
    #: Set once the default model is loaded: /readyz waits for it.
    models_ready: threading.Event = field(default_factory=threading.Event)
    model_error: str | None = None
    embedded_queue: bool = True
    stopping: threading.Event = field(default_factory=threading.Event)


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    storage: Storage | None = None,
    store: JobStore | None = None,
    queue: JobQueue | None = None,
) -> Services:
    """Everything the API needs, from the settings; any part can be given instead (tests)."""
    engine = engine or engine_from(settings)
    storage = storage or make_storage(settings)
    if store is None and settings.queue.url is not None:
        from enhanceit.jobs.store.redis import RedisJobStore

        store = RedisJobStore(settings.queue.url, settings.jobs.keep_seconds)  # shared by every replica
    elif store is None:
        from enhanceit.jobs.store.sqlite import SqliteJobStore

        store = SqliteJobStore(settings.data_dir / "jobs.sqlite3")
    metrics = Metrics()
    webhooks = WebhookSender(webhook_secret(settings), settings.fetch, render=lambda job: render(job, storage))
    waiters = Waiters()
    runner = JobRunner(settings, engine, storage, store, notify=webhooks.notify, observer=Observers(metrics, waiters))
    embedded = queue is None and settings.queue.url is None
    if queue is None:
        if settings.queue.url is not None:
            from enhanceit.jobs.queue.dramatiq import DramatiqQueue

            queue = DramatiqQueue(settings)
        else:
            queue = InProcessQueue(runner.run, settings.jobs.max_concurrent, settings.jobs.max_queue)
    jobs = JobService(settings, engine, storage, store, queue, runner)
    metrics.watch_queue(queue.depth, queue.running)
    metrics.watch_engine(lambda: len(engine.loaded()))
    keys = ApiKeys([k.get_secret_value() for k in settings.api_keys], settings.rate_limit_per_minute)
    return Services(
        settings, engine, storage, store, queue, jobs, runner, webhooks, metrics, keys, waiters, embedded_queue=embedded
    )


def load_default_model(engine: Engine) -> None:
    """Load (and verify) the default model's 2x net, so the first request does not pay for it."""
    spec = get_model(DEFAULT_MODEL)
    net = spec.net(2, -1)
    if net is not None:
        engine.network(spec, net)


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
    Reaper(services.store, queue, services.settings.jobs).sweep()  # fails those past their deadline
    waiting = [j.id for j in services.store.unfinished()]
    if waiting:
        logger.info("resuming %d unfinished jobs", len(waiting))
        queue.resume(waiting)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else get_settings())
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.monotonic()
        if services.storage.name == "local":
            services.storage.init()  # the results folder; cloud buckets are made by 'enhanceit storage init'
        services.queue.start()
        if services.embedded_queue and isinstance(services.queue, InProcessQueue):
            remove_stale_scratch(services.settings.tmp_dir)  # only this process runs jobs here
            _resume(services, services.queue)
        else:  # workers elsewhere: a reaper here too, first pass at start (off the start path: Redis may be away)
            Reaper(services.store, services.queue, settings.jobs, notify=services.webhooks.notify).start(
                services.stopping
            )
        threading.Thread(target=_preload, args=(services,), daemon=True, name="enhanceit-preload").start()
        threading.Thread(target=_housekeeping, args=(services,), daemon=True, name="enhanceit-sweeper").start()
        logger.info("service started in %.2f s", time.monotonic() - started)
        yield
        services.stopping.set()
        services.queue.stop()
        services.webhooks.close()

    app = FastAPI(
        title="EnhanceIt",
        version=__version__,
        summary="Denoise and upscale images with waifu2x-family networks; results expire.",
        lifespan=lifespan,
    )
    app.state.services = services
    problems.install(app)
    from enhanceit.api.routes import enhance, jobs, system, web

    app.include_router(enhance.router)
    app.include_router(jobs.router)
    app.include_router(system.router)
    app.include_router(web.router)
    app.mount("/static", web.Static(directory=static_dir(), check_dir=False), name="static")
    app.add_middleware(RequestContext, metrics=services.metrics, max_body=settings.limits.max_upload_bytes + 65536)
    return app


def static_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "web" / "static"
