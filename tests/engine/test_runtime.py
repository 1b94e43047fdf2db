from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enhanceit.engine.fake import NearestBackend, nearest_backend
from enhanceit.engine.memory import footprint
from enhanceit.engine.plan import make_plan
from enhanceit.engine.runtime import OPENVINO_F32_MEMORY, OPENVINO_RUNTIME_MB, OPENVINO_TILE, Engine, EngineConfig
from enhanceit.models import get_model
from enhanceit.models.spec import ModelSpec, Net
from tests.helpers import raster_of


def ncnn(**config: object) -> Engine:
    return Engine(EngineConfig(backend="ncnn", **config))  # type: ignore[arg-type]


def test_tile_follows_the_memory_budget() -> None:
    cunet = get_model("waifu2x-cunet")
    net = cunet.net(2, -1)
    assert net is not None
    assert ncnn(memory_budget_mb=400).tile_for(cunet, net) == cunet.default_tile
    small = ncnn(memory_budget_mb=150).tile_for(cunet, net)
    assert 16 <= small < cunet.default_tile and small % net.multiple == 0
    side = small + 2 * net.pad
    assert cunet.base_mb + side * side * cunet.kb_per_px / 1024 <= 150
    assert ncnn(memory_budget_mb=128).tile_for(cunet, net) >= 16
    assert ncnn().tile_for(cunet, net, requested=50) == 52  # rounded up to the multiple of 4
    assert ncnn(tile=30).tile_for(cunet, net) == 32


@pytest.mark.parametrize("backend", ["ncnn", "openvino"])
def test_a_clients_tile_never_lifts_the_memory_budget(backend: str) -> None:
    """tile=512 took CUnet on ncnn to 3 GB and a server in a 2 GiB cgroup was killed: a requested tile is cut
    to the largest the budget holds; one that fits is kept as asked."""
    cunet = get_model("waifu2x-cunet")
    net = cunet.net(2, -1)
    assert net is not None
    engine = Engine(EngineConfig(backend=backend, precision="f32", memory_budget_mb=400))  # type: ignore[arg-type]
    found = footprint(cunet, backend, engine.precision)  # type: ignore[arg-type]
    base, kb_per_px = found.base_mb, found.kb_per_px
    for asked in (512, 768, 4096):
        tile = engine.tile_for(cunet, net, requested=asked)
        side = tile + 2 * net.pad
        assert tile < asked and base + side * side * kb_per_px / 1024 <= 400
    assert engine.tile_for(cunet, net, requested=32) == 32


@pytest.mark.parametrize("precision", ["bf16", "f32"])
def test_openvino_tiles_are_larger_and_follow_its_own_memory(precision: str) -> None:
    """OpenVINO needs a tenth to a third of ncnn's memory per pixel: it takes its larger default tile where
    the budget holds it, and a smaller one where it does not, sized by its own figures."""
    cunet = get_model("waifu2x-cunet")
    net = cunet.net(2, -1)
    assert net is not None
    engine = Engine(EngineConfig(backend="openvino", precision=precision))  # type: ignore[arg-type]
    assert engine.tile_for(cunet, net) == OPENVINO_TILE > cunet.default_tile
    assert engine.tiles_in_flight(cunet, net, OPENVINO_TILE) == 1
    tight = Engine(EngineConfig(backend="openvino", precision=precision, memory_budget_mb=180))  # type: ignore[arg-type]
    tile = tight.tile_for(cunet, net)
    assert 16 <= tile < OPENVINO_TILE
    side = tile + 2 * net.pad
    per_px = cunet.openvino_kb_per_px * (OPENVINO_F32_MEMORY if precision == "f32" else 1)
    assert cunet.base_mb + OPENVINO_RUNTIME_MB + side * side * per_px / 1024 <= 180


def test_passes_chain_through_files_and_clean_up(tmp_path: Path) -> None:
    loaded: list[str] = []

    def factory(spec: ModelSpec, net: Net) -> NearestBackend:
        loaded.append(net.key)
        return nearest_backend(net)

    engine = Engine(factory=factory)
    pixels = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    src = raster_of(pixels, tmp_path / "in.raw")
    spec = get_model("waifu2x-cunet")
    plan = make_plan(spec, 1, 12, 10, 96, 80)
    seen: list[tuple[int, int]] = []
    out = engine.run_plan(spec, plan, src, tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert np.array_equal(out.read_rows(0, 80), pixels.repeat(8, 0).repeat(8, 1))
    assert loaded == ["2x/noise1", "2x/noise-1"]  # the second and third pass share one loaded net
    assert seen[-1][0] == seen[-1][1] == len(seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.raw", "pass2.raw"]


def test_allocator_tuning_applies_on_linux() -> None:
    import sys

    from enhanceit.allocator import tune_allocator

    assert tune_allocator() is sys.platform.startswith("linux")


def test_threads_follow_the_cpus_this_process_may_use() -> None:
    import os

    from enhanceit.engine.runtime import available_cpus

    assert 1 <= available_cpus() <= (os.cpu_count() or 1)
    assert EngineConfig(threads=3).thread_count == 3
    assert EngineConfig().thread_count == available_cpus()


def test_only_the_most_recently_used_nets_stay_loaded() -> None:
    engine = Engine(EngineConfig(max_loaded=2), factory=lambda spec, net: nearest_backend(net))
    cunet = get_model("waifu2x-cunet")
    nets = [cunet.net(2, n) for n in (-1, 0, 1)]
    first = engine.network(cunet, nets[0])  # type: ignore[arg-type]
    engine.network(cunet, nets[1])  # type: ignore[arg-type]
    assert engine.network(cunet, nets[0]) is first  # used again: now the most recent
    engine.network(cunet, nets[2])  # type: ignore[arg-type]
    assert engine.loaded() == [("waifu2x-cunet", "2x/noise-1"), ("waifu2x-cunet", "2x/noise1")]


def test_loaded_nets_count_against_the_memory_budget() -> None:
    """A net kept loaded adds what it took when it was loaded; the least recently used go first when the
    others no longer fit beside the one about to run."""
    cunet = get_model("waifu2x-cunet")
    n0, n1, n2 = (cunet.net(2, n) for n in (-1, 0, 1))
    big = {n0.key: 10_000.0}  # type: ignore[union-attr]  # far beyond any budget

    def factory(spec: ModelSpec, net: Net) -> NearestBackend:
        return NearestBackend(net.scale, resident_mb=big.get(net.key, 1.0))

    engine = Engine(EngineConfig(max_loaded=4, memory_budget_mb=1000), factory=factory)
    engine.network(cunet, n0)  # type: ignore[arg-type]
    assert engine.loaded_mb() == 10_000.0  # alone it is kept: the one about to run always is
    engine.network(cunet, n1)  # type: ignore[arg-type]
    assert engine.loaded() == [("waifu2x-cunet", "2x/noise0")]  # the big one had to go first
    engine.network(cunet, n2)  # type: ignore[arg-type]
    engine.network(cunet, n0)  # type: ignore[arg-type]  # the small ones fit beside it
    assert engine.loaded() == [("waifu2x-cunet", k) for k in ("2x/noise0", "2x/noise1", "2x/noise-1")]
    engine.network(cunet, n1)  # type: ignore[arg-type]  # now the others do not fit: least recent first
    assert engine.loaded() == [("waifu2x-cunet", "2x/noise0")]
    assert engine.loaded_mb() == 1.0


def test_each_pass_releases_its_working_memory_also_when_cancelled(tmp_path: Path) -> None:
    backends: dict[str, NearestBackend] = {}

    def factory(spec: ModelSpec, net: Net) -> NearestBackend:
        backends[net.key] = nearest_backend(net)
        return backends[net.key]

    engine = Engine(factory=factory)
    spec = get_model("waifu2x-cunet")
    src = raster_of(np.zeros((10, 12, 3), dtype=np.uint8), tmp_path / "in.raw")
    plan = make_plan(spec, 1, 12, 10, 96, 80)  # noise + 2x, then 2x twice more: three passes
    engine.run_plan(spec, plan, src, tmp_path).close()
    assert sum(b.releases for b in backends.values()) == len(plan.passes) == 3

    class Cancelled(Exception):
        pass

    def cancel() -> None:
        raise Cancelled

    before = {key: b.releases for key, b in backends.items()}
    with pytest.raises(Cancelled):
        engine.run_plan(spec, plan, src, tmp_path, check=cancel)
    first = plan.passes[0].key
    assert backends[first].releases == before[first] + 1  # the cancelled pass let go too


def test_a_net_over_the_budget_at_its_smallest_tile_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    spec = get_model("waifu2x-cunet")
    net = spec.net(2, -1)
    assert net is not None
    with caplog.at_level("WARNING", logger="enhanceit.engine.runtime"):
        Engine(EngineConfig(memory_budget_mb=400), factory=lambda s, n: nearest_backend(n)).network(spec, net)
        assert not caplog.records
        Engine(EngineConfig(memory_budget_mb=90), factory=lambda s, n: nearest_backend(n)).network(spec, net)
    assert [r.getMessage() for r in caplog.records] == [
        "waifu2x-cunet needs about 100 MB at its smallest tile, over the memory budget of 90 MB; it runs anyway "
        "(ENHANCEIT_ENGINE_MEMORY_BUDGET_MB)"
    ]
