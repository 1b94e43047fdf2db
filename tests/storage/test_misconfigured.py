"""A store that refuses us until its settings change is misconfigured, not away: no bucket, credentials refused,
access denied, a results folder that is a file or not ours to write. Such errors are
:class:`StorageMisconfigured` (not retryable, with what to fix), a job meeting one fails at once instead of
retrying until its deadline, and ``/readyz`` names the problem; an unreachable store stays
:class:`StorageUnavailable` and is waited out.

S3 runs against a SeaweedFS of its own, set up as AWS behaves: the shared one creates a missing bucket on the
first upload (``-s3.autoCreateBucket``, for admin identities), which AWS never does; and it holds a second,
read-only identity, for a real AccessDenied.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.api_core import exceptions as api_exceptions

from enhanceit.config import GcsSettings, S3Settings
from enhanceit.errors import StorageMisconfigured, StorageUnavailable
from enhanceit.jobs.retry import Backoff, retry_wait
from enhanceit.storage import GcsStorage, LocalStorage, S3Storage, UrlSigner
from enhanceit.storage.base import Storage, StoredObject
from enhanceit.storage.s3 import make_s3_client
from tests.api.conftest import make_settings, png_bytes, start
from tests.api.servers import HttpStub, send
from tests.storage import servers
from tests.storage.conftest import make_test_gcs_client, unique_prefix, write_file
from tests.storage.test_gcs import _Exploding as ExplodingGcs
from tests.storage.test_s3 import _client_error
from tests.storage.test_s3 import _Exploding as ExplodingS3

READER_KEY, READER_SECRET = "enhanceit-reader", "enhanceit-reader-secret"  # a throwaway read-only identity
MISSING = "no-such-bucket"
#: Quick retries and a long deadline: a job that retried would still be running when the request gives up.
FAST_JOBS = {"retry_min_seconds": 0.2, "retry_max_seconds": 1, "deadline_seconds": 240}


def later(seconds: int = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def misconfigured(call: Callable[[], object]) -> StorageMisconfigured:
    with pytest.raises(StorageMisconfigured) as caught:
        call()
    error = caught.value
    assert not error.retryable and error.status_code == 500 and error.slug == "storage-misconfigured"
    return error


def unavailable(call: Callable[[], object]) -> StorageUnavailable:
    with pytest.raises(StorageUnavailable) as caught:
        call()
    assert type(caught.value) is StorageUnavailable and caught.value.retryable
    return caught.value


def test_only_the_transient_fault_is_retried() -> None:
    backoff = Backoff(0.1, 1.0)
    assert retry_wait(StorageMisconfigured("s3: bucket x does not exist"), 0, backoff, 3600) is None
    assert retry_wait(StorageUnavailable("s3 put: reset"), 0, backoff, 3600) is not None


# -- S3 --------------------------------------------------------------------------------------------------------


class AwsLikeSeaweedFS(servers.SeaweedFS):
    """SeaweedFS that, like AWS, creates no bucket on upload, with a read-only identity besides the admin."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        config = json.loads(self.config.read_text())
        reader = {"name": "reader", "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}]}
        config["identities"].append({**reader, "actions": ["Read", "List"]})
        self.config.write_text(json.dumps(config))

    def _command(self, run: Path) -> list[str]:
        return [*super()._command(run), "-s3.autoCreateBucket=false"]


@pytest.fixture(scope="module")
def aws_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = AwsLikeSeaweedFS(tmp_path_factory.mktemp("seaweedfs-aws-like"))
    started = server.start()
    try:
        s3_client(started.url).create_bucket(Bucket="present")
        yield started
    finally:
        server.stop()


def s3_client(endpoint: str, key: str = servers.S3_ACCESS_KEY, secret: str = servers.S3_SECRET_KEY) -> Any:
    settings = S3Settings(endpoint_url=endpoint, region="us-east-1")
    return make_s3_client(settings, max_attempts=1, aws_access_key_id=key, aws_secret_access_key=secret)


def s3_store(endpoint: str, bucket: str, **keys: str) -> S3Storage:
    settings = S3Settings(endpoint_url=endpoint, bucket=bucket, region="us-east-1", prefix=unique_prefix())
    return S3Storage(settings, 86_400, client=s3_client(endpoint, **keys))


@pytest.mark.s3
def test_s3_a_bucket_that_does_not_exist(aws_like: servers.Server, tmp_path: Path) -> None:
    storage = s3_store(aws_like.url, MISSING)
    for call in (storage.check, lambda: storage.put_file("ab/x.png", write_file(tmp_path, 10), "image/png", later())):
        error = misconfigured(call)
        assert error.detail == f"s3: bucket {MISSING} does not exist; run `enhanceit storage init`"
    assert storage.head("ab/x.png") is None  # a HEAD cannot tell a missing bucket from a missing key


@pytest.mark.s3
@pytest.mark.parametrize(
    ("keys", "code"),
    [
        ({"secret": "not-the-secret"}, "SignatureDoesNotMatch"),
        ({"key": "nobody", "secret": "not-the-secret"}, "InvalidAccessKeyId"),
        ({"key": READER_KEY, "secret": READER_SECRET}, "AccessDenied"),  # may read, not write
    ],
    ids=["wrong-secret", "unknown-key", "read-only"],
)
def test_s3_credentials_refused_or_access_denied(
    aws_like: servers.Server, tmp_path: Path, keys: dict[str, str], code: str
) -> None:
    storage = s3_store(aws_like.url, "present", **keys)
    error = misconfigured(lambda: storage.put_file("ab/x.png", write_file(tmp_path, 10), "image/png", later()))
    assert f"({code})" in error.detail
    assert not any(secret in error.detail for secret in ("not-the-secret", READER_SECRET, READER_KEY, "nobody"))
    if code != "AccessDenied":  # the read-only identity may HEAD the bucket
        assert "(403)" in misconfigured(storage.check).detail  # a HEAD answer carries no code: its status


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "NoSuchBucket", StorageMisconfigured),
        (403, "AccessDenied", StorageMisconfigured),
        (403, "InvalidAccessKeyId", StorageMisconfigured),
        (403, "SignatureDoesNotMatch", StorageMisconfigured),
        (500, "InternalError", StorageUnavailable),
        (503, "SlowDown", StorageUnavailable),
        (400, "RequestTimeout", StorageUnavailable),
    ],
)
def test_s3_codes_that_waiting_cannot_fix(
    tmp_path: Path, status: int, code: str, expected: type[StorageUnavailable]
) -> None:
    error = _client_error(status, code)
    storage = S3Storage(S3Settings(bucket="bkt"), 86_400, client=ExplodingS3(error))
    with pytest.raises(StorageUnavailable) as caught:
        storage.put_file("ab/x.png", write_file(tmp_path, 10), "image/png", later())
    assert type(caught.value) is expected and caught.value.__cause__ is error


def test_s3_an_unreachable_endpoint_stays_unavailable(tmp_path: Path) -> None:
    storage = s3_store(f"http://127.0.0.1:{servers.closed_port()}", "down")
    unavailable(storage.check)
    unavailable(lambda: storage.put_file("ab/x.png", write_file(tmp_path, 10), "image/png", later()))


# -- GCS -------------------------------------------------------------------------------------------------------


@pytest.mark.s3
def test_gcs_a_bucket_that_does_not_exist(
    gcs_emulator: servers.Server, emulator_environment: None, service_account: Any, tmp_path: Path
) -> None:
    storage = GcsStorage(
        GcsSettings(bucket=MISSING, prefix=unique_prefix()), 86_400, signing_credentials=service_account
    )
    for call in (storage.check, lambda: storage.put_file("ab/x.png", write_file(tmp_path, 10), "image/png", later())):
        error = misconfigured(call)
        assert error.detail == f"gcs: bucket {MISSING} does not exist; run `enhanceit storage init`"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (api_exceptions.Forbidden("no"), StorageMisconfigured),
        (api_exceptions.Unauthorized("who"), StorageMisconfigured),
        (api_exceptions.ServiceUnavailable("down"), StorageUnavailable),
        (api_exceptions.TooManyRequests("slow down"), StorageUnavailable),
    ],
    ids=lambda value: getattr(value, "__name__", type(value).__name__),
)
def test_gcs_refusals_that_waiting_cannot_fix(
    error: Exception, expected: type[StorageUnavailable], tmp_path: Path, service_account: Any
) -> None:
    storage = GcsStorage(GcsSettings(bucket="bkt"), 86_400, client=ExplodingGcs(error), retry_seconds=0)
    for call in (storage.check, lambda: storage.put_file("ab/x.png", write_file(tmp_path, 10), "image/png", later())):
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert type(caught.value) is expected and caught.value.__cause__ is error


def test_gcs_credentials_that_cannot_sign_say_what_to_set() -> None:
    class NoAccount:  # refreshed, but no service account to sign as
        token, valid, service_account_email = "ya29.token", True, None

    client = make_test_gcs_client(f"http://127.0.0.1:{servers.closed_port()}")  # signing asks no server
    storage = GcsStorage(GcsSettings(bucket="bkt"), 86_400, client=client, signing_credentials=NoAccount())
    assert "ENHANCEIT_GCS_SIGNER_EMAIL" in misconfigured(lambda: storage.url("ab/x.png", later())).detail


# -- local -----------------------------------------------------------------------------------------------------


def local_store(root: Path) -> LocalStorage:
    return LocalStorage(root, UrlSigner(b"k" * 32))


@pytest.mark.parametrize("file", ["data/results", "data"], ids=["results-is-a-file", "data-dir-is-a-file"])
def test_local_a_results_folder_that_is_a_file(tmp_path: Path, file: str) -> None:
    (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / file).write_bytes(b"not a folder")
    storage = local_store(tmp_path / "data" / "results")
    source = write_file(tmp_path, 10)
    for call in (storage.check, lambda: storage.put_file("ab/x.png", source, "image/png", later())):
        error = misconfigured(call)
        assert "is not a folder" in error.detail and str(tmp_path) not in error.detail


@contextlib.contextmanager
def immutable(folder: Path) -> Iterator[None]:
    """``folder`` made immutable (``chattr +i``): not even root may create files in it."""
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a folder immutable here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_local_a_results_folder_this_process_may_not_write_in(tmp_path: Path) -> None:
    storage = local_store(tmp_path / "results")
    storage.init()
    storage.put_file("ab/old.png", write_file(tmp_path, 10), "image/png", later())
    source = write_file(tmp_path, 10, name="new.bin")
    with immutable(tmp_path / "results"):
        for call in (storage.check, lambda: storage.put_file("cd/x.png", source, "image/png", later())):
            error = misconfigured(call)
            assert "may not write" in error.detail and str(tmp_path) not in error.detail


def test_local_a_missing_or_read_only_folder_stays_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = local_store(tmp_path / "results")
    assert "missing" in unavailable(storage.check).detail  # a put makes it again
    storage.init()
    # A disk remounted read-only comes back writable: an outage (tests/storage/test_outages.py, for real).
    monkeypatch.setattr("enhanceit.storage.local._read_only_mount", lambda path: True)
    assert "read-only" in unavailable(storage.check).detail


# -- the service -----------------------------------------------------------------------------------------------


def counting_puts(storage: Storage) -> list[str]:
    """The keys ``storage`` is asked to store, one per try."""
    tries: list[str] = []
    put_file = storage.put_file

    def counted(key: str, path: Path, content_type: str, expires_at: datetime) -> StoredObject:
        tries.append(key)
        return put_file(key, path, content_type, expires_at)

    storage.put_file = counted  # type: ignore[method-assign]
    return tries


@pytest.mark.s3
def test_a_job_fails_at_once_and_readyz_says_what_to_fix(
    aws_like: servers.Server, aws_environment: None, tmp_path: Path
) -> None:
    s3 = S3Settings(endpoint_url=aws_like.url, bucket=MISSING, region="us-east-1")
    settings = make_settings(tmp_path, storage="s3", s3=s3.model_dump(), jobs=FAST_JOBS)
    server, services = start(settings, storage=S3Storage(s3, 86_400))
    tries = counting_puts(services.storage)
    images = HttpStub().start()
    images.routes["/a.png"] = send(200, png_bytes(), "image/png")
    try:
        with server, httpx.Client(base_url=server.url, timeout=60) as c:
            began = time.monotonic()
            by_url = c.post("/v1/enhance", json={"image_url": images.url("/a.png")})  # waits for the job
            took, job_tries = time.monotonic() - began, list(tries)
            uploaded = c.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")})
            ready = c.get("/readyz")
    finally:
        images.stop()
    fix = f"s3: bucket {MISSING} does not exist; run `enhanceit storage init`"
    assert by_url.status_code == 500, by_url.text
    problem = by_url.json()
    assert problem["type"].endswith("/storage-misconfigured") and problem["detail"] == fix
    assert problem["job"]["status"] == "failed"
    assert len(job_tries) == 1 and took < 15, (job_tries, took)  # one try, no retries until the deadline
    # An upload is stored when it is submitted: refused there, with the same reason.
    assert uploaded.status_code == 500 and uploaded.json()["type"].endswith("/storage-misconfigured")
    assert ready.status_code == 503
    body = ready.json()
    assert body["checks"]["storage"] == fix and body["problems"] == {"storage": "storage-misconfigured"}


def test_readyz_tells_an_unreachable_store_from_a_misconfigured_one(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{servers.closed_port()}"
    s3 = S3Settings(endpoint_url=endpoint, bucket="down", region="us-east-1")
    settings = make_settings(tmp_path, storage="s3", s3=s3.model_dump())
    server, _ = start(settings, storage=S3Storage(s3, 86_400, client=s3_client(endpoint)))
    with server, httpx.Client(base_url=server.url, timeout=60) as c:
        ready = c.get("/readyz")
    assert ready.status_code == 503 and ready.json()["problems"] == {"storage": "storage-unavailable"}
