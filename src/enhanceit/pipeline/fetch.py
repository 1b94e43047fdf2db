"""Downloading a user-given ``image_url`` without letting the URL reach anything internal (SSRF).

Each hop (the URL, then every redirect, at most ``max_redirects``) passes the service's one outbound policy,
:mod:`enhanceit.security.outbound`: URL parsed and normalised, host lists, the name resolved once and every
address checked, and a connection pinned to one of those very addresses (so DNS rebinding cannot move it).

Redirects are followed here, not by the HTTP client, so each one is checked as above. The body is
streamed into ``dest``: the byte limit is enforced as bytes arrive (a Content-Length over the limit is
refused before any), the format is sniffed from the first bytes (never trusted from Content-Type) and a
body that is no image we accept is dropped at once, and a total deadline bounds the whole download,
redirects and slow-dripping servers included.

Each hop is one request through :class:`~enhanceit.security.outbound.OutboundClient`, which also turns
connection, TLS and HTTP failures into EnhanceIt's errors. Only scheme and host are ever logged: paths and
queries may carry tokens.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from enhanceit.config import FetchSettings
from enhanceit.errors import (
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedFormat,
    UpstreamError,
)
from enhanceit.imaging.formats import SNIFF_BYTES, InputFormat, accept_header, sniff
from enhanceit.security.outbound import (
    Connector,
    Deadline,
    OutboundClient,
    Resolver,
    Response,
    Target,
    Timeouts,
    parse_url,
)

logger = logging.getLogger(__name__)

REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Every format read, those written first (see :func:`enhanceit.imaging.formats.accept_header`).
ACCEPT = accept_header()


@dataclass(frozen=True)
class Fetched:
    """A downloaded image, its bytes in ``path``."""

    path: Path
    size: int
    #: Sniffed from the bytes.
    format: InputFormat
    #: The Content-Type the server sent, for information only (the format above is what counts).
    content_type: str | None
    #: The URL the bytes came from, after redirects. It may carry a query with tokens: do not log it.
    final_url: str


def fetch_image(
    url: str,
    dest: Path,
    settings: FetchSettings,
    max_bytes: int,
    *,
    resolver: Resolver | None = None,
    connector: Connector | None = None,
    check: Callable[[], None] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Fetched:
    """Download the image at ``url`` into ``dest`` (a file the caller owns), or raise and leave no ``dest``.

    ``check`` is called before each hop and between chunks (cancellation, the caller's own deadlines);
    what it raises propagates. ``resolver``, ``connector`` and ``ssl_context`` replace DNS, the TCP
    connection and the trusted certificates (tests). Raises :class:`ForbiddenURL` (403) for a URL or
    address the policy refuses, :class:`InvalidRequest` (400) for a malformed URL,
    :class:`PayloadTooLarge` (413), :class:`UnsupportedFormat` (415), :class:`UpstreamError` (502) and
    :class:`UpstreamTimeout` (504).
    """
    client = OutboundClient(settings, resolver=resolver, connector=connector, ssl_context=ssl_context)
    deadline = Deadline(settings.total_timeout)
    timeouts = Timeouts.of(settings)
    try:
        target = parse_url(url)
        for hop in range(settings.max_redirects + 1):
            if check is not None:
                check()
            logger.info("fetching an image from %s", target.origin)
            with client.request("GET", target, deadline, timeouts, headers=_headers()) as response:
                if response.status not in REDIRECTS:
                    return _receive(response, target, dest, max_bytes, check)
                if hop == settings.max_redirects:
                    raise UpstreamError(f"{target.host} redirected more than {settings.max_redirects} times")
                target = _redirect(target, response)
        raise AssertionError("unreachable")  # pragma: no cover
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _redirect(target: Target, response: Response) -> Target:
    """The next hop; a redirect the server got wrong is the server's fault (502), one we refuse is 403."""
    location = response.header("location")
    if not location:
        raise UpstreamError(f"{target.host} sent a redirect without a location")
    try:
        following = parse_url(urljoin(target.url, location))
    except InvalidRequest as exc:
        raise UpstreamError(f"{target.host} sent a broken redirect: {exc.detail}") from None
    except ValueError:  # urljoin's own parsing
        raise UpstreamError(f"{target.host} sent a broken redirect") from None
    logger.info("%s redirects (%d) to %s", target.origin, response.status, following.origin)
    return following


def _receive(
    response: Response, target: Target, dest: Path, max_bytes: int, check: Callable[[], None] | None
) -> Fetched:
    if response.status != 200:
        raise UpstreamError(f"{target.host} answered HTTP {response.status}")
    length = response.header("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLarge(f"the image is {int(length):,} bytes; the limit is {max_bytes:,}")
    size = 0
    head = b""
    fmt: InputFormat | None = None
    with dest.open("wb") as out:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"the image is larger than the limit of {max_bytes:,} bytes")
            if fmt is None and len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) == SNIFF_BYTES:
                    fmt = _sniffed(head)
            out.write(chunk)
            if check is not None:
                check()
    return Fetched(dest, size, fmt or _sniffed(head), response.header("content-type"), target.url)


def _sniffed(head: bytes) -> InputFormat:
    fmt = sniff(head)
    if fmt is None:
        raise UnsupportedFormat("the URL did not return an image in a supported format")
    return fmt


def _headers() -> list[tuple[bytes, bytes]]:
    """Besides the client's Host and User-Agent."""
    return [
        (b"Accept", ACCEPT),
        # Compressed bodies would not sniff as images, and the byte limit counts what is transferred.
        (b"Accept-Encoding", b"identity"),
        (b"Connection", b"close"),
    ]
