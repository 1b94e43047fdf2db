"""``POST /v1/batches``, ``GET /v1/batches/{id}`` and ``GET /v1/batches/{id}/archive``.

A batch is sent as JSON, image URLs::

    {"items": [{"image_url": "https://…/a.jpg", "scale": 4}, {"image_url": "https://…/b.png"}],
     "options": {"model": "photo"}, "webhook_url": "https://…/hook"}

or as multipart, several ``file`` parts with the shared options as fields, and optionally an ``items`` field:
a JSON list of one object of options per file, in the files' order. An item's own options override the
shared ones. Every item is checked before anything is created; a refused item refuses the batch, and the
problem names its index (``item``). The answer is 202 with the batch and ``Location: /v1/batches/{id}``.

A multipart batch travels in one request body, so all its files together are bounded as one upload is
(``ENHANCEIT_LIMITS_MAX_UPLOAD_BYTES``); larger sets go as URLs.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from enhanceit.api import problems
from enhanceit.api.deps import Owner, ServicesDep
from enhanceit.api.jsonbody import read_json
from enhanceit.api.routes.enhance import jsonable, read_upload
from enhanceit.bootstrap import Services
from enhanceit.errors import EnhanceItError, InvalidRequest, UnsupportedFormat, public_detail
from enhanceit.jobs.archive import archive, logged
from enhanceit.jobs.batches import BatchItem, ItemRefused
from enhanceit.jobs.scratch import UPLOAD_PREFIX, owned
from enhanceit.options import EnhanceOptions
from enhanceit.storage.base import content_disposition

router = APIRouter(tags=["batches"])
#: Form fields besides the files: the options (a dozen), ``items`` and ``webhook_url``, with room to spare.
MAX_FORM_FIELDS = 40


class ItemOptions(EnhanceOptions):
    """One item of a JSON batch: the image's URL and any option."""

    image_url: str | None = Field(None, max_length=8192, description="http(s) URL of the image to enhance")

    def options(self) -> EnhanceOptions:
        return EnhanceOptions(**self.model_dump(exclude={"image_url"}))


class BatchRequest(BaseModel):
    """``POST /v1/batches`` as JSON."""

    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(
        description="one object per image: its image_url, and any option, over the shared ones"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="options every item takes unless it sets its own")
    webhook_url: str | None = Field(None, max_length=8192, description="POSTed the batch once every item has ended")


_PROBLEMS = {
    str(s): {"description": d, "content": {"application/problem+json": {}}}
    for s, d in (
        (400, "invalid parameters, too many items, or an item refused (its index in 'item')"),
        (401, "missing or unknown API key"),
        (403, "an item's URL, or the webhook's, not allowed"),
        (413, "the request is too large"),
        (415, "an uploaded file is not a supported image"),
        (422, "an uploaded image has too many pixels"),
        (429, "no room in the queue for the whole batch: retry after Retry-After seconds"),
    )
}
_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": BatchRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "items": {"type": "string", "description": "JSON list: each file's own options, in order"},
                        "webhook_url": {"type": "string"},
                    },
                    "additionalProperties": {"type": "string", "description": "an option every item takes"},
                }
            },
        },
    },
    "responses": {"202": {"description": "the batch, accepted"}, **_PROBLEMS},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such batch", "content": {"application/problem+json": {}}}
}


def _validate(data: Mapping[str, Any], where: tuple[str | int, ...], item: int | None = None) -> ItemOptions:
    try:
        return ItemOptions.model_validate(data)
    except ValidationError as e:
        errors = [{**err, "loc": (*where, *err["loc"])} for err in e.errors()]  # fields named from the top
        raise problems.InvalidFields(errors, **({} if item is None else {"item": item})) from None


def _shared(options: Mapping[str, Any], where: tuple[str, ...] = ("options",)) -> dict[str, Any]:
    """The shared options, checked on their own first, so a bad one is named once (``options.scale``)."""
    if "image_url" in options or "webhook_url" in options:
        raise InvalidRequest("shared options hold no image_url or webhook_url: each item has its own image_url")
    _validate(options, where)
    return dict(options)


def _item(index: int, shared: Mapping[str, Any], own: Any) -> ItemOptions:
    if not isinstance(own, dict):
        raise ItemRefused(index, InvalidRequest("an item is a JSON object of options"))
    if "webhook_url" in own:
        raise ItemRefused(index, InvalidRequest("webhook_url is the batch's, not an item's"))
    return _validate({**shared, **own}, ("items", index), index)


def _check_count(count: int, services: Services) -> None:
    """Before any item is read: a batch with too many is refused at once."""
    limit = services.settings.batches.max_items
    if count == 0:
        raise InvalidRequest("a batch needs at least one item")
    if count > limit:
        raise InvalidRequest(f"a batch holds at most {limit} items; this one has {count}")


async def _from_json(request: Request, services: Services) -> tuple[list[BatchItem], str | None]:
    data = await read_json(request, services.settings.limits.max_json_bytes)
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    if isinstance(data.get("items"), list):
        _check_count(len(data["items"]), services)
    try:
        body = BatchRequest.model_validate(data)
    except ValidationError as e:
        raise problems.InvalidFields(e.errors()) from None
    shared = _shared(body.options)
    items = []
    for index, own in enumerate(body.items):
        parsed = _item(index, shared, own)
        if parsed.image_url is None:
            raise ItemRefused(index, InvalidRequest("image_url is required (or send files as multipart)"))
        items.append(BatchItem(parsed.options(), url=parsed.image_url))
    return items, body.webhook_url


async def _from_form(request: Request, services: Services, scratch: Path) -> tuple[list[BatchItem], str | None]:
    max_items = services.settings.batches.max_items
    try:
        form = await request.form(max_files=max_items + 1, max_fields=MAX_FORM_FIELDS)
    except StarletteHTTPException as e:  # too many parts, a malformed body: a 400 worded as ours are
        raise InvalidRequest(str(e.detail)) from None
    try:
        files = form.getlist("file")
        _check_count(len(files), services)
        fields = {k: v for k, v in form.multi_items() if k != "file" and isinstance(v, str)}
        webhook_url = fields.pop("webhook_url", None) or None
        own = _own_options(fields.pop("items", None), len(files))
        shared = _shared({k: v for k, v in fields.items() if v != ""}, ())
        items = []
        for index, file in enumerate(files):
            parsed = _item(index, shared, own[index])
            if parsed.image_url is not None:
                raise ItemRefused(index, InvalidRequest("a multipart batch's items are its files: no image_url"))
            if not isinstance(file, UploadFile):
                raise ItemRefused(index, InvalidRequest("each 'file' part must be a file"))
            folder = scratch / str(index)
            folder.mkdir()
            try:
                upload = await read_upload(file, folder, services.settings.limits.max_upload_bytes)
            except EnhanceItError as e:
                raise ItemRefused(index, e) from None
            items.append(BatchItem(parsed.options(), upload=upload))
    finally:
        await form.close()  # the spooled files; our copies are in ``scratch``
    return items, webhook_url


def _own_options(raw: str | None, count: int) -> list[Any]:
    """The ``items`` field of a multipart batch: each file's own options, in order (none: the shared ones)."""
    if raw is None or raw == "":
        return [{} for _ in range(count)]
    try:
        own = json.loads(raw)
    except ValueError:
        raise InvalidRequest("'items' must be a JSON list of objects, one per file") from None
    if not isinstance(own, list) or len(own) != count:
        raise InvalidRequest(f"'items' must be a JSON list of {count} objects, one per file, in order")
    return own


def _refused(refused: ItemRefused) -> Response:
    """The item's own error, with its index."""
    e = refused.error
    detail = f"item {refused.index}: {public_detail(e.detail)}"
    response = problems.problem(e.status_code, e.title, detail, e.slug, item=refused.index)
    response.headers.update(e.headers)
    return response


@router.post(
    "/v1/batches",
    summary="Enhance several images: URLs (JSON) or files (multipart)",
    openapi_extra=_OPENAPI,
    response_model=None,
    status_code=202,
)
async def create_batch(request: Request, services: ServicesDep, owner: Owner) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with tempfile.TemporaryDirectory(prefix=owned(UPLOAD_PREFIX), dir=services.settings.tmp_dir) as scratch:
        try:
            if ctype == "multipart/form-data":
                items, webhook_url = await _from_form(request, services, Path(scratch))
            elif ctype == "application/json":
                items, webhook_url = await _from_json(request, services)
            else:
                raise UnsupportedFormat("send application/json with items, or multipart/form-data with files")
            batch = await asyncio.to_thread(services.batches.submit, items, webhook_url=webhook_url, owner=owner)
        except ItemRefused as e:
            return _refused(e)
    body = await asyncio.to_thread(services.batches.render, batch)
    return JSONResponse(jsonable(body), status_code=202, headers={"Location": f"/v1/batches/{batch.id}"})


@router.get(
    "/v1/batches/{batch_id}",
    summary="A batch's status, counts, and each item's job in brief",
    responses=_NOT_FOUND,
)
async def get_batch(batch_id: str, services: ServicesDep, owner: Owner) -> JSONResponse:
    def read() -> dict[str, Any]:
        return services.batches.render(services.batches.get(batch_id, owner))

    return JSONResponse(jsonable(await asyncio.to_thread(read)))


@router.get(
    "/v1/batches/{batch_id}/archive",
    summary="A zip of the batch's results, streamed; manifest.json lists the items not in it",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **_NOT_FOUND},
)
async def get_archive(batch_id: str, services: ServicesDep, owner: Owner) -> StreamingResponse:
    def read() -> StreamingResponse:
        batch = services.batches.get(batch_id, owner)
        chunks = archive(batch, services.batches.items(batch), services.storage)
        # a sync iterator: Starlette runs each step in a thread, so reading storage never blocks the loop
        return StreamingResponse(
            logged(chunks, batch.id),
            media_type="application/zip",
            headers={"Content-Disposition": content_disposition(f"{batch.id}.zip"), "Cache-Control": "no-store"},
        )

    return await asyncio.to_thread(read)
