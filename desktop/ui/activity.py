"""When the person last typed in the list, sorted it or applied a filter.

Background work that runs Python (the automatic billing run) shares the interpreter with
the window: while it runs, every keystroke waits for the interpreter many times over. It
asks ``busy()`` between two of its pieces and waits while the person is at work.
"""

from __future__ import annotations

import time

_last = float("-inf")


def mark() -> None:
    """A gesture in the list, now (called on the window's thread)."""
    global _last
    _last = time.monotonic()


def busy(within_s: float) -> bool:
    """Whether the list had a gesture in the last ``within_s`` seconds (any thread may ask)."""
    return time.monotonic() - _last < within_s
