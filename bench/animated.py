"""Animations (issue 13): a 320x240 animated GIF at 2x, 10 and 100 frames, each a fresh process.

Reports seconds per frame, peak RSS (which must not grow from 10 to 100 frames beyond what the GIF
encoder itself needs) and how many frames were reused because they showed the same picture as the frame
before. The GIF pans across a photo and holds still on two frames in ten (each hold a fully transparent
frame drawn over the one before, as GIF optimisers write holds), so a fifth of the frames are reused.

The output is GIF, which libvips writes frame by frame, so the default limits apply (as animated WebP, 100
frames of 640x480 would be over the whole-frame cap, which counts every frame for WebP).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

WIDTH, HEIGHT = 320, 240
COUNTS = (10, 100)
MODELS = ("waifu2x-upconv7-anime", "art")
#: The child: enhance one file in-process and say how many frames were reused.
CHILD = """
import sys
from pathlib import Path
from enhanceit.config import load_settings
from enhanceit.engine.runtime import engine_from
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file
settings = load_settings()
out = enhance_file(Path(sys.argv[1]), Path(sys.argv[2]), EnhanceOptions(model=sys.argv[3]), engine_from(settings),
                   settings.limits, tmp_dir=settings.tmp_dir)
print(f"frames={out.frames} reused={out.reused_frames} model={out.model.id}", file=sys.stderr)
"""


def animated_gif(path: Path, frames: int) -> Path:
    """``frames`` frames panning across a photo, holding still on frames 8 and 9 of every ten."""
    photo = np.asarray(skimage.data.astronaut())
    images: list[Image.Image] = []
    for i in range(frames):
        if i % 10 in (8, 9):
            clear = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
            clear[..., 0] = i  # invisible, but not the same bytes (Pillow would merge identical frames)
            images.append(Image.fromarray(clear))
        else:
            x, y = (3 * i) % (photo.shape[1] - WIDTH), (2 * i) % (photo.shape[0] - HEIGHT)
            crop = photo[y : y + HEIGHT, x : x + WIDTH]
            images.append(Image.fromarray(np.dstack([crop, np.full((HEIGHT, WIDTH), 255, np.uint8)])))
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0, disposal=1)
    return path


def run(src: Path, dst: Path, model: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, the child's report) of one fresh process."""
    argv = ["/usr/bin/time", "-f", "peak-kb=%M", sys.executable, "-c", CHILD, str(src), str(dst), model]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=os.environ, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{model} on {src.name} failed: {proc.stderr.strip()[-500:]}")
    lines = proc.stderr.splitlines()
    peak = next(int(x.split("=")[1]) for x in reversed(lines) if x.startswith("peak-kb="))
    report = next(x for x in reversed(lines) if x.startswith("frames="))
    return seconds, peak / 1024, report


#: The encoders alone: a tall image of noise frames, made lazily by libvips (so the input holds no memory),
#: saved as an animation; the child prints its peak RSS in kB.
ENCODER = """
import sys
from enhanceit.imaging.vips import pyvips
frames, fmt = int(sys.argv[1]), sys.argv[2]
noise = pyvips.Image.gaussnoise(640, 480 * frames, sigma=60, mean=128).cast("uchar")
image = noise.bandjoin([noise.rot180(), noise.flip("horizontal")]).copy(interpretation="srgb")
image.set_type(pyvips.GValue.gint_type, "page-height", 480)
image.set_type(pyvips.GValue.array_int_type, "delay", [100] * frames)
getattr(image, fmt + "save")(sys.argv[3], **({"lossless": True, "effort": 2} if fmt == "webp" else {}))
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def encoders(work: Path) -> None:
    """Why only animated WebP counts every frame against the whole-frame cap (formats.keeps_every_frame)."""
    print("\n## Animation encoders alone, 640x480 noise frames: peak RSS at 10 and 100 frames")
    for fmt in ("webp", "gif"):
        peaks = []
        for frames in (10, 100):
            out = work / f"enc-{frames}.{fmt}"
            proc = subprocess.run(
                [sys.executable, "-c", ENCODER, str(frames), fmt, str(out)], capture_output=True, text=True, check=True
            )
            peaks.append(int(proc.stdout.split()[-1]) / 1024)
        print(f"  {fmt}: {peaks[0]:.0f} MB -> {peaks[1]:.0f} MB ({(peaks[1] - peaks[0]) / 90:+.2f} MB per frame)")


def main(work: Path) -> None:
    print(f"\n## Animated GIF {WIDTH}x{HEIGHT} at 2x: seconds per frame, peak RSS, frames reused (fresh process)")
    if not Path("/usr/bin/time").exists():
        print("install GNU time (Debian package 'time') for peak-memory figures")
        return
    print("| model | frames | s total | s per frame | peak RSS MB | frames reused | output frames |")
    print("|---|---|---|---|---|---|---|")
    for model in MODELS:
        for count in COUNTS:
            src = animated_gif(work / f"anim-{count}.gif", count)
            seconds, peak, report = run(src, work / f"anim-{count}-{model}.gif", model)
            fields = dict(x.split("=") for x in report.split())
            print(
                f"| {model} ({fields['model']}) | {count} | {seconds:.1f} | {seconds / count:.2f} | {peak:.0f} "
                f"| {fields['reused']} | {fields['frames']} |"
            )
    encoders(work)
