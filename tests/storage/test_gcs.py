"""What only the GCS backend does, against the GCS emulator: V4 signing, lifecycle, chunked uploads, IAM.

The emulator serves signed URLs without checking their signature, so the signature is verified here with
the throwaway key's public half, exactly as GCS would compute it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import httpx
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from google.api_core import exceptions as api_exceptions
from google.cloud.storage.exceptions import InvalidResponse

from enhanceit.config import GcsSettings
from enhanceit.errors import NotFound, StorageUnavailable
from enhanceit.storage.gcs import GcsStorage
from tests.storage import servers
from tests.storage.conftest import FailingReader, make_test_gcs_client, unique_prefix, write_file

KIB = 1 << 10


def later(seconds: int = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture
def gcs(gcs_emulator: servers.Server, gcs_bucket: str, service_account: Any) -> GcsStorage:
    return GcsStorage(
        GcsSettings(bucket=gcs_bucket, prefix=unique_prefix()),
        86_400,
        client=make_test_gcs_client(gcs_emulator.url),
        signing_credentials=service_account,
        chunk_size=256 * KIB,
        retry_seconds=0,
    )


def verify_v4_signature(url: str, public_key: Any) -> None:
    """Recompute GCS's V4 string-to-sign from the URL and check its RSA signature (raises if wrong)."""
    parts = urlsplit(url)
    query, _, signature = parts.query.rpartition("&X-Goog-Signature=")
    params = httpx.URL(url).params
    canonical = "\n".join(
        ["GET", parts.path, query, f"host:{parts.netloc}\n", params["X-Goog-SignedHeaders"], "UNSIGNED-PAYLOAD"]
    )
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        ["GOOG4-RSA-SHA256", params["X-Goog-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    public_key.verify(bytes.fromhex(signature), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_the_signed_url_is_v4_and_serves_the_bytes(gcs: GcsStorage, tmp_path: Path, rsa_key: Any) -> None:
    source = write_file(tmp_path, 5000)
    gcs.put_file("ab/signed.png", source, "image/png", later())
    url = gcs.url("ab/signed.png", later(600), filename="photo 2x.png")
    params = httpx.URL(url).params
    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert params["X-Goog-Expires"] in ("599", "600")
    assert params["X-Goog-Credential"].startswith("signer@enhanceit-test.iam.gserviceaccount.com/")
    verify_v4_signature(url, rsa_key.public_key())
    answer = httpx.get(url)
    assert answer.status_code == 200
    assert answer.content == source.read_bytes()
    assert answer.headers["content-disposition"].startswith('attachment; filename="photo 2x.png"')


def test_a_tampered_url_fails_signature_verification(gcs: GcsStorage, rsa_key: Any) -> None:
    from cryptography.exceptions import InvalidSignature

    url = gcs.url("ab/signed.png", later(600))
    with pytest.raises(InvalidSignature):
        verify_v4_signature(url.replace("X-Goog-Expires=", "X-Goog-Expires=9"), rsa_key.public_key())
    with pytest.raises(InvalidSignature):
        verify_v4_signature(url.replace("ab/signed.png", "ab/other.png"), rsa_key.public_key())


def test_the_url_never_outlives_seven_days(gcs: GcsStorage) -> None:
    assert httpx.URL(gcs.url("ab/x.png", later(30 * 86_400))).params["X-Goog-Expires"] == str(7 * 86_400)


def test_objects_carry_their_type_and_expiry(gcs: GcsStorage, tmp_path: Path) -> None:
    expires = datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    gcs.put_file("ab/meta.webp", write_file(tmp_path, 100), "image/webp", expires)
    blob = gcs.client.bucket(gcs.bucket_name).get_blob(f"{gcs.prefix}ab/meta.webp")
    assert blob.content_type == "image/webp"
    assert blob.metadata == {"expires-at": expires.isoformat()}


def test_a_chunked_upload_round_trips(gcs: GcsStorage, tmp_path: Path) -> None:
    source = write_file(tmp_path, 9 << 20)  # above 8 MiB: a resumable upload in 256 KiB chunks
    gcs.put_file("ab/big.png", source, "image/png", later())
    with gcs.open("ab/big.png") as stream:
        assert stream.read() == source.read_bytes()


def test_a_chunked_upload_that_fails_half_way_publishes_nothing(
    gcs: GcsStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_file(tmp_path, 9 << 20)
    reader = FailingReader(source, fail_at=5 << 20)
    monkeypatch.setattr(gcs, "_open_source", lambda path: reader)
    with pytest.raises(StorageUnavailable):
        gcs.put_file("ab/big.png", source, "image/png", later())
    assert reader.failed and reader.tell() > 4 << 20  # chunks had gone out before the failure
    assert gcs.head("ab/big.png") is None


def test_an_object_deleted_before_it_is_read_is_not_found(gcs: GcsStorage, tmp_path: Path) -> None:
    gcs.put_file("ab/gone.png", write_file(tmp_path, 100), "image/png", later())
    stream = gcs.open("ab/gone.png")
    gcs.delete("ab/gone.png")
    with stream, pytest.raises(NotFound):
        stream.read()


def test_init_creates_the_bucket_and_its_lifecycle_rule_idempotently(gcs_emulator: servers.Server) -> None:
    bucket = f"init-{unique_prefix().strip('/')}"
    client = make_test_gcs_client(gcs_emulator.url)
    storage = GcsStorage(GcsSettings(bucket=bucket), 90_000, client=client, retry_seconds=0)  # 25 h: 2 days
    with pytest.raises(StorageUnavailable, match="does not exist"):
        storage.check()

    assert "created" in storage.init()
    storage.check()
    ours = {"action": {"type": "Delete"}, "condition": {"age": 2, "matchesPrefix": ["results/"]}}
    assert list(client.get_bucket(bucket).lifecycle_rules) == [ours]

    found = client.get_bucket(bucket)
    found.add_lifecycle_delete_rule(age=30, matches_prefix=["logs/"])
    found.patch()
    assert "exists" in storage.init()
    rules = list(client.get_bucket(bucket).lifecycle_rules)
    assert len(rules) == 2 and rules.count(ours) == 1


def test_the_client_honours_storage_emulator_host(
    emulator_environment: None, gcs_emulator: servers.Server, gcs_bucket: str
) -> None:
    storage = GcsStorage(GcsSettings(bucket=gcs_bucket), 86_400)
    storage.check()
    assert storage.client.api_endpoint == gcs_emulator.url


class MetadataServerCredentials:
    """Like Cloud Run's credentials: no private key, an access token once refreshed."""

    universe_domain = "googleapis.com"

    def __init__(self, fail: bool = False) -> None:
        self.token: str | None = None
        self.valid = False
        self.service_account_email = "default"
        self.fail = fail

    def refresh(self, request: Any) -> None:
        if self.fail:
            raise google.auth.exceptions.RefreshError("metadata server unreachable")
        self.token, self.valid = "ya29.test-token", True
        self.service_account_email = "runner@enhanceit-test.iam.gserviceaccount.com"


@pytest.mark.parametrize("signer_email", [None, "signer@other.iam.gserviceaccount.com"])
def test_without_a_private_key_urls_are_signed_through_iam(
    gcs: GcsStorage, monkeypatch: pytest.MonkeyPatch, signer_email: str | None
) -> None:
    asked: list[tuple[str, str]] = []

    def sign_blob(message: str, access_token: str, service_account_email: str, universe_domain: str) -> str:
        asked.append((access_token, service_account_email))
        return "c2lnbmF0dXJl"  # base64 of b"signature"

    monkeypatch.setattr("google.cloud.storage._signing._sign_message", sign_blob)
    gcs.signer_email = signer_email
    gcs._signing_credentials = MetadataServerCredentials()
    url = gcs.url("ab/x.png", later(60))
    email = signer_email or "runner@enhanceit-test.iam.gserviceaccount.com"
    assert asked == [("ya29.test-token", email)]
    params = httpx.URL(url).params
    assert params["X-Goog-Credential"].startswith(email + "/")
    assert params["X-Goog-Signature"] == b"signature".hex()


def test_signing_fails_cleanly_when_the_token_cannot_be_had(gcs: GcsStorage) -> None:
    gcs._signing_credentials = MetadataServerCredentials(fail=True)
    with pytest.raises(StorageUnavailable) as caught:
        gcs.url("ab/x.png", later(60))
    assert isinstance(caught.value.__cause__, google.auth.exceptions.RefreshError)


def test_every_call_fails_cleanly_when_the_server_is_down(tmp_path: Path, service_account: Any) -> None:
    client = make_test_gcs_client(f"http://127.0.0.1:{servers.closed_port()}")
    storage = GcsStorage(GcsSettings(), 86_400, client=client, retry_seconds=0)
    source = write_file(tmp_path, 10)
    calls = [
        storage.check,
        storage.init,
        lambda: storage.put_file("ab/x.png", source, "image/png", later()),
        lambda: storage.head("ab/x.png"),
        lambda: storage.open("ab/x.png"),
        lambda: storage.delete("ab/x.png"),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert isinstance(caught.value.__cause__, requests.exceptions.ConnectionError)


class _Exploding:
    """A GCS client (and its buckets and blobs) whose every call that talks to the server raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def bucket(self, *args: Any, **kwargs: Any) -> _Exploding:
        return self

    def blob(self, *args: Any, **kwargs: Any) -> _Exploding:
        return self

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return call


@pytest.mark.parametrize(
    "error",
    [
        api_exceptions.ServiceUnavailable("down"),
        api_exceptions.Forbidden("no"),
        api_exceptions.TooManyRequests("slow down"),
        google.auth.exceptions.TransportError("no route"),
        google.auth.exceptions.RefreshError("expired"),
        requests.exceptions.ConnectionError("refused"),
        InvalidResponse(None, "bad chunk"),
        ConnectionResetError(104, "reset"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_foreign_errors_become_storage_unavailable(error: Exception, tmp_path: Path, service_account: Any) -> None:
    storage = GcsStorage(GcsSettings(), 86_400, client=_Exploding(error), signing_credentials=service_account)
    source = write_file(tmp_path, 10)
    calls = [
        storage.check,
        storage.init,
        lambda: storage.put_file("ab/x.png", source, "image/png", later()),
        lambda: storage.head("ab/x.png"),
        lambda: storage.open("ab/x.png"),
        lambda: storage.delete("ab/x.png"),
        lambda: storage.url("ab/x.png", later()),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert caught.value.__cause__ is error


def test_a_read_that_fails_mid_stream_becomes_storage_unavailable() -> None:
    class Reader:
        def read(self, size: int = -1) -> bytes:
            raise api_exceptions.ServiceUnavailable("dropped")

        def close(self) -> None:
            pass

    class Blob:
        def open(self, *args: Any, **kwargs: Any) -> Reader:
            return Reader()

    class Client(_Exploding):
        def get_blob(self, *args: Any, **kwargs: Any) -> Blob:
            return Blob()

    storage = GcsStorage(GcsSettings(), 86_400, client=Client(RuntimeError("unused")))
    with storage.open("ab/x.png") as stream, pytest.raises(StorageUnavailable):
        stream.read()
