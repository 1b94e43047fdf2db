"""Run an operator's net once, in a separate process with limits, before anything else loads it.

Our reader (:mod:`enhanceit.models.ncnnfile`) has accepted the files by then, but ncnn's own loader and
layers are not hardened against hostile input (heap overflows in its parsers were reported: Tencent/ncnn
#6913-#6915, #6937), and a net can be well-formed yet wrong: another scale than it claims, values that blow
up, a shape ncnn mishandles. So the net first runs here, in a child process limited in address space
(:data:`MEMORY_MB`) and CPU time (:data:`SECONDS`), on three small random tiles. A crash, a limit hit or an
answer that does not add up refuses the model; the process that asked never loads it.

What the runs show becomes the model's tiling (:class:`~enhanceit.models.added.Probe`): an output of
``scale x side - border`` at each side means the net trims ``border / (2 x scale)`` input pixels per side
(valid convolutions: tiles padded by that much give the whole image's result exactly); an output of
``scale x side`` means it pads its own borders, and tiles overlap by :data:`SAME_PADDING_CONTEXT`. The
child's peak memory after the smallest and the largest tile gives the memory per tile pixel.

The child is ``python -m enhanceit.engine.probe``; it speaks one JSON line on stdout.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enhanceit.errors import ModelIntegrityError, public_detail
from enhanceit.models.added import Probe, probed_files
from enhanceit.models.weights import sha256_of

#: The child's address-space limit. ncnn at one thread, on a 96-pixel tile, needs a fraction of it for any
#: net a CPU can serve (Real-ESRGAN x4plus: about 450 MB); a net past it would not fit a server's budget.
MEMORY_MB = 2048
#: The child's CPU-time limit and the wall-clock limit around it.
SECONDS = 60
#: Input tile sides (square): three, to check that the output grows exactly ``scale`` times as fast.
SIDES = (48, 64, 96)
#: Context a same-padded net's tiles get per side: such nets are not exact when tiled (the zoo's
#: Real-ESRGAN takes 10).
SAME_PADDING_CONTEXT = 12


@dataclass(frozen=True)
class Request:
    param: Path
    weights: Path
    input_blob: str
    output_blob: str
    scale: int
    multiple: int = 1


#: The child: this module run as a program, given its arguments as one JSON value.
CHILD = ("-m", "enhanceit.engine.probe")


def probe(request: Request, memory_mb: int = MEMORY_MB, seconds: int = SECONDS, child: Sequence[str] = CHILD) -> Probe:
    """Run the net in a limited child process (``child``: the interpreter's arguments before the JSON); what it
    showed, or :class:`ModelIntegrityError` saying in one line why the net is refused."""
    sides = [math.ceil(s / request.multiple) * request.multiple for s in SIDES]
    args = {
        "param": str(request.param),
        "weights": str(request.weights),
        "input": request.input_blob,
        "output": request.output_blob,
        "sides": sides,
        "memory_mb": memory_mb,
        "seconds": seconds,
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    try:
        done = subprocess.run(
            [sys.executable, *child, json.dumps(args)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=seconds + 10,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelIntegrityError(f"the net ran past the probe's {seconds} s limit") from None
    answer = _answer(done.stdout)
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        reason = "hit the probe's CPU time limit" if name == "SIGXCPU" else f"crashed the probe process ({name})"
        raise ModelIntegrityError(f"the net {reason}")
    if "error" in answer:
        raise ModelIntegrityError(f"the net failed in the probe: {public_detail(str(answer['error']))}")
    if done.returncode != 0 or "runs" not in answer:
        raise ModelIntegrityError(f"the probe process failed (exit {done.returncode}; over {memory_mb} MB?)")
    return _tiling(request, sides, answer["runs"])


def _limit(memory_mb: int, seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _answer(stdout: bytes) -> dict[str, Any]:
    for line in reversed(stdout.decode("utf-8", "replace").splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def _tiling(request: Request, sides: Sequence[int], runs: list[dict[str, Any]]) -> Probe:
    """The tiling the runs show, or why they do not add up."""
    scale = request.scale
    for side, run in zip(sides, runs, strict=True):
        channels, height, width = run["shape"]
        if channels != 3:
            raise ModelIntegrityError(f"the net gives {channels} channels; 3 (RGB) are needed")
        if height != width:
            raise ModelIntegrityError(f"a {side}x{side} tile came out {width}x{height}")
        if not run["finite"]:
            raise ModelIntegrityError("the net's output holds values that are not finite")
    heights = [run["shape"][1] for run in runs]
    if any(h2 - h1 != scale * (s2 - s1) for (s1, h1), (s2, h2) in itertools.pairwise(zip(sides, heights, strict=True))):
        grew = (heights[-1] - heights[0]) / (sides[-1] - sides[0])
        raise ModelIntegrityError(f"the net scales by {grew:g}, not {scale} as given")
    border = scale * sides[0] - heights[0]
    if border < 0 or border % 2:
        raise ModelIntegrityError(f"the net's output ({heights[0]} from {sides[0]}) cannot be centred on the tile")
    exact = border > 0
    pad = math.ceil(border / (2 * scale)) if exact else SAME_PADDING_CONTEXT
    small, large = runs[0], runs[-1]
    padded = [(s + 2 * pad) ** 2 for s in (sides[0], sides[-1])]
    kb_per_px = max(1.0, (large["rss_kb"] - small["rss_kb"]) / max(1, padded[1] - padded[0]))
    base_mb = max(50, round(small["loaded_kb"] / 1024))
    return Probe(
        files=probed_files(sha256_of(request.param), sha256_of(request.weights)),
        pad=pad,
        exact=exact,
        multiple=request.multiple,
        base_mb=base_mb,
        kb_per_px=round(kb_per_px, 2),
    )


def _child(args: dict[str, Any]) -> dict[str, Any]:
    """In the probe process: limit itself, then load the net with ncnn, run it on each side, report shapes,
    finiteness, memory. The limits are set here, before the net's files are opened, rather than between
    fork and exec (``preexec_fn`` is unsafe in a parent with threads, as a server or a test runner has)."""
    _limit(int(args["memory_mb"]), int(args["seconds"]))
    import ncnn
    import numpy as np

    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = 1
    opt.lightmode = True
    opt.use_vulkan_compute = False
    opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = opt.use_bf16_storage = False
    if net.load_param(args["param"]) != 0 or net.load_model(args["weights"]) != 0:
        return {"error": "ncnn could not load it"}
    loaded_kb = _peak_kb()
    random = np.random.default_rng(0)
    runs = []
    for side in args["sides"]:
        data = random.random((3, side, side), dtype=np.float32)
        extractor = net.create_extractor()
        if extractor.input(args["input"], ncnn.Mat(data)) != 0:
            return {"error": f"ncnn refused the input blob {args['input']!r}"}
        code, out = extractor.extract(args["output"])
        if code != 0:
            return {"error": f"ncnn could not run it on a {side}x{side} tile (code {code})"}
        result = np.array(out)
        if result.ndim != 3:
            return {"error": f"the net gives a {result.ndim}-dimensional output"}
        runs.append({"shape": list(result.shape), "finite": bool(np.isfinite(result).all()), "rss_kb": _peak_kb()})
        del extractor, out, result
    runs[0]["loaded_kb"] = loaded_kb
    return {"runs": runs}


def _peak_kb() -> int:
    """This process's peak resident memory since it was exec'd (``VmHWM``): ``ru_maxrss`` would also count
    the parent's peak before the exec, which Linux carries over."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: Sequence[str]) -> int:
    try:
        answer = _child(json.loads(argv[0]))
    except MemoryError:
        answer = {"error": "it ran out of the probe's memory"}
    except Exception as e:  # the child's whole point is to report any failure as one line
        answer = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
