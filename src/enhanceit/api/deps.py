"""What routes may ask FastAPI for, typed: the service's parts, and the caller behind its API key.

A route declares ``services: ServicesDep`` or ``jobs: JobsDep`` instead of reaching into
``request.app.state``. :data:`V1` is the router every ``/v1`` route is added to: its dependency checks the
API key (401 without a known one, 429 past the key's rate) before any route runs, so a new route cannot
forget it. A route that needs the caller's id declares ``owner: Owner``; FastAPI evaluates the check once
per request either way.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from enhanceit.bootstrap import Services
from enhanceit.jobs.service import JobService


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


def job_service(services: ServicesDep) -> JobService:
    return services.jobs


JobsDep = Annotated[JobService, Depends(job_service)]


def caller(request: Request, services: ServicesDep) -> str:
    """The caller's owner id from ``Authorization: Bearer <key>`` ("anonymous" when keys are off)."""
    return services.api_keys.owner(request.headers.get("authorization"))


Owner = Annotated[str, Depends(caller)]
