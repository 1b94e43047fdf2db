"""An in-memory storage with the full contract, for API and queue tests that need no disk or server.

It signs ``/files`` links exactly like the local backend, so an API under test can serve them, and it can
be switched to fail (:attr:`MemoryStorage.unavailable`) to test how callers handle a storage outage.
"""

from __future__ import annotations

import io
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, ClassVar

from enhanceit.errors import NotFound, StorageUnavailable
from enhanceit.storage.base import Storage, StoredObject, utc, validate_content_type, validate_key
from enhanceit.storage.signing import UrlSigner


@dataclass(frozen=True)
class _Entry:
    data: bytes
    content_type: str
    expires_at: datetime


class MemoryStorage(Storage):
    """A dict of key → bytes behind a lock."""

    name: ClassVar[str] = "memory"

    def __init__(self, public_url: str = "", secret: bytes | None = None) -> None:
        self.public_url = public_url
        self.signer = UrlSigner(secret or secrets.token_bytes(32))
        #: Set to make every call raise :class:`StorageUnavailable`, as a failing backend would.
        self.unavailable = False
        self._objects: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _available(self) -> None:
        if self.unavailable:
            raise StorageUnavailable("memory storage switched off")

    def stored_keys(self) -> list[str]:
        """Every stored key, sorted (for assertions in tests)."""
        with self._lock:
            return sorted(self._objects)

    def put_file(self, key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        validate_key(key)
        validate_content_type(content_type)
        expires = utc(expires_at)
        self._available()
        with self._open_source(path) as source:
            try:
                data = source.read()
            except OSError as exc:
                raise StorageUnavailable(f"memory put: cannot read {path.name}") from exc
        with self._lock:
            self._objects[key] = _Entry(data, content_type, expires)
        return StoredObject(key, len(data), content_type, expires)

    def head(self, key: str) -> StoredObject | None:
        validate_key(key)
        self._available()
        with self._lock:
            entry = self._objects.get(key)
        if entry is None:
            return None
        return StoredObject(key, len(entry.data), entry.content_type, entry.expires_at)

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        self._available()
        with self._lock:
            entry = self._objects.get(key)
        if entry is None:
            raise NotFound("no such result")
        return io.BytesIO(entry.data)

    def delete(self, key: str) -> None:
        validate_key(key)
        self._available()
        with self._lock:
            self._objects.pop(key, None)

    def url(self, key: str, expires_at: datetime, filename: str | None = None) -> str:
        validate_key(key)
        self._available()
        deadline = utc(expires_at)
        with self._lock:
            entry = self._objects.get(key)
        if entry is not None:
            deadline = min(deadline, entry.expires_at)
        return self.signer.url(self.public_url, key, deadline)

    def verify(self, key: str, expires: str, sig: str, now: datetime) -> None:
        self.signer.verify(key, expires, sig, now)

    def sweep(self, now: datetime) -> int:
        moment = utc(now)
        self._available()
        with self._lock:
            expired = [key for key, entry in self._objects.items() if entry.expires_at <= moment]
            for key in expired:
                del self._objects[key]
        return len(expired)

    def init(self) -> str:
        self._available()
        return "memory: nothing to create"

    def check(self) -> None:
        self._available()
