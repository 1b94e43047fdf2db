"""The engine: loaded networks, tile sizes from a memory budget, and passes from raster to raster.

An :class:`Engine` is created once per process and shared. It loads each network the first time it is
needed (after verifying its weights) and keeps it; ``run_plan`` chains a plan's passes through temporary
raster files in a work folder, reporting progress per tile and checking for cancellation between tiles.

Each net runs on ncnn or OpenVINO, in f32 or bf16, as :mod:`enhanceit.engine.choice` decides for this
machine. OpenVINO runs one tile at a time on every thread, in larger tiles and in far less memory than
ncnn (:data:`~enhanceit.engine.memory.OPENVINO_TILE`; the zoo's ``openvino_kb_per_px``). What a net costs
and which tiles fit the budget is worked out by :mod:`enhanceit.engine.memory`; the engine asks it.

On ncnn, a pass runs several tiles at once, one thread each (``parallel_tiles``), as many as there are
threads and as the memory budget holds at the net's default tile (each tile in flight needs its own
feature maps); when only one fits, the net is loaded with every thread on its one tile, as before. ncnn
fixes a net's thread count when it loads it, so this is decided then. Tile sizes never depend on it, so
neither do results.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enhanceit.config import Settings, default_cache_dir
from enhanceit.engine.base import Backend, Network
from enhanceit.engine.choice import BackendName, BackendSetting, ChoiceCache, Precision, PrecisionSetting, resolve

# the constants stay importable from here, where tests and tools have read them
from enhanceit.engine.memory import MIN_TILE as MIN_TILE
from enhanceit.engine.memory import OPENVINO_F32_MEMORY as OPENVINO_F32_MEMORY
from enhanceit.engine.memory import OPENVINO_RUNTIME_MB as OPENVINO_RUNTIME_MB
from enhanceit.engine.memory import OPENVINO_TILE as OPENVINO_TILE
from enhanceit.engine.memory import OPENVINO_UNMEASURED_SHARE as OPENVINO_UNMEASURED_SHARE
from enhanceit.engine.memory import (
    Footprint,
    available_cpus,
    default_tile,
    footprint,
    padded_side,
    requested_tile,
    smallest_tile,
    tiles_in_flight,
)
from enhanceit.engine.model import ModelNetwork
from enhanceit.engine.plan import Plan
from enhanceit.engine.tiles import count_tiles, run_pass
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.models import added, weights
from enhanceit.models.registry import REGISTRY, Registry
from enhanceit.models.spec import ModelSpec, Net

#: Loads a net's backend (ncnn by default; tests give the fake); the engine wraps it in its model's steps.
BackendFactory = Callable[[ModelSpec, Net], Backend]
#: Called with (tiles done, tiles in all passes).
Progress = Callable[[int, int], None]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    #: ncnn threads per inference; 0 = every core of the machine.
    threads: int = 0
    #: Vulkan device index, or None for the CPU.
    gpu: int | None = None
    #: Peak process memory (MB) an inference may reach; tiles shrink below the model's default to fit.
    memory_budget_mb: int = 400
    #: Tile side forced for every model (0 = each model's default, reduced to fit the budget).
    tile: int = 0
    models_dir: Path | None = None
    #: Nets kept loaded; each holds its weights (up to ~0.5 GB for Real-ESRGAN x4plus after Winograd).
    max_loaded: int = 4
    #: Run independent tiles at once on single-thread extractions (False: one tile at a time, every thread
    #: on it: the engine before this lever, kept to compare). ncnn only.
    parallel_tiles: bool = True
    backend: BackendSetting = "auto"
    precision: PrecisionSetting = "auto"
    #: Where OpenVINO keeps compiled nets and the measured backend choices (None: nothing is kept).
    cache_dir: Path | None = None

    @property
    def thread_count(self) -> int:
        return self.threads or available_cpus()


@dataclass
class _Counter:
    total: int
    done: int = 0
    callback: Progress | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self) -> None:
        with self.lock:
            self.done += 1
            done = self.done
        if self.callback is not None:
            self.callback(done, self.total)


class Engine:
    def __init__(
        self,
        config: EngineConfig | None = None,
        registry: Registry = REGISTRY,
        factory: BackendFactory | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.registry = registry
        #: What the settings decide on this machine (a backend of None: measured per net, see ``kind``).
        self.resolved = resolve(self.config.backend, self.config.precision, self.config.gpu)
        self._factory = factory or self._load
        self._custom_factory = factory is not None
        self._networks: OrderedDict[tuple[str, str], _Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._kinds: dict[tuple[str, str], BackendName] = {}
        self._measure_lock = threading.Lock()
        #: The winner of a measurement, loaded, and the MB its loading took, until ``network`` takes it.
        self._measured: dict[tuple[str, str], tuple[Backend, float]] = {}
        self._choices = ChoiceCache(self.config.cache_dir / "backend-choice.json" if self.config.cache_dir else None)

    @property
    def precision(self) -> Precision:
        return self.resolved.precision

    def kind(self, spec: ModelSpec, net: Net) -> BackendName:
        """The backend ``net`` runs on here: the settings', else the faster one measured on this machine
        (once per net, remembered in the cache folder; the measured winner stays loaded)."""
        if self._custom_factory:  # a test's backend: sized as ncnn nets are, whatever the machine
            return "ncnn"
        if self.resolved.backend is not None:
            return self.resolved.backend
        key = (spec.id, net.key)
        with self._measure_lock:
            found = self._kinds.get(key)
            if found is None:
                found = self._kinds[key] = self._measure(spec, net)
            return found

    def _measure(self, spec: ModelSpec, net: Net) -> BackendName:
        """Time each backend on tiles of its own size (ncnn with its tiles in flight at once) and keep the one
        with the shorter time per output pixel; the winner stays loaded for :meth:`network`."""
        import time

        import numpy as np

        threads = self.config.thread_count
        tiles: dict[BackendName, int] = {k: self._tile(spec, net, k) for k in ("ncnn", "openvino")}
        sides = {k: padded_side(net, t) for k, t in tiles.items()}
        cache_key = ChoiceCache.key(spec.id, net.key, sides["openvino"], threads)
        known = self._choices.get(cache_key)
        if known is not None:
            return known
        channels = 1 if net.color == "y" else 3
        seconds: dict[BackendName, float] = {}
        for kind in ("ncnn", "openvino"):
            before = resident_mb()
            backend = self._load_backend(spec, net, kind)
            mb = max(0.0, resident_mb() - before)
            side, tile = sides[kind], tiles[kind]
            in_flight = self._in_flight(spec, net, tile, kind)
            # smooth, like a photo: on random noise OpenVINO's bf16 ran 2x slower than on photos (measured)
            ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)
            pattern = 0.5 + 0.3 * np.sin(6.0 * ramp)[:, None] * np.cos(4.0 * ramp)[None, :]
            data = np.ascontiguousarray(np.broadcast_to(pattern, (channels, side, side)), dtype=np.float32)
            pool = ThreadPoolExecutor(in_flight)
            for _ in range(2):  # the first round warms caches up
                start = time.perf_counter()
                list(pool.map(backend.infer, [data] * in_flight))
                seconds[kind] = (time.perf_counter() - start) / (in_flight * tile * tile)
            pool.shutdown()
            backend.release()
            if kind == "ncnn" or seconds["openvino"] < seconds["ncnn"]:
                self._measured[(spec.id, net.key)] = (backend, mb)
            del backend
        best: BackendName = "openvino" if seconds["openvino"] < seconds["ncnn"] else "ncnn"
        log.info(
            "%s %s: %.2f µs per pixel on ncnn, %.2f on OpenVINO f32 (measured once on this machine): %s",
            spec.id,
            net.key,
            seconds["ncnn"] * 1e6,
            seconds["openvino"] * 1e6,
            best,
        )
        self._choices.put(cache_key, best)
        return best

    def _load(self, spec: ModelSpec, net: Net) -> Backend:
        kind = self.kind(spec, net)
        measured = self._measured.get((spec.id, net.key))
        return measured[0] if measured else self._load_backend(spec, net, kind)

    def _load_backend(self, spec: ModelSpec, net: Net, kind: BackendName) -> Backend:
        param, bin_path = weights.verified_net_files(net, self.config.models_dir)
        tile = self._tile(spec, net, kind)
        if kind == "openvino":
            from enhanceit.engine.openvino_backend import OpenVinoBackend

            return OpenVinoBackend(
                net,
                param,
                bin_path,
                threads=self.config.thread_count,
                precision=self.precision,
                input_side=padded_side(net, tile),
                exact_tiling=spec.exact_tiling,
                cache_dir=self.config.cache_dir / "openvino" if self.config.cache_dir else None,
            )
        from enhanceit.engine.ncnn_backend import NcnnBackend

        threads = max(1, self.config.thread_count // self._in_flight(spec, net, tile, kind))
        return NcnnBackend(net, param, bin_path, threads, self.config.gpu)

    def network(self, spec: ModelSpec, net: Net) -> Network:
        """The loaded net, loading it (verified) on first use.

        Loaded nets count against the memory budget: the one about to run needs ``base_mb`` plus its tiles
        in flight (what the tile size was fitted to), and every other net kept loaded adds the resident
        memory it took when it was loaded (weights and their Winograd copies). The least recently used are
        dropped until the rest fit beside it, and beyond ``max_loaded`` (a job still running one keeps it
        alive until it ends)."""
        key = (spec.id, net.key)
        with self._lock:  # loads one at a time: two big nets loading at once would double the peak
            working = self._working_mb(spec, net)
            headroom = self.config.memory_budget_mb - working
            found = self._networks.get(key)
            if found is None:
                if headroom < 0:  # at its smallest tile: Real-ESRGAN x4plus and RealSR under the default
                    log.warning(
                        "%s needs about %.0f MB at its smallest tile, over the memory budget of %d MB; it runs "
                        "anyway (ENHANCEIT_ENGINE_MEMORY_BUDGET_MB)",
                        spec.id,
                        working,
                        self.config.memory_budget_mb,
                    )
                self._evict(key, headroom, loading=True)  # before loading: its own peak must fit too
                before = resident_mb()
                backend = self._factory(spec, net)
                measured = self._measured.pop(key, None)
                # a backend may know its cost (the test fake says); a measured one was loaded earlier
                cost = measured[1] if measured else getattr(backend, "resident_mb", None)
                found = self._networks[key] = _Loaded(
                    ModelNetwork(net, backend),
                    max(0.0, resident_mb() - before) if cost is None else float(cost),
                    backend.name,
                    backend.precision,
                )
                log.info(
                    "loaded %s %s on %s %s, tile %d, %.0f MB",
                    spec.id,
                    net.key,
                    found.backend,
                    found.precision,
                    self.tile_for(spec, net),
                    found.mb,
                )
            self._networks.move_to_end(key)
            self._evict(key, headroom)
            return found.network

    def _evict(self, keep: tuple[str, str], headroom: float, loading: bool = False) -> None:
        """Drop the least recently used nets other than ``keep`` until the others fit in ``headroom`` MB and
        the count in ``max_loaded`` (with room for ``keep`` when it is about to be loaded)."""
        limit = max(1, self.config.max_loaded) - (1 if loading else 0)
        others = sum(v.mb for k, v in self._networks.items() if k != keep)
        for key in [k for k in self._networks if k != keep]:  # least recently used first
            if others <= headroom and len(self._networks) <= limit:
                return
            others -= self._networks.pop(key).mb

    def _working_mb(self, spec: ModelSpec, net: Net) -> float:
        """Peak MB while ``net`` runs at its default tile: its base plus the tiles in flight."""
        kind = self.kind(spec, net)
        tile = self._tile(spec, net, kind)
        return self._footprint(spec, net, kind).working_mb(net, tile, self._in_flight(spec, net, tile, kind))

    def _footprint(self, spec: ModelSpec, net: Net, kind: BackendName) -> Footprint:
        return footprint(spec, kind, self.precision, net)

    def runs_on(self, spec: ModelSpec) -> dict[str, Any]:
        """What ``spec``'s nets run on here: the backend and precision the settings resolve to (a backend
        measured per net says so until it is), and each of its nets loaded now with what it runs on."""
        loaded = [entry for entry in self.describe() if entry["model"] == spec.id]
        return {
            "backend": self.resolved.backend or "measured at first load",
            "precision": self.precision,
            "reason": self.resolved.reason,
            "loaded": [{k: v for k, v in entry.items() if k != "model"} for entry in loaded],
        }

    def describe(self) -> list[dict[str, object]]:
        """The loaded nets: model, net, backend, precision, tile and the memory they took when loaded."""
        with self._lock:
            loaded = list(self._networks.items())
        return [
            {"model": model, "net": net, "backend": e.backend, "precision": e.precision, "mb": round(e.mb)}
            for (model, net), e in loaded
        ]

    def loaded(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._networks)

    def loaded_mb(self) -> float:
        """Resident memory the loaded nets took when they were loaded, in MB."""
        with self._lock:
            return sum(v.mb for v in self._networks.values())

    def tiles_in_flight(self, spec: ModelSpec, net: Net, tile: int) -> int:
        """How many tiles of a pass run at once: one per thread, as many as the memory budget holds."""
        return self._in_flight(spec, net, tile, self.kind(spec, net))

    def _in_flight(self, spec: ModelSpec, net: Net, tile: int, kind: BackendName) -> int:
        threads = self.config.thread_count
        # OpenVINO: one request on every thread. Two single-thread streams were no faster on CUnet bf16
        # (0.32 against 0.31 µs per output pixel at tile 256) and held 100 MB more.
        if kind == "openvino" or not self.config.parallel_tiles or self.config.gpu is not None or threads < 2:
            return 1
        return tiles_in_flight(self._footprint(spec, net, kind), net, tile, self.config.memory_budget_mb, threads)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.config.thread_count, thread_name_prefix="enhanceit-tile")
            return self._pool

    def tile_for(self, spec: ModelSpec, net: Net, requested: int | None = None) -> int:
        """Tile side for a net: the request, else the config, else the backend's default cut to the budget.

        A requested tile (a client's) never goes past the largest one the memory budget holds: the budget is
        the server's (a tile of 512 took CUnet on ncnn to 3 GB). The operator's own ``tile`` setting is
        taken as given."""
        kind = self.kind(spec, net)
        if requested:
            wanted = requested_tile(net, requested)
            allowed = self._fit(spec, net, kind, wanted)
            if allowed < wanted:
                log.info("%s: tile %d asked for, %d fits the memory budget", spec.id, wanted, allowed)
            return allowed
        return self._tile(spec, net, kind)

    def _tile(self, spec: ModelSpec, net: Net, kind: BackendName) -> int:
        if self.config.tile:  # the operator's, taken as given
            return requested_tile(net, self.config.tile)
        return self._fit(spec, net, kind, default_tile(spec, net, kind, gpu=self.config.gpu is not None))

    def _fit(self, spec: ModelSpec, net: Net, kind: BackendName, tile: int) -> int:
        """The largest tile up to ``tile`` that fits the memory budget beside the net (never below the
        model's smallest)."""
        found = self._footprint(spec, net, kind)
        return found.largest_tile(net, self.config.memory_budget_mb, tile, smallest_tile(spec))

    def run_plan(
        self,
        spec: ModelSpec,
        plan: Plan,
        src: Raster,
        workdir: Path,
        *,
        tta: int = 0,
        tile: int | None = None,
        progress: Progress | None = None,
        check: Callable[[], None] | None = None,
    ) -> Raster:
        """Run every pass of ``plan`` on ``src``; returns the last raster (``src`` itself if no pass)."""
        width, height = src.info.width, src.info.height
        sizes: list[tuple[int, int]] = []
        tiles = []
        for net in plan.passes:
            t = self.tile_for(spec, net, tile)
            tiles.append(t)
            sizes.append((width, height))
            width, height = width * net.scale, height * net.scale
        total = sum(count_tiles(w, h, t, n.multiple) for (w, h), t, n in zip(sizes, tiles, plan.passes, strict=True))
        counter = _Counter(total=total, callback=progress)
        current = src
        for index, (net, t) in enumerate(zip(plan.passes, tiles, strict=True)):
            network = self.network(spec, net)
            info = RasterInfo(current.info.width * net.scale, current.info.height * net.scale, 3, current.info.dtype)
            out = Raster.create(workdir / f"pass{index}.raw", info)
            # as many as fit at this tile, and as the threads left beside the net's own allow
            in_flight = min(self.tiles_in_flight(spec, net, t), self.config.thread_count // network.threads)
            try:
                run_pass(
                    network,
                    current,
                    out,
                    t,
                    tta=tta,
                    on_tile=counter.tick,
                    check=check,
                    pool=self._executor() if in_flight > 1 else None,
                    in_flight=in_flight,
                )
            except BaseException:
                out.close()
                raise
            finally:
                network.release()  # the pass's feature maps: not held while other nets or jobs run
            if current is not src:
                current.close()
                current.path.unlink(missing_ok=True)
            current = out
        return current


@dataclass
class _Loaded:
    network: Network
    #: Resident memory (MB) the process gained when the net was loaded.
    mb: float
    backend: str
    precision: str


def resident_mb() -> float:
    """This process's resident memory now, in MB (0 where /proc is not there)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def registry_from(settings: Settings) -> Registry:
    """Every model: the zoo's and those the operator added (checked again now: :func:`added.load`), with
    those the operator enabled despite a restrictive licence usable too."""
    own = added.load(settings.resolved_models_dir)
    return Registry([*REGISTRY, *own], settings.models_enable)


def engine_from(settings: Settings, threads: int | None = None) -> Engine:
    """The engine the settings describe (``threads`` overrides theirs), for the service, workers and CLI."""
    e = settings.engine
    config = EngineConfig(
        threads=threads or e.threads,
        gpu=e.gpu,
        memory_budget_mb=e.memory_budget_mb,
        tile=e.tile,
        max_loaded=e.max_loaded,
        models_dir=settings.resolved_models_dir,
        parallel_tiles=e.parallel_tiles,
        backend=e.backend,
        precision=e.precision,
        cache_dir=e.cache_dir or default_cache_dir(),
    )
    return Engine(config, registry=registry_from(settings))
