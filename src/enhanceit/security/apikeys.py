"""Optional API keys (``ENHANCEIT_API_KEYS``, sent as ``Authorization: Bearer <key>``) and a per-key rate limit.

Off by default: with no keys configured every request is anonymous and unlimited here (put a proxy in
front for IP-based limits). Keys are compared in constant time and only a short hash of the key ever
leaves this module (as the job's owner and in metrics), never the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from enhanceit.errors import Busy, Unauthorized


def owner_of(key: str) -> str:
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]


class TokenBucket:
    """``rate`` requests per minute per owner, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, owner: str) -> None:
        with self._lock:
            tokens, last = self._buckets.get(owner, (self.capacity, time.monotonic()))
            now = time.monotonic()
            tokens = min(self.capacity, tokens + (now - last) * self.refill)
            if tokens < 1:
                self._buckets[owner] = (tokens, now)
                # until the bucket holds a whole token again (clamped by Busy, like every Retry-After)
                raise Busy("rate limit reached for this API key", retry_after=(1 - tokens) / self.refill)
            self._buckets[owner] = (tokens - 1, now)


class ApiKeys:
    def __init__(self, keys: list[str], per_minute: int) -> None:
        self._keys = [k.encode() for k in keys]
        self._limit = TokenBucket(per_minute)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def owner(self, authorization: str | None) -> str:
        """The owner id of a caller who sent this ``Authorization`` header, or 401/429."""
        if not self._keys:
            return "anonymous"
        scheme, _, token = (authorization or "").partition(" ")
        presented = token.strip().encode()
        if scheme.lower() != "bearer" or not presented:
            raise Unauthorized("send 'Authorization: Bearer <API key>'")
        if not any(hmac.compare_digest(presented, k) for k in self._keys):
            raise Unauthorized("unknown API key")
        owner = owner_of(presented.decode())
        self._limit.take(owner)
        return owner
