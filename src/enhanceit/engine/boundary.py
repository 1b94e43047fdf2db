"""The error boundary every inference backend keeps around its runtime (ncnn, OpenVINO).

A backend wraps each call into its runtime in :func:`runtime_errors`, naming what it was doing and which of
the runtime's exceptions are its own (``foreign``): those become an :class:`~enhanceit.errors.EngineError`
(the class the backend names for the operation), a ``MemoryError`` becomes
:class:`~enhanceit.errors.EngineOutOfMemory`, EnhanceIt's own errors pass through, and anything else
propagates as the bug it is (a ``TypeError`` is a wrong call of ours, not the runtime failing). So nothing
above :mod:`enhanceit.engine` ever sees a runtime's exception; error codes the runtime returns instead of
raising are checked where they are returned.

The detail reaches clients (a problem's detail, a job's error): it keeps the runtime's last words but no
server path (:func:`~enhanceit.errors.public_detail`) and none of OpenVINO's "Exception from
src/….cpp:117:" lines, which locate the throw in its sources and say nothing of what failed. The log keeps
the whole message for the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from enhanceit.errors import EngineError, EngineOutOfMemory, EnhanceItError, public_detail

log = logging.getLogger(__name__)

#: A detail longer than this is cut: OpenVINO's validation messages quote whole nodes.
MAX_DETAIL = 300
#: OpenVINO prefixes its messages with one such line per frame the exception went through.
_FRAME = "Exception from "


def describe(exc: BaseException) -> str:
    """A runtime's exception in one line a client may read: its type and message, without source locations
    or server paths, cut to :data:`MAX_DETAIL` characters."""
    lines = [line.strip() for line in str(exc).splitlines()]
    message = public_detail(" ".join(line for line in lines if line and not line.startswith(_FRAME)))
    if len(message) > MAX_DETAIL:
        message = message[: MAX_DETAIL - 1] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@contextmanager
def runtime_errors(
    runtime: str,
    operation: str,
    error: type[EngineError] = EngineError,
    foreign: tuple[type[Exception], ...] = (RuntimeError,),
) -> Iterator[None]:
    """The boundary itself: ``runtime``'s exceptions (``foreign``) raised while it does ``operation`` become
    ``error``, a ``MemoryError`` :class:`~enhanceit.errors.EngineOutOfMemory`; EnhanceIt's errors and
    everything else propagate untouched."""
    try:
        yield
    except EnhanceItError:
        raise
    except MemoryError as exc:
        log.warning("%s ran out of memory to %s: %s", runtime, operation, exc)
        raise EngineOutOfMemory(f"{runtime} ran out of memory to {operation}") from exc
    except foreign as exc:
        log.warning("%s could not %s: %s", runtime, operation, exc)
        raise error(f"{runtime} could not {operation}: {describe(exc)}") from exc
