"""The memory model: tile costs, the tiles a budget holds and the tiles in flight, on the zoo's own figures;
and the CPU count from a cgroup's cpu.max, fed as text."""

from __future__ import annotations

import dataclasses
import os

import pytest

from enhanceit.engine import runtime
from enhanceit.engine.memory import (
    MIN_TILE,
    OPENVINO_F32_MEMORY,
    OPENVINO_RUNTIME_MB,
    OPENVINO_TILE,
    OPENVINO_UNMEASURED_SHARE,
    Footprint,
    available_cpus,
    cpu_quota,
    default_tile,
    footprint,
    padded_side,
    requested_tile,
    smallest_tile,
    tiles_in_flight,
)
from enhanceit.models import get_model
from enhanceit.models.registry import REGISTRY
from enhanceit.models.spec import ModelSpec, Net

NETS = [(spec, net) for spec in REGISTRY for net in spec.nets]
IDS = [f"{spec.id}-{net.key}" for spec, net in NETS]


def net_of(model_id: str, scale: int, noise: int = -1) -> tuple[ModelSpec, Net]:
    spec = get_model(model_id)
    net = spec.net(scale, noise)
    assert net is not None
    return spec, net


def test_a_tile_is_fed_with_its_context_and_pre_upsampled() -> None:
    _, cunet = net_of("waifu2x-cunet", 2)  # 18 px of context a side
    assert padded_side(cunet, 64) == 64 + 2 * 18
    _, vgg7 = net_of("chainer-vgg7", 2)  # a 1x net on a 2x nearest-upsampled input, 4 px of context
    assert padded_side(vgg7, 64) == 2 * (64 + 2 * 4) == 144


def test_one_tile_costs_its_padded_pixels_times_the_kb_per_pixel() -> None:
    spec, net = net_of("waifu2x-cunet", 2)
    cost = footprint(spec, "ncnn", "f32", net)
    assert cost == Footprint(base_mb=60, kb_per_px=15.0)
    assert cost.tile_kb(net, 64) == 100 * 100 * 15.0  # ~146 MB a tile, as test_parallel says
    assert cost.working_mb(net, 64) == pytest.approx(60 + 146.484375)
    assert cost.working_mb(net, 64, in_flight=2) == pytest.approx(60 + 2 * 146.484375)


@pytest.mark.parametrize(
    ("budget", "tile"),
    # (budget - 60 MB) * 1024 / 15 KB = the padded pixels that fit; less 36 px of context, down to a multiple of 4
    [(90, 16), (128, 32), (150, 40), (200, 60), (250, 64), (400, 64), (4000, 64)],
)
def test_the_largest_ncnn_tile_for_a_budget(budget: int, tile: int) -> None:
    spec, net = net_of("waifu2x-cunet", 2)
    cost = footprint(spec, "ncnn", "f32", net)
    assert cost.largest_tile(net, budget, default_tile(spec, net, "ncnn"), smallest_tile(spec)) == tile


@pytest.mark.parametrize(("precision", "tiles"), [("bf16", (56, 188, 256)), ("f32", (28, 128, 256))])
def test_openvino_tiles_follow_its_own_figures(precision: str, tiles: tuple[int, int, int]) -> None:
    """CUnet on OpenVINO: 1.2 KB a pixel in bf16 (1.9x that in f32) on 60 MB plus the runtime's own 60."""
    spec, net = net_of("waifu2x-cunet", 2)
    cost = footprint(spec, "openvino", precision, net)  # type: ignore[arg-type]
    assert cost.base_mb == spec.base_mb + OPENVINO_RUNTIME_MB == 120
    found = tuple(cost.largest_tile(net, b, OPENVINO_TILE, smallest_tile(spec)) for b in (130, 180, 400))
    assert found == tiles


def test_a_model_never_goes_below_its_own_floor() -> None:
    """Real-ESRGAN x4plus needs 330 MB before any tile and 60 KB a pixel: under 400 MB its tile would be 14,
    which is mostly context; it stays at its floor of 32 (the engine warns that it runs over the budget)."""
    spec, net = net_of("realesrgan-x4plus", 4)
    cost = footprint(spec, "ncnn", "f32", net)
    assert smallest_tile(spec) == spec.min_tile == 32
    assert [cost.largest_tile(net, b, spec.default_tile, smallest_tile(spec)) for b in (100, 400, 600, 1000)] == [
        32,
        32,
        47,
        48,
    ]
    assert cost.working_mb(net, 32) > 400


@pytest.mark.parametrize(("spec", "net"), NETS, ids=IDS)
def test_a_bigger_budget_never_gives_a_smaller_tile(spec: ModelSpec, net: Net) -> None:
    """On every zoo net, backend and precision: tiles grow with the budget, stay multiples of the net's,
    never pass the default nor fall under the floor, and fit the budget whenever they are above the floor."""
    floor = smallest_tile(spec)
    for kind, precision in (("ncnn", "f32"), ("openvino", "bf16"), ("openvino", "f32")):
        cost = footprint(spec, kind, precision, net)  # type: ignore[arg-type]
        default = default_tile(spec, net, kind)  # type: ignore[arg-type]
        previous = 0
        for budget in range(50, 2001, 25):
            tile = cost.largest_tile(net, budget, default, floor)
            assert previous <= tile <= default and tile >= floor and tile % net.multiple == 0, (kind, budget)
            if tile > round_up_to(floor, net.multiple):
                assert cost.working_mb(net, tile) <= budget, (kind, budget)
            previous = tile
        assert previous == default  # 2 GB holds every default tile


def round_up_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@pytest.mark.parametrize("spec", list(REGISTRY), ids=[s.id for s in REGISTRY])
def test_openvino_f32_costs_more_than_bf16_and_both_less_than_ncnn_per_pixel(spec: ModelSpec) -> None:
    bf16 = footprint(spec, "openvino", "bf16")
    f32 = footprint(spec, "openvino", "f32")
    assert f32.kb_per_px == pytest.approx(bf16.kb_per_px * OPENVINO_F32_MEMORY) and f32.kb_per_px > bf16.kb_per_px
    assert f32.base_mb == bf16.base_mb  # the weights' memory is measured, not scaled
    assert f32.kb_per_px < footprint(spec, "ncnn", "f32").kb_per_px
    # ncnn runs in f32 whatever the precision setting says
    assert footprint(spec, "ncnn", "bf16") == footprint(spec, "ncnn", "f32")


def test_openvino_figures_not_measured_are_a_share_of_ncnns() -> None:
    spec = dataclasses.replace(get_model("waifu2x-cunet"), openvino_kb_per_px=0.0, openvino_base_mb=0)
    assert footprint(spec, "openvino", "bf16") == Footprint(60 + OPENVINO_RUNTIME_MB, 15.0 * OPENVINO_UNMEASURED_SHARE)
    # a measured OpenVINO base replaces the guess: bf16 weights take half of ncnn's f32 Winograd copies
    assert footprint(get_model("realesrgan-x4plus"), "openvino", "bf16").base_mb == 270


def test_a_net_that_takes_more_than_its_model_is_sized_by_its_own_figure() -> None:
    """Real-CUGAN's 3x nets take 23 KB a pixel on ncnn where the model's 2x ones take 16; OpenVINO's figure
    was measured per model."""
    spec, three = net_of("realcugan-se", 3)
    _, two = net_of("realcugan-se", 2)
    assert footprint(spec, "ncnn", "f32", three).kb_per_px == 23.0
    assert footprint(spec, "ncnn", "f32", two).kb_per_px == footprint(spec, "ncnn", "f32").kb_per_px == 16.0
    assert footprint(spec, "openvino", "bf16", three).kb_per_px == 2.8


def test_tiles_in_flight_are_capped_by_threads_and_the_budget_and_never_zero() -> None:
    spec, net = net_of("waifu2x-cunet", 2)
    cost = footprint(spec, "ncnn", "f32", net)  # 146 MB a tile of 64 beside 60 MB
    assert [tiles_in_flight(cost, net, 64, budget, 4) for budget in (90, 250, 400, 700, 4000)] == [1, 1, 2, 4, 4]
    assert tiles_in_flight(cost, net, 64, 4000, 3) == 3
    assert tiles_in_flight(cost, net, 16, 400, 64) == 8  # (340 * 1024) // (52 * 52 * 15)


def test_default_tiles_per_backend_and_on_a_gpu() -> None:
    spec, net = net_of("waifu2x-cunet", 2)
    assert default_tile(spec, net, "ncnn") == spec.default_tile == 64
    assert default_tile(spec, net, "openvino") == OPENVINO_TILE
    assert default_tile(spec, net, "ncnn", gpu=True) == 256
    upconv7, up_net = net_of("waifu2x-upconv7-photo", 2)
    assert default_tile(upconv7, up_net, "openvino") == upconv7.openvino_tile == 128  # its own, measured faster


def test_a_requested_tile_is_at_least_the_minimum_and_a_multiple() -> None:
    _, net = net_of("waifu2x-cunet", 2)  # multiple of 4
    assert requested_tile(net, 50) == 52
    assert requested_tile(net, 3) == MIN_TILE == 16
    assert requested_tile(net, 64) == 64


@pytest.mark.parametrize(
    ("text", "quota"),
    [
        ("max 100000\n", None),
        ("200000 100000\n", 2),
        ("150000 100000\n", 1),  # 1.5 CPUs run one thread: a second would only be throttled
        ("50000 100000\n", 1),  # less than one CPU is still one thread
        ("", None),
        ("max", None),
        ("lots 100000", None),
        ("100000 0", None),
        ("-1 100000", None),
    ],
)
def test_the_cgroup_quota_from_cpu_max(text: str, quota: int | None) -> None:
    assert cpu_quota(lambda: text) == quota


def test_no_cgroup_file_means_no_quota() -> None:
    def missing() -> str:
        raise FileNotFoundError("/sys/fs/cgroup/cpu.max")

    assert cpu_quota(missing) is None
    assert available_cpus(missing) == len(os.sched_getaffinity(0))


def test_available_cpus_are_the_affinity_capped_by_the_quota() -> None:
    mine = len(os.sched_getaffinity(0))
    assert available_cpus(lambda: "max 100000") == mine
    assert available_cpus(lambda: "50000 100000") == 1
    assert available_cpus(lambda: f"{1000 * mine * 100000} 100000") == mine  # a quota above the affinity
    assert runtime.available_cpus is available_cpus  # still importable where the tools import it from
