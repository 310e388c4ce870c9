"""Edit a client: demographics validated as typed, Client Status, Save Client, Delete this Client.

The dialog shows problems next to the field they concern, asks about portal
access when a client with access on is made inactive, and calls one controller
operation to save. If someone else saved first, it says what they changed and
offers to reload; it never overwrites their work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import validation
from desktop.controllers.clients import ClientDetail, ClientsController
from desktop.controllers.errors import CaseloadError, InvalidInput
from desktop.controllers.permissions import Actor
from desktop.domain.models import ClientStatus, InactiveReason
from desktop.domain.search import display_name
from desktop.ui.operation import attempt
from desktop.ui.widgets import DANGER, ask_portal_switch_off, form_row, problem_label

ERROR_STYLE = f"color: {DANGER};"
# The fields typed on one line, with their labels' mnemonics; each is checked by
# ``validation.field``, the same dispatch the controller uses on save.
FIELDS: tuple[tuple[str, str], ...] = (
    ("first_name", "&First name"),
    ("last_name", "&Last name"),
    ("preferred_name", "&Preferred name"),
    ("date_of_birth", "Date of &birth"),
    ("email", "&Email"),
    ("phone", "P&hone"),
)
REASONS = (("Discharged", InactiveReason.DISCHARGED), ("Moved", InactiveReason.MOVED),
           ("Other", InactiveReason.OTHER))


def _detail_values(detail: ClientDetail) -> dict[str, str]:
    row = detail.row
    return {
        "first_name": row.first_name, "last_name": row.last_name,
        "preferred_name": row.preferred_name or "",
        "date_of_birth": row.date_of_birth.isoformat() if row.date_of_birth else "",
        "email": row.email or "", "phone": row.phone or "", "address": detail.address or "",
    }


class EditClientDialog(QDialog):
    """Returns Accepted after a save; ``deleted`` is True if the client was deleted from here.

    ``erased`` then says whether the data is gone from the practice file too (the
    delete dialog has told the person when it is not yet).
    """

    def __init__(self, clients: ClientsController, actor: Actor, client_id: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clients = clients
        self.actor = actor
        self.client_id = client_id
        self.deleted = False
        self.erased = False  # after a deletion: whether its data is gone from the practice file too
        self.setObjectName("editClientDialog")
        self.setMinimumWidth(560)

        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for key, label in FIELDS:
            edit = QLineEdit()
            edit.setObjectName(key)
            edit.setAccessibleName(label.replace("&", ""))
            if key == "date_of_birth":
                edit.setPlaceholderText("YYYY-MM-DD")
            edit.textChanged.connect(lambda _t, k=key: self._check(k))
            self.edits[key] = edit
            form_row(form, label + ":", self._with_error(key, edit), buddy=edit)
        self.address = QPlainTextEdit()
        self.address.setObjectName("address")
        self.address.setAccessibleName("Address")
        self.address.setTabChangesFocus(True)
        self.address.setFixedHeight(56)
        form_row(form, "&Address:", self.address)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        form.addRow(line)
        self.status = QComboBox()
        self.status.setObjectName("clientStatus")
        self.status.setAccessibleName("Client Status")
        self.status.addItem("Active", ClientStatus.ACTIVE)
        self.status.addItem("Inactive", ClientStatus.INACTIVE)
        self.status.currentIndexChanged.connect(self._status_changed)
        form_row(form, "Client &Status:", self.status)
        self.reason = QComboBox()
        self.reason.setObjectName("inactiveReason")
        self.reason.setAccessibleName("Inactive reason")
        for text, value in REASONS:
            self.reason.addItem(text, value)
        form_row(form, "&Reason:", self.reason)
        self.note = QLineEdit()
        self.note.setObjectName("inactiveNote")
        self.note.setAccessibleName("Inactive note")
        self.note.setPlaceholderText("Optional, e.g. treatment completed")
        form_row(form, "&Note:", self.note)

        self.problem = problem_label()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save Client")
        self.save_button.setObjectName("saveClient")
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)

        self.delete_button = QPushButton("Delete this Client")
        self.delete_button.setObjectName("deleteThisClient")
        self.delete_button.setAccessibleName("Delete this Client")
        self.delete_button.setStyleSheet(f"QPushButton {{ color: {DANGER}; }}")
        self.delete_button.clicked.connect(self._delete)
        # Shown only to roles that may delete; the controller refuses everyone else anyway.
        self.delete_button.setVisible(actor.can_delete())

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addStretch(1)  # a taller window adds room below the form, not between its rows
        layout.addWidget(buttons)
        danger = QHBoxLayout()
        danger.addWidget(self.delete_button)
        danger.addStretch(1)
        layout.addSpacing(8)
        layout.addLayout(danger)

        self.detail: ClientDetail | None = None
        self.reload()

    def _with_error(self, key: str, edit: QWidget) -> QWidget:
        box = QWidget()
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(edit)
        error = QLabel()
        error.setObjectName(f"{key}Error")
        error.setStyleSheet(ERROR_STYLE)
        error.setTextFormat(Qt.TextFormat.PlainText)
        error.setWordWrap(True)
        error.setVisible(False)
        column.addWidget(error)
        self.errors[key] = error
        return box

    # ------------------------------------------------------------- loading

    def reload(self) -> None:
        """Fill the form from the database (on opening: a refusal is the opener's to show)."""
        self._show(self.clients.get_client(self.actor, self.client_id))

    def _reload_saved(self) -> None:
        """After someone else saved: their version, or why it cannot be shown."""
        read = attempt(self, "Cannot reload", lambda: self.clients.get_client(self.actor, self.client_id),
                       report=self.problem.setText)
        if read and read.value is not None:
            self._show(read.value)

    def _show(self, detail: ClientDetail) -> None:
        self.detail = detail
        values = _detail_values(self.detail)
        for key, edit in self.edits.items():
            edit.setText(values[key])
        self.address.setPlainText(values["address"])
        self.status.setCurrentIndex(self.status.findData(self.detail.row.status))
        reason = self.detail.inactive_reason
        if reason is InactiveReason.DUPLICATE and self.reason.findData(reason) < 0:
            self.reason.addItem("Duplicate", InactiveReason.DUPLICATE)
        if reason is not None:
            self.reason.setCurrentIndex(self.reason.findData(reason))
        self.note.setText(self.detail.inactive_note or "")
        self.setWindowTitle(f"Edit {display_name(self.detail.row.first_name, self.detail.row.last_name)}")
        self.problem.clear()
        self._status_changed()
        for key in self.edits:
            self._check(key)

    # Qt hands enum members stored in a combo back as plain strings: convert on the way out.
    def chosen_status(self) -> ClientStatus:
        return ClientStatus(self.status.currentData())

    def chosen_reason(self) -> InactiveReason:
        return InactiveReason(self.reason.currentData())

    def _status_changed(self) -> None:
        inactive = self.chosen_status() is ClientStatus.INACTIVE
        self.reason.setEnabled(inactive)
        self.note.setEnabled(inactive)

    def _check(self, key: str) -> bool:
        text = self.edits[key].text()
        valid = bool(attempt(self, "Not valid", lambda: validation.field(key, text),
                             report=self._field_problem(key)))
        if valid:
            self.errors[key].setVisible(False)
        self._update_save()
        return valid

    def _field_problem(self, key: str) -> Callable[[str], None]:
        """A ``report`` that says a refusal under the field it concerns."""
        def say(message: str) -> None:
            self.errors[key].setText(message)
            self.errors[key].setVisible(True)
        return say

    def _update_save(self) -> None:
        self.save_button.setEnabled(not any(e.isVisibleTo(self) for e in self.errors.values()))

    def values(self) -> dict[str, Any]:
        data: dict[str, Any] = {key: edit.text() for key, edit in self.edits.items()}
        data["address"] = self.address.toPlainText()
        return data

    # -------------------------------------------------------------- saving

    def save(self) -> None:
        assert self.detail is not None
        if not all([self._check(key) for key in self.edits]):
            return
        status = self.chosen_status()
        disable_portal = False
        portal = self.detail.portal
        if status is ClientStatus.INACTIVE and self.detail.row.status is ClientStatus.ACTIVE and (
                portal["portal_enabled"] or portal["messaging_enabled"]):
            choice = self.ask_about_portal()
            if choice is None:
                return
            disable_portal = choice
        version, values = self.detail.row.version, self.values()
        reason, note = self.chosen_reason(), self.note.text()
        saved = attempt(self, "Client not saved", lambda: self.clients.save_profile(
            self.actor, self.client_id, version, values, status=status, reason=reason, note=note,
            disable_portal=disable_portal),
            report=self.problem.setText, reload=self._reload_saved, explain=self._what_they_changed)
        if not saved:
            error = saved.error
            if isinstance(error, InvalidInput) and error.field in self.errors:
                self._field_problem(error.field)(str(error))
            return
        self.accept()

    def ask_about_portal(self) -> bool | None:
        """True: switch access off; False: keep it on; None: go back to the form."""
        assert self.detail is not None
        return ask_portal_switch_off(self, self.detail.portal, before_save=True)

    def _what_they_changed(self, _error: CaseloadError) -> str:
        """Under the Reload question: which fields the other person changed."""
        assert self.detail is not None
        mine = _detail_values(self.detail)
        read = attempt(self, "Cannot compare", lambda: self.clients.get_client(self.actor, self.client_id),
                       report=lambda _message: None)  # Reload will say why, if it still cannot read it
        changed = []
        if read and read.value is not None:
            theirs = _detail_values(read.value)
            changed = [validation.LABELS.get(k, k) for k in mine if mine[k] != theirs[k]]
        return f"They changed: {', '.join(changed)}." if changed else ""

    # ------------------------------------------------------------ deleting

    def _delete(self) -> None:
        from desktop.ui.dialogs.delete_client import DeleteClientDialog

        opened = attempt(self, "Cannot delete", lambda: DeleteClientDialog(self.clients, self.actor,
                                                                           self.client_id, self))
        if not opened or opened.value is None:
            return
        dialog = opened.value
        dialog.exec()
        if dialog.deleted:
            self.deleted, self.erased = True, dialog.erased
            self.accept()
        elif dialog.made_inactive:
            self.accept()

