"""File ▸ Export list as CSV: exactly what the Clients and contacts list shows, in its order.

The columns are the list's, in the order the person arranged them, and the rows
are the ones the search and the Client status show, in their sort order. The
file holds health information, so it is written like an exported record
(``controllers.files.write_private``): whole or not at all, readable by its
owner only, never through a symbolic link.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog, QWidget

from desktop.controllers.files import write_private
from desktop.ui.operation import attempt
from desktop.ui.widgets import file_name_part

CSV_FILTER = "Comma-separated values (*.csv)"
# A spreadsheet reads a cell starting with one of these as a formula; a phone's "+" is kept.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE_CHARACTERS = set("+-0123456789 ().")


def csv_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: a leading formula sign gets an apostrophe."""
    if text.startswith(_FORMULA_START) and not set(text) <= _PHONE_CHARACTERS:
        return "'" + text
    return text


def csv_bytes(titles: list[str], rows: list[list[str]]) -> bytes:
    """The list as CSV, UTF-8 with a byte-order mark, so a spreadsheet shows accents and scripts."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(titles)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def documents_folder() -> Path:
    """Where an export is suggested: the person's Documents folder, else their home."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if not folder or not Path(folder).is_dir():
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.HomeLocation)
    return Path(folder)


def export_list(parent: QWidget, titles: list[str], rows: list[list[str]],
                record: Callable[[Callable[[], Path]], Path]) -> Path | None:
    """Ask where (Documents, named for the day), write the CSV; the file written, or None.

    ``record`` runs the writing inside the controller operation that audits it
    (``ClientsController.export_list``): audited once written, refused if not.
    """
    stem = file_name_part(f"Caseload clients {dt.date.today().isoformat()}")
    path, _chosen = QFileDialog.getSaveFileName(parent, "Export list as CSV",
                                                str(documents_folder() / f"{stem}.csv"), CSV_FILTER)
    if not path:
        return None
    target = Path(path)
    if not target.suffix:
        target = target.with_suffix(".csv")
    data = csv_bytes(titles, rows)
    written = attempt(parent, "List not exported", lambda: record(lambda: write_private(target, data)))
    return written.value if written else None
