"""A superbill or statement as a page: one HTML text for the window, the PDF and the printer.

``document_html`` builds it from the controllers' ``DocumentView`` (every value
escaped: names and addresses are typed by people); ``write_pdf`` lays it out
on A4/Letter with ``QPdfWriter`` and writes the file privately and whole;
``print_to`` sends it to a printer the person chose. Qt's text layout needs a
``QGuiApplication``; the command line gets an offscreen one (``gui_application``).
"""

from __future__ import annotations

import html
import os
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF
from PySide6.QtGui import (
    QGuiApplication,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPdfWriter,
    QTextDocument,
)

from desktop.controllers.billing import DocumentView
from desktop.controllers.files import write_private
from desktop.domain.models import DocumentKind


def money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def document_html(view: DocumentView) -> str:
    practice = view.practice
    header = "<br>".join(_e(line) for line in practice.header_lines()) or "&nbsp;"
    title = "Superbill" if view.kind is DocumentKind.SUPERBILL else "Statement"
    if view.kind is DocumentKind.STATEMENT:
        period = f"Statement for {view.period_start:%B %Y}"
    elif view.period_start == view.period_end:
        period = f"Date of service {view.period_start.isoformat()}"
    else:
        period = f"Dates of service {view.period_start.isoformat()} to {view.period_end.isoformat()}"
    client = [f"<b dir='auto'>{_e(view.client_name)}</b>"]
    if view.client_date_of_birth:
        client.append(f"Date of birth {view.client_date_of_birth.isoformat()}")
    client += [f"<span dir='auto'>{_e(line)}</span>" for line in view.client_address.splitlines() if line.strip()]
    if view.kind is DocumentKind.SUPERBILL:
        client.append(f"Diagnosis codes: {_e(view.diagnosis_codes) if view.diagnosis_codes else 'none recorded'}")
    rows = "".join(
        f"<tr><td>{line.date.isoformat()}</td><td>{_e(line.code)}</td><td dir='auto'>{_e(line.description)}</td>"
        f"<td align='right'>{line.minutes}</td><td align='right'>{money(line.fee)}</td></tr>"
        for line in view.lines)
    made = "automatically" if view.automatic else "by hand"
    return f"""<html><body style="font-family: sans-serif; font-size: 10pt;">
<table width="100%" cellspacing="0" cellpadding="0"><tr>
<td valign="top" dir="auto">{header}</td>
<td valign="top" align="right"><span style="font-size: 18pt; font-weight: bold;">{title}</span><br>
No. {view.id}<br>{_e(period)}</td></tr></table>
<hr>
<p><b>Client</b><br>{'<br>'.join(client)}</p>
<table width="100%" cellspacing="0" cellpadding="4" border="1" style="border-collapse: collapse;">
<tr style="background: #eef1f5;"><th align="left">Date</th><th align="left">Code</th>
<th align="left">Description</th><th align="right">Minutes</th><th align="right">Fee</th></tr>
{rows}
<tr><td colspan="4" align="right"><b>Total</b></td><td align="right"><b>{money(view.total)}</b></td></tr>
</table>
<p style="color: #555555; font-size: 8pt;">Made {made} on {view.created_at:%Y-%m-%d}.</p>
</body></html>"""


def _layout(device: QPagedPaintDevice) -> None:
    device.setPageSize(QPageSize(QPageSize.PageSizeId.Letter))
    device.setPageMargins(QMarginsF(18, 18, 18, 18), QPageLayout.Unit.Millimeter)


def pdf_bytes(view: DocumentView) -> bytes:
    """The document as a PDF file's bytes."""
    gui_application()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(f"{'Superbill' if view.kind is DocumentKind.SUPERBILL else 'Statement'} {view.id}")
    writer.setCreator("Caseload")
    writer.setResolution(300)
    _layout(writer)
    text = QTextDocument()
    text.setHtml(document_html(view))
    text.print_(writer)
    del writer  # finishes the file
    buffer.close()
    return bytes(data.data())


def write_pdf(view: DocumentView, path: Path | str) -> Path:
    """Write the PDF to ``path`` (mode 0600, whole or not at all); ``FileNotWritten`` says why not."""
    return write_private(path, pdf_bytes(view))


def gui_application() -> QGuiApplication:
    """The running Qt application, or an offscreen one for the command line."""
    app = QGuiApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and os.name != "nt":
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(["caseload"])
    return app  # type: ignore[return-value]
