"""Small dialogs around contacts: edit one, add one (to a client or on its own), and pick a
client or contact.

Every form says a problem under the field it concerns (checked by
``validation.field``, the controllers' own dispatch), and every label's
mnemonic moves the focus to its field.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import validation
from desktop.controllers.contacts import ContactsController
from desktop.controllers.duplicates import DuplicatesController
from desktop.controllers.errors import CaseloadError, InvalidInput
from desktop.controllers.permissions import Actor
from desktop.domain.search import display_name
from desktop.ui.dialogs.duplicate_warning import check_before_saving
from desktop.ui.operation import Outcome, attempt
from desktop.ui.widgets import DANGER, form_row, problem_label

RELATIONSHIPS = ("Guardian", "Parent", "Emergency contact", "Spouse", "Referring provider", "Other")
NOTES_LINES = 4  # the Notes box shows this many lines at least, and grows with the dialog


class _NotesEdit(QPlainTextEdit):
    """A few lines tall to begin with (never squeezed to one); grows with the dialog."""

    def sizeHint(self) -> QSize:
        lines = self.fontMetrics().lineSpacing() * NOTES_LINES
        return QSize(super().sizeHint().width(), lines + 2 * self.frameWidth() + 8)


class ContactForm(QWidget):
    """Names, email, phone and notes of a contact (and any row a dialog adds), each with its problem."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        self._values: dict[str, Callable[[], str]] = {}
        self._fields: dict[str, QWidget] = {}
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for key, label in (("first_name", "&First name"), ("last_name", "&Last name"),
                           ("email", "&Email"), ("phone", "P&hone")):
            edit = QLineEdit()
            edit.setObjectName(key)
            edit.setAccessibleName(label.replace("&", ""))
            edit.textChanged.connect(lambda _t, k=key: self._recheck(k))
            self.edits[key] = edit
            self.add_row(key, label + ":", edit, edit.text)
        self.notes = _NotesEdit()
        self.notes.setObjectName("notes")
        self.notes.setAccessibleName("Notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setMinimumHeight(self.notes.sizeHint().height())
        self.notes.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.notes.textChanged.connect(lambda: self._recheck("notes"))
        self.add_row("notes", "&Notes:", self.notes, self.notes.toPlainText, grows=True)

    def add_row(self, key: str, text: str, field: QWidget, value: Callable[[], str], *,
                grows: bool = False) -> QLabel:
        """A labelled field with its problem shown under it; ``value`` reads what was typed."""
        box = QWidget()
        box.setSizePolicy(QSizePolicy.Policy.Preferred,
                          QSizePolicy.Policy.Expanding if grows else QSizePolicy.Policy.Maximum)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(field, 1 if grows else 0)
        error = QLabel()
        error.setObjectName(f"{key}Error")
        error.setStyleSheet(f"color: {DANGER};")
        error.setTextFormat(Qt.TextFormat.PlainText)
        error.setWordWrap(True)
        error.setVisible(False)
        column.addWidget(error)
        self.errors[key] = error
        self._values[key] = value
        self._fields[key] = field
        label = form_row(self.form, text, box, buddy=field)
        label.setAlignment(Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignTop)
        return label

    def show_error(self, key: str, message: str) -> None:
        self.errors[key].setText(message)
        self.errors[key].setVisible(True)

    def check(self) -> bool:
        """Check every field as the controller will; say each problem under its field."""
        first_bad: str | None = None
        for key, value in self._values.items():
            problem = _problem(key, value())
            if problem:
                self.show_error(key, problem)
                first_bad = first_bad or key
            else:
                self.errors[key].setVisible(False)
        if first_bad is not None:
            self._fields[first_bad].setFocus()
        return first_bad is None

    def _recheck(self, key: str) -> None:
        """Once a problem is shown, it goes as soon as the field is right."""
        if self.errors[key].isVisibleTo(self) and not _problem(key, self._values[key]()):
            self.errors[key].setVisible(False)

    def said_under_field(self, outcome: Outcome[Any]) -> bool:
        """After a refusal: say it under its field if it concerns one of ours; True if so."""
        error = outcome.error
        if isinstance(error, InvalidInput) and error.field in self.errors:
            self.show_error(error.field, str(error))
            return True
        return False

    def values(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: e.text() for k, e in self.edits.items()}
        data["notes"] = self.notes.toPlainText()
        return data

    def fill(self, contact: dict[str, Any]) -> None:
        for key, edit in self.edits.items():
            edit.setText(contact.get(key) or "")
        self.notes.setPlainText(contact.get("notes") or "")
        for error in self.errors.values():
            error.setVisible(False)


def _problem(key: str, value: str) -> str:
    try:
        validation.field(key, value)
    except CaseloadError as error:
        return str(error)
    return ""


class EditContactDialog(QDialog):
    def __init__(self, contacts: ContactsController, actor: Actor, contact_id: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.contacts, self.actor, self.contact_id = contacts, actor, contact_id
        self.setObjectName("editContactDialog")
        self.setMinimumWidth(480)
        self.form = ContactForm()
        self.problem = problem_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save Contact")
        self.save_button.setObjectName("saveContact")
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.reload()

    def reload(self) -> None:
        """Fill the form from the database (on opening: a refusal is the opener's to show)."""
        self._show(self.contacts.get_contact(self.actor, self.contact_id))

    def _show(self, contact: dict[str, Any]) -> None:
        self.contact = contact
        self.form.fill(self.contact)
        self.setWindowTitle(f"Edit {display_name(self.contact['first_name'], self.contact['last_name'])}")

    def _reload_saved(self) -> None:
        """After someone else saved: their version, the refusal still said above the buttons."""
        refusal = self.problem.text()
        read = attempt(self, "Cannot reload", lambda: self.contacts.get_contact(self.actor, self.contact_id),
                       report=self.problem.setText)
        if read and read.value is not None:
            self._show(read.value)
            self.problem.setText(f"{refusal} The form now shows the saved version.")

    def save(self) -> None:
        self.problem.clear()
        if not self.form.check():
            return
        version, values = self.contact["version"], self.form.values()
        saved = attempt(self, "Contact not saved", lambda: self.contacts.edit_contact(
            self.actor, self.contact_id, version, **values),
            report=self.problem.setText, reload=self._reload_saved)
        if not saved:
            if self.form.said_under_field(saved):
                self.problem.clear()
            return
        self.accept()


class AddContactDialog(QDialog):
    """A new contact: linked to one client with a relationship, in one save, or on its own
    (``client_id`` None: File ▸ New contact…).

    Contacts already in the practice who look alike are offered before saving
    (a warning, never a block). If the person opens one of them instead,
    ``open_existing`` holds its id, nothing is saved, and ``openExisting`` is
    emitted once the dialog is closed.
    """

    openExisting = Signal(int)

    def __init__(self, contacts: ContactsController, actor: Actor, client_id: int | None,
                 client_name: str = "", parent: QWidget | None = None, *,
                 duplicates: DuplicatesController | None = None) -> None:
        super().__init__(parent)
        self.contacts, self.actor, self.client_id = contacts, actor, client_id
        self.duplicates = duplicates or DuplicatesController(contacts.db)
        self.contact_id: int | None = None
        self.open_existing: int | None = None
        self.setObjectName("addContactDialog" if client_id is not None else "newContactDialog")
        self.setWindowTitle(f"Add a contact for {client_name}" if client_id is not None else "New contact")
        self.setMinimumWidth(480)
        # A profile window opens the existing contact the duplicate check offered.
        opener = getattr(parent, "openContact", None)
        if isinstance(opener, SignalInstance):
            self.openExisting.connect(opener)
        self.form = ContactForm()
        self.relationship = QComboBox()
        self.relationship.setObjectName("relationship")
        self.relationship.setAccessibleName("Relationship")
        self.relationship.setEditable(True)
        self.relationship.addItems(RELATIONSHIPS)
        if client_id is not None:
            # In the same form, so its label lines up with the others.
            self.form.add_row("relationship", "&Relationship:", self.relationship,
                              self.relationship.currentText)
            self.relationship.currentTextChanged.connect(lambda _t: self.form._recheck("relationship"))
        else:
            self.relationship.hide()
        self.problem = problem_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.add_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.add_button.setText("Add Contact")
        self.add_button.setObjectName("addContact")
        buttons.accepted.connect(self.add)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.form.edits["first_name"].setFocus()

    def has_unsaved_changes(self) -> bool:
        return any(str(value).strip() for value in self.form.values().values())

    def add(self) -> None:
        self.problem.clear()
        if not self.form.check():
            return
        values = self.form.values()
        decision = check_before_saving(
            self, lambda: self.duplicates.likely_contact_duplicates_of(self.actor, values),
            kind="contact", entering=display_name(values["first_name"].strip(), values["last_name"].strip()))
        if decision.existing is not None:
            self.open_existing = decision.existing
            self.reject()
            return
        if not decision.save:
            return
        relationship = self.relationship.currentText() if self.client_id is not None else None
        added = attempt(self, "Contact not added", lambda: self.contacts.add_contact(
            self.actor, client_id=self.client_id, relationship=relationship,
            seen_duplicates=decision.seen, **values),
            report=self.problem.setText)
        if not added:
            if self.form.said_under_field(added):
                self.problem.clear()
            return
        self.contact_id = added.value
        self.accept()

    def done(self, result: int) -> None:
        super().done(result)
        if self.open_existing is not None:
            self.openExisting.emit(self.open_existing)  # closed first: the profile opens unblocked


class PickDialog(QDialog):
    """Search, pick one result, name the relationship: links a client and a contact.

    ``linked`` (record id: its name and current relationship) are the ones linked
    already: they are marked in the results, and choosing one with another
    relationship asks before changing it.
    """

    def __init__(self, title: str, search: Callable[[str], list[tuple[int, str]]],
                 parent: QWidget | None = None, *,
                 linked: Mapping[int, tuple[str, str]] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pickDialog")
        self.setWindowTitle(title)
        self.setMinimumSize(460, 420)
        self._search = search
        self.linked = dict(linked or {})
        self.chosen: int | None = None
        self.query = QLineEdit()
        self.query.setObjectName("pickSearch")
        self.query.setAccessibleName("Search")
        self.query.setPlaceholderText("Type a name, email or phone")
        self.results = QListWidget()
        self.results.setObjectName("pickResults")
        self.results.setAccessibleName("Results")
        # A long name wraps rather than hiding what tells two people apart (birth date, email).
        self.results.setWordWrap(True)
        self.results.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.relationship = QComboBox()
        self.relationship.setObjectName("relationship")
        self.relationship.setAccessibleName("Relationship")
        self.relationship.setEditable(True)
        self.relationship.addItems(RELATIONSHIPS)
        self.problem = problem_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.link_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.link_button.setText("Link")
        self.link_button.setObjectName("link")
        self.link_button.setEnabled(False)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.query.textChanged.connect(self._refresh)
        self.results.currentRowChanged.connect(lambda row: self.link_button.setEnabled(row >= 0))
        self.results.itemDoubleClicked.connect(lambda _i: self._accept())
        search_row = QFormLayout()
        form_row(search_row, "&Search:", self.query)
        relation = QFormLayout()
        form_row(relation, "&Relationship:", self.relationship)
        layout = QVBoxLayout(self)
        layout.addLayout(search_row)
        layout.addWidget(self.results, 1)
        layout.addLayout(relation)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self._refresh("")

    def _refresh(self, text: str) -> None:
        self.results.clear()
        found = attempt(self, "Search refused", lambda: self._search(text), report=self.problem.setText)
        for record_id, label in found.value or []:
            if record_id in self.linked:
                label = f"{label}  — linked as {self.linked[record_id][1]}"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, record_id)
            self.results.addItem(item)

    def _accept(self) -> None:
        item = self.results.currentItem()
        if item is None:
            return
        chosen = int(item.data(Qt.ItemDataRole.UserRole))
        if chosen in self.linked and not self._change_relationship(*self.linked[chosen]):
            return
        self.chosen = chosen
        self.accept()

    def _change_relationship(self, name: str, current: str) -> bool:
        """Linking again replaces the relationship: ask first. True: go ahead and change it."""
        wanted = unicodedata.normalize("NFC", self.relationship.currentText()).strip()
        if wanted == current:
            self.problem.setText(f"{name} is already linked as {current}.")
            return False
        box = QMessageBox(self)
        box.setObjectName("changeRelationshipQuestion")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Already linked")
        box.setText(f"{name} is already linked as {current}; change to {wanted}?")
        change = box.addButton(f"Change to {wanted}", QMessageBox.ButtonRole.AcceptRole)
        change.setObjectName("changeRelationship")
        keep = box.addButton(f"Keep {current}", QMessageBox.ButtonRole.RejectRole)
        keep.setObjectName("keepRelationship")
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is change
