"""A job store that goes away while a request waits for its job: the request is not failed for it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from enhanceit.engine.fake import fake_engine
from enhanceit.jobs.model import JobStatus
from tests.api.conftest import make_settings, png_bytes, start
from tests.jobs.test_runner import FAST, AwayStore


def test_a_waiting_request_outlives_a_job_store_outage(tmp_path: Path) -> None:
    store = AwayStore()
    server, _ = start(make_settings(tmp_path, jobs=FAST), engine=fake_engine(delay=1), store=store)

    def outage_once_running() -> None:
        while not any(j.status == JobStatus.RUNNING for j in store.unfinished()):
            time.sleep(0.01)
        store.away.set()
        threading.Timer(1.5, store.away.clear).start()

    watcher = threading.Thread(target=outage_once_running)
    with server, httpx.Client(base_url=server.url, timeout=60) as c:
        watcher.start()
        r = c.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")})
        watcher.join(10)
    assert store.refused > 0  # the request's polling met the outage
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
