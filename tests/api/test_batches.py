"""Batches through the real service: URLs and files in, one webhook out, the results as one streamed zip."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from enhanceit.bootstrap import Services
from enhanceit.engine.fake import fake_engine
from enhanceit.jobs import webhooks
from tests.api.conftest import decode, make_settings, png_bytes, start
from tests.api.servers import HttpStub, send

SECRET = "s3cret-for-batches"


def noise(seed: int, side: int = 32) -> np.ndarray[Any, Any]:
    """An image of its own per seed (so no item reuses another's result), incompressible when large."""
    return np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)


def wait_ended(c: httpx.Client, batch_id: str, seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while (batch := c.get(f"/v1/batches/{batch_id}").json())["status"] == "running":
        assert time.monotonic() < deadline, batch
        time.sleep(0.05)
    return batch  # type: ignore[no-any-return]


def records(services: Services) -> tuple[int, int]:
    """(jobs, batches) in the job database, read as another process would."""
    with sqlite3.connect(services.settings.data_dir / "jobs.sqlite3") as db:
        jobs = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
        batches = db.execute("SELECT count(*) FROM batches").fetchone()[0]
    return jobs, batches


def test_a_batch_of_urls_ends_once_with_its_results_zipped_and_its_failures_listed(
    tmp_path: Path, images: HttpStub
) -> None:
    """20 URLs, two of them failing (404, and a page that is no image): 18 results in the archive, the two
    failures in its manifest, and one signed webhook, though two runners finish items at the same time."""
    settings = make_settings(tmp_path, webhook_secret=SECRET, jobs={"max_queue": 32, "max_concurrent": 2})
    receiver = HttpStub().start()
    receiver.routes["/hook"] = send(204)
    urls = []
    for i in range(20):
        if i == 7:
            urls.append(images.url("/missing.png"))  # no route: 404
        elif i == 13:
            images.routes["/page"] = send(200, b"<html>not an image</html>", "text/html")
            urls.append(images.url("/page"))
        else:
            images.routes[f"/{i}.png"] = send(200, png_bytes(noise(i)), "image/png")
            urls.append(images.url(f"/{i}.png"))
    server, services = start(settings)
    try:
        with server, httpx.Client(base_url=server.url, timeout=30) as c:
            body = {
                "items": [{"image_url": u} for u in urls[:-1]] + [{"image_url": urls[-1], "scale": 4}],
                "options": {"scale": 2},
                "webhook_url": receiver.url("/hook"),
            }
            r = c.post("/v1/batches", json=body)
            assert r.status_code == 202, r.text
            created = r.json()
            assert created["id"].startswith("bat_") and r.headers["location"] == f"/v1/batches/{created['id']}"
            assert created["counts"]["total"] == 20 and len(created["items"]) == 20

            batch = wait_ended(c, created["id"])
            assert batch["status"] == "completed_with_failures"
            assert batch["counts"] == {
                "total": 20,
                "queued": 0,
                "running": 0,
                "succeeded": 18,
                "failed": 2,
                "canceled": 0,
            }
            failed = {item["index"]: item for item in batch["items"] if item["status"] == "failed"}
            assert set(failed) == {7, 13}
            assert failed[7]["error"]["type"] == "upstream-error" and failed[13]["result"] is None
            assert [item["index"] for item in batch["items"]] == list(range(20))
            assert batch["items"][0]["result"]["width"] == 64 and batch["items"][19]["result"]["width"] == 128
            job = c.get(f"/v1/jobs/{batch['items'][0]['id']}").json()  # each item is an ordinary job
            assert job["batch_id"] == created["id"] and job["status"] == "succeeded"

            r = c.get(f"/v1/batches/{created['id']}/archive")
            assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
            archive = zipfile.ZipFile(io.BytesIO(r.content))
            assert archive.testzip() is None
            names = archive.namelist()
            assert names[-1] == "manifest.json" and len(names) == 19
            for item in batch["items"]:
                if item["status"] != "succeeded":
                    continue
                name = f"{item['index']:03d}-{item['id']}.png"
                assert name in names
                assert archive.read(name) == c.get(item["result"]["url"]).content  # the stored result itself
            manifest = json.loads(archive.read("manifest.json"))
            assert manifest["included"] == 18
            assert [(m["index"], m["job_id"], m["status"]) for m in manifest["missing"]] == [
                (i, failed[i]["id"], "failed") for i in (7, 13)
            ]
            assert manifest["missing"][1]["error"]["type"] == "unsupported-format"

            deadline = time.monotonic() + 10
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(1.0)  # room for a second webhook, which must not come
        assert len(receiver.received) == 1
        call = receiver.received[0]
        assert webhooks.verify(SECRET.encode(), call["headers"], call["body"])
        payload = json.loads(call["body"])
        assert payload["type"] == "batch.completed_with_failures"
        assert payload["batch"]["id"] == created["id"] and payload["batch"]["counts"]["succeeded"] == 18
        assert call["headers"]["webhook-id"] == f"{created['id']}.completed_with_failures"
        assert not services.store.require_batch(created["id"]).webhook_pending  # delivered: no round to resend
    finally:
        receiver.stop()


def test_a_multipart_batch_takes_files_with_shared_and_own_options(tmp_path: Path) -> None:
    server, services = start(make_settings(tmp_path))
    files = [("file", (f"{i}.png", png_bytes(noise(100 + i)), "image/png")) for i in range(3)]
    own = [{"scale": 4}, {}, {"format": "jpg", "quality": 80}]
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/batches", files=files, data={"scale": "2", "items": json.dumps(own)})
        assert r.status_code == 202, r.text
        batch = wait_ended(c, r.json()["id"])
        assert batch["status"] == "succeeded" and batch["counts"]["succeeded"] == 3
        results = [item["result"] for item in batch["items"]]
        assert [(res["width"], res["format"]) for res in results] == [(128, "png"), (64, "png"), (64, "jpeg")]
        first = decode(c.get(results[1]["url"]).content)
        assert first.shape == (64, 64, 3)
        names = zipfile.ZipFile(io.BytesIO(c.get(f"/v1/batches/{batch['id']}/archive").content)).namelist()
        assert [n.split("-")[0] for n in names[:3]] == ["000", "001", "002"] and names[2].endswith(".jpg")
    assert all(services.store.require(item["id"]).source.upload_key for item in batch["items"])


def test_a_refused_batch_creates_nothing(tmp_path: Path, images: HttpStub) -> None:
    """Too many items, or one item refused (its index named): 400 before any job exists."""
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    server, services = start(make_settings(tmp_path, batches={"max_items": 3}))
    good = {"image_url": images.url("/a.png")}
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/batches", json={"items": [good] * 4})
        assert r.status_code == 400 and "at most 3 items" in r.json()["detail"]
        files = [("file", (f"{i}.png", png_bytes(), "image/png")) for i in range(4)]
        r = c.post("/v1/batches", files=files)
        assert r.status_code == 400 and "at most 3 items" in r.json()["detail"]

        r = c.post("/v1/batches", json={"items": [good, good, {**good, "scale": -1}]})
        assert r.status_code == 400 and r.json()["item"] == 2
        assert r.json()["errors"][0]["field"] == "items.2.scale"
        r = c.post("/v1/batches", json={"items": [good, {"image_url": "ftp://example.com/a.png"}]})
        # the item's own error, as POST /v1/enhance answers it (403: the URL policy), with its index
        assert r.status_code == 403 and r.json()["item"] == 1 and r.json()["detail"].startswith("item 1: ")
        r = c.post("/v1/batches", json={"items": [good], "options": {"model": "no-such-model"}})
        assert r.status_code == 400 and r.json()["type"].endswith("/unknown-model")
        r = c.post("/v1/batches", json={"items": [good], "options": {"scale": "x"}})
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "options.scale"
        files = [("file", ("a.png", png_bytes(), "image/png")), ("file", ("b.txt", b"plain text", "text/plain"))]
        r = c.post("/v1/batches", files=files)
        assert r.status_code == 415 and r.json()["item"] == 1
    assert records(services) == (0, 0)


#: Seconds per tile of the job that keeps the one worker busy: 64 tiles of a 128x128 image take 13 s, far
#: longer than any test needs it running; it is canceled at the end, which stops it within a tile.
BUSY_TILE_SECONDS = 0.2


def running_job(c: httpx.Client, item: dict[str, object]) -> dict[str, object]:
    """A job submitted and seen running: the worker is taken, and whatever comes next waits in the queue."""
    busy: dict[str, object] = c.post("/v1/enhance", json=item, headers={"Prefer": "respond-async"}).json()
    deadline = time.monotonic() + 10
    while c.get(f"/v1/jobs/{busy['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return busy


def test_a_batch_that_does_not_fit_the_queue_is_turned_away_whole(tmp_path: Path, images: HttpStub) -> None:
    """Room for the whole batch or none: 429 with Retry-After while the queue is busy, 400 if it never could."""
    images.routes["/a.png"] = send(200, png_bytes(noise(1, 128)), "image/png")
    settings = make_settings(tmp_path, jobs={"max_queue": 2, "max_concurrent": 1})
    server, services = start(settings, engine=fake_engine(delay=BUSY_TILE_SECONDS))
    item = {"image_url": images.url("/a.png"), "tile": 16}
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        busy = running_job(c, item)
        r = c.post("/v1/batches", json={"items": [item] * 3})  # 2 places left while one job runs
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        r = c.post("/v1/batches", json={"items": [item] * 4})  # more than the queue ever holds
        assert r.status_code == 400 and "could never be accepted" in r.json()["detail"]
        assert records(services) == (1, 0)
        c.post(f"/v1/jobs/{busy['id']}/cancel")


def test_canceling_a_batchs_queued_items_ends_it_with_its_webhook(tmp_path: Path, images: HttpStub) -> None:
    """Items canceled while queued end at the cancel, with no runner to see them end: the cancel settles the
    batch."""
    images.routes["/a.png"] = send(200, png_bytes(noise(1, 128)), "image/png")
    settings = make_settings(tmp_path, webhook_secret=SECRET, jobs={"max_queue": 8, "max_concurrent": 1})
    server, _ = start(settings, engine=fake_engine(delay=BUSY_TILE_SECONDS))
    receiver = HttpStub().start()
    receiver.routes["/hook"] = send(204)
    item = {"image_url": images.url("/a.png"), "tile": 16}
    try:
        with server, httpx.Client(base_url=server.url, timeout=30) as c:
            busy = running_job(c, item)
            body = {"items": [item, {**item, "scale": 4}], "webhook_url": receiver.url("/hook")}
            batch = c.post("/v1/batches", json=body).json()
            for entry in batch["items"]:
                assert c.post(f"/v1/jobs/{entry['id']}/cancel").json()["status"] == "canceled"
            deadline = time.monotonic() + 10
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.02)
            assert c.get(f"/v1/jobs/{busy['id']}").json()["status"] == "running"  # no runner ended the batch
            c.post(f"/v1/jobs/{busy['id']}/cancel")
        assert len(receiver.received) == 1
        payload = json.loads(receiver.received[0]["body"])
        assert payload["type"] == "batch.completed_with_failures" and payload["batch"]["counts"]["canceled"] == 2
    finally:
        receiver.stop()


def test_another_keys_batch_is_not_found(tmp_path: Path, images: HttpStub) -> None:
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    server, _ = start(make_settings(tmp_path, api_keys="key-a-0123456789,key-b-0123456789"))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        a = {"Authorization": "Bearer key-a-0123456789"}
        b = {"Authorization": "Bearer key-b-0123456789"}
        assert c.post("/v1/batches", json={"items": [{"image_url": images.url("/a.png")}]}).status_code == 401
        r = c.post("/v1/batches", json={"items": [{"image_url": images.url("/a.png")}]}, headers=a)
        assert r.status_code == 202
        batch_id = r.json()["id"]
        assert c.get(f"/v1/batches/{batch_id}", headers=a).status_code == 200
        for path in (f"/v1/batches/{batch_id}", f"/v1/batches/{batch_id}/archive"):
            r = c.get(path, headers=b)
            assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
        assert c.get("/v1/batches/bat_missing", headers=a).status_code == 404


def vm_rss() -> int:
    """This process's resident memory, in bytes (the service runs in it: see LiveServer)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_an_archive_streams_in_flat_memory(tmp_path: Path, images: HttpStub) -> None:
    """20 results of about 1.6 MB each (noise does not compress), read by a slow client in 16 KiB pieces: the
    service (in this process) grows by far less than the archive, which it would hold whole if it built it.

    The bound, a third of the archive, leaves room for what has nothing to do with the archive (a thread's
    malloc arena, httpx's and uvicorn's buffers: a few MB) while failing for any design that holds even a
    third of the results at once."""
    settings = make_settings(tmp_path, jobs={"max_queue": 32})
    for i in range(20):
        images.routes[f"/{i}.png"] = send(200, png_bytes(noise(i, 512)), "image/png")
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/v1/batches", json={"items": [{"image_url": images.url(f"/{i}.png")} for i in range(20)]})
        assert r.status_code == 202, r.text
        batch = wait_ended(c, r.json()["id"], seconds=240)
        assert batch["status"] == "succeeded", batch
        results = sum(item["result"]["bytes"] for item in batch["items"])
        assert results > 20 * 1_000_000  # large enough for the bound below to mean something

        peak = [0]
        reading = threading.Event()

        def sample() -> None:  # the server's threads allocate too: watch between the client's reads as well
            while not reading.is_set():
                peak[0] = max(peak[0], vm_rss())
                time.sleep(0.005)

        c.get(f"/v1/batches/{batch['id']}")  # the route's code paths warmed up before the baseline
        baseline = vm_rss()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        received = 0
        saved = tmp_path / "archive.zip"  # on disk, checked afterwards: held here it would count as the server's
        with c.stream("GET", f"/v1/batches/{batch['id']}/archive") as response, saved.open("wb") as out:
            assert response.status_code == 200
            for chunk in response.iter_raw(16384):
                received += len(chunk)
                out.write(chunk)
                peak[0] = max(peak[0], vm_rss())
                time.sleep(0.0005)
        reading.set()
        sampler.join()
    with zipfile.ZipFile(saved) as archive:
        assert archive.testzip() is None and len(archive.namelist()) == 21
    growth = peak[0] - baseline
    print(
        f"\narchive {received / 1e6:.1f} MB ({results / 1e6:.1f} MB of results); RSS {baseline / 1e6:.1f} MB, "
        f"peak +{growth / 1e6:.2f} MB"
    )
    assert received > results
    assert growth < received / 3, f"RSS grew {growth / 1e6:.1f} MB while streaming {received / 1e6:.1f} MB"
