"""Throughput and latency of the queue-and-workers shape against the embedded one, on this machine.

For each setup, N distinct 256x256 images are sent at concurrency 8 (each request waits for its result);
we print jobs per second and p50/p95 request latency. Setups: the embedded service (one job at a time,
every core); one worker process (every core); two worker processes (one core each). Needs redis-server.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import skimage.data

from bench.service import Server, _png, _variant


def _redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    from tests.jobs.redis_server import free_port

    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return proc, f"redis://127.0.0.1:{port}/0"


def _load(url: str, jobs: int, concurrency: int) -> tuple[float, list[float], int]:
    base = skimage.data.astronaut()[128:384, 128:384]
    bodies = [_png(_variant(base, 1000 + i)) for i in range(jobs)]

    def one(i: int) -> tuple[float, int]:
        started = time.perf_counter()
        with httpx.Client(base_url=url, timeout=600) as c:
            r = c.post(
                "/v1/enhance",
                files={"file": ("a.png", bodies[i], "image/png")},
                data={"model": "waifu2x-cunet"},
                headers={"Prefer": "wait=600"},
            )
        return time.perf_counter() - started, r.status_code

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(jobs)))
    elapsed = time.perf_counter() - started
    ok = sum(1 for _, code in results if code == 200)
    return elapsed, sorted(t for t, _ in results), ok


def _report(label: str, elapsed: float, latencies: list[float], ok: int, jobs: int) -> float:
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    rate = ok / elapsed
    print(
        f"  {label:<44} {rate:6.2f} jobs/s  p50 {statistics.median(latencies):6.2f} s  p95 {p95:6.2f} s  "
        f"({ok}/{jobs} ok)"
    )
    return rate


def main(work: Path, jobs: int = 24, concurrency: int = 8) -> None:
    print(f"\n## Queue and workers against embedded ({jobs} CUnet 2x jobs of 256x256, concurrency {concurrency})")
    if shutil.which("redis-server") is None:
        print("  (skipped: redis-server is not installed)")
        return
    rates = {}
    server = Server(work / "embedded", ENHANCEIT_JOBS_MAX_QUEUE="100")
    try:
        server.wait_ready()
        rates["embedded"] = _report(
            "embedded (1 job at a time, 2 threads)", *_load(server.url, jobs, concurrency), jobs
        )
    finally:
        server.stop()
    for processes, threads in ((1, 2), (2, 1)):
        with tempfile.TemporaryDirectory(dir=work) as folder:
            redis_proc, url = _redis(Path(folder))
            env = {"ENHANCEIT_QUEUE_URL": url, "ENHANCEIT_ENGINE_THREADS": str(threads)}
            api = Server(Path(folder) / "data", **env)
            worker_env = {
                **os.environ,
                **env,
                "ENHANCEIT_DATA_DIR": str(Path(folder) / "data"),
                "ENHANCEIT_LOG_LEVEL": "WARNING",
                "ENHANCEIT_QUEUE_WORKER_PROCESSES": str(processes),
            }
            worker = subprocess.Popen(
                [sys.executable, "-m", "enhanceit.cli", "worker"],
                env=worker_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                api.wait_ready()
                time.sleep(2)  # workers load their models
                label = f"{processes} worker process(es) x {threads} thread(s)"
                rates[label] = _report(label, *_load(api.url, jobs, concurrency), jobs)
            finally:
                worker.terminate()
                worker.wait(60)
                api.stop()
                redis_proc.terminate()
                redis_proc.wait(10)
    best = max(rates.values())
    print(f"  model: throughput = machines x {best:.2f} jobs/s while Redis and storage keep up (each job is a few")
    print("  small Redis commands and one object write; the API replicas only wait). Latency at low load is one")
    print("  job's time; past saturation it grows with queue depth / total throughput.")
