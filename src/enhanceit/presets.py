"""Presets: named option sets of the server's (imgproxy's presets), one more way to say a request's options.

Defined in the settings (``ENHANCEIT_PRESETS``, the config file's ``presets:``) and in a JSON or YAML file
(``ENHANCEIT_PRESETS_FILE``), each ``{name: {option: value}}`` with the options of ``POST /v1/enhance``.
Each is checked as :class:`~enhanceit.options.EnhanceOptions` when the service (or a command) starts: a bad
one stops it with a :class:`PresetError` naming it, rather than failing the requests that use it.

A request names a preset (``preset`` in the API, ``p:NAME`` in a signed URL, ``--preset`` in the CLI) and
may set other options beside it: the preset's options come first and the request's own override them, one
field at a time, except the size: ``scale``, ``width`` and ``height`` are one choice, so a request that sets
any of them replaces the preset's. A preset is options like any other: the same limits apply to it (what a
server refuses from a client it refuses from a preset).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from enhanceit.config import PRESET_NAME, PresetSettings
from enhanceit.errors import InvalidRequest, field_errors
from enhanceit.options import EnhanceOptions

#: The fields that together choose the output's size: a request setting one replaces a preset's choice.
SIZE_FIELDS = frozenset({"scale", "width", "height"})


class PresetError(ValueError):
    """A preset in the configuration that is not valid options; the message names it and the bad field."""


def overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base``'s fields with ``top``'s over them; a size in ``top`` replaces ``base``'s size, whichever field."""
    kept = {k: v for k, v in base.items() if not (SIZE_FIELDS & top.keys() and k in SIZE_FIELDS)}
    return {**kept, **top}


@dataclass(frozen=True)
class Presets:
    """The server's presets, each validated, by name: the fields each one sets (no defaults)."""

    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def names(self) -> list[str]:
        return sorted(self.fields)

    def options(self, names: Sequence[str], given: Mapping[str, Any]) -> EnhanceOptions:
        """The presets ``names`` in order, then ``given`` over them, as options. 400 for an unknown name; a
        combination that is not valid (two sizes are not: see :func:`overlay`) raises pydantic's
        ``ValidationError``, which each caller reports its own way."""
        merged: dict[str, Any] = {}
        for name in names:
            if name not in self.fields:
                known = ", ".join(self.names()) or "none are defined"
                raise InvalidRequest(f"unknown preset {name!r} (presets here: {known})")
            merged = overlay(merged, self.fields[name])
        return EnhanceOptions(**overlay(merged, given))

    def matching(self, options: EnhanceOptions) -> str | None:
        """A preset whose options are exactly ``options`` (the first by name), if any."""
        for name in self.names():
            if EnhanceOptions(**self.fields[name]).model_dump() == options.model_dump():
                return name
        return None


def load_presets(settings: PresetSettings) -> Presets:
    """The presets of the settings and of their file, each checked; :class:`PresetError` for the first bad one."""
    found: dict[str, Any] = dict(settings.named)
    if settings.file is not None:
        for name, value in _read_file(settings.file).items():
            if name in found:
                raise PresetError(f"preset {name!r} is defined twice: in the settings and in {settings.file}")
            found[name] = value
    checked: dict[str, Mapping[str, Any]] = {}
    for name, value in found.items():
        if not isinstance(name, str) or not PRESET_NAME.fullmatch(name):
            raise PresetError(f"preset name {name!r}: letters, digits, '_' and '-' only, at most 64")
        if not isinstance(value, dict):
            raise PresetError(f"preset {name!r}: a mapping of options, such as {{scale: 2}}")
        try:
            options = EnhanceOptions.model_validate(value)
        except ValidationError as e:
            where, message = field_errors(e.errors())[0]
            raise PresetError(f"preset {name!r}: {where + ': ' if where else ''}{message}") from None
        checked[name] = options.model_dump(exclude_unset=True)
    return Presets(checked)


def _read_file(path: Path) -> dict[Any, Any]:
    import yaml  # YAML reads JSON too

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PresetError(f"presets file {path}: {e.strerror or e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PresetError(f"presets file {path}: not JSON or YAML ({type(e).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PresetError(f"presets file {path}: a mapping of preset names to options")
    return data
