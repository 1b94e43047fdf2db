"""A request waiting for a job run in this process is woken by the runner, not by reading the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from enhanceit.engine.fake import fake_engine
from tests.api.conftest import make_settings, png_bytes, start


def test_a_wait_for_a_job_run_here_reads_the_store_about_once_a_second(tmp_path: Path) -> None:
    server, services = start(make_settings(tmp_path), engine=fake_engine(delay=1.5))
    reads: list[str] = []
    get = services.jobs.get

    def counted(job_id: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(job_id)
        return get(job_id, *args, **kwargs)

    services.jobs.get = counted  # type: ignore[method-assign]
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    # 1.5 s of inference: the first read, about one a second, and the one after the runner's wake-up (polling
    # every 50 ms read it some 30 times)
    assert 2 <= len(reads) <= 5, len(reads)
