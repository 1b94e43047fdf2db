"""Which backend and precision run the nets on this machine (``ENHANCEIT_ENGINE_BACKEND`` and ``_PRECISION``).

* A GPU (``ENHANCEIT_ENGINE_GPU``) is ncnn's Vulkan path; everything below is about CPUs.
* ``precision: auto`` is bf16 where the CPU has bf16 matrix instructions (AMX-BF16 or AVX512-BF16) and f32
  elsewhere. bf16 runs on OpenVINO only: ncnn's own bf16 path was 1.5x slower than its fp32 and lost up to
  2.7/255 (measured on AVX-512). Against f32, OpenVINO's bf16 costs no measurable quality (README).
* ``backend: auto`` is OpenVINO wherever it runs bf16: on an Intel Xeon with AMX it ran CUnet 5.6x, SPAN 5x
  and Real-ESRGAN x4plus 8-10x faster than ncnn per output pixel, in a third to a tenth of the memory.
  At f32 neither wins everywhere (OpenVINO was 1.45x faster on CUnet and 5% slower on UpConv7 on the same
  machine), so the first load of each net on a machine without bf16 times one tile on each backend and
  keeps the faster: :class:`ChoiceCache` remembers it per net, tile, threads, CPU and versions, in the
  cache folder, so that only the first start of a machine pays for it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from enhanceit.errors import InvalidRequest

BackendName = Literal["ncnn", "openvino"]
Precision = Literal["f32", "bf16"]
BackendSetting = Literal["auto", "ncnn", "openvino"]
PrecisionSetting = Literal["auto", "f32", "bf16"]

#: CPU flags (as Linux names them in /proc/cpuinfo) that give OpenVINO's bf16 its speed.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Cpu:
    name: str
    flags: frozenset[str]

    @property
    def bf16(self) -> bool:
        return any(flag in self.flags for flag in BF16_FLAGS)

    def describe(self) -> str:
        """The name and the flags that matter here, as figures in the README quote them."""
        shown = [
            f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8") if f in self.flags
        ]
        return f"{self.name} ({' '.join(shown) or 'no AVX2'})"


@lru_cache(maxsize=1)
def cpu() -> Cpu:
    """This machine's processor, from /proc/cpuinfo (a name alone elsewhere)."""
    name, flags = "unknown CPU", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and name == "unknown CPU":
                name = value.strip()
            elif key == "flags" and not flags:
                flags = value
    except OSError:
        pass
    return Cpu(name, frozenset(flags.split()))


def openvino_version() -> str | None:
    """The installed OpenVINO's version, without importing it (0.25 s and 56 MB), or None."""
    try:
        return importlib.metadata.version("openvino")
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Resolved:
    """What the settings decide before any net is loaded: ``backend`` None means "measure each net"."""

    backend: BackendName | None
    precision: Precision
    #: Why, in a few words (``config show``, ``models list``, the load log).
    reason: str

    def describe(self) -> str:
        backend = self.backend or "ncnn or openvino, whichever is faster"
        return f"{backend} {self.precision} ({self.reason})"


def resolve(
    backend: BackendSetting, precision: PrecisionSetting, gpu: int | None, machine: Cpu | None = None
) -> Resolved:
    machine = machine or cpu()
    have_openvino = openvino_version() is not None
    if gpu is not None:
        if backend == "openvino" or precision == "bf16":
            raise InvalidRequest("a GPU runs on ncnn's Vulkan path: set no OpenVINO backend or bf16 with it")
        return Resolved("ncnn", "f32", "GPU")
    if backend == "ncnn":
        if precision == "bf16":
            raise InvalidRequest("ncnn runs f32 only here: bf16 needs ENHANCEIT_ENGINE_BACKEND=openvino or auto")
        return Resolved("ncnn", "f32", "set")
    if (backend == "openvino" or precision == "bf16") and not have_openvino:
        raise InvalidRequest("OpenVINO is not installed (pip install openvino), or set ENHANCEIT_ENGINE_BACKEND=ncnn")
    if precision == "auto":
        chosen: Precision = "bf16" if machine.bf16 and have_openvino else "f32"
        why = "the CPU has bf16" if chosen == "bf16" else "no bf16 on this CPU"
    else:
        chosen, why = precision, "set"
    if backend == "openvino":
        return Resolved("openvino", chosen, why)
    if chosen == "bf16":
        return Resolved("openvino", "bf16", why)
    if not have_openvino:
        return Resolved("ncnn", "f32", "OpenVINO is not installed")
    return Resolved(None, "f32", "measured per net at its first load")


class ChoiceCache:
    """The faster backend for each net on this machine, as measured once: a small JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str, net: str, side: int, threads: int) -> str:
        import ncnn  # only asked where both backends are there to measure

        versions = f"ncnn {getattr(ncnn, '__version__', '?')}, openvino {openvino_version()}"
        return f"{model} {net} input {side} threads {threads} | {cpu().name} | {versions}"

    def _read(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(k, str) and v in ("ncnn", "openvino")}
            if isinstance(data, dict)
            else {}
        )

    def get(self, key: str) -> BackendName | None:
        with self._lock:
            value = self._read().get(key)
        return "openvino" if value == "openvino" else "ncnn" if value == "ncnn" else None

    def put(self, key: str, backend: BackendName) -> None:
        if self.path is None:
            return
        with self._lock:
            data = self._read()
            data[key] = backend
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            tmp.replace(self.path)
