"""Where results are kept until they expire: one interface, a backend per place.

``make_storage(settings)`` picks the backend named by ``ENHANCEIT_STORAGE``:

* ``local`` — files under ``DATA_DIR/results``, served by the API's ``/files`` route with HMAC-signed links;
* ``s3`` — an S3 bucket (AWS, SeaweedFS, MinIO…), presigned links; needs ``enhanceit[s3]``;
* ``gcs`` — a Google Cloud Storage bucket, V4 signed links; needs ``enhanceit[gcs]``.

:class:`MemoryStorage` is the test double. The cloud backends import their libraries only when made, so
this package imports without them (the modules import them inside).
"""

from __future__ import annotations

from enhanceit.config import Settings
from enhanceit.storage.base import Storage, StoredObject, validate_key
from enhanceit.storage.gcs import GcsStorage
from enhanceit.storage.in_memory import MemoryStorage
from enhanceit.storage.local import LocalStorage
from enhanceit.storage.s3 import S3Storage
from enhanceit.storage.signing import UrlSigner

__all__ = [
    "GcsStorage",
    "LocalStorage",
    "MemoryStorage",
    "S3Storage",
    "Storage",
    "StoredObject",
    "UrlSigner",
    "make_storage",
    "validate_key",
]


def make_storage(settings: Settings) -> Storage:
    """The backend ``settings.storage`` names, configured from ``settings``.

    Raises ImportError with an install hint when a cloud backend's library is missing, and
    :class:`~enhanceit.errors.StorageUnavailable` when the local signing key cannot be read or created.
    """
    if settings.storage == "local":
        return LocalStorage.from_settings(settings)
    if settings.storage == "s3":
        return S3Storage(settings.s3, settings.retention_seconds)
    if settings.storage == "gcs":
        return GcsStorage(settings.gcs, settings.retention_seconds)
    raise ValueError(f"unknown storage {settings.storage!r}")
