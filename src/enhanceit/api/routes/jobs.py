"""``GET /v1/jobs/{id}`` and ``POST /v1/jobs/{id}/cancel``."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from enhanceit.api.routes.enhance import jsonable

router = APIRouter(tags=["jobs"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such job", "content": {"application/problem+json": {}}}
}


@router.get("/v1/jobs/{job_id}", summary="A job's status, progress, timings and result", responses=_NOT_FOUND)
async def get_job(job_id: str, request: Request) -> JSONResponse:
    services = request.app.state.services
    services.api_keys.owner(request)
    job = await asyncio.to_thread(services.store.require, job_id)
    return JSONResponse(jsonable(services.jobs.render(job)))


@router.post("/v1/jobs/{job_id}/cancel", summary="Stop a job (a running one stops between tiles)", responses=_NOT_FOUND)
async def cancel_job(job_id: str, request: Request) -> JSONResponse:
    services = request.app.state.services
    services.api_keys.owner(request)
    job = await asyncio.to_thread(services.jobs.cancel, job_id)
    return JSONResponse(jsonable(services.jobs.render(job)), status_code=202 if not job.status.finished else 200)
