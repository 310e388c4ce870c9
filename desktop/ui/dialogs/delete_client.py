"""Deleting a client: two deliberate pages, as the help article describes, and then some.

Page 1 says the deletion is permanent, suggests making the client inactive
instead, offers to export the full record first, and lists exactly what will be
removed. **Continue to Delete** leads to page 2, where the client's first and
last name must be typed exactly as shown (case-sensitive, not trimmed) and the
"I understand" box ticked before **Delete** enables itself.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from PySide6.QtCore import QMarginsF, Qt
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.clients import ClientsController
from desktop.controllers.permissions import Actor
from desktop.domain.models import ClientStatus
from desktop.ui.operation import attempt
from desktop.ui.widgets import DANGER, heading_label, offer_portal_switch_off, problem_label

# In the order a clinician thinks of them: (singular, plural).
IMPACT_LABELS = {
    "appointments": ("appointment", "appointments"),
    "billing_documents": ("billing document (superbill or statement)",
                          "billing documents (superbills and statements)"),
    "billing_items": ("billed appointment line", "billed appointment lines"),
    "client_contact_links": ("link to a contact (the contact itself is kept)",
                             "links to contacts (the contacts themselves are kept)"),
    "portal_access": ("Client Portal access setting", "Client Portal access settings"),
    "status_changes": ("status history entry", "status history entries"),
    "duplicate_dismissals": ("“not a duplicate” decision", "“not a duplicate” decisions"),
}


def describe_impact(counts: dict[str, int]) -> list[str]:
    """One line per kind of record that will go, known kinds first, then any newer table."""
    order = list(IMPACT_LABELS) + sorted(k for k in counts if k not in IMPACT_LABELS)
    lines = []
    for key in order:
        n = counts.get(key, 0)
        if n:
            one, many = IMPACT_LABELS.get(key, (key.replace("_", " "), key.replace("_", " ")))
            lines.append(f"{n:,} {one if n == 1 else many}")
    return lines


def _plain(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class DeleteClientDialog(QDialog):
    def __init__(self, clients: ClientsController, actor: Actor, client_id: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clients = clients
        self.actor = actor
        self.client_id = client_id
        self.deleted = False
        self.made_inactive = False
        # Asking for the impact also asks the controller whether this user may delete.
        self.impact = clients.deletion_impact(actor, client_id)
        self.full_name = self.impact.full_name
        self.setObjectName("deleteClientDialog")
        self.setWindowTitle("Delete client")
        self.setMinimumWidth(520)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._warning_page())
        self.pages.addWidget(self._confirm_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)

    # ------------------------------------------------------------ page 1

    def _warning_page(self) -> QWidget:
        page = QWidget()
        page.setObjectName("warningPage")
        title = heading_label(f"Permanently delete {self.full_name}?", scale=1.35, name="warningTitle")
        body = _plain(
            "Deleting a client permanently removes their profile and every associated record. "
            "This cannot be undone, and the data cannot be recovered afterwards.")
        inactive_hint = _plain(
            "If you may need this client's information in the future, make them inactive instead: "
            "their records are kept and they can be made active again at any time.")
        inactive_hint.setObjectName("inactiveHint")
        removed = [f"•  {line}" for line in describe_impact(self.impact.counts)]
        what = _plain("This will remove the client profile and:\n" + "\n".join(removed)
                      if removed else "This will remove the client profile. No other records "
                      "are attached to it.")
        what.setObjectName("impactList")

        self.make_inactive_button = QPushButton("Make inactive instead")
        self.make_inactive_button.setObjectName("makeInactiveInstead")
        self.make_inactive_button.clicked.connect(self._make_inactive)
        self.make_inactive_button.setVisible(
            self.clients.get_client(self.actor, self.client_id).row.status is ClientStatus.ACTIVE)
        self.export_button = QPushButton("Export record first…")
        self.export_button.setObjectName("exportRecordFirst")
        self.export_button.clicked.connect(self._export)
        cancel = QPushButton("Cancel")
        cancel.setObjectName("cancelPage1")
        cancel.clicked.connect(self.reject)
        self.continue_button = QPushButton("Continue to Delete")
        self.continue_button.setObjectName("continueToDelete")
        self.continue_button.setStyleSheet(f"QPushButton {{ color: {DANGER}; font-weight: bold; }}")
        self.continue_button.clicked.connect(self._to_confirm)

        row1 = QHBoxLayout()
        row1.addWidget(self.make_inactive_button)
        row1.addWidget(self.export_button)
        row1.addStretch(1)
        row2 = QHBoxLayout()
        row2.addStretch(1)
        row2.addWidget(cancel)
        row2.addWidget(self.continue_button)
        layout = QVBoxLayout(page)
        for widget in (title, body, inactive_hint, what):
            layout.addWidget(widget)
        layout.addLayout(row1)
        layout.addStretch(1)
        layout.addLayout(row2)
        cancel.setDefault(True)
        return page

    def _to_confirm(self) -> None:
        self.pages.setCurrentIndex(1)
        self.typed.setFocus()

    def _make_inactive(self) -> None:
        if not attempt(self, "Not made inactive", lambda: self.clients.set_status(
                self.actor, self.client_id, ClientStatus.INACTIVE, reason="other")):
            return
        self.made_inactive = True
        offer_portal_switch_off(self, self.clients, self.actor, self.client_id)
        self.accept()

    def _export(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export client record", f"client-{self.client_id}.json",
            "Client record (JSON) (*.json);;Printable record (PDF) (*.pdf)")
        if not path:
            return
        exported = attempt(self, "Export failed",
                           lambda: self.clients.export_client(self.actor, self.client_id))
        if not exported or exported.value is None:
            return
        record, target = exported.value, Path(path)
        try:
            if target.suffix.lower() == ".pdf" or "PDF" in chosen:
                write_pdf(record, target.with_suffix(".pdf"))
            else:
                target.write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str),
                                  encoding="utf-8")
        except OSError as exc:  # the file, not the controller: a full disk, a folder not writable
            QMessageBox.warning(self, "Export failed", str(exc))
            return
        self.export_button.setText("Exported ✓ — export again…")

    # ------------------------------------------------------------ page 2

    def _confirm_page(self) -> QWidget:
        page = QWidget()
        page.setObjectName("confirmPage")
        prompt = _plain("Enter the client's first and last name exactly as shown (this is case-sensitive):")
        shown = heading_label(self.full_name, scale=1.2, name="nameToType")
        shown.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)  # typed, not pasted
        self.typed = QLineEdit()
        self.typed.setObjectName("typedName")
        self.typed.setAccessibleName("Client's first and last name")
        self.typed.textChanged.connect(self._update_delete)
        self.understood = QCheckBox("I understand this deletion is permanent")
        self.understood.setObjectName("understood")
        self.understood.toggled.connect(self._update_delete)
        self.problem = problem_label()

        back = QPushButton("Back")
        back.setObjectName("back")
        back.clicked.connect(lambda: self.pages.setCurrentIndex(0))
        cancel = QPushButton("Cancel")
        cancel.setObjectName("cancelPage2")
        cancel.clicked.connect(self.reject)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("delete")
        self.delete_button.setAutoDefault(False)
        self.delete_button.setStyleSheet(
            f"QPushButton:enabled {{ background: {DANGER}; color: white; font-weight: bold; "
            "padding: 4px 16px; border-radius: 3px; }")
        self.delete_button.setEnabled(False)
        self.delete_button.clicked.connect(self._delete)

        buttons = QHBoxLayout()
        buttons.addWidget(back)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(page)
        layout.addWidget(prompt)
        layout.addWidget(shown)
        layout.addWidget(self.typed)
        layout.addWidget(self.understood)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        layout.addLayout(buttons)
        return page

    def name_matches(self) -> bool:
        # Exact and case-sensitive; only the Unicode form is normalized, so an
        # "é" typed as e + accent matches the "é" shown.
        return unicodedata.normalize("NFC", self.typed.text()) == self.full_name

    def _update_delete(self) -> None:
        self.delete_button.setEnabled(self.name_matches() and self.understood.isChecked())

    def _delete(self) -> None:
        if not self.delete_button.isEnabled():
            return
        typed, understood = self.typed.text(), self.understood.isChecked()
        if not attempt(self, "Not deleted", lambda: self.clients.delete_client(
                self.actor, self.client_id, typed, understood=understood), report=self.problem.setText):
            return
        self.deleted = True
        self.accept()


def write_pdf(record: dict, path: Path) -> None:
    """A printable copy of the exported record."""
    doc = QTextDocument()
    doc.setPlainText(json.dumps(record, ensure_ascii=False, indent=2, default=str))
    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    writer.setTitle(f"Client record {record.get('id')}")
    doc.print_(writer)
