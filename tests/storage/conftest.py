"""Fixtures for the storage tests: the real servers, and one ``storage`` fixture per backend.

``storage`` is parametrised over every backend, so each test that takes it is the same contract checked
against local, memory, SeaweedFS S3 and the GCS emulator. Local and memory links point at
:func:`files_server`, a small loopback HTTP server that serves ``/files`` the way the API does (verify,
then open), so their links are fetched over HTTP like the cloud ones.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from enhanceit.config import GcsSettings, S3Settings
from enhanceit.errors import ForbiddenURL, NotFound
from enhanceit.storage import GcsStorage, LocalStorage, MemoryStorage, S3Storage, Storage, UrlSigner
from tests.storage import servers

RETENTION = 86_400
#: Every backend; the cloud ones on their servers (marked ``s3``: ``-m "not s3"`` leaves them out).
BACKENDS = ["local", "memory", pytest.param("s3", marks=pytest.mark.s3), pytest.param("gcs", marks=pytest.mark.s3)]


# -- servers -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    with servers.seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    with servers.gcs_emulator(tmp_path_factory.mktemp("gcs-emulator")) as server:
        yield server


class _FilesHandler(BaseHTTPRequestHandler):
    """``GET /files/{key}?expires=…&sig=…`` answered from ``server.storage``, as the API's route does."""

    server: _FilesServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        key = unquote(parts.path.removeprefix("/files/"))
        storage = self.server.storage
        try:
            storage.verify(key, query.get("expires", [""])[0], query.get("sig", [""])[0], datetime.now(UTC))
            with storage.open(key) as stream:
                body = stream.read()
        except ForbiddenURL:
            self.send_error(403)
            return
        except NotFound:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: never print signed links
        pass


class _FilesServer(ThreadingHTTPServer):
    storage: Storage


@pytest.fixture(scope="session")
def files_server() -> Iterator[_FilesServer]:
    server = _FilesServer(("127.0.0.1", 0), _FilesHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def files_url(server: _FilesServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


# -- backends ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_bucket(seaweedfs: servers.Server) -> str:
    """One bucket for the contract tests; each test works under a prefix of its own."""
    client = make_test_s3_client(seaweedfs.url)
    client.create_bucket(Bucket="contract")
    return "contract"


@pytest.fixture(scope="session")
def gcs_bucket(gcs_emulator: servers.Server) -> str:
    client = make_test_gcs_client(gcs_emulator.url)
    client.create_bucket("contract")
    return "contract"


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's own credential chain, fed only the test identity (never the developer's files or IMDS)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", servers.S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", servers.S3_SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def emulator_environment(monkeypatch: pytest.MonkeyPatch, gcs_emulator: servers.Server) -> None:
    """STORAGE_EMULATOR_HOST, as a deployment against the emulator would set it."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "enhanceit-test")


def make_test_s3_client(endpoint_url: str, **kwargs: Any) -> Any:
    from enhanceit.storage.s3 import make_s3_client

    settings = S3Settings(endpoint_url=endpoint_url, region="us-east-1")
    return make_s3_client(
        settings, aws_access_key_id=servers.S3_ACCESS_KEY, aws_secret_access_key=servers.S3_SECRET_KEY, **kwargs
    )


def make_test_gcs_client(endpoint_url: str) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    options = ClientOptions(api_endpoint=endpoint_url)
    return storage.Client(project="enhanceit-test", credentials=AnonymousCredentials(), client_options=options)


@pytest.fixture(scope="session")
def rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def service_account(rsa_key: Any) -> Any:
    """Throwaway service-account credentials with a fresh RSA key, to sign V4 URLs without Google."""
    from cryptography.hazmat.primitives import serialization
    from google.oauth2 import service_account

    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "client_email": "signer@enhanceit-test.iam.gserviceaccount.com",
        "private_key": pem,
        "token_uri": "http://127.0.0.1:9/token",  # never used: signing needs no token
        "project_id": "enhanceit-test",
    }
    return service_account.Credentials.from_service_account_info(info)


def unique_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}/"


@pytest.fixture
def make_backend(
    request: pytest.FixtureRequest, tmp_path: Path, files_server: _FilesServer
) -> Callable[[str], Storage]:
    """Build a fresh storage of the named kind (each S3/GCS one under its own prefix)."""

    def make(kind: str) -> Storage:
        storage: Storage
        if kind == "local":
            storage = LocalStorage(tmp_path / "results", UrlSigner(b"k" * 32), files_url(files_server))
            storage.init()
        elif kind == "memory":
            storage = MemoryStorage(files_url(files_server))
        elif kind == "s3":
            request.getfixturevalue("aws_environment")
            endpoint = request.getfixturevalue("seaweedfs").url
            bucket = request.getfixturevalue("s3_bucket")
            settings = S3Settings(endpoint_url=endpoint, bucket=bucket, region="us-east-1", prefix=unique_prefix())
            storage = S3Storage(settings, RETENTION)
        elif kind == "gcs":
            request.getfixturevalue("emulator_environment")
            bucket = request.getfixturevalue("gcs_bucket")
            settings_gcs = GcsSettings(bucket=bucket, prefix=unique_prefix())
            credentials = request.getfixturevalue("service_account")
            storage = GcsStorage(settings_gcs, RETENTION, signing_credentials=credentials)
        else:
            raise ValueError(kind)
        files_server.storage = storage
        return storage

    return make


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, make_backend: Callable[[str], Storage]) -> Storage:
    return make_backend(request.param)


# -- helpers -------------------------------------------------------------------------------------------------


class FailingReader(io.RawIOBase):
    """A file that reads fine up to ``fail_at`` bytes, then fails with EIO like a dying disk.

    A read that would cross ``fail_at`` raises instead of returning a short count, so a backend that reads
    the whole file in one call cannot mistake it for a shorter file.
    """

    def __init__(self, path: Path, fail_at: int) -> None:
        self._data = path.read_bytes()
        self._fail_at = fail_at
        self._pos = 0
        self.failed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._data)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(len(self._data), self._pos + len(view))
        if end > self._fail_at:
            self.failed = True
            raise OSError(5, "Input/output error")
        view[: end - self._pos] = self._data[self._pos : end]
        count = end - self._pos
        self._pos = end
        return count


def write_file(folder: Path, size: int, name: str = "source.bin", seed: int = 1) -> Path:
    """A file of ``size`` bytes that are not all alike (so truncation or mixing would show)."""
    block = bytes((seed * 31 + i * 7) % 256 for i in range(4096))
    path = folder / name
    path.write_bytes((block * (size // len(block) + 1))[:size])
    return path
