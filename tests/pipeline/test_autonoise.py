"""``noise: auto`` resolves per input format from the header: a JPEG's quality, lossy or lossless otherwise."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from enhanceit.config import LimitSettings
from enhanceit.engine.choose import Coding, check_request, choose, noise_level
from enhanceit.engine.fake import fake_engine
from enhanceit.models import autonoise
from enhanceit.models.registry import REGISTRY
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.prepared import prepare
from enhanceit.pipeline.process import enhance_file
from tests.helpers import photo, to_vips

PIXELS = photo("coffee", 48)

Writer = Callable[[Path], None]
WRITERS: dict[str, tuple[str, Writer]] = {
    "png": (".png", lambda p: to_vips(PIXELS).pngsave(str(p))),
    "bmp": (".bmp", lambda p: Image.fromarray(PIXELS).save(p)),
    "tiff": (".tif", lambda p: to_vips(PIXELS).tiffsave(str(p))),
    "gif": (".gif", lambda p: Image.fromarray(PIXELS).save(p)),
    "webp lossless": (".webp", lambda p: to_vips(PIXELS).webpsave(str(p), lossless=True)),
    "webp lossy": (".webp", lambda p: to_vips(PIXELS).webpsave(str(p), Q=80)),
    "heic": (".heic", lambda p: pillow_heif.from_pillow(Image.fromarray(PIXELS)).save(p, quality=80)),
    "avif": (".avif", lambda p: to_vips(PIXELS).heifsave(str(p), compression="av1", Q=60, effort=0)),
    **{
        f"jpeg q{q}": (".jpg", lambda p, q=q: to_vips(PIXELS).jpegsave(str(p), Q=q))  # type: ignore[misc]
        for q in (50, 75, 85, 92, 97, 100)
    },
}
#: What each input gets with `auto`, for waifu2x UpConv7-photo, CUnet and Real-CUGAN se (the table's rows).
EXPECTED = {
    "png": (-1, -1, -1),
    "bmp": (-1, -1, -1),
    "tiff": (-1, -1, -1),
    "gif": (-1, -1, -1),
    "webp lossless": (-1, -1, -1),
    "webp lossy": (0, 0, 0),
    "heic": (0, 0, 0),
    "avif": (0, 0, 0),
    "jpeg q50": (3, 2, 0),
    "jpeg q75": (3, 1, 0),
    "jpeg q85": (2, 1, 0),
    "jpeg q92": (0, 1, 0),
    "jpeg q97": (0, 0, 0),
    "jpeg q100": (0, -1, 0),
}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_auto_resolves_per_format_from_the_header(tmp_path: Path, kind: str) -> None:
    suffix, write = WRITERS[kind]
    src = tmp_path / f"in{suffix}"
    write(src)
    engine = fake_engine()
    levels = []
    for model in ("waifu2x-upconv7-photo", "waifu2x-cunet", "realcugan-se"):
        prepared = prepare(src, EnhanceOptions(model=model, scale=2), engine, LimitSettings())
        levels.append(prepared.noise)
    assert tuple(levels) == EXPECTED[kind]


def test_a_level_asked_for_is_kept_whatever_the_input(tmp_path: Path) -> None:
    src = tmp_path / "in.jpg"
    to_vips(PIXELS).jpegsave(str(src), Q=50)
    for noise in (-1, 0, 3):
        prepared = prepare(src, EnhanceOptions(model="waifu2x-cunet", noise=noise), fake_engine(), LimitSettings())
        assert prepared.noise == noise


def test_a_model_without_the_level_wanted_gets_the_nearest_weaker_one() -> None:
    """Real-CUGAN pro has levels 0 and 3 only; SPAN has none."""
    jpeg50 = Coding("jpeg", True, 50)
    assert autonoise.wanted_level("realcugan-pro", "realcugan", "jpeg", True, 50) == 0
    assert noise_level(REGISTRY.find("realcugan-pro"), "auto", jpeg50) == 0
    assert autonoise.nearest_level(2, (-1, 0, 3)) == 0 and autonoise.nearest_level(0, (-1,)) == -1
    assert noise_level(REGISTRY.find("span"), "auto", jpeg50) == -1
    spec, plan = choose(REGISTRY, "span", "auto", 100, 100, 400, 400, jpeg50)  # a concrete id still runs
    assert spec.id == "span" and plan.passes[0].noise == -1


def test_an_unreadable_jpeg_quality_counts_as_the_webs_usual() -> None:
    assert autonoise.wanted_level("waifu2x-cunet", "waifu2x", "jpeg", True, None) == autonoise.wanted_level(
        "waifu2x-cunet", "waifu2x", "jpeg", True, autonoise.UNKNOWN_JPEG_QUALITY
    )


def test_an_alias_prefers_a_candidate_that_can_reduce_the_noise_the_input_has(monkeypatch: pytest.MonkeyPatch) -> None:
    """An alias whose first candidate has no noise levels (SPAN, as `photo` had above 2x until issue 21):
    a clean input gets it, a JPEG the next candidate that can denoise; with none such, SPAN still runs."""
    from enhanceit.engine import choose as choosing
    from enhanceit.models.aliases import Alias

    fast = Alias("fast", "Fast", "SPAN first", ((math.inf, ("span", "waifu2x-upconv7-photo")),))
    only = Alias("only", "Only", "SPAN alone", ((math.inf, ("span",)),))
    monkeypatch.setattr(choosing, "ALIASES", {"fast": fast, "only": only})
    clean = choose(REGISTRY, "fast", "auto", 100, 100, 300, 300, Coding("png"))
    jpeg = choose(REGISTRY, "fast", "auto", 100, 100, 300, 300, Coding("jpeg", True, 75))
    assert clean[0].id == "span" and clean[1].passes[0].noise == -1
    assert jpeg[0].id == "waifu2x-upconv7-photo" and jpeg[1].passes[0].noise == 3
    assert choose(REGISTRY, "only", "auto", 100, 100, 300, 300, Coding("jpeg", True, 75))[0].id == "span"


def test_auto_is_checked_up_front_as_no_noise_reduction() -> None:
    assert check_request(REGISTRY, "realesrgan-x4plus", "auto", 4).id == "realesrgan-x4plus"
    assert check_request(REGISTRY, "photo", "auto", 4).id == "waifu2x-upconv7-photo"


def test_the_result_says_what_ran(tmp_path: Path) -> None:
    src = tmp_path / "in.jpg"
    to_vips(PIXELS).jpegsave(str(src), Q=75)
    outcome = enhance_file(src, tmp_path / "out.png", EnhanceOptions(model="photo"), fake_engine(), LimitSettings())
    assert (outcome.model.id, outcome.noise) == ("waifu2x-upconv7-photo", 3)
