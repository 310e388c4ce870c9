"""Starting the window: open the database, then show the main window."""

from __future__ import annotations

import sys


def run(database_url: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

    from desktop.controllers.errors import CaseloadError
    from desktop.storage.database import open_database

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Caseload")
    app.setOrganizationName("Caseload")
    try:
        db = open_database(database_url)
    except CaseloadError as exc:
        QMessageBox.critical(None, "Caseload", str(exc))
        return 1
    label = QLabel(f"Caseload — {db.url}")
    label.setObjectName("placeholder")
    label.resize(640, 200)
    label.show()
    return app.exec()
