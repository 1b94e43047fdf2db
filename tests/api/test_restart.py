"""A restart of the embedded service loses no job: queued and running ones resume from the job store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.api.conftest import png_bytes
from tests.helpers import photo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(data: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "ENHANCEIT_DATA_DIR": str(data), "ENHANCEIT_LOG_FORMAT": "text"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "enhanceit.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the service did not start"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def test_a_job_in_flight_survives_a_killed_server(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    image = png_bytes(photo("astronaut")[:128, :128])  # long enough to kill mid-job, short on a busy machine
    with serve(tmp_path, port) as first:
        r = httpx.post(
            f"{url}/v1/enhance",
            files={"file": ("a.png", image, "image/png")},
            data={"model": "waifu2x-cunet", "scale": "4", "tile": "16"},
            headers={"Prefer": "respond-async"},
            timeout=30,
        )
        job_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v1/jobs/{job_id}").json()["progress"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # no goodbye: the job is 'running' in the store
        first.wait(10)
    with serve(tmp_path, port):
        deadline = time.monotonic() + 200
        while (job := httpx.get(f"{url}/v1/jobs/{job_id}").json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        link = job["result"]["url"]
        result = httpx.get(f"{url}{link}" if link.startswith("/") else link)
        assert result.status_code == 200 and job["result"]["width"] == 512
