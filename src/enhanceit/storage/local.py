"""Results on the local disk, under ``DATA_DIR/results/<key>``, served by the API's ``/files`` route.

Layout: the object's bytes in ``<key>`` and its content type and expiry in a sidecar ``<key>.meta.json``
(keys may not end with that suffix). An object exists when both files do.

Publishing is atomic without locks: the bytes go to a hidden temporary file in the same folder (fsynced),
then the sidecar is replaced atomically, then ``os.replace`` moves the bytes into place. A failure before the
last step leaves no object (at most a sidecar without bytes, which the sweep removes once it expires); a
reader never sees half a file, and an old reader keeps the inode it opened. Re-putting a key swaps in
identical bytes and the new expiry.

:meth:`LocalStorage.sweep` deletes expired objects and stale temporary files. A re-put racing with the
sweep of the same, already expired key can lose the fresh copy; callers treat a missing result as expired.

A results folder that is a file, or one this process may not write in (its owner or mode), is
:class:`StorageMisconfigured`: no wait mends it. A read-only file system is :class:`StorageUnavailable`, like
any other failure: a disk remounted read-only after an error comes back writable, and jobs wait for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, ClassVar

from enhanceit.config import Settings
from enhanceit.errors import EnhanceItError, NotFound, StorageMisconfigured, StorageUnavailable
from enhanceit.storage.base import (
    RESERVED_SUFFIX,
    Storage,
    StoredObject,
    utc,
    validate_content_type,
    validate_key,
)
from enhanceit.storage.boundary import describe, foreign_errors, translating_reader
from enhanceit.storage.signing import UrlSigner, load_or_create_secret

logger = logging.getLogger(__name__)
RESULTS_FOLDER = "results"
_TMP_SUFFIX = ".tmp"
#: A temporary file untouched this long belongs to a put that died; the sweep removes it.
_STALE_TMP_SECONDS = 3600
_COPY_CHUNK = 1 << 20
#: What to fix, as clients and /readyz see it: no server path (the log says which folder).
_NOT_A_FOLDER = "the results folder (results/ in ENHANCEIT_DATA_DIR) is not a folder; move what is there"
_NOT_WRITABLE = "this process may not write in the results folder; fix its owner or mode"


class LocalStorage(Storage):
    """Files in one folder, with HMAC-signed ``/files`` links (see :mod:`enhanceit.storage.signing`)."""

    name: ClassVar[str] = "local"

    def __init__(self, root: Path, signer: UrlSigner, public_url: str = "") -> None:
        self.root = root
        self.signer = signer
        self.public_url = public_url

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStorage:
        if settings.signing_key is not None:
            secret = settings.signing_key.get_secret_value().encode()
        else:
            secret = load_or_create_secret(settings.data_dir)
        return cls(settings.data_dir / RESULTS_FOLDER, UrlSigner(secret), settings.public_url or "")

    # -- paths ---------------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(path.name + RESERVED_SUFFIX)

    # -- the interface -------------------------------------------------------------------------------------

    def put_file(self, key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        target = self._path(key)
        validate_content_type(content_type)
        expires = utc(expires_at)
        with self._boundary("put"):
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._open_source(path) as source:
                tmp = self._write_temporary(target, source)
            try:
                meta = {"content_type": content_type, "expires_at": expires.isoformat()}
                _write_atomic(self._meta_path(target), json.dumps(meta).encode())
                size = os.stat(tmp).st_size
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return StoredObject(key, size, content_type, expires)

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        with self._boundary("head"):
            meta = _read_meta(self._meta_path(path))
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                return None
        if meta is None:
            return None
        return StoredObject(key, size, meta[0], meta[1])

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        with self._boundary("open"):
            try:
                raw = open(path, "rb", buffering=0)  # noqa: SIM115 - returned to the caller
            except FileNotFoundError:
                raise NotFound("no such result") from None
        return translating_reader(raw, _translate)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._boundary("delete"):
            for victim in (path, self._meta_path(path)):  # bytes first: an object needs both
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(victim)

    def url(self, key: str, expires_at: datetime, filename: str | None = None) -> str:
        """A signed ``/files`` link; ``filename`` is not carried (the route may name downloads itself)."""
        deadline = utc(expires_at)
        with self._boundary("url"):
            meta = _read_meta(self._meta_path(self._path(key)))
        if meta is not None:
            deadline = min(deadline, meta[1])
        return self.signer.url(self.public_url, key, deadline)

    def verify(self, key: str, expires: str, sig: str, now: datetime) -> None:
        self.signer.verify(key, expires, sig, now)

    def sweep(self, now: datetime) -> int:
        moment = utc(now)
        removed = 0
        with self._boundary("sweep"):
            if not self.root.is_dir():
                return 0
            for folder, _dirs, files in os.walk(self.root):  # does not follow symbolic links
                for name in files:
                    path = Path(folder, name)
                    if name.endswith(RESERVED_SUFFIX):
                        meta = _read_meta(path)
                        if meta is None or meta[1] <= moment:
                            data = path.with_name(name[: -len(RESERVED_SUFFIX)])
                            for victim in (data, path):
                                with contextlib.suppress(FileNotFoundError):
                                    os.unlink(victim)
                            removed += 1
                    elif name.startswith(".") and name.endswith(_TMP_SUFFIX):
                        with contextlib.suppress(FileNotFoundError):
                            if time.time() - os.stat(path).st_mtime > _STALE_TMP_SECONDS:
                                os.unlink(path)
        return removed

    def init(self) -> str:
        with self._boundary("init"):
            self.root.mkdir(parents=True, exist_ok=True)
        return f"local: results in {self.root}; expired files are deleted by the sweep"

    def start(self) -> None:
        """The results folder: made at start, since a local volume has no operator step of its own."""
        self.init()

    def check(self) -> None:
        with self._boundary("check"):
            # The detail reaches /readyz: say what is wrong, and log where (no server path in a response).
            if not self.root.is_dir():
                if _blocked_by_a_file(self.root):
                    logger.warning("the results folder %s is not a folder", self.root)
                    raise StorageMisconfigured(f"{self.name}: {_NOT_A_FOLDER}")
                logger.warning("the results folder %s is missing", self.root)
                raise StorageUnavailable("the results folder is missing; run storage init")
            if _read_only_mount(self.root):
                logger.warning("the results folder %s is on a read-only file system", self.root)
                raise StorageUnavailable("the results folder is not writable (a read-only file system)")
            if not os.access(self.root, os.W_OK | os.X_OK):
                logger.warning("the results folder %s is not writable by this process", self.root)
                raise StorageMisconfigured(f"{self.name}: {_NOT_WRITABLE}")

    # -- helpers -------------------------------------------------------------------------------------------

    def _boundary(self, operation: str) -> AbstractContextManager[None]:
        """Turn file-system errors into :class:`StorageUnavailable`, or :class:`StorageMisconfigured` where the
        results folder itself is the trouble (EnhanceIt's own pass through)."""
        return foreign_errors(self.name, operation, (OSError,), self._diagnose)

    def _diagnose(self, exc: BaseException) -> str | None:
        """What to fix when no wait mends it (see :data:`enhanceit.storage.boundary.Diagnose`). A read-only
        mount raises EROFS, not a PermissionError: an outage, left to the retries."""
        if isinstance(exc, PermissionError):
            return _NOT_WRITABLE
        if isinstance(exc, OSError) and _blocked_by_a_file(self.root):
            return _NOT_A_FOLDER
        return None

    @staticmethod
    def _write_temporary(target: Path, source: BinaryIO) -> str:
        """Copy ``source`` into a hidden file beside ``target``, fsynced; removed again if anything fails."""
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=_TMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, _COPY_CHUNK)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp


def _blocked_by_a_file(path: Path) -> bool:
    """Whether ``path``, or else the nearest of its parents that exists, is something other than a folder:
    then no folder can be made there, however long one waits."""
    for place in (path, *path.parents):
        if place.exists():
            return not place.is_dir()
    return False


def _read_only_mount(path: Path) -> bool:
    """A read-only file system (``os.access`` says writable to root even there)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _translate(exc: Exception) -> EnhanceItError | None:
    return StorageUnavailable(f"local read: {describe(exc)}") if isinstance(exc, OSError) else None


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_meta(path: Path) -> tuple[str, datetime] | None:
    """(content type, expiry) from a sidecar; None when it is missing or unreadable as a sidecar."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        meta = json.loads(raw)
        content_type, expires = meta["content_type"], utc(datetime.fromisoformat(meta["expires_at"]))
    except (ValueError, KeyError, TypeError):
        return None  # damaged: the object is unusable, and the sweep removes it
    if not isinstance(content_type, str):
        return None
    return content_type, expires
