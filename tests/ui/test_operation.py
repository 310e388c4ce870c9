"""The one way the window runs a controller call: ``desktop.ui.operation``."""

from __future__ import annotations

import gc
import sys
import threading
import weakref

import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QWidget

from desktop.ui.operation import Outcome, in_background


def test_in_background_calls_back_on_the_gui_thread_then_keeps_nothing_alive(qtbot):  # type: ignore[no-untyped-def]
    """Regression: the signal connection held the callback, which held the job, its call and
    everything they used, out of the collector's sight: each background load stayed in memory."""
    parent = QWidget()
    qtbot.addWidget(parent)

    class Held:
        pass

    read, shown = Held(), Held()
    held = [weakref.ref(read), weakref.ref(shown)]
    outcomes: list[Outcome[int]] = []
    on_gui_thread: list[bool] = []

    def done(outcome: Outcome[int], shown: Held = shown) -> None:
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        outcomes.append(outcome)

    in_background(parent, "Not read", lambda read=read: id(read), done)
    del read, shown, done
    qtbot.waitUntil(lambda: bool(outcomes), timeout=5_000)
    assert outcomes[0].ok and on_gui_thread == [True]

    def gone() -> bool:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        return all(ref() is None for ref in held)

    qtbot.waitUntil(gone, timeout=5_000)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_background_jobs_run_nicer_than_the_window_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    """The file check, billing and the list's preparations yield the processor to keystrokes."""
    import os

    from desktop.ui.operation import BACKGROUND_NICENESS

    holder = QWidget()
    qtbot.addWidget(holder)
    seen: list[object] = []
    in_background(holder, "Priority", lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
                  seen.append)
    qtbot.waitUntil(lambda: bool(seen), timeout=5_000)
    in_background(holder, "Priority", lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
                  seen.append)  # a second job on the same threads: no nicer still
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5_000)
    window_thread = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen[1].value == seen[0].value  # type: ignore[attr-defined]
    assert seen[0].value == min(19, window_thread + BACKGROUND_NICENESS) > window_thread  # type: ignore[attr-defined]
