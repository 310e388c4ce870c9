"""The application's cycle collector (``desktop.ui.app.GarbageCollector``): run on the window's
thread, and never scanning a crowd of objects a background read just made (that froze the
Appointments page for 300 ms a day of 50,000 appointments)."""

from __future__ import annotations

import gc
import threading
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


def test_a_full_collection_waits_for_a_quiet_moment(collector, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A full collection scans every object (380 ms beside a day of 50,000 appointments): when
    one is due, what there is is set aside instead, and scanned once the list is quiet."""
    kept = [cycle()()]  # a cycle still used, which grows old
    gc.collect(1)
    gc.collect(1)
    garbage = weakref.ref(kept.pop())  # now garbage that only a full collection frees
    for _ in range(gc.get_threshold()[2] + 1):
        gc.collect(1)  # the oldest generation's count: a full collection is due
    for _ in range(gc.get_threshold()[1] + 1):
        gc.collect(0)
    young = [[i] for i in range(gc.get_threshold()[0] + 100)]
    monkeypatch.setattr(GarbageCollector, "RECLAIM_EVERY_S", 0.0)
    activity.mark()  # someone is typing in the list
    collector.check()
    assert garbage() is not None and gc.get_freeze_count()  # set aside, not scanned
    monkeypatch.setattr(activity, "_last", float("-inf"))  # quiet
    collector.check()
    assert garbage() is None and gc.get_freeze_count() == 0
    del young


def test_new_objects_counted_against_old_ones_freed_are_still_set_aside(collector) -> None:  # type: ignore[no-untyped-def]
    """Python counts objects made less objects freed: a day of appointments read while the day
    before is let go counts few, yet a collection would scan every one of them."""
    old = [[i] for i in range(GarbageCollector.FREEZE_ABOVE + 10_000)]
    gc.collect()  # grown old
    garbage = cycle()
    new = [[i] for i in range(GarbageCollector.FREEZE_ABOVE + 10_000)]
    del old
    more = [[i] for i in range(gc.get_threshold()[0] + 100)]
    assert gc.get_threshold()[0] < gc.get_count()[0] < GarbageCollector.FREEZE_ABOVE
    collector.check()
    assert garbage() is not None and gc.get_freeze_count() > len(new)  # set aside, not scanned
    del new, more


def test_while_a_background_job_runs_new_objects_are_set_aside_uncounted(  # type: ignore[no-untyped-def]
        collector, qtbot, monkeypatch) -> None:
    """A background read makes objects while the day before is freed: Python's count says little,
    and counting them (a list of every one) held the window 12 ms. While a job runs, or just
    ran, more than a few new objects are neither counted nor scanned: they are set aside until
    the list is quiet."""
    from PySide6.QtWidgets import QWidget

    from desktop.ui.operation import in_background, wait_for_background_jobs

    def counted(generation: int) -> list[object]:
        raise AssertionError("counted the new objects")

    parent = QWidget()
    qtbot.addWidget(parent)
    release = threading.Event()
    in_background(parent, "reading", lambda: release.wait(10), lambda _outcome: None)
    garbage = cycle()
    extra = [[i] for i in range(GarbageCollector.BUSY_FREEZE_ABOVE + 1_000)]  # far below FREEZE_ABOVE
    with monkeypatch.context() as patched:
        patched.setattr(gc, "get_objects", counted)
        collector.check()
    assert garbage() is not None and gc.get_freeze_count() >= len(extra)  # set aside, not scanned
    release.set()
    assert wait_for_background_jobs()
    monkeypatch.setattr(GarbageCollector, "RECLAIM_EVERY_S", 0.0)
    monkeypatch.setattr(activity, "_last", float("-inf"))  # quiet
    collector.check()
    assert garbage() is None and gc.get_freeze_count() == 0
    del extra


def test_beside_background_work_a_few_new_objects_are_still_collected_at_once(  # type: ignore[no-untyped-def]
        collector, qtbot) -> None:
    """A small job (a list of clinicians read) leaves a few objects: collected as Python would,
    not set aside for a full collection later (hundreds of milliseconds at a million clients)."""
    from PySide6.QtWidgets import QWidget

    from desktop.ui.operation import in_background, wait_for_background_jobs

    parent = QWidget()
    qtbot.addWidget(parent)
    release = threading.Event()
    in_background(parent, "reading", lambda: release.wait(10), lambda _outcome: None)
    garbage = cycle()
    extra = [[i] for i in range(1_000)]  # past the first threshold (700), below BUSY_FREEZE_ABOVE
    collector.check()
    assert garbage() is None and gc.get_freeze_count() == 0
    release.set()
    assert wait_for_background_jobs()
    del extra
