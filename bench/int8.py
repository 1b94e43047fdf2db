"""Issue 12, lever 4: int8 convolutions on the CPU. Does ncnn's int8 path pay for its loss of fidelity?

The rule: ship an int8 model only if it loses at most 0.1 dB PSNR on the quality set and runs at least 1.5x
faster than fp32. This bench writes int8 copies of a model's ncnn files and measures both.

* Quantiser (our own code, from ncnn's file format as its loader reads it: ``Convolution::load_param`` /
  ``load_model``, ``ModelBinFromDataReader::load``): a quantised Convolution gets ``8=1`` (int8_scale_term)
  in the .param; in the .bin its weights become the int8 tag ``0x000D4B38`` and one signed byte a weight
  (rounded half away from zero, clamped to +-127, padded to 4 bytes), followed by the bias as before (raw
  fp32), then ``num_output`` fp32 weight scales (127 / the output channel's max |w|; 0 for an all-zero
  channel, which ncnn maps to a zero output) and one fp32 input scale (127 / threshold of the layer's bottom
  blob). Every other layer's bytes are copied verbatim (Deconvolution, InnerProduct stay fp32).
* Calibration: the fp32 net run on crops of the quality photos as the net sees them (box-downscaled by 2,
  float CHW in 0..1, with the net's context pad), every quantised layer's bottom blob extracted. Thresholds:
  ``max`` (max |x|), ``p99.99`` (that percentile of |x|) and ``mse`` (the clip that minimises the
  estimated rounding plus clipping error over the histogram of |x|).
* Quality: the protocol of :func:`bench.photos.quality` at 2x (scikit-image astronaut, chelsea, coffee,
  rocket, box-downscaled by 2, enhanced in-process through the engine, PSNR against the originals), with an
  engine whose backend is the same :class:`~enhanceit.engine.ncnn_backend.NcnnBackend` on the int8 files.
  Also each variant's output against the fp32 output: PSNR, max abs difference and mean brightness shift
  (8-bit levels).
* Speed: one :class:`NcnnBackend` per file at 1 thread on a fixed photo crop, fp32 and int8 extractions
  alternating, median of 5 after a warm-up. Pin the process to one core (``taskset -c 1``).

python bench/int8.py [--models waifu2x-upconv7-photo waifu2x-cunet span] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
FACTOR = 2
#: (model id, input side for the speed run, without the net's pad)
MODELS = {"waifu2x-upconv7-photo": 256, "waifu2x-cunet": 128, "span": 256}
DEFAULT_MODELS = ("waifu2x-upconv7-photo", "waifu2x-cunet")
CALIB_TILE = 64  # calibration crop side before the pad
CALIB_CROPS = 3  # crops per photo
SPEED_RUNS = 5
RULE_DB, RULE_SPEEDUP = 0.1, 1.5

TAG_FP16, TAG_INT8, TAG_FP32_RAW = 0x01306B47, 0x000D4B38, 0x0002C056


# ---------------------------------------------------------------------------------------------- ncnn files


@dataclass
class Layer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, str]  # id -> raw text (arrays keep their "n,v,v" text under their plain id)
    line: str
    blobs: list[bytes] = field(default_factory=list)  # the layer's weight records, verbatim
    weight: np.ndarray | None = None  # Convolution: fp32 weights
    bias: np.ndarray | None = None

    def get(self, key: int, default: int) -> int:
        return int(self.params.get(key, default))


def read_param(path: Path) -> tuple[list[str], list[Layer]]:
    lines = path.read_text().split("\n")
    if lines[0].strip() != "7767517":
        raise ValueError(f"{path}: not a text ncnn param (magic {lines[0]!r})")
    layers = []
    for line in lines[2:]:
        if not line.strip():
            continue
        tok = line.split()
        nb, nt = int(tok[2]), int(tok[3])
        params: dict[int, str] = {}
        for kv in tok[4 + nb + nt :]:
            k, v = kv.split("=", 1)
            key = int(k)
            params[-key - 23300 if key <= -23300 else key] = v
        layers.append(Layer(tok[0], tok[1], tok[4 : 4 + nb], tok[4 + nb : 4 + nb + nt], params, line))
    return lines[:2], layers


def _records(layer: Layer) -> list[tuple[int, int]]:
    """(load type, element count) of each weight record the layer's ``load_model`` reads, in order."""
    t, g = layer.type, layer.get
    if t in ("Convolution", "ConvolutionDepthWise", "Deconvolution", "DeconvolutionDepthWise"):
        if g(8, 0):
            raise ValueError(f"{layer.name}: already quantised")
        return [(0, g(6, 0))] + ([(1, g(0, 0))] if g(5, 0) else [])
    if t == "InnerProduct":
        if g(8, 0):
            raise ValueError(f"{layer.name}: already quantised")
        return [(0, g(2, 0))] + ([(1, g(0, 0))] if g(1, 0) else [])
    if t == "MemoryData":
        return [(1, g(0, 0) * max(1, g(1, 0)) * max(1, g(11, 0)) * max(1, g(2, 0)))]
    if t == "Scale":
        size = g(0, 0)
        return ([(1, size)] if size != -233 else []) + ([(1, size)] if g(1, 0) else [])
    if t in (
        "Input", "Split", "Crop", "Eltwise", "Pooling", "BinaryOp", "Concat", "PixelShuffle",
        "Sigmoid", "Swish", "ReLU", "Interp", "Padding",
    ):  # fmt: skip
        return []
    raise ValueError(f"{layer.name}: layer type {t} not known to this quantiser")


def _load(data: bytes, pos: int, kind: int, count: int) -> tuple[np.ndarray, int]:
    """One record as ``ModelBinFromDataReader::load`` reads it: the values and the position after it."""
    if kind == 1:
        end = pos + 4 * count
        return np.frombuffer(data, "<f4", count, pos).astype(np.float32), end
    (tag,) = struct.unpack_from("<I", data, pos)
    pos += 4
    if tag == TAG_FP16:
        size = (2 * count + 3) // 4 * 4
        return np.frombuffer(data, "<f2", count, pos).astype(np.float32), pos + size
    if tag == TAG_INT8:
        raise ValueError("int8 weights in the source model")
    if tag == TAG_FP32_RAW or tag == 0:
        return np.frombuffer(data, "<f4", count, pos).astype(np.float32), pos + 4 * count
    raise ValueError(f"weight record tag {tag:#x} (table-quantised) not supported")


def read_model(param: Path, weights: Path) -> tuple[list[str], list[Layer]]:
    header, layers = read_param(param)
    data, pos = weights.read_bytes(), 0
    for layer in layers:
        for i, (kind, count) in enumerate(_records(layer)):
            values, end = _load(data, pos, kind, count)
            layer.blobs.append(data[pos:end])
            if layer.type == "Convolution":
                if i == 0:
                    layer.weight = values
                else:
                    layer.bias = values
            pos = end
    if pos != len(data):
        raise ValueError(f"{weights}: {len(data) - pos} bytes left after the last layer")
    return header, layers


def round_away(x: np.ndarray) -> np.ndarray:
    """C's ``round``, as ncnn's ``float2int8`` uses it."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def weight_scales(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel scales (127 / max |w|, 0 for a zero channel) and the int8 weights."""
    assert layer.weight is not None
    w = layer.weight.reshape(layer.get(0, 0), -1)
    absmax = np.abs(w).max(axis=1)
    scales = np.where(absmax > 0, 127.0 / np.where(absmax > 0, absmax, 1.0), 0.0).astype(np.float32)
    q = np.clip(round_away(w * scales[:, None]), -127, 127).astype(np.int8)
    return scales, q.reshape(-1)


def write_int8(
    header: list[str],
    layers: list[Layer],
    input_scales: dict[str, float],
    param: Path,
    weights: Path,
    weights_only: bool = False,
) -> None:
    """The model with the Convolutions named in ``input_scales`` in int8 (their input scale given).

    ``weights_only``: a diagnostic, not an int8 model: the same layers keep fp32 compute and inputs, their
    weights replaced by the int8 values times 1/scale (raw fp32 records), so the loss due to weights alone
    shows."""
    lines, chunks = list(header), []
    for layer in layers:
        if layer.name not in input_scales:
            lines.append(layer.line)
            chunks.extend(layer.blobs)
            continue
        if layer.type != "Convolution":
            raise ValueError(f"{layer.name}: only Convolution is quantised here")
        scales, q = weight_scales(layer)
        if weights_only:
            inverse = np.where(scales > 0, 1.0 / np.where(scales > 0, scales, 1.0), 0.0)
            w = (q.reshape(len(scales), -1) * inverse[:, None]).astype("<f4")
            chunks.append(struct.pack("<I", 0) + w.tobytes())
            chunks.extend(layer.blobs[1:])
            lines.append(layer.line)
            continue
        raw = q.tobytes()
        chunks.append(struct.pack("<I", TAG_INT8) + raw + b"\0" * (-len(raw) % 4))
        chunks.extend(layer.blobs[1:])  # the bias, raw fp32, unchanged
        chunks.append(scales.astype("<f4").tobytes())
        chunks.append(np.array([input_scales[layer.name]], "<f4").tobytes())
        lines.append(layer.line.rstrip() + " 8=1")
    param.write_text("\n".join(lines) + "\n")
    weights.write_bytes(b"".join(chunks))


# ---------------------------------------------------------------------------------------------- calibration


def photos() -> dict[str, np.ndarray]:
    from bench.engine import scikit_photos

    return scikit_photos(PHOTOS)


def calibration_inputs(lows: dict[str, np.ndarray], pad: int) -> list[np.ndarray]:
    """Fixed crops (seeded) of the low-resolution photos, net-input sized, float CHW in 0..1."""
    rng = np.random.default_rng(12)
    side = CALIB_TILE + 2 * pad
    crops = []
    for low in lows.values():
        for _ in range(CALIB_CROPS):
            y = int(rng.integers(0, low.shape[0] - side + 1))
            x = int(rng.integers(0, low.shape[1] - side + 1))
            crop = low[y : y + side, x : x + side].transpose(2, 0, 1).astype(np.float32) / 255.0
            crops.append(np.ascontiguousarray(crop))
    return crops


def _fp32_net(param: Path, weights: Path, lightmode: bool = False):
    import ncnn

    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = 1
    opt.lightmode = lightmode
    opt.use_vulkan_compute = False
    opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise RuntimeError(f"ncnn could not load {param}")
    return net


def activations(param: Path, weights: Path, input_blob: str, blobs: list[str], inputs: list[np.ndarray]):
    """Yield, per calibration input, {blob: |activation| as a flat float32 array}."""
    import ncnn

    net = _fp32_net(param, weights)
    for data in inputs:
        mat = ncnn.Mat(data)
        ex = net.create_extractor()
        ex.input(input_blob, mat)
        found = {}
        for blob in blobs:
            ret, out = ex.extract(blob)
            if ret != 0:
                raise RuntimeError(f"could not extract {blob} ({ret})")
            found[blob] = np.abs(np.array(out, dtype=np.float32)).ravel()
        yield found
        del ex, mat


BINS = 4096


def thresholds(
    param: Path, weights: Path, input_blob: str, blobs: list[str], inputs: list[np.ndarray]
) -> dict[str, dict[str, float]]:
    """Per blob, per method (max, p99.99, mse): the clip threshold of |activation|. Two passes: max, then a
    histogram of |x| on [0, max]."""
    maxima = dict.fromkeys(blobs, 0.0)
    for found in activations(param, weights, input_blob, blobs, inputs):
        for blob, values in found.items():
            maxima[blob] = max(maxima[blob], float(values.max()))
    hists = {blob: np.zeros(BINS, np.float64) for blob in blobs}
    for found in activations(param, weights, input_blob, blobs, inputs):
        for blob, values in found.items():
            top = maxima[blob] or 1.0
            hists[blob] += np.histogram(values, BINS, (0.0, top))[0]
    out = {}
    for blob in blobs:
        top = maxima[blob] or 1.0
        hist = hists[blob]
        width = top / BINS
        centres = (np.arange(BINS) + 0.5) * width
        cum = np.cumsum(hist) / hist.sum()
        p9999 = (int(np.searchsorted(cum, 0.9999)) + 1) * width
        # mse: rounding error (step^2 / 12 per value under the clip) plus clipping error above it
        best, best_err = top, np.inf
        for edge in range(BINS // 32, BINS + 1, 8):
            clip = edge * width
            step = clip / 127.0
            under = hist[:edge].sum() * step * step / 12.0
            over = float(np.sum(hist[edge:] * (centres[edge:] - clip) ** 2))
            if under + over < best_err:
                best, best_err = clip, under + over
        out[blob] = {"max": top, "p99.99": min(p9999, top), "mse": best}
    return out


# ---------------------------------------------------------------------------------------------- variants


@dataclass
class Variant:
    label: str
    method: str  # threshold method
    keep_fp32: tuple[str, ...]  # Convolution layer names kept fp32
    weights_only: bool = False
    param: Path | None = None
    weights: Path | None = None


def variants_for(convs: list[Layer]) -> list[Variant]:
    first, last = convs[0].name, convs[-1].name
    return [
        Variant("int8 all conv, max", "max", ()),
        Variant("int8 all conv, p99.99", "p99.99", ()),
        Variant("int8 all conv, mse", "mse", ()),
        Variant("int8 first+last conv fp32, max", "max", (first, last)),
        Variant("int8 first+last conv fp32, mse", "mse", (first, last)),
        Variant("diag: int8 weights, fp32 compute", "max", (), weights_only=True),
    ]


# ---------------------------------------------------------------------------------------------- quality


def quality(work: Path, model: str, files: dict[str, tuple[Path, Path]]) -> dict[str, dict[str, object]]:
    """Per variant label: PSNR per photo vs the originals, and vs the fp32 output (PSNR, max abs diff, mean
    brightness shift), through the engine's own tiling and the service's ncnn backend."""
    from bench.engine import box_down, psnr, to_array, write_image
    from enhanceit.config import LimitSettings
    from enhanceit.engine.ncnn_backend import NcnnBackend
    from enhanceit.engine.runtime import Engine, EngineConfig
    from enhanceit.imaging.vips import pyvips
    from enhanceit.models.registry import REGISTRY
    from enhanceit.options import EnhanceOptions
    from enhanceit.pipeline.process import enhance_file

    originals = photos()
    smalls = {n: write_image(work / f"{n}-{FACTOR}.png", box_down(p, FACTOR)) for n, p in originals.items()}
    results: dict[str, dict[str, object]] = {}
    fp32_out: dict[str, np.ndarray] = {}
    for label, (param, weights) in files.items():

        def factory(spec, net, param=param, weights=weights):
            return NcnnBackend(net, param, weights, 1)

        engine = Engine(EngineConfig(threads=1), registry=REGISTRY.enabling(REGISTRY.ids()), factory=factory)
        row: dict[str, object] = {"psnr": {}, "vs_fp32": {}, "maxdiff": {}, "shift": {}}
        for name, src in smalls.items():
            out = work / f"int8-{model}-{name}.png"
            enhance_file(src, out, EnhanceOptions(model=model, scale=FACTOR, format="png"), engine, LimitSettings())
            result = to_array(pyvips.Image.new_from_file(str(out)))[:, :, :3]
            out.unlink()
            row["psnr"][name] = psnr(result, originals[name])  # type: ignore[index]
            if label == "fp32":
                fp32_out[name] = result
            ref = fp32_out[name].astype(np.int16)
            row["vs_fp32"][name] = psnr(result, fp32_out[name])  # type: ignore[index]
            row["maxdiff"][name] = int(np.abs(result.astype(np.int16) - ref).max())  # type: ignore[index]
            row["shift"][name] = float(result.mean() - ref.mean())  # type: ignore[index]
        results[label] = row
        print(f"    quality done: {label}", flush=True)
    return results


# ---------------------------------------------------------------------------------------------- speed


def speed(model: str, side: int, files: dict[str, tuple[Path, Path]]) -> dict[str, float]:
    """Median seconds of one extraction per file, all nets loaded, extractions alternating.

    Each backend keeps its feature-map pools from call to call (as within one pass of the service), so
    only the first, untimed call pays for allocating them. (Written when pools were kept per thread and
    emptied when a thread moved to another net; each backend still runs on a worker thread of its own.)"""
    from concurrent.futures import ThreadPoolExecutor

    from enhanceit.engine.ncnn_backend import NcnnBackend

    net, data = speed_input(model, side)
    backends = {label: NcnnBackend(net, p, w, 1) for label, (p, w) in files.items()}
    workers = {label: ThreadPoolExecutor(max_workers=1) for label in backends}

    def timed(backend: NcnnBackend) -> float:
        t0 = time.perf_counter()
        backend.infer(data)
        return time.perf_counter() - t0

    times: dict[str, list[float]] = {label: [] for label in backends}
    try:
        for label, backend in backends.items():
            workers[label].submit(timed, backend).result()  # warm-up
        for _ in range(SPEED_RUNS):
            for label, backend in backends.items():
                times[label].append(workers[label].submit(timed, backend).result())
    finally:
        for worker in workers.values():
            worker.shutdown()
    return {label: statistics.median(t) for label, t in times.items()}


def speed_input(model: str, side: int) -> tuple[object, np.ndarray]:
    from bench.engine import box_down
    from enhanceit.models.registry import REGISTRY

    net = next(n for n in REGISTRY.get(model).nets if n.scale == FACTOR and n.noise == -1)
    full = side + 2 * net.pad
    low = box_down(photos()["astronaut"], FACTOR)
    return net, np.ascontiguousarray(low[:full, :full].transpose(2, 0, 1).astype(np.float32) / 255.0)


def speed_knobs(model: str, side: int, fp32: tuple[Path, Path], int8: tuple[Path, Path]) -> dict[str, float]:
    """Diagnostic: the same nets with ncnn's Winograd convolutions on and off (the backend's options
    otherwise), to see whether int8 loses to fp32 because fp32 has Winograd F(6,3) and int8 only F(4,3).
    Also the largest raw output difference of the int8 net between the two (0 if int8 Winograd is exact)."""
    import ncnn

    net, data = speed_input(model, side)
    nets = {}
    for label, (param, weights) in (("fp32", fp32), ("int8", int8)):
        for winograd in (True, False):
            n = ncnn.Net()
            opt = n.opt
            opt.num_threads, opt.lightmode, opt.use_vulkan_compute = 1, True, False
            opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
            opt.use_bf16_storage = False
            opt.use_winograd_convolution = winograd
            if n.load_param(str(param)) != 0 or n.load_model(str(weights)) != 0:
                raise RuntimeError(f"ncnn could not load {param}")
            nets[f"{label}, winograd {'on' if winograd else 'off'}"] = n

    def once(n: object) -> tuple[float, np.ndarray]:
        mat = ncnn.Mat(data)
        ex = n.create_extractor()  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        ex.input(net.input_blob, mat)  # type: ignore[attr-defined]
        _, out = ex.extract(net.output_blob)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - t0
        return seconds, np.array(out, dtype=np.float32, copy=True)

    outs = {label: once(n)[1] for label, n in nets.items()}  # warm-up
    times: dict[str, list[float]] = {label: [] for label in nets}
    for _ in range(SPEED_RUNS):
        for label, n in nets.items():
            times[label].append(once(n)[0])
    found = {label: statistics.median(t) for label, t in times.items()}
    found["int8 winograd on vs off: max abs diff"] = float(
        np.abs(outs["int8, winograd on"] - outs["int8, winograd off"]).max()
    )
    return found


# ---------------------------------------------------------------------------------------------- driver


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    has = [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    return f"{name}; flags: {', '.join(has) or 'none of avx2/fma/avx512/vnni'}"


def run_model(work: Path, model: str) -> dict[str, object]:
    from bench.engine import box_down
    from enhanceit.models import weights as weight_files
    from enhanceit.models.registry import REGISTRY

    net = next(n for n in REGISTRY.get(model).nets if n.scale == FACTOR and n.noise == -1)
    param, bin_path = weight_files.verified_net_files(net)
    header, layers = read_model(param, bin_path)
    convs = [layer for layer in layers if layer.type == "Convolution"]
    others = sorted({layer.type for layer in layers if layer.type in ("ConvolutionDepthWise", "Deconvolution")})
    print(f"\n## {model} {FACTOR}x: {len(convs)} Convolution layers quantised at most; fp32 kept: {others}")
    lows = {n: box_down(p, FACTOR) for n, p in photos().items()}
    inputs = calibration_inputs(lows, net.pad)
    blobs = sorted({layer.bottoms[0] for layer in convs})
    t0 = time.perf_counter()
    limits = thresholds(param, bin_path, net.input_blob, blobs, inputs)
    print(f"  calibration: {len(inputs)} crops of {CALIB_TILE + 2 * net.pad} px, {time.perf_counter() - t0:.1f} s")
    for layer in convs:
        t = limits[layer.bottoms[0]]
        print(
            f"    {layer.name:<16} in {layer.bottoms[0]:<34} "
            f"max {t['max']:8.3f} p99.99 {t['p99.99']:8.3f} mse {t['mse']:8.3f}"
        )
    files = {"fp32": (param, bin_path)}
    for v in variants_for(convs):
        scales = {
            layer.name: 127.0 / limits[layer.bottoms[0]][v.method] for layer in convs if layer.name not in v.keep_fp32
        }
        slug = v.label.replace(" ", "-").replace(",", "").replace("+", "-")
        v.param, v.weights = work / f"{model}-{slug}.param", work / f"{model}-{slug}.bin"
        write_int8(header, layers, scales, v.param, v.weights, v.weights_only)
        files[v.label] = (v.param, v.weights)
    print(f"  kept fp32 in the 'first+last' variants: {convs[0].name}, {convs[-1].name}")
    qual = quality(work, model, files)
    secs = speed(model, MODELS[model], files)
    knobs = speed_knobs(model, MODELS[model], files["fp32"], files["int8 all conv, max"])
    return {"quality": qual, "speed": secs, "knobs": knobs, "side": MODELS[model] + 2 * net.pad}


def report(model: str, found: dict[str, object]) -> None:
    qual: dict[str, dict[str, dict[str, float]]] = found["quality"]  # type: ignore[assignment]
    secs: dict[str, float] = found["speed"]  # type: ignore[assignment]
    base = statistics.mean(qual["fp32"]["psnr"].values())
    side = found["side"]
    print(
        f"\n  {model} {FACTOR}x: PSNR vs originals (dB), loss vs fp32, output vs fp32, "
        f"speed ({side}x{side} input, 1 thread)"
    )
    cells = "".join(f"{n:>10}" for n in PHOTOS)
    print(
        f"  {'variant':<32}{cells}{'mean':>8}{'loss':>7}{'vs fp32':>9}{'maxdiff':>8}{'shift':>7}"
        f"{'s':>7}{'speedup':>8}  rule"
    )
    for label, row in qual.items():
        mean = statistics.mean(row["psnr"].values())
        loss = base - mean
        vs = statistics.mean(min(v, 99.0) for v in row["vs_fp32"].values())
        maxdiff = max(row["maxdiff"].values())
        shift = statistics.mean(row["shift"].values())
        ratio = secs["fp32"] / secs[label]
        ok = loss <= RULE_DB and ratio >= RULE_SPEEDUP
        verdict = "-" if label == "fp32" else ("PASS" if ok else "fail")
        cells = "".join(f"{row['psnr'][n]:>10.2f}" for n in PHOTOS)
        print(
            f"  {label:<32}{cells}{mean:>8.2f}{loss:>+7.2f}{vs:>9.2f}{maxdiff:>8}{shift:>+7.2f}"
            f"{secs[label]:>7.3f}{ratio:>7.2f}x  {verdict}"
        )
    knobs: dict[str, float] = found["knobs"]  # type: ignore[assignment]
    print("  diagnostic, raw ncnn nets (int8 = all conv, max), median s per extraction:")
    for label, value in knobs.items():
        print(f"    {label:<40} {value:.4f}")


def main(work: Path, models: tuple[str, ...] | list[str] = DEFAULT_MODELS) -> None:
    import ncnn

    print("\n## int8 convolutions (issue 12, lever 4): PSNR on the quality set at 2x and one-thread speed")
    print(f"  CPU: {cpu_flags()}; ncnn {ncnn.__version__}; use_int8_inference on (ncnn's default)")
    print(f"  rule: ship only if the loss is <= {RULE_DB} dB and the speed-up >= {RULE_SPEEDUP}x")
    for model in models:
        found = run_model(work, model)
        report(model, found)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS), choices=list(MODELS))
    parser.add_argument("--keep", type=Path, help="write the int8 files here and keep them")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        main(args.keep, args.models)
    else:
        with tempfile.TemporaryDirectory(prefix="enhanceit-int8-") as tmp:
            main(Path(tmp), args.models)
