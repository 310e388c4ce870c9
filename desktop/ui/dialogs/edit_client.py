"""A new client, or an existing one edited: demographics validated as typed, Save Client.

Both dialogs share the fields and their live checks (``ClientFieldsDialog``):
each problem shows next to the field it concerns, and Save Client is enabled
only while every field is valid. Before saving a new name, date of birth, email
or phone, both look for likely duplicates and warn (``duplicate_warning``).

The edit dialog adds Client Status, asks about portal access when a client with
access on is made inactive, and calls one controller operation to save. If
someone else saved first, it shows their values beside the ones typed, field by
field (``ConflictDialog``), and saves the person's choice against the version
just read, or reloads theirs, or goes back to the form with nothing lost
(docs/rules.md, "Conflicting saves"). The new-client dialog adds the assigned
clinician.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal, SignalInstance
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

from desktop.controllers import conflicts, validation
from desktop.controllers.clients import ClientDetail, ClientsController
from desktop.controllers.duplicates import DuplicatesController
from desktop.controllers.errors import CaseloadError, InvalidInput, StaleVersion
from desktop.controllers.permissions import Action, Actor, Scope
from desktop.controllers.practice import Practice
from desktop.domain.models import ClientStatus, InactiveReason, Role
from desktop.domain.search import display_name
from desktop.ui.dialogs.conflict import ConflictDialog, Resolution, keep_choices
from desktop.ui.dialogs.duplicate_warning import Decision, check_before_saving
from desktop.ui.dialogs.merge_into_client import name_of
from desktop.ui.operation import Outcome, attempt
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
    ("diagnosis_codes", "Dia&gnosis codes"),
)
REASONS = (("Discharged", InactiveReason.DISCHARGED), ("Moved", InactiveReason.MOVED),
           ("Other", InactiveReason.OTHER))
# What the duplicate check compares: a change to any of these is checked again before saving.
IDENTIFYING = ("first_name", "last_name", "date_of_birth", "email", "phone")
# Who may be a client's clinician: clinicians, and the owner of a practice they run alone.
ASSIGNABLE_ROLES = (Role.CLINICIAN.value, Role.ACCOUNT_OWNER.value)
# After a conflicting save the person chose to go back to the form from.
NOT_SAVED_YET = ("Not saved yet: someone else saved this profile meanwhile; Save Client again to "
                 "compare your changes with theirs.")


@dataclass
class Typed:
    """One Save Client: what was typed and answered, kept while it is merged with theirs."""

    values: dict[str, Any]
    status: ClientStatus
    reason: InactiveReason
    note: str
    seen: list[int]
    disable_portal: bool | None  # None: the portal question was not asked


def _detail_values(detail: ClientDetail) -> dict[str, str]:
    row = detail.row
    return {
        "first_name": row.first_name, "last_name": row.last_name,
        "preferred_name": row.preferred_name or "",
        "date_of_birth": row.date_of_birth.isoformat() if row.date_of_birth else "",
        "email": row.email or "", "phone": row.phone or "", "address": detail.address or "",
        "diagnosis_codes": detail.diagnosis_codes or "",
    }


def field_problem(key: str, text: str) -> str:
    """Why ``text`` is not a valid ``key`` (the controller's own check), or "" if it is."""
    try:
        validation.field(key, text)
    except CaseloadError as error:
        return str(error)
    return ""


class ClientFieldsDialog(QDialog):
    """A client's fields, each checked as typed, the problem line and Save Client.

    If the duplicate check offered an existing profile and the person chose to
    open it, ``open_existing`` holds its id, the dialog closes without saving,
    and ``openExisting`` is emitted once it is closed.
    """

    openExisting = Signal(int)

    def __init__(self, clients: ClientsController, actor: Actor,
                 duplicates: DuplicatesController | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clients = clients
        self.actor = actor
        self.duplicates = duplicates or DuplicatesController(clients.db)
        self.open_existing: int | None = None
        self.setMinimumWidth(560)

        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for key, label in FIELDS:
            edit = QLineEdit()
            edit.setObjectName(key)
            edit.setAccessibleName(label.replace("&", ""))
            if key == "date_of_birth":
                edit.setPlaceholderText("YYYY-MM-DD")
            elif key == "diagnosis_codes":
                edit.setPlaceholderText("ICD-10, such as F41.1, F32.0 (printed on superbills)")
            edit.textChanged.connect(lambda _t, k=key: self._check(k))
            self.edits[key] = edit
            form_row(self.form, label + ":", self._with_error(key, edit), buddy=edit)
        self.address = QPlainTextEdit()
        self.address.setObjectName("address")
        self.address.setAccessibleName("Address")
        self.address.setTabChangesFocus(True)
        self.address.setFixedHeight(56)
        form_row(self.form, "&Address:", self.address)
        # Whether each field is valid now, checked as typed; an empty form's problems are known
        # (first and last name are required) but not shown until the person types.
        self.valid = {key: not field_problem(key, edit.text()) for key, edit in self.edits.items()}

        self.problem = problem_label()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save Client")
        self.save_button.setObjectName("saveClient")
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

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

    def _check(self, key: str) -> bool:
        """Check one field as the controller will; say a problem under it."""
        problem = field_problem(key, self.edits[key].text())
        self.valid[key] = not problem
        if problem:
            self._field_problem(key)(problem)
        else:
            self.errors[key].setVisible(False)
        self._update_save()
        return not problem

    def _field_problem(self, key: str) -> Callable[[str], None]:
        """A ``report`` that says a refusal under the field it concerns."""
        def say(message: str) -> None:
            self.errors[key].setText(message)
            self.errors[key].setVisible(True)
        return say

    def _update_save(self) -> None:
        """Save Client only while every field is valid, problems shown or not yet (an empty
        new form says nothing in red, but cannot be saved either)."""
        self.save_button.setEnabled(all(self.valid.values()))

    def values(self) -> dict[str, Any]:
        data: dict[str, Any] = {key: edit.text() for key, edit in self.edits.items()}
        data["address"] = self.address.toPlainText()
        return data

    def shown_name(self) -> str:
        """The name typed so far, as it reads ("Ada Lovelace"; "李小龍")."""
        return display_name(self.edits["first_name"].text().strip(), self.edits["last_name"].text().strip())

    def said_under_field(self, error: CaseloadError | None) -> bool:
        """After a refusal: say it under its field if it concerns one; True if so."""
        if isinstance(error, InvalidInput) and error.field in self.errors:
            self._field_problem(error.field)(str(error))
            return True
        return False

    def check_duplicates(self, values: dict[str, Any], *, exclude_id: int | None = None) -> Decision:
        """The intake warning (a warning, never a block); opening an existing profile closes this."""
        decision = check_before_saving(
            self, lambda: self.duplicates.likely_client_duplicates_of(self.actor, values, exclude_id=exclude_id),
            kind="client", entering=self.shown_name())
        if decision.existing is not None:
            self.open_existing = decision.existing
            self.reject()
        return decision

    def save(self) -> None:
        raise NotImplementedError

    def has_unsaved_changes(self) -> bool:
        raise NotImplementedError

    def done(self, result: int) -> None:
        super().done(result)
        if self.open_existing is not None:
            self.openExisting.emit(self.open_existing)  # closed first: the profile opens unblocked


class NewClientDialog(ClientFieldsDialog):
    """A new, Active client with an assigned clinician; ``client_id`` is set after the save.

    An own-clients clinician adds clients for themselves only (the controller
    refuses anything else), so for them the clinician is shown and fixed.
    """

    def __init__(self, practice: Practice, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(practice.clients, actor, practice.duplicates, parent)
        self.client_id: int | None = None
        self.setObjectName("newClientDialog")
        self.setWindowTitle("New client")
        self.clinician = QComboBox()
        self.clinician.setObjectName("clinician")
        self.clinician.setAccessibleName("Clinician")
        self._fill_clinicians(practice)
        form_row(self.form, "&Clinician:", self.clinician)

        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self._update_save()
        self.edits["first_name"].setFocus()

    def _fill_clinicians(self, practice: Practice) -> None:
        me = self.actor
        if me.scope(Action.EDIT_CLIENT) is Scope.ASSIGNED:
            self.clinician.addItem(me.display_name, me.user_id)
            self.clinician.setEnabled(False)
            self.clinician.setToolTip("You add clients for yourself; the Practice Manager can reassign them.")
            return
        read = attempt(self, "Clinicians not read", lambda: practice.users.list_users(me),
                       report=self.problem.setText)
        users = [u for u in read.value or []
                 if u["active"] and (u["role"] in ASSIGNABLE_ROLES or u["id"] == me.user_id)]
        self.clinician.addItem("Not assigned", None)
        for user in sorted(users, key=lambda u: str(u["display_name"]).casefold()):
            self.clinician.addItem(str(user["display_name"]), user["id"])
        # The person adding is the clinician, unless their role never is one (a manager's intake).
        mine = self.clinician.findData(me.user_id) if me.role.value in ASSIGNABLE_ROLES else -1
        self.clinician.setCurrentIndex(max(0, mine))

    def values(self) -> dict[str, Any]:
        data = super().values()
        data["clinician_id"] = self.clinician.currentData()
        return data

    def has_unsaved_changes(self) -> bool:
        return any(edit.text().strip() for edit in self.edits.values()) or bool(
            self.address.toPlainText().strip())

    def save(self) -> None:
        self.problem.clear()
        if not all([self._check(key) for key in self.edits]):
            return
        values = self.values()
        decision = self.check_duplicates(values)
        if not decision.save:
            return
        added = attempt(self, "Client not added", lambda: self.clients.add_client(
            self.actor, seen_duplicates=decision.seen, **values), report=self.problem.setText)
        if not added:
            if self.said_under_field(added.error):
                self.problem.clear()
            return
        self.client_id = added.value
        self.accept()


class EditClientDialog(ClientFieldsDialog):
    """Returns Accepted after a save; ``deleted`` is True if the client was deleted from here.

    ``erased`` then says whether the data is gone from the practice file too (the
    delete dialog has told the person when it is not yet).
    """

    def __init__(self, clients: ClientsController, actor: Actor, client_id: int,
                 parent: QWidget | None = None, *, duplicates: DuplicatesController | None = None) -> None:
        super().__init__(clients, actor, duplicates, parent)
        self.client_id = client_id
        self.deleted = False
        self.erased = False  # after a deletion: whether its data is gone from the practice file too
        self.setObjectName("editClientDialog")
        # A profile window opens the existing profile the duplicate check offered.
        opener = getattr(parent, "openClient", None)
        if isinstance(opener, SignalInstance):
            self.openExisting.connect(opener)

        form = self.form
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
        layout.addWidget(self.buttons)
        danger = QHBoxLayout()
        danger.addWidget(self.delete_button)
        danger.addStretch(1)
        layout.addSpacing(8)
        layout.addLayout(danger)

        self.detail: ClientDetail | None = None
        self.reload()

    # ------------------------------------------------------------- loading

    def reload(self) -> None:
        """Fill the form from the database (on opening: a refusal is the opener's to show)."""
        self._show(self.clients.get_client(self.actor, self.client_id))

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

    def _changed_fields(self) -> list[str]:
        """The fields that differ from the profile as it was read (spaces around them aside)."""
        assert self.detail is not None
        saved, typed = _detail_values(self.detail), self.values()
        return [key for key in saved if saved[key].strip() != str(typed[key]).strip()]

    def has_unsaved_changes(self) -> bool:
        if self.detail is None:
            return False
        row = self.detail.row
        status_changed = self.chosen_status() is not row.status or (
            row.status is ClientStatus.INACTIVE
            and ((self.detail.inactive_note or "") != self.note.text()
                 or self.detail.inactive_reason is not self.chosen_reason()))
        return bool(self._changed_fields()) or status_changed

    # -------------------------------------------------------------- saving

    def save(self) -> None:
        assert self.detail is not None
        if not all([self._check(key) for key in self.edits]):
            return
        values = self.values()
        seen: list[int] = []
        if set(self._changed_fields()) & set(IDENTIFYING):
            decision = self.check_duplicates(values, exclude_id=self.client_id)
            if not decision.save:
                return
            seen = decision.seen
        status = self.chosen_status()
        disable_portal: bool | None = None
        portal = self.detail.portal
        if status is ClientStatus.INACTIVE and self.detail.row.status is ClientStatus.ACTIVE and (
                portal["portal_enabled"] or portal["messaging_enabled"]):
            disable_portal = self.ask_about_portal()
            if disable_portal is None:
                return
        typed = Typed(values, status, self.chosen_reason(), self.note.text(), seen, disable_portal)
        version = self.detail.row.version
        saved = attempt(self, "Client not saved", lambda: self.clients.save_profile(
            self.actor, self.client_id, version, values, status=status, reason=typed.reason,
            note=typed.note, disable_portal=bool(disable_portal), seen_duplicates=seen),
            report=self.problem.setText)
        if saved or (isinstance(saved.error, StaleVersion) and self._merge(typed)):
            self.accept()
            return
        self.said_under_field(saved.error)

    def ask_about_portal(self) -> bool | None:
        """True: switch access off; False: keep it on; None: go back to the form."""
        assert self.detail is not None
        return ask_portal_switch_off(self, self.detail.portal, before_save=True)

    # ------------------------------------------------------------- merging

    def _merge(self, typed: Typed) -> bool:
        """Someone else saved first: their values and mine, field by field, saved against their
        version; again with the newest values if yet another save comes first. True once saved;
        False after Reload (their version is in the form), Cancel (mine still is) or a refusal."""
        assert self.detail is not None
        base, mine = conflicts.opened(self.detail), conflicts.typed(
            typed.values, typed.status, typed.reason, typed.note)
        chosen: dict[str, bool] = {}
        earlier: list[conflicts.Difference] = []
        again = False
        while True:
            read = attempt(self, "Cannot compare", lambda: self.clients.get_client(self.actor, self.client_id),
                           report=self.problem.setText)
            if not read or read.value is None:
                return False
            theirs = read.value
            rows = conflicts.differences(base, conflicts.opened(theirs), mine)
            if rows:  # none: they changed only what this form does not show (the clinician)
                dialog = ConflictDialog(rows, name_of(theirs.row.first_name, theirs.row.last_name), self,
                                        chosen=keep_choices(chosen, earlier, rows), again=again)
                dialog.exec()
                if dialog.outcome is Resolution.RELOAD:
                    self._show(theirs)
                    return False
                if dialog.outcome is Resolution.CANCEL:
                    self.problem.setText(NOT_SAVED_YET)
                    return False
                chosen, earlier = dialog.use_mine(), rows
            saved = self._save_merged(typed, theirs, chosen)
            if saved is None:
                return False
            if saved:
                return True
            if not isinstance(saved.error, StaleVersion):
                self.said_under_field(saved.error)
                return False
            again = True  # a third save came first: compare with the newest values

    def _save_merged(self, typed: Typed, theirs: ClientDetail, use_mine: dict[str, bool]
                     ) -> Outcome[int] | None:
        """Save mine where chosen (and where theirs is the same), theirs elsewhere, against their
        version; None if the person went back from the portal question."""
        assert self.detail is not None
        saved_now = _detail_values(theirs)
        fields = {key: value if use_mine.get(key, True) else saved_now[key]
                  for key, value in typed.values.items()}
        status: ClientStatus
        reason: InactiveReason | None
        note: str | None
        if use_mine.get("status", True):
            status, reason, note = typed.status, typed.reason, typed.note
        else:
            status, reason, note = theirs.row.status, theirs.inactive_reason, theirs.inactive_note
        disable_portal = self._portal_answer(typed, theirs, status)
        if disable_portal is None:
            self.problem.setText(NOT_SAVED_YET)
            return None
        base = self.detail
        return attempt(self, "Client not saved", lambda: self.clients.save_profile(
            self.actor, self.client_id, theirs.row.version, fields, status=status, reason=reason,
            note=note, disable_portal=disable_portal, seen_duplicates=typed.seen, base=base),
            report=self.problem.setText)

    def _portal_answer(self, typed: Typed, theirs: ClientDetail, status: ClientStatus) -> bool | None:
        """Whether the merged save switches portal access off: only when it makes inactive a
        client who is active now with access on; asked once (docs/rules.md, "Status")."""
        portal = theirs.portal
        if status is not ClientStatus.INACTIVE or theirs.row.status is not ClientStatus.ACTIVE or not (
                portal["portal_enabled"] or portal["messaging_enabled"]):
            return False
        if typed.disable_portal is None:
            typed.disable_portal = ask_portal_switch_off(self, portal, before_save=True)
        return typed.disable_portal

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

