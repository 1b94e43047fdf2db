"""``GET /v1/models``: the aliases and every model, with what this server can run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from enhanceit.api.deps import ServicesDep
from enhanceit.engine.choose import catalog

router = APIRouter(tags=["models"])


@router.get(
    "/v1/models",
    summary="The aliases 'photo' and 'art' (what they resolve to), then every model with its scales and licence",
)
async def models(services: ServicesDep) -> list[dict[str, Any]]:
    return catalog(services.engine.registry, services.settings.resolved_models_dir, services.engine)
