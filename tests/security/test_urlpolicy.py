"""The SSRF policy as pure functions: URL parsing, host spellings, address classes, host lists.

Nothing here opens a socket.
"""

from __future__ import annotations

import ipaddress

import pytest

from enhanceit.errors import ForbiddenURL, InvalidRequest
from enhanceit.hostnames import host_rule, host_rules, normalise_host, parse_ipv4
from enhanceit.security.urlpolicy import blocked_reason, check_addresses, check_host, parse_url

ip = ipaddress.ip_address


# --- URLs --------------------------------------------------------------------------------------------


def test_parse_url_takes_a_url_apart_and_normalises_it() -> None:
    target = parse_url("HTTPS://Images.Example.:8443/a/b.png?x=1&y=%20#frag")
    assert (target.scheme, target.host, target.port, target.target) == (
        "https",
        "images.example",
        8443,
        "/a/b.png?x=1&y=%20",
    )
    assert target.ip is None
    assert target.authority == "images.example:8443"
    assert target.origin == "https://images.example:8443"
    assert target.url == "https://images.example:8443/a/b.png?x=1&y=%20"


@pytest.mark.parametrize(
    ("url", "host", "port", "authority"),
    [
        ("http://example.com", "example.com", 80, "example.com"),
        ("http://example.com:80/", "example.com", 80, "example.com"),
        ("https://example.com/", "example.com", 443, "example.com"),
        ("http://example.com:65535/", "example.com", 65535, "example.com:65535"),
        ("http://[2606:4700::1]:8080/", "2606:4700::1", 8080, "[2606:4700::1]:8080"),
        ("http://[2606:4700:0::0:1]/", "2606:4700::1", 80, "[2606:4700::1]"),
    ],
)
def test_ports_and_authorities(url: str, host: str, port: int, authority: str) -> None:
    target = parse_url(url)
    assert (target.host, target.port, target.authority) == (host, port, authority)
    assert target.target == "/"


def test_non_ascii_paths_are_percent_encoded() -> None:
    assert parse_url("http://example.com/bild ä.png".replace(" ", "%20")).target == "/bild%20%C3%A4.png"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://example.com:70/_GET",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "dict://example.com:11211/stat",
        "ws://example.com/",
        "//example.com/a.png",
        "/a.png",
        "example.com/a.png",
    ],
)
def test_other_schemes_are_forbidden(url: str) -> None:
    with pytest.raises(ForbiddenURL):
        parse_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pass@example.com/",
        "http://user@example.com/",
        "http://@example.com/",
        "http://example.com@127.0.0.1/",
        "https://a:b@[::1]/",
    ],
)
def test_userinfo_is_forbidden(url: str) -> None:
    with pytest.raises(ForbiddenURL, match="user name or password"):
        parse_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http:///a.png",
        "http://:80/",
        "http://",
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://example.com:http/",
        "http://example.com:80:80/",
        "http://exa mple.com/",
        "http://example.com/a b",
        "http://example.com\t/",
        "http://evil.example\\@good.example/",
        "http://example..com/",
        "http://exa%6dple.com/",
        "http://127%2e0%2e0%2e1/",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",
        "http://[127.0.0.1]/",
        "http://" + "a" * 64 + ".example/",
        "http://example.com/" + "a" * 9000,
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://1.2.3.08/",
        "http://0x100.0.0.1/",
        "http://4294967296/",
        "http://1.16777216/",
        "http://example.123/",
        "http://a_b.%ff/",
    ],
)
def test_malformed_urls_are_invalid(url: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_url(url)


# --- host spellings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0000.0000.0001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("10.1", "10.0.0.1"),
        ("167772161", "10.0.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("4294967295", "255.255.255.255"),
        ("１２７。０。０。１", "127.0.0.1"),  # full-width digits and ideographic full stops (IDNA mapping)
    ],
)
def test_ipv4_spellings_are_read_as_inet_aton_would(spelling: str, address: str) -> None:
    host, literal = normalise_host(spelling)
    assert (host, literal) == (address, ipaddress.IPv4Address(address))
    target = parse_url(f"http://{spelling}/")
    assert target.host == address
    assert target.ip == ipaddress.IPv4Address(address)


@pytest.mark.parametrize("name", ["example.com", "1example.com", "0x.example", "a-b.c_d.example", "localhost"])
def test_names_are_not_ipv4(name: str) -> None:
    assert parse_ipv4(name) is None
    assert normalise_host(name) == (name, None)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("Images.EXAMPLE.", "images.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("ｌｏｃａｌｈｏｓｔ", "localhost"),
    ],
)
def test_host_names_are_normalised(spelling: str, name: str) -> None:
    assert normalise_host(spelling) == (name, None)


# --- addresses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.0.8", "reserved"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.1", "benchmarking"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "scoped (link-local)"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("100::1", "discard-only"),
        ("2001:2::1", "reserved"),
        ("2001::1", "Teredo"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("::127.0.0.1", "IPv4-compatible (deprecated)"),
        ("::8.8.8.8", "IPv4-compatible (deprecated)"),
        ("::ffff:0:127.0.0.1", "IPv4-translated"),
    ],
)
def test_non_public_addresses_are_blocked(address: str, reason: str) -> None:
    assert blocked_reason(ip(address)) == reason
    with pytest.raises(ForbiddenURL, match="not allowed"):
        check_addresses("host.example", [ip(address)], allow_private=False)


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("64:ff9b::127.0.0.1", "loopback"),
        ("64:ff9b::10.1.2.3", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:7f00:1::", "loopback"),
        ("2002:a00:1::1", "private"),
        ("2002:a9fe:a9fe::", "link-local"),
        ("2002:c0a8:101::1", "private"),
    ],
)
def test_ipv4_inside_ipv6_is_judged_by_the_ipv4(address: str, inner: str) -> None:
    assert blocked_reason(ip(address)) == f"{inner} IPv4 address inside an IPv6"


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700::1111",
        "2a00:1450:4001::1",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ip(address)) is None
    check_addresses("host.example", [ip(address)], allow_private=False)


def test_one_blocked_address_among_public_ones_refuses_the_host() -> None:
    addresses = [ip("93.184.216.34"), ip("2606:4700::1"), ip("10.0.0.7")]
    with pytest.raises(ForbiddenURL, match="resolves to a private address"):
        check_addresses("mixed.example", addresses, allow_private=False)


def test_refusals_do_not_name_the_internal_address() -> None:
    with pytest.raises(ForbiddenURL) as caught:
        check_addresses("intranet.example", [ip("10.20.30.40")], allow_private=False)
    assert "10.20.30.40" not in caught.value.detail


def test_allow_private_lifts_the_address_check() -> None:
    check_addresses("localhost", [ip("127.0.0.1"), ip("::1"), ip("169.254.169.254")], allow_private=True)


def test_no_address_is_refused() -> None:
    with pytest.raises(ForbiddenURL):
        check_addresses("nothing.example", [], allow_private=False)


# --- host lists --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "host", "matches"),
    [
        ("images.example", "images.example", True),
        ("images.example", "cdn.images.example", False),
        ("images.example", "otherimages.example", False),
        (".images.example", "images.example", True),
        (".images.example", "cdn.images.example", True),
        (".images.example", "a.b.images.example", True),
        (".images.example", "evilimages.example", False),
        (".images.example", "images.example.evil", False),
        ("IMAGES.Example.", "images.example", True),
        ("  .Example  ", "images.example", True),
        ("bücher.example", "xn--bcher-kva.example", True),
        (".BÜCHER.example", "cdn.xn--bcher-kva.example", True),
        ("0x7f.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.10", False),
    ],
)
def test_host_rules(entry: str, host: str, matches: bool) -> None:
    assert host_rule(entry).matches(host) is matches


def test_check_host_deny_wins_and_allow_limits() -> None:
    deny = host_rules(["bad.example", ".evil.example"])
    allow = host_rules([".good.example", "images.example"])
    for host in ("cdn.good.example", "good.example", "images.example"):
        check_host(host, allow=allow, deny=deny)
    for host in ("bad.example", "x.evil.example", "other.example", "cdn.images.example"):
        with pytest.raises(ForbiddenURL):
            check_host(host, allow=allow, deny=deny)
    with pytest.raises(ForbiddenURL):
        check_host("good.example", allow=host_rules([".good.example"]), deny=host_rules(["good.example"]))


def test_empty_allow_list_allows_every_host() -> None:
    check_host("anything.example", allow=host_rules(["", "  "]), deny=())


@pytest.mark.parametrize("entry", ["a b.example", "..example", "exa%mple.com", "1.2.3.4.5"])
def test_bad_list_entries_are_loud(entry: str) -> None:
    with pytest.raises(ValueError, match="host list entry"):
        host_rule(entry)
