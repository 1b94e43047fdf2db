"""A job reads its input's header once (issue 22): at submit for an upload, at the worker for a URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from enhanceit.imaging import probe as probing
from enhanceit.pipeline import prepared as preparing
from tests.animations import pans, save_animation
from tests.api.conftest import png_bytes
from tests.api.servers import HttpStub, send


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose header was read, in order (every read of an input goes through ``prepare``)."""
    seen: list[str] = []

    def counted(path: Path) -> Any:
        seen.append(path.name)
        return probing.probe(path)

    monkeypatch.setattr(preparing, "probe", counted)
    return seen


def animation(tmp_path: Path) -> bytes:
    return save_animation(pans(3), tmp_path / "a.gif", [80, 80, 80]).read_bytes()


@pytest.mark.parametrize("kind", ["still", "animated"])
def test_an_upload_is_read_once_at_submit(client: httpx.Client, reads: list[str], tmp_path: Path, kind: str) -> None:
    data, name = (png_bytes(), "a.png") if kind == "still" else (animation(tmp_path), "a.gif")
    r = client.post("/v1/enhance", files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert r.json()["result"]["animated"] is (kind == "animated")
    assert len(reads) == 1, reads


@pytest.mark.parametrize("kind", ["still", "animated"])
def test_a_url_is_read_once_by_the_worker(
    client: httpx.Client, images: HttpStub, reads: list[str], tmp_path: Path, kind: str
) -> None:
    data = png_bytes() if kind == "still" else animation(tmp_path)
    images.routes["/img"] = send(200, data, "image/png" if kind == "still" else "image/gif")
    r = client.post("/v1/enhance", json={"image_url": images.url("/img")})
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert len(reads) == 1, reads


def test_a_reused_result_reads_the_header_once_too(client: httpx.Client, reads: list[str]) -> None:
    for _ in range(2):
        r = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")})
        assert r.status_code == 200, r.text
    assert r.json()["result"]["reused"] is True
    assert len(reads) == 2, reads  # one per job
