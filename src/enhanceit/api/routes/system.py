"""Health, readiness, metrics, and the signed links of the local storage: outside ``/v1``, no API key."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from enhanceit.api.deps import ServicesDep
from enhanceit.errors import EnhanceItError, public_detail
from enhanceit.storage.base import blocks

router = APIRouter()


@router.get("/healthz", tags=["system"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["system"],
    summary="Readiness: models loaded and storage answering (warnings: risks such as Redis without persistence)",
    description="Each failed check's `problems` entry is its problem type: `storage-misconfigured` needs an "
    "operator (its check says what to change), `storage-unavailable` is waited out.",
    responses={503: {"description": "not ready", "content": {"application/problem+json": {}}}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    # The problem type of each check that failed with one of ours, so that a store refusing us until someone
    # changes its settings (storage-misconfigured) is told from one that is away for now (storage-unavailable).
    problems: dict[str, str] = {}
    checks["models"] = "ok" if services.models_ready.is_set() else (services.model_error or "loading")

    def probe(name: str, fn: Any) -> None:
        try:
            fn()
            checks[name] = "ok"
        except EnhanceItError as e:
            checks[name] = public_detail(e.detail)
            problems[name] = e.slug
        except Exception as e:  # a backend failing in an unforeseen way is still "not ready"
            checks[name] = type(e).__name__

    await asyncio.to_thread(probe, "storage", services.storage.check)
    await asyncio.to_thread(probe, "jobs", services.store.check)
    await asyncio.to_thread(probe, "queue", services.queue.check)
    ready = all(v == "ok" for v in checks.values())
    warnings: list[str] = []
    if checks["jobs"] == "ok":
        with contextlib.suppress(EnhanceItError):  # a store failing now is already a failed check
            warnings = await asyncio.to_thread(services.store.warnings)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks, "problems": problems, "warnings": warnings},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", tags=["system"], summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep) -> Response:
    # In a thread: the queue figures may ask Redis, which must not block the event loop.
    page = await asyncio.to_thread(services.metrics.render)
    return Response(page, media_type="text/plain; version=0.0.4")


@router.get(
    "/files/{key:path}",
    tags=["files"],
    summary="A result, through a signed and expiring link",
    responses={
        403: {"description": "tampered or expired link", "content": {"application/problem+json": {}}},
        404: {"description": "no such file", "content": {"application/problem+json": {}}},
    },
)
async def files(key: str, request: Request, services: ServicesDep, expires: str = "", sig: str = "") -> Response:
    storage = services.storage
    storage.verify(key, expires, sig, datetime.now(UTC))
    found = await asyncio.to_thread(storage.head, key)
    if found is None:
        from enhanceit.errors import NotFound

        raise NotFound("the result has expired or never existed")
    max_age = max(0, int((found.expires_at - datetime.now(UTC)).total_seconds()))
    headers = {
        "Cache-Control": f"private, max-age={max_age}",
        "Content-Length": str(found.size),
        "X-Content-Type-Options": "nosniff",
    }
    if request.method == "HEAD":  # what GET would send, without opening the object
        return Response(media_type=found.content_type, headers=headers)
    stream = await asyncio.to_thread(storage.open, key)
    return StreamingResponse(blocks(stream), media_type=found.content_type, headers=headers)


@router.head("/files/{key:path}", include_in_schema=False)
async def files_head(key: str, request: Request, services: ServicesDep, expires: str = "", sig: str = "") -> Response:
    """HEAD: the same checks and headers as GET, no body (the object is never opened)."""
    return await files(key, request, services, expires, sig)
