"""The one outbound policy that downloads, webhooks and submit share: lists parsed once, checks before DNS.

Nothing here opens a socket: resolvers are stubs, and the addresses named are only classified.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import httpcore
import pytest

from enhanceit import hostnames
from enhanceit.config import FetchSettings, Settings
from enhanceit.errors import ForbiddenURL, InvalidRequest, UpstreamError
from enhanceit.hostnames import HostRule, IPAddress
from enhanceit.security import outbound
from enhanceit.security.outbound import (
    Deadline,
    check_at_submit,
    checked_addresses,
    parse_url,
    pinned_connection,
    request_url,
)

PUBLIC = ipaddress.ip_address("93.184.215.14")


def resolver_of(answers: dict[str, list[str]]) -> outbound.Resolver:
    asked: list[str] = []

    def resolve(host: str, port: int) -> Sequence[IPAddress]:
        asked.append(host)
        return [ipaddress.ip_address(a) for a in answers.get(host, [])]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


def test_host_lists_are_parsed_once_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = FetchSettings(allow_hosts=".Images.Example.", deny_hosts="bad.images.example, 0x7f.1")
    assert settings.allow_rules == (HostRule("images.example", subdomains=True),)
    assert settings.deny_rules == (HostRule("bad.images.example", False), HostRule("127.0.0.1", False))

    def no_more_parsing(entry: str) -> HostRule:
        raise AssertionError(f"host list entry {entry!r} parsed again on a request")

    monkeypatch.setattr(hostnames, "host_rule", no_more_parsing)  # what host_rules calls for each entry
    check_at_submit("https://cdn.images.example/a.png", settings)
    with pytest.raises(ForbiddenURL):
        check_at_submit("https://bad.images.example/a.png", settings)
    resolver = resolver_of({"cdn.images.example": [str(PUBLIC)]})
    target = parse_url("https://cdn.images.example/a.png")
    assert checked_addresses(target, settings, Deadline(5), resolver) == [PUBLIC]


def test_the_lists_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENHANCEIT_FETCH_DENY_HOSTS", "a.example,.b.example")
    assert Settings().fetch.deny_rules == (HostRule("a.example", False), HostRule("b.example", True))


def test_a_bad_list_entry_fails_when_the_settings_are_built() -> None:
    with pytest.raises(ValueError, match=r"host list entry 'a b\.example'"):
        FetchSettings(allow_hosts=["a b.example"])


def test_a_denied_host_is_refused_before_any_lookup() -> None:
    resolver = resolver_of({"images.example": [str(PUBLIC)]})
    settings = FetchSettings(deny_hosts=["images.example"])
    with pytest.raises(ForbiddenURL):
        checked_addresses(parse_url("http://images.example/"), settings, Deadline(5), resolver)
    assert resolver.asked == []  # type: ignore[attr-defined]


def test_every_resolved_address_is_checked() -> None:
    resolver = resolver_of({"mixed.example": [str(PUBLIC), "10.0.0.1"], "empty.example": []})
    with pytest.raises(ForbiddenURL, match="private"):
        checked_addresses(parse_url("http://mixed.example/"), FetchSettings(), Deadline(5), resolver)
    assert checked_addresses(
        parse_url("http://mixed.example/"), FetchSettings(allow_private=True), Deadline(5), resolver
    ) == [PUBLIC, ipaddress.ip_address("10.0.0.1")]
    with pytest.raises(UpstreamError, match="no address"):
        checked_addresses(parse_url("http://empty.example/"), FetchSettings(), Deadline(5), resolver)


def test_an_address_literal_is_not_resolved() -> None:
    resolver = resolver_of({})
    target = parse_url("http://[2606:4700::1]:8080/a.png")
    assert checked_addresses(target, FetchSettings(), Deadline(5), resolver) == [target.ip]
    assert resolver.asked == []  # type: ignore[attr-defined]
    with pytest.raises(ForbiddenURL, match="loopback"):
        checked_addresses(parse_url("http://2130706433/"), FetchSettings(), Deadline(5), resolver)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://127.0.0.1/a.png", ForbiddenURL),
        ("http://localhost:8080/hook", ForbiddenURL),
        ("http://api.localhost/hook", ForbiddenURL),
        ("http://[::ffff:10.0.0.1]/", ForbiddenURL),
        ("ftp://images.example/a.png", ForbiddenURL),
        ("http://images..example/", InvalidRequest),
    ],
)
def test_at_submit_what_needs_no_lookup_is_refused(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_at_submit(url, FetchSettings())


def test_at_submit_names_are_left_to_whoever_connects() -> None:
    """A public-looking name passes: it is resolved, and checked, when the request is sent."""
    assert check_at_submit("https://images.example/a.png", FetchSettings()).host == "images.example"
    assert check_at_submit("http://localhost:8080/hook", FetchSettings(allow_private=True)).port == 8080


def test_a_pinned_connection_targets_the_checked_origin() -> None:
    target = parse_url("https://Images.Example:8443/ä.png?q=1")
    url = request_url(target)
    assert (url.scheme, url.host, url.port, url.target) == (b"https", b"images.example", 8443, b"/%C3%A4.png?q=1")
    with pytest.raises(ValueError, match="at least one address"):
        pinned_connection(target, [], Deadline(5))
    with pinned_connection(target, [PUBLIC], Deadline(5)) as conn:
        assert conn.can_handle_request(url.origin)
        assert not conn.can_handle_request(parse_url_origin("https://other.example:8443/"))


def parse_url_origin(url: str) -> httpcore.Origin:
    return request_url(parse_url(url)).origin
