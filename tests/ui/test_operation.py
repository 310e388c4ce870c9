"""The one way the window runs a controller call: ``desktop.ui.operation``."""

from __future__ import annotations

import gc
import threading
import weakref

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
