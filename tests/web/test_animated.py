"""An animated GIF through the page: the result stays animated and plays in the before/after comparison."""

from __future__ import annotations

from pathlib import Path

from tests.animations import pans, save_animation
from tests.web.conftest import Pages, enhance
from tests.web.test_page import natural_size

#: The decoder Chromium itself uses for ``img``: whether the image is animated, and its frames.
TRACK = """async (img) => {
  const r = await fetch(img.src);
  const d = new ImageDecoder({ data: r.body, type: r.headers.get('content-type') });
  await d.tracks.ready;
  const t = d.tracks.selectedTrack;
  return [t.animated, t.frameCount, r.headers.get('content-type')];
}"""


def test_an_animated_gif_stays_animated_and_plays_in_the_comparison(site: str, pages: Pages, tmp_path: Path) -> None:
    frames = pans(4, 64, 48, name="chelsea")
    gif = save_animation(frames, tmp_path / "cat.gif", [120, 120, 120, 120], loop=0)
    page = pages.open(site)
    assert page.input_value("#format") == ""  # automatic: an animation keeps its format
    enhance(page, gif)

    assert natural_size(page, "#after") == (128, 96)
    animated, count, media = page.eval_on_selector("#after", TRACK)
    assert (animated, count, media) == (True, 4, "image/gif")
    assert "128×96, 4 frames" in page.inner_text("#status")
    assert page.get_attribute("#download", "download") == "cat-waifu2x-upconv7-photo.gif"  # the model that ran
    assert "GIF · 128×96, 4 frames" in page.inner_text("#download")

    # playing: what the comparison shows on screen changes by itself, with nothing done to the page
    first = page.locator("#stage").screenshot()
    for _ in range(50):
        page.wait_for_timeout(100)
        if page.locator("#stage").screenshot() != first:
            break
    else:
        raise AssertionError("the result does not play")
