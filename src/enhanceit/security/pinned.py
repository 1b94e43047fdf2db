"""Connections pinned to addresses that were already checked: the defence against DNS rebinding.

Checking a host's addresses and then letting the HTTP client look the name up again would ask DNS twice;
an attacker's name server can answer a public address to the check and ``127.0.0.1`` to the connection.
So the name is resolved once, its addresses are checked, and :class:`PinnedBackend` (an ``httpcore``
network backend) connects to one of exactly those addresses, ignoring the host name httpcore hands it.
httpcore still performs TLS with ``server_hostname`` set to the URL's host, so the certificate is verified
(and SNI sent) for the name the user gave, and the request's Host header names it too.

:class:`Deadline` caps every socket wait at the time left for the whole download, so a server that
drips one byte a second, in the headers or the body, still runs into the total deadline.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpcore

from enhanceit.hostnames import IPAddress

#: Opens a TCP connection to ``(ip, port)`` within ``timeout`` seconds and returns the connected socket.
#: It must connect to the address it is given; tests replace it to reach a local server instead.
Connector = Callable[[IPAddress, int, float], socket.socket]


def tcp_connector(ip: IPAddress, port: int, timeout: float) -> socket.socket:
    """The default :data:`Connector`: a plain TCP connection to the literal address (no name lookup)."""
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((str(ip), port))
    except BaseException:
        sock.close()
        raise
    return sock


class Deadline:
    """A point in time the whole download must finish by."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return self._end - self._clock()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def limit(self, timeout: float | None, error: type[httpcore.TimeoutException]) -> float:
        """``timeout`` capped at the time left; raises ``error`` when none is left."""
        left = self.remaining()
        if left <= 0:
            raise error(f"the total deadline of {self.seconds:g}s has passed")
        return left if timeout is None else min(timeout, left)


class PinnedStream(httpcore.NetworkStream):
    """A socket (plain or TLS) whose every wait is bounded by its own timeout and the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._sock.settimeout(self._deadline.limit(timeout, httpcore.ReadTimeout))
        try:
            return self._sock.recv(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._sock.settimeout(self._deadline.limit(timeout, httpcore.WriteTimeout))
        try:
            self._sock.sendall(buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """TLS for ``server_hostname`` (the URL's host): SNI and the certificate check use the name."""
        try:
            self._sock.settimeout(self._deadline.limit(timeout, httpcore.ConnectTimeout))
            tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except TimeoutError as exc:
            self.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except OSError as exc:  # ssl.SSLError (certificate not valid, ...) is an OSError
            self.close()
            raise httpcore.ConnectError(str(exc)) from exc
        except BaseException:
            self.close()
            raise
        return PinnedStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "socket":
            return self._sock
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "client_addr":
            return self._sock.getsockname()
        return None


class PinnedBackend(httpcore.NetworkBackend):
    """An httpcore backend that connects only to ``addresses``, tried in order, whatever host it is asked for."""

    def __init__(self, addresses: Sequence[IPAddress], connector: Connector, deadline: Deadline) -> None:
        if not addresses:
            raise ValueError("a pinned backend needs at least one address")
        self._addresses = tuple(addresses)
        self._connector = connector
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.NetworkError | httpcore.TimeoutException | None = None
        for ip in self._addresses:
            limit = self._deadline.limit(timeout, httpcore.ConnectTimeout)
            try:
                sock = self._connector(ip, port, limit)
            except TimeoutError as exc:
                failure = httpcore.ConnectTimeout(str(exc) or "connection timed out")
                failure.__cause__ = exc
                continue
            except OSError as exc:
                failure = httpcore.ConnectError(str(exc))
                failure.__cause__ = exc
                continue
            with contextlib.suppress(OSError):  # an optimisation only
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return PinnedStream(sock, self._deadline)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("a pinned backend connects to checked TCP addresses only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
