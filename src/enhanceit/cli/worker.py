"""``enhanceit worker``: queue workers for the distributed mode (see :mod:`enhanceit.jobs.worker`)."""

from __future__ import annotations

import argparse
from typing import Any

from enhanceit.cli.common import UsageError, settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("worker", help="run queue workers (needs ENHANCEIT_QUEUE_URL)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from enhanceit import bootstrap, logs

    config = settings()
    if config.queue.url is None:
        raise UsageError("'enhanceit worker' needs ENHANCEIT_QUEUE_URL (redis://…)")
    logs.configure(config.log_format, config.log_level)
    return bootstrap.run_worker(config)
