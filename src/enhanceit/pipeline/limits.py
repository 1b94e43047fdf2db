"""Limits checked before any pixel is decoded: input pixels and frames from the header, work, output size."""

from __future__ import annotations

import itertools

from enhanceit.config import LimitSettings
from enhanceit.engine.plan import Plan
from enhanceit.errors import ImageTooLarge, InvalidRequest
from enhanceit.imaging.formats import ANIMATED_OUTPUTS, DEFAULT_OUTPUT, FORMATS, OutputFormat
from enhanceit.imaging.info import ImageInfo


def check_input(info: ImageInfo, limits: LimitSettings) -> None:
    if info.pixels > limits.max_input_pixels:
        raise ImageTooLarge(
            f"the image has {info.width}x{info.height} = {info.pixels:,} pixels; "
            f"the limit is {limits.max_input_pixels:,}"
        )
    if info.decoder_pixels > limits.max_input_pixels:  # a HEIF grid, built whole before it is cropped
        raise ImageTooLarge(
            f"the {info.format.upper()} file's images add up to {info.decoder_pixels:,} pixels before its crop; "
            f"the limit is {limits.max_input_pixels:,}"
        )
    if info.frames > limits.max_frames:
        raise ImageTooLarge(f"the animation has {info.frames:,} frames; the limit is {limits.max_frames:,}")


def output_format_for(info: ImageInfo, fmt: OutputFormat | None, frames: str) -> OutputFormat:
    """The format to write: the one asked for, else PNG, else for an animation (all its frames asked for) the
    one its own format becomes. An animation asked to become a format that cannot hold one is refused (400)
    unless only its first frame is asked for."""
    if not info.animated or frames == "first":
        return fmt or DEFAULT_OUTPUT
    if fmt is None:
        becomes = FORMATS[info.format].animation_becomes
        assert becomes in ANIMATED_OUTPUTS  # every format read as an animation names one
        return becomes
    if not FORMATS[fmt].writes_animation:
        choices = " or ".join(f.upper() for f in ANIMATED_OUTPUTS)
        raise InvalidRequest(
            f"the image is an animation ({info.frames} frames) and {fmt.upper()} cannot hold one: ask for "
            f'{choices}, or for frames: "first" (a still image of its first frame)'
        )
    return fmt


def work_pixels(info: ImageInfo, plan: Plan, tta: int, frames: int = 1) -> int:
    """Input pixels x scale² x TTA level (what the waifu2x service counts as the cost of a request), for each
    frame enhanced."""
    ratio = max(plan.width / info.width, plan.height / info.height, plan.native_scale)
    return int(info.pixels * ratio * ratio * max(1, tta) * max(1, frames))


def check_output_size(width: int, height: int, fmt: OutputFormat, limits: LimitSettings, frames: int = 1) -> None:
    """The requested output itself: within the pixel limit and what its format can hold. An animation whose
    encoder keeps every frame until the end (WebP) counts frames x width x height against the whole-frame
    cap; one written frame by frame (GIF) counts one frame."""
    if width * height > limits.max_output_pixels:
        raise ImageTooLarge(f"{width}x{height} output pixels are more than the limit of {limits.max_output_pixels:,}")
    spec = FORMATS[fmt]
    if spec.keeps_every_frame and frames > 1 and frames * width * height > limits.max_whole_frame_pixels:
        raise ImageTooLarge(
            f"{frames} frames of {width}x{height} are too many pixels for an animated {fmt.upper()} "
            f"(limit {limits.max_whole_frame_pixels:,} pixels over all frames); ask for a smaller size"
        )
    if spec.whole_frame and width * height > limits.max_whole_frame_pixels:
        raise ImageTooLarge(
            f"{width}x{height} is too large for {fmt.upper()} "
            f"(limit {limits.max_whole_frame_pixels:,} pixels); ask for PNG or JPEG"
        )
    if max(width, height) > spec.max_side:
        raise ImageTooLarge(f"{fmt.upper()} images cannot be wider or taller than {spec.max_side} pixels")


def check_work(
    info: ImageInfo, plan: Plan, tta: int, limits: LimitSettings, frames: int = 1, alpha_pass: bool = False
) -> None:
    """Input pixels x scale² x TTA level x frames within the limit (the passes may overshoot the requested
    size): a 540 KB GIF of 300 different 1024² frames at 4x would otherwise be hours of work. An alpha
    channel run through the network too (``alpha: network``) counts the work twice."""
    work = work_pixels(info, plan, tta, frames) * (2 if alpha_pass else 1)
    if work > limits.max_output_pixels:
        of = f"{frames} frames of " if frames > 1 else ""
        twice = ", twice (alpha by the network)," if alpha_pass else ""
        raise ImageTooLarge(
            f"{of}{info.width}x{info.height} -> {plan.width}x{plan.height} with TTA {tta}{twice} counts "
            f"{work:,} pixels; the limit is {limits.max_output_pixels:,}"
        )


def scratch_bytes(info: ImageInfo, plan: Plan, frames: int = 1, alpha_pass: bool = False) -> int:
    """Scratch disk a job needs at most: the decoded input (kept to the end for its alpha), the two pass
    rasters alive at once (a pass reads one and writes the next), and for an animation the strip where
    every enhanced frame waits for the encoder. With ``alpha_pass`` (the alpha through the network) the
    colour result waits beside the alpha's grey input and its own two pass rasters."""
    sample = 2 if info.sixteen_bit else 1
    bands = 4 if info.has_alpha else 3
    decoded = info.pixels * bands * sample
    sizes, w, h = [], info.width, info.height
    for net in plan.passes:
        w, h = w * net.scale, h * net.scale
        sizes.append(w * h * 3 * sample)
    passes = max((a + b for a, b in itertools.pairwise(sizes)), default=sum(sizes))
    strip = plan.width * plan.height * bands * frames if frames > 1 else 0
    if alpha_pass and sizes:  # the colour result waits while the alpha's grey input and passes run
        passes += sizes[-1] + info.pixels * 3 * sample
    return decoded + passes + strip


def check_scratch(
    info: ImageInfo, plan: Plan, limits: LimitSettings, frames: int = 1, alpha_pass: bool = False
) -> None:
    """Refused up front (422) when the scratch a job needs is over the limit: a 7 KB GIF of 300 frames on a
    2048² canvas needed 15 GB and filled a 2 GiB disk in 44 s."""
    need = scratch_bytes(info, plan, frames, alpha_pass)
    if need > limits.max_scratch_bytes:
        raise ImageTooLarge(
            f"the job needs {need / 2**20:,.0f} MB of scratch space; the limit is "
            f"{limits.max_scratch_bytes / 2**20:,.0f} MB"
        )
