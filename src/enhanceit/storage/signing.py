"""Signed, expiring ``/files`` links for backends the service serves itself (local disk, memory).

A link is ``{public_url}/files/{key}?expires=<unix seconds>&sig=<hex HMAC-SHA256(secret, key "\\n" expires)>``.
The newline cannot occur in a key, so no (key, expires) pair signs the same as another. Signatures are
compared with :func:`hmac.compare_digest`, so the time taken says nothing about how much of a guess was
right. The secret and whole links are never logged or put in an error message.

The secret is ``ENHANCEIT_SIGNING_KEY`` if set, else 32 random bytes kept in ``DATA_DIR/.signing-key``
(mode 0600) so links survive restarts. That file is written completely under a temporary name and then
hard-linked into place, which fails if it already exists: when several processes start at once the first
link wins and every process reads the same key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from enhanceit.errors import ForbiddenURL, InvalidRequest, StorageUnavailable
from enhanceit.storage.base import utc, validate_key

KEY_FILE_NAME = ".signing-key"
_SECRET_BYTES = 32
_SIG_RE = re.compile(r"[0-9a-f]{64}")
#: Unix seconds, at most 12 digits (year 33658): enough, and bounds the work on hostile input.
_EXPIRES_RE = re.compile(r"[0-9]{1,12}")


class UrlSigner:
    """Signs and verifies ``/files`` links with one secret."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the signing key is empty")
        self._secret = secret

    def __repr__(self) -> str:
        return "<UrlSigner>"  # never the secret

    def signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, base_url: str, key: str, expires_at: datetime) -> str:
        """The link for ``key``, valid while the clock is before ``expires_at`` (rounded down to the second)."""
        validate_key(key)
        expires = int(utc(expires_at).timestamp())
        query = f"expires={expires}&sig={self.signature(key, expires)}"
        return f"{base_url.rstrip('/')}/files/{quote(key, safe='/')}?{query}"

    def verify(self, key: str, expires: str, sig: str, now: datetime) -> None:
        """Accept a link's parts, or raise :class:`ForbiddenURL` (bad key, forged or tampered, or expired)."""
        try:
            validate_key(key)
        except InvalidRequest:
            raise ForbiddenURL("invalid file key") from None
        if not _EXPIRES_RE.fullmatch(expires) or not _SIG_RE.fullmatch(sig):
            raise ForbiddenURL("malformed file link")
        if not hmac.compare_digest(self.signature(key, int(expires)), sig):
            raise ForbiddenURL("invalid file link signature")
        if int(expires) <= utc(now).timestamp():
            raise ForbiddenURL("file link expired")


def load_or_create_secret(data_dir: Path, name: str = KEY_FILE_NAME) -> bytes:
    """The secret kept in ``data_dir/name``, creating it once if it does not exist.

    Other secrets the service keeps the same way (e.g. ``.webhook-secret``) pass their own ``name``.
    """
    path = data_dir / name
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageUnavailable(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f"{name}.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(_SECRET_BYTES) + "\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another process got there first: use its key
                os.link(tmp, path)  # atomic and exclusive, unlike os.replace
        finally:
            os.unlink(tmp)
        return _read_secret(path)
    except OSError as exc:
        raise StorageUnavailable(f"cannot create {path}: {exc.strerror or exc}") from exc


def _read_secret(path: Path) -> bytes:
    try:
        secret = bytes.fromhex(path.read_bytes().decode("ascii").strip())
    except ValueError:  # not ASCII, or not hex
        secret = b""
    if len(secret) < _SECRET_BYTES:
        raise StorageUnavailable(f"{path} is not a valid secret; delete it to generate a new one")
    return secret
