"""Where results are kept until they expire: one interface, a backend per place.

``make_storage(settings)`` picks the backend named by ``ENHANCEIT_STORAGE`` from :data:`BACKENDS`:

* ``local`` — files under ``DATA_DIR/results``, served by the API's ``/files`` route with HMAC-signed links;
* ``s3`` — an S3 bucket (AWS, SeaweedFS, MinIO…), presigned links; needs ``enhanceit[s3]``;
* ``gcs`` — a Google Cloud Storage bucket, V4 signed links; needs ``enhanceit[gcs]``.

:class:`MemoryStorage` is the test double. The cloud backends import their libraries only when made, so
this package imports without them (the modules import them inside).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from enhanceit.config import Settings
from enhanceit.storage.base import Storage, StoredObject, validate_key
from enhanceit.storage.gcs import GcsStorage
from enhanceit.storage.in_memory import MemoryStorage
from enhanceit.storage.local import LocalStorage
from enhanceit.storage.s3 import S3Storage
from enhanceit.storage.signing import UrlSigner

__all__ = [
    "BACKENDS",
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


def _table(*backends: type[Storage]) -> Mapping[str, type[Storage]]:
    table: dict[str, type[Storage]] = {}
    for backend in backends:
        if backend.name in table:
            raise ValueError(f"two storage backends are named {backend.name!r}")
        table[backend.name] = backend
    return MappingProxyType(table)


#: Every backend ``ENHANCEIT_STORAGE`` can name, under its own :attr:`Storage.name`: the one list of them.
#: The settings spell the names again as a ``Literal`` (their schema; config sits below this package and may
#: not import it), and a test checks that the two agree.
BACKENDS: Mapping[str, type[Storage]] = _table(LocalStorage, S3Storage, GcsStorage)


def make_storage(settings: Settings) -> Storage:
    """The backend ``settings.storage`` names, configured from ``settings``.

    Raises ImportError with an install hint when a cloud backend's library is missing, and
    :class:`~enhanceit.errors.StorageUnavailable` when the local signing key cannot be read or created.
    """
    backend = BACKENDS.get(settings.storage)
    if backend is None:
        raise ValueError(f"unknown storage {settings.storage!r}")
    return backend.from_settings(settings)
