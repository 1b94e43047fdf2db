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
from enhanceit.errors import ForbiddenURL, field_errors

if TYPE_CHECKING:
    from enhanceit.config import Settings

#: The options ``url sign`` takes, by their long names: the URL grammar's (``signedurls.SHORT``).
OPTIONS = (
    "model",
    "scale",
    "width",
    "height",
    "noise",
    "format",
    "quality",
    "tta",
    "frames",
    "alpha",
    "metadata",
    "strict",
)


def add_parser(sub: Any) -> None:
    from enhanceit.cli.upscale import _noise
    from enhanceit.imaging.formats import OUTPUT_NAMES

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
    p.add_argument("--model", help="model id or alias ('photo', 'art')")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, help="scale factor (default 2)")
    size.add_argument("--width", type=int, help="output width (height keeps the aspect ratio)")
    size.add_argument("--height", type=int, help="output height (width keeps the aspect ratio)")
    p.add_argument("--noise", type=_noise, metavar="auto|-1..3", help="noise reduction level (default auto)")
    p.add_argument("--format", choices=tuple(OUTPUT_NAMES), help="output format (default png)")
    p.add_argument("--quality", type=int, help="lossy quality 1-100")
    p.add_argument("--tta", type=int, choices=(0, 2, 4, 8), help="test-time augmentation level")
    p.add_argument("--frames", choices=("all", "first"), help="an animation: every frame, or the first")
    p.add_argument("--alpha", choices=("lanczos", "network"), help="how an alpha channel is enlarged")
    p.add_argument("--metadata", choices=("keep", "all", "none"), help="the input's EXIF in the result")
    p.add_argument("--strict", action="store_true", default=None, help="refuse damaged images")
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
        where, message = field_errors(e.errors())[0]
        raise UsageError(f"--{where}: {message}" if where else message) from None
    except ForbiddenURL as e:
        raise UsageError(str(e)) from None
    return signedurls.signed_path(keys, source, option_pairs)


def run(args: argparse.Namespace) -> int:
    fields = {name: getattr(args, name) for name in OPTIONS}
    print(sign(settings(), args.source, fields, args.preset or ()))
    return EXIT_OK
