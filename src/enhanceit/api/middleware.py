"""Per-request plumbing as plain ASGI: request ids, metrics, and the upload size limit while streaming.

* ``X-Request-ID`` is honoured when well-formed (letters, digits, ``._-``, at most 128), else generated;
  it is echoed on the response, put in every log line and every problem+json.
* The body of a request is counted as it arrives: past ``max_body`` bytes the app gets a
  :class:`PayloadTooLarge` from ``receive`` (413), whatever Content-Length claimed.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from enhanceit import logs
from enhanceit.errors import PayloadTooLarge
from enhanceit.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
logger = logging.getLogger(__name__)


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics, max_body: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = [500]
        received = [0]

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > self.max_body:
                    raise PayloadTooLarge(f"the request is larger than the limit of {self.max_body:,} bytes")
            return message

        response_started = [False]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_started[0] = True
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, counted_receive, send_with_id)
        except Exception:
            # Inside the request's context, so the 500 carries its id (Starlette's own handler sits
            # outside every middleware, where the id is gone).
            logger.exception("unhandled error")
            if not response_started[0]:
                await self._internal_error(send_with_id)
            else:
                raise
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(name, scope["method"], str(status[0])).inc()
            self.metrics.request_seconds.labels(name).observe(time.perf_counter() - started)
            logs.request_id.reset(token)

    @staticmethod
    async def _internal_error(send: Send) -> None:
        from enhanceit.api.problems import problem

        response = problem(500, "Internal error", "internal error", "internal-error")
        await send({"type": "http.response.start", "status": 500, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})
