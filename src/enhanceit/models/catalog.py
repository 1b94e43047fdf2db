"""Models described for people and programs (``enhanceit models list``, ``GET /v1/models``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from enhanceit.models import weights
from enhanceit.models.aliases import Alias
from enhanceit.models.spec import ModelSpec


def describe_alias(alias: Alias, resolves_to: dict[str, dict[str, str | None]]) -> dict[str, Any]:
    """An alias with what it resolves to here, per scale: ``{"scale": {"2": id}, "noise+scale": {...}}``."""
    return {
        "id": alias.name,
        "alias": True,
        "title": alias.title,
        "summary": alias.summary,
        "resolves_to": resolves_to,
    }


def describe(spec: ModelSpec, models_dir: Path | None = None, enabled: bool = True) -> dict[str, Any]:
    """A model; ``enabled`` is False for a model whose licence restricts hosted use and that the operator
    has not enabled (``restricted`` says why)."""
    return {
        "id": spec.id,
        "family": spec.family,
        "title": spec.title,
        "summary": spec.summary,
        "tasks": list(spec.tasks),
        "scales": list(spec.scales),
        "noise_levels": list(spec.noise_levels),
        "noise_levels_by_scale": {str(s): list(spec.noise_levels_at(s)) for s in spec.scales},
        "licence": spec.licence,
        "restricted": spec.restricted or None,
        "enabled": enabled,
        "origin": spec.origin,
        "default_tile": spec.default_tile,
        "exact_tiling": spec.exact_tiling,
        "sources": sorted({n.weights.source.pin for n in spec.nets}),
        "available": all(weights.is_available(n, models_dir) for n in spec.nets),
    }
