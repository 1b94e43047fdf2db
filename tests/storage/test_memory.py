"""What only the in-memory double does: switching it off, and staying consistent under threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enhanceit.errors import StorageUnavailable
from enhanceit.storage import MemoryStorage
from tests.storage.conftest import write_file

LATER = datetime.now(UTC) + timedelta(hours=1)


def test_a_switched_off_store_fails_every_call_like_a_dead_backend(tmp_path: Path) -> None:
    storage = MemoryStorage()
    source = write_file(tmp_path, 10)
    storage.put_file("ab/x.png", source, "image/png", LATER)
    storage.unavailable = True
    for call in (
        storage.check,
        storage.init,
        lambda: storage.put_file("ab/y.png", source, "image/png", LATER),
        lambda: storage.head("ab/x.png"),
        lambda: storage.open("ab/x.png"),
        lambda: storage.delete("ab/x.png"),
        lambda: storage.url("ab/x.png", LATER),
        lambda: storage.sweep(LATER),
    ):
        with pytest.raises(StorageUnavailable):
            call()
    storage.unavailable = False
    assert storage.stored_keys() == ["ab/x.png"]


def test_concurrent_puts_and_deletes_stay_consistent(tmp_path: Path) -> None:
    storage = MemoryStorage()
    source = write_file(tmp_path, 100)
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(200):
            storage.put_file(f"w{worker}/{i}.png", source, "image/png", LATER)
            if i % 2:
                storage.delete(f"w{worker}/{i - 1}.png")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(storage.stored_keys()) == 8 * 100
    assert all(int(key.split("/")[1].removesuffix(".png")) % 2 for key in storage.stored_keys())
