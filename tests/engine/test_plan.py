from __future__ import annotations

import pytest

from enhanceit.engine.plan import make_plan, target_size
from enhanceit.errors import InvalidRequest, UnsupportedOperation
from enhanceit.models import get_model


def scales(plan: object) -> list[tuple[int, int]]:
    return [(n.scale, n.noise) for n in plan.passes]  # type: ignore[attr-defined]


def test_target_size_from_scale_width_or_height() -> None:
    assert target_size(300, 200) == (600, 400)
    assert target_size(300, 200, scale=1.5) == (450, 300)
    assert target_size(300, 200, target_width=1000) == (1000, 667)
    assert target_size(300, 200, target_height=100) == (150, 100)
    with pytest.raises(InvalidRequest):
        target_size(300, 200, scale=2, target_width=10)
    with pytest.raises(InvalidRequest):
        target_size(300, 200, scale=-1)


def test_two_x_and_noise_use_one_pass() -> None:
    cunet = get_model("waifu2x-cunet")
    assert scales(make_plan(cunet, -1, 100, 100, 200, 200)) == [(2, -1)]
    assert scales(make_plan(cunet, 2, 100, 100, 200, 200)) == [(2, 2)]


def test_larger_factors_repeat_passes_and_only_the_first_denoises() -> None:
    cunet = get_model("waifu2x-cunet")
    plan = make_plan(cunet, 3, 100, 100, 700, 700)
    assert scales(plan) == [(2, 3), (2, -1), (2, -1)]
    assert (plan.width, plan.height, plan.native_scale) == (700, 700, 8)


def test_noise_only_uses_the_one_x_net_or_two_x_then_downscale() -> None:
    assert scales(make_plan(get_model("waifu2x-cunet"), 1, 80, 60, 80, 60)) == [(1, 1)]
    plan = make_plan(get_model("waifu2x-upconv7-photo"), 1, 80, 60, 80, 60)
    assert scales(plan) == [(2, 1)]
    assert (plan.width, plan.height) == (80, 60)


def test_no_noise_and_no_enlargement_needs_no_network() -> None:
    plan = make_plan(get_model("waifu2x-cunet"), -1, 80, 60, 40, 30)
    assert plan.passes == () and (plan.width, plan.height) == (40, 30)


def test_a_fractional_factor_rounds_up_to_native_passes() -> None:
    assert scales(make_plan(get_model("waifu2x-cunet"), -1, 100, 100, 130, 130)) == [(2, -1)]
    assert scales(make_plan(get_model("waifu2x-cunet"), -1, 100, 100, 300, 300)) == [(2, -1), (2, -1)]


def test_impossible_noise_levels_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        make_plan(get_model("waifu2x-cunet"), 4, 10, 10, 20, 20)
    with pytest.raises(UnsupportedOperation):
        make_plan(get_model("waifu2x-cunet"), -1, 10, 10, 20 * 17, 20 * 17)
