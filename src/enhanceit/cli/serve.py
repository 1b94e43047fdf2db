"""``enhanceit serve``: the HTTP service and its web page."""

from __future__ import annotations

import argparse
from typing import Any

from enhanceit.cli.common import EXIT_OK, settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the HTTP service")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from enhanceit import logs
    from enhanceit.api.app import create_app
    from enhanceit.api.serving import serve

    config = settings()
    logs.configure(config.log_format, config.log_level)
    serve(create_app(config), args.host, args.port)
    return EXIT_OK
