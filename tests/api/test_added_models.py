"""An operator's added model through the API: listed with its licence as added, and it runs like the zoo's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from enhanceit.cli.main import main
from enhanceit.engine.runtime import engine_from
from tests.api.conftest import decode, make_settings, png_bytes, start
from tests.cli.test_models_add import SAME_PICTURE_DB, upconv7_files, upconv7_onnx
from tests.helpers import psnr


@pytest.mark.parametrize("given", ["ncnn", "onnx"])
def test_an_added_model_is_listed_and_gives_the_built_in_picture(
    given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    monkeypatch.setenv("ENHANCEIT_MODELS_DIR", str(models))
    files = upconv7_files() if given == "ncnn" else (upconv7_onnx(tmp_path),)
    assert main(["models", "add", "my-upconv7", *map(str, files), "--scale", "2", "--licence", "MIT"]) == 0
    settings = make_settings(tmp_path, models_dir=models, engine={"backend": "ncnn"})
    server, _ = start(settings, engine=engine_from(settings))
    with server, httpx.Client(base_url=server.url, timeout=60) as client:
        listed = {m["id"]: m for m in client.get("/v1/models").json()}
        assert listed["my-upconv7"]["origin"] == "added" and listed["my-upconv7"]["licence"] == "MIT"
        results = []
        for model in ("my-upconv7", "waifu2x-upconv7-photo"):
            r = client.post(
                "/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}, data={"model": model, "noise": "-1"}
            )
            assert r.status_code == 200, r.text
            assert r.json()["result"]["model"] == model
            results.append(decode(client.get(r.json()["result"]["url"]).content))
    assert psnr(*results) >= SAME_PICTURE_DB
