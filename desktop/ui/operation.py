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

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.controllers.errors import CaseloadError, StaleVersion

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
    if report is not None:
        report(str(error))
    else:
        QMessageBox.warning(parent, title, str(error))


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


class _Signals(QObject):
    finished = Signal(object)


# Jobs started and not yet delivered (for ``wait_for_background_jobs``).
_PENDING: set[int] = set()


class _Job(QRunnable):
    def __init__(self, call: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.call: Callable[[], Any] | None = call
        self.signals = signals

    def run(self) -> None:
        call, self.call = self.call, None  # PySide may keep a finished job's wrapper: not the call's world
        try:
            outcome: Any = Outcome(True, call()) if call is not None else Outcome(False)
        except CaseloadError as error:
            outcome = Outcome(False, error=error)
        except BaseException:  # noqa: BLE001 - a pool thread has no crash handler: hand it over
            outcome = sys.exc_info()
        try:
            self.signals.finished.emit(outcome)
        except RuntimeError:  # its window was closed meanwhile, and the signals went with it
            _PENDING.discard(id(self.signals))


def in_background(parent: QWidget, title: str, call: Callable[[], T],
                  done: Callable[[Outcome[T]], Any], *,
                  report: Callable[[str], Any] | None = None) -> None:
    """Run ``call`` on a pool thread; ``done`` always runs on the GUI thread afterwards.

    ``call`` must use only thread-safe things (controllers are: each call has its
    own session). A refusal is shown before ``done`` gets the failed ``Outcome``;
    an unexpected exception goes to the crash handler after ``done`` has had
    its chance to close any progress dialog.
    """
    # The signals belong to ``parent`` (so to the GUI thread): the pool thread's last
    # reference never destroys them, and deleting them once delivered also lets go of
    # ``finished`` and all it holds (the connection keeps it alive, out of the collector's sight).
    signals = _Signals(parent)
    job = _Job(call, signals)
    jobs: list[_Job] = parent.__dict__.setdefault("_caseload_jobs", [])
    jobs.append(job)  # keep the job alive until it reports
    _PENDING.add(id(signals))

    def finished(outcome: Any) -> None:
        _PENDING.discard(id(signals))
        jobs.remove(job)
        signals.deleteLater()
        if isinstance(outcome, Outcome):
            if not outcome.ok and outcome.error is not None:
                show_refusal(parent, title, outcome.error, report=report)
            done(outcome)
            return
        done(Outcome(False))
        sys.excepthook(*outcome)

    signals.finished.connect(finished)
    QThreadPool.globalInstance().start(job)


def wait_for_background_jobs(timeout_ms: int = 10_000) -> bool:
    """Let every job started here finish and deliver (tests, and closing the application).

    Delivering may start another job (a load that prepares its sort orders next):
    those are waited for too, within the same time.
    """
    import time

    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        left = max(0, int((deadline - time.monotonic()) * 1000))
        QThreadPool.globalInstance().waitForDone(left)
        QCoreApplication.processEvents()
        if not _PENDING:
            return True
        if time.monotonic() >= deadline:
            return False
