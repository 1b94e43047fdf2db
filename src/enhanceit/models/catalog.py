"""Models described for people and programs (``enhanceit models list``, ``GET /v1/models``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from enhanceit.models import weights
from enhanceit.models.spec import ModelSpec


def describe(spec: ModelSpec, models_dir: Path | None = None) -> dict[str, Any]:
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
        "origin": spec.origin,
        "default_tile": spec.default_tile,
        "exact_tiling": spec.exact_tiling,
        "sources": sorted({n.weights.source.pin for n in spec.nets}),
        "available": all(weights.is_available(n, models_dir) for n in spec.nets),
    }
