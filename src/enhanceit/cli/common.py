"""What every command shares: exit codes, the usage error, settings (and presets) read with a one-line error,
JSON output.

The command modules import what their work needs inside ``run``, not at the top: building the parser
imports every command module, and ``enhanceit --help`` or ``enhanceit serve`` should not pay for the
engine, libvips or the settings machinery of another command.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from enhanceit.errors import OutputError, field_errors

if TYPE_CHECKING:
    from enhanceit.config import Settings
    from enhanceit.presets import Presets

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad usage: one line on stderr, exit 2."""


def settings() -> Settings:
    """The settings (environment, then ``ENHANCEIT_CONFIG``), or a usage error naming the bad one."""
    from pydantic import ValidationError

    from enhanceit.config import load_settings

    try:
        config = load_settings()
    except ValidationError as e:
        where, message = field_errors(e.errors())[0]
        raise UsageError(f"invalid configuration: {where}: {message}") from None
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    presets(config)  # every command refuses a bad preset, as the service does at start
    return config


def presets(config: Settings) -> Presets:
    """The presets of the settings, each checked, or a usage error naming the bad one."""
    from enhanceit.presets import PresetError, load_presets

    try:
        return load_presets(config.presets)
    except PresetError as e:
        raise UsageError(f"invalid configuration: {e}") from None


def print_json(value: object) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def check_writable_dir(folder: Path) -> None:
    if not folder.is_dir():
        raise OutputError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: output folder is not writable")
