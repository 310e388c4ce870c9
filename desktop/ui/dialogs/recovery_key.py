"""The recovery key page: the key shown once, printed or saved, and proof the person has it.

An encrypted practice (docs/rules.md, "Privacy at rest") opens only with a
user's password or the practice's recovery key. The page says so in plain
words, shows the key large enough to copy by hand, prints it or saves it as a
one-page PDF (``paint_sheet`` draws that page for both), and asks for the key's
last group before Continue is offered, so nobody clicks past it unread.

Closing the page without typing the group (Escape, the window's close button)
asks first, with going back to the key as the default answer: the Account
Owner already exists by then, so closing cannot undo anything, and a window
that refuses to close looks broken; but a key not kept is a practice nobody
can open after a forgotten password, so it is never skipped unawares. A key
not kept can be replaced later in Practice settings (New recovery key…).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QFont,
    QFontDatabase,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
    QTextOption,
)
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.access import last_group, last_group_matches
from desktop.controllers.errors import FileNotWritten
from desktop.controllers.files import write_private
from desktop.render.billing_document import (
    direction,
    document_font,
    gui_application,
    pdf_file_bytes,
)
from desktop.ui.list_export import documents_folder
from desktop.ui.operation import attempt
from desktop.ui.widgets import file_name_part, heading_label, problem_label

PDF_FILTER = "PDF document (*.pdf)"
TITLE = "Caseload recovery key"
INK = "#1d2733"
ACCENT = "#1f3b57"
MUTED = "#5b6775"
MARGIN_MM = 20

# Said on the page and on the paper alike.
WHAT_IT_IS = ("This key lets the Account Owner set a new password if theirs is forgotten. The practice "
              "file on this computer is encrypted: without a password or this key nobody can open it, "
              "not even the makers of Caseload.")
WHERE_TO_KEEP = ("Keep it on paper somewhere safe and away from the computer, such as a locked drawer or "
                 "with your important papers. Anyone who has both this key and the practice's files can "
                 "open them.")
NOT_YET = ("Type the last group of the key to go on: Caseload shows the key only now, so keep it (print it, "
           "save it, or write it down) before you leave this page.")
SHOWN_ONCE = "Caseload shows it only now: print it, or write it down, before you go on."
CHARACTERS = "Only the letters A to Z and the digits 2 to 7: an O or an I is a letter."
REPLACED = "A new recovery key made in Practice settings replaces this one; this one then stops working."


def group_matches(typed: str, recovery_key: str) -> bool:
    """Whether ``typed`` is the last group of ``recovery_key`` (any case, spaces, 0/1/8 for O/I/B)."""
    return last_group_matches(typed, recovery_key)


def monospace_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setFamilies(["DejaVu Sans Mono", font.family(), "monospace"])
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


# ------------------------------------------------------------------ the paper


@dataclass(frozen=True)
class Sheet:
    """What the printed or saved page says."""

    recovery_key: str
    practice_name: str
    made: dt.date


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def sheet_html(sheet: Sheet) -> str:
    """The page as HTML for ``QTextDocument``: title, practice, the key, the date, what to do."""
    name = sheet.practice_name.strip() or "your practice"
    paragraph = "margin-top: 0; margin-bottom: 10px;"
    return f"""<html><body style="font-family: 'DejaVu Sans', sans-serif; font-size: 11pt; color: {INK};">
<p style="font-size: 22pt; font-weight: bold; color: {ACCENT}; margin-top: 0; margin-bottom: 6px;">{TITLE}</p>
<p dir='{direction(name)}' align='left' style="font-size: 14pt; font-weight: bold; {paragraph}">{_e(name)}</p>
<table width="100%" cellspacing="0" cellpadding="14" border="1"
 style="border-collapse: collapse; border-color: {ACCENT}; border-style: solid; margin-top: 8px; margin-bottom: 14px;">
<tr><td align="center"><p align="center" style="font-family: 'DejaVu Sans Mono', monospace; font-size: 15pt;
 font-weight: bold; white-space: nowrap; margin: 0;">{_e(sheet.recovery_key)}</p></td></tr></table>
<p style="{paragraph}">Made on {sheet.made.isoformat()}. {_e(CHARACTERS)}</p>
<p style="font-size: 12pt; font-weight: bold; color: {ACCENT}; margin-top: 12px; margin-bottom: 4px;">What it is</p>
<p style="{paragraph}">{_e(WHAT_IT_IS)}</p>
<p style="font-size: 12pt; font-weight: bold; color: {ACCENT}; margin-top: 12px; margin-bottom: 4px;">Where to keep it</p>
<p style="{paragraph}">{_e(WHERE_TO_KEEP)}</p>
<p style="color: {MUTED}; font-size: 9pt; margin-top: 18px;">{_e(REPLACED)}</p>
</body></html>"""


def _layout(device: QPagedPaintDevice) -> None:
    device.setPageSize(QPageSize(QPageSize.PageSizeId.Letter))
    device.setPageMargins(QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM), QPageLayout.Unit.Millimeter)


def paint_sheet(sheet: Sheet, device: QPagedPaintDevice) -> None:
    """Draw the one page on ``device`` (a PDF writer, or the printer as its dialog left it);
    ``FileNotWritten`` if it cannot be painted on."""
    gui_application()
    doc = QTextDocument()
    doc.setDefaultFont(document_font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    option.setTextDirection(Qt.LayoutDirection.LeftToRight)
    doc.setDefaultTextOption(option)
    doc.setDocumentMargin(0)
    doc.setHtml(sheet_html(sheet))
    painter = QPainter()
    if not painter.begin(device):
        raise FileNotWritten("The recovery key page could not be laid out; nothing was printed or written.")
    try:
        layout = doc.documentLayout()
        layout.setPaintDevice(device)  # measured in the device's own resolution
        page = QSizeF(float(device.width()), float(device.height()))
        doc.setPageSize(page)
        doc.drawContents(painter, QRectF(0, 0, page.width(), page.height()))
    finally:
        painter.end()


def pdf_bytes(sheet: Sheet) -> bytes:
    """The page as a PDF file's bytes."""

    def draw(writer: QPdfWriter) -> None:
        _layout(writer)
        paint_sheet(sheet, writer)

    return pdf_file_bytes(TITLE, draw)


def write_pdf(sheet: Sheet, path: Path | str) -> Path:
    """Write the PDF to ``path`` (mode 0600, whole or not at all); ``FileNotWritten`` says why not."""
    return write_private(path, pdf_bytes(sheet))


def suggested_file_name(practice_name: str) -> str:
    stem = file_name_part(f"{TITLE} – {practice_name.strip()}") if practice_name.strip() else TITLE
    return f"{stem or TITLE}.pdf"


# ------------------------------------------------------------------ the page


class RecoveryKeyDialog(QDialog):
    """The key once, with Print…, Save as PDF…, and its last group to type before Continue.

    ``confirmed`` says whether the person typed the group (else they chose to go on without).
    """

    def __init__(self, recovery_key: str, practice_name: str, parent: QWidget | None = None, *,
                 today: dt.date | None = None) -> None:
        super().__init__(parent)
        self.recovery_key = recovery_key
        self.practice_name = practice_name.strip() or "your practice"
        self.made = today or dt.date.today()
        self.saved_to: Path | None = None
        self.setObjectName("recoveryKeyDialog")
        self.setWindowTitle("Your recovery key")
        self.setMinimumWidth(640)

        heading = heading_label("Your recovery key", scale=1.35, name="recoveryKeyHeading")
        what = QLabel(WHAT_IT_IS)
        what.setObjectName("recoveryKeyExplanation")
        keep = QLabel(WHERE_TO_KEEP)
        keep.setObjectName("recoveryKeyWhere")
        once = QLabel(SHOWN_ONCE)
        once.setObjectName("recoveryKeyOnce")
        bold = once.font()
        bold.setBold(True)
        once.setFont(bold)
        for label in (what, keep, once):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)

        self.key_label = QLabel(recovery_key)
        self.key_label.setObjectName("recoveryKey")
        self.key_label.setAccessibleName("Recovery key")
        self.key_label.setTextFormat(Qt.TextFormat.PlainText)
        self.key_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.key_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        big = monospace_font()
        big.setPointSizeF(max(big.pointSizeF(), self.font().pointSizeF()) * 1.45)
        big.setBold(True)
        self.key_label.setFont(big)
        self.key_label.setStyleSheet(
            "QLabel#recoveryKey { border: 1px solid palette(mid); border-radius: 4px; padding: 12px 8px; "
            "background: palette(base); }")
        self.key_label.setMinimumWidth(self.key_label.fontMetrics().horizontalAdvance(recovery_key) + 40)
        whose = QLabel()
        whose.setObjectName("recoveryKeyPractice")
        whose.setTextFormat(Qt.TextFormat.PlainText)
        whose.setWordWrap(True)
        whose.setText(f"For \u2068{self.practice_name}\u2069, made on {self.made.isoformat()}. {CHARACTERS}")

        self.print_button = self._button("Print…", "printRecoveryKey", self.print_key)
        self.pdf_button = self._button("Save as PDF…", "saveRecoveryKeyPdf", self.save_pdf)
        save_row = QHBoxLayout()
        save_row.addWidget(self.print_button)
        save_row.addWidget(self.pdf_button)
        save_row.addStretch(1)
        self.saved_note = QLabel()
        self.saved_note.setObjectName("recoveryKeySaved")
        self.saved_note.setWordWrap(True)
        self.saved_note.setTextFormat(Qt.TextFormat.PlainText)
        self.saved_note.setVisible(False)
        self.file_problem = problem_label("recoveryKeyFileProblem")

        check_label = QLabel("&Type the last group of the key to show you have it:")
        self.check = QLineEdit()
        self.check.setObjectName("recoveryKeyCheck")
        self.check.setAccessibleName("Last group of the recovery key")
        self.check.setMaxLength(20)
        self.check.setFont(monospace_font())
        self.check.setFixedWidth(self.check.fontMetrics().horizontalAdvance("W" * 9) + 16)
        check_label.setBuddy(self.check)
        self.check.textChanged.connect(self._check)
        check_row = QHBoxLayout()
        check_row.addWidget(check_label)
        check_row.addWidget(self.check)
        check_row.addStretch(1)
        self.problem = problem_label("recoveryKeyProblem")

        self.continue_button = QPushButton("Continue")
        self.continue_button.setObjectName("recoveryKeyContinue")
        self.continue_button.setDefault(True)
        self.continue_button.clicked.connect(self.accept)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.continue_button)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(what)
        layout.addSpacing(6)
        layout.addWidget(self.key_label)
        layout.addWidget(whose)
        layout.addSpacing(6)
        layout.addWidget(keep)
        layout.addWidget(once)
        layout.addLayout(save_row)
        layout.addWidget(self.saved_note)
        layout.addWidget(self.file_problem)
        layout.addSpacing(10)
        layout.addLayout(check_row)
        layout.addWidget(self.problem)
        layout.addLayout(bottom)
        self.check.setFocus()
        self._check()

    def _button(self, text: str, name: str, slot: object) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.rstrip("…"))
        button.setAutoDefault(False)  # Return in the check box means Continue, never Print
        button.clicked.connect(slot)
        return button

    @property
    def confirmed(self) -> bool:
        return group_matches(self.check.text(), self.recovery_key)

    def sheet(self) -> Sheet:
        return Sheet(self.recovery_key, self.practice_name, self.made)

    def _check(self) -> None:
        typed = re.sub(r"[\s\-‐-―]", "", self.check.text())
        matches = self.confirmed
        wrong = not matches and len(typed) >= len(last_group(self.recovery_key))
        self.problem.setText("That is not the last group of the key: the five characters after the last "
                             "dash." if wrong else "")
        self.continue_button.setEnabled(matches)

    # ------------------------------------------------------------- leaving

    def accept(self) -> None:
        if self.confirmed:
            super().accept()

    def reject(self) -> None:
        """Escape or the close button: the page stays until the last group is typed (the key is
        shown only now, and the Account Owner must show they have it before going on)."""
        if self.confirmed:
            super().reject()
            return
        self.problem.setText(NOT_YET)
        self.check.setFocus()

    # ------------------------------------------------------------- paper

    def print_key(self) -> bool:
        """The print dialog, then the page on the printer chosen there; True if printed."""
        self._said("")
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setDocName(TITLE)
        dialog = QPrintDialog(printer, self)
        dialog.setObjectName("printDialog")
        dialog.setWindowTitle("Print the recovery key")
        chosen = dialog.exec() == QDialog.DialogCode.Accepted
        dialog.deleteLater()
        if not chosen:
            return False
        sheet = self.sheet()
        printed = attempt(self, "Not printed", lambda: paint_sheet(sheet, printer), report=self.file_problem.setText)
        if printed:
            self._said(f"Sent to {printer.printerName() or printer.outputFileName() or 'the printer'}. Keep the "
                       "paper somewhere safe, away from the computer.")
        return bool(printed)

    def save_pdf(self) -> Path | None:
        """Ask where, then write the one-page PDF; the file written, or None."""
        self._said("")
        suggested = str(documents_folder() / suggested_file_name(self.practice_name))
        path, _chosen = QFileDialog.getSaveFileName(self, "Save the recovery key as PDF", suggested, PDF_FILTER)
        if not path:
            return None
        target = Path(path)
        if target.suffix.lower() != ".pdf":
            target = target.with_name(target.name + ".pdf")
        sheet = self.sheet()
        saved = attempt(self, "PDF not saved", lambda: write_pdf(sheet, target), report=self.file_problem.setText)
        if not saved:
            return None
        self.saved_to = target
        self._said(f"Saved as {target}. Print it and keep the paper away from the computer; a copy left "
                   "on this computer sits beside the practice file it opens.")
        return target

    def _said(self, text: str) -> None:
        """What became of the paper (empty: nothing yet), in place of any earlier refusal."""
        self.file_problem.clear()
        self.saved_note.setText(text)
        self.saved_note.setVisible(bool(text))
