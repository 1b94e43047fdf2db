"""The GPU image (deploy/Dockerfile.gpu), built by ``make image-gpu`` through the same route as the CPU image.

This machine has no GPU, so the image is checked for what a GPU run needs (the Vulkan loader loads, NVIDIA's
driver manifest is in place, the engine is told to use GPU 0) and for the CPU image's run-time contract; the
inference on a GPU is skipped, with the reason, wherever no NVIDIA device and container toolkit are present.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.container.podman import IMAGE_GPU, UID, kubernetes_flags, podman, require_image
from tests.helpers import load, photo, save

PROBE = """
import ctypes, json, os
ctypes.CDLL("libvulkan.so.1")  # the loader ncnn opens
import ncnn, pyvips
print(json.dumps({
    "uid": os.getuid(),
    "gpu": os.environ.get("ENHANCEIT_ENGINE_GPU"),
    "capabilities": os.environ.get("NVIDIA_DRIVER_CAPABILITIES"),
    "icd": json.load(open("/etc/vulkan/icd.d/nvidia_icd.json")),
    "models": len(os.listdir("/opt/enhanceit/share/enhanceit/models")),
}))
"""


def test_the_gpu_image_carries_the_vulkan_loader_and_runs_as_the_cpu_image_does(tmp_path: Path) -> None:
    require_image(IMAGE_GPU)
    result = podman("run", "--rm", *kubernetes_flags(tmp_path / "data"), IMAGE_GPU, "python", "-c", PROBE)
    found = json.loads(result.stdout)
    assert found["uid"] == UID
    assert found["gpu"] == "0"
    assert "graphics" in found["capabilities"].split(",")
    assert found["icd"]["ICD"]["library_path"] == "libGLX_nvidia.so.0"
    assert found["models"] > 0, "the weights are baked in"


def test_the_gpu_image_enhances_on_a_gpu(tmp_path: Path) -> None:
    if not os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-ctk") is None:
        pytest.skip(
            "no NVIDIA GPU with the NVIDIA container toolkit on this machine: the GPU image is built and checked "
            "above, but it cannot run inference here"
        )
    require_image(IMAGE_GPU)
    data = tmp_path / "data"
    flags = kubernetes_flags(data)
    save(photo("astronaut", 64), data / "in.png")
    # Untested here: with a GPU, the toolkit's CDI spec hands the device and driver to the container.
    podman(
        "run",
        "--rm",
        "--device",
        "nvidia.com/gpu=all",
        *flags,
        IMAGE_GPU,
        "enhanceit",
        "upscale",
        "/data/in.png",
        "-o",
        "/data/out.png",
    )
    assert load(data / "out.png").shape == (128, 128, 3)
