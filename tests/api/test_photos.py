"""Photos as people send them, over HTTP: warnings on damaged files, strict, aliases recorded, HEIC."""

from __future__ import annotations

import httpx
import numpy as np
import pillow_heif

from enhanceit.imaging.vips import pyvips
from tests.api.conftest import png_bytes
from tests.helpers import photo


def _cut_jpeg() -> bytes:
    data = pyvips.Image.new_from_memory(photo("astronaut", 64).tobytes(), 64, 64, 3, "uchar").jpegsave_buffer()
    return bytes(data[: len(data) * 2 // 3])


def test_a_cut_short_upload_succeeds_with_a_warning(client: httpx.Client) -> None:
    r = client.post("/v1/enhance", files={"file": ("cut.jpg", _cut_jpeg(), "image/jpeg")})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded"
    assert job["warnings"] == ["the image data ended early; missing rows were filled"]
    assert client.get(f"/v1/jobs/{job['id']}").json()["warnings"] == job["warnings"]
    again = client.post("/v1/enhance", files={"file": ("cut.jpg", _cut_jpeg(), "image/jpeg")}).json()
    assert again["result"]["reused"] is True and again["warnings"] == job["warnings"]  # a reused result says so too


def test_strict_refuses_it_with_422(client: httpx.Client) -> None:
    r = client.post("/v1/enhance", files={"file": ("cut.jpg", _cut_jpeg(), "image/jpeg")}, data={"strict": "true"})
    assert r.status_code == 422 and r.json()["type"].endswith("undecodable-image")
    assert "ends early" in r.json()["detail"]


def test_an_intact_upload_has_no_warnings(client: httpx.Client) -> None:
    assert client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}).json()["warnings"] == []


def test_an_alias_records_the_concrete_model(client: httpx.Client) -> None:
    two = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"model": "photo"})
    assert two.status_code == 200, two.text
    assert two.json()["options"]["model"] == "photo"
    assert two.json()["result"]["model"] == "waifu2x-upconv7-photo"
    four = client.post(
        "/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"model": "photo", "scale": "4"}
    )
    assert four.json()["result"]["model"] == "waifu2x-upconv7-photo" and four.json()["result"]["width"] == 128
    again = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"model": "photo"})
    assert again.json()["result"] == {**two.json()["result"], "reused": True, "url": again.json()["result"]["url"]}


def test_a_restricted_model_is_403_and_an_impossible_alias_request_400(client: httpx.Client) -> None:
    r = client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"model": "clearreality"})
    assert r.status_code == 403 and r.json()["type"].endswith("model-not-enabled")
    assert "ENHANCEIT_MODELS_ENABLE=clearreality" in r.json()["detail"]


def test_models_lists_the_aliases_first(client: httpx.Client) -> None:
    rows = client.get("/v1/models").json()
    assert [r["id"] for r in rows[:2]] == ["photo", "art"]
    assert rows[0]["resolves_to"]["scale"]["4"] == "waifu2x-upconv7-photo"


def test_an_iphone_heic_upload(client: httpx.Client) -> None:
    pixels = photo("astronaut", 32)
    heif = pillow_heif.from_bytes(mode="RGB", size=(32, 32), data=pixels.tobytes())
    import io

    buf = io.BytesIO()
    heif.save(buf, quality=95)
    r = client.post("/v1/enhance", files={"file": ("IMG_0001.HEIC", buf.getvalue(), "image/heic")})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert (result["width"], result["height"], result["format"]) == (64, 64, "png")
    got = np.asarray(pyvips.Image.new_from_buffer(client.get(result["url"]).content, "").numpy())
    assert np.abs(got[::2, ::2].astype(int) - pixels).mean() < 4  # the fake engine enlarges by repetition
