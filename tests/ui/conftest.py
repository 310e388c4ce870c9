"""What every window test shares: no background job outlives the test that started it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from desktop.ui.operation import wait_for_background_jobs


@pytest.fixture(autouse=True)
def earlier_widgets_are_gone() -> Iterator[None]:
    """Delete the widgets earlier tests closed, and collect their garbage, here on the GUI thread.

    Pages read on worker threads. A worker that happens to run Python's garbage collector
    while a closed test window still waits for its deferred deletion makes Shiboken delete
    that window from inside whatever event the GUI thread handles next: a crash, seen about
    one run in four. (The application runs the collector on the GUI thread only:
    ``desktop.ui.app.GarbageCollector``.)
    """
    if QApplication.instance() is not None:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.unfreeze()  # what the application's collector set aside (GarbageCollector.check) too
    gc.collect()
    yield


@pytest.fixture(autouse=True)
def background_jobs_finish(qtbot) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Set up after ``qtbot``, so torn down before it closes the test's windows: a load or
    check still running then finishes and reports to a live window, never to the next test."""
    yield
    from tests.ui.test_profile_and_deletion import WHEN_MODAL_GENERATION

    WHEN_MODAL_GENERATION[0] += 1  # this test's dialog answerers stop here
    assert wait_for_background_jobs(), "a background job did not finish within 10 s"
