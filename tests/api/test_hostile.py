"""Hostile bodies: deep JSON, wide JSON, a thousand form fields. Each gets its 4xx, cheaply.

Memory is measured with tracemalloc (the server runs in a thread of this process): parsing a body of ``{}``
items costs some 30 times its size, so a bounded reader is what keeps these small.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

import httpx

from tests.api.test_errors import problem

MIB = 1 << 20


def peak_mib(send: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    tracemalloc.start()
    try:
        response = send()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak / MIB


def json_post(client: httpx.Client, body: bytes | Iterator[bytes]) -> httpx.Response:
    return client.post("/v1/enhance", content=body, headers={"Content-Type": "application/json"})


def test_json_nested_deeper_than_python_recurses_is_400_not_500(client: httpx.Client) -> None:
    """Defect 2: 100 000 levels gave a RecursionError, answered 500."""
    for deep in (b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        assert len(deep) < 64 * 1024
        body = problem(json_post(client, deep), 400, "invalid-request")
        assert "deep" in str(body["detail"])


def test_a_json_body_past_64_kib_is_413_while_reading(client: httpx.Client) -> None:
    """Defect 3: JSON bodies could be as large as uploads; a 50 MB one of '{}' items cost over 1 GB."""

    def wide() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        yield b'{"image_url": "http://x.example/a.png", "pad": ['
        for _ in range(64):
            yield b"{}," * 10_000
        yield b"{}]}"

    response, peak = peak_mib(lambda: json_post(client, wide()))
    print(f"\nwide JSON (1.9 MB, streamed): {response.status_code}, peak {peak:.2f} MiB")
    problem(response, 413, "payload-too-large")
    assert peak < 8, f"{peak:.1f} MiB"


def test_a_json_body_whose_length_says_too_large_is_413_before_reading(client: httpx.Client) -> None:
    body = b'{"image_url": "http://x.example/a.png", "pad": "' + b"x" * 100_000 + b'"}'
    problem(json_post(client, body), 413, "payload-too-large")


def test_a_thousand_form_fields_is_400_cheaply(client: httpx.Client) -> None:
    fields = {f"f{i}": "x" * 100 for i in range(1000)}
    files = {"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")}
    response, peak = peak_mib(lambda: client.post("/v1/enhance", data=fields, files=files))
    print(f"\n1000 form fields: {response.status_code}, peak {peak:.2f} MiB")
    body = problem(response, 400, "http-error")
    assert "fields" in str(body["detail"]).lower()
    assert peak < 8, f"{peak:.1f} MiB"
