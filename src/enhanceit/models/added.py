"""Models an operator added (``enhanceit models add``): one folder each, a manifest pinning its files.

    <models folder>/added/<id>/manifest.json   what the model is, its licence, its files' sha256, the probe
    <models folder>/added/<id>/model.param     the net, in ncnn's format (an ONNX file is converted on add)
    <models folder>/added/<id>/model.bin

Nothing here runs a net. A model is written here only after our reader (:mod:`enhanceit.models.ncnnfile`)
accepted its files and a probe in a separate, limited process ran it (:mod:`enhanceit.engine.probe`); the
manifest records that probe against the files' digests. At every start (:func:`load`) each manifest is read
again, its files' digests compared with it, and the reader run over them once more: a model whose files
changed, or whose probe was not for these files, is left out with a warning and never reaches ncnn. The
engine verifies the digests again when it loads the net, as for every zoo model.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from enhanceit.errors import ModelIntegrityError
from enhanceit.models import ncnnfile
from enhanceit.models.spec import ModelSpec, Net, Source, WeightFile
from enhanceit.models.weights import sha256_of

log = logging.getLogger(__name__)

#: The folder of added models inside the models folder.
FOLDER = "added"
MANIFEST = "manifest.json"
PARAM, WEIGHTS = "model.param", "model.bin"
#: The manifest's own version: a later EnhanceIt that changes it reads older ones or says why not.
MANIFEST_VERSION = 1
#: The family every added model is listed under (``models list``, ``/v1/models``).
FAMILY = "added"
#: Model ids: what a URL, a file name and a settings list can all hold.
ID = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}\Z")


@dataclass(frozen=True)
class Probe:
    """What running the net in the probe process showed (:mod:`enhanceit.engine.probe`)."""

    #: The sha256 of the .param and .bin it ran: the probe holds for these files only.
    files: str
    #: Input pixels per side the net trims or needs as context: tiles are padded by this much.
    pad: int
    #: Whether the net trims its context itself (valid convolutions): tiled output then equals whole-image
    #: output exactly.
    exact: bool
    #: Tile sides must be multiples of this (its strides).
    multiple: int
    #: Peak resident memory with the net loaded, and per padded tile pixel: sizes tiles to the budget.
    base_mb: int
    kb_per_px: float


@dataclass(frozen=True)
class Manifest:
    id: str
    name: str
    licence: str
    scale: int
    noise: int
    #: ``ncnn`` or ``onnx``: what the operator gave (an ONNX file was converted to the ncnn files here).
    given_as: str
    #: The sha256 of what was given (the .onnx; for ncnn, the .param and .bin as here).
    given_sha256: str
    param_sha256: str
    weights_sha256: str
    input_blob: str
    output_blob: str
    probe: Probe
    #: Why it stays off unless ``ENHANCEIT_MODELS_ENABLE`` names it ("" : on).
    restricted: str = ""
    bgr: bool = False
    value_range: float = 1.0
    version: int = MANIFEST_VERSION

    def spec(self) -> ModelSpec:
        """The model as the registry and the engine know every model."""
        source = Source(f"added:{self.id}", self.param_sha256[:12], f"{FOLDER}/{self.id}", kind="added")
        net = Net(
            scale=self.scale,
            noise=self.noise,
            param=WeightFile(source, PARAM, self.param_sha256),
            weights=WeightFile(source, WEIGHTS, self.weights_sha256),
            input_blob=self.input_blob,
            output_blob=self.output_blob,
            pad=self.probe.pad,
            multiple=self.probe.multiple,
            bgr=self.bgr,
            value_range=self.value_range,
        )
        return ModelSpec(
            id=self.id,
            family=FAMILY,
            title=self.name,
            summary=f"Added by this server's operator ({self.given_as}, {self.scale}x"
            + (f", noise level {self.noise})." if self.noise >= 0 else ")."),
            licence=self.licence,
            origin="added",
            nets=(net,),
            default_tile=128,
            exact_tiling=self.probe.exact,
            base_mb=self.probe.base_mb,
            kb_per_px=self.probe.kb_per_px,
            restricted=self.restricted,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        if data.get("version") != MANIFEST_VERSION:
            raise ModelIntegrityError(f"manifest version {data.get('version')!r} is not {MANIFEST_VERSION}")
        probe = Probe(**data.pop("probe"))
        return cls(probe=probe, **data)


def folder(models_dir: Path) -> Path:
    return models_dir / FOLDER


def check_id(model_id: str) -> None:
    if not ID.match(model_id):
        raise ModelIntegrityError(
            f"{model_id!r} is not a model id: 2-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )


def save(models_dir: Path, manifest: Manifest, param: bytes, weights: bytes) -> Path:
    """Write the model's folder whole or not at all: its files and manifest go into a temporary folder
    beside it, renamed into place at the end. Refuses an id that is already there."""
    root = folder(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / manifest.id
    if target.exists():
        raise ModelIntegrityError(f"a model {manifest.id!r} is already added; remove it first")
    staging = Path(tempfile.mkdtemp(prefix=f".{manifest.id}-", dir=root))
    try:
        (staging / PARAM).write_bytes(param)
        (staging / WEIGHTS).write_bytes(weights)
        (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def remove(models_dir: Path, model_id: str) -> None:
    check_id(model_id)
    target = folder(models_dir) / model_id
    if not (target / MANIFEST).is_file():
        raise ModelIntegrityError(f"no added model {model_id!r}")
    shutil.rmtree(target)


def verify(models_dir: Path, manifest: Manifest) -> None:
    """The start-up check: the files are the ones the manifest pins, the probe was run on them, and our
    reader accepts them still (this version's reader may be stricter than the one that added them)."""
    where = folder(models_dir) / manifest.id
    param, weights = where / PARAM, where / WEIGHTS
    for path, pinned in ((param, manifest.param_sha256), (weights, manifest.weights_sha256)):
        if not path.is_file():
            raise ModelIntegrityError(f"{path.name} is missing")
        if sha256_of(path) != pinned:
            raise ModelIntegrityError(f"{path.name} is not the file the manifest pins")
    if manifest.probe.files != probed_files(manifest.param_sha256, manifest.weights_sha256):
        raise ModelIntegrityError("the manifest's probe was not run on these files")
    graph = ncnnfile.read(param, weights)
    if graph.inputs != (manifest.input_blob,) or graph.outputs != (manifest.output_blob,):
        raise ModelIntegrityError("the net's input or output blob is not the manifest's")


def probed_files(param_sha256: str, weights_sha256: str) -> str:
    return f"{param_sha256}:{weights_sha256}"


def load(models_dir: Path) -> list[ModelSpec]:
    """Every added model that passes :func:`verify`, in id order; the others are logged and left out."""
    root = folder(models_dir)
    if not root.is_dir():
        return []
    specs = []
    for manifest_path in sorted(root.glob(f"*/{MANIFEST}")):
        name = manifest_path.parent.name
        try:
            manifest = Manifest.from_json(manifest_path.read_text(encoding="utf-8"))
            if manifest.id != name:
                raise ModelIntegrityError(f"its manifest names {manifest.id!r}")
            check_id(manifest.id)
            verify(models_dir, manifest)
            specs.append(manifest.spec())
        except (ModelIntegrityError, OSError, ValueError, TypeError, KeyError) as e:
            log.warning("added model %r left out: %s", name, str(e)[:300])
    return specs
