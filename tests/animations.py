"""Animated test images made with Pillow from real photos, and their frames read back with libvips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from enhanceit.imaging.vips import pyvips
from tests.helpers import Array, from_vips, photo


def pans(count: int, width: int = 48, height: int = 40, name: str = "astronaut") -> list[npt.NDArray[np.uint8]]:
    """``count`` different crops of a photo, panning across it: frames of a small animation."""
    img = photo(name)
    return [
        np.ascontiguousarray(img[40 + 7 * k : 40 + 7 * k + height, 60 + 5 * k : 60 + 5 * k + width])
        for k in range(count)
    ]


def save_animation(
    frames: list[npt.NDArray[np.uint8]], path: Path, durations: list[int], loop: int = 0, **options: object
) -> Path:
    """An animated GIF, WebP or PNG (APNG) of ``frames`` (RGB or RGBA arrays), as Pillow writes it."""
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=loop, **options)
    return path


def frames_of(path: Path) -> tuple[list[Array], list[int], int]:
    """(every frame composited, as RGB or RGBA arrays; durations in ms; loop: plays, 0 for ever), by libvips."""
    tall = pyvips.Image.new_from_file(str(path), n=-1)
    fields = tall.get_fields()
    height = tall.get("page-height") if "page-height" in fields else tall.height
    pixels = from_vips(tall)
    frames = [pixels[k : k + height] for k in range(0, tall.height, height)]
    delays = list(tall.get("delay")) if "delay" in fields else []
    return frames, delays, int(tall.get("loop")) if "loop" in fields else 0


def pillow_frames(path: Path) -> list[npt.NDArray[np.uint8]]:
    """Every frame composited, as Pillow shows it (RGBA): for APNG, which libvips reads as a still."""
    out = []
    with Image.open(path) as image:
        for k in range(getattr(image, "n_frames", 1)):
            image.seek(k)
            out.append(np.asarray(image.convert("RGBA")))
    return out
