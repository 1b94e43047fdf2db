"""waifu2x-chainer's own models against their conversions, and the Real-ESRGAN / Real-CUGAN rows.

For each architecture, waifu2x-chainer (when its reference venv exists) and ``enhanceit upscale --model
chainer-<arch>`` enhance the same 512x512 photo 2x, each as a fresh process; the ratios are printed.
Targets: at least 5x faster than waifu2x-chainer with the same weights, at most a third of its peak RSS.
"""

from __future__ import annotations

from pathlib import Path

import skimage.data

from bench.engine import Run, chainer, enhanceit, measure, photo_of_size, table, write_image

ARCHS = ("VGG7", "UpConv7", "ResNet10", "UpResNet10")
GAN_MODELS = (
    ("realesrgan-x4plus", "4"),
    ("realesrgan-x4plus-anime", "4"),
    ("realesr-animevideov3", "2"),
    ("realesr-animevideov3", "4"),
    ("realcugan-se", "2"),
    ("realcugan-se", "4"),
    ("realcugan-pro", "2"),
)


def main(work: Path) -> None:
    photo = write_image(work / "astronaut-512.png", skimage.data.astronaut())
    print("\n## waifu2x-chainer's models: the original against the conversion (2x of a 512x512 photo)")
    rows: list[Run] = []
    ratios = []
    for arch in ARCHS:
        ours = measure(
            f"enhanceit chainer-{arch.lower()}", enhanceit(photo, work / "o.png", f"chainer-{arch.lower()}"), 512 * 512
        )
        rows.append(ours)
        argv = chainer(photo, work / "chainer", arch)
        if argv is None:
            continue
        (work / "chainer").mkdir(exist_ok=True)
        theirs = measure(f"waifu2x-chainer {arch}", argv, 512 * 512)
        rows.append(theirs)
        ratios.append((arch, theirs.seconds / ours.seconds, ours.peak_mb / theirs.peak_mb))
    table(rows)
    for arch, speed, memory in ratios:
        print(f"  {arch:<11} {speed:5.1f}x faster, {memory:.2f}x the peak RSS (targets: >= 5x, <= 0.33x)")
    if not ratios:
        print("  (waifu2x-chainer reference skipped: no venv)")

    print("\n## Real-ESRGAN and Real-CUGAN (a 256x256 photo)")
    small = write_image(work / "photo-256.png", photo_of_size(256, 256))
    rows = [
        measure(f"{model} {scale}x", enhanceit(small, work / "o.png", model, "--scale", scale), 256 * 256)
        for model, scale in GAN_MODELS
    ]
    print(f"  {'run':<58} {'seconds':>8} {'s/MP in':>8} {'peak RSS':>9}")
    for r in rows:
        print(f"  {r.label:<58} {r.seconds:>8.2f} {r.seconds / (r.in_pixels / 1e6):>8.1f} {r.peak_mb:>6.0f} MB")
