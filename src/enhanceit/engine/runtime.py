"""The engine: loaded networks, tile sizes from a memory budget, and passes from raster to raster.

An :class:`Engine` is created once per process and shared. It loads each network the first time it is
needed (after verifying its weights) and keeps it; ``run_plan`` chains a plan's passes through temporary
raster files in a work folder, reporting progress per tile and checking for cancellation between tiles.

On the CPU, a pass runs several tiles at once, one thread each (``parallel_tiles``), as many as there are
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

from enhanceit.config import Settings
from enhanceit.engine.base import Backend, Network
from enhanceit.engine.model import ModelNetwork
from enhanceit.engine.plan import Plan
from enhanceit.engine.tiles import count_tiles, round_up, run_pass
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.models import weights
from enhanceit.models.registry import REGISTRY, Registry
from enhanceit.models.spec import ModelSpec, Net

#: Loads a net's backend (ncnn by default; tests give the fake); the engine wraps it in its model's steps.
BackendFactory = Callable[[ModelSpec, Net], Backend]
#: Called with (tiles done, tiles in all passes).
Progress = Callable[[int, int], None]

MIN_TILE = 16

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
    #: on it: the engine before this lever, kept to compare).
    parallel_tiles: bool = True

    @property
    def thread_count(self) -> int:
        return self.threads or available_cpus()


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (containers' CPU limit).

    ``os.cpu_count()`` counts the machine's cores, so in a container limited to 2 CPUs on a 64-core node
    ncnn would start 64 threads and thrash.
    """
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


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
        self._factory = factory or self._load_ncnn
        self._networks: OrderedDict[tuple[str, str], _Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _load_ncnn(self, spec: ModelSpec, net: Net) -> Backend:
        from enhanceit.engine.ncnn_backend import NcnnBackend

        param, bin_path = weights.verified_net_files(net, self.config.models_dir)
        in_flight = self.tiles_in_flight(spec, net, self.tile_for(spec, net))
        threads = max(1, self.config.thread_count // in_flight)
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
                cost = getattr(backend, "resident_mb", None)  # a backend may know (the test fake says)
                found = self._networks[key] = _Loaded(
                    ModelNetwork(net, backend), max(0.0, resident_mb() - before) if cost is None else float(cost)
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
        """Peak MB while ``net`` runs at its default tile: ``base_mb`` plus the tiles in flight."""
        tile = self.tile_for(spec, net)
        side = net.pre_upsample * (tile + 2 * net.pad)
        return spec.base_mb + self.tiles_in_flight(spec, net, tile) * side * side * spec.kb_per_px / 1024

    def loaded(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._networks)

    def loaded_mb(self) -> float:
        """Resident memory the loaded nets took when they were loaded, in MB."""
        with self._lock:
            return sum(v.mb for v in self._networks.values())

    def tiles_in_flight(self, spec: ModelSpec, net: Net, tile: int) -> int:
        """How many tiles of a pass run at once: one per thread, as many as the memory budget holds."""
        threads = self.config.thread_count
        if not self.config.parallel_tiles or self.config.gpu is not None or threads < 2:
            return 1
        side = net.pre_upsample * (tile + 2 * net.pad)
        per_tile_kb = side * side * spec.kb_per_px
        fit = int((self.config.memory_budget_mb - spec.base_mb) * 1024 // max(1.0, per_tile_kb))
        return max(1, min(threads, fit))

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.config.thread_count, thread_name_prefix="enhanceit-tile")
            return self._pool

    def tile_for(self, spec: ModelSpec, net: Net, requested: int | None = None) -> int:
        """Tile side for a net: the request, else the config, else the model default cut to the budget."""
        forced = requested or self.config.tile
        if forced:
            return round_up(max(forced, MIN_TILE), net.multiple)
        tile = round_up(spec.default_tile, net.multiple)
        if self.config.gpu is not None:
            tile *= 4  # GPUs want big tiles; their memory is not this process's RSS
        budget_kb = (self.config.memory_budget_mb - spec.base_mb) * 1024

        def fits(t: int) -> bool:
            side = net.pre_upsample * (t + 2 * net.pad)
            return side * side * spec.kb_per_px <= budget_kb

        floor = max(MIN_TILE, spec.min_tile)
        while tile > floor and not fits(tile):
            tile -= net.multiple
        return round_up(tile, net.multiple)

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


def resident_mb() -> float:
    """This process's resident memory now, in MB (0 where /proc is not there)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def registry_from(settings: Settings) -> Registry:
    """Every model, with those the operator enabled despite a restrictive licence usable too."""
    return REGISTRY.enabling(settings.models_enable)


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
    )
    return Engine(config, registry=registry_from(settings))
