"""The service end to end over HTTP: URL and upload in, stored and expiring result URL out."""

from __future__ import annotations

import time

import httpx
import numpy as np

from enhanceit.bootstrap import Services
from tests.api.conftest import decode, png_bytes
from tests.api.servers import HttpStub, LiveServer, send
from tests.helpers import photo


def test_image_url_in_result_url_out(client: httpx.Client, images: HttpStub) -> None:
    images.routes["/cat.png"] = send(200, png_bytes(), "image/png")
    r = client.post("/v1/enhance", json={"image_url": images.url("/cat.png"), "scale": 2, "noise": 1})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded" and job["progress"] == 1
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    result = job["result"]
    assert (result["width"], result["height"], result["format"]) == (64, 64, "png")
    assert set(job["timings"]) == {"download", "decode", "inference", "encode", "upload"}
    got = client.get(result["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert result["bytes"] == len(got.content)
    assert np.array_equal(decode(got.content), photo("astronaut", 32).repeat(2, 0).repeat(2, 1))
    again = client.get(f"/v1/jobs/{job['id']}")
    assert again.status_code == 200 and again.json()["result"]["width"] == 64


def test_upload_in(client: httpx.Client) -> None:
    r = client.post(
        "/v1/enhance",
        files={"file": ("me.png", png_bytes(), "image/png")},
        data={"model": "waifu2x-upconv7-photo", "scale": "3", "format": "webp"},
    )
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert (result["width"], result["height"], result["format"]) == (96, 96, "webp")
    assert client.get(result["url"]).content[8:12] == b"WEBP"


def test_respond_async_then_poll(client: httpx.Client, images: HttpStub) -> None:
    images.routes["/a.png"] = send(200, png_bytes(), "image/png", delay=0.5)
    r = client.post("/v1/enhance", json={"image_url": images.url("/a.png")}, headers={"Prefer": "respond-async"})
    assert r.status_code == 202
    assert r.json()["status"] in ("queued", "running")
    location = r.headers["location"]
    deadline = time.monotonic() + 20
    while (job := client.get(location).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "succeeded"


def test_wait_preference_shorter_than_the_job_gives_202(client: httpx.Client, images: HttpStub) -> None:
    images.routes["/slow.png"] = send(200, png_bytes(), "image/png", delay=1.5)
    r = client.post("/v1/enhance", json={"image_url": images.url("/slow.png")}, headers={"Prefer": "wait=0"})
    assert r.status_code == 202 and r.headers["retry-after"] == "1"


def test_identical_requests_reuse_the_stored_result(live: tuple[LiveServer, Services], client: httpx.Client) -> None:
    files = {"file": ("x.png", png_bytes(), "image/png")}
    first = client.post("/v1/enhance", files=files).json()
    calls = live[1].engine.loaded()
    second = client.post("/v1/enhance", files={"file": ("y.png", png_bytes(), "image/png")})
    assert second.status_code == 200
    body = second.json()
    assert body["id"] != first["id"] and body["result"]["reused"] is True
    assert body["result"]["bytes"] == first["result"]["bytes"]
    assert live[1].engine.loaded() == calls


def test_idempotency_key(client: httpx.Client, images: HttpStub) -> None:
    images.routes["/i.png"] = send(200, png_bytes(), "image/png")
    body = {"image_url": images.url("/i.png")}
    a = client.post("/v1/enhance", json=body, headers={"Idempotency-Key": "order-42"}).json()
    b = client.post("/v1/enhance", json=body, headers={"Idempotency-Key": "order-42"}).json()
    assert a["id"] == b["id"]
    c = client.post("/v1/enhance", json={**body, "scale": 3}, headers={"Idempotency-Key": "order-42"})
    assert c.status_code == 422 and c.json()["type"].endswith("idempotency-key-reused")
    assert len([r for r in images.received if r["path"] == "/i.png"]) == 1


def test_request_id_is_echoed_and_in_problems(client: httpx.Client) -> None:
    r = client.get("/v1/jobs/job_nope", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 404
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["request_id"] == "abc-123"
    bad = client.get("/healthz", headers={"X-Request-ID": "no spaces allowed!"})
    assert bad.headers["x-request-id"] != "no spaces allowed!" and len(bad.headers["x-request-id"]) == 16


def test_models_health_and_metrics(client: httpx.Client) -> None:
    models = {m["id"]: m for m in client.get("/v1/models").json()}
    assert {"waifu2x-cunet", "realcugan-se", "chainer-upresnet10"} <= set(models)
    assert models["realcugan-se"]["scales"] == [2, 3, 4]
    assert client.get("/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 20
    while (ready := client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.05)
    assert ready.json()["checks"] == {"models": "ok", "storage": "ok", "jobs": "ok", "queue": "ok"}
    done = client.post("/v1/enhance", files={"file": ("m.png", png_bytes(), "image/png")}).json()
    assert done["status"] == "succeeded"
    cunet = next(m for m in client.get("/v1/models").json() if m["id"] == "waifu2x-cunet")
    assert [(n["net"], n["backend"]) for n in cunet["engine"]["loaded"]] == [("2x/noise-1", "fake")]
    text = client.get("/metrics").text
    assert 'enhanceit_http_requests_total{method="POST",route="/v1/enhance",status="200"}' in text
    assert 'enhanceit_job_phase_seconds_count{phase="inference"}' in text
    assert "enhanceit_megapixels_processed_total" in text and "enhanceit_jobs_queued" in text


def test_openapi_describes_both_request_bodies(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/v1/enhance"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    assert client.get("/docs").status_code == 200


def test_noise_is_auto_by_default_and_the_result_says_what_ran(client: httpx.Client) -> None:
    """A JPEG saved at quality 50 gets CUnet's level 2 (the default model's); a PNG gets none."""
    from tests.helpers import to_vips

    jpeg = bytes(to_vips(photo("astronaut", 32)).jpegsave_buffer(Q=50))
    r = client.post("/v1/enhance", files={"file": ("a.jpg", jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["options"]["noise"] == "auto"
    assert (job["result"]["model"], job["result"]["noise"]) == ("waifu2x-cunet", 2)
    r = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"model": "photo"})
    assert (r.json()["result"]["model"], r.json()["result"]["noise"]) == ("waifu2x-upconv7-photo", -1)
