"""A result's content address names the weights that made it, by their sha256."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from enhanceit.config import LimitSettings
from enhanceit.engine.fake import fake_engine
from enhanceit.jobs.results import result_key
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.prepared import prepare
from tests.api.conftest import png_bytes


def test_other_weights_under_the_same_model_id_give_another_key(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes())
    prepared = prepare(src, EnhanceOptions(model="waifu2x-upconv7-photo", noise=-1), fake_engine(), LimitSettings())
    net = prepared.plan.passes[0]
    other = replace(net, weights=replace(net.weights, sha256="0" * 64))
    retrained = replace(prepared, plan=replace(prepared.plan, passes=(other,)))
    assert result_key("a" * 64, prepared) == result_key("a" * 64, prepared)
    assert result_key("a" * 64, retrained) != result_key("a" * 64, prepared)
