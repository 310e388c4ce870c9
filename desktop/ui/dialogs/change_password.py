"""Choosing a password: the two-field pair every password form shares, and Change password.

A password is typed twice, and the form says beside the field, while it is
typed, why it may not be used (``passwords.problem``, the controllers' own
rule) or that the two differ; the button that saves stays disabled until both
are right. Change password is also what a person meets when they sign in with
a password someone else chose for them (docs/rules.md, "Users and passwords").
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import passwords
from desktop.controllers.errors import InvalidInput
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.ui.operation import attempt
from desktop.ui.widgets import DANGER, form_row, problem_label

DIFFER = "The two passwords differ."


def field_with_error(field: QWidget, name: str) -> tuple[QWidget, QLabel]:
    """``field`` with a red sentence under it (hidden while there is nothing to say)."""
    box = QWidget()
    box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    column.addWidget(field)
    error = QLabel()
    error.setObjectName(name)
    error.setStyleSheet(f"color: {DANGER};")
    error.setTextFormat(Qt.TextFormat.PlainText)
    error.setWordWrap(True)
    error.setVisible(False)
    column.addWidget(error)
    return box, error


def say(error: QLabel, message: str | None) -> None:
    """Show ``message`` under its field, or hide the label when there is none."""
    error.setText(message or "")
    error.setVisible(bool(message))


def stack_form(dialog: QWidget, intro: QWidget, form: QLayout, problem: QWidget, buttons: QWidget) -> None:
    """The layout these dialogs share: what it is about, the form, why it was refused, the buttons."""
    layout = QVBoxLayout(dialog)
    layout.addWidget(intro)
    layout.addSpacing(4)
    layout.addLayout(form)
    layout.addWidget(problem)
    layout.addStretch(1)
    layout.addWidget(buttons)


def secret_edit(name: str, accessible: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setAccessibleName(accessible)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class NewPassword(QObject):
    """A new password and its repetition, as two rows of a form, checked as they are typed.

    ``name`` prefixes the object names: ``password`` gives the fields
    ``password`` and ``repeatPassword`` and the sentences ``passwordError`` and
    ``repeatPasswordError``. ``changed`` fires on every keystroke in either.
    """

    changed = Signal()

    def __init__(self, form: QFormLayout, name: str = "password", label: str = "&Password:",
                 repeat_label: str = "&Repeat password:") -> None:
        super().__init__(form)
        self.edit = secret_edit(name, label.replace("&", "").rstrip(":"))
        self.edit.setPlaceholderText(f"At least {passwords.MINIMUM} characters")
        self.repeat = secret_edit("repeatPassword", repeat_label.replace("&", "").rstrip(":"))
        box, self.error = field_with_error(self.edit, f"{name}Error")
        form_row(form, label, box, buddy=self.edit)
        repeat_box, self.repeat_error = field_with_error(self.repeat, "repeatPasswordError")
        form_row(form, repeat_label, repeat_box, buddy=self.repeat)
        self.edit.textChanged.connect(self._check)
        self.repeat.textChanged.connect(self._check)
        # Half-typed repetitions are not called different; leaving the field is when to say it.
        self.repeat.editingFinished.connect(self._repeat_finished)

    @Slot()
    def _repeat_finished(self) -> None:
        self._check(finished=True)

    def _check(self, _text: str = "", *, finished: bool = False) -> None:
        typed, again = self.edit.text(), self.repeat.text()
        say(self.error, passwords.problem(typed) if typed else None)
        still_typing = not finished and len(again) < len(typed) and typed.startswith(again)
        say(self.repeat_error, DIFFER if again and again != typed and not still_typing else None)
        self.changed.emit()

    def is_ready(self) -> bool:
        """Both typed, the same, and a password the rule allows."""
        typed = self.edit.text()
        return bool(typed) and passwords.problem(typed) is None and self.repeat.text() == typed

    def value(self) -> str:
        return self.edit.text()

    def refused(self, message: str) -> None:
        """The controller's refusal of the new password, said under it."""
        say(self.error, message)

    def clear(self) -> None:
        self.edit.clear()
        self.repeat.clear()


class ChangePasswordDialog(QDialog):
    """The signed-in person changes their own password; afterwards ``actor`` is the new Actor.

    With ``forced`` the person signed in with a password someone else chose (a
    new account's first one, or a reset): the dialog says so, and its only way
    out other than changing it is Sign Out, which rejects the dialog. The caller
    must then sign the person out; every other operation is refused until the
    password is changed, so nothing is gained by carrying on without it.
    """

    def __init__(self, practice: Practice, actor: Actor, parent: QWidget | None = None, *,
                 forced: bool = False) -> None:
        super().__init__(parent)
        self.users = practice.users
        self.actor = actor
        self.forced = forced
        self.setObjectName("changePasswordDialog")
        self.setWindowTitle("Choose your own password" if forced else "Change your password")
        self.setMinimumWidth(480)

        # The name is isolated and never starts the sentence: an Arabic or Hebrew name there
        # would turn the whole paragraph right-to-left.
        who = f"\u2068{actor.display_name}\u2069 (\u2068{actor.username}\u2069)"
        if forced:
            text = (f"Signed in as {who}. The password you signed in with was chosen by someone "
                    "else: choose your own now, and Caseload opens once you have. Sign Out leaves "
                    "without changing it.")
        else:
            text = f"Signed in as {who}. Choose a new password to sign in with from now on."
        self.intro = QLabel(text)
        self.intro.setObjectName("intro")
        self.intro.setTextFormat(Qt.TextFormat.PlainText)  # it names a person
        self.intro.setWordWrap(True)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.current = secret_edit("currentPassword", "Current password")
        current_box, self.current_error = field_with_error(self.current, "currentPasswordError")
        form_row(form, "&Current password:", current_box, buddy=self.current)
        self.new = NewPassword(form, "newPassword", "&New password:", "&Repeat new password:")
        self.problem = problem_label()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.save_button.setText("Change Password")
        self.save_button.setObjectName("changePassword")
        self.save_button.setDefault(True)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("cancel")
        if forced:
            self.cancel_button.setText("Sign Out")
        buttons.accepted.connect(self.change)
        buttons.rejected.connect(self.reject)

        stack_form(self, self.intro, form, self.problem, buttons)
        self.current.textChanged.connect(self._update)
        self.current.textChanged.connect(self._current_typed)
        self.new.changed.connect(self._update)
        self._update()
        self.current.setFocus()

    @Slot(str)
    def _current_typed(self, _text: str) -> None:
        say(self.current_error, None)  # a new try at the current password: the old refusal goes

    def _update(self) -> None:
        self.save_button.setEnabled(bool(self.current.text()) and self.new.is_ready())

    def change(self) -> None:
        if not self.save_button.isEnabled():
            return  # Return in a field presses the default button even while it waits
        self.problem.clear()
        old, new = self.current.text(), self.new.value()
        changed = attempt(self, "Password not changed", lambda: self.users.change_password(
            self.actor, old, new), report=self.problem.setText)
        if not changed:
            error = changed.error
            if isinstance(error, InvalidInput) and error.field == "old_password":
                say(self.current_error, str(error))
                self.problem.clear()
                self.current.selectAll()
                self.current.setFocus()
            elif isinstance(error, InvalidInput) and error.field == "new_password":
                self.new.refused(str(error))
                self.problem.clear()
            return
        assert changed.value is not None
        self.actor = changed.value
        self.accept()
