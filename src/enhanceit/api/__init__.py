"""The HTTP API (FastAPI): ``create_app`` builds it from the parts :mod:`enhanceit.bootstrap` wires."""

from enhanceit.api.app import create_app

__all__ = ["create_app"]
