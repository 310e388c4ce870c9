"""Small dialogs around contacts: edit one, add one to a client, and pick a client or contact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.contacts import ContactsController
from desktop.controllers.errors import InvalidInput
from desktop.controllers.permissions import Actor
from desktop.ui.operation import attempt
from desktop.ui.widgets import problem_label

RELATIONSHIPS = ("Guardian", "Parent", "Emergency contact", "Spouse", "Referring provider", "Other")


class ContactForm(QWidget):
    """Names, email, phone and notes of a contact."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for key, label in (("first_name", "&First name"), ("last_name", "&Last name"),
                           ("email", "&Email"), ("phone", "P&hone")):
            edit = QLineEdit()
            edit.setObjectName(key)
            edit.setAccessibleName(label.replace("&", ""))
            self.edits[key] = edit
            form.addRow(label + ":", edit)
        self.notes = QPlainTextEdit()
        self.notes.setObjectName("notes")
        self.notes.setAccessibleName("Notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(64)
        form.addRow("&Notes:", self.notes)

    def values(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: e.text() for k, e in self.edits.items()}
        data["notes"] = self.notes.toPlainText()
        return data

    def fill(self, contact: dict[str, Any]) -> None:
        for key, edit in self.edits.items():
            edit.setText(contact.get(key) or "")
        self.notes.setPlainText(contact.get("notes") or "")


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
        layout.addWidget(self.form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.reload()

    def reload(self) -> None:
        """Fill the form from the database (on opening: a refusal is the opener's to show)."""
        self._show(self.contacts.get_contact(self.actor, self.contact_id))

    def _show(self, contact: dict[str, Any]) -> None:
        self.contact = contact
        self.form.fill(self.contact)
        self.setWindowTitle(f"Edit {self.contact['first_name']} {self.contact['last_name']}")

    def _reload_saved(self) -> None:
        """After someone else saved: their version, the refusal still said above the buttons."""
        refusal = self.problem.text()
        read = attempt(self, "Cannot reload", lambda: self.contacts.get_contact(self.actor, self.contact_id),
                       report=self.problem.setText)
        if read and read.value is not None:
            self._show(read.value)
            self.problem.setText(f"{refusal} The form now shows the saved version.")

    def save(self) -> None:
        version, values = self.contact["version"], self.form.values()
        saved = attempt(self, "Contact not saved", lambda: self.contacts.edit_contact(
            self.actor, self.contact_id, version, **values),
            report=self.problem.setText, reload=self._reload_saved)
        if not saved:
            error = saved.error
            if isinstance(error, InvalidInput) and error.field in self.form.edits:
                self.form.edits[error.field].setFocus()
            return
        self.accept()


class AddContactDialog(QDialog):
    """A new contact, linked to one client with a relationship, in one save."""

    def __init__(self, contacts: ContactsController, actor: Actor, client_id: int, client_name: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.contacts, self.actor, self.client_id = contacts, actor, client_id
        self.contact_id: int | None = None
        self.setObjectName("addContactDialog")
        self.setWindowTitle(f"Add a contact for {client_name}")
        self.setMinimumWidth(480)
        self.form = ContactForm()
        self.relationship = QComboBox()
        self.relationship.setObjectName("relationship")
        self.relationship.setAccessibleName("Relationship")
        self.relationship.setEditable(True)
        self.relationship.addItems(RELATIONSHIPS)
        self.problem = problem_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.add_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.add_button.setText("Add Contact")
        self.add_button.setObjectName("addContact")
        buttons.accepted.connect(self.add)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        relation = QFormLayout()
        relation.addRow("&Relationship:", self.relationship)
        layout.addLayout(relation)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    def add(self) -> None:
        relationship, values = self.relationship.currentText(), self.form.values()
        added = attempt(self, "Contact not added", lambda: self.contacts.add_contact(
            self.actor, client_id=self.client_id, relationship=relationship, **values),
            report=self.problem.setText)
        if not added:
            return
        self.contact_id = added.value
        self.accept()


class PickDialog(QDialog):
    """Search, pick one result, name the relationship: links a client and a contact."""

    def __init__(self, title: str, search: Callable[[str], list[tuple[int, str]]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pickDialog")
        self.setWindowTitle(title)
        self.setMinimumSize(460, 420)
        self._search = search
        self.chosen: int | None = None
        self.query = QLineEdit()
        self.query.setObjectName("pickSearch")
        self.query.setAccessibleName("Search")
        self.query.setPlaceholderText("Type a name, email or phone")
        self.results = QListWidget()
        self.results.setObjectName("pickResults")
        self.results.setAccessibleName("Results")
        self.relationship = QComboBox()
        self.relationship.setObjectName("relationship")
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
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.results, 1)
        relation = QFormLayout()
        relation.addRow("&Relationship:", self.relationship)
        layout.addLayout(relation)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self._refresh("")

    def _refresh(self, text: str) -> None:
        self.results.clear()
        found = attempt(self, "Search refused", lambda: self._search(text), report=self.problem.setText)
        for record_id, label in found.value or []:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, record_id)
            self.results.addItem(item)

    def _accept(self) -> None:
        item = self.results.currentItem()
        if item is None:
            return
        self.chosen = int(item.data(Qt.ItemDataRole.UserRole))
        self.accept()
