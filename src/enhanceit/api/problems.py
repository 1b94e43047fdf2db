"""Every error as RFC 7807 ``application/problem+json``, with the request id.

EnhanceIt's errors carry their status, type and headers where they are defined (:mod:`enhanceit.errors`);
this module only renders them, plus the framework's own (validation, 404, 405) and anything unexpected (500,
logged with its traceback, shown to the client without one: see :mod:`enhanceit.api.middleware`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from enhanceit import logs
from enhanceit.errors import EnhanceItError, field_errors, problem_type, public_detail
from enhanceit.jobs.model import JobError

logger = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": logs.request_id.get(),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def from_error(error: EnhanceItError, **extra: Any) -> JSONResponse:
    response = problem(error.status_code, error.title, public_detail(error.detail), error.slug, **extra)
    response.headers.update(error.headers)  # a Retry-After among them is clamped already (errors.Busy)
    return response


def from_job_error(error: JobError, **extra: Any) -> JSONResponse:
    """A failed job's error as the problem the same failure gets inside a request (its message is public
    already: :meth:`JobError.of`)."""
    return problem(error.status, error.type.replace("-", " ").capitalize(), error.message, error.type, **extra)


class InvalidFields(Exception):
    """Parameters that do not validate, raised by a route that validates its body itself (multipart forms, a
    batch's items): answered as :func:`invalid`, with ``extra`` members (a batch item's index)."""

    def __init__(self, errors: Any, **extra: Any) -> None:
        super().__init__("invalid parameters")
        self.errors = errors
        self.extra = extra


def install(app: FastAPI) -> None:
    @app.exception_handler(EnhanceItError)
    async def _ours(request: Request, exc: EnhanceItError) -> JSONResponse:
        return from_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid(exc.errors())

    @app.exception_handler(InvalidFields)
    async def _fields(request: Request, exc: InvalidFields) -> JSONResponse:
        return invalid(exc.errors, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, str(exc.detail), str(exc.detail), slug)


def invalid(errors: Any, **extra: Any) -> JSONResponse:
    """400 for parameters that do not validate, each field's complaint listed (``extra``: more members, such as
    the index of a batch's item they are of)."""
    details = [{"field": where, "message": message} for where, message in field_errors(errors)]
    text = "; ".join(f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details)
    return problem(400, "Invalid request", text or "invalid request", "invalid-request", errors=details, **extra)
