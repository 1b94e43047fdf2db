"""Every error status as RFC 7807 problem+json, and nothing left behind by a failure."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from enhanceit.bootstrap import Services
from enhanceit.config import Settings
from tests.api.conftest import make_settings, png_bytes, start
from tests.api.servers import HttpStub, LiveServer, send
from tests.helpers import photo
from tests.imaging.test_decode import png_bomb


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and str(body["type"]).endswith("/" + slug)
    assert body["request_id"] == r.headers["x-request-id"]
    assert body["detail"]
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "body",
    [
        {"image_url": "http://x.example/a.png", "noise": 7},
        {"image_url": "http://x.example/a.png", "scale": 2, "width": 100},
        {"image_url": "http://x.example/a.png", "tta": 3},
        {"image_url": "http://x.example/a.png", "format": "bmp"},
        {"image_url": "http://x.example/a.png", "unknown": 1},
        {"image_url": "http://x.example/a.png", "model": "waifu2x-nope"},
        {"image_url": "http://x.example/a.png", "model": "realesrgan-x4plus", "noise": 2},
        {"scale": 2},
        [1, 2],
    ],
)
def test_bad_parameters_are_400(client: httpx.Client, body: object) -> None:
    slug = (
        "unknown-model"
        if "waifu2x-nope" in str(body)
        else "unsupported-operation"
        if "realesrgan" in str(body)
        else "invalid-request"
    )
    problem(client.post("/v1/enhance", json=body), 400, slug)


def test_bad_json_and_content_types(client: httpx.Client) -> None:
    problem(
        client.post("/v1/enhance", content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "invalid-request",
    )
    problem(client.post("/v1/enhance", content=b"x", headers={"content-type": "text/plain"}), 415, "unsupported-format")
    problem(client.post("/v1/enhance", files={"other": ("a", b"x")}), 400, "invalid-request")


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/a.png", "http://user:pw@example.com/a.png", "gopher://x/"],
)
def test_urls_not_allowed_are_403(client: httpx.Client, url: str) -> None:
    problem(client.post("/v1/enhance", json={"image_url": url}), 403, "forbidden-url")


def test_private_addresses_are_403_unless_allowed(tmp_path: Path, images: HttpStub) -> None:
    strict = make_settings(tmp_path, fetch={"allow_private": False})
    server, _ = start(strict)
    with server, httpx.Client(base_url=server.url) as c:
        for url in (
            "http://127.0.0.1:1/a.png",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://2130706433/",
            "http://10.0.0.1/",
        ):
            problem(c.post("/v1/enhance", json={"image_url": url}), 403, "forbidden-url")
        problem(
            c.post(
                "/v1/enhance", json={"image_url": "https://example.com/a.png", "webhook_url": "http://192.168.0.1/hook"}
            ),
            403,
            "forbidden-url",
        )
    assert images.received == []


def test_upload_too_large_is_413_while_streaming(tmp_path: Path) -> None:
    small = make_settings(tmp_path, limits={"max_upload_bytes": 20_000})
    server, _ = start(small)
    with server, httpx.Client(base_url=server.url) as c:
        big = png_bytes() + b"\0" * 100_000
        head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'

        def chunks():  # no Content-Length: the limit must hold while the body streams in
            yield head
            for i in range(0, len(big), 8192):
                yield big[i : i + 8192]
            yield b"\r\n--xyz--\r\n"

        r = c.post("/v1/enhance", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"})
        problem(r, 413, "payload-too-large")
        files = {"file": ("big.png", big, "image/png")}
        problem(c.post("/v1/enhance", files=files), 413, "payload-too-large")
    assert not [p for p in (small.data_dir / "results").rglob("*") if p.is_file()]


def test_not_an_image_is_415(client: httpx.Client, images: HttpStub) -> None:
    problem(
        client.post("/v1/enhance", files={"file": ("a.png", b"<html>hi</html>", "image/png")}),
        415,
        "unsupported-format",
    )
    images.routes["/page"] = send(200, b"<!doctype html><p>not an image</p>" * 3, "image/png")
    body = problem(client.post("/v1/enhance", json={"image_url": images.url("/page")}), 415, "unsupported-format")
    assert body["job"]["status"] == "failed"  # type: ignore[index]


def test_a_decompression_bomb_is_422_before_decoding(client: httpx.Client) -> None:
    bomb = png_bomb(60_000, 60_000)
    problem(client.post("/v1/enhance", files={"file": ("bomb.png", bomb, "image/png")}), 422, "too-many-pixels")
    corrupt = png_bytes()[:200]
    problem(client.post("/v1/enhance", files={"file": ("cut.png", corrupt, "image/png")}), 422, "undecodable-image")


def test_too_much_output_is_422(client: httpx.Client) -> None:
    # 512² x 16² x TTA 8 counts 536,870,912 pixels, over the 134,217,728 limit, though the 8192² output is not
    whole = png_bytes(photo("astronaut"))
    r = client.post("/v1/enhance", files={"file": ("a.png", whole, "image/png")}, data={"scale": "16", "tta": "8"})
    assert "TTA 8" in str(problem(r, 422, "too-many-pixels")["detail"])
    big = client.post(
        "/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"width": "30000", "format": "webp"}
    )
    problem(big, 422, "too-many-pixels")


def test_upstream_failures_are_502_and_504(tmp_path: Path, images: HttpStub) -> None:
    quick = make_settings(tmp_path, fetch={"read_timeout": 0.3, "total_timeout": 0.6})
    server, _ = start(quick)
    images.routes["/500"] = send(500, b"oops")
    images.routes["/slow"] = send(200, png_bytes(), "image/png", delay=2)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        problem(c.post("/v1/enhance", json={"image_url": images.url("/500")}), 502, "upstream-error")
        problem(c.post("/v1/enhance", json={"image_url": images.url("/missing")}), 502, "upstream-error")
        problem(c.post("/v1/enhance", json={"image_url": images.url("/slow")}), 504, "upstream-timeout")


def test_a_full_queue_is_429_with_retry_after(tmp_path: Path, images: HttpStub) -> None:
    from enhanceit.engine.fake import fake_engine

    tight = make_settings(tmp_path, jobs={"max_queue": 0, "max_concurrent": 1})
    server, _ = start(tight, engine=fake_engine(delay=0.3))
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        first = c.post(
            "/v1/enhance", json={"image_url": images.url("/a.png"), "tile": 16}, headers={"Prefer": "respond-async"}
        )
        assert first.status_code == 202
        busy = c.post(
            "/v1/enhance", json={"image_url": images.url("/a.png"), "scale": 3}, headers={"Prefer": "respond-async"}
        )
        problem(busy, 429, "busy")
        assert int(busy.headers["retry-after"]) >= 1


def test_unknown_jobs_and_routes_are_404(client: httpx.Client) -> None:
    problem(client.get("/v1/jobs/job_000"), 404, "not-found")
    problem(client.post("/v1/jobs/job_000/cancel"), 404, "not-found")
    problem(client.get("/nowhere"), 404, "not-found")
    problem(client.delete("/v1/enhance"), 405, "method-not-allowed")


def test_bad_input_leaves_no_object_behind(live: tuple[LiveServer, Services], client: httpx.Client) -> None:
    services = live[1]
    cut = png_bytes()[:300]  # the header is fine, the pixels end early: refused when strict
    broken = client.post("/v1/enhance", files={"file": ("cut.png", cut, "image/png")}, data={"strict": "true"})
    problem(broken, 422, "undecodable-image")
    client.post("/v1/enhance", files={"file": ("a.txt", b"hello", "text/plain")})
    results = services.settings.data_dir / "results"
    assert not [p for p in results.rglob("*") if p.is_file()]  # no result, no leftover upload


def test_settings_fixture_is_isolated(settings: Settings) -> None:
    assert settings.fetch.allow_private and "pytest" in str(settings.data_dir)


def test_an_unexpected_crash_is_a_500_problem_with_the_request_id(tmp_path: Path) -> None:
    from fastapi import APIRouter

    server, _ = start(make_settings(tmp_path))
    crashing = APIRouter()

    @crashing.get("/crash")
    def crash() -> None:
        raise RuntimeError("a bug")

    server.app.include_router(crashing)
    with server, httpx.Client(base_url=server.url) as c:
        body = problem(c.get("/crash", headers={"X-Request-ID": "rid-1"}), 500, "internal-error")
        assert body["request_id"] == "rid-1" and "a bug" not in str(body)


def png_with_a_broken_ihdr_checksum() -> bytes:
    data = bytearray(png_bytes())
    data[29] ^= 0xFF  # the IHDR chunk's CRC (bytes 29-32)
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "data"),
    [("x.tif", b"II*\0junkjunkjunk"), ("x.png", b"\x89PNG\r\n\x1a\n"), ("y.png", None)],
    ids=["tiff-junk", "png-signature-only", "png-broken-ihdr-crc"],
)
def test_no_server_path_in_a_problem(client: httpx.Client, tmp_path: Path, name: str, data: bytes | None) -> None:
    """Whatever library wrote the message (libvips, Pillow's APNG probe), the client never sees where the
    server keeps its files: not the upload's scratch path, not the data folder."""
    body = data if data is not None else png_with_a_broken_ihdr_checksum()
    r = client.post("/v1/enhance", files={"file": (name, body, "application/octet-stream")})
    assert 400 <= r.status_code < 500, r.text
    detail = str(r.json()["detail"])
    assert "/tmp" not in detail and "enhanceit-" not in detail and str(tmp_path) not in detail, detail
