"""The result cache: an identical earlier request's stored result, found by its content address, answers a
new job instead of computing it again.

A result is stored under :func:`result_key`: the input's bytes, every option that changes pixels (the output
format settled), what they resolved to (the model behind an alias, the level behind ``noise: auto``) and the
engine's version. Before computing, a job looks for its key (:meth:`ResultCache.find`); a result that is there
and lives at least :data:`MIN_REMAINING` longer becomes the job's own, ``reused: true``, with the model and
level that made it and the warnings decoding the input would give (:func:`reuse_fields`). The API does the
same at submit for an upload, so an identical upload is answered without queueing anything.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from enhanceit import __version__
from enhanceit.errors import EnhanceItError
from enhanceit.imaging.formats import OutputFormat, extension
from enhanceit.imaging.probe import probe
from enhanceit.jobs.model import JobResult, now
from enhanceit.jobs.scratch import REUSE_PREFIX, owned
from enhanceit.pipeline.prepared import Prepared, input_warnings
from enhanceit.storage.base import Storage

#: Results are reused only when made by the same engine version.
RESULT_VERSION = f"enhanceit-{__version__}"
#: Reuse a stored result only if it lives at least this much longer.
MIN_REMAINING = timedelta(minutes=10)


def result_key(input_sha256: str, prepared: Prepared) -> str:
    """Content address of a result: the input's bytes, every option that changes pixels (the output format
    settled), what they resolved to (the model behind an alias, the level behind ``noise: auto``: a later
    version may resolve them otherwise, and the sha256 of the weights that run), and the engine's version."""
    options = prepared.options
    # the weights by their digests: an operator's model added again under its id with other files (or a zoo
    # pin moved) never reuses what the old files made
    weights = [f"{net.param.sha256}:{net.weights.sha256}" for net in prepared.plan.passes]
    ran = {"model": prepared.model.id, "noise": prepared.noise, "weights": weights}
    recipe = json.dumps({**options.model_dump(mode="json"), "ran": ran}, sort_keys=True)
    digest = hashlib.sha256(f"{RESULT_VERSION}\n{input_sha256}\n{recipe}".encode()).hexdigest()
    return f"{digest[:2]}/{digest}{extension(prepared.format)}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def reuse_fields(reused: JobResult, source: Path, prepared: Prepared) -> dict[str, Any]:
    """What a job finished from an identical earlier request's result records: that result, the model and
    noise level that made it (an alias and ``auto`` resolved again, from the same input), and the warnings
    decoding the input would give."""
    result = reused.model_copy(update={"model": prepared.model.id, "noise": prepared.noise})
    return {"result": result, "warnings": input_warnings(source, prepared.info), "progress": 1.0}


class ResultCache:
    """Stored results found again by key, in the storage that keeps them."""

    def __init__(self, storage: Storage, tmp_dir: Path | None) -> None:
        self.storage = storage
        self.tmp_dir = tmp_dir

    def find(self, key: str, fmt: OutputFormat) -> JobResult | None:
        """The stored result under ``key`` (a ``fmt`` file), if it is there and not about to expire. Its size
        and frames come from its own header: a few KB read, never the whole file."""
        found = self.storage.head(key)
        if found is None or found.expires_at - now() < MIN_REMAINING:
            return None
        with tempfile.TemporaryDirectory(prefix=owned(REUSE_PREFIX), dir=self.tmp_dir) as scratch:
            path = Path(scratch) / "result"
            with self.storage.open(key) as src, path.open("wb") as out:
                out.write(src.read(1 << 16))  # enough for any header we write
            try:
                info = probe(path)  # only the header: cheap
            except EnhanceItError:
                return None
        return JobResult(
            key=key,
            expires_at=found.expires_at,
            width=info.width,
            height=info.height,
            format=fmt,
            bytes=found.size,
            reused=True,
            frames=info.frames,
            animated=info.animated,
        )
