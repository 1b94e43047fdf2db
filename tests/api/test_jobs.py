"""Cancel, webhooks, API keys, signed links, logs: the parts of a job's life around the pixels."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from enhanceit.bootstrap import Services
from enhanceit.engine.fake import fake_engine
from enhanceit.jobs import webhooks
from tests.api.conftest import make_settings, png_bytes, start
from tests.api.servers import HttpStub, LiveServer, send, sequence
from tests.helpers import photo


def wait_status(c: httpx.Client, job_id: str, statuses: set[str], seconds: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while (job := c.get(f"/v1/jobs/{job_id}").json())["status"] not in statuses:
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job  # type: ignore[no-any-return]


def test_cancel_stops_a_running_job_between_tiles(tmp_path: Path) -> None:
    server, services = start(make_settings(tmp_path), engine=fake_engine(delay=0.05))
    big = photo("astronaut")[:256, :256]
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post(
            "/v1/enhance",
            files={"file": ("a.png", png_bytes(big), "image/png")},
            data={"tile": "16"},
            headers={"Prefer": "respond-async"},
        )
        job_id = r.json()["id"]
        running = wait_status(c, job_id, {"running"})
        deadline = time.monotonic() + 10
        while c.get(f"/v1/jobs/{job_id}").json()["progress"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running["status"] == "running"
        assert c.post(f"/v1/jobs/{job_id}/cancel").status_code == 202  # running: it stops between tiles
        job = wait_status(c, job_id, {"canceled", "succeeded", "failed"})
        assert job["status"] == "canceled" and job["result"] is None
        assert 0 < float(job["progress"]) < 1  # type: ignore[arg-type]
    results = services.settings.data_dir / "results"
    assert results.is_dir()  # where local storage keeps results: a wrong path would make the next line vacuous
    assert not [p for p in results.rglob("*") if p.is_file() and "uploads" not in p.parts]


def test_a_queued_job_is_canceled_at_once(tmp_path: Path) -> None:
    server, _ = start(make_settings(tmp_path), engine=fake_engine(delay=0.2))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        files = {"file": ("a.png", png_bytes(photo("coffee", 96)), "image/png")}
        first = c.post("/v1/enhance", files=files, data={"tile": "16"}, headers={"Prefer": "respond-async"}).json()
        second = c.post("/v1/enhance", files=files, data={"tile": "32"}, headers={"Prefer": "respond-async"}).json()
        canceled = c.post(f"/v1/jobs/{second['id']}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        c.post(f"/v1/jobs/{first['id']}/cancel")


def test_webhook_is_signed_and_retried(tmp_path: Path, images: HttpStub) -> None:
    settings = make_settings(tmp_path, webhook_secret="s3cret-for-tests")
    server, _ = start(settings)
    receiver = HttpStub().start()
    receiver.routes["/hook"] = sequence(send(500), send(503), send(204))
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    try:
        with server, httpx.Client(base_url=server.url, timeout=30) as c:
            job = c.post(
                "/v1/enhance", json={"image_url": images.url("/a.png"), "webhook_url": receiver.url("/hook")}
            ).json()
            deadline = time.monotonic() + 10
            while len(receiver.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        calls = receiver.received
        assert len(calls) == 3
        assert len({c["headers"]["webhook-id"] for c in calls}) == 1  # one message, retried
        last = calls[-1]
        assert webhooks.verify(b"s3cret-for-tests", last["headers"], last["body"])
        assert not webhooks.verify(b"another-secret", last["headers"], last["body"])
        assert not webhooks.verify(b"s3cret-for-tests", last["headers"], last["body"] + b" ")
        payload = json.loads(last["body"])
        assert payload["type"] == "job.succeeded" and payload["job"]["id"] == job["id"]
        assert payload["job"]["result"]["url"]
    finally:
        receiver.stop()


def test_a_restart_loses_no_webhook(tmp_path: Path, images: HttpStub) -> None:
    """Webhooks ran on an in-memory pool dropped at stop: a receiver that was down until the service restarted
    never heard of the job. The job records its webhook as pending with its end; the next start sends it."""
    settings = make_settings(tmp_path, webhook_secret="s3cret-for-tests")
    receiver = HttpStub().start()
    receiver.routes["/hook"] = send(503)
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    try:
        server, services = start(settings)
        with server, httpx.Client(base_url=server.url, timeout=30) as c:
            job = c.post(
                "/v1/enhance", json={"image_url": images.url("/a.png"), "webhook_url": receiver.url("/hook")}
            ).json()
            assert job["status"] == "succeeded"
            deadline = time.monotonic() + 10
            while not receiver.received and time.monotonic() < deadline:  # its first round has begun
                time.sleep(0.02)
        assert receiver.received and services.store.require(job["id"]).webhook_pending  # never answered 2xx
        tried = len(receiver.received)
        receiver.routes["/hook"] = send(204)
        server, services = start(settings)  # the same data folder: the same job records
        with server:
            deadline = time.monotonic() + 10
            while services.store.require(job["id"]).webhook_pending and time.monotonic() < deadline:
                time.sleep(0.02)
        assert not services.store.require(job["id"]).webhook_pending
        delivered = receiver.received[tried:]
        assert [json.loads(r["body"])["job"]["id"] for r in delivered] == [job["id"]]
        assert webhooks.verify(b"s3cret-for-tests", delivered[0]["headers"], delivered[0]["body"])
    finally:
        receiver.stop()


def test_webhook_failures_never_fail_the_job(tmp_path: Path, images: HttpStub) -> None:
    server, _ = start(make_settings(tmp_path))
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/enhance", json={"image_url": images.url("/a.png"), "webhook_url": "http://127.0.0.1:9/none"})
        assert r.status_code == 200 and r.json()["status"] == "succeeded"


def test_api_keys_and_rate_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_keys="alpha-key,beta-key", rate_limit_per_minute=3)
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        anonymous = c.get("/v1/jobs/job_x")
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/v1/jobs/job_x", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = {"Authorization": "Bearer alpha-key"}
        statuses = [c.get("/v1/jobs/job_x", headers=ok).status_code for _ in range(4)]
        assert statuses[:3] == [404, 404, 404] and statuses[3] == 429
        assert c.get("/v1/jobs/job_x", headers={"Authorization": "Bearer beta-key"}).status_code == 404
        assert c.get("/healthz").status_code == 200  # probes need no key


def test_a_job_is_its_keys_own(tmp_path: Path) -> None:
    """Another API key gets 404 for a job, as for one that does not exist, and cannot cancel it."""
    server, _ = start(make_settings(tmp_path, api_keys="alpha-key,beta-key"), engine=fake_engine(delay=2.0))
    alpha, beta = ({"Authorization": f"Bearer {k}"} for k in ("alpha-key", "beta-key"))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        files = {"file": ("a.png", png_bytes(photo("coffee", 96)), "image/png")}
        job = c.post("/v1/enhance", files=files, headers={**alpha, "Prefer": "respond-async"}).json()
        assert c.get(f"/v1/jobs/{job['id']}", headers=beta).status_code == 404
        assert c.post(f"/v1/jobs/{job['id']}/cancel", headers=beta).status_code == 404
        assert c.get(f"/v1/jobs/{job['id']}", headers=alpha).status_code == 200
        assert c.post(f"/v1/jobs/{job['id']}/cancel", headers=alpha).status_code == 202  # 2 s a tile: still running
        deadline = time.monotonic() + 20
        while (status := c.get(f"/v1/jobs/{job['id']}", headers=alpha).json()["status"]) != "canceled":
            assert status in ("queued", "running") and time.monotonic() < deadline, status
            time.sleep(0.05)


def test_every_v1_route_needs_the_key(tmp_path: Path) -> None:
    """Each /v1 operation in the schema, called without a key, is refused before it runs: the key is checked
    by the router, so a route added later cannot forget it."""
    server, _ = start(make_settings(tmp_path, api_keys="alpha-key"))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        paths = c.get("/openapi.json").json()["paths"]
        operations = [(method, path.replace("{job_id}", "job_x")) for path, ops in paths.items() for method in ops]
        # signed URLs alone: their signature stands in for the key (tests/api/test_signed_urls.py)
        v1 = [(m, p) for m, p in operations if p.startswith("/v1/") and not p.startswith("/v1/u/")]
        assert {p for _, p in v1} >= {"/v1/enhance", "/v1/jobs/job_x", "/v1/jobs/job_x/cancel", "/v1/models"}
        for method, path in v1:
            assert c.request(method, path).status_code == 401, (method, path)
        assert c.get("/v1/models", headers={"Authorization": "Bearer alpha-key"}).status_code == 200


def test_tampered_or_expired_links_are_403(live: tuple[LiveServer, Services], client: httpx.Client) -> None:
    url = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}).json()["result"]["url"]
    assert client.get(url).status_code == 200
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}

    def with_query(**changes: str) -> str:
        return urlunsplit(parts._replace(query=urlencode({**query, **changes})))

    flipped = query["sig"][:-1] + ("0" if query["sig"][-1] != "0" else "1")
    for bad in (
        with_query(sig=flipped),
        with_query(expires=str(int(query["expires"]) + 60)),
        with_query(expires=str(int(time.time()) - 1)),
        parts.path,
    ):
        r = client.get(bad)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    other = urlunsplit(parts._replace(path=parts.path[:-5] + "0.png"))
    assert client.get(other).status_code == 403


def test_logs_carry_ids_but_no_secrets_or_links(
    tmp_path: Path, images: HttpStub, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, api_keys="very-secret-key", webhook_secret="hook-secret")
    server, _ = start(settings)
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    caplog.set_level(logging.DEBUG)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        headers = {"Authorization": "Bearer very-secret-key"}
        job = c.post("/v1/enhance", json={"image_url": images.url("/a.png?token=abc123")}, headers=headers).json()
        c.get(job["result"]["url"])
        c.post("/v1/enhance", files={"file": ("x.png", b"junk", "image/png")}, headers=headers)
    # httpx/httpcore are the test client's own (and the service keeps them at WARNING: logs.QUIET)
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(r.getMessage() for r in ours)
    fetched = [r for r in ours if r.getMessage().startswith("fetching an image")]
    assert fetched and fetched[0].job_id == job["id"]  # type: ignore[attr-defined]
    for secret in ("very-secret-key", "hook-secret", "token=abc123", "sig=", "X-Amz-Signature"):
        assert secret not in text
    from enhanceit import logs

    assert {"httpcore", "httpx", "botocore"} <= set(logs.QUIET)
