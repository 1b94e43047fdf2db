"""Host names as a resolver reads them, and the allow/deny host lists: one grammar for the settings and the
URL policy.

The settings parse ``ENHANCEIT_FETCH_ALLOW_HOSTS`` and ``..._DENY_HOSTS`` with it when they load (a bad entry
fails at start), and :mod:`enhanceit.security.urlpolicy` normalises every URL's host with it, so the lists
and the address check see the same name the connection will use. It sits below both (it needs only the
errors), so neither imports the other.

Normalising: IDNA (UTS #46) for non-ASCII names (which also turns full-width digits and ``。`` into ASCII),
lower case, one trailing dot dropped, and IPv4 literals in every form ``inet_aton`` accepts (``2130706433``,
``0x7f.1``, ``0177.0.0.1``, ``127.1``) turned into the address they mean. A host whose last label is a number
but that is no valid IPv4 address is refused as malformed rather than handed to a resolver to guess at, as
the WHATWG URL standard does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

import idna

from enhanceit.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
#: The WHATWG "ends in a number" test: such a host must be an IPv4 address or nothing.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def normalise_host(name: str) -> tuple[str, IPAddress | None]:
    """The canonical form of a host name or IPv4 literal, and the address when it is a literal.

    Raises :class:`InvalidRequest` for a name no resolver should be asked about.
    """
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise InvalidRequest("the host name is not a valid internationalised domain name") from None
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > 253:
        raise InvalidRequest("the host name is empty or too long")
    ipv4 = parse_ipv4(name)
    if ipv4 is not None:
        return str(ipv4), ipv4
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise InvalidRequest("the host name has characters or empty labels a host name cannot have")
    return name, None


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 literal in any spelling ``inet_aton`` accepts, or None when ``host`` is a name.

    One to four parts, each decimal, octal (leading 0) or hex (``0x``); the last part fills the
    remaining bytes, so ``127.1`` is 127.0.0.1 and ``2130706433`` is too.
    """
    parts = host.lower().split(".")
    if not _NUMERIC_LABEL.fullmatch(parts[-1]):
        return None
    if len(parts) > 4:
        raise InvalidRequest("a numeric host must be an IPv4 address")
    numbers = [_ipv4_number(part) for part in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidRequest("a numeric host must be an IPv4 address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv4_number(part: str) -> int:
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        if part.isdigit():
            return int(part)
    except ValueError:
        pass
    raise InvalidRequest("a numeric host must be an IPv4 address")


@dataclass(frozen=True)
class HostRule:
    """One allow/deny entry: ``name`` exactly, or with ``subdomains`` also every name under it."""

    name: str
    subdomains: bool

    def matches(self, host: str) -> bool:
        return host == self.name or (self.subdomains and host.endswith("." + self.name))


def host_rule(entry: str) -> HostRule:
    """Parse one list entry: ``example.com`` (that host) or ``.example.com`` (it and its subdomains).

    Raises :class:`ValueError` for an entry that is no host name, so a bad configuration is loud.
    """
    text = entry.strip()
    subdomains = text.startswith(".")
    if subdomains:
        text = text[1:]
    try:
        name, _ = normalise_host(text)
    except InvalidRequest as exc:
        raise ValueError(f"host list entry {entry!r}: {exc.detail}") from None
    return HostRule(name, subdomains)


def host_rules(entries: Iterable[str]) -> tuple[HostRule, ...]:
    return tuple(host_rule(entry) for entry in entries if entry.strip())
