"""The HTTP API (FastAPI)."""

from enhanceit.api.app import Services, build_services, create_app

__all__ = ["Services", "build_services", "create_app"]
