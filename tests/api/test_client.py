"""enhanceit.client against a real server: uploads and URLs, the wait and the 202 polls, problems raised."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from enhanceit.client import Client, ProblemError, sign_url
from enhanceit.engine.fake import fake_engine
from tests.api.conftest import decode, make_settings, png_bytes, start
from tests.api.servers import HttpStub, LiveServer, send


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live, _ = start(make_settings(tmp_path, api_keys=["k1"]), engine=fake_engine())
    with live:
        yield live


def test_an_upload_comes_back_enhanced(server: LiveServer, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes())
    with Client(server.url, api_key="k1") as client:
        result = client.enhance(source, scale=2, format="webp", quality=80)
    assert result.job["status"] == "succeeded" and result.result["format"] == "webp"
    assert result.content is not None and decode(result.content).shape[:2] == (64, 64)


def test_a_url_is_fetched_by_the_server_and_the_result_saved(
    server: LiveServer, tmp_path: Path, images: HttpStub
) -> None:
    images.routes["/cat.png"] = send(200, png_bytes(), "image/png")
    out = tmp_path / "cat-2x.png"
    with Client(server.url, api_key="k1") as client:
        result = client.enhance(images.url("/cat.png"), output=out)
    assert result.path == out and result.content is None
    assert decode(out.read_bytes()).shape[:2] == (64, 64)
    assert not list(tmp_path.glob(".*.part"))


def test_a_job_longer_than_the_wait_is_polled_to_its_end(tmp_path: Path) -> None:
    live, _ = start(make_settings(tmp_path), engine=fake_engine(delay=1.5))
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes())
    polls: list[str] = []
    with live, Client(live.url, wait=0, transport=_Counting(polls)) as client:
        result = client.enhance(source)
    assert result.job["status"] == "succeeded" and result.content is not None
    assert any(p.startswith("/v1/jobs/") for p in polls)  # it answered 202 and the client polled


def test_a_refusal_is_raised_as_its_problem(server: LiveServer, tmp_path: Path) -> None:
    source = tmp_path / "not-an-image.png"
    source.write_bytes(b"hello")
    with Client(server.url, api_key="k1") as client, pytest.raises(ProblemError) as caught:
        client.enhance(source)
    assert caught.value.status == 415 and caught.value.type.endswith("/unsupported-format")
    with Client(server.url, api_key="wrong") as client, pytest.raises(ProblemError) as caught:
        client.enhance(source)
    assert caught.value.status == 401


def test_a_failed_job_is_raised_with_its_status(server: LiveServer, images: HttpStub) -> None:
    images.routes["/gone.png"] = send(404, b"no")
    with Client(server.url, api_key="k1") as client, pytest.raises(ProblemError) as caught:
        client.enhance(images.url("/gone.png"))
    assert caught.value.status == 502


def test_the_api_key_goes_to_the_server_but_never_to_a_result_on_another_host(
    server: LiveServer, images: HttpStub
) -> None:
    images.routes["/bucket/result.png"] = send(200, png_bytes(), "image/png")
    with Client(server.url, api_key="k1") as client:
        result = client._fetch({"result": {"url": images.url("/bucket/result.png")}}, None)
    assert result.content == png_bytes()
    assert "authorization" not in images.received[-1]["headers"]


class _Counting(httpx.HTTPTransport):
    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


URL_KEY = "a-url-key-of-sixteen-or-more"


def test_a_batch_of_urls_and_its_archive(tmp_path: Path, images: HttpStub) -> None:
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    images.routes["/b.png"] = send(200, png_bytes(), "image/png")
    live, _ = start(make_settings(tmp_path, api_keys=["k1"]), engine=fake_engine())
    with live, Client(live.url, api_key="k1") as client:
        view = client.batch([images.url("/a.png"), images.url("/b.png"), images.url("/missing.png")], format="webp")
        assert view["status"] == "completed_with_failures"
        assert [i["status"] for i in view["items"]] == ["succeeded", "succeeded", "failed"]
        saved = client.archive(view["id"], tmp_path / "results.zip")
    with zipfile.ZipFile(saved) as archive:
        names = archive.namelist()
        assert len([n for n in names if n.endswith(".webp")]) == 2
        assert json.loads(archive.read("manifest.json"))["missing"][0]["index"] == 2


def test_a_batch_of_files(tmp_path: Path) -> None:
    files = []
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(png_bytes())
        files.append(tmp_path / name)
    live, _ = start(make_settings(tmp_path), engine=fake_engine())
    with live, Client(live.url) as client:
        view = client.batch(files, scale=3)
    assert view["status"] == "succeeded"
    assert [i["result"]["width"] for i in view["items"]] == [96, 96]


def test_sign_url_makes_a_url_the_server_serves(tmp_path: Path, images: HttpStub) -> None:
    images.routes["/cat.png"] = send(200, png_bytes(), "image/png")
    live, _ = start(make_settings(tmp_path, urls={"key": URL_KEY}), engine=fake_engine())
    path = sign_url(URL_KEY, images.url("/cat.png"), model="waifu2x-cunet", scale=2, format="png")
    with live:
        r = httpx.get(live.url + path, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert decode(r.content).shape[:2] == (64, 64)
        assert (
            httpx.get(
                live.url + sign_url("another-key-of-sixteen-chars", images.url("/cat.png")), timeout=30
            ).status_code
            == 403
        )
