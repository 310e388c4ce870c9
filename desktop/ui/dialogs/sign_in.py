"""Sign in: username and password, one clear message when they are wrong, and why the last
person is no longer signed in (``notice``), when there is a reason to say."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.access import SignedIn
from desktop.controllers.errors import NotSignedIn
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.ui.operation import attempt
from desktop.ui.widgets import problem_label


class SignInDialog(QDialog):
    def __init__(self, practice: Practice, database_label: str | None = None, parent: QWidget | None = None,
                 username: str = "", *, notice: str = "") -> None:
        super().__init__(parent)
        self.practice = practice
        database_label = practice.location if database_label is None else database_label
        self.actor: Actor | None = None
        # The sign-in, with how many attempts failed since this person last signed in.
        self.signed_in: SignedIn | None = None
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
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.sign_in = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.sign_in.setText("Sign in")
        self.sign_in.setObjectName("signIn")
        self.sign_in.setDefault(True)
        buttons.accepted.connect(self._sign_in)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.notice)
        layout.addWidget(where)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        (self.password if username else self.username).setFocus()

    def _sign_in(self) -> None:
        username, password = self.username.text(), self.password.text()
        signed_in = attempt(self, "Not signed in", lambda: self.practice.access.sign_in(username, password),
                            report=self.problem.setText)
        if not signed_in:
            if isinstance(signed_in.error, NotSignedIn):
                self.password.clear()
                self.password.setFocus()
            return
        self.signed_in = signed_in.value
        self.actor = signed_in.value.actor
        self.accept()
