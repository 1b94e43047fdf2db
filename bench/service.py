"""Service benchmarks: start-up time, API overhead over the engine, and a burst of concurrent requests.

* ``enhanceit serve`` until ``/readyz`` answers 200 (target <= 2 s).
* A 512x512 2x request through the API (upload, wait, result stored) against the engine alone doing the
  same work in a warm process (target: at most 10% more). Each request uses a slightly different image so
  that no result is reused.
* 50 requests at concurrency 8 on the embedded defaults: every one answered 200, 202 or 429, every
  accepted job finished, and the server's peak RSS.
* From ``enhanceit serve`` to its first finished 256x256 CUnet 2x result (target <= 1.5 s).
* Models rotating: seven waifu2x model/noise combinations on 256x256 photos, twice over, and the server's
  peak RSS against the memory budget (400 MB by default), with what ``/metrics`` says is loaded.
* Every model in turn, once each: the server's peak RSS after each (Real-ESRGAN x4plus and RealSR need
  more than the default budget at their smallest tile, and say so in the log).
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import skimage.data

from enhanceit.config import LimitSettings
from enhanceit.engine.runtime import Engine
from enhanceit.imaging.vips import pyvips
from enhanceit.models.registry import REGISTRY
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _png(pixels: np.ndarray) -> bytes:
    h, w, c = pixels.shape
    return bytes(pyvips.Image.new_from_memory(pixels.tobytes(), w, h, c, "uchar").pngsave_buffer(compression=1))


def _variant(base: np.ndarray, i: int) -> np.ndarray:
    out = base.copy()
    out[0, 0, 0] = (int(out[0, 0, 0]) + i + 1) % 256  # a different input: no reused result
    return out


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, data: Path, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {**os.environ, "ENHANCEIT_DATA_DIR": str(data), "ENHANCEIT_LOG_LEVEL": "WARNING", **env}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enhanceit.cli", "serve", "--port", str(self.port)],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        raise RuntimeError("the service did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def startup(work: Path) -> None:
    times = []
    for i in range(3):
        server = Server(work / f"start{i}")
        try:
            times.append(server.wait_ready())
        finally:
            server.stop()
    print(
        f"  enhanceit serve -> /readyz 200: {statistics.median(times):.2f} s (median of 3; "
        f"{', '.join(f'{t:.2f}' for t in times)}) (target <= 2 s)"
    )


def overhead(work: Path, runs: int = 3) -> None:
    base = skimage.data.astronaut()
    engine = Engine()
    options = EnhanceOptions(model="waifu2x-cunet", scale=2)
    engine_times = []
    for i in range(runs + 1):
        src = work / f"e{i}.png"
        src.write_bytes(_png(_variant(base, 100 + i)))
        started = time.perf_counter()
        enhance_file(src, work / "e-out.png", options, engine, LimitSettings())
        if i:  # the first run loads the model
            engine_times.append(time.perf_counter() - started)
    server = Server(work / "overhead")
    api_times = []
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for i in range(runs + 1):
                body = _png(_variant(base, i))
                started = time.perf_counter()
                r = client.post(
                    "/v1/enhance",
                    files={"file": ("a.png", body, "image/png")},
                    data={"model": "waifu2x-cunet", "scale": "2"},
                )
                elapsed = time.perf_counter() - started
                assert r.status_code == 200, r.text
                if i:
                    api_times.append(elapsed)
    finally:
        server.stop()
    e, a = statistics.median(engine_times), statistics.median(api_times)
    print(
        f"  512x512 cunet 2x: engine alone {e:.2f} s, through the API {a:.2f} s (median of {runs}): "
        f"{100 * (a / e - 1):+.1f}% (target <= 10%)"
    )


def burst(work: Path, total: int = 50, concurrency: int = 8) -> None:
    base = skimage.data.astronaut()[:128, :128]
    server = Server(work / "burst")
    statuses: list[int] = []
    accepted: list[str] = []
    try:
        server.wait_ready()
        started = time.perf_counter()

        def one(i: int) -> tuple[int, str | None]:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                r = client.post(
                    "/v1/enhance",
                    files={"file": ("a.png", _png(_variant(base, i)), "image/png")},
                    data={"model": "waifu2x-cunet"},
                )
                job = r.json().get("id") if r.status_code in (200, 202) else (r.json().get("job") or {}).get("id")
                return r.status_code, job

        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            for status, job in pool.map(one, range(total)):
                statuses.append(status)
                if job and status in (200, 202):
                    accepted.append(job)
        finished = {}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 300
            while len(finished) < len(accepted) and time.monotonic() < deadline:
                for job_id in accepted:
                    if job_id not in finished:
                        status = client.get(f"/v1/jobs/{job_id}").json()["status"]
                        if status in ("succeeded", "failed", "canceled"):
                            finished[job_id] = status
                time.sleep(0.2)
        elapsed = time.perf_counter() - started
        peak = _peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    lost = len(accepted) - sum(1 for s in finished.values() if s == "succeeded")
    print(
        f"  {total} requests (128x128 cunet 2x) at concurrency {concurrency}: answers {counts}; "
        f"{len(accepted)} jobs accepted, {lost} lost or failed; {elapsed:.1f} s; server peak RSS {peak:.0f} MB"
    )


def first_result(work: Path) -> None:
    body = _png(np.ascontiguousarray(skimage.data.astronaut()[:256, :256]))
    times = []
    for i in range(3):
        server = Server(work / f"first{i}")
        try:
            deadline = time.monotonic() + 60
            while True:  # as soon as it listens: the request waits for the model if it must
                try:
                    httpx.get(f"{server.url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            r = httpx.post(
                f"{server.url}/v1/enhance",
                files={"file": ("a.png", body, "image/png")},
                headers={"Prefer": "wait=60"},
                timeout=120,
            )
            assert r.status_code == 200, r.text
            times.append(time.perf_counter() - server.started)
        finally:
            server.stop()
    print(
        f"  enhanceit serve -> first 256x256 cunet 2x result: {statistics.median(times):.2f} s (median of 3; "
        f"{', '.join(f'{t:.2f}' for t in times)}) (target <= 1.5 s)"
    )


ROTATION = [("waifu2x-cunet", n) for n in (-1, 0, 1, 2, 3)] + [
    ("waifu2x-upconv7-photo", 1),
    ("waifu2x-upconv7-anime", 2),
]


def rotation(work: Path) -> None:
    body = _png(np.ascontiguousarray(skimage.data.astronaut()[:256, :256]))
    server = Server(work / "rotation")
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=300) as client:
            for _ in range(2):
                for model, noise in ROTATION:
                    r = client.post(
                        "/v1/enhance",
                        files={"file": ("a.png", body, "image/png")},
                        data={"model": model, "noise": str(noise)},
                        headers={"Prefer": "wait=300"},
                    )
                    assert r.status_code == 200, r.text
            page = client.get("/metrics").text
        peak = _peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    figures = {
        line.split()[0]: float(line.split()[1])
        for line in page.splitlines()
        if line.startswith(("enhanceit_engine_networks", "process_resident_memory_bytes"))
    }
    print(
        f"  {len(ROTATION)} model/noise combinations, 256x256, twice: server peak RSS {peak:.0f} MB (budget 400 MB); "
        f"then {figures.get('enhanceit_engine_networks_loaded', float('nan')):.0f} networks loaded, "
        f"{figures.get('enhanceit_engine_networks_bytes', float('nan')) / 2**20:.0f} MB counted for them, "
        f"{figures.get('process_resident_memory_bytes', float('nan')) / 2**20:.0f} MB resident"
    )


def every_model(work: Path) -> None:
    """Every model the server may run, once each at its smallest scale, on a 160x160 photo (at least two
    default tiles wide, so that tiles run side by side): the server's peak RSS after each."""
    base = np.ascontiguousarray(skimage.data.astronaut()[100:260, 100:260])
    server = Server(work / "every")
    peaks: list[tuple[str, float]] = []
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=600) as client:
            for i, spec in enumerate(s for s in REGISTRY if not s.restricted):
                net = min(spec.nets, key=lambda n: (n.scale, n.noise))
                r = client.post(
                    "/v1/enhance",
                    files={"file": ("a.png", _png(_variant(base, i)), "image/png")},
                    data={"model": spec.id, "scale": str(net.scale), "noise": str(net.noise)},
                    headers={"Prefer": "wait=600"},
                )
                assert r.status_code == 200, r.text
                peaks.append((spec.id, _peak_rss_mb(server.proc.pid)))
            resident = next(
                float(line.split()[1]) / 2**20
                for line in client.get("/metrics").text.splitlines()
                if line.startswith("process_resident_memory_bytes")
            )
    finally:
        server.stop()
    print(f"  every model in turn ({len(peaks)}, 160x160, smallest scale): server peak RSS after each, MB")
    print("    " + ", ".join(f"{model} {peak:.0f}" for model, peak in peaks))
    print(f"  peak {peaks[-1][1]:.0f} MB (budget 400 MB); {resident:.0f} MB resident after the last job")


def main(work: Path) -> None:
    print("\n## The service (embedded defaults)")
    startup(work)
    first_result(work)
    overhead(work)
    burst(work)
    rotation(work)
    every_model(work)
