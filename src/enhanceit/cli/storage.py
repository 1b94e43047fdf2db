"""``enhanceit storage init``: the results bucket or folder, and the rule that deletes old results."""

from __future__ import annotations

import argparse
from typing import Any

from enhanceit.cli.common import EXIT_OK, settings


def add_parser(sub: Any) -> None:
    actions = sub.add_parser("storage", help="result storage").add_subparsers(
        dest="storage_command", required=True, metavar="ACTION"
    )
    actions.add_parser("init", help="create the bucket or folder and the rule that deletes old results").set_defaults(
        run=run
    )


def run(args: argparse.Namespace) -> int:
    from enhanceit.storage import make_storage

    print(make_storage(settings()).init())
    return EXIT_OK
