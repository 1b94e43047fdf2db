"""The package's public surface, the factory, optional extras, and the shared helpers."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest

import enhanceit.storage
from enhanceit.config import StorageName, load_settings
from enhanceit.storage import BACKENDS, GcsStorage, LocalStorage, S3Storage, make_storage
from enhanceit.storage.base import content_disposition, retention_days, url_seconds, validate_key
from enhanceit.storage.boundary import describe

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_the_public_surface_is_explicit() -> None:
    assert sorted(enhanceit.storage.__all__) == [
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
    for name in set(enhanceit.storage.__all__) - {"BACKENDS"}:  # a table has no module of its own
        assert getattr(enhanceit.storage, name).__module__.startswith("enhanceit.storage")


def test_the_factory_picks_the_configured_backend(tmp_path: Path) -> None:
    assert isinstance(make_storage(load_settings(data_dir=tmp_path)), LocalStorage)

    s3 = make_storage(load_settings(storage="s3", s3={"bucket": "b1-results", "endpoint_url": "http://127.0.0.1:9"}))
    assert isinstance(s3, S3Storage) and (s3.name, s3.bucket, s3.prefix) == ("s3", "b1-results", "results/")
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"

    gcs = make_storage(load_settings(storage="gcs", gcs={"bucket": "g-results", "signer_email": "a@b.example"}))
    assert isinstance(gcs, GcsStorage) and (gcs.name, gcs.bucket_name, gcs.signer_email) == (
        "gcs",
        "g-results",
        "a@b.example",
    )
    assert gcs._client is None  # made on first use: building the storage asks no server


def test_the_backends_are_listed_once_under_their_own_names() -> None:
    assert dict(BACKENDS) == {"local": LocalStorage, "s3": S3Storage, "gcs": GcsStorage}
    assert all(name == backend.name for name, backend in BACKENDS.items())
    # The settings' Literal (their schema: config may not import this package) names the same, in order.
    assert get_args(StorageName) == tuple(BACKENDS)
    with pytest.raises(ValueError, match="two storage backends are named 'local'"):
        enhanceit.storage._table(LocalStorage, S3Storage, LocalStorage)


@pytest.mark.parametrize(
    ("backend", "module", "extra"), [("s3", "boto3", "s3"), ("gcs", "google.cloud.storage", "gcs")]
)
def test_a_missing_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, backend: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=rf"pip install 'enhanceit\[{extra}\]'"):
        make_storage(load_settings(storage=backend))


def test_the_package_imports_without_the_cloud_libraries() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['boto3'] = sys.modules['google.cloud.storage'] = None; "
        "import enhanceit.storage; print(enhanceit.storage.make_storage.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "make_storage"


@pytest.mark.parametrize("key", ["ab/cdef.png", "a", "A-b_c.d/e.f.webp", "0123/4567/89ab.jpeg"])
def test_good_keys_pass(key: str) -> None:
    assert validate_key(key) == key


def test_lifecycle_days_round_up_and_are_at_least_one() -> None:
    assert [retention_days(s) for s in (60, 86_400, 86_401, 172_800)] == [1, 1, 2, 2]


def test_url_seconds_round_down_within_limits() -> None:
    assert url_seconds(NOW + timedelta(seconds=10.9), NOW) == 10
    assert url_seconds(NOW - timedelta(hours=1), NOW) == 1
    assert url_seconds(NOW + timedelta(days=30), NOW) == 7 * 86_400


def test_content_disposition_is_safe_for_a_header() -> None:
    header = content_disposition('a"b\r\nX-Evil: 1/../é.png')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="a_bX-Evil: 1_.._') and header.endswith("%C3%A9.png")


def test_error_descriptions_drop_urls() -> None:
    error = RuntimeError("PUT https://storage.example/upload?upload_id=SECRET failed: 503")
    assert describe(error) == "RuntimeError: PUT <url> failed: 503"
    assert describe(ValueError()) == "ValueError"


def test_error_messages_carry_no_server_path() -> None:
    """Defect 8: a 503's detail showed '/…/data/results/uploads/.job_….tmp' to the client."""
    error = OSError(30, "Read-only file system", "/srv/enhanceit/data/results/uploads/.job_x.tmp")
    assert describe(error) == "OSError: Read-only file system"
    foreign = RuntimeError("cannot open /var/lib/enhanceit/results/ab/cd.png for writing")
    assert describe(foreign) == "RuntimeError: cannot open <path> for writing"
