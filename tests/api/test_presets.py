"""Presets: named option sets in the settings, used by ``POST /v1/enhance`` and checked at start."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from enhanceit.bootstrap import build_services
from enhanceit.config import PresetSettings
from enhanceit.engine.fake import fake_engine
from enhanceit.presets import PresetError, load_presets
from tests.api.conftest import make_settings, png_bytes, start
from tests.api.servers import HttpStub, send

PRESETS = {"thumb2x": {"model": "photo", "scale": 2, "format": "webp", "quality": 80}, "big": {"scale": 4}}


def test_a_preset_gives_its_options_and_the_requests_own_fields_override_them(tmp_path: Path, images: HttpStub) -> None:
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    server, _ = start(make_settings(tmp_path, presets=PRESETS))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        job = c.post("/v1/enhance", json={"image_url": images.url("/a.png"), "preset": "thumb2x"}).json()
        assert job["status"] == "succeeded", job
        assert job["options"] | {"model": "photo", "scale": 2.0, "format": "webp", "quality": 80} == job["options"]
        assert (job["result"]["width"], job["result"]["format"]) == (64, "webp")

        over = {"preset": "thumb2x", "format": "png", "width": 48}  # the request's size replaces the preset's
        job = c.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data=over).json()
        assert job["status"] == "succeeded", job
        options = job["options"]
        assert (options["model"], options["format"], options["width"], options["quality"]) == ("photo", "png", 48, 80)
        assert "scale" not in options
        assert (job["result"]["width"], job["result"]["format"]) == (48, "png")

        unknown = c.post("/v1/enhance", json={"image_url": images.url("/a.png"), "preset": "nope"})
        assert unknown.status_code == 400
        assert "unknown preset 'nope' (presets here: big, thumb2x)" in unknown.json()["detail"]
        bad = c.post("/v1/enhance", json={"image_url": images.url("/a.png"), "preset": "thumb2x", "quality": 0})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "quality"


def test_a_preset_lifts_no_limit(tmp_path: Path) -> None:
    # 32x32 at 4x is 128x128: more than this server's output limit, whoever asks
    settings = make_settings(tmp_path, presets=PRESETS, limits={"max_output_pixels": 100 * 100})
    server, _ = start(settings)
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        files = {"file": ("a.png", png_bytes(), "image/png")}
        for data in ({"preset": "big"}, {"scale": "4"}):
            r = c.post("/v1/enhance", files=files, data=data)
            assert r.status_code == 422 and r.json()["type"].endswith("/too-many-pixels"), r.text


def test_presets_from_a_yaml_or_json_file_beside_the_settings(tmp_path: Path) -> None:
    yaml_file = tmp_path / "presets.yaml"
    yaml_file.write_text("art2x:\n  model: art\n  scale: 2\n  format: jpg\n")
    presets = load_presets(PresetSettings(file=yaml_file, thumb2x=PRESETS["thumb2x"]))  # type: ignore[call-arg]
    assert presets.names() == ["art2x", "thumb2x"]
    assert presets.options(["art2x"], {}).format == "jpeg"  # jpg is jpeg, as everywhere
    json_file = tmp_path / "presets.json"
    json_file.write_text(json.dumps({"thumb2x": {"scale": 3}}))
    with pytest.raises(PresetError, match="preset 'thumb2x' is defined twice"):
        load_presets(PresetSettings(file=json_file, thumb2x=PRESETS["thumb2x"]))  # type: ignore[call-arg]
    assert load_presets(PresetSettings(file=json_file)).options(["thumb2x"], {}).scale == 3


@pytest.mark.parametrize(
    ("presets", "message"),
    [
        ({"thumb2x": {"scale": 20}}, "preset 'thumb2x': scale: Input should be less than or equal to 16"),
        ({"thumb2x": {"scael": 2}}, "preset 'thumb2x': scael: Extra inputs are not permitted"),
        ({"thumb2x": {"scale": 2, "width": 10}}, "preset 'thumb2x': Value error, give only one of scale"),
        ({"file": "missing.yaml"}, "presets file missing.yaml:"),
    ],
)
def test_a_bad_preset_stops_the_start_naming_it(tmp_path: Path, presets: dict[str, object], message: str) -> None:
    settings = make_settings(tmp_path, presets=presets)
    with pytest.raises(PresetError) as e:
        build_services(settings, engine=fake_engine())
    assert message in str(e.value)
    assert not (tmp_path / "data" / "jobs.sqlite3").exists()  # refused before anything was opened
