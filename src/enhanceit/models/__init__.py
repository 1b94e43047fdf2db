"""The model zoo: specs, pinned weight sources, lookup and verification."""

from enhanceit.models.registry import REGISTRY, all_models, get_model
from enhanceit.models.spec import ModelSpec, Net, Source, WeightFile

__all__ = ["REGISTRY", "ModelSpec", "Net", "Source", "WeightFile", "all_models", "get_model"]
