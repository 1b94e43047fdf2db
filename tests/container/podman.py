"""Running the built image with podman the way Kubernetes runs it, reachable only through a Unix socket.

The images are built before the tests by ``make image image-gpu`` (``deploy/podman/build.sh``), which also
writes the containers.conf every podman call here uses. Containers get ``--network none``: their network
namespace holds loopback and nothing else, so they cannot send a packet anywhere. The test reaches a
container's port through :mod:`tests.container.bridge`, a forwarder that joins that namespace and listens on a
Unix socket; a Redis on the host is reached the same way, through its Unix socket mounted into the container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: Tags written by ``make image`` and ``make image-gpu`` (the Makefile's IMAGE and IMAGE_GPU).
IMAGE = "localhost/enhanceit:dev"
IMAGE_GPU = "localhost/enhanceit:dev-gpu"
CONTAINERS_CONF = ROOT / "build" / "podman" / "containers.conf"
BRIDGE = Path(__file__).with_name("bridge.py")
UID = 10001  # the image's USER, and runAsUser in deploy/k8s


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("podman")
    if binary is None or not CONTAINERS_CONF.exists():
        raise RuntimeError("podman is not set up: 'make image' installs it and builds the image")
    if os.geteuid() != 0:
        raise RuntimeError("the container tests run podman as root (as 'make image' does)")
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    result = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def require_image(tag: str) -> None:
    if podman("image", "exists", tag, check=False).returncode != 0:
        raise RuntimeError(f"no image {tag}: build it with 'make image' (make test does)")


def kubernetes_flags(data: Path) -> list[str]:
    """What deploy/k8s asks of every container: non-root, read-only root, no capabilities, no network.

    Writable: ``/data`` (a host folder owned by the image's user, as an emptyDir would be) and ``/tmp`` (a
    tmpfs). ``--read-only-tmpfs=false``: podman would otherwise add writable /run and /var/tmp of its own.
    ``--no-healthcheck``: Kubernetes ignores the image's HEALTHCHECK (it has probes), and podman would try to
    schedule it with systemd, which this sandbox does not run.
    """
    data.mkdir(parents=True, exist_ok=True)
    os.chown(data, UID, UID)
    return [
        "--user", f"{UID}:{UID}",
        "--read-only", "--read-only-tmpfs=false",
        "--tmpfs", "/tmp:rw,mode=1777,size=512m",
        "--volume", f"{data}:/data",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--network", "none",
        "--no-healthcheck",
    ]  # fmt: skip


class Container:
    """One detached container; :meth:`remove` stops and deletes it whatever state it is in."""

    def __init__(
        self, image: str, flags: Sequence[str], command: Sequence[str] = (), env: dict[str, str] | None = None
    ):
        self.name = f"enhanceit-test-{uuid.uuid4().hex[:12]}"
        env_flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        podman("run", "--detach", "--name", self.name, *flags, *env_flags, image, *command)

    def pid(self) -> int:
        return int(podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout)

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command, check=False)

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return (result.stdout + result.stderr)[-4000:]

    def stop(self, grace: int) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds (as the kubelet does); the exit code (137 = killed)."""
        podman("stop", "--time", str(grace), self.name, timeout=grace + 60)
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout)

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


class Bridge:
    """The container's ``port`` as a Unix socket on the host (see :mod:`tests.container.bridge`)."""

    def __init__(self, container: Container, port: int, folder: Path) -> None:
        self.socket = folder / f"{container.name}.sock"
        self.proc = subprocess.Popen(
            [
                "nsenter",
                f"--net=/proc/{container.pid()}/ns/net",
                sys.executable,
                str(BRIDGE),
                str(self.socket),
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bridge into the container did not start")
            time.sleep(0.005)

    def client(self, timeout: float = 120) -> httpx.Client:
        # The host name only fills in the Host header: every byte goes through the socket.
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://127.0.0.1:8000", timeout=timeout
        )

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.socket.unlink(missing_ok=True)


def wait_ready(client: httpx.Client, container: Container, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if client.get("/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the container never became ready; its log:\n{container.logs()}")
        time.sleep(0.02)
