"""``GET /``: the web page, and its static files under ``/static``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from enhanceit.web import static_dir

router = APIRouter(include_in_schema=False)

#: Everything the page loads is ours; images may come from a bucket or from the URL the user gave.
CSP = (
    "default-src 'self'; img-src 'self' data: blob: https: http:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


class Static(StaticFiles):
    """Unhashed file names: revalidate every time (ETag/Last-Modified make that a cheap 304)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@router.get("/")
async def index() -> Response:
    page = static_dir() / "index.html"
    if not page.is_file():
        return RedirectResponse("/docs")
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    return FileResponse(page, media_type="text/html", headers=headers)
