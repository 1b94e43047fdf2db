"""schemathesis generates requests from our OpenAPI document; none may get a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from enhanceit.bootstrap import Services
from tests.api.conftest import make_settings, start
from tests.api.servers import LiveServer


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Services]]:
    # Strict URL policy (no private addresses): generated image_urls are refused before any connection,
    # so fuzzing never sends traffic anywhere, loopback included.
    s = make_settings(tmp_path_factory.mktemp("fuzz"), fetch={"allow_private": False}, jobs={"sync_wait_seconds": 0})
    server, services = start(s)
    with server:
        yield server, services


def test_no_server_errors(service: tuple[LiveServer, Services]) -> None:
    """Every operation, 25 generated requests each (schemathesis' strategies driven by hypothesis directly:
    its pytest plugin does not support this pytest)."""
    api = schemathesis.openapi.from_url(f"{service[0].url}/openapi.json")
    tried: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        tried.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_5xx(case: schemathesis.Case) -> None:
            response = case.call(timeout=30)
            answer = f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            assert response.status_code < 500, answer
            if response.status_code >= 400:
                assert response.headers["content-type"][0].startswith("application/problem+json"), response.text

        no_5xx()
    assert "POST /v1/enhance" in tried and "GET /v1/jobs/{job_id}" in tried
