"""Aliases resolve to a concrete model for every scale; models whose licence restricts hosted use are off."""

from __future__ import annotations

import pytest

from enhanceit.engine.choose import catalog, check_request, choose
from enhanceit.errors import ModelNotEnabled, UnknownModel, UnsupportedOperation
from enhanceit.models.aliases import ALIASES, ART, PHOTO, Alias
from enhanceit.models.registry import REGISTRY

SCALES = (1.5, 2, 3, 4, 6, 8)


@pytest.mark.parametrize("alias", list(ALIASES))
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("noise", [-1, 0, 1, 2, 3])
def test_aliases_resolve_for_every_scale_and_noise_level(alias: str, scale: float, noise: int) -> None:
    target = round(100 * scale)
    spec, plan = choose(REGISTRY, alias, noise, 100, 100, target, target)
    assert spec.id in ALIASES[alias].model_ids
    assert plan.native_scale >= scale and (plan.width, plan.height) == (target, target)
    if noise >= 0:
        assert plan.passes[0].noise == noise or plan.passes[0].scale == 1


@pytest.mark.parametrize(
    ("alias", "scale", "noise", "expected"),
    [
        (PHOTO, 2, -1, "waifu2x-upconv7-photo"),
        (PHOTO, 4, -1, "waifu2x-upconv7-photo"),  # two passes: better than SPAN's one, and fast enough
        (PHOTO, 3, -1, "waifu2x-upconv7-photo"),
        (PHOTO, 4, 2, "waifu2x-upconv7-photo"),
        (ART, 2, -1, "waifu2x-cunet"),
        (ART, 2, 1, "waifu2x-cunet"),
        (ART, 4, -1, "realcugan-se"),
        (ART, 4, 1, "realcugan-se"),  # se 4x has no level 1: its 2x denoise net, then 2x
    ],
)
def test_aliases_pick_the_measured_choice(alias: Alias, scale: int, noise: int, expected: str) -> None:
    assert check_request(REGISTRY, alias.name, noise, scale).id == expected


def test_a_concrete_id_resolves_to_itself_and_unknown_ones_are_refused() -> None:
    assert choose(REGISTRY, "span", -1, 10, 10, 40, 40)[0].id == "span"
    with pytest.raises(UnknownModel):
        check_request(REGISTRY, "photos", -1, 2)
    with pytest.raises(UnsupportedOperation, match="no noise level 2"):
        check_request(REGISTRY, "span", 2, 2)


def test_a_restricted_model_is_off_until_enabled() -> None:
    spec = REGISTRY.find("clearreality")
    assert spec.restricted and "NC" in spec.licence
    with pytest.raises(ModelNotEnabled, match="ENHANCEIT_MODELS_ENABLE=clearreality"):
        check_request(REGISTRY, "clearreality", -1, 4)
    assert check_request(REGISTRY.enabling(["clearreality"]), "clearreality", -1, 4) is spec


def test_only_models_whose_licence_allows_hosted_use_are_on_by_default() -> None:
    restricted = {spec.id for spec in REGISTRY if not REGISTRY.usable(spec)}
    assert restricted == {"clearreality"}
    for alias in ALIASES.values():
        assert not any(REGISTRY.find(i).restricted for i in alias.model_ids), "aliases name only usable models"


def test_enabling_an_unknown_model_is_refused() -> None:
    with pytest.raises(UnknownModel, match="nope"):
        REGISTRY.enabling(["nope"])


def test_the_catalog_lists_aliases_first_with_what_they_resolve_to() -> None:
    rows = catalog(REGISTRY)
    assert [r["id"] for r in rows[:2]] == ["photo", "art"]
    assert rows[0]["resolves_to"]["scale"] == {
        "2": "waifu2x-upconv7-photo",
        "3": "waifu2x-upconv7-photo",
        "4": "waifu2x-upconv7-photo",
    }
    by_id = {r["id"]: r for r in rows}
    assert by_id["clearreality"]["enabled"] is False and by_id["clearreality"]["restricted"]
    assert by_id["span"]["enabled"] is True and by_id["span"]["restricted"] is None
    assert {r["id"] for r in rows[2:]} == {spec.id for spec in REGISTRY}
