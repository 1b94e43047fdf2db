"""Retry-After, one rule: a full queue's from its depth and workers, a rate limit's from its refill, both clamped."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from enhanceit.config import Settings
from enhanceit.errors import MAX_RETRY_AFTER, MIN_RETRY_AFTER, Busy, clamp_retry_after
from enhanceit.jobs.queue.base import SECONDS_PER_JOB, retry_after
from enhanceit.jobs.queue.inprocess import InProcessQueue
from enhanceit.security.apikeys import TokenBucket


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(-3, 1), (0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (59.5, 60), (60, 60), (600, 60), (1e9, 60)],
)
def test_the_clamp_rounds_up_within_the_bounds(seconds: float, header: int) -> None:
    assert clamp_retry_after(seconds) == header


@pytest.mark.parametrize(
    ("waiting", "workers", "seconds"),
    [
        (0, 1, 2),  # one job ahead (the one running): one job's time
        (4, 1, 10),
        (4, 2, 5),
        (2, 4, 2),  # 1.5 s, rounded up
        (0, 4, 1),  # a place frees within half a second: the floor
        (0, 0, 2),  # no worker count: taken as one
        (29, 1, 60),
        (10_000, 1, 60),  # the cap
    ],
)
def test_a_full_queue_s_wait_grows_with_its_depth_and_shrinks_with_its_workers(
    waiting: int, workers: int, seconds: int
) -> None:
    assert retry_after(waiting, workers) == seconds
    assert retry_after(waiting, workers, SECONDS_PER_JOB) == seconds
    assert retry_after(waiting, workers, seconds_per_job=0) == MIN_RETRY_AFTER


def test_busy_carries_the_clamped_value_in_its_header() -> None:
    assert Busy("full", retry_after=0.3).headers == {"Retry-After": "1"}
    assert Busy("full", retry_after=600).retry_after == 60
    assert Busy("full").headers == {"Retry-After": "5"}


def test_the_embedded_queue_answers_a_full_line_with_the_rule() -> None:
    release = threading.Event()
    queue = InProcessQueue(lambda job_id: release.wait(5), workers=1, max_queue=1)
    with pytest.raises(Busy) as stopped:
        queue.submit("job_0")  # not started: shutting down, or not up yet
    assert stopped.value.retry_after == retry_after(0, 1)
    queue.start()
    try:
        queue.submit("job_1")
        deadline = time.monotonic() + 5
        while queue.running() < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        queue.submit("job_2")  # waits
        with pytest.raises(Busy) as full:
            queue.submit("job_3")
        assert full.value.retry_after == queue.retry_after() == retry_after(1, 1) == 4
    finally:
        release.set()
        queue.stop()


def test_the_distributed_queue_counts_one_worker_s_processes_and_threads() -> None:
    from enhanceit.jobs.queue.dramatiq import DramatiqQueue

    settings = Settings(queue={"url": "redis://unused", "max_depth": 3, "worker_processes": 2, "worker_threads": 2})
    broker = SimpleNamespace(client=SimpleNamespace(llen=lambda name: 3))
    queue = DramatiqQueue(settings, broker=cast(Any, broker), actor=cast(Any, object()))
    assert queue.workers() == 4
    with pytest.raises(Busy) as full:
        queue.submit("job_1")
    assert full.value.retry_after == retry_after(3, 4) == 2


def test_a_rate_limit_waits_for_its_bucket_to_refill_through_the_same_clamp() -> None:
    per_second = TokenBucket(per_minute=600)  # a token every 0.1 s: less than the floor
    for _ in range(600):
        per_second.take("k")
    with pytest.raises(Busy) as soon:
        per_second.take("k")
    assert soon.value.retry_after == MIN_RETRY_AFTER
    per_minute = TokenBucket(per_minute=1)  # a token a minute: the cap
    per_minute.take("k")
    with pytest.raises(Busy) as later:
        per_minute.take("k")
    assert later.value.retry_after == MAX_RETRY_AFTER
