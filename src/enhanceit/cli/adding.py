"""``enhanceit models add`` and ``remove``: an operator's own model, checked before anything runs it.

    the files given ──> what they are, by suffix (PyTorch pickles refused: never unpickled)
      ncnn .param + .bin ──> our reader (layer kinds, parameters, bounds, every weight in place)
      .onnx ──> onnxfile: operator allow-list, no custom domains ──> ncnn files ──> our reader
    ──> the probe: the net run once in a limited child process (scale, border, finite values, memory)
    ──> the model's folder written whole (files + manifest pinning their sha256), or nothing

Every refusal is one line (``enhanceit: models add: …``) and leaves nothing behind. Services, workers and
the CLI find the model at their next start (:func:`enhanceit.models.added.load`, checked again there).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

from enhanceit.engine.probe import Request, probe
from enhanceit.errors import ModelIntegrityError
from enhanceit.models import added, ncnnfile
from enhanceit.models.registry import REGISTRY
from enhanceit.models.weights import sha256_of

#: PyTorch's and other pickled formats: loading one runs whatever code it holds.
PICKLED = frozenset({".pth", ".pt", ".ckpt", ".pkl", ".pickle", ".safetensors"})


def add_model(args: argparse.Namespace, models_dir: Path) -> str:
    """Check, convert, probe and save the model ``args`` describe; the line that says what was added."""
    added.check_id(args.id)
    if not args.licence.strip():
        raise ModelIntegrityError("--licence: say under which licence the weights are (an SPDX id, or words)")
    if args.id in REGISTRY.ids():
        raise ModelIntegrityError(f"{args.id!r} is a built-in model's id; choose another")
    if (added.folder(models_dir) / args.id).exists():
        raise ModelIntegrityError(f"a model {args.id!r} is already added; remove it first")
    given_as, param_text, weights, given_sha256 = _read(list(args.files))
    graph = ncnnfile.from_bytes(param_text, weights)
    (input_blob,), (output_blob,) = graph.inputs, graph.outputs  # the reader allows one of each
    for flag, wanted, found in (("--input", args.input, input_blob), ("--output", args.output, output_blob)):
        if wanted and wanted != found:
            raise ModelIntegrityError(f"{flag} {wanted!r}: the net's is {found!r}")
    param = param_text.encode("ascii")
    with tempfile.TemporaryDirectory(prefix="enhanceit-add-") as scratch:
        files = Path(scratch) / added.PARAM, Path(scratch) / added.WEIGHTS
        files[0].write_bytes(param)
        files[1].write_bytes(weights)
        shown = probe(Request(*files, input_blob, output_blob, args.scale, multiple=_multiple(graph)))
    manifest = added.Manifest(
        id=args.id,
        name=args.name or args.id,
        licence=args.licence.strip(),
        scale=args.scale,
        noise=args.noise,
        given_as=given_as,
        given_sha256=given_sha256,
        param_sha256=hashlib.sha256(param).hexdigest(),
        weights_sha256=hashlib.sha256(weights).hexdigest(),
        input_blob=input_blob,
        output_blob=output_blob,
        probe=shown,
        restricted=(args.restricted or "").strip(),
        bgr=args.bgr,
        value_range=args.range,
    )
    added.save(models_dir, manifest, param, weights)
    tiling = f"tiles padded by {shown.pad} px, " + ("exact" if shown.exact else "overlapping (same-padded net)")
    off = f"; off until ENHANCEIT_MODELS_ENABLE names it ({manifest.restricted})" if manifest.restricted else ""
    return f"added {args.id}: {args.scale}x from {given_as}, {tiling}; licence: {manifest.licence}{off}"


def remove_model(model_id: str, models_dir: Path) -> str:
    added.remove(models_dir, model_id)
    return f"removed {model_id}"


def _read(paths: list[Path]) -> tuple[str, str, bytes, str]:
    """(what was given, the .param text, the .bin bytes, the given files' sha256) from the files named."""
    suffixes = sorted(p.suffix.lower() for p in paths)
    pickled = [p for p in paths if p.suffix.lower() in PICKLED]
    if pickled:
        raise ModelIntegrityError(
            f"{pickled[0].name}: PyTorch and pickled weights are never loaded (unpickling runs code); "
            "export the model to ONNX first (torch.onnx.export) and add the .onnx"
        )
    for path in paths:
        if not path.is_file():
            raise ModelIntegrityError(f"{path.name}: no such file")
    if suffixes == [".onnx"]:
        from enhanceit.models import onnxfile

        converted = onnxfile.convert(paths[0])
        return "onnx", converted.param, converted.weights, sha256_of(paths[0])
    if suffixes == [".bin", ".param"]:
        param, weights = sorted(paths, key=lambda p: p.suffix.lower() != ".param")
        text, data = ncnnfile.load(param, weights)
        return "ncnn", text, data, f"{sha256_of(param)}:{sha256_of(weights)}"
    raise ModelIntegrityError("give an ncnn .param and .bin, or one .onnx file")


def _multiple(graph: ncnnfile.Graph) -> int:
    """What tile sides must be multiples of: the product of the strides (each halving needs an even side)."""
    multiple = 1
    for layer in graph.layers:
        if layer.kind == "Convolution":
            multiple *= max(layer.integer(3, 1), layer.integer(13, layer.integer(3, 1)))
    return multiple
