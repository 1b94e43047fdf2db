"""``GET /``: the web page (static files from ``enhanceit/web/static``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

from enhanceit.api.app import static_dir

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> Response:
    page = static_dir() / "index.html"
    if not page.is_file():
        return RedirectResponse("/docs")
    return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})
