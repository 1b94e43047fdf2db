"""A batch's results as one zip, streamed: never built in memory or on disk.

Each result is read from storage as a stream, a block at a time, and written into a zip whose bytes are handed
on as they are made (:func:`archive`, for a streaming HTTP answer): what the process holds at once is a block,
whatever the batch's size. :mod:`zipfile` does the format: told nothing can be sought back to (:class:`_Sink`
has no ``tell``), it writes each entry's CRC and sizes after its data, in a data descriptor, and the central
directory at the end. Entries are stored, not deflated: the results are PNG, JPEG, WebP, AVIF or GIF, already
compressed, and deflating them again would cost CPU for next to nothing.

Entries are named ``{index:03d}-{job id}.{ext}``. ``manifest.json``, last, lists every item that is not in the
archive (failed, canceled, unfinished, or its result gone from storage) with its index, job id, status and
error, so a client can tell which images are missing and why.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

from enhanceit.errors import EnhanceItError, NotFound
from enhanceit.imaging.formats import FORMATS
from enhanceit.jobs.batches import EXPIRED
from enhanceit.jobs.model import Batch, Job, JobStatus
from enhanceit.storage.base import Storage

logger = logging.getLogger(__name__)

#: Bytes read from storage and handed on at a time: what one archive holds in memory, roughly.
BLOCK = 1 << 16
MANIFEST = "manifest.json"
#: An item whose job succeeded but whose result is no longer in storage (results expire before job records).
RESULT_EXPIRED = {"type": "not-found", "message": "the result has expired", "status": 404}


class _Sink:
    """What :mod:`zipfile` writes into: keeps the bytes until :meth:`take` hands them on. No ``tell`` or
    ``seek``, so zipfile streams (data descriptors) instead of going back to patch headers."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def entry_name(index: int, job: Job) -> str:
    assert job.result is not None
    return f"{index:03d}-{job.id}{FORMATS[job.result.format].extension}"


def _missing(index: int, job_id: str, job: Job | None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    if job is None:
        return {"index": index, "job_id": job_id, "status": "failed", "error": EXPIRED}
    found = error or (job.error.model_dump() if job.error is not None else None)
    return {"index": index, "job_id": job_id, "status": job.status.value, "error": found}


def archive(batch: Batch, items: Sequence[Job | None], storage: Storage) -> Iterator[bytes]:
    """The zip of ``batch``'s results, in chunks of about :data:`BLOCK` bytes. Its items are read once, by the
    caller, before the answer starts; a result that expired since is listed in the manifest instead."""
    sink = _Sink()
    missing: list[dict[str, Any]] = []
    included = 0
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as zf:
        for index, (job_id, job) in enumerate(zip(batch.job_ids, items, strict=True)):
            if job is None or job.status != JobStatus.SUCCEEDED or job.result is None:
                missing.append(_missing(index, job_id, job))
                continue
            try:
                stream = storage.open(job.result.key)
            except NotFound:  # the result outlived by its record: expired
                missing.append(_missing(index, job_id, job, RESULT_EXPIRED))
                continue
            made = job.finished_at or job.created_at
            info = zipfile.ZipInfo(entry_name(index, job), date_time=made.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = job.result.bytes  # lets zipfile choose ZIP64 up front for a result over 2 GiB
            with stream, zf.open(info, "w") as entry:
                while block := stream.read(BLOCK):
                    entry.write(block)
                    yield sink.take()
            included += 1
            yield sink.take()
        manifest = {"batch": batch.id, "included": included, "missing": missing}
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n", compress_type=zipfile.ZIP_DEFLATED)
    yield sink.take()


def logged(chunks: Iterator[bytes], batch_id: str) -> Iterator[bytes]:
    """The archive's chunks; a storage failure half-way is logged (the answer has started: the client gets a
    cut-off zip, which no unzip tool takes for whole, as its central directory is missing)."""
    try:
        yield from chunks
    except EnhanceItError as e:
        logger.warning("archive of batch %s cut off: %s", batch_id, e.detail)
        raise
