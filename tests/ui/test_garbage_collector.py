"""The application's cycle collector (``desktop.ui.app.GarbageCollector``): run on the window's
thread, and never scanning a crowd of objects a background read just made (that froze the
Appointments page for 300 ms a day of 50,000 appointments)."""

from __future__ import annotations

import gc
import weakref

import pytest
from PySide6.QtCore import QObject

from desktop.ui import activity
from desktop.ui.app import GarbageCollector


class Node:
    other: Node | None = None


def cycle() -> weakref.ref[Node]:
    """Two objects that hold each other and nothing else: garbage only the collector frees."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def collector(qapp):  # type: ignore[no-untyped-def]
    owner = QObject()
    made = GarbageCollector(owner)
    made.timer.stop()  # checked by hand here
    gc.unfreeze()
    gc.collect()
    yield made
    gc.unfreeze()
    gc.collect()
    owner.deleteLater()


def test_a_few_new_objects_are_collected_as_python_would(collector, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    garbage = cycle()
    extra = [[i] for i in range(1_000)]  # past the first threshold (700)
    collector.check()
    assert garbage() is None and gc.get_freeze_count() == 0
    del extra


def test_a_crowd_of_new_objects_is_set_aside_and_its_garbage_freed_once_the_list_is_quiet(
        collector, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    garbage = cycle()
    crowd = [[i] for i in range(GarbageCollector.FREEZE_ABOVE + 5_000)]  # a background read's rows
    collector.check()
    assert gc.get_freeze_count() > GarbageCollector.FREEZE_ABOVE  # set aside, not scanned
    assert garbage() is not None
    monkeypatch.setattr(GarbageCollector, "RECLAIM_EVERY_S", 0.0)
    activity.mark()  # someone is typing in the list: not now
    collector.check()
    assert garbage() is not None and gc.get_freeze_count()
    monkeypatch.setattr(activity, "_last", float("-inf"))  # quiet
    collector.check()
    assert garbage() is None and gc.get_freeze_count() == 0
    assert len(crowd) == GarbageCollector.FREEZE_ABOVE + 5_000  # what is still used stays
