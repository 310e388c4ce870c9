"""The Help menu's two dialogs: the keyboard shortcuts, and About Caseload.

The shortcuts are read from the window's own actions when the dialog opens,
so the list never promises a key the window does not answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.settings import Settings
from desktop.ui.widgets import heading_label, leading_alignment

# Qt and PySide6 are the one part of the bundle whose licence asks to be named (build/README.md).
THIRD_PARTY = ("Built with Qt and PySide6 (LGPLv3), SQLAlchemy, Alembic, psycopg (LGPLv3), "
               "argon2-cffi, RapidFuzz and platformdirs, each under its own licence.")


class ShortcutsDialog(QDialog):
    """What each key does, two columns: the keys, and what they do."""

    def __init__(self, rows: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(len(rows), 2)
        self.table.setObjectName("shortcutsTable")
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setHorizontalHeaderLabels(["Keys", "What they do"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a list to read: the focus stays on Close
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        for row, (keys, what) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(what))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        height = self.table.horizontalHeader().height() + sum(
            self.table.rowHeight(r) for r in range(len(rows))) + 4
        self.resize(560, min(620, height + 80))


class AboutDialog(QDialog):
    """The version, where this practice's data lives, the licence, and the practice's own name."""

    def __init__(self, version: str, location: str, licence: str, practice: Settings | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Caseload")
        heading = heading_label(f"Caseload {version}", scale=1.5, name="aboutVersion")
        blurb = QLabel("The client roster for therapists and small clinics.")
        blurb.setWordWrap(True)
        # A grid, not a form: a form layout gives a wrapped value one line's height and cuts it.
        form = QGridLayout()
        form.setColumnStretch(1, 1)
        form.setHorizontalSpacing(12)
        rows = []
        if practice is not None and practice.name.strip():
            rows.append(("Practice:", practice.name, "aboutPracticeName"))
        if practice is not None and practice.address.strip():
            rows.append(("Address:", practice.address, "aboutPracticeAddress"))
        rows += [("Practice data:", location, "aboutLocation"), ("Licence:", licence, "aboutLicence")]
        for row, (caption, value, name) in enumerate(rows):
            shown = QLabel(value)
            shown.setObjectName(name)
            shown.setTextFormat(Qt.TextFormat.PlainText)  # names and paths are never markup
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setWordWrap(True)
            beside = leading_alignment(self) & ~Qt.AlignmentFlag.AlignVCenter
            shown.setAlignment(beside | Qt.AlignmentFlag.AlignTop)  # level with its label's first line
            label = QLabel(caption)
            label.setAlignment(Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignTop)
            form.addWidget(label, row, 0)
            form.addWidget(shown, row, 1)
        credits = QLabel(THIRD_PARTY)
        credits.setObjectName("aboutThirdParty")
        credits.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(blurb)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addSpacing(6)
        layout.addWidget(credits)
        layout.addStretch(1)
        layout.addWidget(buttons)
        # Wrapped lines (a long path, the address) need their height at the dialog's width.
        width = 540
        self.setMinimumWidth(width)
        self.resize(width, layout.totalHeightForWidth(width))


def caseload_licence() -> str:
    """Caseload's licence as its package metadata states it, or a plain sentence if it states none."""
    from importlib import metadata

    try:
        meta = metadata.metadata("caseload")
    except metadata.PackageNotFoundError:
        meta = None
    stated = ""
    if meta is not None:
        for field in ("License-Expression", "License"):
            stated = stated or " ".join(meta.get_all(field) or []).strip()
    return stated or "Not stated in this build."
