"""Find weight files and prove they are the pinned ones before anything loads them.

A file is only handed to the runtime after its sha256 matched the zoo's pin; a mismatch, a missing file or
a different installed version of the source package is a :class:`ModelIntegrityError`, never a silent load.
Digests are cached per process by (path, size, mtime), so a model is hashed once, not per request.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import threading
from pathlib import Path

from enhanceit.config import default_models_dir
from enhanceit.errors import ModelIntegrityError
from enhanceit.models.spec import Net, Source, WeightFile

_lock = threading.Lock()
_digests: dict[tuple[str, int, int], str] = {}


def source_dir(source: Source, models_dir: Path | None = None) -> Path:
    if source.kind != "package":
        return (models_dir or default_models_dir()) / source.module
    try:
        installed = importlib.metadata.version(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelIntegrityError(
            f"{source.distribution} is not installed; run 'make install' (it pins {source.pin})"
        ) from None
    if installed != source.version:
        raise ModelIntegrityError(
            f"{source.distribution} {installed} is installed but the zoo is pinned to {source.pin}"
        )
    spec = importlib.util.find_spec(source.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelIntegrityError(f"{source.module} cannot be found although {source.pin} is installed")
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_of(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _digests:
            return _digests[key]
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    value = digest.hexdigest()
    with _lock:
        _digests[key] = value
    return value


def verified_path(wf: WeightFile, models_dir: Path | None = None) -> Path:
    """The path of ``wf`` after checking that its content is the pinned one."""
    path = source_dir(wf.source, models_dir) / wf.path
    if not path.is_file():
        hint = {"package": "run 'make install'", "added": "add it again ('enhanceit models add')"}.get(
            wf.source.kind, "run 'enhanceit models install'"
        )
        raise ModelIntegrityError(f"weight file {path} is missing; {hint}")
    actual = sha256_of(path)
    if actual != wf.sha256:
        raise ModelIntegrityError(
            f"weight file {path} has sha256 {actual[:16]}…, expected {wf.sha256[:16]}… ({wf.source.pin}); "
            "refusing to load it"
        )
    return path


def verified_net_files(net: Net, models_dir: Path | None = None) -> tuple[Path, Path]:
    return verified_path(net.param, models_dir), verified_path(net.weights, models_dir)


def is_available(net: Net, models_dir: Path | None = None) -> bool:
    """Whether the net's files are present (without hashing them): for listings, not for loading."""
    try:
        base = [source_dir(wf.source, models_dir) / wf.path for wf in (net.param, net.weights)]
    except ModelIntegrityError:
        return False
    return all(p.is_file() for p in base)
