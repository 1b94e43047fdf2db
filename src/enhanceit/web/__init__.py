"""The web page: static HTML, CSS and JavaScript served at ``/`` (no build step)."""

from __future__ import annotations

from pathlib import Path


def static_dir() -> Path:
    """The page's files, inside the package (installed with it)."""
    return Path(__file__).resolve().parent / "static"
