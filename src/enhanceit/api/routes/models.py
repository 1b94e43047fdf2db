"""``GET /v1/models``: the aliases and every model, with what this server can run; ``GET /v1/formats``: the
image formats read and written."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from enhanceit.api.deps import ServicesDep
from enhanceit.engine.choose import catalog
from enhanceit.imaging import formats

router = APIRouter(tags=["models"])


@router.get(
    "/v1/models",
    summary="The aliases 'photo' and 'art' (what they resolve to), then every model with its scales and licence",
)
async def models(services: ServicesDep) -> list[dict[str, Any]]:
    return catalog(services.engine.registry, services.settings.resolved_models_dir, services.engine)


@router.get(
    "/v1/formats",
    tags=["formats"],
    summary="The image formats read (told by their bytes) and written, with what each can hold",
)
async def image_formats() -> list[dict[str, Any]]:
    return formats.catalog()
