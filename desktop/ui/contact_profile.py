"""A contact's profile: details, the clients it is linked to, Edit, Link to client and Merge into a client.

Merging into a client (docs/rules.md, "Duplicates") removes the contact: the
window then says so through ``changed``, asks for the client's profile through
``openClient`` and closes. Esc and Ctrl+W close it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.errors import NotFound
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.domain.search import display_name
from desktop.ui.dialogs.contact_dialogs import EditContactDialog, PickDialog
from desktop.ui.dialogs.merge_into_client import MergeIntoClientDialog, value_label
from desktop.ui.operation import attempt
from desktop.ui.widgets import heading_label


class ContactProfileWindow(QWidget):
    changed = Signal(int)
    openClient = Signal(int)
    merged = Signal(int, int, str)  # contact id (now removed), client id kept, the client's name

    def __init__(self, practice: Practice, actor: Actor, contact_id: int) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setObjectName("contactProfileWindow")
        self.practice = practice
        self.contacts = practice.contacts
        self.clients = practice.clients
        self.actor, self.contact_id = actor, contact_id
        self.contact = self.contacts.get_contact(actor, contact_id)

        self.name = heading_label(name="contactName")
        kind = QLabel(" Contact ")
        kind.setStyleSheet("QLabel { background: #e8eef8; color: #24466e; border: 1px solid #b8c8e0; "
                           "border-radius: 8px; padding: 1px 8px; }")
        self.edit_button = QPushButton("&Edit")
        self.edit_button.setObjectName("editContact")
        self.edit_button.clicked.connect(self.edit)
        self.link_button = QPushButton("&Link to client…")
        self.link_button.setObjectName("linkToClient")
        self.link_button.clicked.connect(self.link_to_client)
        self.merge_button = QPushButton("Merge into a &client…")
        self.merge_button.setObjectName("mergeIntoClient")
        self.merge_button.setToolTip("This contact is one of your clients: merge the contact into "
                                     "the client's profile, choosing which value wins per field")
        self.merge_button.clicked.connect(self.merge_into_client)
        editable = actor.can(Action.EDIT_CLIENT, any_client=True)
        self.edit_button.setVisible(editable)
        self.link_button.setVisible(editable)
        self.merge_button.setVisible(actor.can(Action.MERGE_CONTACTS, any_client=True))

        self.details = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for key, label in (("email", "E&mail"), ("phone", "P&hone"), ("notes", "N&otes")):
            value = value_label("", key)
            value.setAccessibleName(label.replace("&", ""))
            self.fields[key] = value
            caption = QLabel(f"{label}:")
            caption.setBuddy(value)
            self.details.addRow(caption, value)
        self.linked = QTableWidget(0, 2)
        self.linked.setObjectName("linkedClients")
        self.linked.setAccessibleName("Linked clients")
        self.linked.setHorizontalHeaderLabels(["Client", "Relationship"])
        self.linked.verticalHeader().setVisible(False)
        self.linked.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.linked.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.linked.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.linked.cellDoubleClicked.connect(self._open_client)

        title = QHBoxLayout()
        title.addWidget(self.name)
        title.addWidget(kind, 0, Qt.AlignmentFlag.AlignVCenter)
        title.addStretch(1)
        actions = QHBoxLayout()
        actions.addWidget(self.edit_button)
        actions.addWidget(self.link_button)
        actions.addWidget(self.merge_button)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(title)
        layout.addLayout(actions)
        layout.addLayout(self.details)
        linked = QLabel("Linked clie&nts (double-click to open):")
        linked.setBuddy(self.linked)
        layout.addWidget(linked)
        layout.addWidget(self.linked, 1)
        self.resize(640, 480)
        for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")):
            QShortcut(keys, self, self.close)
        self._fill()

    def _fill(self) -> None:
        c = self.contact
        full = display_name(c["first_name"], c["last_name"])
        self.setWindowTitle(full)  # Qt adds the application's name where the platform shows it
        self.name.setText(full)
        for key, label in self.fields.items():
            label.setText(c.get(key) or "")
        self.linked.setRowCount(len(c["clients"]))
        for r, link in enumerate(c["clients"]):
            item = QTableWidgetItem(display_name(link["first_name"], link["last_name"]))
            if link.get("date_of_birth"):
                item.setToolTip(f"Born {link['date_of_birth'].isoformat()}")
            item.setData(Qt.ItemDataRole.UserRole, link["client_id"])
            self.linked.setItem(r, 0, item)
            self.linked.setItem(r, 1, QTableWidgetItem(link["relationship"]))

    def reload(self) -> None:
        read = attempt(self, "Cannot show this contact",
                       lambda: self.contacts.get_contact(self.actor, self.contact_id))
        if not read or read.value is None:
            if isinstance(read.error, NotFound):
                self.close()  # merged or deleted meanwhile
            return
        self.contact = read.value
        self._fill()

    def _open_client(self, row: int, _column: int) -> None:
        item = self.linked.item(row, 0)
        if item is not None:
            self.openClient.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def edit(self) -> None:
        opened = attempt(self, "Cannot edit", lambda: EditContactDialog(self.contacts, self.actor,
                                                                        self.contact_id, self))
        if not opened or opened.value is None:
            return
        if opened.value.exec():
            self.changed.emit(self.contact_id)
            self.reload()

    def link_to_client(self) -> None:
        def search(text: str) -> list[tuple[int, str]]:
            rows = self.clients.list_clients(self.actor, "all", text, limit=50)
            return [(r.id, f"{r.last_name}, {r.first_name}"
                     + (f"  · born {r.date_of_birth.isoformat()}" if r.date_of_birth else ""))
                    for r in rows]

        linked = {c["client_id"]: (f"{c['first_name']} {c['last_name']}", c["relationship"])
                  for c in self.contact["clients"]}
        picker = PickDialog(f"Link {self.contact['first_name']} {self.contact['last_name']} to a client",
                            search, self, linked=linked)
        if not picker.exec() or picker.chosen is None:
            return
        client_id, relationship = picker.chosen, picker.relationship.currentText()
        if not attempt(self, "Not linked", lambda: self.contacts.link(self.actor, client_id, self.contact_id,
                                                                       relationship)):
            return
        self.changed.emit(self.contact_id)
        self.reload()

    def merge_into_client(self) -> None:
        """Find the client this contact really is, choose the values that win, merge; then show the client."""
        opened = attempt(self, "Cannot merge", lambda: MergeIntoClientDialog(
            self.practice, self.actor, self.contact_id, parent=self))
        if not opened or opened.value is None:
            if isinstance(opened.error, NotFound):
                self.close()  # merged or deleted meanwhile
            return
        dialog = opened.value
        if not dialog.exec() or dialog.client_id is None:
            return
        self.merged.emit(self.contact_id, dialog.client_id, dialog.kept_name)
        self.changed.emit(self.contact_id)  # the lists drop the contact
        self.openClient.emit(dialog.client_id)  # and show the client it was merged into
        self.close()
