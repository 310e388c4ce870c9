"""The lock screen: who is signed in, their password to go on, or Sign out.

It is shown (never run in an event loop of its own) over the covered windows
of a locked session, application-modal, so nothing else takes input. Escape
and the close button do nothing: only Unlock or Sign out leave it.
``desktop.ui.idle_lock.ScreenLock`` does the unlocking and the signing out.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.clients_page import isolate
from desktop.ui.widgets import heading_label, problem_label

# Ending with the application's name, Qt adds nothing: every window reads "Locked — Caseload" in
# the task bar ("Caseload — locked" would show as "Caseload — locked — Caseload").
LOCKED_TITLE = "Locked — Caseload"


class LockScreen(QDialog):
    unlockRequested = Signal(str)  # the password typed
    signOutRequested = Signal()

    def __init__(self, display_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._closing_allowed = False
        self.display_name = display_name
        self.setObjectName("lockScreen")
        self.setWindowTitle(LOCKED_TITLE)
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
        self.setMinimumWidth(460)
        self.setMaximumWidth(640)

        name = isolate(display_name)
        self.heading = heading_label(f"Locked. {name} is signed in.", scale=1.3, name="lockHeading")
        self.explanation = QLabel(f"Type the password of {name} to go on where you left off. Anyone else: "
                                  "sign out, and the next person signs in.")
        self.explanation.setObjectName("lockExplanation")
        self.explanation.setTextFormat(Qt.TextFormat.PlainText)
        self.explanation.setWordWrap(True)
        self.password = QLineEdit()
        self.password.setObjectName("lockPassword")
        self.password.setAccessibleName(f"Password of {display_name}")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.problem = problem_label("lockProblem")
        self.problem.hide()
        form = QFormLayout()
        label = QLabel("&Password:")
        label.setBuddy(self.password)
        form.addRow(label, self.password)

        self.sign_out = QPushButton("Sign out")
        self.sign_out.setObjectName("lockSignOut")
        self.sign_out.setAutoDefault(False)
        self.unlock = QPushButton("Unlock")
        self.unlock.setObjectName("unlock")
        self.unlock.setDefault(True)
        self.unlock.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sign_out)
        buttons.addStretch(1)
        buttons.addWidget(self.unlock)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(self.heading)
        layout.addWidget(self.explanation)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addSpacing(6)
        layout.addLayout(buttons)

        self.password.textChanged.connect(self._typed)
        self.password.returnPressed.connect(self._unlock)
        self.unlock.clicked.connect(self._unlock)
        self.sign_out.clicked.connect(self.signOutRequested)
        self.password.setFocus()

    def _typed(self, text: str) -> None:
        self.unlock.setEnabled(bool(text) and self.sign_out.isEnabled())

    def _unlock(self) -> None:
        if self.password.text() and self.unlock.isEnabled():
            self.unlockRequested.emit(self.password.text())

    def refused(self, message: str) -> None:
        """Not unlocked: one sentence, the password box cleared for another try."""
        self._say(message)
        self.password.clear()
        self.password.setFocus()

    def set_busy(self, busy: bool, message: str | None = None) -> None:
        self.sign_out.setEnabled(not busy)
        self.password.setEnabled(not busy)
        self.unlock.setEnabled(not busy and bool(self.password.text()))
        if message is not None:
            self._say(message)

    def _say(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.setVisible(bool(message))

    # ------------------------------------------------------------ leaving only by a button

    def reject(self) -> None:
        """Escape does nothing here."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing_allowed:
            event.ignore()
            return
        super().closeEvent(event)

    def allow_close(self) -> None:
        self._closing_allowed = True

    def finish(self) -> None:
        """Unlocked or signed out: gone, and the password with it."""
        self._closing_allowed = True
        self.password.clear()
        self.hide()
        self.deleteLater()
