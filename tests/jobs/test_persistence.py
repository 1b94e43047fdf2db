"""``/readyz`` warns when the Redis that holds the jobs has no append-only file (a restart would lose them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings, start
from tests.jobs.redis_server import RedisProcess

pytestmark = pytest.mark.redis


@pytest.fixture(params=[False, True], ids=["no-aof", "aof"])
def redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path, persistent=request.param).start()
    yield server
    server.stop()


def test_readyz_warns_when_redis_does_not_persist(tmp_path: Path, redis: RedisProcess) -> None:
    server, _ = start(make_settings(tmp_path, queue={"url": redis.url}))
    with server, httpx.Client(base_url=server.url, timeout=30) as c:
        body = c.get("/readyz").json()
    assert body["checks"]["jobs"] == "ok" and body["checks"]["queue"] == "ok"
    if redis.persistent:
        assert body["warnings"] == []
    else:
        (warning,) = body["warnings"]
        assert "append-only" in warning
