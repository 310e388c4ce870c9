"""A client's profile: header with name, status and clinician; Edit; and up to six tabs.

Everything shown comes from one ``ClientsController.get_client`` call; changes
go through the edit dialog or the Client Portal switches, each one controller
operation. ``changed`` and ``deleted`` tell the main window to refresh its list.
The Billing documents and History tabs are there only when the controller
returned those parts (docs/rules.md, "Who may do what"); the History tab lists
the status changes, the record's audit trail in the Audit log's own words and,
for those who may read the practice audit log, who viewed this record. The
Appointments tab offers New and Edit to those who may manage this client's
appointments (the appointment dialog; the profile reloads after a save). Esc or
Ctrl+W closes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.clients import ClientDetail
from desktop.controllers.errors import NotFound
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.domain.models import Attendance, ClientStatus
from desktop.domain.search import display_name
from desktop.ui.operation import attempt
from desktop.ui.widgets import (
    action_words,
    form_row,
    heading_label,
    leading_alignment,
    local_time,
    outcome_text,
)

BADGE = {
    ClientStatus.ACTIVE: "background: #e3f4e8; color: #1b6e35; border: 1px solid #9fd3b0;",
    ClientStatus.INACTIVE: "background: #eeeeee; color: #555555; border: 1px solid #c4c4c4;",
}


def _wall_clock(stamp: str) -> str:
    """An appointment's start as given (ISO, on the practice's clock) to the minute."""
    try:
        return f"{dt.datetime.fromisoformat(stamp):%Y-%m-%d %H:%M}"
    except (TypeError, ValueError):
        return str(stamp)


def _caption(text: str, buddy: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(buddy)
    return label


def _table(name: str, headers: list[str], rows: list[list[str]]) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers))
    table.setObjectName(name)
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


class ProfileWindow(QWidget):
    changed = Signal(int)
    deleted = Signal(int, str)
    openClient = Signal(int)
    openContact = Signal(int)

    def __init__(self, practice: Practice, actor: Actor, record_id: int) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setObjectName("profileWindow")
        self.practice = practice
        self.clients = practice.clients
        self.contacts = practice.contacts
        self.users = practice.users
        self.actor = actor
        self.record_id = record_id
        self.erased: bool | None = None  # after a deletion from here: whether its data left the file
        self.detail: ClientDetail = self.clients.get_client(actor, record_id)

        self.name = heading_label(name="profileName")
        self.badge = QLabel()
        self.badge.setObjectName("statusBadge")
        self.clinician = QLabel()
        self.clinician.setObjectName("clinician")
        self.clinician.setTextFormat(Qt.TextFormat.PlainText)
        self.edit_button = QPushButton("Edit")
        self.edit_button.setObjectName("edit")
        self.edit_button.setAccessibleName("Edit client")
        self.edit_button.clicked.connect(self.edit)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("profileTabs")

        title_row = QHBoxLayout()
        title_row.addWidget(self.name)
        title_row.addSpacing(8)
        title_row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addStretch(1)
        under = QHBoxLayout()
        under.addWidget(self.edit_button)
        under.addSpacing(12)
        under.addWidget(self.clinician)
        under.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(title_row)
        layout.addLayout(under)
        layout.addWidget(self.tabs, 1)
        close = QAction("Close", self)
        close.setObjectName("closeProfile")
        keys = [QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W"),
                *QKeySequence.keyBindings(QKeySequence.StandardKey.Close)]
        close.setShortcuts(list(dict.fromkeys(keys)))  # one action: no ambiguous duplicates
        close.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        close.triggered.connect(self.close)
        self.addAction(close)
        self.resize(900, 620)
        self._fill()

    # ---------------------------------------------------------------- tabs

    def _fill(self) -> None:
        d = self.detail
        row = d.row
        shown = display_name(row.first_name, row.last_name)
        self.setWindowTitle(shown)  # Qt adds the application's name where the platform shows it
        self.name.setText(shown)
        self.badge.setText(f" {row.status.value.title()} ")
        self.badge.setStyleSheet(f"QLabel {{ {BADGE[row.status]} border-radius: 8px; padding: 1px 8px; }}")
        self.badge.setAccessibleName(f"Status: {row.status.value}")
        self.clinician.setText(f"Clinician: {row.clinician or 'not assigned'}")
        self.edit_button.setVisible(self.actor.can(Action.EDIT_CLIENT, row.clinician_id))
        current = self.tabs.currentIndex()
        old_pages = [self.tabs.widget(i) for i in range(self.tabs.count())]
        self.tabs.clear()
        for old in old_pages:
            if old is not None:
                old.deleteLater()
        self.tabs.addTab(self._overview(), "Overview")
        self.tabs.addTab(self._portal(), "Client Portal")
        self.tabs.addTab(self._contacts_tab(), f"Contacts ({len(d.contacts)})")
        self.tabs.addTab(self._appointments_tab(), f"Appointments ({len(d.appointments)})")
        # Left out of the record for roles that may not see them: no tab at all, not an empty one.
        documents = d.billing_documents
        if documents is not None:
            self.tabs.addTab(_table("billingTable", ["Kind", "Period", "Amount", "Made"], [
                [b["kind"].title(), f"{b['period_start']} – {b['period_end']}", b["amount"],
                 "automatically" if b["automatic"] else "by hand"]
                for b in reversed(documents)]), f"Billing documents ({len(documents)})")
        if d.status_history is not None:
            self.tabs.addTab(self._history(d.status_history), "History")
        if 0 <= current < self.tabs.count():
            self.tabs.setCurrentIndex(current)

    def _overview(self) -> QWidget:
        d, row = self.detail, self.detail.row
        page = QWidget()
        page.setObjectName("overview")
        form = QFormLayout(page)
        values = [
            ("First name", row.first_name), ("Last name", row.last_name),
            ("Preferred name", row.preferred_name or ""),
            ("Date of birth", row.date_of_birth.isoformat() if row.date_of_birth else ""),
            ("Email", row.email or ""), ("Phone", row.phone or ""), ("Address", d.address or ""),
            ("Client status", row.status.value.title()),
        ]
        if d.diagnosis_codes:
            values.insert(7, ("Diagnosis codes", d.diagnosis_codes))
        if row.status is ClientStatus.INACTIVE:
            values.append(("Inactive reason", d.inactive_reason.value.title() if d.inactive_reason else ""))
            if d.inactive_note:
                values.append(("Note", d.inactive_note))
        for label, value in values:
            shown = QLabel(value)
            shown.setTextFormat(Qt.TextFormat.PlainText)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setObjectName(label.lower().replace(" ", "_"))
            shown.setWordWrap(True)
            # Next to its label whatever the script: Arabic is not pushed to the far edge.
            shown.setAlignment(leading_alignment(self))
            caption = form_row(form, f"{label}:", shown)
            caption.setAlignment(Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignTop)
        if d.duplicate_of_id is not None:
            form_row(form, "Duplicate of:", self._client_link(d.duplicate_of_id, "duplicateOf"))
        if d.duplicates:
            links = QWidget()
            box = QHBoxLayout(links)
            box.setContentsMargins(0, 0, 0, 0)
            for other in d.duplicates:
                box.addWidget(self._client_link(other, f"duplicate{other}"))
            box.addStretch(1)
            form_row(form, "Duplicates:", links)
        return page

    def _contacts_tab(self) -> QWidget:
        d = self.detail
        page = QWidget()
        page.setObjectName("contactsTab")
        self.contacts_table = _table("contactsTable", ["Name", "Relationship", "Phone", "Email"], [
            [display_name(c["first_name"], c["last_name"]), c["relationship"], c["phone"] or "",
             c["email"] or ""]
            for c in d.contacts])
        self._contact_ids = [c["contact_id"] for c in d.contacts]  # by table row
        self.contacts_table.cellDoubleClicked.connect(self._open_contact)
        add = QPushButton("Add contact…")
        add.setObjectName("addContactButton")
        add.clicked.connect(self.add_contact)
        link = QPushButton("Link existing contact…")
        link.setObjectName("linkContactButton")
        link.clicked.connect(self.link_contact)
        unlink = QPushButton("Unlink")
        unlink.setObjectName("unlinkContactButton")
        unlink.clicked.connect(self.unlink_contact)
        editable = self.actor.can(Action.EDIT_CLIENT, d.row.clinician_id)
        row = QHBoxLayout()
        for b in (add, link, unlink):
            b.setVisible(editable)
            row.addWidget(b)
        row.addStretch(1)
        layout = QVBoxLayout(page)
        layout.addWidget(self.contacts_table, 1)
        layout.addLayout(row)
        return page

    def _appointments_tab(self) -> QWidget:
        """The client's appointments, newest first; New and Edit for those who manage them."""
        d = self.detail
        page = self.appointments_page = QWidget()
        page.setObjectName("appointmentsTab")
        shown = list(reversed(d.appointments))
        self._appointment_ids = [a["id"] for a in shown]  # by table row
        self.appointments_table = _table(
            "appointmentsTable", ["Start", "Minutes", "Service", "Fee", "Attendance", "Clinician", "Billing"],
            [[_wall_clock(a["start"]), str(a["minutes"]),
              f"{a['service']} {a.get('service_description') or ''}".strip(), a["fee"],
              Attendance(a["attendance"]).label, a.get("clinician_name") or "",
              "on a billing document" if a.get("billed")
              else "by hand only (while inactive)" if a["manual_billing_only"] else ""]
             for a in shown])
        self.appointments_table.setAccessibleName("Appointments")
        for row in range(len(shown)):
            item = self.appointments_table.item(row, 1)
            if item is not None:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        manages = self.actor.can(Action.MANAGE_APPOINTMENTS, d.row.clinician_id)
        self.new_appointment_button = QPushButton("&New appointment…")
        self.new_appointment_button.setObjectName("newAppointment")
        self.new_appointment_button.clicked.connect(self.new_appointment)
        self.edit_appointment_button = QPushButton("&Edit appointment…")
        self.edit_appointment_button.setObjectName("editAppointment")
        self.edit_appointment_button.clicked.connect(self.edit_appointment)
        self.edit_appointment_button.setEnabled(False)
        self.appointments_table.itemSelectionChanged.connect(
            lambda: self.edit_appointment_button.setEnabled(self._selected_appointment() is not None))
        if manages:
            self.appointments_table.cellDoubleClicked.connect(lambda _r, _c: self.edit_appointment())
        buttons = QHBoxLayout()
        for button in (self.new_appointment_button, self.edit_appointment_button):
            button.setVisible(manages)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(page)
        if not shown:
            empty = QLabel("No appointments yet.")
            empty.setObjectName("noAppointments")
            layout.addWidget(empty)
        layout.addWidget(self.appointments_table, 1)
        layout.addLayout(buttons)
        return page

    def _selected_appointment(self) -> int | None:
        rows = self.appointments_table.selectionModel().selectedRows()
        return self._appointment_ids[rows[0].row()] if rows else None

    def new_appointment(self) -> None:
        from desktop.ui.dialogs.appointment import AppointmentDialog, ClientChoice

        row = self.detail.row
        client = ClientChoice(row.id, self._shown_name(), row.clinician_id, row.status,
                              row.date_of_birth.isoformat() if row.date_of_birth else "", row.clinician or "")
        self._run_appointment(AppointmentDialog(self.practice, self.actor, client=client, parent=self))

    def edit_appointment(self) -> None:
        from desktop.ui.dialogs.appointment import AppointmentDialog

        appointment_id = self._selected_appointment()
        if appointment_id is None or not self.actor.can(Action.MANAGE_APPOINTMENTS, self.detail.row.clinician_id):
            return
        found = attempt(self, "Cannot edit", lambda: self.practice.appointments.find(self.actor, appointment_id))
        if not found or found.value is None:
            self.reload()
            return
        self._run_appointment(AppointmentDialog(self.practice, self.actor, appointment=found.value, parent=self))

    def _run_appointment(self, dialog: Any) -> None:
        dialog.exec()
        if dialog.made_active is not None:
            self.changed.emit(self.record_id)  # the list shows the client's new status
        if dialog.saved_id is not None or dialog.made_active is not None:
            self.reload()
            if dialog.saved_id in self._appointment_ids:
                self.tabs.setCurrentWidget(self.appointments_page)
                self.appointments_table.selectRow(self._appointment_ids.index(dialog.saved_id))
        dialog.deleteLater()

    def _selected_contact(self) -> int | None:
        rows = self.contacts_table.selectionModel().selectedRows()
        if not rows:
            return None
        return self._contact_ids[rows[0].row()]

    def _open_contact(self, row: int, _column: int) -> None:
        self.openContact.emit(self._contact_ids[row])

    def add_contact(self) -> None:
        from desktop.ui.dialogs.contact_dialogs import AddContactDialog

        dialog = AddContactDialog(self.contacts, self.actor, self.record_id, self._shown_name(), self)
        if dialog.exec():
            self.changed.emit(self.record_id)
            self.reload()

    def link_contact(self) -> None:
        from desktop.ui.dialogs.contact_dialogs import PickDialog

        def search(text: str) -> list[tuple[int, str]]:
            # The email (and phone) tell apart two people with one name.
            return [(c["id"], "  · ".join(part for part in (
                f"{c['last_name']}, {c['first_name']}", c["email"], c["phone"]) if part))
                for c in self.contacts.search_contacts(self.actor, text)]

        linked = {c["contact_id"]: (display_name(c["first_name"], c["last_name"]), c["relationship"])
                  for c in self.detail.contacts}
        picker = PickDialog(f"Link a contact to {self._shown_name()}", search, self, linked=linked)
        if not picker.exec() or picker.chosen is None:
            return
        contact_id, relationship = picker.chosen, picker.relationship.currentText()
        attempt(self, "Not linked",
                lambda: self.contacts.link(self.actor, self.record_id, contact_id, relationship))
        self.changed.emit(self.record_id)
        self.reload()

    def _shown_name(self) -> str:
        return display_name(self.detail.row.first_name, self.detail.row.last_name)

    def unlink_contact(self) -> None:
        contact_id = self._selected_contact()
        if contact_id is None:
            return
        attempt(self, "Not unlinked", lambda: self.contacts.unlink(self.actor, self.record_id, contact_id))
        self.changed.emit(self.record_id)
        self.reload()

    def _client_link(self, client_id: int, name: str) -> QLabel:
        link = QLabel(f'<a href="{client_id}">client {client_id}</a>')
        link.setObjectName(name)
        link.linkActivated.connect(lambda href: self.openClient.emit(int(href)))
        return link

    def _portal(self) -> QWidget:
        page = QWidget()
        page.setObjectName("clientPortal")
        layout = QVBoxLayout(page)
        self.portal_box = QCheckBox("Client Portal access")
        self.portal_box.setObjectName("portalEnabled")
        self.messaging_box = QCheckBox("Secure messaging")
        self.messaging_box.setObjectName("messagingEnabled")
        self.portal_box.setChecked(self.detail.portal["portal_enabled"])
        self.messaging_box.setChecked(self.detail.portal["messaging_enabled"])
        editable = self.actor.can(Action.EDIT_CLIENT, self.detail.row.clinician_id)
        for box in (self.portal_box, self.messaging_box):
            box.setEnabled(editable)
            box.toggled.connect(self._portal_toggled)
            layout.addWidget(box)
        note = QLabel("Making a client inactive does not switch these off: an inactive client can "
                      "still sign in to the Client Portal and send secure messages until you do.")
        note.setWordWrap(True)
        note.setObjectName("portalNote")
        layout.addWidget(note)
        layout.addStretch(1)
        return page

    def _portal_toggled(self) -> None:
        portal, messaging = self.portal_box.isChecked(), self.messaging_box.isChecked()
        attempt(self, "Portal access not changed", lambda: self.clients.set_portal_access(
            self.actor, self.record_id, portal=portal, messaging=messaging))
        self.reload()

    def _history(self, history: list[dict[str, Any]]) -> QWidget:
        people = self._people()

        def who(username: str | None) -> str:
            return people.get(username, username) if username else ""

        rows = [[local_time(h["at"]), f"{h['from'].title()} → {h['to'].title()}",
                 (h["reason"] or "").title(), h["note"] or "", who(h["actor"])] for h in history]
        page = QWidget()
        page.setObjectName("historyTab")
        layout = QVBoxLayout(page)
        status_table = _table("statusHistory", ["When", "Change", "Reason", "Note", "By"], list(reversed(rows)))
        layout.addWidget(_caption("Status &changes", status_table))
        layout.addWidget(status_table)
        # Shown only with the history, to the same roles; if reading it fails, the trail stays empty.
        read = attempt(self, "Audit trail not read", lambda: self.clients.audit_events(
            self.actor, self.record_id, limit=200), report=lambda _message: None)
        events = read.value if read and read.value is not None else []
        trail = _table("auditTrail", ["When", "Who", "What", "Outcome"], [
            [local_time(e["at"]), who(e["actor"]), action_words(e["action"], e["outcome"], e.get("details")),
             outcome_text(e["outcome"])] for e in events])
        layout.addWidget(_caption("&Audit trail", trail))
        layout.addWidget(trail)
        if self.actor.can(Action.READ_AUDIT_LOG, any_client=True):
            layout.addWidget(self._who_viewed())
        return page

    def _who_viewed(self) -> QWidget:
        """Every look at this record (profile opened, record exported, a billing document opened),
        newest first: when, who and how. For those who may read the practice audit log."""
        read = attempt(self, "Who viewed this record not read",
                       lambda: self.practice.audit.who_viewed(self.actor, self.record_id),
                       report=lambda _message: None)  # then the list is empty, and says why
        looks = read.value if read and read.value is not None else []
        box = QWidget()
        box.setObjectName("whoViewedSection")
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        viewers = _table("whoViewed", ["When", "Who", "How"],
                         [[local_time(e.at.isoformat()), e.user, e.what] for e in looks])
        viewers.setAccessibleName("Who viewed this record")
        layout.addWidget(_caption("&Who viewed this record", viewers))
        if not read:
            note = QLabel(f"Not read: {read.error}")
            note.setObjectName("whoViewedProblem")
            note.setTextFormat(Qt.TextFormat.PlainText)
            note.setWordWrap(True)
            layout.addWidget(note)
        layout.addWidget(viewers)
        return box

    def _people(self) -> dict[str, str]:
        """Usernames to the names people know each other by ("Dr. Hana Sato", not ``clinician-1``)."""
        read = attempt(self, "Users not read", lambda: self.users.list_users(self.actor),
                       report=lambda _message: None)  # then usernames are shown: still true
        return {str(u["username"]): str(u["display_name"]) for u in read.value or []}

    # -------------------------------------------------------------- actions

    def reload(self) -> None:
        # Refused when reassigned away, or the server is unreachable; NotFound: deleted meanwhile.
        read = attempt(self, "Cannot show this client",
                       lambda: self.clients.get_client(self.actor, self.record_id))
        if not read or read.value is None:
            if isinstance(read.error, NotFound):
                self.close()
            return
        self.detail = read.value
        self._fill()

    def edit(self) -> None:
        from desktop.ui.dialogs.edit_client import EditClientDialog

        opened = attempt(self, "Cannot edit",
                         lambda: EditClientDialog(self.clients, self.actor, self.record_id, self,
                                                  duplicates=self.practice.duplicates))
        if not opened or opened.value is None:
            return
        dialog = opened.value
        dialog.exec()
        if dialog.deleted:
            # Read by whoever shows the deletion: never "deleted permanently" while not erased.
            self.erased = dialog.erased
            self.deleted.emit(self.record_id, self._shown_name())
            self.close()
            return
        if dialog.result() == dialog.DialogCode.Accepted:
            self.changed.emit(self.record_id)
            self.reload()
