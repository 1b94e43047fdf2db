"""The ``enhanceit`` command: :mod:`.main` parses and dispatches, one module per command does the work.

Exit codes: 0 success; 1 an image failed (unreadable, unsupported, too large, not writable); 2 bad usage
(unknown model, impossible noise/scale, conflicting options); 130 interrupted. Every failure is one line on
stderr, ``enhanceit: <what>: <why>``; no partial output file is ever left behind.
"""

from enhanceit.cli.main import main

__all__ = ["main"]
