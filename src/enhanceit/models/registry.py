"""Every model EnhanceIt knows, registered explicitly in one readable list.

To add a family: write ``zoo/<family>.py`` exporting ``MODELS``, then add it to ``_FAMILIES`` below.
Registering the same id twice is refused at import time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from enhanceit.errors import UnknownModel
from enhanceit.models.spec import ModelSpec
from enhanceit.models.zoo import chainer, realcugan, realesrgan, waifu2x

_FAMILIES: tuple[tuple[ModelSpec, ...], ...] = (waifu2x.MODELS, chainer.MODELS, realesrgan.MODELS, realcugan.MODELS)


class Registry:
    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModelSpec) -> None:
        if spec.id in self._specs:
            raise ValueError(f"model id {spec.id!r} is registered twice")
        self._specs[spec.id] = spec

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            known = ", ".join(self._specs)
            raise UnknownModel(f"unknown model {model_id!r}; known models: {known}") from None

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def ids(self) -> list[str]:
        return list(self._specs)


REGISTRY = Registry(spec for family in _FAMILIES for spec in family)


def get_model(model_id: str) -> ModelSpec:
    return REGISTRY.get(model_id)


def all_models() -> list[ModelSpec]:
    return list(REGISTRY)
