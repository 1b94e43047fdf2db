"""``enhanceit models list|install|add|remove``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
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
    add = actions.add_parser(
        "add",
        help="add your own model: an ncnn .param and .bin, or one .onnx file; checked and probed first",
        description="Add a model from ncnn files (.param and .bin) or one ONNX file. Its files are read by "
        "EnhanceIt's own checked reader, run once in a limited process, then copied into the models folder "
        "with a manifest pinning their sha256. PyTorch files (.pth, .pt, .ckpt, .safetensors) are refused: "
        "export the model to ONNX first.",
    )
    add.add_argument("id", metavar="ID", help="the model's id in requests (a-z, 0-9, '.', '_', '-')")
    add.add_argument("files", nargs="+", type=Path, metavar="FILE", help="model.param model.bin, or model.onnx")
    add.add_argument("--scale", type=int, required=True, choices=(1, 2, 3, 4, 8), help="the net's scale")
    add.add_argument("--noise", type=int, default=-1, choices=(-1, 0, 1, 2, 3), help="its denoise level (-1: none)")
    add.add_argument("--licence", required=True, help="the weights' licence (SPDX id or words), shown with it")
    add.add_argument("--name", help="a title for listings (default: the id)")
    add.add_argument(
        "--restricted",
        metavar="WHY",
        help="listed but off until ENHANCEIT_MODELS_ENABLE names it (say why: 'non-commercial licence')",
    )
    add.add_argument("--bgr", action="store_true", help="the net takes and gives B, G, R")
    add.add_argument("--range", type=float, default=1.0, choices=(1.0, 255.0), help="white is 1 (default) or 255")
    add.add_argument("--input", help="the input blob, where the net has no single Input layer to tell")
    add.add_argument("--output", help="the output blob, where the net has no single unread blob to tell")
    add.set_defaults(run=run)
    rm = actions.add_parser("remove", help="take out a model added with 'models add'")
    rm.add_argument("id", metavar="ID")
    rm.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from enhanceit.engine.choice import cpu
    from enhanceit.engine.choose import catalog
    from enhanceit.engine.runtime import engine_from
    from enhanceit.models import all_models, get_model
    from enhanceit.models.install import install

    config = settings()
    models_dir = config.resolved_models_dir
    if args.models_command in ("add", "remove"):
        from enhanceit.cli.adding import add_model, remove_model

        try:
            line = add_model(args, models_dir) if args.models_command == "add" else remove_model(args.id, models_dir)
        except EnhanceItError as e:
            print(f"enhanceit: models {args.models_command}: {e}", file=sys.stderr)
            return EXIT_FAILED
        print(line)
        return EXIT_OK
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
            if row["origin"] == "added":
                ready += ", added"
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
