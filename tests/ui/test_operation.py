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
def test_background_jobs_run_nicer_than_the_window_thread(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The file check, billing and the list's preparations yield the processor to keystrokes:
    a worker thread is made nicer once (pool threads run many jobs), the window's is not."""
    import os

    from desktop.ui import operation

    monkeypatch.setattr(operation, "BACKGROUND_NICENESS", 10)
    window_thread = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []

    def worker() -> None:
        for _ in range(2):
            operation.lower_priority()
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [min(19, window_thread + 10)] * 2 and seen[0] > window_thread
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == window_thread


def test_a_receiver_that_fails_does_not_keep_the_others_from_hearing_back(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Jobs that finish together are delivered together: a bug in one receiver is reported, and
    the next still hears back (the list's whole read after its first rows, say)."""
    from concurrent.futures import Future

    from desktop.ui.operation import when_resolved

    parent = QWidget()
    qtbot.addWidget(parent)
    reported: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, _error, _trace: reported.append(kind))
    first, second = Future(), Future()  # type: ignore[var-annotated]
    heard: list[object] = []

    def fails(_outcome: Outcome[object]) -> None:
        raise RuntimeError("a bug in the first receiver")

    when_resolved(parent, first, fails)
    when_resolved(parent, second, lambda outcome: heard.append(outcome.value))
    first.set_result(1)
    second.set_result(2)
    qtbot.waitUntil(lambda: heard == [2], timeout=5_000)
    assert reported == [RuntimeError]
