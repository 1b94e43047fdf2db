"""Limits checked before any pixel is decoded: input pixels from the header, work, output frame size."""

from __future__ import annotations

from enhanceit.config import LimitSettings
from enhanceit.engine.plan import Plan
from enhanceit.errors import ImageTooLarge
from enhanceit.imaging.formats import FORMATS, OutputFormat
from enhanceit.imaging.probe import ImageInfo


def check_input(info: ImageInfo, limits: LimitSettings) -> None:
    if info.pixels > limits.max_input_pixels:
        raise ImageTooLarge(
            f"the image has {info.width}x{info.height} = {info.pixels:,} pixels; "
            f"the limit is {limits.max_input_pixels:,}"
        )


def work_pixels(info: ImageInfo, plan: Plan, tta: int) -> int:
    """Input pixels x scale² x TTA level: what the waifu2x service counts as the cost of a request."""
    ratio = max(plan.width / info.width, plan.height / info.height, plan.native_scale)
    return int(info.pixels * ratio * ratio * max(1, tta))


def check_output_size(width: int, height: int, fmt: OutputFormat, limits: LimitSettings) -> None:
    """The requested output itself: within the pixel limit and what its format can hold."""
    if width * height > limits.max_output_pixels:
        raise ImageTooLarge(f"{width}x{height} output pixels are more than the limit of {limits.max_output_pixels:,}")
    spec = FORMATS[fmt]
    if spec.whole_frame and width * height > limits.max_whole_frame_pixels:
        raise ImageTooLarge(
            f"{width}x{height} is too large for {fmt.upper()} "
            f"(limit {limits.max_whole_frame_pixels:,} pixels); ask for PNG or JPEG"
        )
    if max(width, height) > spec.max_side:
        raise ImageTooLarge(f"{fmt.upper()} images cannot be wider or taller than {spec.max_side} pixels")


def check_work(info: ImageInfo, plan: Plan, tta: int, limits: LimitSettings) -> None:
    """Input pixels x scale² x TTA level within the limit (the passes may overshoot the requested size)."""
    work = work_pixels(info, plan, tta)
    if work > limits.max_output_pixels:
        raise ImageTooLarge(
            f"{info.width}x{info.height} -> {plan.width}x{plan.height} with TTA {tta} counts "
            f"{work:,} pixels; the limit is {limits.max_output_pixels:,}"
        )
