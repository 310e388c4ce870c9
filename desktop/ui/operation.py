"""One way for the window to run a controller call and show how it went (cf. Anki's ``CollectionOp``).

``attempt`` runs a call on the GUI thread; ``in_background`` runs a slow one on
a pool thread and calls back on the GUI thread. Either way a refusal is shown
in one place, the same way everywhere:

* in the dialog's own problem label when one is given (``report``), else in a
  message box titled for what was attempted;
* a stale version ("someone else saved this") offers **Reload** when the
  caller can reload (``reload``), saying more under the question when the
  caller can (``explain``, e.g. what the other person changed); a dialog's
  problem label still says why nothing was saved;
* anything that is not a ``CaseloadError`` is a bug: it is logged by the crash
  handler and the person is told, and a progress dialog or a waiting state
  never stays up because of it (``in_background`` always calls back).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.controllers.errors import (
    CaseloadError,
    OutcomeUnknown,
    ServerUnreachable,
    StaleVersion,
)

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """How a call went: ``ok`` with its ``value``, or the ``error`` already shown."""

    ok: bool
    value: T | None = None
    error: CaseloadError | None = None

    def __bool__(self) -> bool:
        return self.ok


def show_refusal(parent: QWidget | None, title: str, error: CaseloadError, *,
                 report: Callable[[str], Any] | None = None,
                 reload: Callable[[], Any] | None = None,
                 explain: Callable[[CaseloadError], str] | None = None) -> None:
    """Say why something was not done, in the one way every window uses."""
    if isinstance(error, StaleVersion) and reload is not None:
        box = QMessageBox(parent)
        box.setObjectName("staleQuestion")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(str(error))
        if explain is not None:
            box.setInformativeText(explain(error))
        reload_button = box.addButton("Reload", QMessageBox.ButtonRole.AcceptRole)
        reload_button.setObjectName("reload")
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(reload_button)
        box.exec()
        if report is not None:
            report(str(error))  # said before reloading, so the reload may clear or add to it
        if box.clickedButton() is reload_button:
            reload()
        return
    message = in_words(parent, error)
    if report is not None:
        report(message)
    else:
        QMessageBox.warning(parent, title, message)


def in_words(parent: QWidget | None, error: CaseloadError) -> str:
    """The refusal's sentence, as a window says it: a form still holding what was typed says so
    when the server could not be reached, and a change whose outcome is unknown is looked up by
    the main window once the server is back (``desktop.ui.connection_banner``)."""
    if isinstance(error, OutcomeUnknown) and error.operation_id:
        return error.in_a_window
    if isinstance(error, ServerUnreachable):  # whatever was refused, a form's save has not happened
        window = parent.window() if parent is not None else None
        unsaved = getattr(window, "has_unsaved_changes", None)
        if callable(unsaved) and unsaved():
            return error.in_a_form
    return str(error)


def attempt(parent: QWidget | None, title: str, call: Callable[[], T], *,
            report: Callable[[str], Any] | None = None,
            reload: Callable[[], Any] | None = None,
            explain: Callable[[CaseloadError], str] | None = None) -> Outcome[T]:
    """Run ``call`` now; on a refusal show it (``show_refusal``) and return a failed ``Outcome``."""
    try:
        return Outcome(True, call())
    except CaseloadError as error:
        show_refusal(parent, title, error, report=report, reload=reload, explain=explain)
        return Outcome(False, error=error)


# Slow calls run on Python threads, and their outcomes are collected on the GUI thread by one
# timer that lives as long as the application: no Qt object is touched from another thread,
# and no Qt object is made or deleted per job (a timer per job, deleted after delivering,
# was seen destroyed twice when its window went first: a crash). A window deleted
# meanwhile simply never hears back.
_THREAD = threading.local()


def lower_priority() -> None:
    """Make the calling worker thread yield the processor to the window's thread.

    On a two-core laptop the list's keystrokes otherwise share the processor with the file
    check, a billing run and the list's own preparations; Linux lets one thread of a process
    be "nicer" than the others (elsewhere this is left alone: macOS and Windows would lower
    the whole process)."""
    if sys.platform.startswith("linux") and BACKGROUND_NICENESS and not getattr(_THREAD, "lowered", False):
        _THREAD.lowered = True  # once per thread (pool threads run many jobs)
        try:
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + BACKGROUND_NICENESS))
        except OSError:
            pass


# Added to a worker thread's niceness (at most 19); the environment may say otherwise.
def _niceness(default: int = 10) -> int:
    try:
        return max(0, int(os.environ.get("CASELOAD_BACKGROUND_NICENESS", default)))
    except ValueError:
        return default


BACKGROUND_NICENESS = _niceness()
_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="caseload-job", initializer=lower_priority)
_PENDING: set[Future[Any]] = set()
POLL_MS = 5  # a quick job waits at most this long to be shown; the timer runs only while jobs do
# Once every job still there was started this long ago, it is looked at less often: each look wakes the
# window's thread, which takes the interpreter from the reading thread (a low-priority one then
# waits for the processor to get it back: a million billing documents took 40 s instead of 15).
LONG_JOB_S = 0.25
LONG_POLL_MS = 40


# A sequence dropped with more rows than this has them freed off the window's thread (``let_go``).
LET_GO_ABOVE = 2_000
LET_GO_SLICE = 256
LET_GO_PAUSE_S = 0.001
_TO_FREE: queue.SimpleQueue[list[object]] = queue.SimpleQueue()
_FREEING: threading.Thread | None = None
_FREEING_LOCK = threading.Lock()
_LAST_BUSY = float("-inf")  # when a job was last started or delivered, or rows let go of


def _busy_now() -> None:
    global _LAST_BUSY
    _LAST_BUSY = time.monotonic()


def background_since(moment: float) -> bool:
    """Whether a background job runs now, or one was started or delivered, or rows were let go
    of, since ``moment`` (``time.monotonic``). Then Python's count of new objects (made less
    freed) says little of how many there are: the cycle collector sets them aside unscanned
    (``desktop.ui.app.GarbageCollector``) rather than count them, which at a day of 50,000
    appointments took 12 ms."""
    return _LAST_BUSY >= moment or any(not future.done() for future in _PENDING)


def let_go(rows: Sequence[object]) -> None:
    """Have the rows of a large sequence that the caller is dropping freed on a thread of
    their own, a slice at a time. Call it on the window's thread (its event loop hands the
    rows over).

    Dropping the last reference to a day of 50,000 appointments frees them all in one
    deallocation, which no other thread can interrupt: 15–25 ms in which the window could
    not answer a key. Here the GUI thread only takes a second reference to each row (a
    list); the caller then drops its own, and the freeing thread drops the list a few
    hundred rows at a time, pausing between two slices so that the window's thread, and a
    read it makes on the spot, never queue behind it for the interpreter. The list is handed
    over from the event loop, once the caller's own references are gone (a slice let go of
    while the caller still held its tuple would be freed here after all). Rows something
    else still holds (a day kept in a cache) are not freed, only let go of.
    """
    if len(rows) <= LET_GO_ABOVE:
        return
    global _FREEING
    _busy_now()
    with _FREEING_LOCK:
        if _FREEING is None or not _FREEING.is_alive():
            _FREEING = threading.Thread(target=_free_in_slices, name="caseload-free", daemon=True)
            _FREEING.start()
    held = list(rows)
    QTimer.singleShot(0, lambda: _TO_FREE.put(held))


def _free_in_slices() -> None:
    lower_priority()
    while True:
        held = _TO_FREE.get()
        while held:
            del held[-LET_GO_SLICE:]
            time.sleep(LET_GO_PAUSE_S)
        del held


@dataclass
class _Job:
    future: Future[Any] | None  # None once delivered
    parent: QWidget
    title: str
    done: Callable[[Outcome[Any]], Any]
    report: Callable[[str], Any] | None
    started: float = field(default_factory=time.monotonic)


class _Collector(QTimer):
    """The one timer that delivers finished jobs, in the order they were started."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[_Job] = []
        self.setInterval(POLL_MS)
        self.timeout.connect(self.collect)

    def add(self, job: _Job) -> None:
        _busy_now()
        self.jobs.append(job)
        if self.interval() != POLL_MS:
            self.setInterval(POLL_MS)
        if not self.isActive():
            self.start()

    @Slot()
    def collect(self) -> None:
        finished: list[_Job] = []
        running: list[_Job] = []
        for job in self.jobs:  # one look at each job: one that finishes meanwhile waits for the next tick
            (finished if job.future is not None and job.future.done() else running).append(job)
        if not finished:
            now = time.monotonic()
            if self.interval() == POLL_MS and all(now - job.started > LONG_JOB_S for job in running):
                self.setInterval(LONG_POLL_MS)
            return
        _busy_now()
        self.jobs = running
        if not self.jobs:
            self.stop()
        elif self.interval() != POLL_MS:
            self.setInterval(POLL_MS)  # a job queued behind the one that ended starts now
        for job in finished:
            _PENDING.discard(job.future)  # type: ignore[arg-type]
            try:
                if shiboken6.isValid(job.parent):
                    _deliver(job)
            except Exception:  # noqa: BLE001  (a bug in one receiver: the others still hear back)
                sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
            job.future = None


def _deliver(job: _Job) -> None:
    future, job.future = job.future, None
    assert future is not None
    error = future.exception()
    if error is None:
        # The outcome alone holds the value: a receiver that lets it go frees it (the list's
        # read of a million clients, once its rows are installed, is hundreds of megabytes).
        outcome: Outcome[Any] = Outcome(True, future.result())
        del future
        job.done(outcome)
    elif isinstance(error, CaseloadError):
        show_refusal(job.parent, job.title, error, report=job.report)
        job.done(Outcome(False, error=error))
    else:
        job.done(Outcome(False))
        sys.excepthook(type(error), error, error.__traceback__)


_COLLECTOR: _Collector | None = None


def _collector() -> _Collector:
    global _COLLECTOR
    if _COLLECTOR is None or not shiboken6.isValid(_COLLECTOR):
        _COLLECTOR = _Collector()
    return _COLLECTOR


def in_background(parent: QWidget, title: str, call: Callable[[], T],
                  done: Callable[[Outcome[T]], Any], *,
                  report: Callable[[str], Any] | None = None) -> None:
    """Run ``call`` on a worker thread; ``done`` runs on the GUI thread afterwards.

    ``call`` must use only thread-safe things (controllers are: each call has its
    own session). A refusal is shown before ``done`` gets the failed ``Outcome``;
    an unexpected exception goes to the crash handler after ``done`` has had
    its chance to close any progress dialog. If ``parent`` is deleted first,
    nothing is delivered.
    """
    future: Future[T] = _EXECUTOR.submit(call)
    _PENDING.add(future)
    _collector().add(_Job(future, parent, title, done, report))


def when_resolved(parent: QWidget, future: Future[T], done: Callable[[Outcome[T]], Any]) -> None:
    """Call ``done`` on the GUI thread once ``future`` is resolved by some other thread (a
    controller's helper thread handing something over midway): that thread then touches no
    Qt object, not even a signal of a window being closed meanwhile. The future must be
    resolved, with a value or an exception, whatever happens (``wait_for_background_jobs``
    waits for it); an exception is a bug, given to the crash handler after ``done``."""
    _PENDING.add(future)
    _collector().add(_Job(future, parent, "", done, None))


def wait_for_background_jobs(timeout_ms: int = 10_000) -> bool:
    """Let every job started here finish and deliver (tests, and closing the application).

    Delivering may start another job (a load that prepares its sort orders next):
    those are waited for too, within the same time.
    """
    import time

    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        running = [f for f in _PENDING if not f.done()]
        if running:
            futures_wait(running, timeout=max(0.0, deadline - time.monotonic()))
        for _ in range(3):
            QCoreApplication.processEvents()
            time.sleep(POLL_MS / 1000)
        QCoreApplication.processEvents()
        if all(f.done() for f in _PENDING):
            _PENDING.difference_update({f for f in _PENDING if f.done()})
            return True
        if time.monotonic() >= deadline:
            return False
