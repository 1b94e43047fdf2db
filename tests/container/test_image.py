"""The CPU image, run the way Kubernetes runs it: serve, enhance, work a Redis queue, stop on SIGTERM.

The image is built before the tests (``make image``, layer-cached); these tests only run containers, each
with ``--network none``. ``--network none`` and a published port cannot go together, so the tests do not
publish ports: they reach the container's port 8000 through a Unix socket that a forwarder inside the
container's network namespace listens on (:mod:`tests.container.bridge`), and the workers reach the host's
Redis through its Unix socket mounted into the container. The containers therefore have loopback and no
other interface (checked below), so they cannot send a packet anywhere, and the model weights they use can
only come from the image.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.choice import resolve
from enhanceit.engine.runtime import Engine, EngineConfig
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file
from tests.api.conftest import decode, png_bytes
from tests.container.podman import IMAGE, UID, Bridge, Container, kubernetes_flags, podman, require_image, wait_ready
from tests.deploy import files
from tests.helpers import photo, save
from tests.jobs.redis_server import RedisProcess

CHAINER_MODEL = "chainer-upconv7"  # converted from waifu2x-chainer's own .npz at build time


def _grace(kind: str, name: str) -> int:
    """terminationGracePeriodSeconds of a Deployment in deploy/k8s: what the kubelet waits before SIGKILL."""
    return int(files.k8s_object(kind, name)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("container")


@pytest.fixture(scope="module")
def served(folder: Path) -> Iterator[tuple[Container, httpx.Client]]:
    """``enhanceit serve`` (the image's default command) on the embedded defaults."""
    require_image(IMAGE)
    container = Container(IMAGE, kubernetes_flags(folder / "serve-data"))
    bridge = None
    try:
        bridge = Bridge(container, 8000, folder)
        with bridge.client() as client:
            wait_ready(client, container)
            yield container, client
    finally:
        if bridge is not None:
            bridge.close()
        container.remove()


def test_it_runs_as_kubernetes_runs_it(served: tuple[Container, httpx.Client]) -> None:
    container, _ = served
    status = container.exec("cat", "/proc/1/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Uid"].split()[:2] == [str(UID), str(UID)], "the service runs as the image's non-root user"
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0, "no capabilities at all"
    assert container.exec("touch", "/opt/enhanceit/x").returncode != 0, "the root filesystem is read-only"
    assert container.exec("touch", "/data/x", "/tmp/x").returncode == 0, "/data and /tmp are writable"
    interfaces = [line.split(":")[0].strip() for line in container.exec("cat", "/proc/net/dev").stdout.splitlines()[2:]]
    assert interfaces == ["lo"], "no network but loopback"


def test_the_image_keeps_its_healthcheck() -> None:
    """buildah drops HEALTHCHECK from OCI-format images; deploy/podman/build.sh builds the docker format."""
    require_image(IMAGE)
    check = json.loads(podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", IMAGE).stdout)
    assert check is not None and "http://127.0.0.1:8000/healthz" in check["Test"][-1], check


def test_it_enhances_an_upload_with_a_baked_in_chainer_model(
    served: tuple[Container, httpx.Client], tmp_path: Path
) -> None:
    _, client = served
    # The image runs what the host would on this CPU (OpenVINO bf16 where it has bf16), and OpenVINO works in it
    runs_on = next(m for m in client.get("/v1/models").json() if m["id"] == CHAINER_MODEL)["engine"]
    here = resolve("auto", "auto", None)
    assert (runs_on["backend"], runs_on["precision"]) == (here.backend or "measured at first load", here.precision)
    pixels = photo("astronaut", 96)
    r = client.post(
        "/v1/enhance",
        files={"file": ("astronaut.png", png_bytes(pixels), "image/png")},
        data={"model": CHAINER_MODEL, "scale": "2", "noise": "-1", "format": "png"},
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job
    assert (job["result"]["width"], job["result"]["height"]) == (192, 192)
    got = client.get(job["result"]["url"])
    assert got.status_code == 200
    # The same model on the host, on the same backend and precision, gives the same pixels: the image carries
    # the right weights, converted right.
    loaded = next(m for m in client.get("/v1/models").json() if m["id"] == CHAINER_MODEL)["engine"]["loaded"]
    backend, precision = loaded[0]["backend"], loaded[0]["precision"]
    engine = Engine(EngineConfig(threads=2, backend=backend, precision=precision))
    expected = tmp_path / "expected.png"
    options = EnhanceOptions(model=CHAINER_MODEL, scale=2, noise=-1, format="png")
    enhance_file(save(pixels, tmp_path / "in.png"), expected, options, engine, LimitSettings())
    diff = np.abs(decode(got.content).astype(int) - decode(expected.read_bytes()).astype(int))
    assert diff.max() <= 1, diff.max()


# -- the distributed shape: API and worker containers, Redis on the host ---------------------------------


class Cluster:
    """Redis on the host (a Unix socket), an API container and a worker container sharing one /data."""

    def __init__(self, folder: Path) -> None:
        sockets = folder / "redis"
        sockets.mkdir()
        sockets.chmod(0o755)
        self.redis = RedisProcess(sockets, unix_socket=sockets / "redis.sock").start()
        self.data = folder / "data"
        self.env = {
            "ENHANCEIT_QUEUE_URL": "unix:///run/redis/redis.sock",
            "ENHANCEIT_ENGINE_THREADS": "1",
            "ENHANCEIT_QUEUE_HEARTBEAT_TIMEOUT_MS": "2000",
        }
        self.flags = [*kubernetes_flags(self.data), "--volume", f"{sockets}:/run/redis:ro"]
        self.containers: list[Container] = []
        self.bridge: Bridge | None = None
        self.client: httpx.Client | None = None

    def start(self, folder: Path) -> httpx.Client:
        api = self.run(())
        self.bridge = Bridge(api, 8000, folder)
        self.client = self.bridge.client()
        wait_ready(self.client, api)
        return self.client

    def run(self, command: tuple[str, ...]) -> Container:
        container = Container(IMAGE, self.flags, command, env=self.env)
        self.containers.append(container)
        return container

    def results(self) -> list[Path]:
        return [p for p in (self.data / "results").rglob("*.png") if "uploads" not in p.parts]

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.bridge is not None:
            self.bridge.close()
        for container in self.containers:
            container.remove()
        self.redis.stop()


@pytest.fixture
def cluster(folder: Path) -> Iterator[Cluster]:
    require_image(IMAGE)
    work = folder / "cluster"
    work.mkdir()
    cluster = Cluster(work)
    try:
        yield cluster
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)


def _wait(client: httpx.Client, job_id: str, statuses: set[str], worker: Container, seconds: float = 180) -> Any:
    deadline = time.monotonic() + seconds
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in statuses:
        assert time.monotonic() < deadline, f"{job}\nworker log:\n{worker.logs()}"
        time.sleep(0.1)
    return job


@pytest.mark.timeout(900)  # podman stop waits up to the 600 s grace before it kills: fail by assertion, not timeout
def test_a_worker_from_the_image_finishes_jobs_and_stops_cleanly_on_sigterm(cluster: Cluster, folder: Path) -> None:
    client = cluster.start(folder)
    worker = cluster.run(("enhanceit", "worker"))
    # One job through Redis to the worker and back.
    r = client.post(
        "/v1/enhance",
        files={"file": ("a.png", png_bytes(), "image/png")},
        data={"scale": "2"},
        headers={"Prefer": "respond-async"},
    )
    assert r.status_code == 202, r.text
    first = _wait(client, r.json()["id"], {"succeeded", "failed"}, worker)
    assert first["status"] == "succeeded", first
    assert client.get(first["result"]["url"]).status_code == 200

    # A job of several seconds (CUnet 4x in 16-pixel tiles), stopped mid-way as the kubelet stops a pod.
    files_ = {"file": ("big.png", png_bytes(photo("astronaut")[:192, :192]), "image/png")}
    r = client.post("/v1/enhance", files=files_, data={"scale": "4", "tile": "16"}, headers={"Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    _wait_for_progress(client, job_id, worker)
    exit_code = worker.stop(grace=_grace("Deployment", "enhanceit-worker"))
    assert exit_code == 0, f"not a clean exit before the grace period ran out (137 = killed):\n{worker.logs()}"
    second = client.get(f"/v1/jobs/{job_id}").json()
    assert second["status"] == "succeeded", second  # the running job was finished, not dropped
    assert second["result"]["width"] == 768
    results = cluster.results()
    assert len(results) == 2, results  # each published once, and nothing else
    assert not [p for p in cluster.data.rglob("*") if p.name.endswith(".tmp")], "no half-written object"
    assert decode(next(p for p in results if p.stat().st_size == second["result"]["bytes"]).read_bytes()).shape == (
        768,
        768,
        3,
    )


def test_serve_stops_cleanly_on_sigterm_mid_job_and_the_job_resumes(folder: Path) -> None:
    """The serverless shape: a container stopped mid-job (scale-down) exits within the API's grace period and
    publishes nothing half-written; the job ends succeeded, finished either by the stopping container while it
    shuts down (it waits up to 10 s for a running job) or by the next container on the same /data."""
    require_image(IMAGE)
    data = folder / "serve-sigterm"
    slow = {"file": ("big.png", png_bytes(photo("astronaut")[:128, :128]), "image/png")}  # CUnet 4x: seconds
    container = Container(IMAGE, kubernetes_flags(data))
    bridge = Bridge(container, 8000, folder)
    try:
        with bridge.client() as client:
            wait_ready(client, container)
            r = client.post(
                "/v1/enhance", files=slow, data={"scale": "4", "tile": "16"}, headers={"Prefer": "respond-async"}
            )
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            _wait_for_progress(client, job_id, container)
        exit_code = container.stop(grace=_grace("Deployment", "enhanceit-api"))
        assert exit_code == 0, f"not a clean exit before the grace period ran out (137 = killed):\n{container.logs()}"
    finally:
        bridge.close()
        container.remove()
    assert not [p for p in data.rglob("*") if p.name.endswith(".tmp")], "no half-written object"
    assert not list((data / "results").rglob("*.png")) or _all_decode(data), "a result is either whole or absent"

    again = Container(IMAGE, kubernetes_flags(data))
    bridge = Bridge(again, 8000, folder)
    try:
        with bridge.client() as client:
            wait_ready(client, again)
            job = _wait(client, job_id, {"succeeded", "failed", "canceled"}, again)
    finally:
        bridge.close()
        again.remove()
    assert job["status"] == "succeeded", job
    assert (job["result"]["width"], job["result"]["height"]) == (512, 512)
    assert len(list((data / "results").rglob("*.png"))) == 1


def _wait_for_progress(client: httpx.Client, job_id: str, container: Container) -> None:
    deadline = time.monotonic() + 120
    while client.get(f"/v1/jobs/{job_id}").json()["progress"] == 0:
        assert time.monotonic() < deadline, container.logs()
        time.sleep(0.05)


def _all_decode(data: Path) -> bool:
    for path in (data / "results").rglob("*.png"):
        decode(path.read_bytes())
    return True
