"""``enhanceit models list|install``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from enhanceit.cli.common import EXIT_FAILED, EXIT_OK, UsageError, print_json, settings
from enhanceit.errors import EnhanceItError


def add_parser(sub: Any) -> None:
    actions = sub.add_parser("models", help="list or install models").add_subparsers(
        dest="models_command", required=True, metavar="ACTION"
    )
    ls = actions.add_parser("list", help="every model with its noise levels, scales and licence")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(run=run)
    inst = actions.add_parser("install", help="fetch, verify and convert model weights")
    inst.add_argument("ids", nargs="*", metavar="ID")
    inst.add_argument("--all", action="store_true", help="every model")
    inst.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from enhanceit.engine.choice import cpu
    from enhanceit.engine.choose import catalog
    from enhanceit.engine.runtime import engine_from
    from enhanceit.models import all_models, get_model
    from enhanceit.models.install import install

    config = settings()
    models_dir = config.resolved_models_dir
    if args.models_command == "list":
        engine = engine_from(config)
        rows = catalog(engine.registry, models_dir, engine)
        if args.json:
            print_json(rows)
            return EXIT_OK
        print(f"Nets run on {engine.resolved.describe()}; CPU: {cpu().describe()}\n")
        for row in (r for r in rows if r.get("alias")):
            at = ", ".join(f"{s}x {m or '-'}" for s, m in row["resolves_to"]["scale"].items())
            print(f"{row['id']:<24} alias: {at}")
            print(f"  {row['summary']}")
        print(f"\n{'ID':<24} {'TASKS':<24} {'SCALES':<8} {'NOISE':<12} {'LICENCE':<16} READY")
        for row in (r for r in rows if not r.get("alias")):
            scales = ",".join(f"{s}x" for s in row["scales"])
            noise = ",".join(str(n) for n in row["noise_levels"])
            ready = "yes" if row["available"] else "no (enhanceit models install)"
            if not row["enabled"]:
                ready = "off: licence (ENHANCEIT_MODELS_ENABLE)"
            tasks = "/".join(row["tasks"])
            licence = row["licence"].split(" ", 1)[0]
            print(f"{row['id']:<24} {tasks:<24} {scales:<8} {noise:<12} {licence:<16} {ready}")
            print(f"  {row['summary']}")
            if row["restricted"]:
                print(f"  off unless enabled: {row['restricted']}")
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
