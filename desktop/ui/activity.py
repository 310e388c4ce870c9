"""When the person last typed in the list, sorted it or applied a filter.

Background work that runs Python (the automatic billing run) shares the interpreter with
the window: while it runs, every keystroke waits for the interpreter many times over. It
asks ``busy()`` between two of its pieces and waits while the person is at work.
"""

from __future__ import annotations

import threading
import time

_last = float("-inf")
_waits = 0  # sorts the person waits for, being made on a pool thread
_lock = threading.Lock()


def mark() -> None:
    """A gesture in the list, now (called on the window's thread)."""
    global _last
    _last = time.monotonic()


def busy(within_s: float) -> bool:
    """Whether the list had a gesture in the last ``within_s`` seconds, or the person waits for
    a sort being made (any thread may ask)."""
    return _waits > 0 or time.monotonic() - _last < within_s


def waiting(more: bool) -> None:
    """A sort the person waits for begins (``more``) or ends being made: other background work
    waits meanwhile, as while someone types (any thread may say so)."""
    global _waits
    with _lock:
        _waits = max(0, _waits + (1 if more else -1))
