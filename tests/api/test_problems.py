"""Rendering errors as problem+json: the headers and the type come from the error, not from its class here."""

from __future__ import annotations

import json

from enhanceit.api import serving
from enhanceit.api.problems import from_error, problem
from enhanceit.errors import Busy, EnhanceItError, NotFound, Unauthorized, problem_type


class Teapot(EnhanceItError):
    """An error the renderer has never heard of, with a header of its own."""

    status_code = 418
    slug = "teapot"
    title = "I'm a teapot"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Brew": "tea"}


def test_an_error_brings_its_own_headers() -> None:
    assert from_error(Teapot()).headers["X-Brew"] == "tea"
    assert from_error(Unauthorized()).headers["WWW-Authenticate"] == 'Bearer realm="enhanceit"'
    assert from_error(Busy("full", retry_after=7)).headers["Retry-After"] == "7"
    assert (
        "Retry-After" not in from_error(NotFound()).headers and "WWW-Authenticate" not in from_error(NotFound()).headers
    )


def test_retry_after_is_at_least_one_second_and_capped_below_the_keep_alive() -> None:
    assert from_error(Busy("full", retry_after=0)).headers["Retry-After"] == "1"
    assert from_error(Busy("full", retry_after=10_000)).headers["Retry-After"] == str(serving.MAX_RETRY_AFTER)


def test_the_problem_type_is_built_in_one_place() -> None:
    ours = json.loads(bytes(from_error(Teapot()).body))
    theirs = json.loads(bytes(problem(405, "Method Not Allowed", "no", "method-not-allowed").body))
    assert ours["type"] == problem_type("teapot") and theirs["type"] == problem_type("method-not-allowed")
    assert ours["type"].endswith("/teapot") and ours["type"] != problem_type("other")
