"""The web page in Debian's Chromium (driven by Playwright) against the real service on 127.0.0.1.

The service is the API tests' one (a nearest-neighbour fake engine: fast and exact), with ``/static``
mounted here when the app does not mount it itself. Every request the browser makes to anything but
127.0.0.1 is refused and fails the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.staticfiles import StaticFiles
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route, sync_playwright

from enhanceit.bootstrap import Services
from enhanceit.config import Settings
from enhanceit.engine.runtime import Engine
from enhanceit.web import static_dir
from tests.api.conftest import make_settings, start
from tests.api.servers import LiveServer
from tests.helpers import photo, save

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
#: What the page is meant to work under (results from a bucket are images from another origin).
CSP = (
    "default-src 'self'; img-src 'self' data: blob: https: http:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

if not Path(CHROMIUM).is_file():  # pragma: no cover - the project's machines have it
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def serve(settings: Settings, engine: Engine | None = None) -> tuple[LiveServer, Services]:
    server, services = start(settings, engine)
    if not any(getattr(r, "path", None) == "/static" for r in server.app.routes):
        server.app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    return server, services


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """The service, refusing private addresses as in production; its base URL."""
    server, _ = serve(make_settings(tmp_path, fetch={"allow_private": False}))
    with server:
        yield server.url


class Pages:
    """Opens pages in fresh browser contexts, each fenced to 127.0.0.1 and watched for script errors."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.outside: list[str] = []
        self.errors: list[str] = []

    def open(
        self,
        url: str,
        viewport: dict[str, int] | None = None,
        csp: str | None = None,
        models: bool = True,
        **options: Any,
    ) -> Page:
        """``csp``: serve the page with this Content-Security-Policy (a violation is a console error);
        ``models``: wait for the model list (False where the page cannot load it)."""
        context = self.browser.new_context(viewport=viewport or DESKTOP, **options)
        context.route("**/*", self._fence)
        if csp is not None:

            def with_csp(route: Route) -> None:
                response = route.fetch()
                route.fulfill(response=response, headers={**response.headers, "content-security-policy": csp})

            context.route(url.rstrip("/") + "/", with_csp)  # the later route is asked first
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", self._console)
        page.goto(url)
        if models:
            wait_for_models(page)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx/5xx answer and refused request; the tests cause those on purpose.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _fence(self, route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Browser) -> Iterator[Pages]:
    p = Pages(browser)
    yield p
    p.close()
    assert p.outside == [], "the page tried to reach beyond 127.0.0.1"
    assert p.errors == [], "the page logged script errors"


def wait_for_models(page: Page) -> None:
    page.wait_for_selector("#model option[value='waifu2x-cunet']", state="attached")


@pytest.fixture
def astronaut(tmp_path: Path) -> Path:
    """scikit-image's astronaut, 64×64, as a PNG file."""
    return save(photo("astronaut", 64), tmp_path / "astronaut.png")


def enhance(page: Page, image: Path, before: Callable[[Page], None] | None = None) -> None:
    """Choose the file, press Enhance, and wait until the result is on screen (and remembered)."""
    page.set_input_files("#file", str(image))
    if before is not None:
        before(page)
    page.click("#go")
    wait_for_result(page)


def wait_for_result(page: Page) -> None:
    page.wait_for_function(
        "() => { const a = document.getElementById('after'); return a.complete && a.naturalWidth > 0 }"
    )
    page.wait_for_selector("#recentList li")
    page.wait_for_function("() => !document.getElementById('go').ariaDisabled")
