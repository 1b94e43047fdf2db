"""Prometheus metrics of one app instance (its own registry, so tests can build many apps).

Memory: ``process_resident_memory_bytes`` (and the rest of Prometheus' process collector),
``enhanceit_process_peak_rss_bytes`` (the high-water mark, what a container's memory limit meets) and
``enhanceit_engine_networks_loaded`` and ``enhanceit_engine_networks_bytes`` (what they took when loaded, which
the engine counts against its memory budget).

The queue figures come from the queue itself (Redis in the distributed mode). When it cannot answer, the
page still renders — monitoring must not go blind exactly when Redis is down — with those figures as NaN and
``enhanceit_queue_available`` 0.
"""

from __future__ import annotations

import logging
import math
import resource
import sys
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from enhanceit.jobs.model import Job
from enhanceit.jobs.runner import Observer

logger = logging.getLogger(__name__)
PHASE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)


class Metrics(Observer):
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "enhanceit_http_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "enhanceit_http_request_seconds",
            "HTTP request duration",
            ["route"],
            buckets=PHASE_BUCKETS,
            registry=self.registry,
        )
        self.phase_seconds = Histogram(
            "enhanceit_job_phase_seconds",
            "Time per job phase",
            ["phase"],
            buckets=PHASE_BUCKETS,
            registry=self.registry,
        )
        self.jobs_finished = Counter("enhanceit_jobs_finished", "Jobs finished", ["status"], registry=self.registry)
        self.jobs_worker_lost = Counter(
            "enhanceit_jobs_worker_lost",
            "Jobs failed because each of their runs stopped its worker (jobs.max_claims)",
            registry=self.registry,
        )
        self.megapixels_total = Counter(
            "enhanceit_megapixels_processed", "Input megapixels enhanced", registry=self.registry
        )
        self.queued = Gauge("enhanceit_jobs_queued", "Jobs waiting", registry=self.registry)
        self.running = Gauge("enhanceit_jobs_running", "Jobs running", registry=self.registry)
        self.queue_available = Gauge(
            "enhanceit_queue_available", "1 when the queue answered for this page, 0 when not", registry=self.registry
        )
        ProcessCollector(registry=self.registry)
        Gauge(
            "enhanceit_process_peak_rss_bytes", "Highest resident memory of this process so far", registry=self.registry
        ).set_function(peak_rss_bytes)
        self.networks_loaded = Gauge(
            "enhanceit_engine_networks_loaded", "Networks the engine holds in memory", registry=self.registry
        )
        self.networks_bytes = Gauge(
            "enhanceit_engine_networks_bytes",
            "Resident memory the loaded networks took when loaded (counted against the memory budget)",
            registry=self.registry,
        )

    def watch_engine(self, loaded: Callable[[], int], loaded_mb: Callable[[], float]) -> None:
        self.networks_loaded.set_function(lambda: float(loaded()))
        self.networks_bytes.set_function(lambda: loaded_mb() * 2**20)

    def watch_queue(self, depth: Callable[[], int], running: Callable[[], int]) -> None:
        self.queued.set_function(lambda: _or_nan(depth))
        self.running.set_function(lambda: _or_nan(running))
        self.queue_available.set_function(lambda: 0.0 if math.isnan(_or_nan(depth)) else 1.0)

    def phase(self, name: str, seconds: float) -> None:
        self.phase_seconds.labels(name).observe(seconds)

    def megapixels(self, value: float) -> None:
        self.megapixels_total.inc(value)

    def finished(self, job: Job) -> None:
        self.jobs_finished.labels(job.status.value).inc()
        if job.error is not None and job.error.type == "worker-lost":
            self.jobs_worker_lost.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _or_nan(read: Callable[[], int]) -> float:
    """A figure, or NaN ("unknown" to Prometheus) when its source fails."""
    try:
        return float(read())
    except Exception as e:  # the queue's errors are ours (StorageUnavailable), but no figure may break the page
        logger.debug("a metric could not be read: %s", e)
        return math.nan


def peak_rss_bytes() -> float:
    """The process's peak resident set size (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak if sys.platform == "darwin" else peak * 1024)
