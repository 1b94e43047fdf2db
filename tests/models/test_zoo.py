"""Every registered model: pinned, licensed, consistent, and really enhancing a real photo."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.runtime import Engine
from enhanceit.errors import ModelIntegrityError, UnknownModel
from enhanceit.models import all_models, get_model, weights
from enhanceit.models.registry import Registry
from enhanceit.models.spec import ModelSpec, Source, WeightFile
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file
from tests.helpers import bicubic_of, box_down, box_down2, load, photo, psnr, save

MODELS = all_models()
IDS = [m.id for m in MODELS]


def test_design_model_ids_are_registered() -> None:
    for model_id in ("waifu2x-cunet", "waifu2x-upconv7-anime", "waifu2x-upconv7-photo"):
        assert get_model(model_id).id == model_id
    with pytest.raises(UnknownModel, match="known models"):
        get_model("waifu2x-nope")


def test_registering_an_id_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        Registry([MODELS[0], MODELS[0]])


@pytest.mark.parametrize("spec", MODELS, ids=IDS)
def test_spec_is_pinned_and_licensed(spec: ModelSpec) -> None:
    assert spec.licence and spec.origin.startswith("https://") and spec.summary
    assert spec.tasks, "a model must do something"
    for net in spec.nets:
        for wf in (net.param, net.weights):
            assert wf.source.version and "==" in wf.source.pin
        # (WeightFile itself refuses a hash that is not 64 hex digits: see the test below.) Two files, two pins:
        # a hash copied from the other file of the pair would pass that check and fail every verification.
        assert net.param.sha256 != net.weights.sha256
        assert net.scale >= 1 and -1 <= net.noise <= 3
        assert spec.default_tile % net.multiple == 0


@pytest.mark.parametrize("sha256", ["", "0" * 63, "0" * 65, "A" * 64, "g" * 64, " " + "0" * 63])
def test_a_weight_file_pin_must_be_a_sha256(sha256: str) -> None:
    source = MODELS[0].nets[0].param.source
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        WeightFile(source, "model.bin", sha256)


@pytest.mark.parametrize("spec", MODELS, ids=IDS)
def test_every_weight_file_matches_its_pin(spec: ModelSpec) -> None:
    for net in spec.nets:
        param, bin_path = weights.verified_net_files(net)
        assert param.stat().st_size > 0 and bin_path.stat().st_size > 0


def _everything(engine: Engine) -> Engine:
    """The shared engine's networks, with the models whose licence restricts hosted use enabled too."""
    return Engine(engine.config, registry=engine.registry.enabling(IDS))


@pytest.mark.parametrize("spec", MODELS, ids=IDS)
def test_model_enhances_a_real_photo(spec: ModelSpec, engine: Engine, tmp_path: Path) -> None:
    """2x of a box-downscaled photo, compared with the original.

    Fidelity models must be clearly closer to it than bicubic is. GAN-trained models invent texture, so
    PSNR does not rank them; they must still keep the picture: at half resolution (texture averaged away)
    they must agree with the original about as well as bicubic does — a shift, a colour mix-up or a
    missing residual would fall far below."""
    original = photo("astronaut")[96:224, 160:288]
    small = save(box_down2(original), tmp_path / "small.png")
    out = tmp_path / "out.png"
    outcome = enhance_file(small, out, EnhanceOptions(model=spec.id, scale=2), _everything(engine), LimitSettings())
    result = load(out)
    assert result.shape == original.shape
    assert outcome.timings["inference"] > 0
    bicubic = bicubic_of(small, 2)
    if "gan" in spec.tags:
        structure = psnr(box_down2(result), box_down2(original))
        assert structure > psnr(box_down2(bicubic), box_down2(original)) - 3.0, f"{spec.id}: {structure:.2f} dB"
    else:
        gain = psnr(result, original) - psnr(bicubic, original)
        assert gain > 1.0, f"{spec.id}: {gain:.2f} dB over bicubic"


NATIVE = [(spec, s) for spec in MODELS if "gan" not in spec.tags for s in spec.scales if s > 2]


@pytest.mark.parametrize(("spec", "scale"), NATIVE, ids=[f"{spec.id}-{s}x" for spec, s in NATIVE])
def test_fidelity_model_beats_bicubic_at_its_native_scale(
    spec: ModelSpec, scale: int, engine: Engine, tmp_path: Path
) -> None:
    """Beyond 2x, each native net of a fidelity model, alone in one pass, beats bicubic on a photo."""
    original = photo("astronaut")[64 : 64 + 64 * scale, 128 : 128 + 64 * scale]
    small = save(box_down(original, scale), tmp_path / "small.png")
    out = tmp_path / "out.png"
    outcome = enhance_file(small, out, EnhanceOptions(model=spec.id, scale=scale), _everything(engine), LimitSettings())
    assert [n.scale for n in outcome.plan.passes] == [scale]
    result = load(out)
    assert result.shape == original.shape
    gain = psnr(result, original) - psnr(bicubic_of(small, scale), original)
    assert gain > 0.5, f"{spec.id} at {scale}x: {gain:.2f} dB over bicubic"


def test_a_weight_file_that_does_not_match_is_refused(tmp_path: Path) -> None:
    net = get_model("waifu2x-upconv7-photo").net(2, -1)
    assert net is not None
    # a converted-model source pointing at a copy we can tamper with
    source = Source("test-weights", "1", "copy", kind="converted")
    folder = tmp_path / "copy" / "models"
    folder.mkdir(parents=True)
    for wf in (net.param, net.weights):
        shutil.copy(weights.verified_path(wf), folder / Path(wf.path).name)
    moved = replace(
        net,
        param=WeightFile(source, net.param.path, net.param.sha256),
        weights=WeightFile(source, net.weights.path, net.weights.sha256),
    )
    assert weights.verified_net_files(moved, tmp_path)[1].is_file()
    with (folder / Path(net.weights.path).name).open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        weights.verified_net_files(moved, tmp_path)
    (folder / Path(net.weights.path).name).unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        weights.verified_net_files(moved, tmp_path)


def test_a_wrong_pin_is_refused() -> None:
    net = get_model("waifu2x-cunet").net(2, -1)
    assert net is not None
    wrong = WeightFile(net.weights.source, net.weights.path, "0" * 64)
    with pytest.raises(ModelIntegrityError, match="expected 0000"):
        weights.verified_path(wrong)
    other_version = Source(net.weights.source.distribution, "9.9.9", net.weights.source.module)
    with pytest.raises(ModelIntegrityError, match="pinned"):
        weights.verified_path(WeightFile(other_version, net.weights.path, net.weights.sha256))
