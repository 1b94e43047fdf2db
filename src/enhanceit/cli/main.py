"""Parse the command line and run one command, turning its errors into one line and an exit code.

Each command is a module here with ``add_parser(subparsers)``, which declares its options and sets
``run``, the function that does it. To add a command, write such a module and list it in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from enhanceit import __version__
from enhanceit.allocator import configure_process
from enhanceit.cli import config, models, serve, storage, upscale, url, worker
from enhanceit.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from enhanceit.errors import EnhanceItError, InvalidRequest

COMMANDS = (upscale, models, serve, worker, config, storage, url)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="enhanceit", description="Denoise and upscale images with waifu2x-family networks."
    )
    p.add_argument("--version", action="version", version=f"enhanceit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    configure_process()  # first: before any command loads ncnn
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except KeyboardInterrupt:
        print("enhanceit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, InvalidRequest) as e:
        print(f"enhanceit: {e}", file=sys.stderr)
        return EXIT_USAGE
    except EnhanceItError as e:
        print(f"enhanceit: {e}", file=sys.stderr)
        return EXIT_FAILED
