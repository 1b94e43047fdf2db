"""Animations through the API: the result says its frames; still formats and too many frames are refused."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.animations import frames_of, pans, save_animation
from tests.api.conftest import make_settings, start
from tests.api.test_errors import problem


def test_an_animated_gif_comes_back_animated_with_its_frames(client: httpx.Client, tmp_path: Path) -> None:
    src = save_animation(pans(3), tmp_path / "a.gif", [70, 80, 90], loop=2)
    plays = frames_of(src)[2]  # NETSCAPE loop 2: three plays, as libvips counts them
    gif = src.read_bytes()
    r = client.post("/v1/enhance", files={"file": ("a.gif", gif, "image/gif")})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert (result["format"], result["frames"], result["animated"]) == ("gif", 3, True)
    assert (result["width"], result["height"]) == (96, 80)
    got = client.get(result["url"])
    assert got.headers["content-type"] == "image/gif"
    (tmp_path / "out.gif").write_bytes(got.content)
    frames, delays, loop = frames_of(tmp_path / "out.gif")
    assert (len(frames), delays, loop) == (3, [70, 80, 90], plays) and plays == 3
    again = client.post("/v1/enhance", files={"file": ("a.gif", gif, "image/gif")}).json()["result"]
    assert again["reused"] and (again["frames"], again["animated"]) == (3, True)  # from the stored file's header


def test_an_animation_asked_for_as_png_is_a_400_naming_the_choices(client: httpx.Client, tmp_path: Path) -> None:
    gif = save_animation(pans(3), tmp_path / "a.gif", [50] * 3).read_bytes()
    r = client.post("/v1/enhance", files={"file": ("a.gif", gif, "image/gif")}, data={"format": "png"})
    detail = str(problem(r, 400, "invalid-request")["detail"])
    assert "WEBP or GIF" in detail and 'frames: "first"' in detail
    r = client.post(
        "/v1/enhance", files={"file": ("a.gif", gif, "image/gif")}, data={"format": "png", "frames": "first"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["result"]["format"], r.json()["result"]["frames"], r.json()["result"]["animated"]) == (
        "png",
        1,
        False,
    )


def test_too_many_frames_is_a_422(tmp_path: Path) -> None:
    server, _ = start(make_settings(tmp_path, limits={"max_frames": 4}))
    gif = save_animation(pans(5), tmp_path / "a.gif", [50] * 5).read_bytes()
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/enhance", files={"file": ("a.gif", gif, "image/gif")})
        assert "5 frames; the limit is 4" in str(problem(r, 422, "too-many-pixels")["detail"])
