"""Logging: one JSON object per line with the request and job ids, never a secret or a signed URL.

Ids travel in context variables, so every line logged while a request or a job is handled carries them
without being passed around. Messages are written by our code, which never puts URLs with queries,
keys or tokens into them; third-party loggers that could (httpcore's debug output prints headers) are
kept at WARNING.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

#: Libraries whose INFO lines are noise. (pyvips is quieter still, set where it is set up: imaging/vips.py.)
QUIET = ("httpcore", "httpx", "botocore", "boto3", "urllib3", "s3transfer", "google", "uvicorn.access")


def stamp_records() -> None:
    """From now on every record carries the ids current where it was made, whatever handler formats it
    later (ours, or a test's). Called by whatever builds the service or a worker; idempotent."""
    base = logging.getLogRecordFactory()
    if getattr(base, "_enhanceit", False):
        return

    def stamped(*args: object, **kwargs: object) -> logging.LogRecord:
        record = base(*args, **kwargs)
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        if not hasattr(record, "job_id"):
            record.job_id = job_id.get()
        return record

    stamped._enhanceit = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(stamped)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "job_id"):
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(fmt: str = "json", level: str = "INFO") -> None:
    stamp_records()
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
