"""A superbill or statement as a page: one text document for the window, the PDF and the printer.

``document_html`` builds it from the controllers' ``DocumentView`` (every value
escaped: names and addresses are typed by people), laid out as a clinician
hands it to an insurer (docs/rules.md, "Billing"): the practice with its EIN
and NPI at the top, the client with date of birth and address (and, on a
superbill, the diagnosis codes), each service's date, code, description,
clinician, minutes and fee, and the total. ``text_document`` wraps it in a
``QTextDocument`` set up the same way everywhere: left-to-right pages whose
Arabic or Hebrew names still read right to left inside their lines, long
words broken rather than cut off, and no typographic ligatures, so the PDF's
text is the text typed ("Griffin", not "Gri\ufb03n") for searching and copying.

``pdf_bytes``/``write_pdf`` lay the pages out on Letter paper with
``QPdfWriter``, ``print_to`` on the printer a person chose; both paint the
pages themselves so that every page carries the document, the client and
"Page n of m" at its foot. Qt's text layout needs a ``QGuiApplication``; the
command line gets an offscreen one (``gui_application``).
"""

from __future__ import annotations

import html
import os
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
    QTextOption,
)

from desktop.controllers.billing import DocumentView
from desktop.controllers.errors import FileNotWritten
from desktop.controllers.files import write_private
from desktop.domain.models import DocumentKind

INK = "#1d2733"
ACCENT = "#1f3b57"
MUTED = "#5b6775"
RULE = "#c3ccd6"
SHADE = "#e9eef4"
MARGIN_MM = 16
FOOTER_PT = 7.5


def money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def kind_title(view: DocumentView) -> str:
    return "Superbill" if view.kind is DocumentKind.SUPERBILL else "Statement"


def period_words(view: DocumentView) -> tuple[str, str]:
    """What the document covers, as a label and a value: ("Date of service", "2026-10-05")."""
    if view.kind is DocumentKind.STATEMENT:
        return "Statement for", f"{view.period_start:%B %Y}"
    if view.period_start == view.period_end:
        return "Date of service", view.period_start.isoformat()
    return "Dates of service", f"{view.period_start.isoformat()} to {view.period_end.isoformat()}"


def _label(text: str) -> str:
    return (f"<p style='font-size: 7.5pt; font-weight: bold; color: {MUTED}; margin-bottom: 2px;'>"
            f"{_e(text.upper())}</p>")


def direction(text: str) -> str:
    """"rtl" when ``text`` starts (its first strong letter) in a right-to-left script, else "ltr"."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


def _p(text: str, style: str = "") -> str:
    """One line typed by a person: ordered in its own direction (an Arabic street and its
    number read right to left), yet aligned with the lines around it."""
    return (f"<p dir='{direction(text)}' align='left' style='margin-top: 0; margin-bottom: 0; {style}'>"
            f"{_e(text)}</p>")


def _lines(lines: list[str]) -> str:
    return "".join(_p(line) for line in lines)


def document_html(view: DocumentView) -> str:
    """The document as HTML for ``QTextDocument`` (its subset of HTML and CSS)."""
    practice = view.practice
    title = kind_title(view)
    covers, period = period_words(view)
    if practice.name.strip():
        practice_name = _p(practice.name, "font-size: 13pt; font-weight: bold; margin-bottom: 3px;")
    else:  # said on the page, so nobody sends a document without it unawares
        practice_name = _p("Practice name not set (Practice settings)",
                           f"font-size: 11pt; font-style: italic; color: {MUTED};")
    contact = [line for line in practice.address.splitlines() if line.strip()]
    if practice.phone.strip():
        contact.append(practice.phone)
    ids = [text for text in (f"EIN {practice.tax_id}" if practice.tax_id else "",
                             f"NPI {practice.npi}" if practice.npi else "") if text]
    numbers = [("No.", str(view.id)), (covers, period), ("Issued", f"{view.created_at:%Y-%m-%d}")]
    facts = "".join(f"<tr><td style='color: {MUTED}; padding-right: 8px;'>{_e(k)}</td>"
                    f"<td align='right'>{_e(v)}</td></tr>" for k, v in numbers)

    client = [_p(view.client_name, "font-size: 11pt; font-weight: bold; margin-bottom: 2px;")]
    if view.client_date_of_birth:
        client.append(_p(f"Date of birth {view.client_date_of_birth.isoformat()}"))
    client += [_p(line) for line in view.client_address.splitlines() if line.strip()]
    if view.kind is DocumentKind.SUPERBILL:
        codes = [c.strip() for c in view.diagnosis_codes.split(",") if c.strip()]
        side = _label("Diagnosis codes (ICD-10)") + (
            _p(", ".join(codes), "font-size: 11pt; font-weight: bold;") if codes
            else _p("None recorded", f"color: {MUTED}; font-style: italic;"))
    else:
        side = _label("Statement period") + _p(
            f"{view.period_start.isoformat()} to {view.period_end.isoformat()}")

    keep = "style='white-space: nowrap;'"  # a date, a code or an amount is never broken across lines
    rows = "".join(
        f"<tr><td {keep}>{line.date.isoformat()}</td><td>{_e(line.code)}</td><td>{_p(line.description)}</td>"
        f"<td>{_p(line.clinician)}</td>"
        f"<td align='right' {keep}>{line.minutes}</td><td align='right' {keep}>{money(line.fee)}</td></tr>"
        for line in view.lines)
    services = len(view.lines)
    total_words = "Total" if services < 2 else f"Total, {services} services"
    made = "automatically" if view.automatic else "by hand"
    return f"""<html><body style="font-family: 'DejaVu Sans', sans-serif; font-size: 9.5pt; color: {INK};">
<table width="100%" cellspacing="0" cellpadding="0"><tr>
<td width="62%" valign="top">{practice_name}{_lines(contact)}
<p style="margin-top: 6px; margin-bottom: 0;">{'<br>'.join(ids)}</p></td>
<td width="38%" valign="top" align="right">
<p align="right" style="font-size: 20pt; font-weight: bold; color: {ACCENT}; margin-bottom: 4px;">{title}</p>
<table align="right" cellspacing="0" cellpadding="1">{facts}</table></td></tr></table>
<table width="100%" cellspacing="0" cellpadding="0" style="margin-top: 10px; margin-bottom: 12px;">
<tr><td style="border-bottom: 2px solid {ACCENT};">&nbsp;</td></tr></table>
<table width="100%" cellspacing="0" cellpadding="0"><tr>
<td width="62%" valign="top">{_label("Client")}{''.join(client)}</td>
<td width="38%" valign="top">{side}</td></tr></table>
<p>&nbsp;</p>
<table width="100%" cellspacing="0" cellpadding="5" border="1"
 style="border-collapse: collapse; border-color: {RULE}; border-style: solid;">
<thead><tr style="background-color: {SHADE};">
<th width="13%" align="left" {keep}>Date</th><th width="10%" align="left">Code</th>
<th align="left">Description</th><th width="20%" align="left">Clinician</th>
<th width="10%" align="right" {keep}>Minutes</th><th width="13%" align="right">Fee</th></tr></thead>
{rows}
<tr style="background-color: {SHADE};"><td colspan="5" align="right"><b>{total_words}</b></td>
<td align="right" {keep}><b>{money(view.total)}</b></td></tr>
</table>
<p style="color: {MUTED}; font-size: 7.5pt; margin-top: 10px;">{title} {view.id}, made {made} by Caseload
on {view.created_at:%Y-%m-%d}.</p>
</body></html>"""


def document_font() -> QFont:
    """The pages' font: the system's sans serif (DejaVu where there is one), no ligatures."""
    font = QFont()
    font.setFamilies(["DejaVu Sans", "sans-serif"])
    font.setStyleHint(QFont.StyleHint.SansSerif)
    font.setPointSizeF(9.5)
    for feature in ("liga", "clig", "dlig"):
        font.setFeature(QFont.Tag(feature), 0)
    return font


def text_document(view: DocumentView) -> QTextDocument:
    """The document ready to show, print or write (see the module's docstring)."""
    gui_application()
    doc = QTextDocument()
    doc.setDefaultFont(document_font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    # Left to right whatever script a line starts with: an Arabic name stays where the
    # label puts it, and the bidi algorithm still orders its letters right to left.
    option.setTextDirection(Qt.LayoutDirection.LeftToRight)
    doc.setDefaultTextOption(option)
    doc.setDocumentMargin(0)
    doc.setHtml(document_html(view))
    doc.setMetaInformation(QTextDocument.MetaInformation.DocumentTitle, f"{kind_title(view)} {view.id}")
    return doc


def _layout(device: QPagedPaintDevice) -> None:
    device.setPageSize(QPageSize(QPageSize.PageSizeId.Letter))
    device.setPageMargins(QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM), QPageLayout.Unit.Millimeter)


def paint_pages(view: DocumentView, device: QPagedPaintDevice) -> int:
    """Lay the document out on ``device``'s pages and paint them, each with its foot; the page count.

    ``FileNotWritten`` if the device cannot be painted on (a printer gone, a file refused).
    """
    doc = text_document(view)
    painter = QPainter()
    if not painter.begin(device):
        raise FileNotWritten("The document could not be laid out for printing; nothing was printed or written.")
    try:
        footer_font = document_font()
        footer_font.setPointSizeF(FOOTER_PT)
        painter.setFont(footer_font)
        line = painter.fontMetrics().height()
        width, height = float(device.width()), float(device.height())
        body = QSizeF(width, height - 2.2 * line)  # the foot's line and the room above it
        layout = doc.documentLayout()
        layout.setPaintDevice(device)  # measured in the device's own resolution
        doc.setPageSize(body)
        pages = doc.pageCount()
        # The name set apart (first-strong isolate), so an Arabic name cannot reorder the words around it.
        foot = f"{kind_title(view)} {view.id} · \u2068{view.client_name}\u2069"
        metrics = painter.fontMetrics()
        for page in range(pages):
            if page:
                device.newPage()
            painter.save()
            painter.translate(0, -page * body.height())
            doc.drawContents(painter, QRectF(0, page * body.height(), body.width(), body.height()))
            painter.restore()
            painter.setPen(QColor(MUTED))
            strip = QRectF(0, height - line, width, line)
            number = f"Page {page + 1} of {pages}"
            room = int(width - metrics.horizontalAdvance(number) - 4 * metrics.averageCharWidth())
            painter.drawText(strip, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute),
                             metrics.elidedText(foot, Qt.TextElideMode.ElideRight, room))
            painter.drawText(strip, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignAbsolute), number)
        return pages
    finally:
        painter.end()


def pdf_file_bytes(title: str, draw: Callable[[QPdfWriter], object]) -> bytes:
    """A PDF file's bytes: ``draw`` lays out and paints on a 300 dpi writer titled ``title``."""
    gui_application()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(title)
    writer.setCreator("Caseload")
    writer.setResolution(300)
    draw(writer)
    del writer  # finishes the file
    buffer.close()
    return bytes(data.data())


def pdf_bytes(view: DocumentView) -> bytes:
    """The document as a PDF file's bytes."""

    def draw(writer: QPdfWriter) -> None:
        _layout(writer)
        paint_pages(view, writer)

    return pdf_file_bytes(f"{kind_title(view)} {view.id} – {view.client_name}", draw)


def write_pdf(view: DocumentView, path: Path | str) -> Path:
    """Write the PDF to ``path`` (mode 0600, whole or not at all); ``FileNotWritten`` says why not."""
    return write_private(path, pdf_bytes(view))


def print_to(view: DocumentView, printer: QPagedPaintDevice) -> int:
    """Print on ``printer`` (as the print dialog left it, paper and margins included); the page count."""
    return paint_pages(view, printer)


def gui_application() -> QGuiApplication:
    """The running Qt application, or an offscreen one for the command line.

    The one made here is a full ``QApplication``, not the lighter
    ``QGuiApplication`` that drawing needs: Qt allows one application per
    process and never upgrades it, so a lighter one would make every later
    window in the same process (a test run, a script that prints and then
    opens the app) abort on its first widget.
    """
    app = QGuiApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and os.name != "nt":
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication

        app = QApplication(["caseload"])
    return app  # type: ignore[return-value]
