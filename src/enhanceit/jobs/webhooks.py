"""Webhooks: POST the finished job to the URL its submitter gave, signed, retried, never fatal.

Signature (the Standard Webhooks scheme): headers ``webhook-id`` (the same for every retry of one
message), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``"{id}.{timestamp}.{body}"`` with the service's webhook secret. A receiver recomputes it, compares in
constant time and rejects old timestamps.

Delivery is a background task: timeouts, connection errors, 429 and 5xx answers are retried with
exponential backoff; other 4xx answers end the delivery. The webhook is sent through the same outbound client
as image downloads (:class:`~enhanceit.security.outbound.OutboundClient`): the same SSRF policy, a connection
to the checked address (no redirects are followed), and the same errors for the same failures. What they
mean differs: a 502 or 504 a download would answer its user with is here only an attempt to make again.

Delivery is at least once. A job that ends with a webhook URL is recorded with ``webhook_pending`` in the
same write as its end; ``settled`` clears it once the receiver took the message or refused it for good. A
round that gave up, or one that a stop or crash cut short, leaves it set, and a reaper sends it again
(:mod:`enhanceit.jobs.reaper`): at the next start of an embedded service, or after
:data:`RESEND_AFTER_SECONDS` in the distributed mode, up to :data:`MAX_ROUNDS` rounds. A receiver may see a
message twice, with the same ``webhook-id``. A batch's one webhook, when its last item ends
(:mod:`enhanceit.jobs.batches`), goes through the same sender (:meth:`WebhookSender.send`): the same signing,
retries and rounds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from enhanceit.config import FetchSettings, Settings
from enhanceit.errors import EnhanceItError
from enhanceit.jobs.model import Job
from enhanceit.security.outbound import Connector, Deadline, OutboundClient, Resolver, Timeouts, parse_url

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: A pending webhook this long after its job's last write is taken for lost (its round ended or died).
RESEND_AFTER_SECONDS = 300.0
#: Rounds of delivery before a webhook is given up (each round: ``attempts`` tries with backoff).
MAX_ROUNDS = 5


def webhook_secret(settings: Settings) -> bytes:
    """ENHANCEIT_WEBHOOK_SECRET, else one generated once into DATA_DIR/.webhook-secret (set it explicitly
    when API replicas and workers do not share a data folder, or they would sign with different keys)."""
    from enhanceit.storage.signing import load_or_create_secret

    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value().encode()
    return load_or_create_secret(settings.data_dir, ".webhook-secret")


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: bytes, headers: dict[str, str], body: bytes, tolerance: int = 300, at: float | None = None) -> bool:
    """What a receiver does (and the tests): recompute, compare in constant time, refuse stale messages."""
    try:
        message_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((at or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())


class WebhookSender:
    def __init__(
        self,
        secret: bytes,
        settings: FetchSettings,
        render: Callable[[Job], dict[str, Any]],
        *,
        attempts: int = 5,
        first_delay: float = 1.0,
        timeout: float = 10.0,
        resolver: Resolver | None = None,
        connector: Connector | None = None,
        settled: Callable[[str], object] | None = None,
    ) -> None:
        self._secret = secret
        self._render = render
        self.attempts = attempts
        self.first_delay = first_delay
        self.timeout = timeout
        self._client = OutboundClient(settings, resolver=resolver, connector=connector)
        #: Called with the job's id once its webhook needs no more rounds (delivered, or refused for good).
        self.settled = settled
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="enhanceit-webhook")
        self._stopping = threading.Event()

    def notify(self, job: Job) -> None:
        """Deliver in the background; the job's own outcome never depends on it."""
        if job.webhook_url:
            body = json.dumps({"type": f"job.{job.status.value}", "job": self._render(job)}, default=str).encode()
            settled = self.settled
            self.send(
                job.webhook_url,
                f"{job.id}.{job.status.value}",
                body,
                settled=None if settled is None else lambda: settled(job.id),
            )

    def send(self, url: str, message_id: str, body: bytes, settled: Callable[[], object] | None = None) -> None:
        """Deliver any message in the background, signed and retried as a job's (a batch's end): ``settled`` is
        called once it needs no more rounds."""
        self._pool.submit(self._round, url, message_id, body, settled)

    def _round(self, url: str, message_id: str, body: bytes, settled: Callable[[], object] | None) -> None:
        outcome = self.deliver(url, message_id, body)
        if outcome is not None and settled is not None:
            try:
                settled()
            except EnhanceItError as e:  # the job store is away: the webhook is sent again later, at worst
                logger.warning("webhook delivered, but not recorded as delivered: %s", e.detail)

    def deliver(self, url: str, message_id: str, body: bytes) -> bool | None:
        """True once the receiver took the message, False if it refused it for good, None if this round gave
        up (or was stopped) with the message still to send."""
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                status = self.post(url, message_id, body)
            except EnhanceItError as e:
                if e.status_code in (400, 403):  # the URL is malformed or the policy refuses it: for good
                    logger.warning("webhook refused: %s", e.detail)
                    return False
                # unreachable, silent, broken, or DNS down: the receiver may be back for the next attempt
                logger.info("webhook attempt failed: %s", e.detail)
                status = None
            if status is not None and 200 <= status < 300:
                return True
            if status is not None and status not in RETRY_STATUSES:
                logger.warning("webhook answered %d; not retried", status)
                return False
            if attempt < self.attempts and not self._stopping.wait(delay):
                delay *= 2
                continue
            break
        logger.warning("webhook delivery gave up after %d attempts; it will be sent again", attempt)
        return None

    def post(self, url: str, message_id: str, body: bytes) -> int:
        """One POST of the message: the receiver's HTTP status. Raises the outbound client's errors, the same
        as an image download gets for the same failure (:func:`~enhanceit.security.outbound.map_httpcore_errors`).

        The answer's body is never read: only its status counts, and a receiver cannot make us store any of it.
        """
        target = parse_url(url)
        timestamp = int(time.time())
        headers = [
            (b"Content-Type", b"application/json"),
            (b"webhook-id", message_id.encode()),
            (b"webhook-timestamp", str(timestamp).encode()),
            (b"webhook-signature", sign(self._secret, message_id, timestamp, body).encode()),
        ]
        timeouts = Timeouts(connect=self.timeout, read=self.timeout)
        with self._client.request(
            "POST", target, Deadline(self.timeout), timeouts, headers=headers, content=body
        ) as response:
            return response.status

    def close(self, wait: bool = False) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)
