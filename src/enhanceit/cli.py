"""The ``enhanceit`` command.

Exit codes: 0 success; 1 an image failed (unreadable, unsupported, too large, not writable); 2 bad usage
(unknown model, impossible noise/scale, conflicting options); 130 interrupted. Every failure is one line on
stderr, ``enhanceit: <what>: <why>``; no partial output file is ever left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from enhanceit import __version__
from enhanceit.errors import EnhanceItError, InvalidRequest, OutputError
from enhanceit.imaging.formats import OUTPUT_NAMES
from enhanceit.memory import tune_allocator

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="enhanceit", description="Denoise and upscale images with waifu2x-family networks."
    )
    p.add_argument("--version", action="version", version=f"enhanceit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "upscale", help="enhance image files", description="Enhance one file to a file, or many to a folder."
    )
    up.add_argument("inputs", nargs="+", metavar="INPUT", type=Path, help="image files or folders")
    up.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="OUT",
        help="output file, or folder for several inputs",
    )
    up.add_argument(
        "--model",
        default=None,
        help="model id, or 'photo' / 'art' (see 'enhanceit models list'; default waifu2x-cunet)",
    )
    up.add_argument(
        "--noise",
        type=int,
        default=-1,
        choices=range(-1, 4),
        metavar="-1..3",
        help="noise reduction level, -1 = none",
    )
    size = up.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, help="scale factor (default 2)")
    size.add_argument("--width", type=int, help="output width (height keeps the aspect ratio)")
    size.add_argument("--height", type=int, help="output height (width keeps the aspect ratio)")
    up.add_argument("--tta", type=int, default=0, choices=(0, 2, 4, 8), help="test-time augmentation level")
    up.add_argument(
        "--format",
        choices=tuple(OUTPUT_NAMES),
        help="output format (default: from OUT's extension, else png; an animation keeps its own, APNG becomes webp)",
    )
    up.add_argument(
        "--frames",
        choices=("all", "first"),
        default="all",
        help="an animated GIF, WebP or PNG: enhance every frame (default), or only the first, as a still image",
    )
    up.add_argument("--quality", type=int, help="lossy quality 1-100 (JPEG, AVIF; WebP is lossless without it)")
    up.add_argument("--tile", type=int, help="tile side in pixels (default: the model's; smaller uses less memory)")
    up.add_argument("--threads", type=int, help="inference threads (default: all cores)")
    up.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders of folder inputs")
    up.add_argument("--quiet", action="store_true", help="no progress bar")
    up.add_argument(
        "--strict", action="store_true", help="refuse damaged images (data that ends early) instead of filling them"
    )

    models = sub.add_parser("models", help="list or install models").add_subparsers(
        dest="models_command", required=True, metavar="ACTION"
    )
    ls = models.add_parser("list", help="every model with its noise levels, scales and licence")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    inst = models.add_parser("install", help="fetch, verify and convert model weights")
    inst.add_argument("ids", nargs="*", metavar="ID")
    inst.add_argument("--all", action="store_true", help="every model")

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")

    sub.add_parser("worker", help="run queue workers (needs ENHANCEIT_QUEUE_URL)")

    config = sub.add_parser("config", help="configuration").add_subparsers(
        dest="config_command", required=True, metavar="ACTION"
    )
    show = config.add_parser("show", help="the effective configuration, secrets masked")
    show.add_argument("--json", action="store_true", help="JSON instead of YAML")

    storage = sub.add_parser("storage", help="result storage").add_subparsers(
        dest="storage_command", required=True, metavar="ACTION"
    )
    storage.add_parser("init", help="create the bucket or folder and the rule that deletes old results")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tune_allocator()
    try:
        if args.command == "upscale":
            from enhanceit.cli_upscale import run_upscale

            return run_upscale(args)
        if args.command == "models":
            from enhanceit.cli_models import run_models

            return run_models(args)
        from enhanceit import cli_service

        return cli_service.run(args)
    except KeyboardInterrupt:
        print("enhanceit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as e:
        print(f"enhanceit: {e}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidRequest as e:
        print(f"enhanceit: {e}", file=sys.stderr)
        return EXIT_USAGE
    except EnhanceItError as e:
        print(f"enhanceit: {e}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE


def print_json(value: object) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def check_writable_dir(folder: Path) -> None:
    if not folder.is_dir():
        raise OutputError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: output folder is not writable")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
