"""Every model EnhanceIt knows, registered explicitly in one readable list.

To add a family: write ``zoo/<family>.py`` exporting ``MODELS``, then add it to ``_FAMILIES`` below.
Registering the same id twice is refused at import time.

A model whose weights' licence restricts hosted use (``ModelSpec.restricted``) is listed and installed like
any other, but :meth:`Registry.get`, which every request goes through, refuses it unless the operator
enabled it (``ENHANCEIT_MODELS_ENABLE``, see :meth:`Registry.enabling`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from enhanceit.errors import ModelNotEnabled, UnknownModel
from enhanceit.models.spec import ModelSpec
from enhanceit.models.zoo import chainer, realcugan, realesrgan, realsr, span, waifu2x

_FAMILIES: tuple[tuple[ModelSpec, ...], ...] = (
    waifu2x.MODELS,
    span.MODELS,
    chainer.MODELS,
    realesrgan.MODELS,
    realcugan.MODELS,
    realsr.MODELS,
)


class Registry:
    def __init__(self, specs: Iterable[ModelSpec] = (), enabled: Iterable[str] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.register(spec)
        self.enabled = frozenset(enabled)
        unknown = self.enabled - set(self._specs)
        if unknown:
            raise UnknownModel(f"cannot enable unknown models: {', '.join(sorted(unknown))}")

    def enabling(self, ids: Iterable[str]) -> Registry:
        """The same models, with these restricted ones usable too."""
        return Registry(self._specs.values(), self.enabled | set(ids))

    def usable(self, spec: ModelSpec) -> bool:
        return not spec.restricted or spec.id in self.enabled

    def register(self, spec: ModelSpec) -> None:
        if spec.id in self._specs:
            raise ValueError(f"model id {spec.id!r} is registered twice")
        self._specs[spec.id] = spec

    def find(self, model_id: str) -> ModelSpec:
        """The model, whether or not its licence lets it serve requests here (for listing, installing)."""
        try:
            return self._specs[model_id]
        except KeyError:
            known = ", ".join(self._specs)
            raise UnknownModel(f"unknown model {model_id!r}; known models: {known}") from None

    def get(self, model_id: str) -> ModelSpec:
        """The model, to run it: refused when its licence restricts hosted use and it is not enabled."""
        spec = self.find(model_id)
        if not self.usable(spec):
            raise ModelNotEnabled(
                f"{model_id} is off on this server: {spec.restricted}. An operator who may use it can enable it "
                f"with ENHANCEIT_MODELS_ENABLE={model_id}"
            )
        return spec

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def ids(self) -> list[str]:
        return list(self._specs)


REGISTRY = Registry(spec for family in _FAMILIES for spec in family)


def get_model(model_id: str) -> ModelSpec:
    """A model by id, whatever its licence (requests go through an engine's :meth:`Registry.get`)."""
    return REGISTRY.find(model_id)


def all_models() -> list[ModelSpec]:
    return list(REGISTRY)
