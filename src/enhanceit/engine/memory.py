"""What a net costs in memory, the tiles a memory budget holds, and the CPUs this process may use.

Pure arithmetic over the zoo's measured figures, so that every sizing decision the engine makes can be
checked without loading a net:

* A net on a backend, in a precision, has a :class:`Footprint`: the MB the process holds with it loaded
  (``base_mb``) and the KB its feature maps take per pixel of one padded tile (``kb_per_px``). A tile of side
  ``t`` is fed to the net as ``pre_upsample * (t + 2 * pad)`` pixels a side (:func:`padded_side`), so it
  costs that squared times ``kb_per_px`` (:meth:`Footprint.tile_kb`, the one place this is written).
* The tile a net runs at is the backend's default (:func:`default_tile`), cut down by ``multiple`` until one
  tile fits the budget beside ``base_mb`` (:meth:`Footprint.largest_tile`), never below the model's floor.
* ncnn runs several tiles at once, one thread each, as many as fit the budget (:func:`tiles_in_flight`);
  the peak while a net runs is its base plus those tiles (:meth:`Footprint.working_mb`).

The CPU count sits here too because it is the other half of the same sizing (threads per tile, tiles in
flight): a container's cgroup quota, read through a function tests can feed (:func:`cpu_quota`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from enhanceit.engine.choice import BackendName, Precision
from enhanceit.engine.tiles import round_up
from enhanceit.models.spec import ModelSpec, Net

#: No tile is smaller, whatever is asked or the budget says: below it a tile is mostly its context.
MIN_TILE = 16
#: OpenVINO's tile side unless the memory budget asks for less: its bf16 time per pixel is flat from 128 to
#: 400 on CUnet (0.35, 0.31, 0.34 µs per output pixel at 128, 256, 400) while the context a tile carries
#: shrinks with its size (18 px a side: 2.4x the pixels at 64, 1.3x at 256), and it needs a tenth of ncnn's
#: memory per pixel. Larger is no faster and only costs memory. A model may set its own (``openvino_tile``).
OPENVINO_TILE = 256
#: OpenVINO's feature maps per tile pixel at f32, against bf16 (the zoo's ``openvino_kb_per_px``): measured
#: 1.2 to 1.9x; the largest (Real-ESRGAN x4plus, ResNet10, VGG7) is taken.
OPENVINO_F32_MEMORY = 1.9
#: A model whose OpenVINO memory was not measured is taken to need this share of its ncnn ``kb_per_px``
#: in bf16 (measured shares: 0.07 to 0.3).
OPENVINO_UNMEASURED_SHARE = 0.35
#: The resident memory OpenVINO itself adds once (its import and CPU plugin: 56 MB measured, and more on
#: first compile), counted on top of a model's ``base_mb`` when sizing tiles.
OPENVINO_RUNTIME_MB = 60
#: GPUs want big tiles, and their memory is not this process's RSS: the default tile is this many times
#: larger on one (the budget still caps it, as it counts RSS).
GPU_TILE_FACTOR = 4

#: cgroup v2's CPU limit of this process's container: "<quota> <period>" in µs, or "max <period>".
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def padded_side(net: Net, tile: int) -> int:
    """The side of what ``net`` is fed for a tile of side ``tile``: the tile, its context on both sides,
    enlarged first where the net runs on a pre-upsampled input."""
    return net.pre_upsample * (tile + 2 * net.pad)


def requested_tile(net: Net, tile: int) -> int:
    """A tile asked for (by a client or the operator): at least :data:`MIN_TILE`, rounded up to the net's
    multiple."""
    return round_up(max(tile, MIN_TILE), net.multiple)


def smallest_tile(spec: ModelSpec) -> int:
    """The floor the budget may cut a model's tiles to (tiny tiles of big nets are mostly overlap)."""
    return max(MIN_TILE, spec.min_tile)


def default_tile(spec: ModelSpec, net: Net, kind: BackendName, *, gpu: bool = False) -> int:
    """The tile ``net`` runs at on ``kind`` where the budget allows it: OpenVINO's larger one (the model's
    own or :data:`OPENVINO_TILE`), else the model's ``default_tile``, on a GPU :data:`GPU_TILE_FACTOR` times
    that."""
    default = (spec.openvino_tile or OPENVINO_TILE) if kind == "openvino" else spec.default_tile
    tile = round_up(default, net.multiple)
    return tile * GPU_TILE_FACTOR if gpu else tile


@dataclass(frozen=True)
class Footprint:
    """What a net takes on one backend in one precision, as the zoo measured it: the process's resident MB
    with the net loaded, and the KB of feature maps per pixel of one padded tile in flight."""

    base_mb: float
    kb_per_px: float

    def tile_kb(self, net: Net, tile: int) -> float:
        """The feature maps of one tile of side ``tile`` in flight, in KB."""
        side = padded_side(net, tile)
        return side * side * self.kb_per_px

    def working_mb(self, net: Net, tile: int, in_flight: int = 1) -> float:
        """Peak MB while ``net`` runs ``in_flight`` tiles of side ``tile`` at once."""
        return self.base_mb + in_flight * self.tile_kb(net, tile) / 1024

    def fitting(self, net: Net, tile: int, budget_mb: float) -> int:
        """How many tiles of side ``tile`` the budget holds beside the loaded net (0: not even one)."""
        return int((budget_mb - self.base_mb) * 1024 // max(1.0, self.tile_kb(net, tile)))

    def largest_tile(self, net: Net, budget_mb: float, up_to: int, floor: int) -> int:
        """The largest tile up to ``up_to``, in steps of the net's multiple, whose feature maps fit the budget
        beside the net; never below ``floor`` (at the floor it runs over the budget: the engine warns)."""
        budget_kb = (budget_mb - self.base_mb) * 1024
        tile = up_to
        while tile > floor and self.tile_kb(net, tile) > budget_kb:
            tile -= net.multiple
        return round_up(tile, net.multiple)


def footprint(spec: ModelSpec, kind: BackendName, precision: Precision, net: Net | None = None) -> Footprint:
    """``spec``'s footprint on ``kind`` in ``precision``; ``net`` where it takes more than its model (ncnn:
    Real-CUGAN's 3x nets).

    OpenVINO's figures are the zoo's bf16 ones (where unmeasured, :data:`OPENVINO_UNMEASURED_SHARE` of ncnn's),
    :data:`OPENVINO_F32_MEMORY` times that in f32, on a base that includes :data:`OPENVINO_RUNTIME_MB`. ncnn
    runs in f32 only, so its precision does not enter."""
    if kind == "openvino":
        kb = spec.openvino_kb_per_px or spec.kb_per_px * OPENVINO_UNMEASURED_SHARE
        base = spec.openvino_base_mb or spec.base_mb + OPENVINO_RUNTIME_MB
        return Footprint(base, kb * (OPENVINO_F32_MEMORY if precision == "f32" else 1.0))
    return Footprint(spec.base_mb, max(spec.kb_per_px, net.kb_per_px if net is not None else 0.0))


def tiles_in_flight(footprint: Footprint, net: Net, tile: int, budget_mb: float, threads: int) -> int:
    """Tiles of one pass to run at once, one thread each: as many as there are ``threads`` and as the budget
    holds (each needs its own feature maps), and always one."""
    return max(1, min(threads, footprint.fitting(net, tile, budget_mb)))


def read_cpu_max() -> str:
    return CPU_MAX.read_text()


def cpu_quota(read: Callable[[], str] = read_cpu_max) -> int | None:
    """Whole CPUs the cgroup v2 quota allows (at least one), or None: no quota ("max"), no cgroup v2 file,
    or text that is not "<quota> <period>" in positive whole µs.

    A fractional quota rounds down, as a thread more than the quota only gets throttled: 1.5 CPUs run one
    thread."""
    try:
        quota, period = read().split()[:2]
        if quota == "max":
            return None
        allowed, every = int(quota), int(period)
    except (OSError, ValueError):
        return None
    if allowed <= 0 or every <= 0:
        return None
    return max(1, allowed // every)


def available_cpus(read: Callable[[], str] = read_cpu_max) -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (containers' CPU limit).

    ``os.cpu_count()`` counts the machine's cores, so in a container limited to 2 CPUs on a 64-core node
    ncnn would start 64 threads and thrash.
    """
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota(read)
    return max(1, count if quota is None else min(count, quota))
