"""A real redis-server (Debian's package) on 127.0.0.1 for the tests, started and stopped by a fixture.

:class:`RedisProcess` can also be stopped, killed and started again on the same port and folder, to play an
outage; with ``persistent=True`` it keeps an append-only file there, as the deployment docs require. With
``unix_socket`` it also listens on that socket (mode 777), for clients in containers that have no network.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    def __init__(self, folder: Path, persistent: bool = False, unix_socket: Path | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: 'make test' installs it (apt-get install redis-server)")
        self.binary = binary
        self.folder = folder
        self.persistent = persistent
        self.unix_socket = unix_socket
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persistent else ["--appendonly", "no"]
        args = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *aof, "--dir", str(self.folder)]
        if self.unix_socket is not None:
            args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "777"]
        self.proc = subprocess.Popen(
            [self.binary, *args, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return self
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown (the log is flushed); SIGKILL: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None


@contextmanager
def redis_server(folder: Path, persistent: bool = False) -> Iterator[str]:
    server = RedisProcess(folder, persistent).start()
    try:
        yield server.url
    finally:
        server.stop()
