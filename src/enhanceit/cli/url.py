"""``enhanceit url sign SOURCE [options]``: the path of a signed processing URL, for ``<img src>``.

It prints ``/v1/u/{signature}/{options}/{source}`` (see :mod:`enhanceit.signedurls`), signed with the first
of ``ENHANCEIT_URLS_KEY``; put the service's address in front. The options are checked here as the server
will check them (the same presets, presets only), so that a URL that would be refused is not made.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from enhanceit.cli.common import EXIT_OK, UsageError, presets, settings
from enhanceit.cli.flags import add_image_options, given, usage_error
from enhanceit.errors import ForbiddenURL

if TYPE_CHECKING:
    from enhanceit.config import Settings


def add_parser(sub: Any) -> None:
    actions = sub.add_parser("url", help="signed processing URLs").add_subparsers(
        dest="url_command", required=True, metavar="ACTION"
    )
    p = actions.add_parser(
        "sign",
        help="print the signed path of an image URL and options",
        description="Print /v1/u/{signature}/{options}/{source}, signed with the first ENHANCEIT_URLS_KEY.",
    )
    p.add_argument("source", metavar="SOURCE", help="the image's http(s) URL")
    p.add_argument("--preset", action="append", help="a preset's name (again for more, applied in order)")
    add_image_options(p, format_help="output format (default png; an animation keeps its own)")
    p.set_defaults(run=run)


def sign(config: Settings, source: str, fields: Mapping[str, Any], preset_names: Sequence[str] = ()) -> str:
    """The signed path of ``source`` with ``fields`` (options by long name; None: not given) and presets,
    under ``config``'s first URL key. :class:`UsageError` for what the server would refuse."""
    from pydantic import ValidationError

    from enhanceit import signedurls
    from enhanceit.security.urlsigning import UrlKeys

    keys = UrlKeys.from_settings(config.urls)
    if not keys.can_sign:
        raise UsageError("no URL key to sign with: set ENHANCEIT_URLS_KEY")
    if not source.lower().startswith(("http://", "https://")):
        raise UsageError(f"{source}: the source is an http(s) URL")
    given = {name: value for name, value in fields.items() if value is not None}
    option_pairs = signedurls.pairs(given, preset_names)
    # read back as the server reads it: what it would refuse is refused here
    parsed = signedurls.parse("/".join([*option_pairs, signedurls.encode_source(source)]))
    try:
        signedurls.options(parsed, presets(config), config.presets.only)
    except ValidationError as e:
        raise usage_error(e) from None
    except ForbiddenURL as e:
        raise UsageError(str(e)) from None
    return signedurls.signed_path(keys, source, option_pairs)


def run(args: argparse.Namespace) -> int:
    print(sign(settings(), args.source, given(args), args.preset or ()))
    return EXIT_OK
