"""The storage interface: where finished results live until they expire, and how clients reach them.

One :class:`Storage` per backend (``local``, ``s3``, ``gcs`` and the in-memory test double). Everything
above this package sees only this interface and EnhanceIt's own errors: each backend translates its
library's exceptions at its boundary (:class:`StorageUnavailable` for a failing backend,
:class:`StorageMisconfigured` for one that refuses us until its settings change, :class:`NotFound` for a
missing object), so a queue worker can retry the first, fail a job at once for the second, and an API
answer 404 for the third.

Keys are chosen by the caller, content-addressed (``ab/cdef….png``), and restricted to a small URL-safe
alphabet (:func:`validate_key`): a key is then the same string in a file path, an object name and a URL,
and no key can climb out of its folder or collide with a backend's own bookkeeping files.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar
from urllib.parse import quote

from enhanceit.errors import InvalidRequest, NotFound, StorageUnavailable

if TYPE_CHECKING:
    from enhanceit.config import Settings

#: Longest key accepted; far more than ``ab/<sha256>.webp`` needs, far less than any backend's limit.
MAX_KEY_LENGTH = 512
#: Segments start with a letter, digit, ``_`` or ``-``: never ``.``, so ``..`` and hidden files are impossible.
_KEY_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
#: Suffix of the local backend's sidecar files, so no key may end with it.
RESERVED_SUFFIX = ".meta.json"
#: SigV4 and GCS V4 signatures cannot last longer than seven days.
MAX_URL_SECONDS = 7 * 24 * 3600
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class StoredObject:
    """What a backend knows about one stored result (times are timezone-aware UTC)."""

    key: str
    size: int
    content_type: str
    expires_at: datetime


def blocks(stream: BinaryIO, size: int = 1 << 16) -> Iterator[bytes]:
    """A stored object's stream (:meth:`Storage.open`) a block at a time, closed at its end or when the reader
    stops: what a response streams to its client."""
    with stream:
        while block := stream.read(size):
            yield block


class Storage(ABC):
    """Results storage: publish whole objects, read them back, hand out expiring links, forget them.

    Every method raises :class:`StorageUnavailable` when the backend fails (its subclass
    :class:`StorageMisconfigured` when waiting cannot help) and nothing foreign; methods given a malformed key
    raise :class:`InvalidRequest`. Implementations are safe to share between threads.
    """

    #: The backend's name as ``ENHANCEIT_STORAGE`` spells it ("memory" for the test double); the storage
    #: package's ``BACKENDS`` table is keyed by it.
    name: ClassVar[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        """The backend configured from ``settings``: what ``make_storage`` calls for the backend named.

        Every backend in ``BACKENDS`` overrides it; the test double is made directly.
        """
        raise TypeError(f"the {cls.name} storage is not made from settings")

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        """Publish the file at ``path`` under ``key``: the whole object becomes visible at once, or nothing.

        Re-putting a key replaces it (same content, since keys are content-addressed) and takes the new
        ``expires_at``.
        """

    @abstractmethod
    def head(self, key: str) -> StoredObject | None:
        """The object's metadata, or None when there is no such object."""

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A stream of the object's bytes (close it); :class:`NotFound` when there is no such object."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    @abstractmethod
    def url(self, key: str, expires_at: datetime, filename: str | None = None) -> str:
        """A link that serves the object to anyone holding it until ``expires_at``, and never after.

        The caller passes an ``expires_at`` no later than the object's own (the S3 and GCS backends sign
        without asking the server; local and memory clamp to the stored expiry). Links last at most seven
        days (:data:`MAX_URL_SECONDS`, the cloud signatures' limit). ``filename`` asks the server to send
        ``Content-Disposition: attachment`` with that name, where the backend can (S3, GCS).
        """

    @abstractmethod
    def sweep(self, now: datetime) -> int:
        """Delete objects that expired by ``now`` and return how many; 0 where a lifecycle rule does it."""

    @abstractmethod
    def init(self) -> str:
        """Create the bucket or folder and the rule that deletes results after the retention.

        Idempotent; returns one line saying what it did, for the operator.
        """

    def start(self) -> None:
        """What a process that serves from this backend prepares when it starts: nothing here (buckets
        are made by ``enhanceit storage init``, an operator's step)."""

    @abstractmethod
    def check(self) -> None:
        """Readiness probe: one cheap call proving the backend answers; :class:`StorageUnavailable` if not,
        :class:`StorageMisconfigured` (with what to fix) when it will not answer until its settings change."""

    def verify(self, key: str, expires: str, sig: str, now: datetime) -> None:
        """Check a ``/files/{key}?expires=…&sig=…`` link before the API serves it with :meth:`open`.

        Only backends whose links point at the service itself (local, memory) accept any; the others'
        links point at the cloud, so here every such link is unknown.
        """
        raise NotFound(f"{self.name} storage serves no /files links")

    def _open_source(self, path: Path) -> BinaryIO:
        """Open the file to publish. One place for it, so tests can make the read fail half-way."""
        try:
            return open(path, "rb")  # the caller closes it
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {path.name}: {exc.strerror or exc}") from exc

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def validate_key(key: str) -> str:
    """Return ``key`` if it is a well-formed storage key, else raise :class:`InvalidRequest`.

    Refuses empty keys, absolute paths, backslashes, ``..`` and hidden segments, characters outside
    ``[A-Za-z0-9._-/]`` and the local backend's reserved sidecar suffix.
    """
    if (
        not isinstance(key, str)
        or len(key) > MAX_KEY_LENGTH
        or not _KEY_RE.fullmatch(key)
        or key.endswith(RESERVED_SUFFIX)
    ):
        raise InvalidRequest("invalid storage key")
    return key


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are refused because their meaning depends on the machine."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("storage times must be timezone-aware")
    return moment.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def validate_content_type(content_type: str) -> str:
    """Refuse content types that could smuggle a header (CR/LF) or are empty."""
    if not content_type or len(content_type) > 255 or not content_type.isprintable():
        raise InvalidRequest("invalid content type")
    return content_type


def url_seconds(expires_at: datetime, now: datetime | None = None) -> int:
    """Whole seconds from now until ``expires_at``: rounded down (never later), at least 1, at most 7 days."""
    left = (utc(expires_at) - (now or now_utc())).total_seconds()
    return max(1, min(MAX_URL_SECONDS, math.floor(left)))


def retention_days(retention_seconds: int) -> int:
    """Lifecycle rules count whole days: round the retention up, and keep at least one day."""
    return max(1, math.ceil(retention_seconds / SECONDS_PER_DAY))


def content_disposition(filename: str) -> str:
    """``attachment`` with ``filename`` made safe for a header: an ASCII fallback plus RFC 5987 UTF-8."""
    name = filename.replace("/", "_").replace("\\", "_")
    name = "".join(ch for ch in name if ch.isprintable()) or "download"
    fallback = "".join(ch if ch.isascii() and ch not in '"%' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
