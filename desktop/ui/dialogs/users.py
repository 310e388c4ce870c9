"""The Users window: who may sign in to the practice, in which role, and managing them.

Only the Account Owner manages users (docs/rules.md, "Who may do what"); the
window asks the controller for the list and, for anyone else, shows the
controller's refusal instead of a list. Every change goes through one
controller call and is followed by reading the list again, keeping the
selected user selected. A password the owner chooses for someone (a new
account's, a reset) must be changed by them when they next sign in; the
dialogs say so. Deactivating asks first, naming the person; their history
stays and Reactivate undoes it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import validation
from desktop.controllers.errors import CaseloadError, InvalidInput, NotSignedIn, PermissionDenied
from desktop.controllers.permissions import Actor, access_profile
from desktop.controllers.practice import Practice
from desktop.controllers.users import UserRow, UsersController, username_problem
from desktop.domain.models import Role
from desktop.ui.dialogs.change_password import NewPassword, field_with_error, say, stack_form
from desktop.ui.operation import attempt
from desktop.ui.widgets import form_row, local_time, problem_label

COLUMNS = ("Username", "Name", "Role", "Last sign-in", "Status", "Password")
USERNAME, NAME, ROLE, LAST_SIGN_IN, STATUS, PASSWORD = range(len(COLUMNS))
MUST_CHANGE = "Must change password"
# Owners and managers see the entire practice whatever the box says; billers and schedulers
# have one reach each. Only a clinician's reach is a choice (permissions.access_profile).
CHOOSES_REACH = Role.CLINICIAN


def isolate(text: str) -> str:
    """A name set apart from the sentence around it, so Arabic or Hebrew keeps its order."""
    return f"\u2068{text}\u2069"


def person(row: UserRow) -> str:
    """A user as a sentence names them: "Dana Whitfield (dana)"."""
    if row.display_name == row.username:
        return isolate(row.username)
    return f"{isolate(row.display_name)} ({isolate(row.username)})"


def role_words(role: Role, entire_practice: bool) -> str:
    """A role as a person reads it, with a clinician's reach: "Clinician, entire practice"."""
    return access_profile(role, entire_practice).value


def _username_problem(text: str) -> str | None:
    """What the controller will say about this username (its uniqueness aside), or None."""
    if not text.strip():
        return None  # nothing typed yet: the button waits, nothing is said
    return username_problem(text)


def _name_problem(text: str) -> str | None:
    if not text.strip():
        return None  # optional: the username stands in
    try:
        validation.field("display_name", text)
    except CaseloadError as error:
        return str(error)
    return None


class RoleChooser(QWidget):
    """A role drop-down and, for clinicians only, whether they see the entire practice."""

    def __init__(self, role: Role = Role.CLINICIAN, entire_practice: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setObjectName("role")
        self.combo.setAccessibleName("Role")
        for member in Role:
            self.combo.addItem(member.label, member.value)
        self.entire = QCheckBox("Sees every client in the practice, not only their own")
        self.entire.setObjectName("entirePractice")
        self.entire.setAccessibleName("Entire practice")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)  # as wide as the fields
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addWidget(self.combo)
        column.addWidget(self.entire)
        self.combo.setCurrentIndex(self.combo.findData(role.value))
        self.entire.setChecked(entire_practice)
        self.combo.currentIndexChanged.connect(self._role_changed)
        self._role_changed()

    def role(self) -> Role:
        return Role(self.combo.currentData())  # Qt hands back the plain string

    def entire_practice(self) -> bool:
        return self.role() is CHOOSES_REACH and self.entire.isChecked()

    def _role_changed(self) -> None:
        self.entire.setVisible(self.role() is CHOOSES_REACH)


def _buttons(dialog: QDialog, text: str, name: str, accept: Callable[[], None]) -> tuple[QDialogButtonBox, QPushButton]:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(text)
    ok.setObjectName(name)
    ok.setDefault(True)
    buttons.accepted.connect(accept)
    buttons.rejected.connect(dialog.reject)
    return buttons, ok


def _note(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # it may name a person
    label.setWordWrap(True)
    return label


class AddUserDialog(QDialog):
    """A new user with a role and a first password; ``user_id`` and ``username`` after adding."""

    def __init__(self, users: UsersController, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.users, self.actor = users, actor
        self.user_id: int | None = None
        self.username = ""
        self.setObjectName("addUserDialog")
        self.setWindowTitle("Add a user")
        self.setMinimumWidth(500)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.username_edit = QLineEdit()
        self.username_edit.setObjectName("username")
        self.username_edit.setAccessibleName("Username")
        self.username_edit.setPlaceholderText("One word, used to sign in")
        box, self.username_error = field_with_error(self.username_edit, "usernameError")
        form_row(form, "&Username:", box, buddy=self.username_edit)
        self.display_name = QLineEdit()
        self.display_name.setObjectName("displayName")
        self.display_name.setAccessibleName("Name")
        self.display_name.setPlaceholderText("As colleagues know them")
        box, self.display_name_error = field_with_error(self.display_name, "displayNameError")
        form_row(form, "&Name:", box, buddy=self.display_name)
        self.role = RoleChooser()
        form_row(form, "R&ole:", self.role, buddy=self.role.combo).setAlignment(
            Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignTop)
        self.password = NewPassword(form, "password", "First &password:", "&Repeat password:")
        self.note = _note("They must replace this password with one of their own when they first "
                          "sign in.", "firstSignInNote")
        self.problem = problem_label()
        buttons, self.add_button = _buttons(self, "Add User", "saveUser", self.add)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.username_edit.textChanged.connect(self._update)
        self.display_name.textChanged.connect(self._update)
        self.password.changed.connect(self._update)
        self._update()

    def _update(self) -> None:
        username_problem = _username_problem(self.username_edit.text())
        name_problem = _name_problem(self.display_name.text())
        say(self.username_error, username_problem)
        say(self.display_name_error, name_problem)
        self.add_button.setEnabled(bool(self.username_edit.text().strip()) and not username_problem
                                   and not name_problem and self.password.is_ready())

    def add(self) -> None:
        if not self.add_button.isEnabled():
            return
        self.problem.clear()
        username, name = self.username_edit.text().strip(), self.display_name.text().strip() or None
        role, entire, password = self.role.role(), self.role.entire_practice(), self.password.value()
        added = attempt(self, "User not added", lambda: self.users.add_user(
            self.actor, username, role, password, display_name=name, entire_practice=entire),
            report=self.problem.setText)
        if not added:
            error = added.error
            where = {"username": self.username_error, "display_name": self.display_name_error}
            if isinstance(error, InvalidInput) and error.field in where:
                say(where[error.field], str(error))
                self.problem.clear()
            elif isinstance(error, InvalidInput) and error.field == "password":
                self.password.refused(str(error))
                self.problem.clear()
            return
        self.user_id, self.username = added.value, username
        self.accept()


class ResetPasswordDialog(QDialog):
    """A new password chosen for someone, who must change it when they next sign in."""

    def __init__(self, users: UsersController, actor: Actor, row: UserRow,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.users, self.actor, self.row = users, actor, row
        self.setObjectName("resetPasswordDialog")
        self.setWindowTitle(f"Reset the password of {row.display_name}")
        self.setMinimumWidth(500)
        own = row.id == actor.user_id
        self.intro = _note(
            f"Choose a new password for {person(row)}. "
            + ("It is your own account: you sign in with it from now on."
               if own else "Tell it to them; they must change it for one of their own when they "
               "next sign in."), "intro")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.password = NewPassword(form, "password", "New &password:", "&Repeat password:")
        self.problem = problem_label()
        buttons, self.reset_button = _buttons(self, "Reset Password", "savePassword", self.reset)
        stack_form(self, self.intro, form, self.problem, buttons)
        self.password.changed.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.reset_button.setEnabled(self.password.is_ready())

    def reset(self) -> None:
        if not self.reset_button.isEnabled():
            return
        self.problem.clear()
        username, password = self.row.username, self.password.value()
        done = attempt(self, "Password not reset", lambda: self.users.reset_password(
            self.actor, username, password), report=self.problem.setText)
        if not done:
            if isinstance(done.error, InvalidInput) and done.error.field == "password":
                self.password.refused(str(done.error))
                self.problem.clear()
            return
        self.accept()


class ChangeRoleDialog(QDialog):
    """Another role (and, for a clinician, reach) for one user."""

    def __init__(self, users: UsersController, actor: Actor, row: UserRow,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.users, self.actor, self.row = users, actor, row
        self.setObjectName("changeRoleDialog")
        self.setWindowTitle(f"Change the role of {row.display_name}")
        self.setMinimumWidth(460)
        self.intro = _note(f"Current role of {person(row)}: {role_words(row.role, row.entire_practice)}.",
                           "intro")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.role = RoleChooser(row.role, row.entire_practice)
        form_row(form, "New r&ole:", self.role, buddy=self.role.combo).setAlignment(
            Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignTop)
        self.problem = problem_label()
        buttons, self.change_button = _buttons(self, "Change Role", "saveRole", self.change)
        stack_form(self, self.intro, form, self.problem, buttons)
        self.role.combo.currentIndexChanged.connect(self._update)
        self.role.entire.toggled.connect(self._update)
        self._update()

    def _update(self) -> None:
        unchanged = (self.role.role(), self.role.entire_practice()) == (
            self.row.role, self.row.entire_practice and self.row.role is CHOOSES_REACH)
        self.change_button.setEnabled(not unchanged)

    def change(self) -> None:
        if not self.change_button.isEnabled():
            return
        self.problem.clear()
        username, role, entire = self.row.username, self.role.role(), self.role.entire_practice()
        done = attempt(self, "Role not changed", lambda: self.users.change_role(
            self.actor, username, role, entire_practice=entire), report=self.problem.setText)
        if done:
            self.accept()


class UsersWindow(QWidget):
    """The practice's users in a table, with the Account Owner's ways of managing them."""

    def __init__(self, practice: Practice, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("usersWindow")
        self.practice, self.actor = practice, actor
        self.users = practice.users
        self.rows: list[UserRow] = []
        read = attempt(self, "Settings not read", lambda: practice.settings.settings(actor),
                       report=lambda _message: None)  # only the title needs it
        name = read.value.name if read and read.value is not None else ""
        self.setWindowTitle(f"Users — {name}" if name else "Users")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("usersTable")
        self.table.setAccessibleName("Users")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)

        self.add_button = self._button("Add user…", "addUser", self.add_user)
        self.reset_button = self._button("Reset password…", "resetPassword", self.reset_password)
        self.active_button = self._button("Deactivate…", "deactivateReactivate", self.toggle_active)
        self.role_button = self._button("Change role…", "changeRole", self.change_role)
        self.problem = problem_label()

        row = QHBoxLayout()
        for button in (self.add_button, self.reset_button, self.active_button, self.role_button):
            row.addWidget(button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problem)
        for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")):
            QShortcut(keys, self, self.close)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.setMinimumWidth(760)  # below it the names, the column that matters most, are cut short
        self.resize(860, 420)
        self.reload()

    def _button(self, text: str, name: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.rstrip("…"))
        button.clicked.connect(slot)
        return button

    # ------------------------------------------------------------- the list

    def reload(self, select: str | None = None) -> bool:
        """Read the users again and show them, selecting ``select`` (else the one selected)."""
        current = self.selected()
        keep = select or (current.username if current is not None else None)
        read = attempt(self, "Users not shown", lambda: self.users.users(self.actor),
                       report=self.problem.setText)
        if not read or read.value is None:
            # A refusal leaves no list; a passing failure (a server away) leaves the last one shown.
            if not self.rows or isinstance(read.error, (PermissionDenied, NotSignedIn)):
                self._refused()
            return False
        self.rows = read.value
        self.table.setRowCount(len(self.rows))
        for number, user in enumerate(self.rows):
            self._fill_row(number, user)
        chosen = next((i for i, user in enumerate(self.rows) if user.username == keep), None)
        if chosen is not None:
            self.table.selectRow(chosen)
        else:
            self.table.clearSelection()
        self._selection_changed()
        return True

    def _fill_row(self, number: int, user: UserRow) -> None:
        seen = local_time(user.last_sign_in.isoformat()) if user.last_sign_in else "never"
        cells = (user.username, user.display_name, role_words(user.role, user.entire_practice), seen,
                 "Active" if user.active else "Deactivated",
                 MUST_CHANGE if user.must_change_password else "Their own")
        greyed = self.palette().color(self.palette().ColorGroup.Disabled, self.palette().ColorRole.Text)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if not user.active:
                item.setForeground(greyed)
            self.table.setItem(number, column, item)

    def _refused(self) -> None:
        """Someone who may not manage users sees why, and no list."""
        self.rows = []
        self.table.setRowCount(0)
        self.table.setVisible(False)
        for button in (self.add_button, self.reset_button, self.active_button, self.role_button):
            button.setVisible(False)
        self.problem.setAlignment(Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignTop)
        self.setMinimumWidth(0)
        self.resize(max(self.problem.sizeHint().width() + 40, 420), 120)

    def selected(self) -> UserRow | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or not 0 <= rows[0].row() < len(self.rows):
            return None
        return self.rows[rows[0].row()]

    def _selection_changed(self) -> None:
        user = self.selected()
        for button in (self.reset_button, self.active_button, self.role_button):
            button.setEnabled(user is not None)
        self.active_button.setText("Reactivate" if user is not None and not user.active else "Deactivate…")
        self.active_button.setAccessibleName(self.active_button.text().rstrip("…"))

    # ------------------------------------------------------------- changes

    def add_user(self) -> None:
        self.problem.clear()
        dialog = AddUserDialog(self.users, self.actor, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.reload(select=dialog.username)

    def reset_password(self) -> None:
        user = self.selected()
        if user is None:
            return
        self.problem.clear()
        if ResetPasswordDialog(self.users, self.actor, user, self).exec() == QDialog.DialogCode.Accepted:
            self.reload()

    def change_role(self) -> None:
        user = self.selected()
        if user is None:
            return
        self.problem.clear()
        if ChangeRoleDialog(self.users, self.actor, user, self).exec() == QDialog.DialogCode.Accepted:
            self.reload()

    def toggle_active(self) -> None:
        user = self.selected()
        if user is None:
            return
        self.problem.clear()
        if user.active:
            if not self.confirm_deactivate(user):
                return
            done = attempt(self, "Not deactivated", lambda: self.users.deactivate(self.actor, user.username),
                           report=self.problem.setText)
        else:
            done = attempt(self, "Not reactivated", lambda: self.users.reactivate(self.actor, user.username),
                           report=self.problem.setText)
        if done:
            self.reload()

    def confirm_deactivate(self, user: UserRow) -> bool:
        box = QMessageBox(self)
        box.setObjectName("deactivateQuestion")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Deactivate a user")
        box.setTextFormat(Qt.TextFormat.PlainText)  # a name is never read as markup
        box.setText(f"Deactivate {person(user)}?")
        box.setInformativeText("They can no longer sign in. Everything they did stays in the "
                               "practice's records, and Reactivate lets them in again.")
        deactivate = box.addButton("Deactivate", QMessageBox.ButtonRole.AcceptRole)
        deactivate.setObjectName("confirmDeactivate")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        cancel.setObjectName("cancel")
        box.setDefaultButton(cancel)
        box.exec()
        return box.clickedButton() is deactivate
