"""What only the S3 backend does, against a real SeaweedFS: presigned expiry, privacy, lifecycle, multipart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from enhanceit.config import S3Settings
from enhanceit.errors import StorageUnavailable
from enhanceit.storage.s3 import S3Storage, make_s3_client
from tests.storage import servers
from tests.storage.conftest import FailingReader, make_test_s3_client, unique_prefix, write_file

MIB = 1 << 20


def later(seconds: int = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture
def s3(seaweedfs: servers.Server, s3_bucket: str) -> S3Storage:
    settings = S3Settings(endpoint_url=seaweedfs.url, bucket=s3_bucket, region="us-east-1", prefix=unique_prefix())
    return S3Storage(settings, 86_400, client=make_test_s3_client(seaweedfs.url), multipart_threshold=5 * MIB)


def test_a_presigned_url_stops_working_when_it_expires(s3: S3Storage, tmp_path: Path) -> None:
    """SeaweedFS enforces X-Amz-Expires, so this is checked for real, not just read off the URL."""
    s3.put_file("ab/short.png", write_file(tmp_path, 1000), "image/png", later())
    # 3 s asked: SigV4 counts from X-Amz-Date, which is rounded down to the second, and the whole
    # seconds left are rounded down too, so the link lives 1 to 3 s.
    expires_at = datetime.now(UTC) + timedelta(seconds=3)
    url = httpx.URL(s3.url("ab/short.png", expires_at))
    signed_at = datetime.strptime(url.params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    valid_until = signed_at + timedelta(seconds=int(url.params["X-Amz-Expires"]))
    assert valid_until <= expires_at  # rounded down, never later
    assert httpx.get(url).status_code == 200
    time.sleep(max(0.0, (valid_until - datetime.now(UTC)).total_seconds()) + 1.1)
    assert httpx.get(url).status_code == 403


def test_the_url_never_outlives_seven_days_nor_goes_below_one_second(s3: S3Storage) -> None:
    assert httpx.URL(s3.url("ab/x.png", later(30 * 86_400))).params["X-Amz-Expires"] == str(7 * 86_400)
    assert httpx.URL(s3.url("ab/x.png", later(-60))).params["X-Amz-Expires"] == "1"


def test_the_bucket_is_private(s3: S3Storage, seaweedfs: servers.Server, tmp_path: Path) -> None:
    s3.put_file("ab/private.png", write_file(tmp_path, 100), "image/png", later())
    assert httpx.get(f"{seaweedfs.url}/{s3.bucket}/{s3.prefix}ab/private.png").status_code == 403
    assert httpx.get(f"{seaweedfs.url}/{s3.bucket}").status_code == 403


def test_a_filename_makes_the_download_an_attachment(s3: S3Storage, tmp_path: Path) -> None:
    s3.put_file("ab/named.png", write_file(tmp_path, 100), "image/png", later())
    answer = httpx.get(s3.url("ab/named.png", later(60), filename='résumé "2x".png'))
    assert answer.status_code == 200
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="r_sum_ _2x_.png"')
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%222x%22.png" in disposition


def test_objects_carry_their_type_and_expiry(s3: S3Storage, tmp_path: Path) -> None:
    expires = datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    s3.put_file("ab/meta.webp", write_file(tmp_path, 100), "image/webp", expires)
    answer = s3.client.head_object(Bucket=s3.bucket, Key=f"{s3.prefix}ab/meta.webp")
    assert answer["ContentType"] == "image/webp"
    assert answer["Metadata"]["expires-at"] == expires.isoformat()
    assert answer["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Mon, 03 Feb 2031 04:05:06 GMT"


def test_an_object_not_written_by_enhanceit_expires_by_the_lifecycle_rule(s3: S3Storage) -> None:
    s3.client.put_object(Bucket=s3.bucket, Key=f"{s3.prefix}ab/foreign.png", Body=b"x")
    found = s3.head("ab/foreign.png")
    assert found is not None and found.size == 1
    assert timedelta(hours=23) < found.expires_at - datetime.now(UTC) <= timedelta(days=1)


def test_a_multipart_upload_round_trips(s3: S3Storage, tmp_path: Path) -> None:
    source = write_file(tmp_path, 12 * MIB)
    s3.put_file("ab/big.png", source, "image/png", later())
    with s3.open("ab/big.png") as stream:
        assert stream.read() == source.read_bytes()


def test_a_multipart_upload_that_fails_half_way_publishes_nothing_and_is_aborted(
    s3: S3Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_file(tmp_path, 12 * MIB)
    monkeypatch.setattr(s3, "_open_source", lambda path: FailingReader(path, fail_at=7 * MIB))
    with pytest.raises(StorageUnavailable):
        s3.put_file("ab/big.png", source, "image/png", later())
    assert s3.head("ab/big.png") is None
    pending = s3.client.list_multipart_uploads(Bucket=s3.bucket, Prefix=s3.prefix).get("Uploads", [])
    assert pending == []


def test_init_creates_the_bucket_and_its_lifecycle_rule_idempotently(seaweedfs: servers.Server) -> None:
    bucket = f"init-{unique_prefix().strip('/')}"
    settings = S3Settings(endpoint_url=seaweedfs.url, bucket=bucket, region="us-east-1", prefix="results/")
    client = make_test_s3_client(seaweedfs.url)
    storage = S3Storage(settings, 90_000, client=client)  # 25 hours: rounded up to 2 days
    with pytest.raises(StorageUnavailable, match="does not exist"):
        storage.check()

    assert "created" in storage.init()
    storage.check()
    rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(r["ID"], r["Filter"], r["Status"], r["Expiration"]) for r in rules] == [
        ("enhanceit-results", {"Prefix": "results/"}, "Enabled", {"Days": 2})
    ]

    other = {"ID": "someone-else", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}}
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [*rules, other]})
    assert "exists" in storage.init()
    rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert sorted(r["ID"] for r in rules) == ["enhanceit-results", "someone-else"]


def test_the_client_uses_the_endpoint_path_style() -> None:
    client = make_s3_client(S3Settings(endpoint_url="http://127.0.0.1:9", region="us-east-1"), **_keys())
    assert client.meta.config.s3["addressing_style"] == "path"
    storage = S3Storage(S3Settings(endpoint_url="http://127.0.0.1:9", bucket="bkt"), 86_400, client=client)
    assert storage.url("ab/x.png", later(60)).startswith("http://127.0.0.1:9/bkt/results/ab/x.png?")


def test_every_call_fails_cleanly_when_the_server_is_down(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{servers.closed_port()}"
    client = make_test_s3_client(endpoint, max_attempts=1)
    storage = S3Storage(S3Settings(endpoint_url=endpoint, bucket="down"), 86_400, client=client)
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
        assert isinstance(caught.value.__cause__, EndpointConnectionError)


class _Exploding:
    """An S3 client whose every call raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return call


def _client_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "boom"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.mark.parametrize(
    "error",
    [
        _client_error(500, "InternalError"),
        _client_error(403, "AccessDenied"),
        _client_error(404, "NoSuchBucket"),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
        NoCredentialsError(),
        S3UploadFailedError("upload failed"),
        ConnectionResetError(104, "reset"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_foreign_errors_become_storage_unavailable(error: Exception, tmp_path: Path) -> None:
    storage = S3Storage(S3Settings(bucket="bkt"), 86_400, client=_Exploding(error))
    source = write_file(tmp_path, 10)
    calls = [
        storage.check,
        storage.init,
        lambda: storage.put_file("ab/x.png", source, "image/png", later()),
        lambda: storage.open("ab/x.png"),
        lambda: storage.delete("ab/x.png"),
        lambda: storage.url("ab/x.png", later()),
        lambda: storage.head("ab/x.png"),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert caught.value.__cause__ is error


def test_a_read_that_fails_mid_stream_becomes_storage_unavailable() -> None:
    class Body:
        def read(self, size: int = -1) -> bytes:
            raise ResponseStreamingError(error="connection reset")

        def close(self) -> None:
            pass

    class Client(_Exploding):
        def get_object(self, **kwargs: Any) -> dict[str, Any]:
            return {"Body": Body()}

    storage = S3Storage(S3Settings(bucket="bkt"), 86_400, client=Client(RuntimeError("unused")))
    with storage.open("ab/x.png") as stream, pytest.raises(StorageUnavailable):
        stream.read()


def test_errors_outside_the_library_are_not_disguised() -> None:
    storage = S3Storage(S3Settings(bucket="bkt"), 86_400, client=_Exploding(KeyError("bug")))
    with pytest.raises(KeyError):
        storage.check()


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": servers.S3_ACCESS_KEY, "aws_secret_access_key": servers.S3_SECRET_KEY}
