"""The automatic billing run while the window is open (docs/rules.md, "Billing").

It runs soon after the window has its list, then every hour, on a worker
thread, as the practice (not as whoever is signed in). While it runs, the
status bar says how far it has got; afterwards, what it made. A run that
cannot reach the database says so in the status bar and tries again at the
next hour, never in a dialog that would interrupt someone's work. Closing the
window stops a run between two of its chunks (each chunk is committed whole).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QWidget

from desktop.controllers.errors import CaseloadError
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.ui import activity
from desktop.ui.operation import Outcome, in_background

if TYPE_CHECKING:  # (the billing controller is imported when the run is first made)
    from desktop.controllers.billing import BillingRunReport


def offered_to(actor: Actor) -> bool:
    """Whether the Billing page is offered: to the roles that may run billing."""
    return actor.can(Action.RUN_BILLING, any_client=True)


HOUR_MS = 60 * 60 * 1000
FIRST_RUN_DELAY_MS = 1_500  # after the list is shown: starting up comes first
PROGRESS_MS = 250
# Between two chunks the run waits while the person typed, sorted or filtered in the list
# within YIELD_AFTER_S, for at most YIELD_MAX_S at a time (so it always gets on).
YIELD_AFTER_S = 1.0
YIELD_MAX_S = 10.0


class Stopped(CaseloadError):
    """The window closed while a run was going: it stopped between two chunks."""


class AutomaticBilling(QObject):
    """Runs billing for ``practice`` now and hourly; ``finished`` after each run that made something."""

    finished = Signal(object)  # the BillingRunReport of a run that created or held something

    def __init__(self, practice: Practice, window: QWidget, label: QLabel,
                 interval_ms: int = HOUR_MS) -> None:
        super().__init__(window)
        self.practice = practice
        self.window = window
        self.label = label
        self.running = False
        self.stopping = False
        self.last_report: BillingRunReport | None = None
        self.last_problem: str | None = None
        self._progress: tuple[int, int] | None = None  # written by the worker, read by the GUI
        self.hourly = QTimer(self)
        self.hourly.setInterval(interval_ms)
        self.hourly.timeout.connect(self.run)
        self.ticker = QTimer(self)
        self.ticker.setInterval(PROGRESS_MS)
        self.ticker.timeout.connect(self._show_progress)

    def start(self, delay_ms: int = FIRST_RUN_DELAY_MS) -> None:
        """The first run after ``delay_ms``, then one an hour."""
        QTimer.singleShot(delay_ms, self, self.run)
        self.hourly.start()

    def stop(self) -> None:
        """No more runs; one under way stops after its current chunk."""
        self.stopping = True
        self.hourly.stop()
        self.ticker.stop()

    @Slot()
    def run(self) -> None:
        if self.running or self.stopping:
            return
        self.running = True
        self._progress = None
        self.ticker.start()
        billing = self.practice.billing
        progress: Callable[[int, int], None] = self._note_progress
        in_background(self.window, "Automatic billing", lambda: billing.run_automatic(progress=progress),
                      self._done, report=self._failed)

    def _note_progress(self, done: int, total: int) -> None:
        # On the worker thread: only a plain value is written; the GUI reads it on its own timer.
        if self.stopping:
            raise Stopped("Automatic billing stopped: the window was closed.")
        self._progress = (done, total)
        # A chunk is Python from end to end, and the window's thread waits for the interpreter
        # whenever a chunk has it: while someone is working in the list, the run waits
        # (docs/rules.md, "Lists").
        waited = 0.0
        while activity.busy(YIELD_AFTER_S) and waited < YIELD_MAX_S and not self.stopping:
            time.sleep(0.05)
            waited += 0.05

    @Slot()
    def _show_progress(self) -> None:
        seen = self._progress
        if seen is None or seen[1] < 50:  # a handful of clients is done before it could be read
            return
        done, total = seen
        self.label.setText(f"Automatic billing: {done:,} of {total:,} clients…")

    def retry_if_failed(self) -> None:
        """The practice server answers again: a run that failed meanwhile goes now, not in an hour."""
        if self.last_problem is not None and not self.running and not self.stopping:
            self.run()

    def _failed(self, message: str) -> None:
        self.last_problem = message
        if not self.stopping:
            self.label.setText(f"Automatic billing did not run: {message} It will try again in an hour.")

    def _done(self, outcome: Outcome[BillingRunReport]) -> None:
        self.running = False
        self.ticker.stop()
        if not outcome.ok or outcome.value is None:
            return
        report = self.last_report = outcome.value
        self.last_problem = None
        at = dt.datetime.now().strftime("%H:%M")
        if report.documents_created or report.held_for_manual_billing:
            held = (f"; {report.held_for_manual_billing:,} appointments from inactive time wait for "
                    "manual billing" if report.held_for_manual_billing else "")
            self.label.setText(f"Automatic billing at {at}: {report.documents_created:,} documents "
                               f"made{held}.")
            self.finished.emit(report)
        else:
            self.label.setText(f"Automatic billing at {at}: nothing was due.")
