"""``GET /v1/jobs/{id}`` and ``POST /v1/jobs/{id}/cancel``."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from enhanceit.api.deps import JobsDep, Owner, ServicesDep
from enhanceit.api.routes.enhance import jsonable, rendered

router = APIRouter(tags=["jobs"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such job", "content": {"application/problem+json": {}}}
}


@router.get("/v1/jobs/{job_id}", summary="A job's status, progress, timings and result", responses=_NOT_FOUND)
async def get_job(job_id: str, jobs: JobsDep, services: ServicesDep, owner: Owner) -> JSONResponse:
    job = await asyncio.to_thread(jobs.get, job_id, owner)
    return JSONResponse(jsonable(rendered(services, job)))


@router.post("/v1/jobs/{job_id}/cancel", summary="Stop a job (a running one stops between tiles)", responses=_NOT_FOUND)
async def cancel_job(job_id: str, jobs: JobsDep, services: ServicesDep, owner: Owner) -> JSONResponse:
    job = await asyncio.to_thread(jobs.cancel, job_id, owner)
    if job.status.finished:  # a queued job ends here, with no runner to say so to requests waiting for it
        services.waiters.wake(job.id)
    return JSONResponse(jsonable(rendered(services, job)), status_code=202 if not job.status.finished else 200)
