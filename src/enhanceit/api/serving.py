"""Serving the app with uvicorn: keep-alive longer than any Retry-After, and a shutdown that answers at once.

* A client told ``Retry-After: N`` may come back on the same connection N seconds later. uvicorn closes idle
  connections after 5 s by default, so a client returning after 5-60 s raced the close and sometimes got a
  ReadError (2 of 200 in a test). Idle connections are therefore kept longer than the longest Retry-After the
  service sends (``MAX_RETRY_AFTER``: :func:`enhanceit.errors.clamp_retry_after` caps every one).
* On SIGTERM uvicorn stops accepting connections and waits for open requests to finish. A request waiting for
  a job (``Prefer: wait``) could hold that up for minutes, past Kubernetes' default 30 s grace. The server here
  first sets ``services.stopping``, which answers every waiting request at once with 202 and the job's
  ``Location`` (the job itself goes on, or resumes at the next start).
"""

from __future__ import annotations

from types import FrameType
from typing import Any

import uvicorn

from enhanceit.errors import MAX_RETRY_AFTER as MAX_RETRY_AFTER  # the longest Retry-After any response carries

#: How long an idle keep-alive connection stays open: past MAX_RETRY_AFTER, with room for a slow client.
KEEP_ALIVE_SECONDS = MAX_RETRY_AFTER + 15
#: How long shutdown waits for requests still open once waiting ones have been answered.
GRACEFUL_SHUTDOWN_SECONDS = 20


class Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        services = getattr(getattr(self.config.app, "state", None), "services", None)
        if services is not None:
            services.stopping.set()  # requests waiting for jobs answer 202 now
            services.waiters.wake_all()
        super().handle_exit(sig, frame)


def serve(app: Any, host: str, port: int) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    Server(config).run()
