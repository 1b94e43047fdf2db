"""The smaller defects of issue 10: each one's status or header, as a client sees it."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from enhanceit import logs
from enhanceit.api import serving
from enhanceit.api.problems import from_error
from enhanceit.engine.fake import fake_engine
from enhanceit.errors import Busy
from tests.api.conftest import make_settings, png_bytes, start
from tests.api.test_errors import problem


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost", "ip6-localhost"])
def test_a_webhook_to_a_loopback_name_is_refused_at_submit(tmp_path: Path, host: str) -> None:
    """It was accepted, then dropped silently at delivery, while image_url with the same name got 403."""
    server, _ = start(make_settings(tmp_path, fetch={"allow_private": False}))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        for body in (
            {"image_url": "https://example.com/a.png", "webhook_url": f"http://{host}:8080/hook"},
            {"image_url": f"http://{host}/a.png"},
        ):
            r = c.post("/v1/enhance", json=body, headers={"Prefer": "respond-async"})
            assert "loopback" in str(problem(r, 403, "forbidden-url")["detail"])


def test_scale_nan_says_it_must_be_finite(client: httpx.Client) -> None:
    for value in ("NaN", "inf"):
        r = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"scale": value})
        assert "finite" in str(problem(r, 400, "invalid-request")["detail"])


def test_format_jpg_is_accepted_as_jpeg(client: httpx.Client) -> None:
    r = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"format": "jpg"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["format"] == "jpeg" and r.json()["options"]["format"] == "jpeg"


def test_head_on_a_result_link_answers_like_get_without_a_body(client: httpx.Client) -> None:
    job = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}).json()
    got, head = client.get(job["result"]["url"]), client.head(job["result"]["url"])
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert head.headers["content-type"] == got.headers["content-type"] == "image/png"


def test_pyvips_info_logs_are_quiet() -> None:
    """pyvips logged "VIPS: threadpool completed" at info level for every image (and a damaged file gives a
    warning per row): only libvips' errors reach the log, with the service's logging set up or not."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("text", "INFO")
        vips = logging.getLogger("pyvips")
        assert not vips.isEnabledFor(logging.WARNING) and vips.isEnabledFor(logging.ERROR)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_keep_alive_outlasts_every_retry_after() -> None:
    """A client reusing a connection after Retry-After must not find it closed (2 of 200 got ReadErrors)."""
    assert serving.KEEP_ALIVE_SECONDS > serving.MAX_RETRY_AFTER
    assert from_error(Busy("full", retry_after=600)).headers["Retry-After"] == str(serving.MAX_RETRY_AFTER)


def test_serve_uses_the_keep_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    from enhanceit.cli import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(serving.Server, "run", lambda self, *a, **k: seen.update(vars(self.config)))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert main(["serve", "--port", "0"]) == 0
    finally:  # 'serve' configures logging for the process
        root.handlers[:] = handlers
        root.setLevel(level)
    assert seen["timeout_keep_alive"] == serving.KEEP_ALIVE_SECONDS


def test_sigterm_answers_waiting_requests_at_once_with_202_and_location(tmp_path: Path) -> None:
    """Shutdown waited up to 30 s for synchronous requests, longer than Kubernetes' default grace."""
    settings = make_settings(tmp_path, jobs={"sync_wait_seconds": 120})
    server, services = start(settings, engine=fake_engine(delay=3))
    answers: list[httpx.Response] = []
    with server, httpx.Client(base_url=server.url, timeout=60) as c:

        def wait() -> None:
            answers.append(c.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}))

        waiting = threading.Thread(target=wait)
        waiting.start()
        while services.queue.running() == 0:
            assert waiting.is_alive()
            time.sleep(0.01)
        server.server.handle_exit(signal.SIGTERM, None)
        waiting.join(60)
    (r,) = answers
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
