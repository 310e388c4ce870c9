"""A new password for an Account Owner with the practice's recovery key, from the sign-in dialog.

An encrypted practice (docs/rules.md, "Privacy at rest") opens with a user's password or
with its recovery key, shown once when the practice was set up. When the Account Owner's
password is forgotten, the key sets a new one (``Access.recover``) and signs them in:
the sign-in dialog then takes that sign-in as its own.

The fields are checked as they are typed: the key's characters and length (the
controller still decides whether it is one), the password rule, and the repetition;
the button waits until all are plausible. Like signing in, the attempt runs off the
window's thread under a wait cursor, one press one attempt. Every refusal is one
sentence under the form and changes nothing else: a key that does not open the
practice stays in its box, selected, since one character may be mistyped. Too many
wrong keys make the next attempt wait; the button counts the wait down.
"""

from __future__ import annotations

import math
import re
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
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import passwords
from desktop.controllers.access import SignedIn, say_wait
from desktop.controllers.errors import InvalidInput, NotSignedIn, SignInThrottled
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.ui.dialogs.change_password import DIFFER, secret_edit
from desktop.ui.dialogs.recovery_key import monospace_font
from desktop.ui.dialogs.sign_in import TICK_MS, countdown
from desktop.ui.operation import Outcome, in_background
from desktop.ui.widgets import heading_label, problem_label

SET = "Set the new password"
GROUPS, GROUP_LEN = 8, 5
KEY_LENGTH = GROUPS * GROUP_LEN
# What a key may hold as typed: base32, and 0/1/8 read as O/I/B (as the controller reads them).
KEY_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" "018")
EXPLANATION = (
    "The recovery key was shown when this practice was set up, to be printed or saved as a PDF: "
    "8 groups of 5 letters and digits. With it you set a new password for an Account Owner, and "
    "are signed in as them.")
OTHERS = "For anyone else, the Account Owner sets a new password in the Users window."
KEY_CHARACTERS_ONLY = "A recovery key has only the letters A to Z and the digits 2 to 7; “{}” is not one of them."
KEY_TOO_LONG = f"That is longer than a recovery key, which has {KEY_LENGTH} letters and digits in {GROUPS} groups of {GROUP_LEN}."
KEY_TOO_SHORT = (f"That is shorter than a recovery key: {{}} of its {KEY_LENGTH} letters and digits are "
                 "typed.")
TOO_MANY = "Too many wrong recovery keys were tried. Wait {}, then try again."


def squeezed(text: str) -> str:
    """A key as typed, without its spaces and dashes, in capitals."""
    return re.sub(r"[\s\-‐-―]", "", text).upper()


def key_problem(text: str, *, finished: bool) -> str:
    """Why ``text`` cannot be a recovery key, in one sentence ("" if it may be one). Too short is
    said only once the person has left the box (``finished``): while typing, every key is."""
    typed = squeezed(text)
    wrong = next((c for c in typed if c not in KEY_CHARACTERS), None)
    if wrong is not None:
        return KEY_CHARACTERS_ONLY.format(wrong)
    if len(typed) > KEY_LENGTH:
        return KEY_TOO_LONG
    if finished and 0 < len(typed) < KEY_LENGTH:
        return KEY_TOO_SHORT.format(len(typed))
    return ""


def plausible_key(text: str) -> bool:
    typed = squeezed(text)
    return len(typed) == KEY_LENGTH and all(c in KEY_CHARACTERS for c in typed)


class RecoverDialog(QDialog):
    """The recovery key, whose password (when there are several Account Owners), the new password;
    on success ``signed_in`` is that Account Owner's sign-in and the dialog accepts."""

    def __init__(self, practice: Practice, parent: QWidget | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.practice = practice
        self.signed_in: SignedIn | None = None
        self.clock = clock  # seconds on a steady clock; a test may move it on
        self.busy = False  # an attempt is running
        self._until = 0.0  # when the next attempt may be made, after too many wrong keys
        self._wait_said = ""
        self._refusal = ""  # the last refusal, said until something is typed
        self._key_left = False  # the person left the key box (a short key is then called short)
        self.setObjectName("recoverDialog")
        self.setWindowTitle("Forgotten password")

        heading = heading_label("Set a new password with the recovery key", scale=1.25,
                                name="recoverHeading")
        heading.setWordWrap(True)
        explanation = QLabel(EXPLANATION)
        explanation.setObjectName("recoverExplanation")
        others = QLabel(OTHERS)
        others.setObjectName("recoverOthers")
        for label in (explanation, others):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)

        self.key = QLineEdit()
        self.key.setObjectName("recoveryKeyInput")
        self.key.setAccessibleName("Recovery key")
        self.key.setFont(monospace_font())
        self.key.setPlaceholderText("XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX")
        self.key.setMaxLength(200)
        # The whole key in view, as printed: 8 groups of 5 and the dashes between them.
        self.key.setMinimumWidth(self.key.fontMetrics().horizontalAdvance("W" * 47) + 24)
        self.username = QLineEdit()
        self.username.setObjectName("recoverUsername")
        self.username.setAccessibleName("Account Owner's username")
        hint = "Needed only if the practice has several Account Owners"
        self.username.setPlaceholderText(hint)
        self.username.setAccessibleDescription(hint)
        self.password = secret_edit("recoverPassword", "New password")
        self.password.setPlaceholderText(f"At least {passwords.MINIMUM} characters")
        self.repeat = secret_edit("recoverRepeat", "Repeat new password")
        self.problem = problem_label("recoverProblem")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Recovery &key:", self.key)
        form.addRow("Account Owner's &username:", self.username)
        form.addRow("&New password:", self.password)
        form.addRow("&Repeat new password:", self.repeat)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.set_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.set_button.setText(SET)
        self.set_button.setObjectName("setNewPassword")
        self.set_button.setDefault(True)
        self.cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel.setObjectName("cancel")
        self.buttons.accepted.connect(self._recover)
        self.buttons.rejected.connect(self.reject)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.refresh)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(explanation)
        layout.addWidget(others)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        # Never narrower than the form needs (an explicit minimum would override the layout's).
        self.setMinimumWidth(max(560, layout.totalMinimumSize().width()))

        self.key.textChanged.connect(self._key_typed)
        self.key.editingFinished.connect(self._key_finished)
        for edit in (self.username, self.password, self.repeat):
            edit.textChanged.connect(self._typed)
        self.repeat.editingFinished.connect(self.refresh)
        self.key.setFocus()
        self.refresh()

    # ------------------------------------------------------------- checking as they type

    @Slot()
    def _key_typed(self) -> None:
        self._key_left = False
        self._typed()

    @Slot()
    def _key_finished(self) -> None:
        self._key_left = True
        self.refresh()

    @Slot()
    def _typed(self) -> None:
        self._refusal = ""  # something new to try: the last refusal no longer applies
        self.refresh()

    def live_problem(self) -> str:
        """What is wrong with the fields as typed, in one sentence ("" if nothing is, yet)."""
        said = key_problem(self.key.text(), finished=self._key_left)
        if said:
            return said
        typed, again = self.password.text(), self.repeat.text()
        if typed and passwords.problem(typed):
            return passwords.problem(typed) or ""
        finished = not self.repeat.hasFocus()
        still_typing = not finished and len(again) < len(typed) and typed.startswith(again)
        if again and again != typed and not still_typing:
            return DIFFER
        return ""

    def plausible(self) -> bool:
        typed = self.password.text()
        return (plausible_key(self.key.text()) and bool(typed) and passwords.problem(typed) is None
                and self.repeat.text() == typed)

    def remaining(self) -> float:
        """Seconds before another attempt may be made; 0 when it may."""
        return max(0.0, self._until - self.clock())

    def refresh(self) -> None:
        """The problem label and the button as the fields, the last refusal and the wait leave them."""
        left = self.remaining()
        waiting = left > 0
        if not waiting:
            self.timer.stop()
            if self._refusal and self._refusal == self._wait_said:
                self._refusal = ""
        self.problem.setText(self.live_problem() or self._refusal or (self._wait_said if waiting else ""))
        self.set_button.setText(countdown(left) if waiting else SET)
        self.set_button.setAccessibleName(f"{SET}, after {math.ceil(left)} seconds" if waiting else SET)
        self.set_button.setEnabled(self.plausible() and not waiting and not self.busy)

    # ------------------------------------------------------------- the attempt

    def _recover(self) -> None:
        if self.busy or not self.set_button.isEnabled():
            return  # a second Return while the first still runs, during a wait, or with a field not ready
        key, password = self.key.text(), self.password.text()
        username = self.username.text().strip() or None
        self._refusal = ""
        self._set_busy(True)
        in_background(self, "Password not set",
                      lambda: self.practice.access.recover(key, password, username),
                      lambda outcome: self._done(username, outcome), report=self._refused)

    def _refused(self, message: str) -> None:
        self._refusal = message
        self.refresh()

    def _set_busy(self, busy: bool) -> None:
        if busy == self.busy:
            return
        self.busy = busy
        for edit in (self.key, self.username, self.password, self.repeat):
            edit.setReadOnly(busy)
        self.cancel.setEnabled(not busy)
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        else:
            QApplication.restoreOverrideCursor()
        self.refresh()

    def _done(self, username: str | None, outcome: Outcome[Actor]) -> None:
        self._set_busy(False)
        if outcome and outcome.value is not None:
            self.signed_in = SignedIn(outcome.value)
            for edit in (self.key, self.password, self.repeat):
                edit.clear()
            self.accept()
            return
        error = outcome.error
        if isinstance(error, SignInThrottled):
            seconds = max(1, error.wait_seconds)
            self._until = self.clock() + seconds
            self._wait_said = self._refusal = TOO_MANY.format(say_wait(seconds))
            self.timer.start()
        elif isinstance(error, NotSignedIn) or (isinstance(error, InvalidInput)
                                                and error.field == "recovery_key"):
            self.key.selectAll()  # kept: one character may be mistyped
            self.key.setFocus()
        elif isinstance(error, InvalidInput) and error.field == "username":
            self._refusal = self._about_username(username, str(error))
            self.username.selectAll()
            self.username.setFocus()
        elif isinstance(error, InvalidInput) and error.field == "new_password":
            self.password.selectAll()
            self.password.setFocus()
        self.refresh()

    @staticmethod
    def _about_username(username: str | None, said: str) -> str:
        """The controller's refusal about whose password to set, in this window's words."""
        if username:
            # Isolated, and never first: an Arabic or Hebrew name would turn the sentence around.
            return (f"No active Account Owner of this practice is called \u2068{username}\u2069: type an "
                    "Account Owner's username, or leave it empty.")
        # Several Account Owners, listed for the command line's option, which is this window's box.
        # Usernames hold no spaces, so ", " parts them; each is isolated, like the one above.
        listed = re.search(r"with --as \((.*)\)\.?$", said, re.DOTALL)
        if listed is None:
            return said
        names = ", ".join(f"\u2068{name}\u2069" for name in listed.group(1).split(", "))
        return f"This practice has several Account Owners: type whose password to set as the username ({names})."

    # ------------------------------------------------------------- leaving

    def reject(self) -> None:
        if self.busy:
            return  # Cancel waits for the attempt under way: it may already have set the password
        super().reject()

    def done(self, result: int) -> None:
        self.timer.stop()
        if self.busy:  # never leave the wait cursor behind
            self.busy = False
            QApplication.restoreOverrideCursor()
        super().done(result)
