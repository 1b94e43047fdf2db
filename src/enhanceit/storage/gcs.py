"""Results in a Google Cloud Storage bucket.

google-cloud-storage is an optional extra, imported when a :class:`GcsStorage` is made:
``pip install 'enhanceit[gcs]'``. Credentials come from Application Default Credentials; the client is
made on first use (finding them may ask a metadata server). ``STORAGE_EMULATOR_HOST`` redirects
everything to an emulator (the library honours it). Objects live under ``ENHANCEIT_GCS_PREFIX``; expiry
is in the object's metadata and the bucket's lifecycle rule deletes them, so :meth:`GcsStorage.sweep` does
nothing.

Uploads are atomic on GCS: a single-request upload up to 8 MiB, a resumable one in 8 MiB chunks above
that; the object appears only when the last chunk is in.

Signed links are V4 (``GOOG4-RSA-SHA256``, at most seven days). Credentials with a private key (a service
account key file) sign locally. Credentials without one — Cloud Run's and GCE's metadata-server
credentials — cannot: then the library asks IAM's ``signBlob`` to sign as ``ENHANCEIT_GCS_SIGNER_EMAIL``
(default: the credentials' own service account), authenticated by the credentials' access token, which is
refreshed first. That account needs ``roles/iam.serviceAccountTokenCreator`` on itself.

A bucket that does not exist and credentials refused (401) or denied access (403) are
:class:`StorageMisconfigured` (fix the settings, nothing to wait out); every other failure is
:class:`StorageUnavailable`.
"""

from __future__ import annotations

import importlib
import os
import threading
from contextlib import AbstractContextManager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from enhanceit.config import GcsSettings, Settings
from enhanceit.errors import EnhanceItError, NotFound, StorageMisconfigured
from enhanceit.storage.base import (
    Storage,
    StoredObject,
    content_disposition,
    retention_days,
    url_seconds,
    utc,
    validate_content_type,
    validate_key,
)
from enhanceit.storage.boundary import foreign_errors, storage_error, translating_reader

INSTALL_HINT = "the gcs storage needs google-cloud-storage: pip install 'enhanceit[gcs]'"
META_EXPIRES = "expires-at"
#: Upload and read in 8 MiB pieces (a multiple of 256 KiB, as GCS requires): bounded memory per transfer.
CHUNK_SIZE = 8 << 20
#: Per-request timeout, and how long the library may keep retrying one call.
_TIMEOUT = 30.0
RETRY_SECONDS = 60.0
#: A readiness probe must answer fast, so it neither waits long nor retries.
_CHECK_TIMEOUT = 5.0


def _import_gcs() -> Any:
    try:
        return importlib.import_module("google.cloud.storage")
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc


class GcsStorage(Storage):
    name: ClassVar[str] = "gcs"

    def __init__(
        self,
        settings: GcsSettings,
        retention_seconds: int,
        *,
        client: Any | None = None,
        signing_credentials: Any | None = None,
        chunk_size: int = CHUNK_SIZE,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        """``client`` and ``signing_credentials`` replace the defaults (tests, or a key other than ADC's).

        ``retry_seconds`` bounds how long one call retries transient failures (0: no retries).
        """
        self._gcs = _import_gcs()
        import google.auth.exceptions
        from google.api_core import exceptions as api_exceptions
        from google.api_core.retry import Retry

        self.bucket_name = settings.bucket
        self.prefix = settings.prefix
        self.signer_email = settings.signer_email
        self.retention_seconds = retention_seconds
        self._client = client
        self._client_lock = threading.Lock()
        self._signing_credentials = signing_credentials
        self._chunk_size = chunk_size
        self._retry: Retry | None = (
            self._gcs.retry.DEFAULT_RETRY.with_timeout(retry_seconds) if retry_seconds > 0 else None
        )
        self._not_found: type[Exception] = api_exceptions.NotFound
        self._refused: tuple[type[Exception], ...] = (api_exceptions.Unauthorized, api_exceptions.Forbidden)
        self._foreign: tuple[type[BaseException], ...] = (
            api_exceptions.GoogleAPIError,
            google.auth.exceptions.GoogleAuthError,
            OSError,  # requests' and urllib3's connection errors are OSErrors too
            *_media_errors(),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> GcsStorage:
        return cls(settings.gcs, settings.retention_seconds)

    # -- the client, made on first use ---------------------------------------------------------------------

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                with self._boundary("connect"):
                    self._client = self._gcs.Client()
            return self._client

    def _bucket(self) -> Any:
        return self.client.bucket(self.bucket_name)

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    # -- the interface -------------------------------------------------------------------------------------

    def put_file(self, key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        name = self._name(key)
        validate_content_type(content_type)
        expires = utc(expires_at)
        with self._boundary("put"):
            blob = self._bucket().blob(name, chunk_size=self._chunk_size)
            blob.metadata = {META_EXPIRES: expires.isoformat()}
            size = os.stat(path).st_size
            with self._open_source(path) as source:
                try:
                    blob.upload_from_file(
                        source, size=size, content_type=content_type, retry=self._retry, timeout=_TIMEOUT
                    )
                except self._not_found as exc:  # an upload makes the object: only the bucket can be missing
                    raise StorageMisconfigured(f"{self.name}: {self._no_bucket()}") from exc
        return StoredObject(key, size, content_type, expires)

    def head(self, key: str) -> StoredObject | None:
        name = self._name(key)
        with self._boundary("head"):
            blob = self._bucket().get_blob(name, retry=self._retry, timeout=_TIMEOUT)
        if blob is None:
            return None
        return StoredObject(key, int(blob.size), blob.content_type or "", self._expiry(blob))

    def open(self, key: str) -> BinaryIO:
        name = self._name(key)
        with self._boundary("open"):
            blob = self._bucket().get_blob(name, retry=self._retry, timeout=_TIMEOUT)
            if blob is None:
                raise NotFound("no such result")
            # Pinned to the generation just read, so a concurrent re-put cannot mix two versions' bytes.
            reader = blob.open("rb", chunk_size=self._chunk_size, retry=self._retry, timeout=_TIMEOUT)
        return translating_reader(reader, self._translate)

    def delete(self, key: str) -> None:
        name = self._name(key)
        with self._boundary("delete"), suppress(self._not_found):
            self._bucket().blob(name).delete(retry=self._retry, timeout=_TIMEOUT)

    def url(self, key: str, expires_at: datetime, filename: str | None = None) -> str:
        name = self._name(key)
        seconds = url_seconds(expires_at)
        with self._boundary("url"):
            blob = self._bucket().blob(name)
            url: str = blob.generate_signed_url(
                version="v4",
                expiration=timedelta(seconds=seconds),
                method="GET",
                response_disposition=content_disposition(filename) if filename else None,
                **self._signing_args(),
            )
        return url

    def sweep(self, now: datetime) -> int:
        return 0  # the bucket's lifecycle rule deletes expired results

    def init(self) -> str:
        days = retention_days(self.retention_seconds)
        prefixes = [self.prefix] if self.prefix else []
        with self._boundary("init"):
            bucket = self.client.lookup_bucket(self.bucket_name, retry=self._retry, timeout=_TIMEOUT)
            created = bucket is None
            if bucket is None:
                bucket = self.client.create_bucket(self.bucket_name, retry=self._retry, timeout=_TIMEOUT)
            ours = {"action": {"type": "Delete"}, "condition": _condition(days, prefixes)}
            # Keep other rules (the bucket may be shared); replace any Delete rule on our prefix.
            rules = [dict(rule) for rule in bucket.lifecycle_rules if not _is_ours(rule, prefixes)]
            if [dict(rule) for rule in bucket.lifecycle_rules] != [*rules, ours]:
                bucket.lifecycle_rules = [*rules, ours]
                bucket.patch(retry=self._retry, timeout=_TIMEOUT)
        state = "created" if created else "exists"
        return f"gcs: bucket {self.bucket_name} {state}; lifecycle deletes {self.prefix}* after {days} day(s)"

    def check(self) -> None:
        with self._boundary("check"):
            found = self.client.lookup_bucket(self.bucket_name, retry=None, timeout=_CHECK_TIMEOUT)
        if found is None:
            raise StorageMisconfigured(f"{self.name}: {self._no_bucket()}")

    # -- helpers -------------------------------------------------------------------------------------------

    def _signing_args(self) -> dict[str, Any]:
        """How to sign: with the credentials' own private key, or through IAM ``signBlob`` (see module doc)."""
        from google.auth.credentials import Signing

        credentials = self._signing_credentials or self.client._credentials
        own_email = getattr(credentials, "signer_email", None)
        if isinstance(credentials, Signing) and self.signer_email in (None, own_email):
            return {"credentials": credentials}
        if not credentials.valid or not credentials.token:
            import google.auth.transport.requests

            credentials.refresh(google.auth.transport.requests.Request())
        email = self.signer_email or getattr(credentials, "service_account_email", None)
        if not email or not credentials.token:
            raise StorageMisconfigured("cannot sign links: set ENHANCEIT_GCS_SIGNER_EMAIL or use a service account")
        return {"credentials": credentials, "service_account_email": email, "access_token": credentials.token}

    def _expiry(self, blob: Any) -> datetime:
        stamp = (blob.metadata or {}).get(META_EXPIRES)
        if stamp:
            try:
                return utc(datetime.fromisoformat(stamp))
            except ValueError:
                pass
        # Not written by EnhanceIt: it lives as long as the lifecycle rule lets it.
        return utc(blob.time_created) + timedelta(days=retention_days(self.retention_seconds))

    def _no_bucket(self) -> str:
        return f"bucket {self.bucket_name} does not exist; run `enhanceit storage init`"

    def _diagnose(self, exc: BaseException) -> str | None:
        """What to fix when GCS refuses us for good (see :data:`enhanceit.storage.boundary.Diagnose`). A 404
        is not judged here: only where the call shows the bucket is what is missing (``put``, ``check``)."""
        if isinstance(exc, self._refused):
            code = getattr(exc, "code", None)
            return (
                f"access to bucket {self.bucket_name} was refused (HTTP {code}); check the credentials and that "
                "they may read, create and delete objects in it (roles/storage.objectAdmin)"
            )
        return None

    def _translate(self, exc: Exception) -> EnhanceItError | None:
        if isinstance(exc, self._not_found):
            return NotFound("no such result")  # deleted while being read
        if isinstance(exc, self._foreign):
            return storage_error(self.name, "read", exc, self._diagnose)
        return None

    def _boundary(self, operation: str) -> AbstractContextManager[None]:
        """Turn google-api-core, google-auth, transport and OS errors into :class:`StorageUnavailable` or,
        where waiting cannot help, :class:`StorageMisconfigured`."""
        return foreign_errors(self.name, operation, self._foreign, self._diagnose)


def _condition(days: int, prefixes: list[str]) -> dict[str, Any]:
    condition: dict[str, Any] = {"age": days}
    if prefixes:
        condition["matchesPrefix"] = prefixes
    return condition


def _is_ours(rule: Any, prefixes: list[str]) -> bool:
    action, condition = rule.get("action", {}), rule.get("condition", {})
    return bool(action.get("type") == "Delete" and condition.get("matchesPrefix", []) == prefixes)


def _media_errors() -> tuple[type[Exception], ...]:
    """Errors of resumable uploads and chunked downloads, which are not google-api-core's."""
    try:
        from google.cloud.storage.exceptions import (  # type: ignore[import-untyped,unused-ignore]
            DataCorruption,
            InvalidResponse,
        )
    except ImportError:  # google-cloud-storage 2.x raises google-resumable-media's
        from google.resumable_media import (  # type: ignore[import-untyped,unused-ignore,no-redef]
            DataCorruption,
            InvalidResponse,
        )
    return (InvalidResponse, DataCorruption)
