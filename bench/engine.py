"""Engine benchmarks: seconds, megapixels per second and whole-process peak RSS, one process per run.

Every figure is a fresh ``enhanceit upscale`` process (imports, model load, decode, inference, encode), its
peak resident memory taken from the kernel (``wait4``), as a user would meet it. When the waifu2x-chainer
reference venv exists (``../shared/tools/waifu2x-chainer-reference.sh``), it runs on the same photo in the
same run and the ratios are printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skimage.data

from enhanceit.imaging.vips import pyvips

CHAINER_VENV = Path(os.environ.get("WAIFU2X_CHAINER_VENV", "/tmp/waifu2x-chainer-venv"))


@dataclass
class Run:
    label: str
    seconds: float
    peak_mb: float
    in_pixels: int

    @property
    def mps(self) -> float:
        return self.in_pixels / self.seconds / 1e6


def measure(label: str, argv: list[str], in_pixels: int, env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` to completion: wall seconds and the command's own peak RSS.

    Through GNU time when it is there: a child forked straight from this (large) Python process would
    inherit its high-water mark at exec (Linux folds the old address space's peak into the new
    program's), so ru_maxrss would report this process's size, not the command's.
    """
    time_binary = Path("/usr/bin/time")
    wrapped = [str(time_binary), "-f", "peak-kb=%M", *argv] if time_binary.exists() else argv
    start = time.perf_counter()
    proc = subprocess.run(
        wrapped,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed: {proc.stderr.strip()[-500:]}")
    peaks = [line for line in proc.stderr.splitlines() if line.startswith("peak-kb=")]
    if not peaks:
        raise RuntimeError("install GNU time (Debian package 'time') for clean peak-memory figures")
    return Run(label, seconds, int(peaks[-1].split("=")[1]) / 1024, in_pixels)


def write_image(path: Path, pixels: np.ndarray) -> Path:
    h, w, c = pixels.shape
    pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).tobytes(), w, h, c, "uchar").pngsave(str(path))
    return path


def to_array(image: pyvips.Image) -> np.ndarray:
    return np.ndarray(
        buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands)
    ).copy()


def from_array(pixels: np.ndarray) -> pyvips.Image:
    h, w, c = pixels.shape
    return pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).tobytes(), w, h, c, "uchar")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def box_down(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Each ``factor`` x ``factor`` block averaged: the downscaling the quality tables are measured on."""
    h, w, c = pixels.shape
    blocks = pixels.reshape(h // factor, factor, w // factor, factor, c).astype(np.float64)
    return np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)


def scikit_photos(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """scikit-image's photos by name, RGB, cropped to a multiple of 4 a side (so 2x and 4x divide them)."""
    out = {}
    for name in names:
        pixels = getattr(skimage.data, name)()[:, :, :3]
        h, w = pixels.shape[0] // 4 * 4, pixels.shape[1] // 4 * 4
        out[name] = np.ascontiguousarray(pixels[:h, :w])
    return out


def photo_of_size(width: int, height: int) -> np.ndarray:
    """A real photo (scikit-image's astronaut) resized with Lanczos to the size wanted."""
    base = skimage.data.astronaut()
    image = pyvips.Image.new_from_memory(base.tobytes(), 512, 512, 3, "uchar")
    image = image.resize(width / 512, vscale=height / 512, kernel="lanczos3")
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(height, width, 3))


def enhanceit(src: Path, dst: Path, model: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "enhanceit.cli",
        "upscale",
        str(src),
        "-o",
        str(dst),
        "--model",
        model,
        "--quiet",
        *extra,
    ]


def chainer(src: Path, out_dir: Path, arch: str, method: str = "scale", noise: int = 1) -> list[str] | None:
    python = CHAINER_VENV / "bin" / "python"
    if not python.exists():
        return None
    argv = [
        str(python),
        "-m",
        "waifu2x",
        "-i",
        str(src),
        "-o",
        str(out_dir),
        "-a",
        arch,
        "-m",
        method,
        "-s",
        "2",
        "-c",
        "rgb",
    ]
    if method != "scale":
        argv += ["-n", str(noise)]
    return argv


def table(rows: list[Run]) -> None:
    print(f"  {'run':<58} {'seconds':>8} {'MP/s':>7} {'peak RSS':>9}")
    for r in rows:
        print(f"  {r.label:<58} {r.seconds:>8.2f} {r.mps:>7.3f} {r.peak_mb:>6.0f} MB")


def main(work: Path, models: list[str], quick: bool = False) -> None:
    small = write_image(work / "astronaut-512.png", skimage.data.astronaut())
    rows: list[Run] = []
    print("\n## 2x of a 512x512 photo (whole process)")
    for model in models:
        rows.append(measure(f"{model} 512x512", enhanceit(small, work / "o.png", model), 512 * 512))
    ref = chainer(small, work / "chainer", "UpResNet10")
    reference = None
    if ref is not None:
        (work / "chainer").mkdir(exist_ok=True)
        reference = measure("waifu2x-chainer UpResNet10 512x512", ref, 512 * 512)
        rows.append(reference)
    table(rows)
    if reference is not None:
        cunet = next((r for r in rows if r.label.startswith("waifu2x-cunet")), None)
        if cunet is not None:
            print(
                f"  waifu2x-cunet vs waifu2x-chainer UpResNet10: {reference.seconds / cunet.seconds:.1f}x faster, "
                f"{cunet.peak_mb / reference.peak_mb:.2f}x the peak RSS (target >= 6x faster)"
            )
    else:
        print(f"  (waifu2x-chainer reference skipped: no venv at {CHAINER_VENV})")
    if quick:
        return

    big = write_image(work / "photo-2048.png", photo_of_size(2048, 2048))
    rows = []
    print("\n## 2x of a 2048x2048 image")
    for model in models:
        rows.append(measure(f"{model} 2048x2048", enhanceit(big, work / "o.png", model), 2048 * 2048))
    table(rows)

    parallel_tiles(work, small, big)

    print("\n## Peak RSS of large images (targets: <= 512 MB, < 15% growth from 1 MP to 8 MP input)")
    rows = []
    for w, h in ((1280, 720), (1920, 1080), (3840, 2160)):
        src = write_image(work / f"photo-{w}x{h}.png", photo_of_size(w, h))
        rows.append(
            measure(
                f"waifu2x-upconv7-photo {w}x{h} -> {2 * w}x{2 * h}",
                enhanceit(src, work / "o.png", "waifu2x-upconv7-photo"),
                w * h,
            )
        )
    src = work / "photo-1920x1080.png"
    rows.append(
        measure("waifu2x-cunet 1920x1080 -> 3840x2160", enhanceit(src, work / "o.png", "waifu2x-cunet"), 1920 * 1080)
    )
    table(rows)
    one, eight = rows[0], rows[2]
    print(
        f"  peak RSS growth from {one.in_pixels / 1e6:.1f} MP to {eight.in_pixels / 1e6:.1f} MP input: "
        f"{100 * (eight.peak_mb / one.peak_mb - 1):+.1f}%"
    )


def parallel_tiles(work: Path, small: Path, big: Path, repeats: int = 3) -> None:
    """Tiles in parallel on single-thread extractions against one tile at a time on every thread (the
    engine before, ``ENHANCEIT_ENGINE_PARALLEL_TILES=false``): CUnet 2x, alternating, median of ``repeats``."""
    print("\n## Parallel tiles (waifu2x-cunet 2x; median of alternating runs; target: >= 1.3x MP/s at 2048x2048)")
    rows: list[Run] = []
    for name, src, pixels in (("512x512", small, 512 * 512), ("2048x2048", big, 2048 * 2048)):
        runs: dict[str, list[Run]] = {"true": [], "false": []}
        for _ in range(repeats if pixels < 2048 * 2048 else 1):
            for flag in runs:
                env = {"ENHANCEIT_ENGINE_PARALLEL_TILES": flag}
                label = f"{name}, {'parallel tiles' if flag == 'true' else 'one tile, all threads'}"
                runs[flag].append(measure(label, enhanceit(src, work / "o.png", "waifu2x-cunet"), pixels, env))
        medians = {flag: sorted(r, key=lambda x: x.seconds)[len(r) // 2] for flag, r in runs.items()}
        rows += [medians["true"], medians["false"]]
        print(f"  {name}: {medians['false'].seconds / medians['true'].seconds:.2f}x the MP/s with parallel tiles")
    table(rows)
