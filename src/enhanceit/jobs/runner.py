"""Run one job: the service's pipeline around the engine's.

    get input (download the URL, or read the upload) -> prepare (the header read once, or kept from submit)
      -> same request seen before? reuse its result (:mod:`enhanceit.jobs.results`)
      -> enhance (decode, tiles, encode) -> store the result -> record it -> webhook

Every failure ends the job as ``failed`` with its reason, never the worker. Transient faults (errors
marked ``retryable``: the object store, Redis, DNS) are waited out with backoff until the job's deadline
(:mod:`enhanceit.jobs.retry`), so an outage delays jobs instead of failing them; bad input fails at once.
What a run cannot record (the job store away until the deadline) escapes it; the distributed queue then
delivers it again or, at the last attempt, calls :meth:`JobRunner.give_up`.
While it runs, the job is held by a lease a thread renews (:mod:`enhanceit.jobs.lease`): a worker that dies
or loses Redis for longer than the lease lets a reaper give the job to another. Recording the end waits for
a store that is away, so work done during an outage is recorded once it is back. ``check`` runs between
tiles and stops the job on cancel, on a lost lease, or when it outlives its time limit or deadline.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from enhanceit import logs
from enhanceit.config import JobSettings, Settings
from enhanceit.engine.runtime import Engine
from enhanceit.errors import Canceled, EnhanceItError, JobTimeout, WorkerLost
from enhanceit.imaging.formats import DEFAULT_OUTPUT, FORMATS, extension, media_type
from enhanceit.jobs.lease import LeaseKeeper, deadline_of, lease_end, new_owner
from enhanceit.jobs.model import Job, JobError, JobResult, JobStatus, now
from enhanceit.jobs.results import ResultCache, result_key, reuse_fields, sha256_file
from enhanceit.jobs.retry import Backoff, retrying
from enhanceit.jobs.scratch import JOB_PREFIX, owned
from enhanceit.jobs.store.base import JobStore, claimable
from enhanceit.pipeline.clock import Clock
from enhanceit.pipeline.fetch import fetch_image
from enhanceit.pipeline.prepared import decide, prepare
from enhanceit.pipeline.process import enhance
from enhanceit.storage.base import Storage

logger = logging.getLogger(__name__)


class LeaseLost(EnhanceItError):
    """The run no longer holds the job (re-queued after its lease lapsed, or ended elsewhere): stop quietly."""

    slug = "lease-lost"
    title = "Another run holds the job"


def past_deadline(settings: JobSettings) -> JobTimeout:
    return JobTimeout(f"the job did not finish within its deadline of {settings.deadline_seconds:g} s")


def _monotonic_in(seconds: float) -> float:
    return time.monotonic() + seconds


def _monotonic_until(when: datetime) -> float:
    return time.monotonic() + (when - now()).total_seconds()


def _pause(seconds: float, check: Callable[[], None]) -> None:
    """Sleep between retries, still stopping at once on cancel, a lost lease or the deadline."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        check()
        time.sleep(min(0.2, left))


class Observer:
    """What the runner reports besides the job record (metrics, waiting requests); by default nothing."""

    def phase(self, name: str, seconds: float) -> None:
        pass

    def megapixels(self, value: float) -> None:
        pass

    def finished(self, job: Job) -> None:
        pass


class Observers(Observer):
    """Several observers as one."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def phase(self, name: str, seconds: float) -> None:
        for o in self.observers:
            o.phase(name, seconds)

    def megapixels(self, value: float) -> None:
        for o in self.observers:
            o.megapixels(value)

    def finished(self, job: Job) -> None:
        for o in self.observers:
            o.finished(job)


def download_name(job: Job) -> str:
    """A friendly file name for the result: the input's name, the model and the format."""
    raw = job.source.filename or (PurePosixPath(urlsplit(job.source.url).path).name if job.source.url else "")
    stem = PurePosixPath(raw).stem or "image"
    fmt = job.result.format if job.result is not None else job.options.format or DEFAULT_OUTPUT
    return f"{stem[:80]}-{job.options.model}{FORMATS[fmt].extension}"


@dataclass
class _Progress:
    """Writes progress to the store at most every ``interval`` seconds (per tile would be a write storm)."""

    store: JobStore
    job_id: str
    interval: float = 0.5
    last: float = 0.0

    def __call__(self, done: int, total: int) -> None:
        t = time.monotonic()
        if done < total and t - self.last < self.interval:
            return
        self.last = t
        try:
            self.store.update(self.job_id, progress=min(0.99, done / max(1, total)))
        except EnhanceItError as e:  # progress is informative: a store that is away must not stop the job
            if not e.retryable:
                raise
            logger.warning("could not record progress: %s", e.detail)


class JobRunner:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        storage: Storage,
        store: JobStore,
        notify: Callable[[Job], None] | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.storage = storage
        self.store = store
        self.notify = notify
        self.observer = observer or Observer()
        self.results = ResultCache(storage, settings.tmp_dir)

    def run(self, job_id: str) -> Job | None:
        """Run a queued job to its end; returns the final record (None when there is no such job)."""
        token = logs.job_id.set(job_id)
        try:
            return self._run_logged(job_id)
        finally:
            logs.job_id.reset(token)

    def _run_logged(self, job_id: str) -> Job | None:
        jobs = self.settings.jobs
        backoff = Backoff.of(jobs)
        # Reading and claiming wait for a store that is away (the queue's message is held meanwhile).
        found = retrying(
            lambda: self.store.get(job_id), until=_monotonic_in(jobs.deadline_seconds), backoff=backoff, what="read"
        )
        if found is None:  # forgotten, or lost with a Redis that had no persistence
            logger.warning("no record of the job: nothing to run")
            return None
        if found.status.finished:  # delivered again after it ended: nothing to do
            return found
        until = _monotonic_until(deadline_of(found, jobs))
        if until <= time.monotonic():
            return self._finish(found, JobStatus.FAILED, {"error": JobError.of(past_deadline(jobs))}, until)
        owner = new_owner()
        job = retrying(
            lambda: self.store.claim(job_id, owner, lease_end(jobs), jobs.max_claims),
            until=until,
            backoff=backoff,
            what="claim",
        )
        if job.attempts >= jobs.max_claims and claimable(job, now()):
            # Every earlier claim ended with its worker: a poison job. The store refused the claim, queued or
            # on a lapsed lease alike (a message redelivered before the reaper re-queued the job).
            lost = WorkerLost(f"the job stopped its worker {job.attempts} times")
            logger.warning("failing the job: %s", lost.detail)
            return self._finish(job, JobStatus.FAILED, {"error": JobError.of(lost)}, until)
        if job.status != JobStatus.RUNNING or job.lease_owner != owner:  # canceled, finished, or held elsewhere
            return job
        with LeaseKeeper(self.store, job_id, owner, jobs) as lease:
            # Between tries, and while a computed result waits for the store: cancel, lease and deadline only.
            waiting = self._checker(job_id, until, lease, time_limit=False)
            faults: list[EnhanceItError] = []

            def attempt() -> tuple[JobStatus, dict[str, Any]]:
                check = self._checker(job_id, until, lease)  # the time limit counts from each try's start
                try:
                    return self._run(job, check, until, waiting)
                except EnhanceItError as e:
                    if e.retryable:
                        faults.append(e)
                    raise

            try:
                status, fields = retrying(
                    attempt, until=until, backoff=backoff, what="job", pause=lambda seconds: _pause(seconds, waiting)
                )
            except LeaseLost:
                return None
            except Canceled:
                status, fields = JobStatus.CANCELED, {}
            except EnhanceItError as e:
                if isinstance(e, JobTimeout) and faults:  # the deadline ended a wait: the fault is the reason
                    e = faults[-1]
                logger.warning("job failed: %s", e.slug)
                status, fields = JobStatus.FAILED, {"error": JobError.of(e)}
            except Exception:
                logger.exception("job crashed")
                status = JobStatus.FAILED
                fields = {"error": JobError(type="internal-error", message="internal error", status=500)}
        return self._finish(job, status, fields, until)

    def give_up(self, job_id: str, error: BaseException) -> Job | None:
        """The queue's last attempt at the job raised ``error``: end it as failed with that reason, unless it
        finished. One try: a store still away leaves the job to the reaper, which fails it at its deadline."""
        token = logs.job_id.set(job_id)
        try:
            job = self.store.get(job_id)
            if job is None or job.status.finished:
                return job
            jobs = self.settings.jobs
            if isinstance(error, EnhanceItError):
                reason = JobError.of(error)
            elif now() > deadline_of(job, jobs):  # e.g. Dramatiq's time limit, the deadline's backstop
                reason = JobError.of(past_deadline(jobs))
            else:
                reason = JobError(type="internal-error", message="internal error", status=500)
            return self._finish(job, JobStatus.FAILED, {"error": reason}, until=time.monotonic())
        except EnhanceItError as e:
            logger.warning("could not record the job's failure: %s", e.detail)
            return None
        finally:
            logs.job_id.reset(token)

    def _finish(self, job: Job, status: JobStatus, fields: dict[str, Any], until: float) -> Job:
        """Record the end, waiting for a store that is away until the job's deadline (the work is done and
        its result stored: losing the record would lose it); then tell the observers and the webhook."""
        job = retrying(
            lambda: self.store.transition(job.id, status, **fields),
            until=until,
            backoff=Backoff.of(self.settings.jobs),
            what="recording the job's end",
        )
        if job.status.finished and job.source.upload_key:
            self._forget_upload(job.source.upload_key)
        self.observer.finished(job)
        if self.notify is not None and job.webhook_url:
            self.notify(job)
        return job

    def _forget_upload(self, key: str) -> None:
        try:
            self.storage.delete(key)
        except EnhanceItError as e:  # it expires anyway
            logger.warning("could not delete an upload: %s", e.detail)

    def _checker(self, job_id: str, until: float, lease: LeaseKeeper, time_limit: bool = True) -> Callable[[], None]:
        """Between steps and tiles: stop on cancel, on a lost lease, past the time limit (from now, when
        ``time_limit``) or past the job's deadline."""
        jobs = self.settings.jobs
        limit = min(until, time.monotonic() + jobs.timeout_seconds) if time_limit else until
        last = [0.0]

        def check() -> None:
            t = time.monotonic()
            if lease.lost.is_set():
                raise LeaseLost("another run holds the job now")
            if t > limit:
                if limit == until:
                    raise past_deadline(jobs)
                raise JobTimeout(f"the job ran longer than {jobs.timeout_seconds:g} s")
            if t - last[0] < 0.2:
                return
            last[0] = t
            try:
                job = self.store.get(job_id)
            except EnhanceItError as e:
                if not e.retryable:
                    raise
                return  # the store is away: go on; a cancel is seen once it is back
            if job is None or job.cancel_requested:
                raise Canceled("canceled on request")

        return check

    def _run(
        self, job: Job, check: Callable[[], None], until: float, waiting: Callable[[], None]
    ) -> tuple[JobStatus, dict[str, Any]]:
        """One try: the status and fields to record. Transient faults propagate, for :func:`retrying`."""
        timings: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix=owned(JOB_PREFIX), dir=self.settings.tmp_dir) as scratch:
            work = Path(scratch)
            source = work / "input"
            started = time.perf_counter()
            self._get_input(job, source, check)
            timings["download"] = round(time.perf_counter() - started, 4)
            self.observer.phase("download", timings["download"])
            clock = Clock()
            with clock.phase("probe"):  # the header read at submit, or here once
                prepared = (
                    decide(job.input, job.options, self.engine, self.settings.limits)
                    if job.input is not None
                    else prepare(source, job.options, self.engine, self.settings.limits)
                )
            key = result_key(sha256_file(source), prepared)
            reused = self.results.find(key, prepared.format)
            if reused is not None:
                return JobStatus.SUCCEEDED, {**reuse_fields(reused, source, prepared), "timings": timings}
            out = work / f"result{extension(prepared.format)}"
            outcome = enhance(
                source,
                out,
                prepared,
                self.engine,
                tmp_dir=work,
                progress=_Progress(self.store, job.id),
                check=check,
                clock=clock,
            )
            timings["decode"] = round(outcome.timings.get("probe", 0.0) + outcome.timings.get("decode", 0.0), 4)
            timings["inference"] = outcome.timings.get("inference", 0.0)
            timings["encode"] = outcome.timings.get("encode", 0.0)
            for phase in ("decode", "inference", "encode"):
                self.observer.phase(phase, timings[phase])
            self.observer.megapixels(outcome.input.pixels / 1e6)
            check()
            enc = outcome.encoded
            started = time.perf_counter()
            expires_at = now() + timedelta(seconds=self.settings.retention_seconds)
            stored = retrying(  # the result is computed: wait for the store rather than compute it again
                lambda: self.storage.put_file(key, out, media_type(enc.format), expires_at),
                until=until,
                backoff=Backoff.of(self.settings.jobs),
                what="storing the result",
                pause=lambda seconds: _pause(seconds, waiting),
            )
            timings["upload"] = round(time.perf_counter() - started, 4)
            self.observer.phase("upload", timings["upload"])
            result = JobResult(
                key=key,
                expires_at=stored.expires_at,
                width=enc.width,
                height=enc.height,
                format=enc.format,
                bytes=enc.bytes,
                model=outcome.model.id,
                noise=outcome.noise,
                frames=outcome.frames,
                animated=outcome.animated,
            )
            return JobStatus.SUCCEEDED, {
                "result": result,
                "progress": 1.0,
                "timings": timings,
                "warnings": outcome.warnings,
            }

    def _get_input(self, job: Job, dest: Path, check: Callable[[], None]) -> None:
        if job.source.url is not None:
            fetch_image(job.source.url, dest, self.settings.fetch, self.settings.limits.max_upload_bytes, check=check)
            return
        if job.source.upload_key is None:
            raise EnhanceItError("the job has no input")
        with self.storage.open(job.source.upload_key) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
