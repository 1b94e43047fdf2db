"""Real networks through the tiler, on each backend at f32: exactness for convolution-only nets, no seams for
the others, working memory let go after each pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enhanceit.engine.base import FloatImage, Network
from enhanceit.engine.runtime import Engine
from enhanceit.engine.tiles import run_pass
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.models import get_model
from tests.helpers import photo, raster_of


def enhance(network: Network, pixels: np.ndarray, tmp_path: Path, tile: int) -> np.ndarray:
    folder = tmp_path / f"t{tile}-{id(network)}"
    folder.mkdir()
    src = raster_of(pixels, folder / "src.raw")
    h, w = pixels.shape[:2]
    s = network.scale
    dst = Raster.create(folder / "dst.raw", RasterInfo(w * s, h * s, 3, "uint8"))
    run_pass(network, src, dst, tile)
    return dst.read_rows(0, h * s).astype(np.int16)


def network(engine: Engine, model_id: str, scale: int = 2, noise: int = -1) -> Network:
    spec = get_model(model_id)
    net = spec.net(scale, noise)
    assert net is not None
    return engine.network(spec, net)


@pytest.mark.parametrize("model_id", ["waifu2x-upconv7-photo", "waifu2x-upconv7-anime"])
def test_convolution_only_nets_tile_exactly(any_engine: Engine, tmp_path: Path, model_id: str) -> None:
    """Tiled equals whole-image up to float rounding: ncnn's Winograd sums in a tile-dependent order,
    so a sample that lands on x.5 may round either way (a handful per image), never more than 1 apart."""
    pixels = photo("coffee")[:150, :210]
    net = network(any_engine, model_id)
    whole = enhance(net, pixels, tmp_path, tile=256)
    for tile in (32, 50, 64):
        diff = np.abs(enhance(net, pixels, tmp_path, tile) - whole)
        assert diff.max() <= 1
        assert np.count_nonzero(diff) <= diff.size * 1e-3


def test_convolution_only_tiles_match_the_whole_image_in_float(any_engine: Engine) -> None:
    """Before rounding: the centre of a padded crop equals the same region of the whole padded image."""
    net = network(any_engine, "waifu2x-upconv7-photo")
    pixels = photo("astronaut")[:80, :96].astype(np.float32) / 255
    p = net.pad
    padded = np.ascontiguousarray(np.pad(pixels, ((p, p), (p, p), (0, 0)), mode="edge").transpose(2, 0, 1))
    whole = net.run(padded)
    y0, x0, th, tw = 24, 32, 32, 40
    tile = np.ascontiguousarray(padded[:, y0 : y0 + th + 2 * p, x0 : x0 + tw + 2 * p])
    part = net.run(tile)
    assert np.allclose(part, whole[:, 2 * y0 : 2 * (y0 + th), 2 * x0 : 2 * (x0 + tw)], atol=2e-5)


class WithoutContext:
    """A broken tiler on purpose: each tile's context replaced by its own repeated edge."""

    def __init__(self, inner: Network) -> None:
        self.inner = inner
        self.scale, self.pad, self.pad_mode = inner.scale, inner.pad, inner.pad_mode
        self.multiple, self.truncate = inner.multiple, inner.truncate

    def run(self, tile: FloatImage) -> FloatImage:
        p = self.pad
        core = tile[:, p:-p, p:-p]
        return self.inner.run(np.ascontiguousarray(np.pad(core, ((0, 0), (p, p), (p, p)), mode="edge")))


def seam_ratio(tiled: np.ndarray, reference: np.ndarray, tile: int, scale: int) -> float:
    """How much (tiled - reference) steps across tile borders, relative to its typical step elsewhere."""
    diff = (tiled - reference).astype(np.float64)
    col_steps = np.abs(np.diff(diff, axis=1)).mean(axis=(0, 2))
    row_steps = np.abs(np.diff(diff, axis=0)).mean(axis=(1, 2))
    borders = [scale * tile * k - 1 for k in range(1, diff.shape[1] // (scale * tile))]
    at_border = np.r_[col_steps[borders], row_steps[borders]].mean()
    elsewhere = np.median(np.r_[np.delete(col_steps, borders), np.delete(row_steps, borders)])
    return float(at_border / elsewhere)


@pytest.mark.parametrize("model_id", ["waifu2x-cunet", "realcugan-se"])
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_squeeze_excitation_tiles_leave_no_seams(any_engine: Engine, tmp_path: Path, name: str, model_id: str) -> None:
    """Squeeze-excitation makes tiles differ slightly from a whole-image run; at tile borders
    that difference must not step (a seam). The same measure on a tiler without context shows one."""
    pixels = photo(name)[:256, :256]
    net = network(any_engine, model_id)
    whole = enhance(net, pixels, tmp_path, tile=256)
    tiled = enhance(net, pixels, tmp_path, tile=64)
    assert seam_ratio(tiled, whole, 64, 2) < 3.0
    if model_id == "waifu2x-cunet":  # the control: the measure does see a seam when there is one
        broken = enhance(WithoutContext(net), pixels, tmp_path, tile=64)
        assert seam_ratio(broken, whole, 64, 2) > 4.0


@pytest.mark.parametrize("backend", ["ncnn", "openvino"])
def test_a_pass_lets_go_of_its_feature_maps(tmp_path: Path, backend: str) -> None:
    """A net's feature maps live as long as a pass, not as long as the net or the thread that ran it: after
    each pass the process holds the loaded nets' weights (about 17 MB a CUnet variant), not a working set
    (about 250 MB at tile 128). On ncnn's own pools each net kept one (four variants: +736 MB); on pools
    kept per thread the thread kept its last one (+250 MB after every pass)."""
    import subprocess
    import sys

    script = """
import os, sys, numpy as np
from pathlib import Path
from enhanceit.allocator import tune_allocator
tune_allocator()
from enhanceit.engine.plan import Plan
from enhanceit.engine.runtime import Engine, EngineConfig
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.models.registry import get_model
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
work = Path(sys.argv[1])
src = Raster.create(work / "in.raw", RasterInfo(128, 128, 3, "uint8"))
src.write_rows(0, np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8))
engine = Engine(EngineConfig(threads=1, max_loaded=8, memory_budget_mb=100_000, backend=sys.argv[2]))
spec = get_model("waifu2x-cunet")
loaded, ran = [], []
for noise in (-1, 0, 1, 2):
    plan = Plan((spec.net(2, noise),), 256, 256)
    engine.network(spec, plan.passes[0])
    loaded.append(rss())
    engine.run_plan(spec, plan, src, work, tile=128).close()
    ran.append(rss())
print(loaded[0], ran[0], ran[-1])
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), backend], capture_output=True, text=True, timeout=300, check=True
    )
    loaded, first_ran, last_ran = (float(x) for x in out.stdout.split())
    assert first_ran - loaded < 40, (loaded, first_ran)  # no working set kept after the pass
    assert last_ran - loaded < 3 * 40 + 40, (loaded, last_ran)  # three more nets: their weights only
