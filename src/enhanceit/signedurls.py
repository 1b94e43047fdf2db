"""Signed processing URLs, the imgproxy way: ``/v1/u/{signature}/{options}/{source}``.

``options`` is a path of ``name:value`` pairs, each name short or long (a pair given twice is refused):

=====  ========  =====================================================================
short  long      value
=====  ========  =====================================================================
m      model     a model id or alias (``photo``, ``art``): ``GET /v1/models``
s      scale     a factor above 0, at most 16 (default 2, unless w or h)
w      width     the output's width in pixels; the height keeps the aspect ratio
h      height    the output's height in pixels; the width keeps the aspect ratio
n      noise     ``auto`` (the default), -1 (none), 0 to 3
f      format    ``png``, ``jpeg`` (``jpg``), ``webp``, ``avif``, ``gif``: ``GET /v1/formats``
q      quality   1 to 100 (lossy formats)
t      tta       0, 2, 4 or 8
fr     frames    ``all`` or ``first`` (an animation)
a      alpha     ``network`` or ``lanczos`` (an image with transparency)
md     metadata  ``keep``, ``all`` or ``none``
st     strict    1 or 0 (``true``, ``false``)
p      preset    a preset's name; ``p:a:b`` applies ``a``, then ``b``; other pairs override
=====  ========  =====================================================================

The API's ``tile`` is not among them: it tunes the server's memory, and is the server's to choose.

``source`` is the image's URL, base64url-encoded without padding; the signature is
:mod:`enhanceit.security.urlsigning`'s, of ``/{options}/{source}``. An example::

    /v1/u/<signature>/m:photo/s:2/f:webp/q:85/aHR0cHM6Ly9leGFtcGxlLmNvbS9hLmpwZw

With presets only (``ENHANCEIT_PRESETS_ONLY``) a URL must name a preset and nothing else (403 otherwise), as
imgproxy's "only presets": a leaked signature then cannot ask for more work than a preset does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from enhanceit.config import Settings
from enhanceit.errors import ForbiddenURL, InvalidRequest
from enhanceit.options import EnhanceOptions
from enhanceit.presets import Presets
from enhanceit.security.urlsigning import UrlKeys

#: Where the route is; a signed path starts with it.
PREFIX = "/v1/u"
#: Short name -> option, in the order a signed path lists them.
SHORT: dict[str, str] = {
    "m": "model",
    "s": "scale",
    "w": "width",
    "h": "height",
    "n": "noise",
    "f": "format",
    "q": "quality",
    "t": "tta",
    "fr": "frames",
    "a": "alpha",
    "md": "metadata",
    "st": "strict",
}
PRESET = "p"
_NAMES: dict[str, str] = {**SHORT, **{long: long for long in SHORT.values()}, PRESET: "preset", "preset": "preset"}
_SHORT_OF = {long: short for short, long in SHORT.items()}
#: Bounds on hostile paths: the source is a URL of at most 8192 characters (as ``image_url``), in base64.
MAX_SOURCE = 8192
MAX_PAIRS = 32


@dataclass(frozen=True)
class Parsed:
    """A URL's path after its signature, read: the presets it names, its other pairs, the source URL."""

    source: str
    presets: tuple[str, ...] = ()
    #: Option -> the value as written (validated with the presets, by :func:`options`).
    given: Mapping[str, str] = field(default_factory=dict)


def encode_source(url: str) -> str:
    return base64.urlsafe_b64encode(url.encode()).rstrip(b"=").decode("ascii")


def decode_source(text: str) -> str:
    if len(text) > MAX_SOURCE * 4 // 3 + 4:
        raise InvalidRequest(f"the source URL is longer than {MAX_SOURCE} characters")
    try:
        url = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidRequest("the source is not a base64url-encoded URL") from None
    if not url:
        raise InvalidRequest("the source URL is empty")
    return url


def parse(rest: str) -> Parsed:
    """``{options}/{source}`` (what follows the signature) read, or 400 naming what is wrong."""
    parts = rest.strip("/").split("/")
    if len(parts) > MAX_PAIRS + 1:
        raise InvalidRequest(f"more than {MAX_PAIRS} options")
    *pairs, source = parts
    if not source or ":" in source:
        raise InvalidRequest("the path ends with the source: the image's URL in base64url")
    presets: tuple[str, ...] = ()
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        option = _NAMES.get(name)
        if not sep or not value:
            raise InvalidRequest(f"option {pair!r}: name:value, such as s:2")
        if option is None:
            names = ", ".join(f"{s} ({long})" for s, long in SHORT.items())
            raise InvalidRequest(f"unknown option {name!r} (options: {names}, p (preset))")
        if option in given or (option == "preset" and presets):
            raise InvalidRequest(f"option {option!r} given twice")
        if option == "preset":
            presets = tuple(value.split(":"))
        else:
            given[option] = value
    return Parsed(decode_source(source), presets, given)


def options(parsed: Parsed, presets: Presets, presets_only: bool) -> EnhanceOptions:
    """The options a URL asks for: its presets, then its other pairs over them. 403 under presets-only for a
    URL without a preset or with any other pair; 400 for an unknown preset; pydantic's ``ValidationError``
    for values that are not valid options (the route lists them as a 400)."""
    if presets_only and (not parsed.presets or parsed.given):
        raise ForbiddenURL("this server accepts only presets in URLs: p:NAME and no other option")
    return presets.options(parsed.presets, parsed.given)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = repr(value)
        return text.removesuffix(".0")
    return str(value)


def pairs(fields: Mapping[str, Any], presets: Sequence[str] = ()) -> list[str]:
    """The options path's pairs for ``fields`` (options by their long names; None left out), short names in
    the table's order, any presets first."""
    unknown = set(fields) - set(_SHORT_OF)
    if unknown:
        raise InvalidRequest(f"not options of a URL: {', '.join(sorted(unknown))}")
    out = [f"{PRESET}:{':'.join(presets)}"] if presets else []
    for short, long in SHORT.items():
        value = fields.get(long)
        if value is None:
            continue
        text = _text(value)
        if not text or "/" in text or ":" in text:
            raise InvalidRequest(f"{long} {text!r} cannot be written in a URL")
        out.append(f"{short}:{text}")
    return out


def signed_path(keys: UrlKeys, source: str, option_pairs: Sequence[str]) -> str:
    """``/v1/u/{signature}/{options}/{source}``, signed with the first key."""
    rest = "/" + "/".join([*option_pairs, encode_source(source)])
    return f"{PREFIX}/{keys.sign(rest)}{rest}"


def link(settings: Settings, presets: Presets, source: str, asked: EnhanceOptions) -> str | None:
    """A signed URL that asks for ``asked`` from ``source`` (the web page's "Copy link"), or None: no key to
    sign with, or presets only and no preset is exactly ``asked``. Relative unless ``public_url`` is set."""
    keys = UrlKeys.from_settings(settings.urls)
    if not keys.can_sign:
        return None
    if settings.presets.only:
        name = presets.matching(asked)
        if name is None:
            return None
        option_pairs = pairs({}, [name])
    else:
        try:
            option_pairs = pairs(asked.model_dump(exclude_defaults=True, exclude={"tile"}))
        except InvalidRequest:  # a value a path cannot hold: no link, rather than no answer
            return None
    return (settings.public_url or "").rstrip("/") + signed_path(keys, source, option_pairs)
