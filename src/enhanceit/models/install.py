"""``enhanceit models install``: make a model's weights present and verified.

Models from pinned pip packages are already installed with EnhanceIt; installing them verifies every
file's sha256.
"""

from __future__ import annotations

from pathlib import Path

from enhanceit.models import weights
from enhanceit.models.spec import ModelSpec


def install(spec: ModelSpec, models_dir: Path | None = None) -> str:
    for net in spec.nets:
        weights.verified_net_files(net, models_dir)
    pins = ", ".join(sorted({n.weights.source.pin for n in spec.nets}))
    return f"{len(spec.nets)} nets verified ({pins})"
