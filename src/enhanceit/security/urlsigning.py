"""The signatures of processing URLs, as imgproxy makes them.

A URL's signature is ``base64url(HMAC-SHA256(key, path))`` without padding, of the first ``size`` bytes of
the HMAC (imgproxy's signature size: 32 keeps all of it), where ``path`` is what follows the signature in the
URL: ``/{options}/{source}``. Several keys may be valid at once, so that keys can be rotated: the first
signs, any verifies. Each candidate is compared with :func:`hmac.compare_digest`, so the time taken says
nothing about how much of a forgery was right. Keys are never logged or put in an error message.

With ``allow_unsigned`` (off unless the operator turns it on) the signature ``_`` is accepted as well, as
imgproxy's ``unsafe``: anyone may then ask for anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from enhanceit.config import UrlSettings
from enhanceit.errors import ForbiddenURL

#: The signature accepted instead of a real one when unsigned URLs are allowed.
UNSIGNED = "_"


class UrlKeys:
    def __init__(self, keys: Sequence[bytes] = (), size: int = 32, allow_unsigned: bool = False) -> None:
        if any(not k for k in keys):
            raise ValueError("a URL key is empty")
        if not 1 <= size <= hashlib.sha256().digest_size:
            raise ValueError("the signature size is 1 to 32 bytes")
        self._keys = tuple(keys)
        self.size = size
        self.allow_unsigned = allow_unsigned

    @classmethod
    def from_settings(cls, settings: UrlSettings) -> UrlKeys:
        keys = [k.get_secret_value().encode() for k in settings.key]
        return cls(keys, settings.signature_size, settings.allow_unsigned)

    def __repr__(self) -> str:
        return f"<UrlKeys {len(self._keys)} keys>"  # never the keys

    @property
    def can_sign(self) -> bool:
        return bool(self._keys)

    @property
    def enabled(self) -> bool:
        """Whether any URL can pass: a key is configured, or unsigned URLs are allowed."""
        return bool(self._keys) or self.allow_unsigned

    def _signature(self, key: bytes, path: str) -> str:
        digest = hmac.new(key, path.encode(), hashlib.sha256).digest()[: self.size]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, path: str) -> str:
        """The signature of ``path`` (``/{options}/{source}``) under the first key."""
        if not self._keys:
            raise ValueError("no URL key is configured (ENHANCEIT_URLS_KEY)")
        return self._signature(self._keys[0], path)

    def verify(self, signature: str, path: str) -> None:
        """Accept ``signature`` for ``path``, or raise :class:`ForbiddenURL` (403)."""
        if self.allow_unsigned and signature == UNSIGNED:
            return
        presented = signature.encode("ascii", "replace")
        # every key is tried, a match or not: the time taken does not say which key signed
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(self._signature(key, path).encode(), presented)
        if not matched:
            raise ForbiddenURL("invalid URL signature")
