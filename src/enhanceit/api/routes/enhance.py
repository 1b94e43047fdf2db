"""``POST /v1/enhance``: an image URL (JSON) or a file (multipart) in, a job out.

The answer depends on how long the client is willing to wait (RFC 7240 ``Prefer``):

* by default, up to ``ENHANCEIT_JOBS_SYNC_WAIT_SECONDS``; ``Prefer: wait=N`` changes that (capped);
* ``Prefer: respond-async`` answers at once;
* a job finished in time gives 200 with the job (or its failure as problem+json with the failure's own
  status and the job's id); one still running gives 202 with ``Location: /v1/jobs/{id}``.

``Idempotency-Key`` makes a retried request return the job the first one created. ``preset`` names one of
the server's option sets (:mod:`enhanceit.presets`): its options first, then the request's own fields over
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field, ValidationError
from starlette.datastructures import UploadFile

from enhanceit import signedurls
from enhanceit.api import problems
from enhanceit.api.deps import Owner, ServicesDep
from enhanceit.api.jsonbody import read_json
from enhanceit.bootstrap import Services
from enhanceit.errors import MIN_RETRY_AFTER, InvalidRequest, PayloadTooLarge, StorageUnavailable, UnsupportedFormat
from enhanceit.imaging.formats import READABLE, SNIFF_BYTES, sniff
from enhanceit.jobs.model import Job, JobStatus
from enhanceit.jobs.scratch import UPLOAD_PREFIX, owned
from enhanceit.jobs.service import Upload
from enhanceit.options import EnhanceOptions
from enhanceit.presets import Presets

router = APIRouter(tags=["jobs"])
_WAIT = re.compile(r"(?:^|[,\s])wait\s*=\s*(\d+)")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class EnhanceRequest(EnhanceOptions):
    image_url: str | None = Field(None, max_length=8192, description="http(s) URL of the image to enhance")
    webhook_url: str | None = Field(None, max_length=8192, description="POSTed the job when it finishes")
    preset: str | None = Field(
        None, max_length=64, description="a named option set of this server's; the request's own fields override it"
    )

    def options(self, presets: Presets) -> EnhanceOptions:
        """The options asked for: a preset's, with the fields this request set over them (the size as one
        field: see :func:`enhanceit.presets.overlay`), or this request's alone."""
        not_options = {"image_url", "webhook_url", "preset"}
        if self.preset is None:
            return EnhanceOptions(**self.model_dump(exclude=not_options))
        return presets.options([self.preset], self.model_dump(exclude=not_options, exclude_unset=True))


_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "the image"},
        **{
            name: {
                k: v
                for k, v in prop.items()
                if k in ("type", "anyOf", "enum", "description", "minimum", "maximum", "exclusiveMinimum", "maxLength")
            }
            for name, prop in EnhanceRequest.model_json_schema()["properties"].items()
            if name != "image_url"
        },
    },
}
_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/EnhanceRequest"}},
            "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
        },
    },
    "responses": {
        "200": {"description": "the finished job"},
        "202": {"description": "the job is still running; poll its Location"},
        **{
            str(s): {"description": d, "content": {"application/problem+json": {}}}
            for s, d in (
                (400, "invalid parameters"),
                (401, "missing or unknown API key"),
                (403, "URL not allowed"),
                (413, "image too large"),
                (415, "not a supported image"),
                (422, "too many pixels or undecodable"),
                (429, "busy: retry after Retry-After seconds"),
                (502, "the image server failed"),
                (504, "the image server timed out"),
            )
        },
    },
}


def _wait_seconds(prefer: str | None, default: float, cap: float) -> float:
    if prefer is None:
        return default
    if "respond-async" in prefer.lower():
        return 0.0
    match = _WAIT.search(prefer.lower())
    return min(float(match.group(1)), cap) if match else default


async def read_upload(file: UploadFile, folder: Path, limit: int) -> Upload:
    """Copy the uploaded file to our own temporary file, hashing it and checking its size and kind."""
    path = folder / "upload"
    digest, size, head = hashlib.sha256(), 0, b""
    with path.open("wb") as out:
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the image is larger than the limit of {limit:,} bytes")
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise InvalidRequest("the uploaded file is empty")
    if sniff(head) is None:
        raise UnsupportedFormat(f"not an image in a supported format ({READABLE})")
    return Upload(path, file.filename, digest.hexdigest(), size)


def _parse(model: type[EnhanceRequest], data: dict[str, Any]) -> EnhanceRequest:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise problems.InvalidFields(e.errors()) from None


def _options(body: EnhanceRequest, presets: Presets) -> EnhanceOptions:
    try:
        return body.options(presets)
    except ValidationError as e:  # a preset and the request's fields that do not go together
        raise problems.InvalidFields(e.errors()) from None


@router.post("/v1/enhance", summary="Enhance an image", openapi_extra=_OPENAPI, response_model=None)
async def enhance(
    request: Request,
    services: ServicesDep,
    owner: Owner,
    prefer: Annotated[str | None, Header(description="respond-async, or wait=N seconds")] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidRequest("Idempotency-Key must be 1-255 visible ASCII characters")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with tempfile.TemporaryDirectory(prefix=owned(UPLOAD_PREFIX), dir=services.settings.tmp_dir) as scratch:
        if ctype == "multipart/form-data":
            async with request.form(max_files=1, max_fields=20) as form:  # closes its spooled files
                file = form.get("file")
                if not isinstance(file, UploadFile):
                    raise InvalidRequest("multipart requests need a 'file' part")
                fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str) and v != ""}
                body = _parse(EnhanceRequest, fields)
                options = _options(body, services.presets)
                if body.image_url is not None:
                    raise InvalidRequest("give either image_url or a file, not both")
                upload = await read_upload(file, Path(scratch), services.settings.limits.max_upload_bytes)
        elif ctype == "application/json":
            data = await read_json(request, services.settings.limits.max_json_bytes)
            if not isinstance(data, dict):
                raise InvalidRequest("the body must be a JSON object")
            body = _parse(EnhanceRequest, data)
            options = _options(body, services.presets)
            if body.image_url is None:
                raise InvalidRequest("image_url is required (or send the image as multipart 'file')")
            upload = None
        else:
            raise UnsupportedFormat("send application/json with image_url, or multipart/form-data with file")
        job = await asyncio.to_thread(
            services.jobs.submit,
            options,
            url=body.image_url,
            upload=upload,
            webhook_url=body.webhook_url,
            owner=owner,
            idempotency_key=idempotency_key,
        )
    wait = _wait_seconds(prefer, services.settings.jobs.sync_wait_seconds, services.settings.jobs.max_wait_seconds)
    job = await wait_for(services, job, wait)
    return job_response(services, job, waited=prefer is not None)


#: How long a waiting request goes without reading the job again when jobs run in this process: a runner
#: here wakes it the moment the job ends, so the store is read only in case something else ended it (a
#: cancel before it ran, the reaper).
EMBEDDED_REREAD_SECONDS = 1.0
#: When workers elsewhere run the jobs, nothing wakes a request: it reads the job again (a Redis GET) after
#: 50 ms, then half as long again each time up to half a second, so that a quick job is answered quickly
#: and a long one costs two reads a second.
REMOTE_REREAD_SECONDS = (0.05, 0.5)


async def wait_for(services: Services, job: Job, seconds: float) -> Job:
    """Until the job finishes or ``seconds`` pass: woken at once by a runner in this process, reading the
    store again now and then (see above) for whatever else may end it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    finished = services.waiters.register(job.id)
    pause, longest = (EMBEDDED_REREAD_SECONDS, EMBEDDED_REREAD_SECONDS) if services.embedded else REMOTE_REREAD_SECONDS
    try:
        job = await _reread(services, job)  # it may have finished already
        stopping = services.stopping  # set on SIGTERM: answer 202 now rather than hold up the shutdown
        while not job.status.finished and (left := deadline - loop.time()) > 0 and not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), timeout=min(pause, left))
            finished.clear()  # woken once: the next wait waits again (a record not yet readable is no spin)
            pause = min(longest, pause * 1.5)
            job = await _reread(services, job)
    finally:
        services.waiters.forget(job.id, finished)
    return job


async def _reread(services: Services, job: Job) -> Job:
    """The job's latest record; the last one known while the store is away (the job was accepted: the client
    gets 202 and its Location, not a 503 for a job that will run)."""
    try:
        found = await asyncio.to_thread(services.jobs.get, job.id)
    except StorageUnavailable:
        return job
    return found


def rendered(services: Services, job: Job) -> dict[str, Any]:
    """The job as clients see it, with ``signed_url``: a signed URL of the same image and options (the web
    page's "Copy link"), when the job came from an ``image_url`` and this server has a URL key."""
    body = services.jobs.render(job)
    source = job.source.url
    body["signed_url"] = signedurls.link(services.settings, services.presets, source, job.options) if source else None
    return body


def job_response(services: Services, job: Job, waited: bool = False) -> Response:
    body = rendered(services, job)
    location = f"/v1/jobs/{job.id}"
    if job.status == JobStatus.FAILED and job.error is not None:
        response: Response = problems.from_job_error(job.error, job=jsonable(body))
    elif job.status.finished:
        response = JSONResponse(jsonable(body), status_code=200)
    else:
        response = JSONResponse(jsonable(body), status_code=202)
        # when to look at Location again: the job may end any moment (to be answered when it does: Prefer: wait)
        response.headers["Retry-After"] = str(MIN_RETRY_AFTER)
    response.headers["Location"] = location
    if waited:
        response.headers["Preference-Applied"] = "respond-async" if job.status == JobStatus.QUEUED else "wait"
    return response


def jsonable(value: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value)
