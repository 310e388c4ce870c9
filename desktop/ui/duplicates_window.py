"""Reviewing likely duplicates: scan with progress, compare side by side, decide.

Two client profiles are never merged (their records stay with the profile they
were made in): the choice is which one to keep, and the other is marked
inactive as its duplicate. Two contacts can be merged, field by field. The
scan runs on a pool thread with its own database session and can be cancelled.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.clients import ClientDetail
from desktop.controllers.duplicates import DuplicatePair
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.ui.operation import Outcome, attempt, in_background

DIFFERENT = QBrush(QColor(255, 236, 179))
NO_MERGE_REASON = (
    "Client profiles are never merged: appointments, notes and billing documents stay with the "
    "profile they were made in. Keep one profile active and mark the other as its duplicate; "
    "the duplicate stays inactive with a link to the one kept.")


class _ScanProgress(QObject):
    """Carries the scan's progress from its pool thread to the progress dialog."""

    progressed = Signal(int, int)


def _pairs_table(name: str) -> QTableWidget:
    table = QTableWidget(0, 3)
    table.setObjectName(name)
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(["Profiles", "Score", "Why"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setWordWrap(False)
    return table


class DuplicatesWindow(QWidget):
    """Candidate pairs on the left, the two profiles side by side on the right."""

    changed = Signal()

    def __init__(self, practice: Practice, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("duplicatesWindow")
        self.setWindowTitle("Likely duplicates — Caseload")
        self.practice, self.actor = practice, actor
        self.finder = practice.duplicates
        self.clients = practice.clients
        self.client_pairs: list[DuplicatePair] = []
        self.compared_versions: dict[int, int] = {}
        # The two client profiles of the selected pair, read once per selection (not per tab switch).
        self.compared: tuple[ClientDetail, ClientDetail] | None = None
        self.scan_cancelled = threading.Event()
        self.scan_progress = _ScanProgress(self)
        self.scan_progress.progressed.connect(self._progressed)
        self.contact_pairs: list[DuplicatePair] = []

        self.tabs = QTabWidget()
        self.client_table = _pairs_table("clientPairs")
        self.contact_table = _pairs_table("contactPairs")
        self.tabs.addTab(self.client_table, "Clients")
        self.tabs.addTab(self.contact_table, "Contacts")
        self.client_table.itemSelectionChanged.connect(self._client_selection_changed)
        self.contact_table.itemSelectionChanged.connect(self._show_selected)
        self.tabs.currentChanged.connect(lambda _i: self._show_selected())

        self.compare = QTableWidget(0, 3)
        self.compare.setObjectName("comparison")
        self.compare.setAccessibleName("The two profiles side by side")
        self.compare.setHorizontalHeaderLabels(["", "Left", "Right"])
        self.compare.verticalHeader().setVisible(False)
        self.compare.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.compare.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.compare.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

        self.explain = QLabel(NO_MERGE_REASON)
        self.explain.setObjectName("noMergeReason")
        self.explain.setWordWrap(True)
        self.keep_left = QPushButton("Keep left")
        self.keep_left.setObjectName("keepLeft")
        self.keep_left.setToolTip("Keep the left profile; mark the right one inactive as its duplicate")
        self.keep_right = QPushButton("Keep right")
        self.keep_right.setObjectName("keepRight")
        self.keep_right.setToolTip("Keep the right profile; mark the left one inactive as its duplicate")
        self.merge = QPushButton("Merge contacts…")
        self.merge.setObjectName("mergeContacts")
        self.not_duplicate = QPushButton("Not a duplicate")
        self.not_duplicate.setObjectName("notDuplicate")
        self.keep_left.clicked.connect(lambda: self._keep(left=True))
        self.keep_right.clicked.connect(lambda: self._keep(left=False))
        self.not_duplicate.clicked.connect(self._dismiss)
        self.merge.clicked.connect(self._merge)
        self.rescan = QPushButton("Scan again")
        self.rescan.setObjectName("scanAgain")
        self.rescan.clicked.connect(self.scan)
        self.summary = QLabel()
        self.summary.setObjectName("summary")

        buttons = QHBoxLayout()
        for b in (self.keep_left, self.keep_right, self.merge, self.not_duplicate):
            buttons.addWidget(b)
        buttons.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.compare, 1)
        right_layout.addWidget(self.explain)
        right_layout.addLayout(buttons)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.tabs, 1)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.rescan)
        left_layout.addLayout(row)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([460, 640])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.resize(1150, 640)
        self._show_selected()

    # ------------------------------------------------------------- scanning

    def scan(self) -> None:
        """Look for duplicates off the GUI thread, with a progress dialog that can cancel."""
        self.progress = QProgressDialog("Looking for likely duplicates…", "Cancel", 0, 100, self)
        self.progress.setObjectName("scanProgress")
        self.progress.setWindowTitle("Finding duplicates")
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setMinimumDuration(300)
        self.progress.setValue(0)
        cancelled = self.scan_cancelled = threading.Event()
        self.progress.canceled.connect(cancelled.set)
        finder, actor, reporter = self.finder, self.actor, self.scan_progress

        def progress(done: int, total: int) -> bool:  # on the pool thread
            reporter.progressed.emit(done, total)
            return not cancelled.is_set()

        def find() -> tuple[list[DuplicatePair], list[DuplicatePair]] | None:  # on the pool thread
            clients = finder.find_client_duplicates(actor, progress)
            if cancelled.is_set():
                return None
            return clients, finder.find_contact_duplicates(actor)

        self.rescan.setEnabled(False)
        in_background(self, "Could not look for duplicates", find, self._scanned, report=self._scan_refused)

    def _progressed(self, done: int, total: int) -> None:
        if total and not self.scan_cancelled.is_set():
            self.progress.setValue(min(99, int(done * 100 / total)))

    def _scan_refused(self, message: str) -> None:
        self.progress.reset()  # before saying why, not behind the progress dialog
        QMessageBox.warning(self, "Could not look for duplicates", message)

    def _scanned(self, outcome: Outcome[tuple[list[DuplicatePair], list[DuplicatePair]] | None]) -> None:
        self.progress.reset()
        self.rescan.setEnabled(True)
        if not outcome:
            self.summary.setText("The scan did not finish; nothing was changed.")
            return
        if outcome.value is None:
            self.summary.setText("Scan cancelled; nothing was changed.")
            return
        self.client_pairs, self.contact_pairs = outcome.value
        self.compared = None  # read the profiles again: the scan is newer
        self._fill(self.client_table, self.client_pairs)
        self._fill(self.contact_table, self.contact_pairs)
        self.tabs.setTabText(0, f"Clients ({len(self.client_pairs)})")
        self.tabs.setTabText(1, f"Contacts ({len(self.contact_pairs)})")
        self.summary.setText(f"{len(self.client_pairs)} client pairs and {len(self.contact_pairs)} "
                             "contact pairs to review.")
        if self.client_pairs:
            self.client_table.selectRow(0)

    @staticmethod
    def _fill(table: QTableWidget, pairs: list[DuplicatePair]) -> None:
        table.setRowCount(len(pairs))
        for r, pair in enumerate(pairs):
            names = (f"{pair.left.first_name} {pair.left.last_name}  ↔  "
                     f"{pair.right.first_name} {pair.right.last_name}")
            for c, text in enumerate((names, f"{pair.score:.0f}", ", ".join(pair.reasons))):
                table.setItem(r, c, QTableWidgetItem(text))

    # ------------------------------------------------------------ comparing

    def _current(self) -> tuple[str, int, DuplicatePair] | None:
        kind = "client" if self.tabs.currentIndex() == 0 else "contact"
        table = self.client_table if kind == "client" else self.contact_table
        pairs = self.client_pairs if kind == "client" else self.contact_pairs
        rows = table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(pairs):
            return None
        return kind, rows[0].row(), pairs[rows[0].row()]

    def _client_selection_changed(self) -> None:
        self.compared = None  # a new selection: read the two profiles again, once
        self._show_selected()

    def _show_selected(self) -> None:
        current = self._current()
        is_client = self.tabs.currentIndex() == 0
        for b in (self.keep_left, self.keep_right):
            b.setVisible(is_client)
            b.setEnabled(current is not None)
        self.explain.setVisible(is_client)
        self.merge.setVisible(not is_client)
        self.merge.setEnabled(current is not None)
        self.not_duplicate.setEnabled(current is not None)
        if current is None:
            self.compare.setRowCount(0)
            return
        kind, _row, pair = current
        rows = self._fields(kind, pair)
        self.compare.setRowCount(len(rows))
        for r, (label, left, right) in enumerate(rows):
            items = [QTableWidgetItem(label), QTableWidgetItem(left), QTableWidgetItem(right)]
            if left != right:
                for item in items[1:]:
                    item.setBackground(DIFFERENT)
                    item.setToolTip("These differ")
            for c, item in enumerate(items):
                self.compare.setItem(r, c, item)

    def _fields(self, kind: str, pair: DuplicatePair) -> list[tuple[str, str, str]]:
        if kind == "client":
            if self.compared is None or (self.compared[0].row.id, self.compared[1].row.id) != (
                    pair.left.id, pair.right.id):
                self.compared = None
                read = attempt(self, "Cannot compare", lambda: (
                    self.clients.get_client(self.actor, pair.left.id),
                    self.clients.get_client(self.actor, pair.right.id)),
                    report=lambda _message: None)  # said in the comparison instead
                if not read or read.value is None:
                    return [("Problem", str(read.error), "")]
                self.compared = read.value
            a, b = self.compared
            # What the person is looking at: Keep refuses if either was saved since.
            self.compared_versions = {a.row.id: a.row.version, b.row.id: b.row.version}

            def facts(d):  # type: ignore[no-untyped-def]
                r = d.row
                return [("Client id", str(r.id)), ("First name", r.first_name), ("Last name", r.last_name),
                        ("Preferred name", r.preferred_name or ""),
                        ("Date of birth", r.date_of_birth.isoformat() if r.date_of_birth else ""),
                        ("Email", r.email or ""), ("Phone", r.phone or ""), ("Address", d.address or ""),
                        ("Status", r.status.value.title()), ("Clinician", r.clinician or ""),
                        ("Appointments", str(len(d.appointments))),
                        ("Billing documents", str(len(d.billing_documents))),
                        ("Created", d.created_at.date().isoformat())]

            return [(label, x, y) for (label, x), (_l, y) in zip(facts(a), facts(b))]
        left, right = pair.left, pair.right
        return [("Contact id", str(left.id), str(right.id)),
                ("First name", left.first_name, right.first_name),
                ("Last name", left.last_name, right.last_name),
                ("Email", left.email or "", right.email or ""),
                ("Phone", left.phone or "", right.phone or "")]

    # ------------------------------------------------------------- deciding

    def _drop_current(self) -> None:
        current = self._current()
        if current is None:
            return
        kind, row, pair = current
        self.compared = None
        if kind == "client":
            self.client_pairs = [p for p in self.client_pairs
                                 if {p.left.id, p.right.id} & {pair.left.id, pair.right.id} == set()]
            self._fill(self.client_table, self.client_pairs)
            self.tabs.setTabText(0, f"Clients ({len(self.client_pairs)})")
            table = self.client_table
        else:
            del self.contact_pairs[row]
            self._fill(self.contact_table, self.contact_pairs)
            self.tabs.setTabText(1, f"Contacts ({len(self.contact_pairs)})")
            table = self.contact_table
        if table.rowCount():
            table.selectRow(min(row, table.rowCount() - 1))
        self._show_selected()

    def _keep(self, *, left: bool) -> None:
        current = self._current()
        if current is None:
            return
        _kind, _row, pair = current
        keep, duplicate = (pair.left, pair.right) if left else (pair.right, pair.left)
        seen = self.compared_versions
        if not attempt(self, "Not marked as duplicate", lambda: self.clients.mark_duplicate(
                self.actor, duplicate.id, keep.id,
                expected_versions=(seen[duplicate.id], seen[keep.id])
                if duplicate.id in seen and keep.id in seen else None)):
            return
        self.summary.setText(f"Client {duplicate.id} is now inactive as a duplicate of client {keep.id}.")
        self._drop_current()
        self.changed.emit()

    def _dismiss(self) -> None:
        current = self._current()
        if current is None:
            return
        kind, _row, pair = current
        dismiss = self.finder.dismiss if kind == "client" else self.finder.dismiss_contacts
        if not attempt(self, "Not recorded", lambda: dismiss(self.actor, pair.left.id, pair.right.id)):
            return
        self._drop_current()

    def _merge(self) -> None:
        current = self._current()
        if current is None or current[0] != "contact":
            return
        from desktop.ui.dialogs.merge_contacts import MergeContactsDialog

        pair = current[2]
        opened = attempt(self, "Cannot merge", lambda: MergeContactsDialog(
            self.practice, self.actor, pair.left.id, pair.right.id, self))
        if not opened or opened.value is None:  # e.g. one of them was merged through another pair
            self._drop_current()
            return
        dialog = opened.value
        if dialog.exec():
            self._drop_current()
            self.changed.emit()
