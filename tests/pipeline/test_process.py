"""The whole pipeline from file to file: formats, sizes, alpha, profiles, depth, atomic output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.fake import NearestBackend, nearest_backend
from enhanceit.engine.runtime import Engine
from enhanceit.errors import Canceled, ImageTooLarge, OutputError
from enhanceit.imaging.formats import FORMATS, sniff
from enhanceit.imaging.vips import pyvips
from enhanceit.models.spec import ModelSpec, Net
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file
from tests.helpers import load, photo, save, to_vips


@pytest.fixture
def fake_engine() -> Engine:
    """Nearest-neighbour 'networks' with the real models' shapes: exact, fast results."""
    return Engine(factory=lambda spec, net: nearest_backend(net))


def run(engine: Engine, src: Path, dst: Path, **options: object) -> object:
    return enhance_file(src, dst, EnhanceOptions(**options), engine, LimitSettings())  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["png", "webp", "jpeg", "avif"])
def test_every_output_format(fake_engine: Engine, tmp_path: Path, fmt: str) -> None:
    src = save(photo("astronaut", 40), tmp_path / "in.png")
    dst = tmp_path / f"out.{fmt}"
    outcome = run(fake_engine, src, dst, format=fmt)
    head = dst.read_bytes()[:32]
    assert sniff(head) == fmt
    assert outcome.encoded.bytes == dst.stat().st_size  # type: ignore[attr-defined]
    out = load(dst)
    assert out.shape[:2] == (80, 80)
    expected = photo("astronaut", 40).repeat(2, 0).repeat(2, 1).astype(int)
    error = np.abs(out[..., :3].astype(int) - expected).mean()
    assert error == 0 if fmt in ("png", "webp") else error < 8


def test_webp_is_lossy_only_with_a_quality(fake_engine: Engine, tmp_path: Path) -> None:
    src = save(photo("coffee", 40), tmp_path / "in.png")
    run(fake_engine, src, tmp_path / "q.webp", format="webp", quality=50)
    assert not np.array_equal(load(tmp_path / "q.webp"), photo("coffee", 40).repeat(2, 0).repeat(2, 1))


@pytest.mark.parametrize(
    ("options", "size"),
    [({"scale": 3.0}, (120, 90)), ({"width": 50}, (50, 38)), ({"height": 100}, (133, 100)), ({"scale": 0.5}, (20, 15))],
)
def test_any_size(fake_engine: Engine, tmp_path: Path, options: dict[str, object], size: tuple[int, int]) -> None:
    src = save(photo("chelsea")[:30, :40], tmp_path / "in.png")
    outcome = run(fake_engine, src, tmp_path / "o.png", **options)
    out = load(tmp_path / "o.png")
    assert (out.shape[1], out.shape[0]) == size == (outcome.plan.width, outcome.plan.height)  # type: ignore[attr-defined]


def test_grey_stays_grey_and_alpha_is_kept(fake_engine: Engine, tmp_path: Path) -> None:
    grey = photo("camera", 32)[:, :, 0]
    src = save(grey, tmp_path / "g.png")
    run(fake_engine, src, tmp_path / "g2.png")
    out = load(tmp_path / "g2.png")
    assert out.shape == (64, 64, 1)
    assert np.abs(out[:, :, 0].astype(int) - grey.repeat(2, 0).repeat(2, 1)).max() <= 1

    ga = np.stack([grey, np.full_like(grey, 128)], axis=2)
    src = save(ga, tmp_path / "ga.png")
    run(fake_engine, src, tmp_path / "ga2.png")
    out = load(tmp_path / "ga2.png")
    assert out.shape == (64, 64, 2) and np.all(out[:, :, 1] == 128)


def test_sixteen_bit_png_stays_sixteen_bit(fake_engine: Engine, tmp_path: Path) -> None:
    deep = photo("astronaut", 16).astype(np.uint16) * 257 + 7
    src = tmp_path / "deep.png"
    to_vips(deep).pngsave(str(src), bitdepth=16)
    run(fake_engine, src, tmp_path / "deep2.png")
    out = load(tmp_path / "deep2.png")
    assert out.dtype == np.uint16 and np.array_equal(out, deep.repeat(2, 0).repeat(2, 1))
    run(fake_engine, src, tmp_path / "deep2.jpg", format="jpeg", quality=100)
    assert load(tmp_path / "deep2.jpg").dtype == np.uint8


def test_icc_profile_is_reattached(fake_engine: Engine, tmp_path: Path) -> None:
    pixels = photo("coffee", 24)
    image = to_vips(pixels).copy()
    profile = to_vips(pixels).icc_transform("p3", input_profile="srgb").get("icc-profile-data")
    image.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    src = tmp_path / "p3.png"
    image.pngsave(str(src))
    for fmt in ("png", "jpeg", "webp", "avif"):
        dst = tmp_path / f"p3-out.{fmt}"
        run(fake_engine, src, dst, format=fmt)
        assert pyvips.Image.new_from_file(str(dst)).get("icc-profile-data") == profile, fmt


def test_no_partial_file_when_encoding_fails(
    fake_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = save(photo("astronaut", 32), tmp_path / "in.png")

    def half_written(image: pyvips.Image, path: Path, *args: object, **kwargs: object) -> None:
        path.write_bytes(b"\x89PNG half")
        raise pyvips.Error("disk full")

    monkeypatch.setitem(FORMATS, "png", dataclasses.replace(FORMATS["png"], saver=half_written))
    with pytest.raises(OutputError):
        run(fake_engine, src, tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_unwritable_destination_is_an_output_error(fake_engine: Engine, tmp_path: Path) -> None:
    src = save(photo("astronaut", 16), tmp_path / "in.png")
    with pytest.raises(OutputError):
        run(fake_engine, src, tmp_path / "missing" / "out.png")


def test_cancel_leaves_nothing(fake_engine: Engine, tmp_path: Path) -> None:
    src = save(photo("astronaut", 64), tmp_path / "in.png")
    seen = []

    def check() -> None:
        seen.append(1)
        if len(seen) == 3:
            raise Canceled("user asked")

    with pytest.raises(Canceled):
        enhance_file(src, tmp_path / "out.png", EnhanceOptions(tile=16), fake_engine, LimitSettings(), check=check)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_output_limits_are_checked_before_decoding(fake_engine: Engine, tmp_path: Path) -> None:
    src = save(photo("astronaut", 64), tmp_path / "in.png")
    tight = LimitSettings(max_output_pixels=64 * 64 * 4 * 2 - 1, max_whole_frame_pixels=100)
    with pytest.raises(ImageTooLarge, match="TTA 2"):
        enhance_file(src, tmp_path / "o.png", EnhanceOptions(tta=2), fake_engine, tight)
    with pytest.raises(ImageTooLarge, match="WEBP"):
        enhance_file(src, tmp_path / "o.webp", EnhanceOptions(format="webp"), fake_engine, tight)
    assert not list(tmp_path.glob("o.*"))


def disk(size: int, garbage: tuple[int, int, int]) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    inside = (y - size / 2) ** 2 + (x - size / 2) ** 2 < (size / 3) ** 2
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = garbage
    rgba[inside] = (220, 60, 40, 255)
    return rgba


def test_no_dark_fringe_around_transparent_areas(engine: Engine, tmp_path: Path) -> None:
    """The visible result must not depend on the colour hidden under transparent pixels."""
    black = save(disk(48, (0, 0, 0)), tmp_path / "black.png")
    red = save(disk(48, (220, 60, 40)), tmp_path / "red.png")
    run(engine, black, tmp_path / "black2.png", model="waifu2x-upconv7-photo")
    run(engine, red, tmp_path / "red2.png", model="waifu2x-upconv7-photo")
    a, b = load(tmp_path / "black2.png").astype(int), load(tmp_path / "red2.png").astype(int)
    visible = a[..., 3] > 0
    assert np.array_equal(a[..., 3], b[..., 3])
    assert np.abs(a[visible][:, :3] - b[visible][:, :3]).max() <= 6


def test_noise_only_keeps_the_size(engine: Engine, tmp_path: Path) -> None:
    src = save(photo("coffee", 40), tmp_path / "in.jpg", Q=30)
    for model in ("waifu2x-cunet", "waifu2x-upconv7-anime"):
        outcome = run(engine, src, tmp_path / f"{model}.png", model=model, noise=2, scale=1.0)
        assert load(tmp_path / f"{model}.png").shape == (40, 40, 3)
        assert [n.noise for n in outcome.plan.passes] == [2]  # type: ignore[attr-defined]


def test_models_without_network_shapes_are_not_needed(tmp_path: Path) -> None:
    """A plain resize (no noise, no enlargement) runs no network at all."""

    def refuse(spec: ModelSpec, net: Net) -> NearestBackend:
        raise AssertionError("no network should load")

    src = save(photo("astronaut", 40), tmp_path / "in.png")
    outcome = run(Engine(factory=refuse), src, tmp_path / "o.png", scale=0.5)
    assert outcome.plan.passes == () and load(tmp_path / "o.png").shape == (20, 20, 3)  # type: ignore[attr-defined]
