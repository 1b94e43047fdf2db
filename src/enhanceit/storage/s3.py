"""Results in an S3 bucket (AWS, or any S3-compatible server such as SeaweedFS or MinIO).

boto3 is an optional extra, imported when an :class:`S3Storage` is made: ``pip install 'enhanceit[s3]'``.
Credentials and region come from boto3's usual chain (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, instance
roles…); ``ENHANCEIT_S3_ENDPOINT_URL`` points at another server, addressed path-style (``host/bucket/key``),
which such servers need. Objects live under ``ENHANCEIT_S3_PREFIX`` in a private bucket; clients get
presigned GET links (SigV4, at most seven days).

Uploads go through boto3's managed transfer: one PUT for small files, a multipart upload for larger ones.
Either way S3 makes the object visible only when complete, and a failed multipart upload is aborted (the
lifecycle rule also aborts any left behind after a day). Expiry is stored in the object's metadata
(``x-amz-meta-expires-at``) and ``Expires`` header; the bucket's lifecycle rule does the deleting, so
:meth:`S3Storage.sweep` has nothing to do. With AWS, grant ``s3:ListBucket`` too: without it S3 answers 403
instead of 404 for a missing key.

A bucket that does not exist, credentials the server refuses and access it denies are
:class:`StorageMisconfigured` (fix the settings, nothing to wait out); every other failure is
:class:`StorageUnavailable`.
"""

from __future__ import annotations

import importlib
import os
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from enhanceit.config import S3Settings, Settings
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

INSTALL_HINT = "the s3 storage needs boto3: pip install 'enhanceit[s3]'"
META_EXPIRES = "expires-at"
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
#: Refusals that waiting cannot end. A HEAD answer has no body, so its code is the bare status: "403" there
#: is a refusal too (credentials, permissions, or a clock far off).
_REFUSED_CREDENTIALS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch"})
_DENIED = frozenset({"AccessDenied", "AllAccessDisabled", "403"})
_MIB = 1 << 20


def _import_boto3() -> Any:
    try:
        return importlib.import_module("boto3")
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc


def make_s3_client(settings: S3Settings, *, max_attempts: int = 3, **client_args: Any) -> Any:
    """A boto3 S3 client for ``settings``; ``client_args`` (e.g. explicit keys) go to ``Session.client``."""
    boto3 = _import_boto3()
    from botocore.config import Config  # type: ignore[import-untyped]

    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path"} if settings.endpoint_url else {},
    )
    # A session of its own: creating clients from boto3's shared default session is not thread-safe.
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config, **client_args
    )


class S3Storage(Storage):
    name: ClassVar[str] = "s3"

    def __init__(
        self,
        settings: S3Settings,
        retention_seconds: int,
        *,
        client: Any | None = None,
        multipart_threshold: int = 8 * _MIB,
    ) -> None:
        _import_boto3()
        from boto3.exceptions import Boto3Error  # type: ignore[import-untyped]
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.region = settings.region
        self.retention_seconds = retention_seconds
        self.client = client if client is not None else make_s3_client(settings)
        self._client_error: type[Exception] = ClientError
        self._foreign: tuple[type[BaseException], ...] = (
            ClientError,
            BotoCoreError,
            Boto3Error,
            OSError,
        )
        # Parts are held in memory while they upload: 4 x 8 MiB at most, whatever the file's size.
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=max(5 * _MIB, multipart_threshold),
            max_concurrency=4,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        return cls(settings.s3, settings.retention_seconds)

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put_file(self, key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        name = self._name(key)
        validate_content_type(content_type)
        expires = utc(expires_at)
        extra = {"ContentType": content_type, "Expires": expires, "Metadata": {META_EXPIRES: expires.isoformat()}}
        with self._boundary("put"):
            size = os.stat(path).st_size
            with self._open_source(path) as source:
                self.client.upload_fileobj(source, self.bucket, name, ExtraArgs=extra, Config=self._transfer)
        return StoredObject(key, size, content_type, expires)

    def head(self, key: str) -> StoredObject | None:
        name = self._name(key)
        with self._boundary("head"):
            try:
                answer = self.client.head_object(Bucket=self.bucket, Key=name)
            except self._client_error as exc:
                if self._missing(exc):
                    return None
                raise
        return StoredObject(key, int(answer["ContentLength"]), answer.get("ContentType", ""), self._expiry(answer))

    def open(self, key: str) -> BinaryIO:
        name = self._name(key)
        with self._boundary("open"):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=name)
            except self._client_error as exc:
                if self._missing(exc):
                    raise NotFound("no such result") from None
                raise
        return translating_reader(answer["Body"], self._translate)

    def delete(self, key: str) -> None:
        name = self._name(key)
        with self._boundary("delete"):
            self.client.delete_object(Bucket=self.bucket, Key=name)  # S3 answers 204 for a missing key too

    def url(self, key: str, expires_at: datetime, filename: str | None = None) -> str:
        """A presigned GET, signed locally (no request); valid for the whole seconds left, at least one."""
        params = {"Bucket": self.bucket, "Key": self._name(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        with self._boundary("url"):
            url: str = self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=url_seconds(expires_at)
            )
        return url

    def sweep(self, now: datetime) -> int:
        return 0  # the bucket's lifecycle rule deletes expired results

    def init(self) -> str:
        days = retention_days(self.retention_seconds)
        rule_id = "enhanceit-" + (self.prefix.strip("/").replace("/", "-") or "all")
        rule = {
            "ID": rule_id,
            "Filter": {"Prefix": self.prefix},
            "Status": "Enabled",
            "Expiration": {"Days": days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
        with self._boundary("init"):
            created = self._ensure_bucket()
            try:
                current = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", [])
            except self._client_error as exc:
                if _code(exc) != "NoSuchLifecycleConfiguration":
                    raise
                current = []
            # Keep other rules (the bucket may be shared); replace only ours.
            rules = [other for other in current if other.get("ID") != rule_id] + [rule]
            self.client.put_bucket_lifecycle_configuration(Bucket=self.bucket, LifecycleConfiguration={"Rules": rules})
        state = "created" if created else "exists"
        return f"s3: bucket {self.bucket} {state}; rule {rule_id} deletes {self.prefix}* after {days} day(s)"

    def check(self) -> None:
        with self._boundary("check"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except self._client_error as exc:
                if self._missing(exc):  # HEAD on the bucket: only the bucket can be missing
                    raise StorageMisconfigured(f"{self.name}: {self._no_bucket()}") from exc
                raise

    # -- helpers -------------------------------------------------------------------------------------------

    def _ensure_bucket(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except self._client_error as exc:
            if not self._missing(exc):
                raise
        args: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":  # us-east-1 refuses its own name as a constraint
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**args)
        except self._client_error as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":  # another process won the race
                raise
            return False
        return True

    def _expiry(self, answer: dict[str, Any]) -> datetime:
        stamp = answer.get("Metadata", {}).get(META_EXPIRES)
        if stamp:
            try:
                return utc(datetime.fromisoformat(stamp))
            except ValueError:
                pass
        # Not written by EnhanceIt: it lives as long as the lifecycle rule lets it.
        modified: datetime = answer["LastModified"]
        return utc(modified) + timedelta(days=retention_days(self.retention_seconds))

    def _missing(self, exc: Exception) -> bool:
        return _code(exc) in _MISSING_CODES

    def _no_bucket(self) -> str:
        return f"bucket {self.bucket} does not exist; run `enhanceit storage init`"

    def _diagnose(self, exc: BaseException) -> str | None:
        """What to fix when S3 refuses us for good (see :data:`enhanceit.storage.boundary.Diagnose`)."""
        code = _code(exc)
        if code == "NoSuchBucket":
            return self._no_bucket()
        if code == "BucketAlreadyExists":  # from init: the name is another account's
            return f"bucket name {self.bucket} belongs to another account; choose another ENHANCEIT_S3_BUCKET"
        if code in _REFUSED_CREDENTIALS:
            return f"the server refused the credentials ({code}); check the access key id and the secret key"
        if code in _DENIED:
            return (
                f"access to bucket {self.bucket} was denied ({code}); check that the credentials may list it "
                "and get, put and delete objects in it"
            )
        return None

    def _translate(self, exc: Exception) -> EnhanceItError | None:
        if isinstance(exc, self._foreign):
            return storage_error(self.name, "read", exc, self._diagnose)
        return None

    def _boundary(self, operation: str) -> AbstractContextManager[None]:
        """Turn boto3, botocore and OS errors into :class:`StorageUnavailable` or, where waiting cannot help,
        :class:`StorageMisconfigured`."""
        return foreign_errors(self.name, operation, self._foreign, self._diagnose)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))
