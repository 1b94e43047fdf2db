"""Signed processing URLs (``GET /v1/u/{signature}/{options}/{source}``) through a real server, signed as
``enhanceit url sign`` signs them, the source on a real HTTP server."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from enhanceit.api.routes.urls import job_id, window_seconds
from enhanceit.cli.url import sign
from enhanceit.config import Settings
from enhanceit.engine.fake import fake_engine
from enhanceit.options import EnhanceOptions
from enhanceit.signedurls import encode_source
from tests.api.conftest import decode, make_settings, png_bytes, start
from tests.api.servers import HttpStub, send
from tests.helpers import photo

KEY = "first-key-0123456789abcdef"
OTHER = "second-key-0123456789abcdef"
PIXELS = photo("astronaut", 32)


def with_key(tmp_path: Path, key: str = KEY, **overrides: Any) -> Settings:
    return make_settings(tmp_path, urls={"key": key}, **overrides)


@pytest.fixture
def image(images: HttpStub) -> str:
    images.routes["/a.png"] = send(200, png_bytes(PIXELS), "image/png")
    return images.url("/a.png")


def fetches(images: HttpStub, path: str = "/a.png") -> int:
    return sum(1 for r in images.received if r["path"] == path)


def tamper(path: str, index: int) -> str:
    """``path`` with one character of its signature changed."""
    parts = path.split("/")
    sig = parts[3]
    parts[3] = sig[:index] + ("A" if sig[index] != "A" else "B") + sig[index + 1 :]
    return "/".join(parts)


def test_a_signed_url_serves_the_image_and_then_answers_from_the_stored_result(
    tmp_path: Path, images: HttpStub, image: str
) -> None:
    settings = with_key(tmp_path)
    path = sign(settings, image, {"scale": 2, "format": "png"})
    assert path.startswith("/v1/u/") and path.endswith("/s:2/f:png/" + encode_source(image))
    server, services = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        first = c.get(path)  # no Authorization: the signature stands in for an API key
        assert first.status_code == 200, first.text
        assert first.headers["content-type"] == "image/png"
        np.testing.assert_array_equal(decode(first.content), PIXELS.repeat(2, axis=0).repeat(2, axis=1))
        etag = first.headers["etag"]
        assert etag.startswith('"') and len(etag) > 64
        cache = first.headers["cache-control"]
        assert cache.startswith("public, max-age=") and 0 < int(cache.split("=")[1]) <= 86_400

        again = c.get(path)
        assert again.status_code == 200 and again.content == first.content and again.headers["etag"] == etag
        assert fetches(images) == 1  # no second download
        # and no second job: the next generation of this window's job was never made
        options = EnhanceOptions(scale=2, format="png")
        window = int(time.time() // window_seconds(services))
        assert services.store.get(job_id(image, options, window, 0)) is not None
        assert services.store.get(job_id(image, options, window, 1)) is None

        for tag in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            cached = c.get(path, headers={"If-None-Match": tag})
            assert cached.status_code == 304 and cached.content == b""
            assert cached.headers["etag"] == etag and cached.headers["cache-control"] == cache
        assert c.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_same_options_written_otherwise_find_the_same_job(tmp_path: Path, images: HttpStub, image: str) -> None:
    settings = with_key(tmp_path)
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get(sign(settings, image, {"scale": 2})).status_code == 200
        # long names and the default format said out loud: the same options, so the same job
        rest = f"/scale:2.0/n:auto/{encode_source(image)}"
        keys_path = sign(settings, image, {"scale": 2.0, "noise": "auto"})
        assert keys_path.endswith(f"/s:2/n:auto/{encode_source(image)}")
        from enhanceit.security.urlsigning import UrlKeys

        long_path = f"/v1/u/{UrlKeys.from_settings(settings.urls).sign(rest)}{rest}"
        assert c.get(long_path).status_code == 200
        assert c.get(keys_path).status_code == 200
    assert fetches(images) == 1


def test_a_changed_option_or_signature_is_403(tmp_path: Path, images: HttpStub, image: str) -> None:
    settings = with_key(tmp_path)
    path = sign(settings, image, {"scale": 2})
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        for bad in (
            path.replace("/s:2/", "/s:3/"),  # another option
            path.replace("/s:2/", "/s:2/t:8/"),  # one more
            path.replace(encode_source(image), encode_source(image + "?x")),  # another source
            tamper(path, 0),
            tamper(path, 20),
            "/".join([*path.split("/")[:3], "_", *path.split("/")[4:]]),  # unsigned: not allowed here
        ):
            r = c.get(bad)
            assert r.status_code == 403, bad
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"].endswith("/forbidden-url")
    assert fetches(images) == 0


def test_without_a_key_the_route_is_404(tmp_path: Path, images: HttpStub, image: str) -> None:
    signed = sign(with_key(tmp_path / "signer"), image, {"scale": 2})
    server, _ = start(make_settings(tmp_path))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        for path in (signed, f"/v1/u/_/s:2/{encode_source(image)}"):
            r = c.get(path)
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert fetches(images) == 0


def test_unsigned_urls_only_when_the_operator_allows_them(tmp_path: Path, images: HttpStub, image: str) -> None:
    server, _ = start(make_settings(tmp_path, urls={"allow_unsigned": True}))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get(f"/v1/u/_/s:2/{encode_source(image)}")
        assert r.status_code == 200 and decode(r.content).shape == (64, 64, 3)
        assert c.get(f"/v1/u/forged/s:2/{encode_source(image)}").status_code == 403


def test_keys_rotate_the_first_signs_and_every_one_verifies(tmp_path: Path, images: HttpStub, image: str) -> None:
    old = sign(with_key(tmp_path / "a", key=OTHER), image, {"scale": 2})
    new = sign(with_key(tmp_path / "b", key=f"{KEY},{OTHER}"), image, {"scale": 3})
    assert new == sign(with_key(tmp_path / "c", key=KEY), image, {"scale": 3})  # the first key signs
    server, _ = start(with_key(tmp_path, key=f"{KEY},{OTHER}"))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get(old).status_code == 200  # signed with the second key, still accepted
        assert c.get(new).status_code == 200
    server, _ = start(with_key(tmp_path / "later", key=KEY))  # the old key dropped
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get(old).status_code == 403
        assert c.get(new).status_code == 200


def test_a_truncated_signature_as_imgproxy_makes_it(tmp_path: Path, images: HttpStub, image: str) -> None:
    import hashlib
    import hmac

    settings = make_settings(tmp_path, urls={"key": KEY, "signature_size": 8})
    path = sign(settings, image, {"scale": 2})
    rest = path.split("/", 4)[4]
    mac = hmac.new(KEY.encode(), ("/" + rest).encode(), hashlib.sha256).digest()[:8]
    assert path.split("/")[3] == base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get(path).status_code == 200


def test_presets_only_refuses_everything_but_a_preset(tmp_path: Path, images: HttpStub, image: str) -> None:
    presets = {"only": True, "thumb2x": {"model": "photo", "scale": 2, "format": "webp"}}
    settings = with_key(tmp_path, presets=presets)
    server, _ = start(settings)
    signer = with_key(tmp_path / "signer")  # a signer without presets-only, to make the URLs refused
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        for refused in (
            sign(signer, image, {"scale": 2}),
            sign(signer, image, {}),
            sign(with_key(tmp_path / "s2", presets={"thumb2x": {"scale": 2}}), image, {"tta": 8}, ["thumb2x"]),
        ):
            r = c.get(refused)
            assert r.status_code == 403, refused
            assert "only presets" in r.json()["detail"]
        r = c.get(sign(settings, image, {}, ["thumb2x"]))
        assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
        assert decode(r.content).shape[:2] == (64, 64)
        unknown = c.get(sign(with_key(tmp_path / "s3", presets={"nope": {}}), image, {}, ["nope"]))
        assert unknown.status_code == 400 and "unknown preset 'nope'" in unknown.json()["detail"]
    assert fetches(images) == 1


def test_a_preset_in_a_url_and_pairs_that_override_it(tmp_path: Path, images: HttpStub, image: str) -> None:
    settings = with_key(tmp_path, presets={"big": {"scale": 4, "format": "webp"}})
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get(sign(settings, image, {"width": 48, "format": "png"}, ["big"]))
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert decode(r.content).shape[:2] == (48, 48)  # the URL's size replaced the preset's


def test_a_slow_job_answers_202_then_the_image(tmp_path: Path, images: HttpStub, image: str) -> None:
    settings = with_key(tmp_path, jobs={"sync_wait_seconds": 0.05})
    path = sign(settings, image, {"scale": 2})
    server, _ = start(settings, engine=fake_engine(delay=1.0))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        first = c.get(path)
        assert first.status_code == 202, first.text
        assert first.headers["retry-after"] == "1" and first.headers["cache-control"] == "no-store"
        body = first.json()
        assert body["status"] in ("queued", "running") and body["id"].startswith("job_")
        deadline = time.monotonic() + 20
        while (later := c.get(path)).status_code == 202:
            assert later.json()["id"] == body["id"]  # the same job, found again
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert later.status_code == 200 and decode(later.content).shape == (64, 64, 3)
    assert fetches(images) == 1


def test_bad_options_are_400_and_a_failing_source_is_502(tmp_path: Path, images: HttpStub, image: str) -> None:
    from enhanceit.security.urlsigning import UrlKeys

    settings = with_key(tmp_path)
    keys = UrlKeys.from_settings(settings.urls)
    images.routes["/gone.png"] = send(404)
    images.routes["/text.png"] = send(200, b"not an image at all, only some text", "image/png")
    server, _ = start(settings)

    def signed(rest: str) -> str:
        return f"/v1/u/{keys.sign(rest)}{rest}"

    src = encode_source(image)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        for rest, words in (
            (f"/s:abc/{src}", "scale"),
            (f"/s:2/w:10/{src}", "only one of scale, width and height"),
            (f"/zz:1/{src}", "unknown option 'zz'"),
            (f"/s:2/s:3/{src}", "given twice"),
            (f"/s/{src}", "name:value"),
            ("/s:2/not*base64", "base64url"),
            (f"/m:nope/{src}", "unknown model"),
        ):
            r = c.get(signed(rest))
            assert r.status_code == 400, (rest, r.text)
            assert words in r.json()["detail"], (rest, r.json())
        ftp = c.get(signed(f"/s:2/{encode_source('ftp://example.com/a.png')}"))
        assert ftp.status_code == 403 and "only http and https" in ftp.json()["detail"]
        gone = c.get(signed(f"/s:2/{encode_source(images.url('/gone.png'))}"))
        assert gone.status_code == 502 and gone.json()["type"].endswith("/upstream-error")
        assert gone.headers["cache-control"] == "no-store"
        text = c.get(signed(f"/s:2/{encode_source(images.url('/text.png'))}"))
        assert text.status_code == 415, text.text
    assert fetches(images) == 0


def test_the_source_is_fetched_under_the_same_rules_as_image_url(tmp_path: Path, images: HttpStub, image: str) -> None:
    settings = with_key(tmp_path, fetch={"allow_private": False})
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get(sign(settings, image, {"scale": 2}))
        assert r.status_code == 403 and r.json()["type"].endswith("/forbidden-url")
    assert fetches(images) == 0


def test_no_api_key_needed_and_only_new_work_is_rate_limited(tmp_path: Path, images: HttpStub, image: str) -> None:
    settings = with_key(tmp_path, api_keys="k1", rate_limit_per_minute=1)
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/v1/enhance", json={"image_url": image}).status_code == 401  # the API itself is closed
        path = sign(settings, image, {"scale": 2})
        assert c.get(path).status_code == 200
        for _ in range(3):
            assert c.get(path).status_code == 200  # found again: no new work, not counted
        other = c.get(sign(settings, image, {"scale": 3}))  # new work from the same address
        assert other.status_code == 429 and int(other.headers["retry-after"]) >= 1


def test_a_job_from_an_image_url_carries_its_signed_url(tmp_path: Path, images: HttpStub, image: str) -> None:
    settings = with_key(tmp_path)
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        job = c.post("/v1/enhance", json={"image_url": image, "scale": 2, "model": "photo"}).json()
        assert job["status"] == "succeeded"
        link = job["signed_url"]
        assert link.startswith("/v1/u/") and link.endswith(f"/m:photo/s:2/{encode_source(image)}")
        assert c.get(f"/v1/jobs/{job['id']}").json()["signed_url"] == link
        r = c.get(link)
        assert r.status_code == 200 and decode(r.content).shape == (64, 64, 3)
        upload = c.post("/v1/enhance", files={"file": ("a.png", png_bytes(PIXELS), "image/png")}).json()
        assert upload["status"] == "succeeded" and upload["signed_url"] is None  # no source URL to sign


def test_no_signed_url_without_a_key_or_without_a_matching_preset(tmp_path: Path, images: HttpStub, image: str) -> None:
    server, _ = start(make_settings(tmp_path / "a"))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/v1/enhance", json={"image_url": image}).json()["signed_url"] is None
    presets = {"only": True, "thumb2x": {"model": "photo", "scale": 2}}
    settings = with_key(tmp_path / "b", presets=presets, public_url="https://img.example")
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/v1/enhance", json={"image_url": image, "scale": 3}).json()["signed_url"] is None
        link = c.post("/v1/enhance", json={"image_url": image, "preset": "thumb2x"}).json()["signed_url"]
        assert link == "https://img.example" + sign(settings, image, {}, ["thumb2x"])
        assert c.get(link.removeprefix("https://img.example")).status_code == 200
