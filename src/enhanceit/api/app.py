"""The HTTP service: ``create_app(settings)`` builds it, ``enhanceit serve`` runs it.

The parts behind the routes (engine, storage, job store, queue, webhooks, metrics) are built and started
by :mod:`enhanceit.bootstrap`; routes reach them through the typed dependencies in
:mod:`enhanceit.api.deps`. Every ``/v1`` route is behind the API key (when keys are configured) by way of
its router, not by a line in each route; signed URLs (``/v1/u/…``) alone are not: their signature stands in
for the key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from enhanceit import __version__, bootstrap
from enhanceit.api import problems
from enhanceit.api.deps import caller
from enhanceit.api.middleware import RequestContext
from enhanceit.bootstrap import Services
from enhanceit.config import Settings, get_settings
from enhanceit.web import static_dir

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else get_settings())
    services = services or bootstrap.build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.monotonic()
        bootstrap.start(services)
        logger.info("service started in %.2f s", time.monotonic() - started)
        yield
        bootstrap.stop(services)

    app = FastAPI(
        title="EnhanceIt",
        version=__version__,
        summary="Denoise and upscale images with waifu2x-family networks; results expire.",
        lifespan=lifespan,
    )
    app.state.services = services
    problems.install(app)
    from enhanceit.api.routes import batches, enhance, jobs, models, system, urls, web

    # Every /v1 route is behind the API key. (No prefix here: the metrics label routes by the path each
    # route declares, and a prefix added at inclusion is not part of it.)
    v1 = APIRouter(dependencies=[Depends(caller)])
    for routes in (enhance, jobs, batches, models):
        v1.include_router(routes.router)
    app.include_router(v1)
    app.include_router(urls.router)  # for <img src>: no Authorization header, the signature instead
    app.include_router(system.router)
    app.include_router(web.router)
    app.mount("/static", web.Static(directory=static_dir(), check_dir=False), name="static")
    app.add_middleware(RequestContext, metrics=services.metrics, max_body=settings.limits.max_upload_bytes + 65536)
    return app
