"""Photos as they arrive: PSNR gain over bicubic on JPEGs (and WebP, HEIC, AVIF) per noise level, and ``auto``.

The quality set: scikit-image's astronaut, coffee, chelsea and rocket (the first two are the issue's grid),
box-downscaled by the factor (2 or 4), saved lossy at each quality, then enlarged back by the factor; the
figure is the PSNR (RGB, 8-bit) of the result against the original photo minus that of bicubic from the same
lossy file: what the network adds over the plain resize a user would otherwise get. ``q92>75`` is a JPEG of
a JPEG (saved at 92, decoded, saved at 75), the common case on the web.

For each model with noise levels the table gives each level and ``auto`` (what
:mod:`enhanceit.models.autonoise` picks from the file), and for the aliases what ``auto`` gives with the
model it resolves to. The mapping in ``autonoise`` rests on this table: rerun it after changing a model.
Everything runs in this process (one engine, nets loaded once); a figure is a mean over the photos, with
astronaut's and coffee's own beside it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.engine import box_down, psnr, scikit_photos, to_array, write_image
from enhanceit.imaging.vips import pyvips

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
#: Models with noise levels (one or two per family) and the aliases.
MODELS = ("waifu2x-upconv7-photo", "waifu2x-cunet", "chainer-upconv7", "realcugan-se")
ALIASES = ("photo",)
LEVELS = (-1, 0, 1, 2, 3)


@dataclass(frozen=True)
class Lossy:
    """One way of saving the downscaled photo: a label and a writer."""

    label: str
    suffix: str
    save: Callable[[pyvips.Image, Path], None]


def _jpeg(q: int) -> Lossy:
    return Lossy(f"jpeg q{q}", ".jpg", lambda image, path: image.jpegsave(str(path), Q=q))


def _jpeg_twice(first: int, second: int) -> Lossy:
    def save(image: pyvips.Image, path: Path) -> None:
        data = image.jpegsave_buffer(Q=first)
        pyvips.Image.new_from_buffer(data, "").jpegsave(str(path), Q=second)

    return Lossy(f"jpeg q{first}>{second}", ".jpg", save)


def _heic(q: int) -> Lossy:
    def save(image: pyvips.Image, path: Path) -> None:
        import pillow_heif

        pixels = to_array(image)
        pillow_heif.from_bytes(mode="RGB", size=(image.width, image.height), data=pixels.tobytes()).save(
            str(path), quality=q
        )

    return Lossy(f"heic q{q}", ".heic", save)


PNG = Lossy("png", ".png", lambda image, path: image.pngsave(str(path)))
JPEGS = (*(_jpeg(q) for q in (50, 60, 75, 85, 92, 97, 99)), _jpeg_twice(92, 75))
#: The other lossy formats at their encoders' usual qualities (libvips' defaults: WebP 75, AVIF 50;
#: pillow-heif's HEIC 50, and an iPhone's about 90).
OTHERS = (
    Lossy("webp q75", ".webp", lambda image, path: image.webpsave(str(path), Q=75)),
    Lossy("webp q90", ".webp", lambda image, path: image.webpsave(str(path), Q=90)),
    _heic(50),
    _heic(90),
    Lossy("avif q50", ".avif", lambda image, path: image.heifsave(str(path), compression="av1", Q=50, effort=2)),
    Lossy("avif q80", ".avif", lambda image, path: image.heifsave(str(path), compression="av1", Q=80, effort=2)),
)


def read(path: Path) -> np.ndarray:
    """RGB pixels of a file as the service decodes it (HEVC through pillow-heif: libvips' build has no HEVC)."""
    if path.suffix == ".heic":
        import pillow_heif

        heif = pillow_heif.open_heif(str(path))
        return np.asarray(heif[heif.primary_index])[:, :, :3].copy()
    return to_array(pyvips.Image.new_from_file(str(path)))[:, :, :3]


class QualitySet:
    """The photos saved each way at one factor, with bicubic's PSNR from each file."""

    def __init__(self, work: Path, factor: int, ways: tuple[Lossy, ...]) -> None:
        self.factor = factor
        self.photos = scikit_photos(PHOTOS)
        self.files: dict[tuple[str, str], Path] = {}
        self.bicubic: dict[tuple[str, str], float] = {}
        for name, pixels in self.photos.items():
            low = box_down(pixels, factor)
            src = write_image(work / f"{name}-{factor}.png", low)
            for way in dict.fromkeys((*ways, PNG)):  # the clean PNG's bicubic too, saved once
                path = work / f"{name}-{factor}-{way.label.replace(' ', '-').replace('>', '-')}{way.suffix}"
                way.save(pyvips.Image.new_from_file(str(src)), path)
                decoded = read(path)
                up = to_array(
                    pyvips.Image.new_from_memory(decoded.tobytes(), *low.shape[1::-1], 3, "uchar").resize(
                        factor, kernel="cubic"
                    )
                )
                self.files[name, way.label] = path
                self.bicubic[name, way.label] = psnr(up, pixels)

    def gains(self, enhance: Callable[[Path, Path], None], way: str, work: Path) -> list[float]:
        out = []
        for name, pixels in self.photos.items():
            dst = work / "out.png"
            enhance(self.files[name, way], dst)
            result = to_array(pyvips.Image.new_from_file(str(dst)))[:, :, :3]
            out.append(psnr(result, pixels) - self.bicubic[name, way])
            dst.unlink()
        return out


def measure(
    qset: QualitySet, work: Path, model: str, noise: int | str, way: str, engine: Any
) -> tuple[list[float], set[str]]:
    """Gains over bicubic on each photo saved ``way``, and what ran (model/first pass' level)."""
    from enhanceit.config import LimitSettings
    from enhanceit.options import EnhanceOptions
    from enhanceit.pipeline.process import enhance_file

    ran: set[str] = set()

    def run(src: Path, dst: Path) -> None:
        options = EnhanceOptions(model=model, scale=qset.factor, format="png", noise=noise, metadata="none")
        outcome = enhance_file(src, dst, options, engine, LimitSettings())
        ran.add(f"{outcome.model.id}/{outcome.noise}")

    return qset.gains(run, way, work), ran


def table(work: Path, factor: int, ways: tuple[Lossy, ...], models: tuple[str, ...] = MODELS) -> None:
    from enhanceit.engine.runtime import Engine, EngineConfig
    from enhanceit.errors import UnsupportedOperation

    engine = Engine(EngineConfig(threads=2))
    qset = QualitySet(work, factor, ways)
    print(
        f"\n## Noise reduction at {factor}x: PSNR gain over bicubic from the same file "
        f"(dB, mean of {len(PHOTOS)} photos; astronaut/coffee in brackets)"
    )
    print(f"  {'model':<22} {'input':<14}" + "".join(f"{'noise ' + str(n):>21}" for n in LEVELS) + "  auto")
    for model in (*models, *ALIASES):
        for way in ways:
            cells = []
            for noise in (*LEVELS, "auto") if model not in ALIASES else ("auto",):
                try:
                    gains, ran = measure(qset, work, model, noise, way.label, engine)
                except UnsupportedOperation:  # a level the model lacks
                    cells.append(f"{'-':>21}")
                    continue
                cell = f"{statistics.mean(gains):+.2f} ({gains[0]:+.2f}/{gains[1]:+.2f})"
                if noise == "auto":
                    picks = sorted(r if model in ALIASES else r.split("/")[1] for r in ran)
                    cells.append(f"  {cell} {','.join(picks)}")
                else:
                    cells.append(f"{cell:>21}")
            pad = "" if model not in ALIASES else " " * 21 * len(LEVELS)
            print(f"  {model:<22} {way.label:<14}{pad}" + "".join(cells), flush=True)


def main(work: Path) -> None:
    for factor in (2, 4):
        table(work, factor, (*JPEGS, PNG))
    table(work, 2, OTHERS)
