"""A job: one enhancement request from submission to result, as every part of the service sees it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from enhanceit.errors import EnhanceItError, public_detail
from enhanceit.imaging.info import ImageInfo
from enhanceit.options import EnhanceOptions


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class JobError(BaseModel):
    #: The problem type's slug (``undecodable-image``, ``forbidden-url``…), as in the API's problem+json.
    type: str
    message: str
    #: The HTTP status the same failure gets when it happens inside a request.
    status: int

    @classmethod
    def of(cls, error: EnhanceItError) -> JobError:
        return cls(type=error.slug, message=public_detail(error.detail), status=error.status_code)


class JobResult(BaseModel):
    #: Storage key of the result; the public URL is signed from it whenever the job is read.
    key: str
    expires_at: datetime
    width: int
    height: int
    format: str
    bytes: int
    #: True when an identical earlier request's result was reused instead of computed again.
    reused: bool = False
    #: The concrete model that made it (an alias such as ``photo`` resolved).
    model: str | None = None
    #: The noise reduction level that ran (-1: none): what ``noise: auto`` chose, or the level asked for.
    noise: int | None = None
    #: Frames in the result: more than one for an animation (then ``animated`` is true).
    frames: int = 1
    animated: bool = False


class Source(BaseModel):
    """Where the input comes from: a URL to download, or an upload already in storage."""

    url: str | None = None
    upload_key: str | None = None
    filename: str | None = None


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


def now() -> datetime:
    return datetime.now(UTC)


class Job(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    id: str = Field(default_factory=new_job_id)
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    options: EnhanceOptions
    source: Source
    webhook_url: str | None = None
    #: The end of the job is still to be told to ``webhook_url``: set when the job finishes, cleared when the
    #: webhook is delivered or refused for good. Reapers send it again (a restart loses none).
    webhook_pending: bool = False
    #: Rounds of delivery started for it (each a few attempts with backoff).
    webhook_rounds: int = 0
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    error: JobError | None = None
    result: JobResult | None = None
    #: What the user should know about the result, in plain words (a damaged input, say).
    warnings: list[str] = Field(default_factory=list)
    attempts: int = 0
    cancel_requested: bool = False
    #: Who submitted it (a hash of the API key), for idempotency keys and rate limits.
    owner: str = "anonymous"
    #: The run that holds the job while it is running, and until when without renewal (see jobs.lease).
    lease_owner: str | None = None
    lease_until: datetime | None = None
    #: The input's header, read once where the input first was (an upload, at submit): the worker decides
    #: the request again from it without reading the file's header (:func:`enhanceit.pipeline.prepared.decide`).
    input: ImageInfo | None = None
    #: The batch it is an item of (``POST /v1/batches``): whoever ends it checks whether the batch ended too.
    batch_id: str | None = None

    def public(self, result_url: str | None) -> dict[str, Any]:
        """The job as the API shows it (no storage keys, no owner, no webhook URL)."""
        result = None
        if self.result is not None and result_url is not None:
            r = self.result
            result = {
                "url": result_url,
                "expires_at": r.expires_at,
                "width": r.width,
                "height": r.height,
                "format": r.format,
                "bytes": r.bytes,
                "reused": r.reused,
                "model": r.model,
                "noise": r.noise,
                "frames": r.frames,
                "animated": r.animated,
            }
        return {
            "id": self.id,
            "status": self.status.value,
            "progress": round(self.progress, 4),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "options": self.options.model_dump(exclude_none=True),
            "timings": self.timings,
            "error": self.error.model_dump() if self.error else None,
            "warnings": self.warnings,
            "result": result,
            "batch_id": self.batch_id,
        }


def new_batch_id() -> str:
    return "bat_" + secrets.token_hex(12)


class Batch(BaseModel):
    """Several jobs submitted together (``POST /v1/batches``).

    A batch never holds more than its items' records: their job ids, in order, and its own fields. Its status,
    counts and results are read from the jobs whenever it is shown, so no write to a job has to reach its batch
    too, and no batch record grows with its images.
    """

    model_config = ConfigDict(validate_assignment=True)

    id: str = Field(default_factory=new_batch_id)
    #: The items' jobs, in the order the items were given (an item's index is its place here).
    job_ids: list[str]
    #: Who submitted it (a hash of the API key): another key's batch is not found.
    owner: str = "anonymous"
    #: POSTed the batch once, when every item has ended.
    webhook_url: str | None = None
    #: Set by the one process that found every item ended and took the webhook to send it (an atomic write:
    #: :meth:`~enhanceit.jobs.store.base.JobStore.claim_batch_webhook`); never cleared, so it is sent once.
    webhook_claimed: bool = False
    #: Claimed and not yet delivered (or refused for good): reapers send it again, as for a job.
    webhook_pending: bool = False
    #: Rounds of delivery started for it (each a few attempts with backoff).
    webhook_rounds: int = 0
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)

    @property
    def watched(self) -> bool:
        """Whether its webhook is still to send: not claimed yet (items may still run), or claimed and pending.
        The stores index these, for the reaper."""
        return self.webhook_url is not None and (not self.webhook_claimed or self.webhook_pending)
