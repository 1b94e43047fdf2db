"""Helpers for the error boundary every backend keeps around its library.

A backend decides which foreign exceptions are its library's (``translate`` returns EnhanceIt's error for
those and None for anything else, which then propagates untouched as the bug it is). The helpers here make
that boundary hold for streams too — a read from S3 or GCS can fail long after ``open`` returned — and
keep secrets and server paths out of the messages: they reach clients (a 503's detail, /readyz), so a
file-system error says what went wrong ("Read-only file system") but not where; the log keeps where.

Of the library's errors, most say the store is away for now (:class:`StorageUnavailable`: a job waits it out);
a backend's ``diagnose`` picks out those that waiting cannot fix — no such bucket, credentials refused — and
says what to change (:class:`StorageMisconfigured`: the job fails at once, /readyz shows the fix).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from enhanceit.errors import EnhanceItError, StorageMisconfigured, StorageUnavailable

Translate = Callable[[Exception], EnhanceItError | None]
#: A backend's reading of one of its library's errors: what the operator must change when waiting cannot help
#: (the bucket does not exist, the credentials are refused), else None. No secret or server path in it.
Diagnose = Callable[[BaseException], str | None]

#: Upload-session and signed URLs are capabilities: an error message must never carry one.
_URL_RE = re.compile(r"https?://\S+")
#: An absolute path of two or more parts, wherever a foreign library put one in its message.
_PATH_RE = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"/]+/)+[^\s'\"]*")
logger = logging.getLogger(__name__)
_MAX_MESSAGE = 300
_READALL_CHUNK = 1 << 20


def describe(exc: BaseException) -> str:
    """A short account of a foreign error for clients and logs: its type and message, without URLs or paths
    (an OSError's file names are left out: its ``strerror`` says what happened)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    message = _PATH_RE.sub("<path>", _URL_RE.sub("<url>", str(exc))).strip()
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def storage_error(
    backend: str, operation: str, exc: BaseException, diagnose: Diagnose | None = None
) -> StorageUnavailable:
    """EnhanceIt's error for one of the library's: :class:`StorageMisconfigured` with the fix ``diagnose``
    names, else :class:`StorageUnavailable`."""
    fix = diagnose(exc) if diagnose is not None else None
    if fix is None:
        return StorageUnavailable(f"{backend} {operation}: {describe(exc)}")
    logger.warning("%s %s: %s (%s)", backend, operation, fix, describe(exc))
    return StorageMisconfigured(f"{backend}: {fix}")


@contextmanager
def foreign_errors(
    backend: str, operation: str, foreign: tuple[type[BaseException], ...], diagnose: Diagnose | None = None
) -> Iterator[None]:
    """The boundary itself: the library's errors (``foreign``) become :class:`StorageUnavailable`, or
    :class:`StorageMisconfigured` where ``diagnose`` says so; EnhanceIt's own pass through, anything else
    propagates as the bug it is."""
    try:
        yield
    except EnhanceItError:
        raise
    except foreign as exc:
        if isinstance(exc, OSError) and exc.filename:  # where it happened: for the operator, not the client
            logger.warning("%s %s failed: %s: %s", backend, operation, exc.strerror, exc.filename)
        raise storage_error(backend, operation, exc, diagnose) from exc


class _TranslatingRaw(io.RawIOBase):
    """A raw stream over any object with ``read(n)`` that translates its errors on every call."""

    def __init__(self, stream: Any, translate: Translate) -> None:
        self._stream = stream
        self._translate = translate

    def readable(self) -> bool:
        return True

    def _read(self, size: int) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except EnhanceItError:
            raise
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise
            raise mapped from exc
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        """Everything left, in large reads (the default reads 8 KiB at a time: slow over HTTP)."""
        pieces = []
        while piece := self._read(_READALL_CHUNK):
            pieces.append(piece)
        return b"".join(pieces)

    def close(self) -> None:
        if not self.closed:
            try:
                self._stream.close()
            except Exception as exc:
                # Closing a half-read HTTP body can fail; the caller is done with it either way.
                if self._translate(exc) is None:
                    raise
            finally:
                super().close()


def translating_reader(stream: Any, translate: Translate, buffer_size: int = 1 << 20) -> BinaryIO:
    """Wrap a foreign byte stream so that reading it raises only EnhanceIt's errors."""
    return io.BufferedReader(_TranslatingRaw(stream, translate), buffer_size=buffer_size)
