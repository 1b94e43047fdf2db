from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enhanceit.api.app import create_app
from enhanceit.bootstrap import Services, build_services
from enhanceit.config import Settings, load_settings
from enhanceit.engine.fake import fake_engine
from enhanceit.engine.runtime import Engine
from enhanceit.imaging.vips import pyvips
from tests.api.servers import HttpStub, LiveServer
from tests.helpers import photo


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "fetch": {"allow_private": True, "connect_timeout": 2, "read_timeout": 2, "total_timeout": 5},
        "jobs": {"sync_wait_seconds": 20},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return load_settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def start(settings: Settings, engine: Engine | None = None, **parts: Any) -> tuple[LiveServer, Services]:
    services = build_services(settings, engine=engine or fake_engine(), **parts)
    services.webhooks.first_delay = 0.05
    server = LiveServer(create_app(settings, services))
    return server, services


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[LiveServer, Services]]:
    server, services = start(settings)
    with server:
        yield server, services


@pytest.fixture
def client(live: tuple[LiveServer, Services]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live[0].url, timeout=30) as c:
        yield c


@pytest.fixture
def images() -> Iterator[HttpStub]:
    stub = HttpStub().start()
    yield stub
    stub.stop()


def png_bytes(pixels: Any = None) -> bytes:
    arr = photo("astronaut", 32) if pixels is None else pixels
    image = pyvips.Image.new_from_memory(arr.tobytes(), arr.shape[1], arr.shape[0], arr.shape[2], "uchar")
    return bytes(image.pngsave_buffer())


def decode(data: bytes) -> Any:
    from tests.helpers import from_vips

    return from_vips(pyvips.Image.new_from_buffer(data, ""))
