"""``/metrics`` keeps rendering when Redis is away, with the queue figures marked unavailable."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import make_settings, png_bytes, start
from tests.storage.servers import closed_port


def test_metrics_render_while_redis_is_down(tmp_path: Path) -> None:
    """Defect 5: /metrics answered 503 while Redis was down, so monitoring went blind."""
    settings = make_settings(tmp_path, queue={"url": f"redis://127.0.0.1:{closed_port()}/0"})
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/metrics")
        assert r.status_code == 200, r.text
        lines = r.text.splitlines()
        assert "enhanceit_queue_available 0.0" in lines
        assert "enhanceit_jobs_queued NaN" in lines
        assert any(line.startswith("enhanceit_http_requests_total") for line in lines)


def test_metrics_mark_the_queue_available_when_it_answers(client: httpx.Client) -> None:
    lines = client.get("/metrics").text.splitlines()
    assert "enhanceit_queue_available 1.0" in lines and "enhanceit_jobs_queued 0.0" in lines


def test_metrics_show_the_memory_and_the_loaded_networks(client: httpx.Client) -> None:
    assert client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}).status_code == 200
    values = {
        line.split()[0]: float(line.split()[1])
        for line in client.get("/metrics").text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["process_resident_memory_bytes"] > 20 * 2**20
    assert values["enhanceit_process_peak_rss_bytes"] >= values["process_resident_memory_bytes"]
    assert values["enhanceit_engine_networks_loaded"] >= 1  # the job's net is held
    assert "enhanceit_engine_networks_bytes" in values  # what they took, counted against the budget
