"""The image options as command-line flags, the same for every command that asks for an enhanced image
(``upscale``, ``url sign``): declared once, read back once, and their errors worded once.

A flag left out is None, not a default, so that a preset's own value is not overridden by a default nobody
typed; the options' defaults apply where neither the flags nor a preset say otherwise.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from enhanceit.cli.common import UsageError
from enhanceit.errors import field_errors

if TYPE_CHECKING:
    from pydantic import ValidationError

#: The options these flags set, by their long names (the API's and the URL grammar's).
OPTIONS = (
    "model",
    "scale",
    "width",
    "height",
    "noise",
    "format",
    "quality",
    "tta",
    "frames",
    "alpha",
    "metadata",
    "strict",
)


def noise_level(text: str) -> int | str:
    """``--noise``: ``auto`` or a level from -1 to 3."""
    from enhanceit.options import MAX_NOISE, MIN_NOISE

    if text == "auto":
        return text
    if text.lstrip("-").isdigit() and MIN_NOISE <= int(text) <= MAX_NOISE:
        return int(text)
    raise argparse.ArgumentTypeError(f"invalid level '{text}': auto, or {MIN_NOISE} (none) to {MAX_NOISE}")


def add_image_options(parser: argparse.ArgumentParser, format_help: str) -> None:
    """The flags of :data:`OPTIONS`; ``format_help`` says where the format comes from when it is not given."""
    from enhanceit.imaging.formats import OUTPUT_NAMES

    parser.add_argument(
        "--model",
        default=None,
        help="model id, or 'photo' / 'art' (see 'enhanceit models list'; default waifu2x-cunet)",
    )
    parser.add_argument(
        "--noise",
        type=noise_level,
        default=None,
        metavar="auto|-1..3",
        help="noise reduction level: auto (from the input: a JPEG's quality; none for lossless formats, "
        "the default), -1 = none, 0-3 = stronger",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, help="scale factor (default 2)")
    size.add_argument("--width", type=int, help="output width (height keeps the aspect ratio)")
    size.add_argument("--height", type=int, help="output height (width keeps the aspect ratio)")
    parser.add_argument("--tta", type=int, choices=(0, 2, 4, 8), help="test-time augmentation level (default 0: off)")
    parser.add_argument("--format", choices=tuple(OUTPUT_NAMES), help=format_help)
    parser.add_argument(
        "--frames",
        choices=("all", "first"),
        help="an animated GIF, WebP or PNG: enhance every frame (default), or only the first, as a still image",
    )
    parser.add_argument("--quality", type=int, help="lossy quality 1-100 (JPEG, AVIF; WebP is lossless without it)")
    parser.add_argument(
        "--alpha",
        choices=("lanczos", "network"),
        help="an image with transparency: run the network on its alpha too (the default: sharper edges, twice "
        "the inference), or resize the alpha with Lanczos",
    )
    parser.add_argument(
        "--metadata",
        choices=("keep", "all", "none"),
        help="the input's EXIF in the result: keep (camera, dates, exposure, author; never GPS; the default), "
        "all (with GPS and XMP), none (only the ICC profile)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="refuse damaged images (data that ends early) instead of filling them",
    )


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The options the flags gave, by long name; those left out are not in it."""
    return {name: value for name in OPTIONS if (value := getattr(args, name)) is not None}


def usage_error(error: ValidationError) -> UsageError:
    """Options that do not validate, as the flag to fix: ``--scale: Input should be greater than 0``."""
    where, message = field_errors(error.errors())[0]
    return UsageError(f"--{where}: {message}" if where else message)
