"""``enhanceit serve | worker | config show | storage init``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from enhanceit.cli import EXIT_OK, UsageError
from enhanceit.config import Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise UsageError(f"invalid configuration: {where}: {first['msg']}") from None
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, every secret replaced by asterisks."""

    def walk(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "********"
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    data = walk(settings.model_dump())
    return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    from enhanceit import logs

    settings = _settings()
    if args.command == "config":
        data = masked(settings)
        print(json.dumps(data, indent=2) if args.json else yaml.safe_dump(data, sort_keys=False).rstrip())
        return EXIT_OK
    if args.command == "storage":
        from enhanceit.storage import make_storage

        print(make_storage(settings).init())
        return EXIT_OK
    logs.configure(settings.log_format, settings.log_level)
    if args.command == "serve":
        from enhanceit.api.app import create_app
        from enhanceit.api.serving import serve

        serve(create_app(settings), args.host, args.port)
        return EXIT_OK
    if args.command == "worker":
        from enhanceit.jobs.worker import run_worker

        return run_worker(settings)
    print(f"enhanceit: unknown command {args.command}", file=sys.stderr)
    return 2
