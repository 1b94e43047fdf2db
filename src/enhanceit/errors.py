"""EnhanceIt's errors, each carrying its HTTP meaning where it is defined.

Every error a user can cause or meet is an :class:`EnhanceItError`. The API turns one into an RFC 7807
``application/problem+json`` answer from ``status_code``, ``slug`` (its type is :func:`problem_type`),
``title`` and the HTTP ``headers`` it carries (Retry-After, WWW-Authenticate); the CLI prints ``str(error)``
on one line; jobs are retried only after errors whose ``retryable`` is true.

Foreign errors (libvips, ncnn, botocore, httpx) are translated into these at the boundary of the module
that calls the foreign library, so nothing above that module ever sees them.

    EnhanceItError
    ├── InvalidRequest                 400  bad parameters
    │   ├── UnknownModel               400
    │   ├── UnsupportedOperation       400  noise/scale the model cannot do
    │   └── ModelNotEnabled            403  a model whose licence restricts hosted use, not enabled here
    ├── Unauthorized                   401
    ├── ForbiddenURL                   403  URL or address not allowed (SSRF policy); bad /files link
    ├── NotFound                       404
    ├── PayloadTooLarge                413  too many bytes
    ├── UnsupportedFormat              415
    ├── ImageTooLarge                  422  too many pixels (input, output, or for the output format)
    ├── UndecodableImage               422
    ├── Busy                           429  queue full or rate limited (Retry-After)
    ├── Canceled                       499  a job stopped on request
    ├── IdempotencyConflict            422  an Idempotency-Key reused for another request
    ├── JobTimeout                     503  a job ran past its time limit or its deadline
    ├── ModelIntegrityError            500  weight file missing or its sha256 differs
    ├── EngineError                    500  the inference runtime (ncnn, OpenVINO) failed
    │   ├── EngineLoadError            500  a verified net could not be loaded or compiled
    │   ├── InferenceError             500  a tile's inference failed
    │   └── EngineOutOfMemory          503  the runtime could not allocate its memory (retryable)
    ├── WorkerLost                     500  the job's runs stopped their worker too often (a poison job)
    ├── OutputError                    500  result could not be written
    ├── InsufficientStorage            507  the scratch disk filled up
    ├── UpstreamError                  502  the image server answered badly
    │   └── ResolverUnavailable        502  DNS said "try again" (retryable)
    ├── StorageUnavailable             503  the object store failed (retryable)
    │   └── StorageMisconfigured       500  no bucket, credentials refused, folder unusable: not retried
    └── UpstreamTimeout                504
"""

from __future__ import annotations

import errno
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Where the problem types are documented; a problem's ``type`` is this plus its slug.
PROBLEM_TYPES = "https://enhanceit.dev/problems/"


#: A filesystem path of two or more parts, as foreign libraries put them in their messages ("/tmp/enhanceit-
#: upload-x1y2/upload is not a known file format").
_PATH = re.compile(r"(?<![\w:/])(?:~|\.{1,2})?(?:/[\w.@+\-…]+){2,}/?")


def public_detail(detail: str) -> str:
    """``detail`` as a client may see it: every server path replaced by ``<file>``. Applied where errors leave
    the process (problem+json answers, job records and webhooks), whatever library wrote the text."""
    return _PATH.sub("<file>", detail)


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(field, complaint) for each of a pydantic ``ValidationError``'s ``errors()``, the field as a dotted
    path without the part of the request it came in (body, query, header): how the API's 400 lists them and
    the CLI's usage line names the first."""
    skip = ("body", "query", "header")
    return [(".".join(str(x) for x in e.get("loc", ()) if x not in skip), str(e.get("msg", "invalid"))) for e in errors]


def problem_type(slug: str) -> str:
    """The RFC 7807 ``type`` URI of a problem, for EnhanceIt's errors and the framework's own alike."""
    return f"{PROBLEM_TYPES}{slug}"


class EnhanceItError(Exception):
    """Base of every error EnhanceIt reports to a user."""

    status_code: int = 500
    slug: str = "internal-error"
    title: str = "Internal error"
    #: Whether a queue worker should try the job again (transient faults only, never bad input).
    retryable: bool = False

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers that belong to this error's answer; none by default."""
        return {}


class InvalidRequest(EnhanceItError):
    status_code = 400
    slug = "invalid-request"
    title = "Invalid request"


class UnknownModel(InvalidRequest):
    slug = "unknown-model"
    title = "Unknown model"


class UnsupportedOperation(InvalidRequest):
    slug = "unsupported-operation"
    title = "The model cannot do this"


class ModelNotEnabled(InvalidRequest):
    """A request the server refuses by policy (403), but bad usage like an unknown model for the CLI."""

    status_code = 403
    slug = "model-not-enabled"
    title = "The model is not enabled on this server"


class Unauthorized(EnhanceItError):
    status_code = 401
    slug = "unauthorized"
    title = "Missing or invalid API key"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="enhanceit"'}


class ForbiddenURL(EnhanceItError):
    status_code = 403
    slug = "forbidden-url"
    title = "URL not allowed"


class NotFound(EnhanceItError):
    status_code = 404
    slug = "not-found"
    title = "Not found"


class PayloadTooLarge(EnhanceItError):
    status_code = 413
    slug = "payload-too-large"
    title = "Image too large"


class UnsupportedFormat(EnhanceItError):
    status_code = 415
    slug = "unsupported-format"
    title = "Unsupported image format"


class ImageTooLarge(EnhanceItError):
    status_code = 422
    slug = "too-many-pixels"
    title = "Too many pixels"


class UndecodableImage(EnhanceItError):
    status_code = 422
    slug = "undecodable-image"
    title = "The image could not be decoded"


#: The bounds of every Retry-After, in seconds. Less than 1 asks for an immediate retry. A client told N may
#: come back on the same keep-alive connection N seconds later, and the server keeps idle connections open a
#: little longer than the most it ever says (``enhanceit.api.serving.KEEP_ALIVE_SECONDS``).
MIN_RETRY_AFTER = 1
MAX_RETRY_AFTER = 60


def clamp_retry_after(seconds: float) -> int:
    """``seconds`` (how long a wait is likely) as a Retry-After: rounded up to whole seconds, within the bounds."""
    return max(MIN_RETRY_AFTER, min(MAX_RETRY_AFTER, math.ceil(seconds)))


class Busy(EnhanceItError):
    """Each raiser computes its own wait (a queue from its depth, a rate limit from its refill); all are clamped
    here, by :func:`clamp_retry_after`."""

    status_code = 429
    slug = "busy"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, retry_after: float = 5) -> None:
        super().__init__(detail)
        self.retry_after = clamp_retry_after(retry_after)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Canceled(EnhanceItError):
    status_code = 499
    slug = "canceled"
    title = "Canceled"


class IdempotencyConflict(EnhanceItError):
    status_code = 422
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


class JobTimeout(EnhanceItError):
    status_code = 503
    slug = "job-timeout"
    title = "The job took too long"


class ModelIntegrityError(EnhanceItError):
    status_code = 500
    slug = "model-integrity"
    title = "Model weights missing or corrupt"


class EngineError(EnhanceItError):
    """The inference runtime (ncnn, OpenVINO) failed: its own exceptions and error codes, translated where the
    engine calls it (:mod:`enhanceit.engine.boundary`). Not retried: the same net on the same tile fails
    the same way again."""

    status_code = 500
    slug = "engine-error"
    title = "The inference engine failed"


class EngineLoadError(EngineError):
    """A net the runtime would not load or compile, or a device it does not have. Its files were verified by
    sha256 first (a damaged file is a :class:`ModelIntegrityError`), so this is the runtime and the file or
    the settings disagreeing (an ncnn without a layer the net uses, an unknown precision, no such GPU): the
    deployment's to fix."""

    slug = "engine-load-error"
    title = "The model could not be loaded"


class InferenceError(EngineError):
    """The runtime failed on a tile: an error code or exception from an extraction, or an output it cannot
    have made from that tile."""

    slug = "inference-error"
    title = "Inference failed"


class EngineOutOfMemory(EngineError):
    """The runtime could not allocate memory (a Python ``MemoryError`` from it; ncnn's "out of memory" code on
    a Vulkan GPU). Retryable, and 503: the memory was short at that moment, taken by other jobs' nets and
    tiles on the same GPU or process, and a later try on a quieter engine can pass. ncnn's same code on the
    CPU is an :class:`InferenceError` instead: there it also means a blob of impossible size (measured: an
    input smaller than the kernel), and the kernel's OOM killer, not a failed allocation, is how a CPU
    worker runs out (:class:`WorkerLost`)."""

    status_code = 503
    slug = "engine-out-of-memory"
    title = "The inference engine ran out of memory"
    retryable = True


class WorkerLost(EnhanceItError):
    """A job whose runs ended with their worker (killed, out of memory) as often as ``jobs.max_claims``: it is
    failed rather than given to yet another worker."""

    status_code = 500
    slug = "worker-lost"
    title = "The job stopped its worker"


class OutputError(EnhanceItError):
    status_code = 500
    slug = "output-error"
    title = "The result could not be written"


class InsufficientStorage(EnhanceItError):
    """The scratch disk filled up while a job ran (other jobs' files, or an estimate that fell short)."""

    status_code = 507
    slug = "insufficient-storage"
    title = "Not enough scratch space"


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` (an OSError, or a library's error that quotes one) says the disk is full."""
    return getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error)


class UpstreamError(EnhanceItError):
    status_code = 502
    slug = "upstream-error"
    title = "The image server failed"


class ResolverUnavailable(UpstreamError):
    """The name server failed for now (EAI_AGAIN), unlike a name that does not exist: worth waiting out."""

    slug = "resolver-unavailable"
    title = "Name resolution failed for now"
    retryable = True


class StorageUnavailable(EnhanceItError):
    status_code = 503
    slug = "storage-unavailable"
    title = "Storage unavailable"
    retryable = True


class StorageMisconfigured(StorageUnavailable):
    """The object store refuses us for good: the bucket does not exist, the credentials are refused or lack a
    permission, the results folder is not a folder or not ours to write. Waiting cannot fix it, so a job fails
    at once instead of retrying until its deadline; the detail says what the operator must change.

    A :class:`StorageUnavailable` still (the store cannot be used, whatever the reason), but 500 rather than
    503: like :class:`ModelIntegrityError` it is the deployment's fault, and a 503 tells clients and proxies
    that trying again later helps, which it does not until someone acts.
    """

    status_code = 500
    slug = "storage-misconfigured"
    title = "Storage is misconfigured"
    retryable = False


class UpstreamTimeout(EnhanceItError):
    status_code = 504
    slug = "upstream-timeout"
    title = "The image server timed out"
