"""The whole service on each cloud backend: a request's result is published to a real S3 (SeaweedFS) or
GCS (emulator) server and the job's link fetches it from there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from enhanceit.storage.base import Storage
from tests.api.conftest import decode, make_settings, png_bytes, start
from tests.helpers import photo

pytestmark = pytest.mark.s3


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_results_go_to_the_bucket_and_links_come_from_it(
    kind: str, make_backend: Callable[[str], Storage], tmp_path: Path
) -> None:
    storage = make_backend(kind)
    server, _ = start(make_settings(tmp_path, storage=kind), storage=storage)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")})
        assert r.status_code == 200, r.text
        link = r.json()["result"]["url"]
        assert not link.startswith(server.url)  # served by the bucket, not by us
        got = httpx.get(link, timeout=30)
        assert got.status_code == 200
        assert np.array_equal(decode(got.content), photo("astronaut", 32).repeat(2, 0).repeat(2, 1))
        assert c.get("/readyz").json()["checks"]["storage"] == "ok"
