"""Before a save: people already in the practice who look like the one being entered.

docs/rules.md, "Duplicates": a likely duplicate is offered only with evidence
beyond a similar name, and people are named by name and date of birth, never by
record id. At intake this is a warning, never a block: the person may open the
existing profile (nothing is saved), save anyway (the controller audits which
candidates they were shown), or go back to the form.

``check_before_saving`` runs the controller's check and this dialog in one
step; the new-client, edit-client and contact dialogs all call it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import NamedTuple

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.duplicates import Candidate
from desktop.domain.search import display_name
from desktop.ui.operation import attempt
from desktop.ui.widgets import heading_label


class Choice(enum.Enum):
    BACK = "back to the form"
    OPEN_EXISTING = "open the existing profile"
    SAVE_ANYWAY = "save anyway"


class Decision(NamedTuple):
    """What to do after the check: save (with the ids the person was shown), or open ``existing``."""

    save: bool
    seen: list[int]
    existing: int | None = None


def isolate(text: str) -> str:
    """User text set apart from the sentence around it (a right-to-left name keeps its place)."""
    return f"\u2068{text}\u2069"


def reasons_text(reasons: Sequence[str]) -> str:
    """("similar names", "same date of birth") → "Similar names, same date of birth"."""
    text = ", ".join(reasons)
    return text[:1].upper() + text[1:]


class DuplicateWarningDialog(QDialog):
    """Lists the candidates; ``choice`` (and ``existing`` for Open existing) says what was chosen."""

    def __init__(self, candidates: Sequence[Candidate], *, kind: str, entering: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.candidates = list(candidates)
        self.kind = kind
        self.choice = Choice.BACK
        self.existing: int | None = None
        self.setObjectName("duplicateWarning")
        self.setWindowTitle(f"Already in the practice? — new {kind}" if entering else "Already in the practice?")
        self.setMinimumWidth(640)

        many = len(self.candidates) != 1
        heading = heading_label(
            f"{isolate(entering)} may already be in the practice" if entering
            else "This person may already be in the practice", scale=1.25, name="duplicateHeading")
        things = f"{kind}s look" if many else f"{kind} looks"
        intro = QLabel(f"{'These' if many else 'This'} {things} like the person you are entering. "
                       f"Open the existing profile instead, or save the new {kind} anyway.")
        intro.setObjectName("duplicateIntro")
        intro.setWordWrap(True)

        clients = kind == "client"
        headers = (["Name", "Date of birth", "Status", "Clinician", "Why"] if clients
                   else ["Name", "Email", "Phone", "Why"])
        self.table = QTableWidget(len(self.candidates), len(headers))
        self.table.setObjectName("duplicateCandidates")
        self.table.setAccessibleName(f"Existing {kind}s who look alike")
        self.table.setHorizontalHeaderLabels(headers)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setShowGrid(False)
        self.table.setWordWrap(True)  # a long name wraps rather than hiding what tells people apart
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for row, candidate in enumerate(self.candidates):
            cells = [display_name(candidate.first_name, candidate.last_name)]
            if clients:
                cells += [candidate.date_of_birth.isoformat() if candidate.date_of_birth else "",
                          candidate.status.title(), candidate.clinician or "not assigned"]
            else:  # what tells two contacts of one name apart
                cells += [candidate.email or "", candidate.phone or ""]
            cells.append(reasons_text(candidate.reasons))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)
        # Rows as tall as their wrapped text, never cramped: one-line rows keep the list's height.
        self.table.verticalHeader().setMinimumSectionSize(self.fontMetrics().height() + 12)
        self.table.resizeRowsToContents()
        self.table.itemDoubleClicked.connect(self._open_existing)

        buttons = QDialogButtonBox()
        self.open_button = QPushButton("&Open existing")
        self.open_button.setObjectName("openExisting")
        self.open_button.setToolTip(f"Open the selected {kind}'s profile; nothing is saved")
        self.save_button = QPushButton("&Save anyway")
        self.save_button.setObjectName("saveAnyway")
        self.save_button.setToolTip(f"Save the new {kind}; the warning is noted in the audit trail")
        self.back_button = QPushButton("&Back to the form")
        self.back_button.setObjectName("backToForm")
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ApplyRole)
        buttons.addButton(self.back_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.open_button.clicked.connect(self._open_existing)
        self.save_button.clicked.connect(self._save_anyway)
        self.back_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addStretch(0)  # what the wrapped sentences do not need goes below the list
        layout.addWidget(buttons)
        # Enter opens the existing profile, which saves nothing (set once the buttons are in
        # the dialog: before that a default is not the dialog's).
        self.open_button.setDefault(True)
        if self.candidates:
            self.table.selectRow(0)
        self.table.setFocus()
        # Tall enough for every candidate up to six (more scroll), and no empty rows below them.
        shown = min(len(self.candidates), 6)
        rows = sum(self.table.rowHeight(r) for r in range(shown))
        height = header.sizeHint().height() + rows + 2 * self.table.frameWidth()
        if shown == len(self.candidates):
            self.table.setFixedHeight(height)
        else:
            self.table.setMinimumHeight(height)
        self.resize(760, self.sizeHint().height())

    def _open_existing(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        self.choice = Choice.OPEN_EXISTING
        self.existing = self.candidates[rows[0].row()].id
        self.accept()

    def _save_anyway(self) -> None:
        self.choice = Choice.SAVE_ANYWAY
        self.accept()


def check_before_saving(parent: QWidget, find: Callable[[], list[Candidate]], *, kind: str,
                        entering: str) -> Decision:
    """Look for likely duplicates of what is being saved; ask only if there are any.

    The check is a warning: if it cannot run (refused, server gone), the save goes
    ahead and says its own outcome.
    """
    found = attempt(parent, "Duplicates not checked", find, report=lambda _message: None)
    candidates = found.value or []
    if not candidates:
        return Decision(True, [])
    dialog = DuplicateWarningDialog(candidates, kind=kind, entering=entering, parent=parent)
    dialog.exec()
    dialog.deleteLater()
    if dialog.choice is Choice.SAVE_ANYWAY:
        return Decision(True, [c.id for c in candidates])
    if dialog.choice is Choice.OPEN_EXISTING:
        return Decision(False, [], dialog.existing)
    return Decision(False, [])
