"""The container: its size, and a cold start from ``podman run`` to the first finished 256x256 job.

That cold start is what a scale-from-zero platform (Cloud Run, Knative) makes the first user after an idle
spell wait for: the container is created, Python starts, the default model loads, the job runs. Measured
with the image ``make image`` built, run as the container tests run it (non-root, read-only root, no
capabilities, ``--network none``; the request goes in through a Unix socket, see tests/container/bridge.py),
the image already on the machine (a pulled image; pulling depends on the registry and is not counted).
Each run is a new container on a new, empty /data; target <= 3 s.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import skimage.data
from tests.api.conftest import png_bytes
from tests.container.podman import IMAGE, IMAGE_GPU, Bridge, Container, kubernetes_flags, podman, wait_ready


def _size_mb(tag: str) -> float | None:
    result = podman("image", "inspect", "--format", "{{.Size}}", tag, check=False)
    return int(result.stdout) / 1e6 if result.returncode == 0 else None


def cold_start(work: Path, runs: int = 3) -> None:
    pixels = np.ascontiguousarray(skimage.data.astronaut()[:256, :256])
    created, ready, first = [], [], []
    for i in range(runs):
        body = png_bytes(pixels)
        started = time.perf_counter()
        container = Container(IMAGE, kubernetes_flags(work / f"data{i}"))
        created.append(time.perf_counter() - started)
        bridge = Bridge(container, 8000, work)
        try:
            with bridge.client() as client:
                wait_ready(client, container)
                ready.append(time.perf_counter() - started)
                r = client.post("/v1/enhance", files={"file": ("a.png", body, "image/png")})
                first.append(time.perf_counter() - started)
                assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
                model = r.json()["result"]["model"]
        finally:
            bridge.close()
            container.remove()

    def show(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})"

    print(f"  podman run returned (container created and started): {show(created)}")
    print(f"  podman run -> /readyz 200: {show(ready)}")
    print(f"  podman run -> first 256x256 result ({model}, 2x, synchronous): {show(first)} (target <= 3 s)")


def main(work: Path) -> None:
    print("\n## The container image")
    try:
        sizes = {tag: _size_mb(tag) for tag in (IMAGE, IMAGE_GPU)}
    except RuntimeError as error:  # no podman, or not root
        print(f"  skipped: {error}")
        return
    if sizes[IMAGE] is None:
        print(f"  no image {IMAGE}: run 'make image' first")
        return
    print("  " + "; ".join(f"{tag} {size:.0f} MB" for tag, size in sizes.items() if size is not None))
    cold_start(work)
