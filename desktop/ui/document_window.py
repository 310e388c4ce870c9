"""One superbill or statement in a window of its own: read it, Save as PDF…, Print….

The window shows the same page the PDF and the printer get
(``render.billing_document.text_document``). Opening it, saving it and
printing it each go through ``BillingController.document``, which audits the
look on the client first (docs/rules.md, "Billing": opening a document is
audited) and then hands the document to the delivery: the PDF is written
whole or not at all, privately, and a write or print that fails is refused in
one sentence, audited as refused, with nothing left behind.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.billing import DocumentView
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.domain.models import DocumentKind
from desktop.render.billing_document import kind_title, money, print_to, text_document, write_pdf
from desktop.ui.list_export import documents_folder
from desktop.ui.operation import attempt
from desktop.ui.widgets import file_name_part

PDF_FILTER = "PDF document (*.pdf)"
SCREEN_MARGIN = 28  # around the page in the window; the PDF's margins are the paper's


class Document(Protocol):
    """What naming, saving and printing a document need: a list's row or the opened document."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> DocumentKind: ...
    @property
    def client_name(self) -> str: ...
    @property
    def period_start(self) -> dt.date: ...
    @property
    def period_end(self) -> dt.date: ...


def title_of(document: Document) -> str:
    return f"{'Superbill' if document.kind is DocumentKind.SUPERBILL else 'Statement'} {document.id}"


def window_title(document: Document) -> str:
    """"Superbill 123 – Ada Lovelace": what it is, and whose (the name isolated from the rest)."""
    return f"{title_of(document)} – \u2068{document.client_name}\u2069"


def suggested_file_name(document: Document) -> str:
    """"Superbill 123 – Ada Lovelace 2026-10-31.pdf" (a statement: its month, "2026-10")."""
    when = (f"{document.period_start:%Y-%m}" if document.kind is DocumentKind.STATEMENT
            else document.period_end.isoformat())
    stem = file_name_part(f"{title_of(document)} – {document.client_name} {when}")
    return f"{stem or title_of(document)}.pdf"


def save_as_pdf(parent: QWidget, practice: Practice, actor: Actor, document: Document) -> Path | None:
    """Ask where (Documents, named for the document), then write the PDF; the file written, or None.

    The look is audited before the file is written; a write that fails is said in
    one sentence, audited as refused, and leaves no file (``write_private``).
    """
    suggested = str(documents_folder() / suggested_file_name(document))
    path, _chosen = QFileDialog.getSaveFileName(parent, "Save as PDF", suggested, PDF_FILTER)
    if not path:
        return None
    target = Path(path)
    if target.suffix.lower() != ".pdf":
        target = target.with_name(target.name + ".pdf")
    saved = attempt(parent, "PDF not saved", lambda: practice.billing.document(
        actor, document.id, purpose="pdf", deliver=lambda view: write_pdf(view, target)))
    return target if saved else None


def print_document(parent: QWidget, practice: Practice, actor: Actor, document: Document) -> bool:
    """The print dialog, then the pages on the printer chosen there; True if printed."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setDocName(title_of(document))
    dialog = QPrintDialog(printer, parent)
    dialog.setObjectName("printDialog")
    dialog.setWindowTitle(f"Print {title_of(document).lower()}")
    chosen = dialog.exec() == QDialog.DialogCode.Accepted
    dialog.deleteLater()
    if not chosen:
        return False
    printed = attempt(parent, "Not printed", lambda: practice.billing.document(
        actor, document.id, purpose="print", deliver=lambda view: print_to(view, printer)))
    return bool(printed)


class DocumentWindow(QWidget):
    """The document, with Save as PDF…, Print… and Close (Esc)."""

    def __init__(self, practice: Practice, actor: Actor, view: DocumentView,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.practice = practice
        self.actor = actor
        self.view = view
        self.document_id = view.id
        self.setObjectName("documentWindow")
        self.setWindowTitle(window_title(view))

        self.page = QTextBrowser()
        self.page.setObjectName("documentPage")
        self.page.setAccessibleName(f"{kind_title(view)} {view.id}")
        self.page.setOpenLinks(False)
        self.page.setStyleSheet("QTextBrowser#documentPage { background: white; color: #1d2733; }")
        document = text_document(view)
        document.setDocumentMargin(SCREEN_MARGIN)
        document.setParent(self.page)
        self.page.setDocument(document)

        self.save_button = QPushButton("&Save as PDF…")
        self.save_button.setObjectName("saveAsPdf")
        self.save_button.setAccessibleName("Save as PDF")
        self.save_button.setToolTip("Write this document to a PDF file (in Documents, unless you choose "
                                    "another folder).")
        self.save_button.clicked.connect(self.save_as_pdf)
        self.print_button = QPushButton("&Print…")
        self.print_button.setObjectName("print")
        self.print_button.setAccessibleName("Print")
        self.print_button.clicked.connect(self.print_document)
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("close")
        self.close_button.clicked.connect(self.close)
        self.said = QLabel()
        self.said.setObjectName("documentSaved")
        self.said.setTextFormat(Qt.TextFormat.PlainText)  # it names a path
        self.said.setWordWrap(True)
        self.said.hide()
        summary = QLabel(f"{kind_title(view)} {view.id} · {money(view.total)} · "
                         f"{'made automatically' if view.automatic else 'made by hand'}")
        summary.setObjectName("documentSummary")
        summary.setTextFormat(Qt.TextFormat.PlainText)

        buttons = QHBoxLayout()
        buttons.addWidget(summary)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.print_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.page, 1)
        layout.addWidget(self.said)
        layout.addLayout(buttons)
        QShortcut(QKeySequence.StandardKey.Close, self, self.close)  # Ctrl+W; Esc: keyPressEvent
        self.setMinimumSize(560, 420)
        self.resize(820, 900)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None and screen.height() > 0:  # a letter page, as much of it as the screen holds
            self.resize(min(820, screen.width() - 40), min(900, screen.height() - 60))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc closes, as in a dialog, wherever the focus is (the page passes it on)."""
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.close()
            return
        super().keyPressEvent(event)

    # ------------------------------------------------------------- delivery

    def save_as_pdf(self) -> Path | None:
        written = save_as_pdf(self, self.practice, self.actor, self.view)
        if written is not None:
            self._say(f"Saved as {written}")
        return written

    def print_document(self) -> bool:
        printed = print_document(self, self.practice, self.actor, self.view)
        if printed:
            self._say("Sent to the printer.")
        return printed

    def _say(self, text: str) -> None:
        self.said.setText(text)
        self.said.show()


def open_document(parent: QWidget | None, practice: Practice, actor: Actor,
                  document_id: int) -> DocumentWindow | None:
    """Read document ``document_id`` (audited) and show it in a new window; None if refused (said)."""
    read = attempt(parent, "Document not opened", lambda: practice.billing.document(actor, document_id))
    if not read or read.value is None:
        return None
    window = DocumentWindow(practice, actor, read.value, parent)
    window.show()
    window.raise_()
    window.activateWindow()
    return window
