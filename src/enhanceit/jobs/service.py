"""Accepting jobs: everything the API does between a valid request and a queued job.

Checks that need no download happen here, synchronously, so a bad request fails at once with its
proper status instead of as a failed job: the URL policy for ``image_url`` and ``webhook_url`` (403),
and for uploads the format, pixel limits and plan from the header alone (415, 422, 400). An upload
whose identical request already has a stored result is answered from it without queueing anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from enhanceit.config import Settings
from enhanceit.engine.choose import check_request
from enhanceit.engine.runtime import Engine
from enhanceit.errors import Busy, InvalidRequest, NotFound, StorageUnavailable
from enhanceit.jobs.model import Job, JobStatus, Source, now
from enhanceit.jobs.queue.base import JobQueue
from enhanceit.jobs.results import result_key, reuse_fields
from enhanceit.jobs.runner import JobRunner, download_name
from enhanceit.jobs.store.base import JobStore
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.prepared import prepare
from enhanceit.security.outbound import check_at_submit
from enhanceit.storage.base import Storage

logger = logging.getLogger(__name__)
UPLOAD_TTL = timedelta(hours=6)


@dataclass(frozen=True)
class Upload:
    path: Path
    filename: str | None
    sha256: str
    size: int


class JobService:
    def __init__(
        self, settings: Settings, engine: Engine, storage: Storage, store: JobStore, queue: JobQueue, runner: JobRunner
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.storage = storage
        self.store = store
        self.queue = queue
        self.runner = runner

    def submit(
        self,
        options: EnhanceOptions,
        *,
        url: str | None = None,
        upload: Upload | None = None,
        webhook_url: str | None = None,
        owner: str = "anonymous",
        idempotency_key: str | None = None,
        job_id: str | None = None,
    ) -> Job:
        """``job_id``: the new job's id, when the caller derives it to find the job again by reading it (a signed
        URL's job, see :mod:`enhanceit.api.routes.urls`); a random one otherwise."""
        self.check(options, url=url, upload=upload, webhook_url=webhook_url)
        fingerprint = self._fingerprint(options, url, upload, webhook_url)
        source = Source(url=url, filename=upload.filename if upload else None)
        job = Job(options=options, source=source, webhook_url=webhook_url, owner=owner)
        if job_id is not None:
            job = job.model_copy(update={"id": job_id})
        if not self.queue.has_room():
            raise Busy("too many jobs are waiting; try again later", retry_after=self.queue.retry_after())
        if upload is not None:
            job = self.read_header(job, upload)
            if job.status.finished:  # an identical request's result, reused
                return self._insert(job, idempotency_key, fingerprint)
            job = self.store_upload(job, upload)
        stored = self._insert(job, idempotency_key, fingerprint)
        if stored.id != job.id:  # the same request again, under the same Idempotency-Key
            return stored
        try:
            self.queue.submit(job.id)
        except Busy:
            self.store.delete(job.id)
            if job.source.upload_key:
                self.storage.delete(job.source.upload_key)
            raise
        except StorageUnavailable as e:  # recorded but not sent: accepted all the same, the reaper sends it
            logger.warning("job recorded but not queued (%s); the reaper will queue it", e.detail)
        return stored

    def check(
        self, options: EnhanceOptions, *, url: str | None, upload: Upload | None, webhook_url: str | None = None
    ) -> None:
        """What a request is refused for before anything is read or stored (a batch checks every item so)."""
        if (url is None) == (upload is None):
            raise InvalidRequest("give either image_url or a file")
        # an unknown model, one not enabled here, or a noise level it lacks: refused now, not a failed job later
        check_request(self.engine.registry, options.model, options.noise, options.scale)
        if url is not None:
            check_at_submit(url, self.settings.fetch)
        if webhook_url is not None:
            check_at_submit(webhook_url, self.settings.fetch)

    def read_header(self, job: Job, upload: Upload) -> Job:
        """The upload's header, read once, checked (format, pixels, plan) and kept on the job; the job comes back
        finished when an identical request's result can be reused. Nothing is stored yet."""
        prepared = prepare(upload.path, job.options, self.engine, self.settings.limits)
        job = job.model_copy(update={"input": prepared.info})
        reused = self.runner.results.find(result_key(upload.sha256, prepared), prepared.format)
        if reused is None:
            return job
        done = {**reuse_fields(reused, upload.path, prepared), "status": JobStatus.SUCCEEDED}
        return job.model_copy(update={**done, "finished_at": now()})

    def store_upload(self, job: Job, upload: Upload) -> Job:
        """Put the upload where a worker reads it: one key per job, deleted by the runner when the job ends."""
        key = f"uploads/{job.id}"
        self.storage.put_file(key, upload.path, "application/octet-stream", now() + UPLOAD_TTL)
        return job.model_copy(update={"source": job.source.model_copy(update={"upload_key": key})})

    def _insert(self, job: Job, key: str | None, fingerprint: str) -> Job:
        return self.store.insert(job, (key, fingerprint) if key else None)

    @staticmethod
    def _fingerprint(options: EnhanceOptions, url: str | None, upload: Upload | None, webhook: str | None) -> str:
        body = {
            "options": options.model_dump(mode="json"),
            "url": url,
            "upload": upload.sha256 if upload else None,
            "webhook": webhook,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def get(self, job_id: str, owner: str | None = None) -> Job:
        """The job's latest record; :class:`~enhanceit.errors.NotFound` (404) for an unknown id, and for
        another ``owner``'s job (a job is its API key's: another key cannot tell it exists)."""
        job = self.store.require(job_id)
        if owner is not None and job.owner != owner:
            raise NotFound(f"no job {job_id}")
        return job

    def cancel(self, job_id: str, owner: str | None = None) -> Job:
        before = self.get(job_id, owner)
        job = self.store.request_cancel(job_id)
        if job.status.finished and not before.status.finished:
            # A queued job ends here, with no runner to tell the observers (a batch it ends, the metrics).
            self.runner.observer.finished(job)
        return job

    def render(self, job: Job) -> dict[str, Any]:
        return render(job, self.storage)


def render(job: Job, storage: Storage) -> dict[str, Any]:
    """The job as clients (and webhooks) see it, with a freshly signed result URL."""
    url = None
    if job.result is not None:
        url = storage.url(job.result.key, job.result.expires_at, filename=download_name(job))
    return job.public(url)
