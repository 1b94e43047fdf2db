"""``enhanceit models list|install``."""

from __future__ import annotations

import argparse
import sys

from enhanceit.cli import EXIT_FAILED, EXIT_OK, UsageError, print_json
from enhanceit.config import load_settings
from enhanceit.errors import EnhanceItError
from enhanceit.models import all_models, get_model
from enhanceit.models.catalog import describe
from enhanceit.models.install import install


def run_models(args: argparse.Namespace) -> int:
    settings = load_settings()
    models_dir = settings.resolved_models_dir
    if args.models_command == "list":
        rows = [describe(spec, models_dir) for spec in all_models()]
        if args.json:
            print_json(rows)
            return EXIT_OK
        print(f"{'ID':<24} {'TASKS':<24} {'SCALES':<8} {'NOISE':<12} {'LICENCE':<8} READY")
        for row in rows:
            scales = ",".join(f"{s}x" for s in row["scales"])
            noise = ",".join(str(n) for n in row["noise_levels"])
            ready = "yes" if row["available"] else "no (enhanceit models install)"
            tasks = "/".join(row["tasks"])
            print(f"{row['id']:<24} {tasks:<24} {scales:<8} {noise:<12} {row['licence']:<8} {ready}")
            print(f"  {row['summary']}")
        return EXIT_OK
    if args.all and args.ids:
        raise UsageError("give model ids or --all, not both")
    specs = all_models() if args.all or not args.ids else [get_model(i) for i in args.ids]
    try:
        lines = install(specs, models_dir)
    except EnhanceItError as e:
        print(f"enhanceit: models install: {e}", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(lines))
    return EXIT_OK
