from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from enhanceit.allocator import wait_passively
from enhanceit.config import LimitSettings
from enhanceit.engine.runtime import Engine, EngineConfig

# First, before any test module is collected: some import ncnn at the top (tests/models), and libgomp reads
# its wait policy once, when ncnn loads it (see enhanceit.allocator).
wait_passively()

#: Markers (registered in pyproject.toml) for what a test needs beyond Python, from the fixtures it uses or
#: the folder it is in, so ``pytest -m "not browser and not container and not slow"`` is a quick loop.
#: Fixtures that pick a server by parameter mark that parameter; tests that start a server themselves, or
#: that are slow, say so (``pytestmark`` in their module, or a decorator).
NEEDS_BY_FIXTURE = {"browser": "browser", "redis_url": "redis", "seaweedfs": "s3", "gcs_emulator": "s3"}
NEEDS_BY_FOLDER = {"container": "container"}  # podman and the images that ``make image`` builds


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        needs = {NEEDS_BY_FIXTURE[f] for f in getattr(item, "fixturenames", ()) if f in NEEDS_BY_FIXTURE}
        if item.path.is_relative_to(tests):
            needs |= {NEEDS_BY_FOLDER[p] for p in item.path.relative_to(tests).parts if p in NEEDS_BY_FOLDER}
        for name in sorted(needs):
            item.add_marker(name)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The real engine on ncnn (CPU, f32), shared so each network loads once per test run: the reference the
    other backend is compared with."""
    return Engine(EngineConfig(threads=2, backend="ncnn"))


@pytest.fixture(scope="session")
def openvino_engine() -> Engine:
    """The real engine on OpenVINO at f32 (where the waifu2x-chainer parity and exact tiling are promised)."""
    return Engine(EngineConfig(threads=2, backend="openvino", precision="f32"))


@pytest.fixture(params=["ncnn", "openvino"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """Each backend at f32 in turn, for the engine's promises that every backend keeps."""
    return request.getfixturevalue("engine" if request.param == "ncnn" else "openvino_engine")  # type: ignore[no-any-return]


@pytest.fixture
def limits() -> LimitSettings:
    return LimitSettings()


@pytest.fixture(scope="session")
def _cache_home(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One cache folder for the run (compiled nets are shared by the tests), never the developer's."""
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, _cache_home: str
) -> Iterator[None]:
    """No test reads the developer's config or writes into the checkout or the developer's cache."""
    for name in list(os.environ):
        if name.startswith("ENHANCEIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ENHANCEIT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("XDG_CACHE_HOME", _cache_home)
    yield
