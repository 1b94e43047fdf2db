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

At submit, before any job exists, :func:`check_at_submit` refuses what can be judged without DNS: the lists,
address literals and names that mean this machine. Names are resolved by whoever connects, at that time.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import httpcore

from enhanceit.config import FetchSettings
from enhanceit.errors import ResolverUnavailable, UpstreamError, UpstreamTimeout
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
    "Resolver",
    "Target",
    "check_at_submit",
    "check_before_lookup",
    "checked_addresses",
    "default_ssl_context",
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


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Certificates verified against certifi's roots (as httpx does), host names checked.

    httpx is imported here, on the first connection, not with this module: importing it also imports its
    command line's ``rich`` where that is installed, 0.1 s of every server's and worker's start."""
    import httpx

    return httpx.create_ssl_context()
