"""The SSRF-safe downloader against a real HTTP server on 127.0.0.1.

Safety: no test sends traffic anywhere but loopback. Made-up public names (``images.example``) are served
by :class:`FakeNet`, whose resolver answers from a table and whose connector always connects to the local
server, and fails the test if it is asked for any address but the ones the test declared as the checked
public addresses. Tests that name blocked addresses expect a refusal before any connection; if the code
were wrong, the connector would fail the test instead of connecting anywhere.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from enhanceit.config import FetchSettings
from enhanceit.errors import (
    Canceled,
    ForbiddenURL,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedFormat,
    UpstreamError,
    UpstreamTimeout,
)
from enhanceit.hostnames import IPAddress
from enhanceit.pipeline.fetch import Fetched, fetch_image
from enhanceit.security.outbound import system_resolver
from tests.helpers import photo, to_vips

PUBLIC = ipaddress.ip_address("93.184.216.34")
PUBLIC6 = ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946")
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
MB = 1024 * 1024

Route = Callable[["Handler"], None]


# --- a local image server ----------------------------------------------------------------------------


@dataclass
class Upstream:
    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    #: (path with query, request headers) of every request received.
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def hits(self, path: str) -> int:
        return sum(1 for seen, _ in self.requests if seen.split("?")[0] == path)


class Server(ThreadingHTTPServer):
    upstream: Upstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        """The client hanging up on purpose (limits, deadlines) is no error here."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        upstream = self.server.upstream
        upstream.requests.append((self.path, dict(self.headers)))
        route = upstream.routes.get(self.path.split("?")[0])
        try:
            if route is None:
                status(404)(self)
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(upstream: Upstream, tls: ssl.SSLContext | None = None) -> Iterator[Upstream]:
    server = Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.upstream = upstream
    upstream.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        upstream.stop.set()
        server.shutdown()
        server.server_close()  # joins the handler threads: none is left behind
        thread.join()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    yield from serve(Upstream())


def image(body: bytes, content_type: str = "image/png") -> Route:
    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return route


def chunked(body: bytes, size: int = 4096) -> Route:
    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for start in range(0, len(body), size):
            part = body[start : start + size]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")

    return route


def status(code: int, body: bytes = b"<html>nope</html>") -> Route:
    def route(h: Handler) -> None:
        h.send_response(code)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return route


def redirect(location: str | None, code: int = 302) -> Route:
    def route(h: Handler) -> None:
        h.send_response(code)
        if location is not None:
            h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def drip(head: bytes, interval: float, length: int = 100_000) -> Route:
    """Sends ``head`` at once, then one byte every ``interval`` seconds: never idle long, never done."""

    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(length))
        h.end_headers()
        h.wfile.write(head)
        h.wfile.flush()
        while not h.server.upstream.stop.wait(interval):
            h.wfile.write(b"\0")
            h.wfile.flush()

    return route


def drip_headers(interval: float) -> Route:
    """A status line, then header bytes one at a time: the headers themselves never finish."""

    def route(h: Handler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        h.wfile.flush()
        while not h.server.upstream.stop.wait(interval):
            h.wfile.write(b"a")
            h.wfile.flush()
        h.close_connection = True

    return route


def silent(h: Handler) -> None:
    """Reads the request and answers nothing until the test ends."""
    h.server.upstream.stop.wait(10)
    h.close_connection = True


@pytest.fixture(scope="module")
def png() -> bytes:
    return bytes(to_vips(photo("astronaut", 48)).write_to_buffer(".png"))


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return bytes(to_vips(photo("coffee", 48)).write_to_buffer(".jpg", Q=85))


# --- DNS and sockets for made-up names ---------------------------------------------------------------


class FakeNet:
    """A resolver and a connector for made-up names, both reaching only the local server.

    ``names`` maps a host to its answers; a list of lists gives one answer per lookup (DNS rebinding).
    The connector fails the test when asked for an address that is not in ``reachable`` (the public
    addresses a test declares), and otherwise connects to 127.0.0.1 on the test server's port.
    """

    def __init__(self, upstream: Upstream, names: dict[str, Sequence[Any]], reachable: Sequence[IPAddress] = ()):
        self.upstream = upstream
        self.names = {host: list(answers) for host, answers in names.items()}
        self.reachable = set(reachable) or {PUBLIC, PUBLIC6}
        self.lookups: list[tuple[str, int]] = []
        self.connects: list[tuple[IPAddress, int]] = []

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append((host, port))
        answers = self.names.get(host)
        if answers is None:
            raise AssertionError(f"unexpected lookup of {host}")
        if answers and isinstance(answers[0], list):
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        else:
            answer = answers
        return [ipaddress.ip_address(a) for a in answer]

    def connect(self, ip: IPAddress, port: int, timeout: float) -> socket.socket:
        self.connects.append((ip, port))
        if ip not in self.reachable:
            raise AssertionError(f"asked to connect to {ip}, which was never a checked public address")
        assert port == self.upstream.port
        return socket.create_connection(("127.0.0.1", self.upstream.port), timeout=timeout)

    def fetch(self, url: str, dest: Path, settings: FetchSettings | None = None, **kwargs: Any) -> Fetched:
        return fetch_image(
            url,
            dest,
            settings or FetchSettings(),
            kwargs.pop("max_bytes", MB),
            resolver=self.resolve,
            connector=self.connect,
            **kwargs,
        )


@pytest.fixture
def net(upstream: Upstream) -> FakeNet:
    return FakeNet(upstream, {"images.example": [str(PUBLIC)], "cdn.images.example": [str(PUBLIC6)]})


def local(upstream: Upstream, path: str) -> str:
    return f"http://127.0.0.1:{upstream.port}{path}"


def fast(**overrides: Any) -> FetchSettings:
    values: dict[str, Any] = {"connect_timeout": 0.5, "read_timeout": 0.3, "total_timeout": 0.6}
    values.update(overrides)
    return FetchSettings(**values)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "download.tmp"
    path.touch()  # the caller's temp file: removed on failure
    return path


def never_connect(ip: IPAddress, port: int, timeout: float) -> socket.socket:
    raise AssertionError(f"asked to connect to {ip}:{port}")


def never_resolve(host: str, port: int) -> list[IPAddress]:
    raise AssertionError(f"asked to resolve {host}")


# --- success -----------------------------------------------------------------------------------------


def test_fetches_a_png_through_a_pinned_public_address(
    upstream: Upstream, net: FakeNet, dest: Path, png: bytes
) -> None:
    upstream.routes["/cat.png"] = image(png, "image/png; charset=binary")
    fetched = net.fetch(f"http://Images.Example.:{upstream.port}/cat.png?token=abc", dest)
    assert fetched == Fetched(
        dest, len(png), "png", "image/png; charset=binary", f"http://images.example:{upstream.port}/cat.png?token=abc"
    )
    assert dest.read_bytes() == png
    assert net.lookups == [("images.example", upstream.port)]
    assert net.connects == [(PUBLIC, upstream.port)]
    path, headers = upstream.requests[0]
    assert path == "/cat.png?token=abc"
    assert headers["Host"] == f"images.example:{upstream.port}"
    assert headers["User-Agent"] == FetchSettings().user_agent
    assert headers["Accept-Encoding"] == "identity"
    # every format the table reads, those written first: a HEIC-only server may send what it has
    assert headers["Accept"].startswith("image/png,image/webp,") and "image/heif;q=0.9" in headers["Accept"]
    assert "Authorization" not in headers


def test_fetches_a_jpeg_with_the_default_resolver_and_connector_on_loopback(
    upstream: Upstream, dest: Path, jpeg: bytes
) -> None:
    upstream.routes["/photo"] = image(jpeg, "application/octet-stream")
    fetched = fetch_image(local(upstream, "/photo"), dest, FetchSettings(allow_private=True), MB)
    assert (fetched.format, fetched.size, fetched.content_type) == ("jpeg", len(jpeg), "application/octet-stream")
    assert dest.read_bytes() == jpeg


def test_the_format_comes_from_the_bytes_not_the_content_type(
    upstream: Upstream, net: FakeNet, dest: Path, png: bytes
) -> None:
    upstream.routes["/x"] = image(png, "text/html")
    assert net.fetch(f"http://images.example:{upstream.port}/x", dest).format == "png"
    upstream.routes["/y"] = image(b"<html><body>" + b"x" * 100 + b"</body></html>", "image/png")
    with pytest.raises(UnsupportedFormat):
        net.fetch(f"http://images.example:{upstream.port}/y", dest)
    assert not dest.exists()


@pytest.mark.parametrize("body", [b"", b"GIF", b"plain text, no image at all " * 3])
def test_bodies_that_are_no_image_are_415(upstream: Upstream, net: FakeNet, dest: Path, body: bytes) -> None:
    upstream.routes["/t"] = image(body, "text/plain")
    with pytest.raises(UnsupportedFormat):
        net.fetch(f"http://images.example:{upstream.port}/t", dest)
    assert not dest.exists()


def test_a_non_image_is_dropped_after_its_first_bytes(upstream: Upstream, net: FakeNet, dest: Path) -> None:
    upstream.routes["/big.html"] = chunked(b"<html>" + b"x" * 500_000)
    with pytest.raises(UnsupportedFormat):
        net.fetch(f"http://images.example:{upstream.port}/big.html", dest, max_bytes=10 * MB)
    assert not dest.exists()


def test_idna_host_names_are_resolved_and_sent_in_ascii(upstream: Upstream, dest: Path, png: bytes) -> None:
    net = FakeNet(upstream, {"xn--bcher-kva.example": [str(PUBLIC)]})
    upstream.routes["/b.png"] = image(png)
    net.fetch(f"http://BÜCHER.example:{upstream.port}/b.png", dest)
    assert net.lookups == [("xn--bcher-kva.example", upstream.port)]
    assert upstream.requests[0][1]["Host"] == f"xn--bcher-kva.example:{upstream.port}"


def test_a_second_address_is_tried_when_the_first_refuses(upstream: Upstream, dest: Path, png: bytes) -> None:
    net = FakeNet(upstream, {"images.example": [str(PUBLIC6), str(PUBLIC)]})
    real_connect = net.connect

    def connect(ip: IPAddress, port: int, timeout: float) -> socket.socket:
        if ip == PUBLIC6:
            net.connects.append((ip, port))
            raise ConnectionRefusedError("no IPv6 here")
        return real_connect(ip, port, timeout)

    upstream.routes["/p.png"] = image(png)
    fetch_image(
        f"http://images.example:{upstream.port}/p.png",
        dest,
        FetchSettings(),
        MB,
        resolver=net.resolve,
        connector=connect,
    )
    assert net.connects == [(PUBLIC6, upstream.port), (PUBLIC, upstream.port)]


def test_logs_name_scheme_and_host_only(
    upstream: Upstream, net: FakeNet, dest: Path, png: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    upstream.routes["/start"] = redirect("/secret-path.png?sig=HUSH")
    upstream.routes["/secret-path.png"] = image(png)
    net.fetch(f"http://images.example:{upstream.port}/start?token=SECRET", dest)
    # httpcore's own DEBUG trace prints response headers (a Location too): keep it above DEBUG in production.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("enhanceit"))
    assert f"http://images.example:{upstream.port}" in ours
    for secret in ("SECRET", "HUSH", "secret-path", "/start"):
        assert secret not in ours


# --- refused before any connection -------------------------------------------------------------------


BLOCKED_LITERALS = [
    "127.0.0.1",
    "127.0.0.2",
    "2130706433",
    "0x7f000001",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "127.1",
    "0",
    "0.0.0.0",
    "10.0.0.1",
    "167772161",
    "172.16.0.1",
    "192.168.0.1",
    "169.254.169.254",
    "0xa9fea9fe",
    "100.64.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "[::1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::a9fe:a9fe]",
    "[2002:7f00:1::]",
    "[2002:a9fe:a9fe::1]",
    "[2001::1]",
    "[fc00::1]",
    "[fd00:ec2::254]",
    "[fe80::1]",
    "[ff02::1]",
    "[2001:db8::1]",
]


@pytest.mark.parametrize("host", BLOCKED_LITERALS)
def test_blocked_ip_literals_are_refused_before_connecting(host: str, dest: Path) -> None:
    for url in (f"http://{host}/a.png", f"https://{host}:8443/a.png"):
        with pytest.raises(ForbiddenURL, match="address"):
            fetch_image(url, dest, FetchSettings(), MB, resolver=never_resolve, connector=never_connect)
    assert not dest.exists()


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["100.100.100.200"],
        ["::1"],
        ["::ffff:10.0.0.1"],
        ["fe80::1%1"],
        [str(PUBLIC), "192.168.1.10"],
        ["192.168.1.10", str(PUBLIC)],
        [str(PUBLIC6), "fd00::1", str(PUBLIC)],
        [str(PUBLIC), "0.0.0.0"],
    ],
)
def test_names_resolving_to_any_blocked_address_are_refused(answer: list[str], dest: Path) -> None:
    class Resolver:
        calls = 0

        def __call__(self, host: str, port: int) -> list[IPAddress]:
            self.calls += 1
            return [ipaddress.ip_address(a) for a in answer]

    resolver = Resolver()
    with pytest.raises(ForbiddenURL, match="resolves to"):
        fetch_image(
            "https://sneaky.example/a.png", dest, FetchSettings(), MB, resolver=resolver, connector=never_connect
        )
    assert resolver.calls == 1
    assert not dest.exists()


def fake_getaddrinfo(answers: dict[str, list[str]]) -> Callable[..., list[tuple[Any, ...]]]:
    """``socket.getaddrinfo`` from a table: the default resolver is tested without asking any DNS server."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos: list[tuple[Any, ...]] = []
        for address in answers[host]:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos

    return getaddrinfo


def test_the_default_resolver_returns_every_address_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", fake_getaddrinfo({"dual.example": ["93.184.216.34", "::1", "93.184.216.34"]})
    )
    assert system_resolver("dual.example", 443) == [PUBLIC, ipaddress.ip_address("::1")]


def test_localhost_through_the_default_resolver_is_refused(monkeypatch: pytest.MonkeyPatch, dest: Path) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({"localhost": ["::1", "127.0.0.1"]}))
    with pytest.raises(ForbiddenURL, match="loopback"):
        fetch_image("http://LOCALHOST:9/a.png", dest, FetchSettings(), MB, connector=never_connect)


def test_an_unresolvable_name_is_502(monkeypatch: pytest.MonkeyPatch, dest: Path) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({}))
    with pytest.raises(UpstreamError, match="resolved"):
        fetch_image("http://no-such-host.invalid/a.png", dest, FetchSettings(), MB, connector=never_connect)


def test_a_name_without_addresses_is_502(dest: Path) -> None:
    with pytest.raises(UpstreamError):
        fetch_image(
            "http://empty.example/", dest, FetchSettings(), MB, resolver=lambda h, p: [], connector=never_connect
        )


def test_a_slow_resolver_runs_into_the_deadline(dest: Path) -> None:
    release = threading.Event()

    def slow(host: str, port: int) -> list[IPAddress]:
        release.wait(5)
        return [PUBLIC]

    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout):
            fetch_image(
                "http://slow-dns.example/", dest, fast(total_timeout=0.3), MB, resolver=slow, connector=never_connect
            )
    finally:
        release.set()
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://images.example/a.png",
        "gopher://images.example:70/_x",
        "data:image/png;base64,iVBORw0KGgo=",
        "http://user:pass@images.example/a.png",
        "http://user@images.example/a.png",
    ],
)
def test_schemes_and_userinfo_are_refused_even_with_allow_private(url: str, dest: Path) -> None:
    for settings in (FetchSettings(), FetchSettings(allow_private=True)):
        with pytest.raises(ForbiddenURL):
            fetch_image(url, dest, settings, MB, resolver=never_resolve, connector=never_connect)
    assert not dest.exists()


@pytest.mark.parametrize("url", ["http:///a.png", "http://exa mple/", "http://images.example:0/", "not a url"])
def test_malformed_urls_are_400(url: str, dest: Path) -> None:
    with pytest.raises(InvalidRequest) as caught:
        fetch_image(url, dest, FetchSettings(), MB, resolver=never_resolve, connector=never_connect)
    assert caught.value.status_code == 400


# --- DNS rebinding -----------------------------------------------------------------------------------


def test_dns_rebinding_cannot_move_the_connection(upstream: Upstream, dest: Path, png: bytes) -> None:
    """A public answer to the check, loopback to any later lookup: the checked address is the one used."""
    net = FakeNet(upstream, {"rebind.example": [[str(PUBLIC)], ["127.0.0.1"]]})
    upstream.routes["/img.png"] = image(png)
    fetched = net.fetch(f"http://rebind.example:{upstream.port}/img.png", dest)
    assert fetched.format == "png"
    assert net.lookups == [("rebind.example", upstream.port)]
    assert net.connects == [(PUBLIC, upstream.port)]


def test_dns_rebinding_across_a_redirect_is_refused(upstream: Upstream, dest: Path) -> None:
    """Every hop resolves once, and its answer is checked again: the second (loopback) answer is refused."""
    net = FakeNet(upstream, {"rebind.example": [[str(PUBLIC)], ["127.0.0.1"]]})
    upstream.routes["/start"] = redirect(f"http://rebind.example:{upstream.port}/again")
    with pytest.raises(ForbiddenURL, match="loopback"):
        net.fetch(f"http://rebind.example:{upstream.port}/start", dest)
    assert net.lookups == [("rebind.example", upstream.port)] * 2
    assert net.connects == [(PUBLIC, upstream.port)]
    assert upstream.hits("/again") == 0


# --- redirects ---------------------------------------------------------------------------------------


def test_relative_redirects_are_followed(upstream: Upstream, net: FakeNet, dest: Path, png: bytes) -> None:
    upstream.routes["/a/start"] = redirect("next/step", 301)
    upstream.routes["/a/next/step"] = redirect("../../final.png?v=2", 307)
    upstream.routes["/final.png"] = redirect(f"//cdn.images.example:{upstream.port}/cdn.png", 308)
    upstream.routes["/cdn.png"] = image(png)
    fetched = net.fetch(f"http://images.example:{upstream.port}/a/start", dest)
    assert fetched.final_url == f"http://cdn.images.example:{upstream.port}/cdn.png"
    assert [path for path, _ in upstream.requests] == ["/a/start", "/a/next/step", "/final.png?v=2", "/cdn.png"]
    assert upstream.requests[-1][1]["Host"] == f"cdn.images.example:{upstream.port}"
    assert net.lookups == [("images.example", upstream.port)] * 3 + [("cdn.images.example", upstream.port)]
    assert net.connects[-1] == (PUBLIC6, upstream.port)


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/internal",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "http://0x7f.1:{port}/internal",
        "http://2130706433:{port}/internal",
        "http://10.0.0.1/",
    ],
)
def test_redirects_into_blocked_space_are_refused(upstream: Upstream, net: FakeNet, dest: Path, location: str) -> None:
    upstream.routes["/start"] = redirect(location.format(port=upstream.port))
    with pytest.raises(ForbiddenURL, match="address"):
        net.fetch(f"http://images.example:{upstream.port}/start", dest)
    assert net.connects == [(PUBLIC, upstream.port)]
    assert upstream.hits("/internal") == 0
    assert not dest.exists()


def test_a_redirect_to_a_name_resolving_to_a_blocked_address_is_refused(upstream: Upstream, dest: Path) -> None:
    net = FakeNet(upstream, {"images.example": [str(PUBLIC)], "internal.example": ["10.9.8.7"]})
    upstream.routes["/start"] = redirect("https://internal.example/secret")
    with pytest.raises(ForbiddenURL, match="private"):
        net.fetch(f"http://images.example:{upstream.port}/start", dest)
    assert net.connects == [(PUBLIC, upstream.port)]


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://images.example/x", "ftp://images.example/"])
def test_redirects_to_other_schemes_are_refused(upstream: Upstream, net: FakeNet, dest: Path, location: str) -> None:
    upstream.routes["/start"] = redirect(location)
    with pytest.raises(ForbiddenURL):
        net.fetch(f"http://images.example:{upstream.port}/start", dest)


def test_redirects_to_a_denied_host_are_refused(upstream: Upstream, net: FakeNet, dest: Path) -> None:
    upstream.routes["/start"] = redirect(f"http://cdn.images.example:{upstream.port}/x.png")
    with pytest.raises(ForbiddenURL):
        net.fetch(
            f"http://images.example:{upstream.port}/start", dest, FetchSettings(deny_hosts=["cdn.images.example"])
        )
    assert ("cdn.images.example", upstream.port) not in net.lookups


@pytest.mark.parametrize("max_redirects", [0, 1, 3])
def test_too_many_redirects_are_502(upstream: Upstream, net: FakeNet, dest: Path, max_redirects: int) -> None:
    upstream.routes["/loop"] = redirect("/loop")
    with pytest.raises(UpstreamError, match="redirected more than"):
        net.fetch(f"http://images.example:{upstream.port}/loop", dest, FetchSettings(max_redirects=max_redirects))
    assert upstream.hits("/loop") == max_redirects + 1
    assert not dest.exists()


def test_exactly_max_redirects_is_fine(upstream: Upstream, net: FakeNet, dest: Path, png: bytes) -> None:
    for i in range(3):
        upstream.routes[f"/r{i}"] = redirect(f"/r{i + 1}")
    upstream.routes["/r3"] = image(png)
    assert net.fetch(f"http://images.example:{upstream.port}/r0", dest, FetchSettings(max_redirects=3)).size == len(png)


@pytest.mark.parametrize("location", [None, "", "http://[::1", "http://exa mple/", "http://images.example:99999/"])
def test_broken_redirects_are_502(upstream: Upstream, net: FakeNet, dest: Path, location: str | None) -> None:
    upstream.routes["/start"] = redirect(location)
    with pytest.raises(UpstreamError, match="redirect"):
        net.fetch(f"http://images.example:{upstream.port}/start", dest)


# --- limits ------------------------------------------------------------------------------------------


def test_a_content_length_over_the_limit_is_refused_before_the_body(
    upstream: Upstream, net: FakeNet, dest: Path, png: bytes
) -> None:
    upstream.routes["/big.png"] = image(png)
    with pytest.raises(PayloadTooLarge, match=f"{len(png):,} bytes"):
        net.fetch(f"http://images.example:{upstream.port}/big.png", dest, max_bytes=len(png) - 1)
    assert not dest.exists()


def test_a_chunked_body_over_the_limit_is_cut_off(upstream: Upstream, net: FakeNet, dest: Path, png: bytes) -> None:
    upstream.routes["/big.png"] = chunked(png * 20, size=1024)
    with pytest.raises(PayloadTooLarge, match="larger than"):
        net.fetch(f"http://images.example:{upstream.port}/big.png", dest, max_bytes=len(png))
    assert not dest.exists()


def test_a_body_of_exactly_the_limit_is_fine(upstream: Upstream, net: FakeNet, dest: Path, png: bytes) -> None:
    upstream.routes["/c.png"] = chunked(png, size=1000)
    assert net.fetch(f"http://images.example:{upstream.port}/c.png", dest, max_bytes=len(png)).size == len(png)
    assert dest.read_bytes() == png


def test_the_byte_limit_holds_with_allow_private(upstream: Upstream, dest: Path, png: bytes) -> None:
    upstream.routes["/big.png"] = chunked(png * 4)
    with pytest.raises(PayloadTooLarge):
        fetch_image(local(upstream, "/big.png"), dest, FetchSettings(allow_private=True), len(png))
    assert not dest.exists()


# --- deadlines ---------------------------------------------------------------------------------------


def test_a_server_that_says_nothing_times_out(upstream: Upstream, net: FakeNet, dest: Path) -> None:
    upstream.routes["/silent"] = silent
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="sent nothing"):
        net.fetch(f"http://images.example:{upstream.port}/silent", dest, fast(total_timeout=5))
    assert time.monotonic() - started < 3
    assert not dest.exists()


def test_a_slow_drip_body_runs_into_the_total_deadline(
    upstream: Upstream, net: FakeNet, dest: Path, png: bytes
) -> None:
    upstream.routes["/drip.png"] = drip(png[:64], interval=0.05)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match=r"within 0\.6s"):
        net.fetch(f"http://images.example:{upstream.port}/drip.png", dest, fast())
    assert time.monotonic() - started < 3
    assert not dest.exists()


def test_slow_drip_headers_run_into_the_total_deadline(upstream: Upstream, net: FakeNet, dest: Path) -> None:
    upstream.routes["/drip"] = drip_headers(interval=0.05)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match=r"within 0\.6s"):
        net.fetch(f"http://images.example:{upstream.port}/drip", dest, fast())
    assert time.monotonic() - started < 3


def test_the_total_deadline_spans_redirects(upstream: Upstream, net: FakeNet, dest: Path, png: bytes) -> None:
    def slow_redirect(h: Handler) -> None:
        h.server.upstream.stop.wait(0.25)
        redirect("/slow")(h)

    upstream.routes["/slow"] = slow_redirect
    with pytest.raises(UpstreamTimeout):
        net.fetch(f"http://images.example:{upstream.port}/slow", dest, fast(max_redirects=10))
    assert 2 <= upstream.hits("/slow") <= 4


def test_a_connect_timeout_is_504(upstream: Upstream, net: FakeNet, dest: Path) -> None:
    asked: list[float] = []

    def blackhole(ip: IPAddress, port: int, timeout: float) -> socket.socket:
        asked.append(timeout)
        raise TimeoutError("timed out")

    with pytest.raises(UpstreamTimeout, match="connect"):
        fetch_image(
            f"http://images.example:{upstream.port}/", dest, fast(), MB, resolver=net.resolve, connector=blackhole
        )
    assert asked and all(0 < t <= 0.5 for t in asked)


def test_a_refused_connection_is_502(dest: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamError, match="could not connect"):
        fetch_image(f"http://127.0.0.1:{port}/", dest, FetchSettings(allow_private=True), MB)


def test_check_is_called_between_chunks_and_its_error_wins(
    upstream: Upstream, net: FakeNet, dest: Path, png: bytes
) -> None:
    upstream.routes["/c.png"] = chunked(png * 4, size=512)
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise Canceled("stopped")

    with pytest.raises(Canceled):
        net.fetch(f"http://images.example:{upstream.port}/c.png", dest, check=check)
    assert len(calls) == 3
    assert not dest.exists()


# --- upstream answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [204, 206, 400, 401, 403, 404, 410, 429, 500, 502, 503])
def test_answers_other_than_200_are_502(upstream: Upstream, net: FakeNet, dest: Path, code: int) -> None:
    upstream.routes["/x"] = status(code, b"" if code == 204 else b"<html>nope</html>")
    with pytest.raises(UpstreamError, match=f"HTTP {code}"):
        net.fetch(f"http://images.example:{upstream.port}/x", dest)
    assert not dest.exists()


def test_a_truncated_body_is_502(upstream: Upstream, net: FakeNet, dest: Path, png: bytes) -> None:
    def truncated(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(png) * 2))
        h.end_headers()
        h.wfile.write(png)
        h.close_connection = True

    upstream.routes["/t.png"] = truncated
    with pytest.raises(UpstreamError):
        net.fetch(f"http://images.example:{upstream.port}/t.png", dest)
    assert not dest.exists()


def test_garbage_instead_of_http_is_502(upstream: Upstream, net: FakeNet, dest: Path) -> None:
    def garbage(h: Handler) -> None:
        h.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        h.close_connection = True

    upstream.routes["/g"] = garbage
    with pytest.raises(UpstreamError):
        net.fetch(f"http://images.example:{upstream.port}/g", dest)


# --- host lists and allow_private --------------------------------------------------------------------


def test_denied_hosts_are_refused_without_a_lookup(upstream: Upstream, net: FakeNet, dest: Path) -> None:
    for deny in (["images.example"], [".example"], ["IMAGES.EXAMPLE."]):
        with pytest.raises(ForbiddenURL):
            net.fetch(f"http://images.example:{upstream.port}/a.png", dest, FetchSettings(deny_hosts=deny))
    assert net.lookups == []


def test_the_allow_list_limits_hosts(upstream: Upstream, net: FakeNet, dest: Path, png: bytes) -> None:
    upstream.routes["/a.png"] = image(png)
    with pytest.raises(ForbiddenURL, match="not on the list"):
        net.fetch(f"http://images.example:{upstream.port}/a.png", dest, FetchSettings(allow_hosts=["other.example"]))
    with pytest.raises(ForbiddenURL):  # no subdomains without the leading dot
        net.fetch(
            f"http://cdn.images.example:{upstream.port}/a.png", dest, FetchSettings(allow_hosts=["images.example"])
        )
    assert net.lookups == []
    for allow in (["images.example"], [".Images.Example."], [".example"]):
        net.fetch(f"http://IMAGES.example:{upstream.port}/a.png", dest, FetchSettings(allow_hosts=allow))


def test_allow_private_lifts_only_the_address_check(upstream: Upstream, dest: Path, png: bytes) -> None:
    upstream.routes["/a.png"] = image(png)
    with pytest.raises(ForbiddenURL):
        fetch_image(local(upstream, "/a.png"), dest, FetchSettings(), MB, connector=never_connect)
    assert fetch_image(local(upstream, "/a.png"), dest, FetchSettings(allow_private=True), MB).format == "png"
    for settings in (
        FetchSettings(allow_private=True, deny_hosts=["127.0.0.1"]),
        FetchSettings(allow_private=True, deny_hosts=["0x7f.1"]),
        FetchSettings(allow_private=True, allow_hosts=["images.example"]),
    ):
        with pytest.raises(ForbiddenURL):
            fetch_image(local(upstream, "/a.png"), dest, settings, MB, connector=never_connect)
    upstream.routes["/r"] = redirect("file:///etc/passwd")
    with pytest.raises(ForbiddenURL):
        fetch_image(local(upstream, "/r"), dest, FetchSettings(allow_private=True), MB)


# --- TLS ---------------------------------------------------------------------------------------------


class RecordingContext:
    """Stands in for an SSLContext: records the name TLS would verify, then fails verification."""

    def __init__(self) -> None:
        self.server_hostnames: list[str | None] = []

    def set_alpn_protocols(self, protocols: list[str]) -> None:
        pass

    def wrap_socket(self, sock: socket.socket, server_hostname: str | None = None, **kwargs: Any) -> ssl.SSLSocket:
        self.server_hostnames.append(server_hostname)
        sock.close()
        raise ssl.SSLCertVerificationError(1, "certificate verify failed: Hostname mismatch")


def test_tls_verifies_the_original_host_name_not_the_pinned_address(
    upstream: Upstream, net: FakeNet, dest: Path
) -> None:
    context = RecordingContext()
    with pytest.raises(UpstreamError, match="certificate"):
        net.fetch(f"https://images.example:{upstream.port}/a.png", dest, ssl_context=cast(ssl.SSLContext, context))
    assert context.server_hostnames == ["images.example"]
    assert net.connects == [(PUBLIC, upstream.port)]


def test_the_default_tls_context_verifies_certificates_and_names() -> None:
    from enhanceit.security.outbound import default_ssl_context

    context = default_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@dataclass(frozen=True)
class Pki:
    ca_pem: bytes
    cert_file: Path
    key_file: Path


def make_pki(tmp_path: Path, name: str) -> Pki:
    """A throwaway CA and a server certificate for ``name`` (and nothing else, not 127.0.0.1)."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime as dt

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EnhanceIt test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[Upstream, Pki]]:
    pki = make_pki(tmp_path, "images.example")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pki.cert_file, pki.key_file)
    for upstream in serve(Upstream(), tls=server_context):
        yield upstream, pki


def test_real_tls_to_a_pinned_address_verifies_the_host_name(
    tls_upstream: tuple[Upstream, Pki], dest: Path, png: bytes
) -> None:
    upstream, pki = tls_upstream
    upstream.routes["/a.png"] = image(png)
    client = ssl.create_default_context(cadata=pki.ca_pem.decode())
    net = FakeNet(upstream, {"images.example": [str(PUBLIC)], "other.example": [str(PUBLIC)]})
    fetched = net.fetch(f"https://images.example:{upstream.port}/a.png", dest, ssl_context=client)
    assert (fetched.format, fetched.final_url) == ("png", f"https://images.example:{upstream.port}/a.png")
    # The same server and address under a name its certificate does not carry: refused.
    with pytest.raises(UpstreamError, match="certificate"):
        net.fetch(f"https://other.example:{upstream.port}/a.png", dest, ssl_context=client)
    # And a certificate from a CA we do not trust: refused with the default roots.
    with pytest.raises(UpstreamError, match="certificate"):
        net.fetch(f"https://images.example:{upstream.port}/a.png", dest)
    assert upstream.hits("/a.png") == 1
    assert not dest.exists()


def test_a_resolver_that_says_try_again_is_a_transient_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    def busy_dns(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", busy_dns)
    with pytest.raises(UpstreamError) as caught:
        system_resolver("busy.example", 443)
    assert caught.value.retryable  # waited out until the job's deadline


def test_a_name_that_does_not_exist_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({}))
    with pytest.raises(UpstreamError) as caught:
        system_resolver("no-such-host.invalid", 443)
    assert not caught.value.retryable  # bad input: fails at once
