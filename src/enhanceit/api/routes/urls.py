"""``GET /v1/u/{signature}/{options}/{source}``: a signed processing URL, for ``<img src>``.

The grammar and the signature are :mod:`enhanceit.signedurls`'s. Such a URL carries no API key: its signature
stands in for one, so the route sits outside the ``/v1`` key check. Without a URL key (and unsigned URLs not
allowed) it answers 404.

**Finding the work already done.** A URL asks for one job: a job with ``image_url``, under the same SSRF rules,
limits and result cache as any other. Its id is derived from the canonical source and options (the options
resolved: an alias or a preset's name changes nothing, a preset's new options do), the freshness window
and a generation, so every replica finds it by reading the job store (a GET of a known id) without fetching
anything; the same digest is its idempotency key, so two replicas that miss at once still make one job.
Windows are ``ENHANCEIT_URLS_FRESHNESS_SECONDS`` long (at most ``ENHANCEIT_RETENTION_SECONDS``, so that a
window's result outlives it): the first GET in a new window fetches the source again, and the result cache,
keyed by the input's bytes, reuses the stored result when the image has not changed. Within a window a job
that cannot answer any more (its result expired or vanished, canceled, or failed for a reason worth trying
again: a 5xx) gives way to the next generation, at most :data:`GENERATIONS` a window; a bad image (4xx)
answers the same failure until the window ends.

**Answers.** A job that ends within ``ENHANCEIT_JOBS_SYNC_WAIT_SECONDS``: 200 with the image, ``ETag`` (the
result's content address), ``Cache-Control: public, max-age`` up to the result's expiry or the window's end,
whichever is first, and 304 for a matching ``If-None-Match``. One still running: 202, ``Retry-After`` and
``{"id", "status"}``; the same GET later answers from it. A failed one: its problem+json, with its own status.

**Rate limit.** Only GETs that start a job count, per client address, against ``ENHANCEIT_RATE_LIMIT_PER_MINUTE``
(429 past it). Not per signature: one URL on a busy page is fetched by every visitor, and those GETs cost a
store read; new work is what a client can only cause with many URLs. Behind a proxy the address is the
proxy's unless the server trusts its forwarded headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from enhanceit import signedurls
from enhanceit.api import problems
from enhanceit.api.deps import ServicesDep
from enhanceit.api.routes.enhance import wait_for
from enhanceit.bootstrap import Services
from enhanceit.errors import MIN_RETRY_AFTER, Busy, Canceled, NotFound
from enhanceit.imaging.formats import media_type
from enhanceit.jobs.model import Job, JobStatus
from enhanceit.options import EnhanceOptions
from enhanceit.security.urlsigning import UrlKeys
from enhanceit.storage.base import blocks

router = APIRouter(tags=["urls"])
#: The owner of every signed URL's job: the same on every replica (the idempotency keys are per owner), and
#: no API key's, so ``/v1/jobs/{id}`` shows them to no one.
OWNER = "signed-url"
#: Jobs one URL may start in one freshness window: a source that keeps failing costs at most this many fetches.
GENERATIONS = 4
_NO_STORE = {"Cache-Control": "no-store"}
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def window_seconds(services: Services) -> int:
    urls = services.settings.urls
    return max(60, min(urls.freshness_seconds, services.settings.retention_seconds))


def job_id(source: str, options: EnhanceOptions, window: int, generation: int) -> str:
    """The id of a URL's job: the same on every replica for the same source, options, window and generation."""
    canonical = json.dumps(
        {"owner": OWNER, "source": source, "options": options.model_dump(mode="json")}, sort_keys=True
    )
    digest = hashlib.sha256(f"{canonical}\n{window}\n{generation}".encode()).hexdigest()
    return "job_" + digest[:24]


def _spent(job: Job, now: datetime) -> bool:
    """Whether a job can no longer answer for its URL, so that the next generation should run."""
    if job.status == JobStatus.CANCELED:
        return True
    if job.status == JobStatus.FAILED:
        return job.error is None or job.error.status >= 500
    if job.status == JobStatus.SUCCEEDED:
        return job.result is None or job.result.expires_at <= now
    return False


async def _find_or_start(
    services: Services, source: str, options: EnhanceOptions, window: int, client: str, skip: set[str]
) -> Job:
    """This window's job for the URL: the first generation that can still answer, else a new one started."""
    last: Job | None = None
    now = datetime.now(UTC)
    for generation in range(GENERATIONS):
        wanted = job_id(source, options, window, generation)
        job = await asyncio.to_thread(services.store.get, wanted)
        if job is None:
            return await _start(services, source, options, wanted, client)
        if job.id not in skip and not _spent(job, now):
            return job
        last = job
    assert last is not None
    return last  # every generation spent: its failure answers until the window ends


async def _start(services: Services, source: str, options: EnhanceOptions, wanted: str, client: str) -> Job:
    # One bucket per address that started a job: the buckets grow no faster than the jobs themselves.
    try:
        services.url_limit.take(f"ip:{client}")
    except Busy as e:
        raise Busy("too many new images from this address; try again later", retry_after=e.retry_after) from None
    return await asyncio.to_thread(
        services.jobs.submit,
        options,
        url=source,
        owner=OWNER,
        idempotency_key=f"url:{wanted}",  # a replica that started it a moment ago: its job, not a second one
        job_id=wanted,
    )


def _etag(job: Job) -> str:
    assert job.result is not None
    return f'"{PurePosixPath(job.result.key).name}"'  # the content address (a digest) names the result


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == etag for t in if_none_match.split(","))


@router.get(
    f"{signedurls.PREFIX}/{{signature}}/{{rest:path}}",
    summary="A signed processing URL: the enhanced image (no API key: the signature stands in for it)",
    response_model=None,
    responses={
        200: {"description": "the enhanced image", "content": {"image/*": {}}},
        202: {"description": "still running: GET the same URL again after Retry-After"},
        304: {"description": "not modified (If-None-Match)"},
        400: {"description": "bad options or source", **_PROBLEM},
        403: {"description": "bad signature, source not allowed, or not a preset", **_PROBLEM},
        404: {"description": "signed URLs are not enabled here", **_PROBLEM},
        429: {"description": "too many new images from this address", **_PROBLEM},
        502: {"description": "the image server failed", **_PROBLEM},
    },
)
async def signed_url(signature: str, rest: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    keys = UrlKeys.from_settings(settings.urls)
    if not keys.enabled:
        raise NotFound("signed URLs are not enabled on this server")
    keys.verify(signature, "/" + rest)
    parsed = signedurls.parse(rest)
    try:
        options = signedurls.options(parsed, services.presets, settings.presets.only)
    except ValidationError as e:
        return problems.invalid(e.errors())
    length = window_seconds(services)
    window = int(time.time() // length)
    client = request.client.host if request.client else "unknown"
    skip: set[str] = set()
    for _ in range(2):  # a second time only when the stored result vanished before its expiry
        job = await _find_or_start(services, parsed.source, options, window, client, skip)
        job = await wait_for(services, job, settings.jobs.sync_wait_seconds)
        if job.status != JobStatus.SUCCEEDED or job.result is None:
            return _unfinished(job)
        etag = _etag(job)
        left = min(job.result.expires_at.timestamp(), (window + 1) * length) - time.time()
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={max(0, int(left))}"}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        try:
            stream = await asyncio.to_thread(services.storage.open, job.result.key)
        except NotFound:
            skip.add(job.id)
            continue
        return _image(stream, job.result.format, job.result.bytes, headers)
    raise NotFound("the result has expired")


def _image(stream: BinaryIO, fmt: str, size: int, headers: dict[str, str]) -> StreamingResponse:
    headers = {**headers, "Content-Length": str(size), "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(blocks(stream), media_type=media_type(fmt), headers=headers)


def _unfinished(job: Job) -> Response:
    """202 for a job still running, its problem+json for one that failed or was canceled."""
    brief = {"id": job.id, "status": job.status.value}
    if not job.status.finished:
        headers = {**_NO_STORE, "Retry-After": str(MIN_RETRY_AFTER)}
        return JSONResponse(brief, status_code=202, headers=headers)
    if job.error is not None:
        response = problems.from_job_error(job.error, job=brief)
    else:
        response = problems.from_error(Canceled("the job was canceled"), job=brief)
    response.headers.update(_NO_STORE)
    return response
