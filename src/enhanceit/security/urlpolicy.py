"""Which URLs, hosts and addresses the service may fetch from: the SSRF policy as pure functions.

Nothing here touches the network, so every rule can be tested with a table. :mod:`enhanceit.security.outbound`
applies them to every request the service sends: :func:`parse_url` on the URL (and on every redirect),
:func:`check_host` with the configured lists, and :func:`check_addresses` on what the name resolved to;
it then connects to exactly one of the checked addresses (see :mod:`enhanceit.security.pinned`).

Host spellings are normalised the way a resolver would read them (:mod:`enhanceit.hostnames`, which the
settings use for the allow/deny lists too), so the lists and the address check see the same thing the
connection will use.

Any port is allowed: image hosts do use odd ports, and what keeps the service off internal systems is
the address check, not the port. Port 0 is refused as malformed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

from enhanceit.errors import ForbiddenURL, InvalidRequest
from enhanceit.hostnames import HostRule, IPAddress, normalise_host

Scheme = Literal["http", "https"]

DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}
#: Longer URLs are refused as malformed: no image URL needs more, and it bounds the work spent on one.
MAX_URL_LENGTH = 8192


@dataclass(frozen=True)
class Target:
    """One URL, taken apart and normalised; what is requested is rebuilt from these parts, never re-parsed."""

    scheme: Scheme
    #: Lower-case ASCII host name (IDNA applied, no trailing dot), or the canonical text of an IP literal.
    host: str
    port: int
    #: Path and query, ASCII (non-ASCII percent-encoded), never empty; no fragment.
    target: str
    #: The address when the host is an IP literal (then no name is resolved).
    ip: IPAddress | None = None

    @property
    def authority(self) -> str:
        """``host[:port]`` as the Host header wants it: IPv6 in brackets, the default port left out."""
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """Scheme and host only: safe to log (paths and queries may carry tokens)."""
        return f"{self.scheme}://{self.authority}"

    @property
    def url(self) -> str:
        return f"{self.origin}{self.target}"


def parse_url(url: str) -> Target:
    """Take a user-given URL apart, or refuse it.

    Raises :class:`InvalidRequest` when it is malformed (control characters, no host, bad port, a
    numeric host that is no IPv4 address) and :class:`ForbiddenURL` when it is well formed but not
    allowed (a scheme other than http/https, a user name or password).
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # Spaces, control characters and backslashes are where URL parsers disagree; no valid URL has them raw.
    if any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in url):
        raise InvalidRequest("the URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ForbiddenURL(f"only http and https URLs are allowed, not {scheme or 'a relative URL'}")
    if "@" in parts.netloc:
        raise ForbiddenURL("URLs with a user name or password are not allowed")
    if port == 0:
        raise InvalidRequest("port 0 is not a valid port")
    host, ip = _host_of(parts.netloc, parts.hostname)
    target = quote(parts.path or "/", safe="/%!$&'()*+,;=:@-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/?%!$&'()*+,;=:@-._~")
    return Target(
        scheme="https" if scheme == "https" else "http",
        host=host,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        target=target,
        ip=ip,
    )


def _host_of(netloc: str, hostname: str | None) -> tuple[str, IPAddress | None]:
    if not hostname:
        raise InvalidRequest("the URL has no host")
    if netloc.startswith("["):
        if "%" in hostname:
            raise InvalidRequest("IPv6 zone identifiers are not allowed in URLs")
        try:
            ip6 = ipaddress.IPv6Address(hostname)
        except ValueError:
            raise InvalidRequest("malformed IPv6 address in the URL") from None
        return str(ip6), ip6
    return normalise_host(hostname)


# --- addresses ---------------------------------------------------------------------------------------

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

#: Ranges refused by name, so the reason is clear and so the check does not depend on the Python
#: version's ``is_global`` tables (3.11 counts e.g. ``::127.0.0.1`` and ``ff02::1`` as global).
BLOCKED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "reserved"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("::ffff:0:0:0/96"), "IPv4-translated"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/32"), "Teredo"),
    (_V6("2001::/23"), "reserved"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "reserved"),
    (_V6("fc00::/7"), "private"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)

_NAT64 = _V6("64:ff9b::/96")
_SIXTOFOUR = _V6("2002::/16")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would reach: mapped, NAT64 or 6to4."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why the service must not connect to ``ip`` (e.g. ``"loopback"``), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "scoped (link-local)"
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = blocked_reason(inner)
            return f"{reason} IPv4 address inside an IPv6" if reason else None
    for network, reason in BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
    for test, reason in (
        (ip.is_loopback, "loopback"),
        (ip.is_private, "private"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_unspecified, "unspecified"),
        (not ip.is_global, "non-public"),
    ):
        if test:
            return reason
    return None


#: Names that mean this machine wherever they are resolved (RFC 6761 reserves ``localhost`` and every name
#: under it; the others are the usual /etc/hosts aliases). Refused before any lookup, at submit.
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def is_loopback_name(host: str) -> bool:
    """Whether a normalised host name means this machine without asking any DNS server."""
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


def check_addresses(host: str, addresses: Sequence[IPAddress], *, allow_private: bool) -> None:
    """Refuse unless every address ``host`` resolved to is public; one bad address refuses them all.

    ``allow_private`` (development and tests) lifts this check and nothing else.
    """
    if not addresses:
        raise ForbiddenURL(f"{host} resolved to no address")
    if allow_private:
        return
    for ip in addresses:
        reason = blocked_reason(ip)
        if reason is not None:
            # The address itself stays out of the message: it would tell a caller about internal DNS.
            what = "is" if str(ip) == host else "resolves to"
            raise ForbiddenURL(f"{host} {what} a {reason} address, which is not allowed")


def check_host(host: str, *, allow: Sequence[HostRule], deny: Sequence[HostRule]) -> None:
    """Refuse a (normalised) host on the deny list, or missing from a non-empty allow list."""
    if any(rule.matches(host) for rule in deny):
        raise ForbiddenURL(f"fetching from {host} is not allowed")
    if allow and not any(rule.matches(host) for rule in allow):
        raise ForbiddenURL(f"{host} is not on the list of hosts images may be fetched from")
