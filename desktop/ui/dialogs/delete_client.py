"""Deleting a client: two deliberate pages, as the help article describes, and then some.

Page 1 says the deletion is permanent, suggests making the client inactive
instead (asking the reason and note, then the portal question), offers to
export the full record first, and lists exactly what will be removed.
**Continue to Delete** leads to page 2, where the client's first and last name
must be typed exactly as shown (case-sensitive, not trimmed; a name that differs
only in capitals or spaces is told so under the field) and the "I understand"
box ticked before **Delete** enables itself. Afterwards the dialog never claims
more than is known: data another program still reads stays in the file a while.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QSize, QStandardPaths, Qt
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QShowEvent, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import validation
from desktop.controllers.clients import ClientsController
from desktop.controllers.files import write_private
from desktop.controllers.permissions import Actor
from desktop.domain.models import ClientStatus, InactiveReason
from desktop.domain.search import display_name
from desktop.ui.dialogs.edit_client import REASONS
from desktop.ui.operation import attempt
from desktop.ui.widgets import (
    DANGER,
    file_name_part,
    form_row,
    heading_label,
    leading_alignment,
    offer_portal_switch_off,
    problem_label,
)

NOT_ERASED_YET = ("Deleted. Some of the data stays in the practice file until the other program "
                  "reading it (another Caseload window, a backup) closes.")
JSON_FILTER = "Client record (JSON) (*.json)"
PDF_FILTER = "Printable record (PDF) (*.pdf)"

# In the order a clinician thinks of them: (singular, plural).
IMPACT_LABELS = {
    "appointments": ("appointment", "appointments"),
    "billing_documents": ("billing document (superbill or statement)",
                          "billing documents (superbills and statements)"),
    "billing_items": ("billing document line", "billing document lines"),
    "client_contact_links": ("link to a contact (the contact itself is kept)",
                             "links to contacts (the contacts themselves are kept)"),
    "portal_access": ("Client Portal access setting", "Client Portal access settings"),
    "status_changes": ("status history entry", "status history entries"),
    "duplicate_dismissals": ("“not a duplicate” decision", "“not a duplicate” decisions"),
    "contact_client_dismissals": ("“not the same as a contact” decision", "“not the same as a contact” decisions"),
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


class _Page(QWidget):
    """A page that takes no room while another is shown: a stack is as tall as its tallest page."""

    def _hidden(self) -> bool:
        stack = self.parentWidget()
        return isinstance(stack, QStackedWidget) and stack.currentWidget() is not self

    def sizeHint(self) -> QSize:
        return QSize(0, 0) if self._hidden() else super().sizeHint()

    def minimumSizeHint(self) -> QSize:
        return QSize(0, 0) if self._hidden() else super().minimumSizeHint()

    def heightForWidth(self, width: int) -> int:
        return 0 if self._hidden() else super().heightForWidth(width)


class InactiveReasonDialog(QDialog):
    """Why a client is made inactive, and an optional note: the edit dialog's two fields.

    **Make Inactive** runs ``save(reason, note)``; a refusal is said here and the
    dialog stays open, so nothing typed is lost.
    """

    def __init__(self, name: str, save: Callable[[InactiveReason, str], Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._save = save
        self.setObjectName("inactiveReasonDialog")
        self.setWindowTitle(f"Make {name} inactive")
        self.setMinimumWidth(420)
        intro = _plain("Their records are kept, and they can be made active again at any time.")
        self.reason = QComboBox()
        self.reason.setObjectName("inactiveReason")
        self.reason.setAccessibleName("Inactive reason")
        for text, value in REASONS:
            self.reason.addItem(text, value)
        self.note = QLineEdit()
        self.note.setObjectName("inactiveNote")
        self.note.setAccessibleName("Inactive note")
        self.note.setPlaceholderText("Optional, e.g. treatment completed")
        form = QFormLayout()
        form_row(form, "&Reason:", self.reason)
        form_row(form, "&Note:", self.note)
        self.problem = problem_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Make Inactive")
        self.ok_button.setObjectName("makeInactive")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.reason.setFocus()

    def chosen_reason(self) -> InactiveReason:
        return InactiveReason(self.reason.currentData())  # Qt hands the member back as a string

    def _accept(self) -> None:
        reason, note = self.chosen_reason(), self.note.text()
        if attempt(self, "Not made inactive", lambda: self._save(reason, note), report=self.problem.setText):
            self.accept()


class DeleteClientDialog(QDialog):
    def __init__(self, clients: ClientsController, actor: Actor, client_id: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clients = clients
        self.actor = actor
        self.client_id = client_id
        self.deleted = False
        self.erased = False  # after a deletion: whether its data is gone from the file too
        self.made_inactive = False
        # Asking for the impact also asks the controller whether this user may delete.
        self.impact = clients.deletion_impact(actor, client_id)
        self.full_name = self.impact.full_name  # what is typed: first and last name, as stored
        detail = clients.get_client(actor, client_id)
        self.status = detail.row.status
        self.first_name, self.last_name = detail.row.first_name, detail.row.last_name
        self.shown_name = display_name(self.first_name, self.last_name)  # as a reader of it expects
        self.setObjectName("deleteClientDialog")
        self.setWindowTitle(f"Delete {self.shown_name}")
        self.setMinimumWidth(520)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._warning_page())
        self.pages.addWidget(self._confirm_page())
        self.pages.currentChanged.connect(self._fit_page)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self._fit_page(0)

    def _fit_page(self, _index: int = 0) -> None:
        """Size the dialog to the page shown, not to the tallest page (no empty area under a short one)."""
        self.pages.updateGeometry()
        layout = self.layout()
        if layout is None:
            return
        layout.invalidate()
        layout.activate()
        # Wrapped text is as tall as the width it gets: fit the height to the width it has.
        width = self.width() if self.isVisible() else max(self.sizeHint().width(), self.minimumWidth())
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else self.sizeHint().height()
        self.resize(width, max(height, layout.totalMinimumSize().height()))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_page(self.pages.currentIndex())

    # ------------------------------------------------------------ page 1

    def _warning_page(self) -> QWidget:
        page = _Page()
        page.setObjectName("warningPage")
        title = heading_label(f"Permanently delete {self.shown_name}?", scale=1.35, name="warningTitle")
        if self.clients.db.is_postgresql:
            body = _plain(
                "Deleting a client removes their profile and every associated record from the practice. "
                "This cannot be undone in Caseload. The deleted rows stay on the practice server's disk "
                "until PostgreSQL reuses their space, so the server should keep its data on encrypted "
                "storage.")
        else:
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

        self.make_inactive_button = QPushButton("Make inactive instead…")
        self.make_inactive_button.setObjectName("makeInactiveInstead")
        self.make_inactive_button.clicked.connect(self._make_inactive)
        self.make_inactive_button.setVisible(self.status is ClientStatus.ACTIVE)
        self.export_button = QPushButton("Export record first…")
        self.export_button.setObjectName("exportRecordFirst")
        self.export_button.clicked.connect(self._export)
        self.exported_to = _plain("")
        self.exported_to.setObjectName("exportedTo")
        self.exported_to.setVisible(False)
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
        layout.addWidget(self.exported_to)
        layout.addSpacing(12)
        layout.addStretch(1)
        layout.addLayout(row2)
        cancel.setDefault(True)
        return page

    def _to_confirm(self) -> None:
        self.pages.setCurrentIndex(1)
        self.typed.setFocus()

    def _make_inactive(self) -> None:
        """The reason and note first, as the edit dialog asks them; then the portal question."""
        def save(reason: InactiveReason, note: str) -> int:
            return self.clients.set_status(self.actor, self.client_id, ClientStatus.INACTIVE,
                                           reason=reason, note=note)

        asked = InactiveReasonDialog(self.shown_name, save, self)
        if not asked.exec():
            return
        self.made_inactive = True
        offer_portal_switch_off(self, self.clients, self.actor, self.client_id)
        self.accept()

    def suggested_export_path(self) -> str:
        """In the person's Documents folder, named for the client and the day: "Ada Lovelace 2026-11-26.json"."""
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        if not folder or not Path(folder).is_dir():
            folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.HomeLocation)
        stem = file_name_part(f"{self.shown_name} {dt.date.today().isoformat()}") or f"client-{self.client_id}"
        return str(Path(folder) / f"{stem}.json")

    def _export(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export client record", self.suggested_export_path(), f"{JSON_FILTER};;{PDF_FILTER}")
        if not path:
            return
        target = Path(path)
        as_pdf = target.suffix.lower() == ".pdf" or chosen == PDF_FILTER  # the filter, if the name kept .json
        if as_pdf:
            target = target.with_suffix(".pdf")

        def deliver(record: dict[str, Any]) -> None:
            # Written whole, private (0600), never through a symlink; the export is audited
            # only once this has succeeded (a FileNotWritten is audited as refused).
            write_private(target, pdf_bytes(record) if as_pdf else json_bytes(record))

        exported = attempt(self, "Export failed",
                           lambda: self.clients.export_client(self.actor, self.client_id, deliver=deliver))
        if not exported:
            return
        self.export_button.setText("Exported ✓ — export again…")
        self.exported_to.setText(f"Saved to {target}")
        self.exported_to.setVisible(True)
        self._fit_page()

    # ------------------------------------------------------------ page 2

    def _confirm_page(self) -> QWidget:
        page = _Page()
        page.setObjectName("confirmPage")
        title = heading_label(f"Permanently delete {self.shown_name}?", scale=1.35, name="confirmTitle")
        prompt = _plain("&Type the client's first and last name exactly as shown (this is case-sensitive):")
        prompt.setTextFormat(Qt.TextFormat.AutoText)  # the mnemonic, on a sentence without markup
        prompt.setObjectName("typePrompt")
        shown = heading_label(self.full_name, scale=1.2, name="nameToType")
        shown.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)  # typed, not pasted
        shown.setAlignment(leading_alignment(self))  # where the typing starts, even for Arabic
        self.typed = QLineEdit()
        self.typed.setObjectName("typedName")
        self.typed.setAccessibleName("Client's first and last name")
        self.typed.textChanged.connect(self._update_delete)
        prompt.setBuddy(self.typed)
        self.name_hint = QLabel()
        self.name_hint.setObjectName("nameHint")
        self.name_hint.setTextFormat(Qt.TextFormat.PlainText)
        self.name_hint.setWordWrap(True)
        self.name_hint.setStyleSheet(f"color: {DANGER};")
        self.name_hint.setVisible(False)
        self.understood = QCheckBox("I &understand this deletion is permanent")
        self.understood.setObjectName("understood")
        self.understood.toggled.connect(self._update_delete)
        self.problem = problem_label()
        self.problem.setVisible(False)  # no empty line above the buttons until there is something to say

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
        layout.addWidget(title)
        layout.addSpacing(4)
        layout.addWidget(prompt)
        layout.addWidget(shown)
        typed = QVBoxLayout()
        typed.setSpacing(2)
        typed.addWidget(self.typed)
        typed.addWidget(self.name_hint)
        layout.addLayout(typed)
        layout.addWidget(self.understood)
        layout.addWidget(self.problem)
        layout.addSpacing(8)
        layout.addLayout(buttons)
        return page

    def _say_problem(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.setVisible(bool(message))
        self._fit_page()

    def name_matches(self) -> bool:
        # Exact and case-sensitive; only the Unicode form is normalized, so an
        # "é" typed as e + accent matches the "é" shown.
        return unicodedata.normalize("NFC", self.typed.text()) == self.full_name

    def name_difference(self) -> str:
        """What to say under the field when the name typed is nearly the one shown, else nothing."""
        typed = unicodedata.normalize("NFC", self.typed.text())
        if not typed or typed == self.full_name:
            return ""
        hidden = validation.invisible(typed)
        if hidden:
            return f"The name typed contains an invisible character ({hidden})."
        same_letters = typed.casefold() == self.full_name.casefold()
        unspaced, wanted = "".join(typed.split()), "".join(self.full_name.split())
        if same_letters:
            return "Capitals differ from the name shown."
        if unspaced == wanted:
            return "Spaces differ from the name shown."
        if unspaced.casefold() == wanted.casefold():
            return "Capitals and spaces differ from the name shown."
        return ""

    def _update_delete(self) -> None:
        hint = self.name_difference()
        if hint != self.name_hint.text() or bool(hint) != self.name_hint.isVisibleTo(self):
            self.name_hint.setText(hint)
            self.name_hint.setVisible(bool(hint))
            self._fit_page()  # room for the line, never a squeezed heading
        self.delete_button.setEnabled(self.name_matches() and self.understood.isChecked())

    def _delete(self) -> None:
        if not self.delete_button.isEnabled():
            return
        typed, understood = self.typed.text(), self.understood.isChecked()
        done = attempt(self, "Not deleted", lambda: self.clients.delete_client(
            self.actor, self.client_id, typed, understood=understood), report=self._say_problem)
        if not done or done.value is None:
            return
        self.deleted = True
        self.erased = done.value.erased
        if not self.erased and not self.clients.db.is_postgresql:  # a server's: main window says
            # Deleted, but another program's open read keeps the data in the file for now.
            box = QMessageBox(QMessageBox.Icon.Information, "Deleted", NOT_ERASED_YET,
                              QMessageBox.StandardButton.Ok, self)
            box.setObjectName("notErasedYet")
            box.exec()
        self.accept()


def json_bytes(record: dict[str, Any]) -> bytes:
    """The exported record as readable JSON."""
    return json.dumps(record, ensure_ascii=False, indent=2, default=str).encode("utf-8")


def pdf_bytes(record: dict[str, Any]) -> bytes:
    """A printable copy of the exported record, made in memory (written like any export)."""
    doc = QTextDocument()
    doc.setPlainText(json.dumps(record, ensure_ascii=False, indent=2, default=str))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    writer.setTitle(f"Client record {record.get('id')}")
    doc.print_(writer)
    del writer  # finishes the document into the buffer
    buffer.close()
    return bytes(data.data())
