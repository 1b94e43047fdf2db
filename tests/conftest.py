from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.runtime import Engine, EngineConfig


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The real engine (ncnn, CPU), shared so each network loads once per test run."""
    return Engine(EngineConfig(threads=2))


@pytest.fixture
def limits() -> LimitSettings:
    return LimitSettings()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads the developer's config or writes into the checkout."""
    for name in list(os.environ):
        if name.startswith("ENHANCEIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ENHANCEIT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    yield
