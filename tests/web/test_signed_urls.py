"""Signed URLs in Chromium: an ``<img>`` on the service's origin shows the enhanced image, and the page's
"Copy link" copies a signed URL that does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from enhanceit.cli.url import sign
from tests.api.conftest import make_settings, png_bytes
from tests.api.servers import HttpStub, send
from tests.helpers import photo
from tests.web.conftest import Pages, enhance, serve, wait_for_result

KEY = "browser-key-0123456789abcdef"


@pytest.fixture
def images() -> Iterator[HttpStub]:
    """The image host, on 127.0.0.1 (the service's fetch allows private addresses here)."""
    stub = HttpStub().start()
    yield stub
    stub.stop()


def loaded_size(page: Page, selector: str) -> tuple[int, int]:
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0 }", arg=selector
    )
    w, h = page.eval_on_selector(selector, "i => [i.naturalWidth, i.naturalHeight]")
    return int(w), int(h)


def test_a_signed_url_made_by_url_sign_shows_the_enhanced_image_in_an_img_tag(
    tmp_path: Path, pages: Pages, images: HttpStub
) -> None:
    images.routes["/photo.png"] = send(200, png_bytes(photo("astronaut", 48)), "image/png")
    settings = make_settings(tmp_path, urls={"key": KEY})  # the image host is on 127.0.0.1: private allowed
    path = sign(settings, images.url("/photo.png"), {"model": "photo", "scale": 2, "format": "webp"})
    server, _ = serve(settings)
    with server:
        page = pages.open(server.url)  # the service's origin, its page's policy
        page.set_content(f'<img id="signed" alt="" src="{path}">')  # no API key, no script: a plain <img>
        assert loaded_size(page, "#signed") == (96, 96)


def test_copy_link_copies_a_signed_url_of_the_result(tmp_path: Path, pages: Pages, images: HttpStub) -> None:
    images.routes["/photo.png"] = send(200, png_bytes(photo("astronaut", 40)), "image/png")
    server, _ = serve(make_settings(tmp_path, urls={"key": KEY}))
    with server:
        page = pages.open(server.url, permissions=["clipboard-read", "clipboard-write"])
        page.fill("#url", images.url("/photo.png"))
        page.click("#go")
        wait_for_result(page)
        copy = page.locator("#copy")
        assert copy.is_visible() and copy.inner_text() == "Copy link"
        copy.click()
        page.wait_for_function("() => document.getElementById('copy').textContent === 'Link copied'")
        link = page.evaluate("navigator.clipboard.readText()")
        assert link.startswith(server.url + "/v1/u/") and link == copy.get_attribute("href")
        page.set_content(f'<img id="copied" alt="" src="{link}">')
        assert loaded_size(page, "#copied") == (80, 80)


def test_no_copy_link_for_an_upload(tmp_path: Path, pages: Pages, astronaut: Path) -> None:
    server, _ = serve(make_settings(tmp_path, urls={"key": KEY}))
    with server:
        page = pages.open(server.url)
        enhance(page, astronaut)  # a file has no address a URL could name
        assert page.is_visible("#download") and page.is_hidden("#copy")


def test_no_copy_link_without_a_url_key(tmp_path: Path, pages: Pages, images: HttpStub) -> None:
    images.routes["/photo.png"] = send(200, png_bytes(photo("astronaut", 40)), "image/png")
    server, _ = serve(make_settings(tmp_path))
    with server:
        page = pages.open(server.url)
        page.fill("#url", images.url("/photo.png"))
        page.click("#go")
        wait_for_result(page)
        assert page.is_hidden("#copy")
