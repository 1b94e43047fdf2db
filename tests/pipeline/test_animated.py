"""Animated GIF, WebP and APNG stay animated: frames, durations, loop, size and transparency kept, memory on disc."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.fake import NearestBackend, fake_engine
from enhanceit.engine.runtime import Engine
from enhanceit.errors import Canceled, ImageTooLarge, InvalidRequest, UndecodableImage
from enhanceit.imaging.decode import TRUNCATED_FRAMES
from enhanceit.imaging.formats import sniff
from enhanceit.imaging.probe import probe
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import Outcome, enhance_file
from tests.animations import frames_of, pans, pillow_frames, save_animation
from tests.helpers import load, psnr, save

UPCONV = "waifu2x-upconv7-anime"


@pytest.fixture
def nearest() -> Engine:
    return fake_engine()


def run(engine: Engine, src: Path, dst: Path, limits: LimitSettings | None = None, **options: object) -> Outcome:
    return enhance_file(src, dst, EnhanceOptions(**options), engine, limits or LimitSettings())  # type: ignore[arg-type]


def up2(frame: np.ndarray) -> np.ndarray:
    return frame.repeat(2, 0).repeat(2, 1)


def test_a_webp_keeps_every_frame_its_durations_and_loop_count(nearest: Engine, tmp_path: Path) -> None:
    durations = [40, 120, 70, 300, 90]
    src = save_animation(pans(5), tmp_path / "in.webp", durations, loop=3, lossless=True)
    out = run(nearest, src, tmp_path / "out.webp")
    assert (out.frames, out.animated, out.encoded.format) == (5, True, "webp")
    frames, delays, loop = frames_of(tmp_path / "out.webp")
    assert (len(frames), delays, loop) == (5, durations, 3)
    expected, _, _ = frames_of(src)
    for k, frame in enumerate(frames):
        assert frame.shape == (80, 96, expected[k].shape[2])
        assert np.array_equal(frame[..., :3], up2(expected[k])[..., :3]), k  # lossless, nearest: exact


def inside(mask: np.ndarray, margin: int = 2) -> np.ndarray:
    """``mask`` shrunk by ``margin`` pixels on every side."""
    out = mask.copy()
    for axis in (0, 1):
        for shift in range(1, margin + 1):
            out &= np.roll(mask, shift, axis) & np.roll(mask, -shift, axis)
    return out


def test_a_gif_with_disposal_and_transparency_stays_a_transparent_gif(nearest: Engine, tmp_path: Path) -> None:
    frames = []
    for k, pan in enumerate(pans(4)):
        rgba = np.dstack([pan, np.full(pan.shape[:2], 255, np.uint8)])
        rgba[4 + 2 * k : 16 + 2 * k, 6:22, 3] = 0  # a hole that moves
        frames.append(rgba)
    src = save_animation(frames, tmp_path / "in.gif", [100, 50, 200, 80], loop=0, disposal=[2, 1, 2, 1])
    source_frames, _, _ = frames_of(src)
    out = run(nearest, src, tmp_path / "out.gif")
    assert sniff((tmp_path / "out.gif").read_bytes()[:32]) == "gif"
    got, delays, loop = frames_of(tmp_path / "out.gif")
    assert (len(got), delays, loop, out.frames) == (4, [100, 50, 200, 80], 0, 4)
    for k, frame in enumerate(got):
        assert frame.shape == (80, 96, 4)
        want = up2(source_frames[k])
        hole, solid = inside(want[..., 3] == 0), inside(want[..., 3] == 255)  # away from the resized edges
        assert hole.any() and (frame[..., 3][hole] == 0).all(), k  # transparent where the input was
        assert (frame[..., 3][solid] == 255).all(), k
        assert psnr(frame[..., :3][solid], want[..., :3][solid]) >= 30, k


def test_an_apng_becomes_an_animated_webp(nearest: Engine, tmp_path: Path) -> None:
    src = save_animation(pans(3, name="coffee"), tmp_path / "in.png", [60, 160, 260], loop=2)
    assert probe(src).frames == 3
    out = run(nearest, src, tmp_path / "out.webp")
    got, delays, loop = frames_of(tmp_path / "out.webp")
    assert (out.encoded.format, len(got), delays, loop) == ("webp", 3, [60, 160, 260], 2)
    for k, want in enumerate(pillow_frames(src)):
        assert np.array_equal(got[k][..., :3], up2(want)[..., :3]), k


def test_a_one_frame_animation_is_a_still_image(nearest: Engine, tmp_path: Path) -> None:
    src = save_animation(pans(1), tmp_path / "one.webp", [500], loop=0, lossless=True)
    out = run(nearest, src, tmp_path / "one.png")  # a still may become PNG: not refused as an animation
    assert (out.frames, out.animated, out.encoded.format) == (1, False, "png")
    assert load(tmp_path / "one.png").shape[:2] == (80, 96)


def held_still(path: Path) -> Path:
    """A GIF that holds still: frames drawn fully transparent over the one before show it again (Pillow
    merges frames that are identical in the file, so the holds are made the way GIF optimisers make them)."""
    a, b, c = (np.dstack([x, np.full(x.shape[:2], 255, np.uint8)]) for x in pans(3))
    clear, clear2 = np.zeros_like(a), np.zeros_like(a)
    clear2[..., :3] = 9  # also invisible, but not the same bytes: Pillow keeps it
    return save_animation([a, clear, clear2, b, clear, c], path, [80] * 6, disposal=1)


def test_frames_held_still_are_enhanced_once(nearest: Engine, tmp_path: Path) -> None:
    src = held_still(tmp_path / "hold.gif")
    shown, _, _ = frames_of(src)
    assert [np.array_equal(shown[k], shown[k + 1]) for k in range(5)] == [True, True, False, True, False]
    ticks: list[tuple[int, int]] = []
    out = enhance_file(
        src,
        tmp_path / "o.gif",
        EnhanceOptions(model=UPCONV, tile=16),
        nearest,
        LimitSettings(),
        progress=lambda d, t: ticks.append((d, t)),
    )
    assert out.reused_frames == 3  # enhanced once each: frames 0, 3 and 5
    # the encoder then merges each hold into one frame shown as long: what plays is the same
    got, delays, _ = frames_of(tmp_path / "o.gif")
    assert (out.frames, delays) == (3, [240, 160, 80])
    for k, shown_at in enumerate((0, 3, 5)):
        assert psnr(got[k][..., :3], up2(shown[shown_at])[..., :3]) >= 30, k  # after palette quantisation
    total = ticks[-1][1]
    assert ticks[-1][0] == total and total % 6 == 0 and total > 6  # tiles over all frames, all done
    assert [d for d, _ in ticks] == sorted(d for d, _ in ticks)


def test_too_many_frames_is_refused_from_the_header(tmp_path: Path) -> None:
    def never(spec: object, net: object) -> NearestBackend:
        raise AssertionError("no network may run")

    src = save_animation(pans(6), tmp_path / "many.gif", [50] * 6)
    with pytest.raises(ImageTooLarge, match="6 frames; the limit is 5"):
        run(Engine(factory=never), src, tmp_path / "o.gif", LimitSettings(max_frames=5))  # type: ignore[arg-type]
    assert not (tmp_path / "o.gif").exists()


def test_the_whole_frame_cap_counts_every_frame_for_webp(nearest: Engine, tmp_path: Path) -> None:
    """libwebp's animation encoder keeps every frame until the end; libvips' GIF saver writes frame by frame."""
    src = save_animation(pans(6), tmp_path / "a.gif", [50] * 6)  # 6 x 96x80 = 46,080 output pixels
    with pytest.raises(ImageTooLarge, match="6 frames of 96x80"):
        run(nearest, src, tmp_path / "o.webp", LimitSettings(max_whole_frame_pixels=40_000), format="webp")
    webp = run(nearest, src, tmp_path / "o.webp", LimitSettings(max_whole_frame_pixels=46_080), format="webp")
    assert sniff((tmp_path / "o.webp").read_bytes()[:32]) == "webp" and webp.frames == 6
    assert run(nearest, src, tmp_path / "o.gif", LimitSettings(max_whole_frame_pixels=7_680), format="gif").frames == 6
    with pytest.raises(ImageTooLarge, match="96x80 is too large for GIF"):
        run(nearest, src, tmp_path / "o2.gif", LimitSettings(max_whole_frame_pixels=7_679), format="gif")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "avif"])
def test_an_animation_asked_to_become_a_still_format_is_refused(nearest: Engine, tmp_path: Path, fmt: str) -> None:
    src = save_animation(pans(3), tmp_path / "a.gif", [50] * 3)
    with pytest.raises(InvalidRequest, match=r"WEBP or GIF.*frames: \"first\""):
        run(nearest, src, tmp_path / f"o.{fmt}", format=fmt)
    out = run(nearest, src, tmp_path / f"o.{fmt}", format=fmt, frames="first")
    assert (out.frames, out.encoded.format) == (1, fmt)


def test_cancel_between_tiles_leaves_no_file(nearest: Engine, tmp_path: Path) -> None:
    src = save_animation(pans(4), tmp_path / "a.webp", [50] * 4, lossless=True)
    seen = []

    def check() -> None:
        seen.append(1)
        if len(seen) > 12:
            raise Canceled("canceled on request")

    with pytest.raises(Canceled):
        enhance_file(src, tmp_path / "o.webp", EnhanceOptions(), nearest, LimitSettings(), check=check)
    assert list(tmp_path.iterdir()) == [src]


def test_lossless_webp_frames_match_each_frame_enhanced_alone(engine: Engine, tmp_path: Path) -> None:
    src = save_animation(pans(3, 40, 32), tmp_path / "in.webp", [70, 80, 90], lossless=True)
    run(engine, src, tmp_path / "out.webp", model=UPCONV, noise=1)
    got, _, _ = frames_of(tmp_path / "out.webp")
    inputs, _, _ = frames_of(src)
    for k, frame in enumerate(inputs):
        alone = save(frame, tmp_path / f"f{k}.png")
        run(engine, alone, tmp_path / f"f{k}-2x.png", model=UPCONV, noise=1)
        want = load(tmp_path / f"f{k}-2x.png")
        assert got[k].shape == want.shape
        assert np.abs(got[k].astype(int) - want.astype(int)).max() <= 1, k


def test_gif_frames_are_within_30_db_of_each_frame_enhanced_alone(engine: Engine, tmp_path: Path) -> None:
    src = save_animation(pans(3, 40, 32, name="chelsea"), tmp_path / "in.gif", [70, 80, 90])
    run(engine, src, tmp_path / "out.gif", model=UPCONV)
    got, _, _ = frames_of(tmp_path / "out.gif")
    inputs, _, _ = frames_of(src)
    for k, frame in enumerate(inputs):
        alone = save(frame, tmp_path / f"f{k}.png")
        run(engine, alone, tmp_path / f"f{k}-2x.png", model=UPCONV)
        want = load(tmp_path / f"f{k}-2x.png")
        assert got[k].shape == want.shape
        assert psnr(got[k], want) >= 30, (k, psnr(got[k], want))


def with_alpha(frames: list[np.ndarray]) -> list[np.ndarray]:
    """RGBA frames: a transparent square in each, so alpha must survive (and not be joined twice)."""
    out = []
    for frame in frames:
        alpha = np.full(frame.shape[:2], 255, np.uint8)
        alpha[8:24, 8:24] = 0
        out.append(np.dstack([frame, alpha]))
    return out


@pytest.mark.parametrize("size", [{"scale": 1}, {"scale": 0.5}, {"scale": 2}, {"width": 72}], ids=str)
@pytest.mark.parametrize(
    ("suffix", "alpha", "options"),
    [
        ("webp", False, {"lossless": True}),
        ("webp", True, {"lossless": True}),
        ("gif", False, {}),
        ("gif", True, {}),
        ("png", False, {}),
        ("png", True, {}),
    ],
    ids=["webp", "webp-alpha", "gif", "gif-transparent", "apng", "apng-alpha"],
)
def test_every_animated_format_at_every_kind_of_scale(
    nearest: Engine, tmp_path: Path, suffix: str, alpha: bool, options: dict[str, object], size: dict[str, float]
) -> None:
    """With no network pass (1x, or a downscale, without noise reduction) the decoded frame went to the encoder
    with its alpha, and alpha was joined again: every animated WebP (libvips reads them as RGBA) failed."""
    frames = pans(3)
    src = save_animation(with_alpha(frames) if alpha else frames, tmp_path / f"in.{suffix}", [80, 80, 80], **options)
    out = run(nearest, src, tmp_path / f"out.{suffix}", **size)
    width = int(size["width"]) if "width" in size else round(48 * size["scale"])
    assert (out.encoded.width, out.frames) == (width, 3)
    result = pillow_frames(tmp_path / f"out.{suffix}")
    assert len(result) == 3 and result[0].shape[1] == width
    if alpha:  # the transparent square is still transparent, the rest opaque
        corner, middle = result[1][0, width - 1, 3], result[1][round(16 * width / 48), round(16 * width / 48), 3]
        assert corner > 200 and middle < 50, (corner, middle)


def test_a_cut_short_gif_says_so_and_strict_refuses_it(nearest: Engine, tmp_path: Path) -> None:
    """A GIF cut at half its length came back with the frames that arrived whole, and no word of the rest."""
    whole = save_animation(pans(20), tmp_path / "whole.gif", [50] * 20)
    data = whole.read_bytes()
    cut = tmp_path / "cut.gif"
    cut.write_bytes(data[: len(data) // 2])
    out = run(nearest, cut, tmp_path / "out.gif")
    assert 1 < out.frames < 20 and out.warnings == [TRUNCATED_FRAMES]
    with pytest.raises(UndecodableImage, match="ends early"):
        run(nearest, cut, tmp_path / "strict.gif", strict=True)
    assert run(nearest, whole, tmp_path / "out2.gif").warnings == []


def test_the_work_of_every_frame_counts(nearest: Engine, tmp_path: Path) -> None:
    """300 distinct 1024² frames at 4x was accepted (the limit saw one frame): hours of CUnet. The limit
    counts every frame; the same animation's first frame alone still fits."""
    src = save_animation(pans(30, 64, 64), tmp_path / "in.gif", [50] * 30)
    limits = LimitSettings(max_output_pixels=64 * 64 * 4 * 10)  # ten frames' worth at 2x
    with pytest.raises(ImageTooLarge, match="30 frames of 64x64"):
        run(nearest, src, tmp_path / "out.gif", limits)
    assert run(nearest, src, tmp_path / "first.png", limits, frames="first").frames == 1


def test_an_animations_scratch_is_counted_from_its_header(nearest: Engine, tmp_path: Path) -> None:
    """Enhanced frames wait on disc for the encoder: a 7 KB GIF of 300 frames on a 2048² canvas needed a
    15 GB strip and filled the worker's disk. What a job will need is counted from the header first."""
    src = save_animation(pans(30, 64, 64), tmp_path / "in.gif", [50] * 30)
    need = 30 * 128 * 128 * 3  # the strip alone, at 2x
    with pytest.raises(ImageTooLarge, match="MB of scratch space"):
        run(nearest, src, tmp_path / "out.gif", LimitSettings(max_scratch_bytes=max(need, 1 << 20)))
    assert run(nearest, src, tmp_path / "ok.gif", LimitSettings(max_scratch_bytes=64 << 20)).frames == 30


def test_a_disk_that_fills_up_is_a_507_not_an_internal_error(
    nearest: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from enhanceit.errors import InsufficientStorage

    src = save_animation(pans(3), tmp_path / "in.gif", [50] * 3)

    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwritev", full)  # every raster write, as on a full tmpfs
    with pytest.raises(InsufficientStorage) as caught:
        run(nearest, src, tmp_path / "out.gif")
    assert caught.value.status_code == 507 and caught.value.slug == "insufficient-storage"
