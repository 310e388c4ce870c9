"""First start on an empty database: create the Account Owner, optionally load the demo.

On an encrypted practice the Account Owner comes with the practice's recovery key,
shown once on the recovery key page (``RecoveryKeyDialog``) before this dialog closes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import passwords
from desktop.controllers.errors import CaseloadError
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.ui.dialogs.recovery_key import RecoveryKeyDialog
from desktop.ui.operation import attempt
from desktop.ui.widgets import problem_label


class FirstRunDialog(QDialog):
    """Collects the owner's details, validates them live, and creates the account."""

    def __init__(self, practice: Practice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.practice = practice
        self.actor: Actor | None = None
        # An encrypted practice's recovery key, made with the Account Owner (shown once).
        self.recovery_key: str | None = None
        # Whether they typed its last group on the recovery key page (else went on without).
        self.recovery_key_confirmed = False
        self.setWindowTitle("Welcome to Caseload")
        self.setObjectName("firstRunDialog")
        self.setMinimumWidth(460)

        intro = QLabel(
            "<h3>Set up your practice</h3>"
            "<p>Create the Account Owner: the person who manages users and may do "
            "everything in Caseload. You sign in with these details from now on.</p>"
            + ("<p>The practice file on this computer is encrypted: it opens only with your "
               "password, or with the recovery key shown next.</p>" if practice.encrypted else ""))
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)

        self.username = self._field("username", "Username")
        self.display_name = self._field("displayName", "Your name")
        self.password = self._field("password", "Password", secret=True)
        self.password.setPlaceholderText("10 or more characters")
        self.repeat = self._field("repeatPassword", "Repeat password", secret=True)
        self.demo = QCheckBox("Load the demo practice (1,000 fictional clients) to try things out")
        self.demo.setObjectName("loadDemo")
        self.demo.setAccessibleName("Load the demo practice")
        # The one exception to the password rule, said where the choice is made.
        self.demo_note = QLabel("Its fictional users (manager, clinicians, biller, scheduler) share the "
                                "published password “demo”. Every password a person sets, yours "
                                "included, needs 10 or more characters.")
        self.demo_note.setObjectName("demoNote")
        self.demo_note.setWordWrap(True)
        self.demo_note.setIndent(24)
        small = self.demo_note.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.demo_note.setFont(small)
        self.demo.setAccessibleDescription(self.demo_note.text())
        self.problem = problem_label()

        form = QFormLayout()
        form.addRow("&Username:", self.username)
        form.addRow("Your &name:", self.display_name)
        form.addRow("&Password:", self.password)
        form.addRow("&Repeat password:", self.repeat)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.create_button.setText("Create Account Owner")
        self.create_button.setObjectName("createOwner")
        self.create_button.setDefault(True)
        self.buttons.accepted.connect(self._create)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.demo)
        layout.addWidget(self.demo_note)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        for edit in (self.username, self.display_name, self.password, self.repeat):
            edit.textChanged.connect(self._validate)
        self._validate()

    def _field(self, name: str, accessible: str, *, secret: bool = False) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(name)
        edit.setAccessibleName(accessible)
        if secret:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
        return edit

    def _validate(self) -> None:
        problem = ""
        if self.password.text() and passwords.problem(self.password.text()):
            problem = passwords.problem(self.password.text()) or ""
        elif self.repeat.text() and self.repeat.text() != self.password.text():
            problem = "The two passwords differ."
        self.problem.setText(problem)
        self.create_button.setEnabled(not problem and bool(self.username.text().strip())
                               and bool(self.password.text()) and self.repeat.text() == self.password.text())

    def _create(self) -> None:
        username, display_name = self.username.text(), self.display_name.text()
        password = self.password.text()
        self.create_button.setEnabled(False)  # a second click while the key is made does nothing
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            created = attempt(self, "Account Owner not created", lambda: self.practice.access.create_owner(
                username, display_name, password), report=self.problem.setText)
        finally:
            QApplication.restoreOverrideCursor()
        if not created or created.value is None:
            self._validate()
            return
        self.actor, self.recovery_key = created.value
        if self.recovery_key is not None:
            self.show_recovery_key(self.actor, self.recovery_key)
        self.accept()

    def show_recovery_key(self, actor: Actor, recovery_key: str) -> None:
        """The recovery key page, over this dialog, before it closes."""
        try:
            name = self.practice.settings.settings(actor).name
        except CaseloadError:
            name = ""
        page = RecoveryKeyDialog(recovery_key, name or "your practice", self)
        page.exec()
        self.recovery_key_confirmed = page.confirmed
        page.deleteLater()
