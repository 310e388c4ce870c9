"""A client's or contact's profile window (an overview for now; tabs come with the profile work)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import NotFound
from desktop.controllers.permissions import Actor
from desktop.storage.database import Database


class ProfileWindow(QWidget):
    def __init__(self, db: Database, actor: Actor, kind: str, record_id: int) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setObjectName("profileWindow")
        self.kind, self.record_id = kind, record_id
        layout = QVBoxLayout(self)
        if kind != "client":
            raise NotFound("Contact profiles are not available yet.")
        detail = ClientsController(db).get_client(actor, record_id)
        row = detail.row
        self.setWindowTitle(f"{row.full_name} — Caseload")
        heading = QLabel(f"<h2>{_escape(row.full_name)}</h2>")
        heading.setObjectName("profileName")
        layout.addWidget(heading)
        form = QFormLayout()
        for label, value in (("Status", row.status.value.title()),
                             ("Date of birth", row.date_of_birth.isoformat() if row.date_of_birth else ""),
                             ("Email", row.email or ""), ("Phone", row.phone or ""),
                             ("Clinician", row.clinician or ""),
                             ("Appointments", str(len(detail.appointments))),
                             ("Billing documents", str(len(detail.billing_documents)))):
            value_label = QLabel(value)
            value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{label}:", value_label)
        layout.addLayout(form)
        layout.addStretch(1)
        self.resize(520, 360)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
