"""``GET /``: the web page, and its static files under ``/static``.

The page's list of output formats is written into it here, from the formats table, so that a format added
to the table is offered on the page with nothing else to change (and no request to wait for).
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from enhanceit.imaging.formats import FORMATS, OUTPUT_FORMATS
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


#: Where index.html wants the output formats' ``<option>`` elements.
FORMATS_MARK = "<!--output-formats"


def format_options() -> str:
    """One ``<option>`` per output format: its label (lossless, or one for animations too, said), and for
    the page's script its extension and whether a quality applies."""
    lines = []
    for name in OUTPUT_FORMATS:
        f = FORMATS[name]
        notes = [
            *(["lossless"] if f.default_quality is None and not f.writes_animation else []),
            *(["animations too"] if f.writes_animation else []),
        ]
        label = f.label + (f" ({', '.join(notes)})" if notes else "")
        data = f' data-ext="{escape(f.extension.lstrip("."))}"' + (" data-quality" if f.default_quality else "")
        lines.append(f'<option value="{escape(name)}"{data}>{escape(label)}</option>')
    return "\n".join(lines)


def render(page: str) -> str:
    """index.html with the output formats in place of its mark (the line holding it)."""
    start = page.index(FORMATS_MARK)
    end = page.index("\n", start)
    return page[:start] + format_options() + page[end:]


@router.get("/")
async def index() -> Response:
    page = static_dir() / "index.html"
    if not page.is_file():
        return RedirectResponse("/docs")
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(render(page.read_text(encoding="utf-8")), headers=headers)
