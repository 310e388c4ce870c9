"""Sign in: username and password, one clear message when they are wrong, and why the last
person is no longer signed in (``notice``), when there is a reason to say.

Unlocking an encrypted practice spends about half a second on the password (Argon2), so the
sign-in runs off the window's thread under a wait cursor, and a second Return or click
meanwhile does nothing: one press, one attempt. After too many failed attempts for a
username the controller refuses with the wait it imposes (``SignInThrottled``); the Sign in
button then counts that wait down for that username and comes back by itself.

On an encrypted practice a link under the form, "Forgot the Account Owner's password?",
opens ``RecoverDialog``: the recovery key sets a new password for an Account Owner, and
that sign-in is this dialog's result, as if they had signed in here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.access import SignedIn
from desktop.controllers.errors import NotSignedIn, SignInThrottled
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.ui.operation import Outcome, in_background
from desktop.ui.widgets import problem_label

SIGN_IN = "Sign in"
TICK_MS = 250  # the countdown is redrawn this often, so it never lags a second behind


def throttle_key(username: str) -> str:
    """A username as the attempt counts compare it (``storage.attempts``): trimmed, any case."""
    return username.strip().casefold()


def countdown(seconds: float) -> str:
    """The button while it waits: "Wait 15 s", "Wait 4:05"."""
    whole = max(0, math.ceil(seconds))
    return f"Wait {whole} s" if whole < 60 else f"Wait {whole // 60}:{whole % 60:02d}"


class SignInDialog(QDialog):
    def __init__(self, practice: Practice, database_label: str | None = None, parent: QWidget | None = None,
                 username: str = "", *, notice: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.practice = practice
        database_label = practice.location if database_label is None else database_label
        self.actor: Actor | None = None
        # The sign-in, with how many attempts failed since this person last signed in.
        self.signed_in: SignedIn | None = None
        # Seconds on a steady clock; ``clock`` lets a test move time on.
        self.clock = clock
        self.busy = False  # a sign-in is running
        self._waits: dict[str, tuple[float, str]] = {}  # username → (may try again at, the refusal)
        self.setWindowTitle("Sign in to Caseload")
        self.setObjectName("signInDialog")
        self.setMinimumWidth(400)

        heading = QLabel("<h3>Sign in</h3>")
        self.notice = QLabel(notice)
        self.notice.setObjectName("signInNotice")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.notice.setVisible(bool(notice))
        where = QLabel(f"Practice database: {database_label}")
        where.setObjectName("databaseLabel")
        where.setWordWrap(True)
        self.username = QLineEdit(username)
        self.username.setObjectName("username")
        self.username.setAccessibleName("Username")
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.password.setAccessibleName("Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.problem = problem_label()

        form = QFormLayout()
        form.addRow("&Username:", self.username)
        form.addRow("&Password:", self.password)
        # Only an encrypted practice has a recovery key; on any other the Account Owner resets
        # passwords from the Users window, and there is nothing to offer here.
        self.forgot: QPushButton | None = None
        if practice.encrypted:
            self.forgot = QPushButton("Forgot the Account Owner's password?")
            self.forgot.setObjectName("forgotPassword")
            self.forgot.setAccessibleDescription("Set a new password with the practice's recovery key")
            self.forgot.setAutoDefault(False)  # Return in a field always means Sign in
            self.forgot.setCursor(Qt.CursorShape.PointingHandCursor)
            self.forgot.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
            self.forgot.setStyleSheet(
                "QPushButton#forgotPassword { border: 1px solid transparent; padding: 0 1px; "
                "color: palette(link); text-decoration: underline; text-align: left; "
                "background: transparent; }"
                "QPushButton#forgotPassword:focus { border: 1px dotted palette(link); }"  # Tab finds it
                "QPushButton#forgotPassword:disabled { color: palette(mid); }")
            self.forgot.clicked.connect(self._forgot_password)
            form.addRow("", self.forgot)
        self.recovering: QDialog | None = None  # the recovery dialog, while it is open
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.sign_in = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.sign_in.setText(SIGN_IN)
        self.sign_in.setObjectName("signIn")
        self.sign_in.setDefault(True)
        # As wide as its longest countdown, so the buttons do not jump while it counts.
        metrics = self.sign_in.fontMetrics()
        self.sign_in.setMinimumWidth(max(self.sign_in.sizeHint().width(),
                                         metrics.horizontalAdvance(countdown(599)) + 24))
        self.cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._sign_in)
        self.buttons.rejected.connect(self.reject)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.refresh)
        self.username.textChanged.connect(self.refresh)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.notice)
        layout.addWidget(where)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        (self.password if username else self.username).setFocus()

    # ------------------------------------------------------------- waiting after refusals

    def remaining(self, username: str | None = None) -> float:
        """Seconds before ``username`` (the one typed) may try again; 0 when it may."""
        found = self._waits.get(throttle_key(self.username.text() if username is None else username))
        return max(0.0, found[0] - self.clock()) if found else 0.0

    def refresh(self) -> None:
        """The Sign in button as the typed username's wait leaves it (called by the timer too)."""
        now = self.clock()
        for name in [n for n, (until, _said) in self._waits.items() if until <= now]:
            said = self._waits.pop(name)[1]
            if self.problem.text() == said:
                self.problem.clear()
        if not self._waits:
            self.timer.stop()
        left = self.remaining()
        waiting = left > 0
        self.sign_in.setText(countdown(left) if waiting else SIGN_IN)
        self.sign_in.setAccessibleName(
            f"Sign in, after {math.ceil(left)} seconds" if waiting else SIGN_IN)
        self.sign_in.setEnabled(not waiting and not self.busy)
        if waiting:
            said = self._waits[throttle_key(self.username.text())][1]
            if not self.problem.text():
                self.problem.setText(said)
        elif self.problem.text() in {said for _until, said in self._waits.values()}:
            self.problem.clear()  # that refusal was about another username

    def _wait(self, username: str, refusal: SignInThrottled) -> None:
        self._waits[throttle_key(username)] = (self.clock() + max(1, refusal.wait_seconds), str(refusal))
        if not self.timer.isActive():
            self.timer.start()

    # ------------------------------------------------------------- signing in

    def _sign_in(self) -> None:
        if self.busy or self.remaining() > 0:
            return  # a second Return while the first still runs, or during the wait
        username, password = self.username.text(), self.password.text()
        self._set_busy(True)
        self.problem.clear()
        in_background(self, "Not signed in", lambda: self.practice.access.sign_in(username, password),
                      lambda outcome: self._done(username, outcome), report=self.problem.setText)

    def _set_busy(self, busy: bool) -> None:
        if busy == self.busy:
            return
        self.busy = busy
        for edit in (self.username, self.password):
            edit.setReadOnly(busy)
        self.cancel.setEnabled(not busy)
        if self.forgot is not None:
            self.forgot.setEnabled(not busy)
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        else:
            QApplication.restoreOverrideCursor()
        self.refresh()

    def _done(self, username: str, outcome: Outcome[SignedIn]) -> None:
        self._set_busy(False)
        if outcome and outcome.value is not None:
            self.signed_in = outcome.value
            self.actor = outcome.value.actor
            self.accept()
            return
        if isinstance(outcome.error, SignInThrottled):
            self._wait(username, outcome.error)
            self.refresh()
        if isinstance(outcome.error, NotSignedIn):
            self.password.clear()
            self.password.setFocus()

    # ------------------------------------------------------------- the recovery key

    def _forgot_password(self) -> None:
        """The recovery dialog over this one (not waited for); its sign-in becomes this one's."""
        from desktop.ui.dialogs.recover import RecoverDialog  # it uses this module's countdown

        if self.busy or self.recovering is not None:
            return
        self.recovering = RecoverDialog(self.practice, self, clock=self.clock)
        # A method, not a lambda: a closure holding this dialog, let go of while its child is
        # deleted, could delete this dialog from inside that child's deletion (a crash).
        self.recovering.finished.connect(self._recovery_closed)
        self.recovering.open()

    @Slot(int)
    def _recovery_closed(self, _result: int) -> None:
        dialog, self.recovering = self.recovering, None
        if dialog is None:
            return
        signed_in: SignedIn | None = getattr(dialog, "signed_in", None)
        dialog.deleteLater()
        if signed_in is None:
            self.password.setFocus()
            return
        self.signed_in = signed_in
        self.actor = signed_in.actor
        self.accept()

    def reject(self) -> None:
        if self.busy:
            return  # Cancel waits for the sign-in under way: it may already have unlocked the file
        super().reject()

    def done(self, result: int) -> None:
        self.timer.stop()
        if self.busy:  # never leave the wait cursor behind
            self.busy = False
            QApplication.restoreOverrideCursor()
        super().done(result)
