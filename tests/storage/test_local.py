"""What only the local backend does: signed /files links, the signing key file, layout, sweep, errors."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

import enhanceit.storage.local as local_module
from enhanceit.config import load_settings
from enhanceit.errors import ForbiddenURL, StorageUnavailable
from enhanceit.storage import LocalStorage, UrlSigner, make_storage
from enhanceit.storage.signing import KEY_FILE_NAME, load_or_create_secret
from tests.storage.conftest import FailingReader, write_file

NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    storage = LocalStorage(tmp_path / "results", UrlSigner(b"s" * 32))
    storage.init()
    return storage


def link_parts(url: str) -> tuple[str, str, str]:
    path, _, query = url.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&"))
    return path.split("/files/", 1)[1], params["expires"], params["sig"]


def test_a_link_is_relative_without_a_public_url_and_verifies(local: LocalStorage) -> None:
    url = local.url("ab/x.png", NOW + timedelta(minutes=5))
    assert url.startswith("/files/ab/x.png?expires=")
    key, expires, sig = link_parts(url)
    assert (key, int(expires)) == ("ab/x.png", int((NOW + timedelta(minutes=5)).timestamp()))
    local.verify(key, expires, sig, NOW)


def test_a_public_url_prefixes_the_link(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, UrlSigner(b"s" * 32), "https://enhance.example/")
    assert storage.url("ab/x.png", NOW).startswith("https://enhance.example/files/ab/x.png?expires=")


def test_tampered_and_expired_links_are_refused(local: LocalStorage) -> None:
    key, expires, sig = link_parts(local.url("ab/x.png", NOW + timedelta(minutes=5)))
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    refused = {
        "signature": (key, expires, flipped),
        "key": ("ab/y.png", expires, sig),
        "expiry": (key, str(int(expires) + 3600), sig),
        "uppercase signature": (key, expires, sig.upper()),
        "short signature": (key, expires, sig[:-1]),
        "no signature": (key, expires, ""),
        "expiry not a number": (key, expires + ".0", sig),
        "negative expiry": (key, "-" + expires, sig),
        "another secret": (key, expires, UrlSigner(b"t" * 32).signature(key, int(expires))),
    }
    for what, parts in refused.items():
        try:
            local.verify(*parts, NOW)
        except ForbiddenURL:
            continue
        pytest.fail(f"accepted a link with a changed {what}")
    local.verify(key, expires, sig, NOW + timedelta(minutes=4, seconds=59))
    with pytest.raises(ForbiddenURL, match="expired"):
        local.verify(key, expires, sig, NOW + timedelta(minutes=5))


@pytest.mark.parametrize(
    "key", ["../secret", "ab/../../etc/passwd", "/etc/passwd", "ab\\..\\x", "ab/./x", ".signing-key", "ab/x\x00"]
)
def test_path_traversal_keys_are_refused_even_when_signed(local: LocalStorage, key: str) -> None:
    expires = int((NOW + timedelta(minutes=5)).timestamp())
    with pytest.raises(ForbiddenURL):
        local.verify(key, str(expires), local.signer.signature(key, expires), NOW)


def test_the_link_never_outlives_the_object(local: LocalStorage, tmp_path: Path) -> None:
    local.put_file("ab/x.png", write_file(tmp_path, 10), "image/png", NOW + timedelta(minutes=1))
    _, expires, _ = link_parts(local.url("ab/x.png", NOW + timedelta(days=1)))
    assert int(expires) == int((NOW + timedelta(minutes=1)).timestamp())


def test_the_layout_is_the_key_plus_a_sidecar(local: LocalStorage, tmp_path: Path) -> None:
    source = write_file(tmp_path, 1234)
    local.put_file("ab/x.png", source, "image/png", NOW)
    assert (local.root / "ab" / "x.png").read_bytes() == source.read_bytes()
    meta = json.loads((local.root / "ab" / "x.png.meta.json").read_text())
    assert meta == {"content_type": "image/png", "expires_at": "2030-06-01T12:00:00+00:00"}
    assert sorted(p.name for p in (local.root / "ab").iterdir()) == ["x.png", "x.png.meta.json"]


def test_a_failed_put_leaves_no_temporary_file(
    local: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_file(tmp_path, 3 << 20)
    monkeypatch.setattr(local, "_open_source", lambda path: FailingReader(path, fail_at=(3 << 20) - 1))
    with pytest.raises(StorageUnavailable):
        local.put_file("ab/x.png", source, "image/png", NOW)
    assert list((local.root / "ab").iterdir()) == []


def test_sweep_removes_expired_objects_orphans_and_stale_temporary_files(local: LocalStorage, tmp_path: Path) -> None:
    source = write_file(tmp_path, 10)
    local.put_file("ab/old.png", source, "image/png", NOW - timedelta(seconds=1))
    local.put_file("ab/new.png", source, "image/png", NOW + timedelta(hours=1))
    folder = local.root / "ab"
    (folder / "orphan.png.meta.json").write_text(json.dumps({"content_type": "x/y", "expires_at": "2020-01-01T00:00Z"}))
    (folder / "damaged.png").write_bytes(b"x")
    (folder / "damaged.png.meta.json").write_text("{not json")
    stale, fresh = folder / ".old.png.abc.tmp", folder / ".new.png.def.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    assert local.sweep(NOW) == 3  # old, the orphaned sidecar, the damaged one
    assert sorted(p.name for p in folder.iterdir()) == [".new.png.def.tmp", "new.png", "new.png.meta.json"]


def test_sweep_of_a_missing_folder_is_nothing(tmp_path: Path) -> None:
    assert LocalStorage(tmp_path / "nowhere", UrlSigner(b"s")).sweep(NOW) == 0


def test_check_needs_the_results_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "results", UrlSigner(b"s"))
    with pytest.raises(StorageUnavailable, match="missing"):
        storage.check()
    assert "results" in storage.init()
    storage.check()


def test_file_system_errors_become_storage_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    storage = LocalStorage(blocker / "results", UrlSigner(b"s"))  # a folder inside a file: ENOTDIR
    source = write_file(tmp_path, 10)
    for call in (
        storage.init,
        storage.check,
        lambda: storage.put_file("ab/x.png", source, "image/png", NOW),
        lambda: storage.head("ab/x.png"),
        lambda: storage.open("ab/x.png"),
        lambda: storage.delete("ab/x.png"),
    ):
        with pytest.raises(StorageUnavailable):
            call()


def test_a_missing_source_file_is_storage_unavailable(local: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable):
        local.put_file("ab/x.png", tmp_path / "missing", "image/png", NOW)


def test_read_errors_become_storage_unavailable(
    local: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DyingDisk(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise OSError(5, "Input/output error")

    local.put_file("ab/x.png", write_file(tmp_path, 10), "image/png", NOW)
    monkeypatch.setattr(local_module, "open", lambda *args, **kwargs: DyingDisk(), raising=False)
    with local.open("ab/x.png") as stream, pytest.raises(StorageUnavailable):
        stream.read()


# -- the signing key -------------------------------------------------------------------------------------------


def test_the_configured_signing_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, signing_key=SecretStr("configured-secret"))
    storage = make_storage(settings)
    assert isinstance(storage, LocalStorage) and storage.root == tmp_path / "results"
    key, expires, sig = link_parts(storage.url("ab/x.png", NOW))
    UrlSigner(b"configured-secret").verify(key, expires, sig, NOW - timedelta(seconds=1))
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_a_generated_key_is_private_and_links_survive_a_restart(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    first = make_storage(settings)
    key_file = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key_file.read_text())) == 32
    key, expires, sig = link_parts(first.url("ab/x.png", NOW))
    make_storage(settings).verify(key, expires, sig, NOW - timedelta(seconds=1))
    assert [p.name for p in key_file.parent.iterdir()] == [KEY_FILE_NAME]  # no temporary file left


def test_processes_starting_together_agree_on_the_key(tmp_path: Path) -> None:
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        results.append(load_or_create_secret(tmp_path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1


def test_other_secrets_get_files_of_their_own(tmp_path: Path) -> None:
    webhook = load_or_create_secret(tmp_path, ".webhook-secret")
    assert webhook != load_or_create_secret(tmp_path)
    assert webhook == load_or_create_secret(tmp_path, ".webhook-secret")
    assert stat.S_IMODE((tmp_path / ".webhook-secret").stat().st_mode) == 0o600


def test_a_damaged_key_file_is_refused_without_showing_it(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("not-hex-at-all")
    with pytest.raises(StorageUnavailable, match="not a valid secret") as caught:
        load_or_create_secret(tmp_path)
    assert "not-hex" not in str(caught.value)


def test_the_signer_does_not_show_its_secret() -> None:
    assert "hunter2" not in repr(UrlSigner(b"hunter2")) and "hunter2" not in repr(
        LocalStorage(Path("x"), UrlSigner(b"hunter2"))
    )
