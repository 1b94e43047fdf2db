"""``enhanceit config show``: the effective configuration, every secret masked."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from enhanceit.cli.common import EXIT_OK, settings

if TYPE_CHECKING:
    from enhanceit.config import Settings


def add_parser(sub: Any) -> None:
    actions = sub.add_parser("config", help="configuration").add_subparsers(
        dest="config_command", required=True, metavar="ACTION"
    )
    show = actions.add_parser("show", help="the effective configuration, secrets masked")
    show.add_argument("--json", action="store_true", help="JSON instead of YAML")
    show.set_defaults(run=run)


def masked(config: Settings) -> dict[str, Any]:
    """The settings as plain data, every secret replaced by asterisks."""
    from pydantic import SecretStr

    def walk(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "********"
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    data = walk(config.model_dump())
    return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    import yaml

    from enhanceit.engine.choice import cpu, resolve

    config = settings()
    data = masked(config)
    e = config.engine
    # not a setting: what ``backend`` and ``precision`` come to on this machine
    data["engine_on_this_machine"] = {
        "runs_on": resolve(e.backend, e.precision, e.gpu).describe(),
        "cpu": cpu().describe(),
    }
    print(json.dumps(data, indent=2) if args.json else yaml.safe_dump(data, sort_keys=False).rstrip())
    return EXIT_OK
