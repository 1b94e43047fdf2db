"""From the model a request names (an id or an alias) to the concrete model and its plan.

Every request goes through :func:`choose`: the API when it accepts a job (so a model that cannot do the
request, or that this server does not run, is refused at once), the pipeline when it runs one (with the
image's real size), and the CLI. An alias (:mod:`enhanceit.models.aliases`) resolves to the first of its
candidates for the scale factor that this server may run and that can do the noise level at that scale;
a concrete id must be usable here (:meth:`Registry.get`) and able to do the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enhanceit.engine.plan import Plan, check_noise, make_plan
from enhanceit.errors import InvalidRequest, UnsupportedOperation
from enhanceit.imaging.info import ImageInfo
from enhanceit.models.aliases import ALIASES, Alias
from enhanceit.models.autonoise import nearest_level, wanted_level
from enhanceit.models.catalog import describe, describe_alias
from enhanceit.models.registry import Registry
from enhanceit.models.spec import ModelSpec
from enhanceit.options import Noise, check_noise_level

if TYPE_CHECKING:
    from enhanceit.engine.runtime import Engine

#: Scale factors shown for each alias in model listings.
LISTED_SCALES = (2, 3, 4)


@dataclass(frozen=True)
class Coding:
    """How the input was saved, which is all that ``noise: auto`` needs to know of it (from its header)."""

    format: str = "png"
    lossy: bool = False
    #: A JPEG's estimated quality (1-100); None for other formats.
    quality: int | None = None

    @classmethod
    def of(cls, info: ImageInfo) -> Coding:
        return cls(info.format, info.lossy, info.quality)


def noise_level(spec: ModelSpec, noise: Noise, coding: Coding) -> int:
    """The level ``spec`` runs at: ``noise`` itself, or for ``auto`` the level its family wants for the input,
    as near as the model has it (-1 when it has none)."""
    if noise != "auto":
        return noise
    return nearest_level(_wanted(spec, coding), spec.noise_levels)


def choose(
    registry: Registry,
    model: str,
    noise: Noise,
    src_w: int,
    src_h: int,
    dst_w: int,
    dst_h: int,
    coding: Coding = Coding(),
) -> tuple[ModelSpec, Plan]:
    """The model and plan for a request. With ``noise: auto`` a model can always run (at the level it has
    nearest the one wanted, or none), and an alias prefers the first candidate that can reduce the noise the
    input has (SPAN has no noise levels: a JPEG at 4x goes to the next candidate)."""
    alias = ALIASES.get(model)
    if alias is None:
        spec = registry.get(model)
        return spec, _plan(spec, noise, coding, src_w, src_h, dst_w, dst_h)
    if noise != "auto":
        check_noise_level(noise)
    ratio = max(dst_w / src_w, dst_h / src_h)
    # Whether some candidate would reduce this input's noise: then one that cannot is only a fallback.
    wants = noise == "auto" and any(_wanted(registry.find(i), coding) >= 0 for i in alias.candidates(ratio))
    fallback: tuple[ModelSpec, Plan] | None = None
    for model_id in alias.candidates(ratio):
        spec = registry.find(model_id)
        if not registry.usable(spec):
            continue
        try:
            chosen = spec, _plan(spec, noise, coding, src_w, src_h, dst_w, dst_h)
        except UnsupportedOperation:
            continue
        if wants and chosen[1].noise < 0:
            fallback = fallback or chosen  # it runs, without the noise reduction the input calls for
            continue
        return chosen
    if fallback is not None:
        return fallback
    level = (
        "no noise reduction"
        if noise == -1
        else "automatic noise reduction"
        if noise == "auto"
        else f"noise level {noise}"
    )
    raise UnsupportedOperation(f"no model behind '{model}' can do {level} at {ratio:g}x on this server")


def _wanted(spec: ModelSpec, coding: Coding) -> int:
    return wanted_level(spec.id, spec.family, coding.format, coding.lossy, coding.quality)


def _plan(spec: ModelSpec, noise: Noise, coding: Coding, src_w: int, src_h: int, dst_w: int, dst_h: int) -> Plan:
    level = noise_level(spec, noise, coding)
    try:
        return make_plan(spec, level, src_w, src_h, dst_w, dst_h)
    except UnsupportedOperation:
        if noise != "auto" or level < 0:
            raise
        return make_plan(spec, -1, src_w, src_h, dst_w, dst_h)  # auto: without noise reduction, not refused


def check_request(registry: Registry, model: str, noise: Noise, scale: float | None) -> ModelSpec:
    """Refuse before any download what no image could make possible; returns the model it would use
    at ``scale`` (2 when the request gives a width or height instead). ``auto`` is checked as a lossless
    input would be: no noise reduction, which every model can do."""
    if model not in ALIASES:
        spec = registry.get(model)
        if noise != "auto":
            check_noise(spec, noise)
        return spec
    side = 1000
    target = max(1, round(side * (scale or 2.0)))
    return choose(registry, model, noise, side, side, target, target)[0]


def resolutions(alias: Alias, registry: Registry) -> dict[str, dict[str, str | None]]:
    """What ``alias`` resolves to on this server, per listed scale, without and with noise reduction."""
    out: dict[str, dict[str, str | None]] = {}
    for label, noise in (("scale", -1), ("noise+scale", 1)):
        row: dict[str, str | None] = {}
        for scale in LISTED_SCALES:
            try:
                row[str(scale)] = check_request(registry, alias.name, noise, scale).id
            except InvalidRequest:
                row[str(scale)] = None
        out[label] = row
    return out


def catalog(registry: Registry, models_dir: Path | None = None, engine: Engine | None = None) -> list[dict[str, Any]]:
    """Aliases first (with what they resolve to here), then every model (``models list``, ``/v1/models``);
    with ``engine``, each model also says what it runs on here (``engine``: backend, precision, loaded nets)."""
    aliases = [describe_alias(a, resolutions(a, registry)) for a in ALIASES.values()]
    models = [describe(spec, models_dir, registry.usable(spec)) for spec in registry]
    if engine is not None:
        for row, spec in zip(models, registry, strict=True):
            row["engine"] = engine.runs_on(spec)
    return aliases + models
