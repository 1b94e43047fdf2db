"""Alpha by the network or by Lanczos (``alpha: network`` against the default): what each does to edges.

Four RGBA test images of 512x512, made from scikit-image pictures: soft edges (a photo in a Gaussian-falloff
oval; a blurred silhouette, like a drop shadow) and hard ones (scikit-image's horse silhouette and a star,
both anti-aliased by drawing them 4x larger and box-averaging). Each is box-downscaled by the factor (2, 4)
and enlarged back with each mode; the figure is the PSNR of the result's alpha against the original's, and
of the result composited over mid-grey against the original composited the same way (what a viewer sees).
Crops of the horse's edge are written next to the table for a look (``ALPHA_CROPS=folder``).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import numpy as np
import skimage.data
from skimage.draw import polygon
from skimage.filters import gaussian
from skimage.transform import resize

from bench.engine import box_down, psnr, to_array
from enhanceit.imaging.vips import pyvips

SIZE = 512
MODELS = ("waifu2x-upconv7-photo", "waifu2x-cunet")


def _supersampled(mask: np.ndarray) -> np.ndarray:
    """A binary mask drawn at 4x, box-averaged to anti-aliased 8-bit alpha."""
    return box_down((mask[:, :, None] * 255).astype(np.uint8), 4)[:, :, 0]


def images() -> dict[str, np.ndarray]:
    photo = skimage.data.astronaut()[:SIZE, :SIZE]
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE - 0.5
    oval = np.clip(1.6 - 6 * (x * x + 1.4 * y * y) ** 0.5 * 1.5, 0, 1)
    horse_big = ~resize(skimage.data.horse(), (SIZE * 4, SIZE * 4), order=0, anti_aliasing=False).astype(bool)
    horse = _supersampled(horse_big)
    star_big = np.zeros((SIZE * 4, SIZE * 4), dtype=bool)
    angles = np.linspace(0, 2 * np.pi, 11)[:-1]
    radii = np.where(np.arange(10) % 2 == 0, 0.45, 0.2) * SIZE * 4
    rr, cc = polygon(SIZE * 2 + radii * np.sin(angles), SIZE * 2 + radii * np.cos(angles), star_big.shape)
    star_big[rr, cc] = True
    star = _supersampled(star_big)
    shadow = (gaussian(horse / 255.0, sigma=6) * 255).round().astype(np.uint8)
    return {
        "soft oval (photo)": np.dstack([photo, (oval * 255).round().astype(np.uint8)]),
        "soft shadow": np.dstack([np.full((SIZE, SIZE, 3), 40, np.uint8), shadow]),
        "hard horse": np.dstack([photo, horse]),
        "hard star": np.dstack([np.ascontiguousarray(photo[:, ::-1]), star]),
    }


def over_grey(rgba: np.ndarray) -> np.ndarray:
    a = rgba[:, :, 3:4].astype(np.float64) / 255
    return np.rint(rgba[:, :, :3] * a + 128 * (1 - a)).astype(np.uint8)


def main(work: Path) -> None:
    from enhanceit.config import LimitSettings
    from enhanceit.engine.runtime import Engine, EngineConfig
    from enhanceit.options import EnhanceOptions
    from enhanceit.pipeline.process import enhance_file

    engine = Engine(EngineConfig(threads=2))
    crops = Path(os.environ["ALPHA_CROPS"]) if os.environ.get("ALPHA_CROPS") else None
    print("\n## Alpha: Lanczos against the network (PSNR of the alpha / of the picture over grey, dB)")
    print(f"  {'image':<20} {'model':<22} {'x':>2} {'lanczos':>16} {'network':>16} {'gain':>14}")
    gains: dict[str, list[float]] = {"soft": [], "hard": []}
    for name, rgba in images().items():
        for model in MODELS:
            for factor in (2, 4):
                low = box_down(rgba, factor)
                src = work / "in.png"
                pyvips.Image.new_from_memory(low.tobytes(), low.shape[1], low.shape[0], 4, "uchar").pngsave(str(src))
                cells = []
                for mode in ("lanczos", "network"):
                    out = work / f"out-{mode}.png"
                    options = EnhanceOptions(model=model, scale=factor, alpha=mode, noise=-1, metadata="none")
                    enhance_file(src, out, options, engine, LimitSettings())
                    result = to_array(pyvips.Image.new_from_file(str(out)))
                    cells.append((psnr(result[:, :, 3], rgba[:, :, 3]), psnr(over_grey(result), over_grey(rgba))))
                    if crops is not None and name == "hard horse" and model == MODELS[0]:
                        crops.mkdir(parents=True, exist_ok=True)
                        region = result[180:308, 300:428, 3]
                        pyvips.Image.new_from_memory(region.tobytes(), 128, 128, 1, "uchar").resize(
                            4, kernel="nearest"
                        ).pngsave(str(crops / f"horse-{factor}x-{mode}.png"))
                (la, lp), (na, np_) = cells
                gains[name.split()[0]].append(na - la)
                print(
                    f"  {name:<20} {model:<22} {factor:>2} {la:>7.2f} / {lp:>6.2f} {na:>7.2f} / {np_:>6.2f}"
                    f" {na - la:>+6.2f} / {np_ - lp:>+5.2f}",
                    flush=True,
                )
    for kind, values in gains.items():
        print(f"  {kind} edges: the network's alpha gains {statistics.mean(values):+.2f} dB on average")
