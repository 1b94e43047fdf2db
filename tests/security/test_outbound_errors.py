"""The outbound client's one translation of foreign errors, and the same translation seen by downloads and webhooks.

The table is checked error by error; the failures that are cheap to cause for real (a closed port, a server that
never answers, TLS spoken to a plain HTTP server) are caused on 127.0.0.1, and each is sent three ways: through
the client itself, as an image download and as a webhook. All three must end in the same error.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpcore
import pytest

from enhanceit.config import FetchSettings
from enhanceit.errors import EnhanceItError, ForbiddenURL, UpstreamError, UpstreamTimeout
from enhanceit.jobs.webhooks import WebhookSender
from enhanceit.pipeline.fetch import fetch_image
from enhanceit.security.outbound import Deadline, OutboundClient, Timeouts, map_httpcore_errors, parse_url

#: Every timeout of a real failure below: connect, read and the total deadline alike, so that the three ways
#: of sending name the same limit in their messages.
SECONDS = 0.3
LOOPBACK = FetchSettings(allow_private=True, connect_timeout=SECONDS, read_timeout=SECONDS, total_timeout=SECONDS)


def caused_by(error: httpcore.ConnectError, cause: BaseException) -> httpcore.ConnectError:
    error.__cause__ = cause
    return error


TABLE = [
    (httpcore.ConnectTimeout("t"), UpstreamTimeout, "could not connect to images.example within 2s"),
    (httpcore.ReadTimeout("t"), UpstreamTimeout, "images.example sent nothing for 3s"),
    (httpcore.WriteTimeout("t"), UpstreamTimeout, "images.example took nothing of the request for 3s"),
    (httpcore.PoolTimeout("t"), UpstreamTimeout, "images.example sent nothing for 3s"),
    (
        caused_by(httpcore.ConnectError("c"), ssl.SSLCertVerificationError(1, "certificate verify failed")),
        UpstreamError,
        "the TLS certificate of images.example is not valid",
    ),
    (caused_by(httpcore.ConnectError("c"), ssl.SSLError(1, "wrong version number")), UpstreamError, "TLS with"),
    (caused_by(httpcore.ConnectError("c"), ConnectionRefusedError()), UpstreamError, "could not connect to"),
    (httpcore.ReadError("r"), UpstreamError, "broke off the connection"),
    (httpcore.WriteError("w"), UpstreamError, "broke off the connection"),
    (httpcore.RemoteProtocolError("p"), UpstreamError, "invalid HTTP"),
    (httpcore.LocalProtocolError("p"), UpstreamError, "invalid HTTP"),
    (httpcore.UnsupportedProtocol("u"), ForbiddenURL, "only http and https"),
]


@pytest.mark.parametrize(("foreign", "ours", "message"), TABLE, ids=lambda v: type(v).__name__)
def test_each_httpcore_error_becomes_ours(foreign: Exception, ours: type[EnhanceItError], message: str) -> None:
    with (
        pytest.raises(ours, match=message) as caught,
        map_httpcore_errors("images.example", Deadline(60), Timeouts(2, 3)),
    ):
        raise foreign
    assert type(caught.value) is ours and caught.value.__cause__ is foreign


@pytest.mark.parametrize("foreign", [httpcore.ConnectTimeout, httpcore.ReadTimeout, httpcore.WriteTimeout])
def test_any_timeout_past_the_deadline_names_the_deadline(foreign: type[Exception]) -> None:
    now = [0.0]
    deadline = Deadline(0.5, clock=lambda: now[0])
    now[0] = 1.0
    past = r"did not finish answering within 0\.5s"
    with pytest.raises(UpstreamTimeout, match=past), map_httpcore_errors("images.example", deadline, Timeouts(2, 3)):
        raise foreign("t")


def test_errors_that_are_not_httpcore_s_pass_untouched() -> None:
    for error in (UpstreamError("ours already"), KeyError("a bug"), ssl.SSLError(1, "not wrapped")):
        with pytest.raises(type(error)) as caught, map_httpcore_errors("h", Deadline(60), Timeouts(2, 3)):
            raise error
        assert caught.value is error


# --- real failures on 127.0.0.1, sent three ways ---------------------------------------------------------


def closed_port() -> Iterator[str]:
    """Bound but not listening: refused, and held so that no other process can start listening there meanwhile."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/"


def never_answers() -> Iterator[str]:
    """Listening, so the connection is made (by the kernel), but nothing ever reads the request or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"


def plain_http() -> Iterator[str]:
    """An HTTP server that answers whatever it gets, a TLS hello included, with a plain HTTP error."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                conn.recv(4096)  # the hello read first: closing on unread bytes would reset the connection
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                conn.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join()
        listener.close()


FAILURES: dict[str, tuple[Callable[[], Iterator[str]], type[EnhanceItError], str]] = {
    "closed port": (closed_port, UpstreamError, "could not connect to 127.0.0.1"),
    "never answers": (never_answers, UpstreamTimeout, r"127\.0\.0\.1 did not finish answering within 0\.3s"),
    "TLS to plain HTTP": (plain_http, UpstreamError, "TLS with 127.0.0.1 failed"),
}


def through_the_client(url: str, tmp_path: Path) -> None:
    client = OutboundClient(LOOPBACK)
    with client.request("GET", parse_url(url), Deadline(SECONDS), Timeouts(SECONDS, SECONDS)):
        raise AssertionError("answered")


def as_a_download(url: str, tmp_path: Path) -> None:
    fetch_image(url, tmp_path / "image", LOOPBACK, 1024)


def as_a_webhook(url: str, tmp_path: Path) -> None:
    sender = WebhookSender(b"secret", LOOPBACK, render=lambda job: {}, timeout=SECONDS)
    try:
        sender.post(url, "job_1.succeeded", b"{}")
    finally:
        sender.close()


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_real_failure_is_the_same_error_however_it_is_sent(failure: str, tmp_path: Path) -> None:
    server, ours, message = FAILURES[failure]
    seen = []
    for url in server():
        for send in (through_the_client, as_a_download, as_a_webhook):
            with pytest.raises(EnhanceItError) as caught:
                send(url, tmp_path)
            seen.append((type(caught.value), caught.value.detail))
    assert seen == [seen[0]] * 3, f"{failure}: {seen}"
    assert seen[0][0] is ours and re.search(message, seen[0][1])


def test_a_webhook_makes_its_own_meaning_of_the_same_errors(tmp_path: Path) -> None:
    """The 502 a download answers its user with is, for a webhook, an attempt to make again (None: the round
    gave up, the reaper sends it later); a URL the policy refuses is refused for good (False)."""
    sender = WebhookSender(b"secret", LOOPBACK, render=lambda job: {}, attempts=2, first_delay=0.01, timeout=SECONDS)
    strict = WebhookSender(b"secret", FetchSettings(), render=lambda job: {}, attempts=2, timeout=SECONDS)
    try:
        for url in closed_port():
            assert sender.deliver(url, "job_1.succeeded", b"{}") is None
            assert strict.deliver(url, "job_1.succeeded", b"{}") is False  # 127.0.0.1 without allow_private
    finally:
        sender.close()
        strict.close()
