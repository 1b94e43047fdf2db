"""Every HTTP request the service sends (image downloads, webhooks) goes through here: resolve, check, connect.

One policy, applied the same way on each path:

1. :func:`~enhanceit.security.urlpolicy.parse_url` takes the URL apart (http/https only, no user:password,
   host normalised);
2. :func:`check_before_lookup`: the allow/deny host lists (parsed once, with the settings), and an address
   literal judged at once, so a denied host costs no DNS query;
3. :func:`checked_addresses`: the name resolved once, within the deadline, and every address checked: one
   loopback, private, link-local, ... address refuses the request (``allow_private`` lifts this step only);
4. :func:`pinned_connection`: an ``httpcore`` connection to one of exactly those addresses
   (:class:`~enhanceit.security.pinned.PinnedBackend`), TLS verified for the URL's host name, so a second DNS
   answer can never redirect it (DNS rebinding).

:class:`OutboundClient` does steps 3 and 4 and sends one request; its callers (the image download with its
redirect loop, webhooks) never touch ``httpcore``. Its errors become EnhanceIt's in one place,
:func:`map_httpcore_errors` (the DNS lookup's in :func:`system_resolver`, where ``getaddrinfo`` is called), so
a download and a webhook see the same error for the same failure and each decides only what it means to it.

At submit, before any job exists, :func:`check_at_submit` refuses what can be judged without DNS: the lists,
address literals and names that mean this machine. Names are resolved by whoever connects, at that time.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

import httpcore

from enhanceit.config import FetchSettings
from enhanceit.errors import ForbiddenURL, ResolverUnavailable, UpstreamError, UpstreamTimeout
from enhanceit.hostnames import IPAddress
from enhanceit.security.pinned import Connector, Deadline, PinnedBackend, tcp_connector
from enhanceit.security.urlpolicy import (
    Target,
    check_addresses,
    check_host,
    is_loopback_name,
    parse_url,
)

__all__ = [
    "Connector",
    "Deadline",
    "OutboundClient",
    "Resolver",
    "Response",
    "Target",
    "Timeouts",
    "check_at_submit",
    "check_before_lookup",
    "checked_addresses",
    "default_ssl_context",
    "map_httpcore_errors",
    "parse_url",
    "pinned_connection",
    "request_url",
    "system_resolver",
]

#: Looks up a host name (ASCII, normalised) and returns all its addresses; ``port`` is only a hint.
Resolver = Callable[[str, int], Sequence[IPAddress]]

_THIS_MACHINE = ipaddress.ip_address("127.0.0.1")


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The default :data:`Resolver`: ``getaddrinfo``, every address, each once, in the order given."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:  # the name server is down or busy: transient, unlike NXDOMAIN
            raise ResolverUnavailable(f"the host name {host} could not be resolved for now") from exc
        raise UpstreamError(f"the host name {host} could not be resolved") from exc
    except UnicodeError as exc:
        raise UpstreamError(f"the host name {host} could not be resolved") from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def check_before_lookup(target: Target, settings: FetchSettings) -> None:
    """Refuse a host the lists exclude, and an address literal the policy refuses; no DNS is asked."""
    check_host(target.host, allow=settings.allow_rules, deny=settings.deny_rules)
    if target.ip is not None:
        check_addresses(target.host, [target.ip], allow_private=settings.allow_private)


def check_at_submit(url: str, settings: FetchSettings) -> Target:
    """What a URL given at submit can be refused for now: malformed (400) or not allowed (403).

    Besides :func:`check_before_lookup`, a name that means this machine wherever it is resolved
    (``localhost``) is refused, so a webhook to it fails the request rather than being dropped later.
    """
    target = parse_url(url)
    check_before_lookup(target, settings)
    if target.ip is None and is_loopback_name(target.host):
        check_addresses(target.host, [_THIS_MACHINE], allow_private=settings.allow_private)
    return target


def checked_addresses(
    target: Target, settings: FetchSettings, deadline: Deadline, resolver: Resolver | None = None
) -> Sequence[IPAddress]:
    """The addresses one request may connect to: lists first, then the name resolved and every address checked."""
    check_before_lookup(target, settings)
    if target.ip is not None:
        return [target.ip]
    addresses = _resolve(resolver or system_resolver, target, deadline)
    if not addresses:
        raise UpstreamError(f"the host name {target.host} has no address")
    check_addresses(target.host, addresses, allow_private=settings.allow_private)
    return addresses


def _resolve(resolver: Resolver, target: Target, deadline: Deadline) -> list[IPAddress]:
    """Resolve in a helper thread: ``getaddrinfo`` cannot be interrupted, but the deadline must hold."""
    future: Future[list[IPAddress]] = Future()

    def run() -> None:
        try:
            future.set_result(list(resolver(target.host, target.port)))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="enhanceit-resolve", daemon=True).start()
    try:
        return future.result(timeout=max(0.0, deadline.remaining()))
    except TimeoutError:  # the deadline, or the resolver's own
        raise UpstreamTimeout(f"{target.host} could not be resolved in time") from None


def pinned_connection(
    target: Target,
    addresses: Sequence[IPAddress],
    deadline: Deadline,
    *,
    connector: Connector | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpcore.HTTPConnection:
    """An unopened connection to ``target``'s origin that can reach only ``addresses`` (checked ones).

    Every socket wait is capped by ``deadline``; TLS (when https) is verified for ``target.host``.
    """
    backend = PinnedBackend(addresses, connector or tcp_connector, deadline)
    origin = httpcore.Origin(target.scheme.encode(), target.host.encode("ascii"), target.port)
    return httpcore.HTTPConnection(origin, ssl_context=ssl_context or default_ssl_context(), network_backend=backend)


def request_url(target: Target) -> httpcore.URL:
    """The request URL built from checked parts, so httpcore parses nothing the policy did not see."""
    return httpcore.URL(
        scheme=target.scheme.encode(),
        host=target.host.encode("ascii"),
        port=target.port,
        target=target.target.encode("ascii"),
    )


@dataclass(frozen=True)
class Timeouts:
    """The longest single waits of one request; each is also cut short by the request's :class:`Deadline`."""

    #: The TCP connection, and the TLS handshake after it.
    connect: float
    #: Each read and each write: a server silent this long has stopped.
    read: float

    @classmethod
    def of(cls, settings: FetchSettings) -> Timeouts:
        return cls(settings.connect_timeout, settings.read_timeout)

    def extensions(self) -> dict[str, dict[str, float]]:
        """As httpcore takes them (its pool wait is a connect: a single connection never waits for one)."""
        return {"timeout": {"connect": self.connect, "read": self.read, "write": self.read, "pool": self.connect}}


class Response:
    """An answer's status and headers, its body read as it arrives; no read outlives the total deadline."""

    def __init__(self, raw: httpcore.Response, host: str, deadline: Deadline) -> None:
        self._raw = raw
        self._host = host
        self._deadline = deadline
        self.status = raw.status

    def header(self, name: str) -> str | None:
        """The first value of the header ``name`` (any case), trimmed."""
        wanted = name.lower().encode("ascii")
        for key, value in self._raw.headers:
            if key.lower() == wanted:
                return value.decode("latin-1").strip()
        return None

    def iter_bytes(self) -> Iterator[bytes]:
        """The body in the chunks it arrives in. A chunk that arrives after the deadline is not handed on: each
        socket wait is capped by the deadline, but a server that always sends something just in time is not."""
        for chunk in self._raw.iter_stream():
            if self._deadline.expired:
                raise UpstreamTimeout(_past_deadline(self._host, self._deadline))
            yield chunk


class OutboundClient:
    """Sends one request to a :class:`Target` the way every outbound request must go (see the module's steps).

    Redirects are not followed: a caller that follows them checks each hop by sending it as a new request. The
    ``Host`` and ``User-Agent`` headers come from here; ``resolver``, ``connector`` and ``ssl_context`` replace
    DNS, the TCP connection and the trusted certificates (tests).
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolver: Resolver | None = None,
        connector: Connector | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self._resolver = resolver
        self._connector = connector
        self._ssl_context = ssl_context

    @contextmanager
    def request(
        self,
        method: str,
        target: Target,
        deadline: Deadline,
        timeouts: Timeouts,
        *,
        headers: Sequence[tuple[bytes, bytes]] = (),
        content: bytes | None = None,
    ) -> Iterator[Response]:
        """The answer to one request, open until the block ends (then the connection is closed, read or not).

        Raises :class:`ForbiddenURL` (403) for an address the policy refuses, and what
        :func:`map_httpcore_errors` maps failures to, also for those that happen while the block reads the body.
        """
        addresses = checked_addresses(target, self.settings, deadline, self._resolver)
        sent = [
            (b"Host", target.authority.encode("ascii")),
            (b"User-Agent", self.settings.user_agent.encode("ascii", "replace")),
            *headers,
        ]
        with (
            map_httpcore_errors(target.host, deadline, timeouts),
            pinned_connection(
                target, addresses, deadline, connector=self._connector, ssl_context=self._ssl_context
            ) as conn,
            conn.stream(
                method, request_url(target), headers=sent, content=content, extensions=timeouts.extensions()
            ) as raw,
        ):
            yield Response(raw, target.host, deadline)


@contextmanager
def map_httpcore_errors(host: str, deadline: Deadline, timeouts: Timeouts) -> Iterator[None]:
    """httpcore's errors (and the socket and TLS errors the pinned backend wraps in them) as EnhanceIt's.

    ``host`` is the only part of the URL a message names: paths and queries may carry tokens.

    httpcore's error (its cause)              EnhanceIt's            when
    any timeout, once the deadline passed     UpstreamTimeout (504)  the total deadline ran out
    ConnectTimeout                            UpstreamTimeout (504)  no connection or TLS handshake in time
    ReadTimeout, WriteTimeout                 UpstreamTimeout (504)  the server went silent
    ConnectError (SSLCertVerificationError)   UpstreamError (502)    the certificate is not valid for the host
    ConnectError (another ssl.SSLError)       UpstreamError (502)    no TLS there, or none we accept
    ConnectError                              UpstreamError (502)    refused, unreachable
    NetworkError, ProtocolError               UpstreamError (502)    cut off, or not HTTP
    UnsupportedProtocol                       ForbiddenURL (403)     not http(s) (parse_url lets none through)
    """
    try:
        yield
    except httpcore.TimeoutException as exc:
        if deadline.expired:
            message = _past_deadline(host, deadline)
        elif isinstance(exc, httpcore.ConnectTimeout):
            message = f"could not connect to {host} within {timeouts.connect:g}s"
        elif isinstance(exc, httpcore.WriteTimeout):
            message = f"{host} took nothing of the request for {timeouts.read:g}s"
        else:
            message = f"{host} sent nothing for {timeouts.read:g}s"
        raise UpstreamTimeout(message) from exc
    except httpcore.ConnectError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = getattr(cause, "verify_message", None) or "verification failed"
            message = f"the TLS certificate of {host} is not valid ({reason})"
        elif isinstance(cause, ssl.SSLError):
            message = f"TLS with {host} failed"
        else:
            message = f"could not connect to {host}"
        raise UpstreamError(message) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise UpstreamError(f"{host} broke off the connection or answered with invalid HTTP") from exc
    except httpcore.UnsupportedProtocol as exc:
        raise ForbiddenURL("only http and https URLs are allowed") from exc


def _past_deadline(host: str, deadline: Deadline) -> str:
    return f"{host} did not finish answering within {deadline.seconds:g}s"


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Certificates verified against certifi's roots (as httpx does), host names checked.

    httpx is imported here, on the first connection, not with this module: importing it also imports its
    command line's ``rich`` where that is installed, 0.1 s of every server's and worker's start."""
    import httpx

    return httpx.create_ssl_context()
