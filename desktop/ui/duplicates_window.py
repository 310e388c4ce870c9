"""Reviewing likely duplicates: scan with progress, compare side by side, decide.

Three kinds of pair, a tab each:

* **Clients.** Two client profiles are never merged (their records stay with
  the profile they were made in): the choice is which one to keep, and the
  other is marked inactive as its duplicate. That is confirmed first, asks the
  portal question every inactivation asks, and can be undone from here.
* **Contacts.** Two contact profiles are merged, field by field.
* **Contacts who are clients.** A contact who is really one of the clients is
  merged into the client profile (the help article's "merge a contact profile
  with a client profile").

Each kind can also be dismissed as "not the same person", which is remembered.
People are named by name and date of birth, never by id. The scan runs on a
worker thread; its progress is plain numbers the window reads on a timer, so
no Qt object is touched from that thread.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
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

from desktop.controllers.clients import ClientDetail, DuplicateMarked
from desktop.controllers.duplicates import DuplicatePair, Person
from desktop.controllers.errors import DatabaseUnavailable, OutcomeUnknown
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.ui.dialogs.merge_into_client import name_of, who
from desktop.ui.operation import Outcome, attempt, in_background
from desktop.ui.widgets import ask_portal_switch_off

DIFFERENT = QBrush(QColor(255, 236, 179))
NO_MERGE_REASON = (
    "Client profiles are never merged: appointments, notes and billing documents stay with the "
    "profile they were made in. Keep one profile active and mark the other as its duplicate; "
    "the duplicate stays inactive with a link to the one kept.")
CONTACT_CLIENT_REASON = (
    "These contacts look like one of your clients. Merging one into the client profile moves its "
    "client links there and removes the contact profile; the client's records are untouched.")
PROGRESS_POLL_MS = 100
NOT_RECORDED = "not recorded for contacts"


class PairKind(enum.Enum):
    CLIENTS = "Clients"
    CONTACTS = "Contacts"
    CONTACT_CLIENT = "Contacts who are clients"


@dataclass
class _ScanState:
    """Shared with the scan's worker thread: plain numbers and an event, nothing of Qt."""

    done: int = 0
    total: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class _LastMark:
    """The last Keep, for Undo: what the controller changed and the pairs the window set aside."""

    marked: DuplicateMarked
    duplicate: str
    kept: str
    removed: list[tuple[int, DuplicatePair]]
    scan: int  # which scan the removed pairs came from


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _contact_label(person: Person) -> str:
    detail = person.email or person.phone
    name = name_of(person.first_name, person.last_name)
    return f"{name} ({detail})" if detail else name


def _label(person: Person, *, client: bool) -> str:
    return who(person.first_name, person.last_name, person.date_of_birth) if client else _contact_label(person)


def _pairs_table(name: str, headers: tuple[str, str]) -> QTableWidget:
    """The two people of each pair and its score; why they look alike is shown beside the
    comparison (and as the row's tooltip), so long names keep their room."""
    table = QTableWidget(0, 3)
    table.setObjectName(name)
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels([*headers, "Score"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
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
        self.pairs: dict[PairKind, list[DuplicatePair]] = {kind: [] for kind in PairKind}
        self.compared_versions: dict[int, int] = {}
        # The two client profiles of the selected pair, read once per selection (not per tab switch).
        self.compared: tuple[ClientDetail, ClientDetail] | None = None
        self.last_mark: _LastMark | None = None
        self.scans = 0
        self.scan_state = _ScanState()
        self.progress: QProgressDialog | None = None
        self.progress_timer = QTimer(self)
        self.progress_timer.setInterval(PROGRESS_POLL_MS)
        self.progress_timer.timeout.connect(self._show_progress)
        # Contacts are reviewed only by those who may merge them; the window itself is
        # offered to those who may mark client duplicates.
        self.kinds = [PairKind.CLIENTS]
        if actor.can(Action.MERGE_CONTACTS, any_client=True):
            self.kinds += [PairKind.CONTACTS, PairKind.CONTACT_CLIENT]

        self.tabs = QTabWidget()
        self.tables: dict[PairKind, QTableWidget] = {
            PairKind.CLIENTS: _pairs_table("clientPairs", ("Left", "Right")),
            PairKind.CONTACTS: _pairs_table("contactPairs", ("Left", "Right")),
            PairKind.CONTACT_CLIENT: _pairs_table("contactClientPairs", ("Client", "Contact")),
        }
        self.client_table = self.tables[PairKind.CLIENTS]
        self.contact_table = self.tables[PairKind.CONTACTS]
        self.contact_client_table = self.tables[PairKind.CONTACT_CLIENT]
        for kind in self.kinds:
            self.tabs.addTab(self.tables[kind], kind.value)
        self.client_table.itemSelectionChanged.connect(self._client_selection_changed)
        self.contact_table.itemSelectionChanged.connect(self._show_selected)
        self.contact_client_table.itemSelectionChanged.connect(self._show_selected)
        self.tabs.currentChanged.connect(self._tab_changed)

        self.why = QLabel()
        self.why.setObjectName("why")
        self.why.setWordWrap(True)
        self.why.setTextFormat(Qt.TextFormat.PlainText)
        self.compare = QTableWidget(0, 3)
        self.compare.setObjectName("comparison")
        self.compare.setAccessibleName("The two profiles side by side")
        self.compare.verticalHeader().setVisible(False)
        self.compare.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.compare.setWordWrap(True)
        self.compare.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.compare.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

        self.explain = QLabel(NO_MERGE_REASON)
        self.explain.setObjectName("noMergeReason")
        self.explain.setWordWrap(True)
        self.keep_left = QPushButton("Keep &left")
        self.keep_left.setObjectName("keepLeft")
        self.keep_left.setToolTip("Keep the left profile; mark the right one inactive as its duplicate")
        self.keep_right = QPushButton("Keep &right")
        self.keep_right.setObjectName("keepRight")
        self.keep_right.setToolTip("Keep the right profile; mark the left one inactive as its duplicate")
        self.merge = QPushButton("&Merge contacts…")
        self.merge.setObjectName("mergeContacts")
        self.merge_into_client = QPushButton("&Merge into the client…")
        self.merge_into_client.setObjectName("mergeIntoClient")
        self.merge_into_client.setToolTip("Merge the contact profile into the client profile; "
                                          "the contact profile is then removed")
        self.not_duplicate = QPushButton("&Not a duplicate")
        self.not_duplicate.setObjectName("notDuplicate")
        self.keep_left.clicked.connect(self._keep_left)
        self.keep_right.clicked.connect(self._keep_right)
        self.not_duplicate.clicked.connect(self._dismiss)
        self.merge.clicked.connect(self._merge)
        self.merge_into_client.clicked.connect(self._merge_into_client)
        self.rescan = QPushButton("&Scan again")
        self.rescan.setObjectName("scanAgain")
        self.rescan.clicked.connect(self.scan)
        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.undo = QPushButton("&Undo")
        self.undo.setObjectName("undoMark")
        self.undo.setVisible(False)
        self.undo.clicked.connect(self._undo_mark)

        buttons = QHBoxLayout()
        for b in (self.keep_left, self.keep_right, self.merge, self.merge_into_client, self.not_duplicate):
            buttons.addWidget(b)
        buttons.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.why)
        right_layout.addWidget(self.compare, 1)
        right_layout.addWidget(self.explain)
        right_layout.addLayout(buttons)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.tabs, 1)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.undo)
        row.addWidget(self.rescan)
        left_layout.addLayout(row)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([520, 600])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")):
            QShortcut(keys, self, self.close)
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
        self.progress.canceled.connect(self._cancel_scan)
        state = self.scan_state = _ScanState()
        finder, actor, kinds = self.finder, self.actor, list(self.kinds)

        def progress(done: int, total: int) -> bool:  # on the worker thread
            state.done, state.total = done, total
            return not state.cancelled.is_set()

        def find() -> dict[PairKind, list[DuplicatePair]] | None:  # on the worker thread
            found = {PairKind.CLIENTS: finder.find_client_duplicates(actor, progress)}
            if PairKind.CONTACTS in kinds and not state.cancelled.is_set():
                found[PairKind.CONTACTS] = finder.find_contact_duplicates(actor)
            if PairKind.CONTACT_CLIENT in kinds and not state.cancelled.is_set():
                found[PairKind.CONTACT_CLIENT] = finder.find_contact_client_duplicates(actor)
            return None if state.cancelled.is_set() else found

        self.rescan.setEnabled(False)
        self.progress_timer.start()
        in_background(self, "Could not look for duplicates", find, self._scanned, report=self._scan_refused)

    @Slot()
    def _cancel_scan(self) -> None:
        self.scan_state.cancelled.set()

    @Slot()
    def _show_progress(self) -> None:
        state, progress = self.scan_state, self.progress
        if progress is not None and state.total and not state.cancelled.is_set():
            progress.setValue(min(99, int(state.done * 100 / state.total)))

    def _end_progress(self) -> None:
        self.progress_timer.stop()
        if self.progress is not None:
            self.progress.reset()

    def _scan_refused(self, message: str) -> None:
        self._end_progress()  # before saying why, not behind the progress dialog
        QMessageBox.warning(self, "Could not look for duplicates", message)

    def _scanned(self, outcome: Outcome[dict[PairKind, list[DuplicatePair]] | None]) -> None:
        self._end_progress()
        self.rescan.setEnabled(True)
        if not outcome:
            self.summary.setText("The scan did not finish; nothing was changed.")
            return
        if outcome.value is None:
            self.summary.setText("Scan cancelled; nothing was changed.")
            return
        self.scans += 1
        for kind in PairKind:
            self.pairs[kind] = list(outcome.value.get(kind, []))
        self.compared = None  # read the profiles again: the scan is newer
        for kind in self.kinds:
            self._fill(kind)
        counts = [_count(len(self.pairs[PairKind.CLIENTS]), "client pair", "client pairs")]
        if PairKind.CONTACTS in self.kinds:
            counts += [_count(len(self.pairs[PairKind.CONTACTS]), "contact pair", "contact pairs"),
                       _count(len(self.pairs[PairKind.CONTACT_CLIENT]), "contact who may be a client",
                              "contacts who may be clients")]
        self.summary.setText(", ".join(counts[:-1]) + (" and " if len(counts) > 1 else "")
                             + counts[-1] + " to review.")
        self._show_selected()

    def _fill(self, kind: PairKind) -> None:
        """Show ``kind``'s pairs in its table and tab title, the first pair selected."""
        table, pairs = self.tables[kind], self.pairs[kind]
        table.blockSignals(True)
        table.setRowCount(len(pairs))
        for r, pair in enumerate(pairs):
            left = _label(pair.left, client=kind is not PairKind.CONTACTS)
            right = _label(pair.right, client=kind is PairKind.CLIENTS)
            why = "Why: " + ", ".join(pair.reasons)
            for c, text in enumerate((left, right, f"{pair.score:.0f}")):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{left}\n{right}\n{why}")
                table.setItem(r, c, item)
        table.blockSignals(False)
        index = self.tabs.indexOf(table)
        if index >= 0:
            self.tabs.setTabText(index, f"{kind.value} ({len(pairs)})")
        if pairs and not table.selectionModel().selectedRows():
            table.selectRow(0)

    # ------------------------------------------------------------ comparing

    def _kind(self) -> PairKind:
        widget = self.tabs.currentWidget()
        return next((kind for kind, table in self.tables.items() if table is widget), PairKind.CLIENTS)

    def _current(self) -> tuple[PairKind, int, DuplicatePair] | None:
        kind = self._kind()
        pairs = self.pairs[kind]
        rows = self.tables[kind].selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(pairs):
            return None
        return kind, rows[0].row(), pairs[rows[0].row()]

    @Slot(int)
    def _tab_changed(self, _index: int) -> None:
        table = self.tables[self._kind()]
        if table.rowCount() and not table.selectionModel().selectedRows():
            table.selectRow(0)
        self._show_selected()

    @Slot()
    def _client_selection_changed(self) -> None:
        self.compared = None  # a new selection: read the two profiles again, once
        self._show_selected()

    @Slot()
    def _show_selected(self) -> None:
        current = self._current()
        kind = self._kind()
        for b in (self.keep_left, self.keep_right):
            b.setVisible(kind is PairKind.CLIENTS)
            b.setEnabled(current is not None)
        self.explain.setVisible(kind is not PairKind.CONTACTS)
        self.explain.setText(CONTACT_CLIENT_REASON if kind is PairKind.CONTACT_CLIENT else NO_MERGE_REASON)
        self.merge.setVisible(kind is PairKind.CONTACTS)
        self.merge.setEnabled(current is not None)
        self.merge_into_client.setVisible(kind is PairKind.CONTACT_CLIENT)
        self.merge_into_client.setEnabled(current is not None)
        self.not_duplicate.setText("&Not the same person" if kind is PairKind.CONTACT_CLIENT
                                   else "&Not a duplicate")
        self.not_duplicate.setEnabled(current is not None)
        headers = ("Client", "Contact") if kind is PairKind.CONTACT_CLIENT else ("Left", "Right")
        self.compare.setHorizontalHeaderLabels(["", *headers])
        if current is None:
            self.compare.setRowCount(0)
            self.why.clear()
            return
        _kind, _row, pair = current
        self.why.setText(f"Why they look alike: {', '.join(pair.reasons)} (score {pair.score:.0f} of 100).")
        rows = self._fields(kind, pair)
        self.compare.setRowCount(len(rows))
        for r, (label, left, right) in enumerate(rows):
            items = [QTableWidgetItem(label), QTableWidgetItem(left), QTableWidgetItem(right)]
            if left != right and label != "Problem" and NOT_RECORDED not in (left, right):
                for item in items[1:]:
                    item.setBackground(DIFFERENT)
                    item.setToolTip("These differ")
            for c, item in enumerate(items):
                self.compare.setItem(r, c, item)
        self.compare.resizeRowsToContents()

    def _fields(self, kind: PairKind, pair: DuplicatePair) -> list[tuple[str, str, str]]:
        if kind is PairKind.CLIENTS:
            return self._client_fields(pair)
        left, right = pair.left, pair.right
        rows = [("First name", left.first_name, right.first_name),
                ("Last name", left.last_name, right.last_name)]
        if kind is PairKind.CONTACT_CLIENT:
            rows.append(("Date of birth", left.date_of_birth.isoformat() if left.date_of_birth else "",
                         NOT_RECORDED))
        return rows + [("Email", left.email or "", right.email or ""),
                       ("Phone", left.phone or "", right.phone or "")]

    def _client_fields(self, pair: DuplicatePair) -> list[tuple[str, str, str]]:
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

        def facts(d: ClientDetail) -> list[tuple[str, str]]:
            r = d.row
            shown = [("First name", r.first_name), ("Last name", r.last_name),
                     ("Preferred name", r.preferred_name or ""),
                     ("Date of birth", r.date_of_birth.isoformat() if r.date_of_birth else ""),
                     ("Email", r.email or ""), ("Phone", r.phone or ""), ("Address", d.address or ""),
                     ("Status", r.status.value.title()), ("Clinician", r.clinician or ""),
                     ("Appointments", str(len(d.appointments)))]
            if d.billing_documents is not None:  # only for roles that may see billing
                shown.append(("Billing documents", str(len(d.billing_documents))))
            return [*shown, ("Created", d.created_at.date().isoformat())]

        return [(label, x, y) for (label, x), (_l, y) in zip(facts(a), facts(b))]

    # ------------------------------------------------------------- deciding

    def _set_aside(self, kind: PairKind, gone: set[int], *, keep_row: int = 0) -> list[tuple[int, DuplicatePair]]:
        """Take out of ``kind``'s list every pair with a person of ``gone`` (ids of that tab's
        right-hand kind for contact/client pairs, of either side otherwise); return them with
        their positions, for Undo."""
        def involved(pair: DuplicatePair) -> bool:
            if kind is PairKind.CONTACT_CLIENT:
                return pair.right.id in gone
            return pair.left.id in gone or pair.right.id in gone

        pairs = self.pairs[kind]
        removed = [(i, p) for i, p in enumerate(pairs) if involved(p)]
        self.pairs[kind] = [p for p in pairs if not involved(p)]
        self._refill(kind, keep_row)
        return removed

    def _refill(self, kind: PairKind, row: int) -> None:
        table = self.tables[kind]
        table.clearSelection()
        self._fill(kind)
        if table.rowCount():
            table.selectRow(min(row, table.rowCount() - 1))
        self._show_selected()

    @Slot()
    def _keep_left(self) -> None:
        self._keep(left=True)

    @Slot()
    def _keep_right(self) -> None:
        self._keep(left=False)

    def _keep(self, *, left: bool) -> None:
        current = self._current()
        if current is None or current[0] is not PairKind.CLIENTS:
            return
        _kind, row, pair = current
        self._client_fields(pair)  # the profiles as they are compared, read if not yet
        if self.compared is None:
            return  # the comparison says why they could not be read
        details = {d.row.id: d for d in self.compared}
        keep, duplicate = (pair.left, pair.right) if left else (pair.right, pair.left)
        kept_d, duplicate_d = details[keep.id], details[duplicate.id]
        kept_name = who(kept_d.row.first_name, kept_d.row.last_name, kept_d.row.date_of_birth)
        duplicate_name = who(duplicate_d.row.first_name, duplicate_d.row.last_name,
                             duplicate_d.row.date_of_birth)
        if not self._confirm_mark(kept_name, duplicate_name):
            return
        disable_portal = False
        portal = duplicate_d.portal
        if portal.get("portal_enabled") or portal.get("messaging_enabled"):
            answer = ask_portal_switch_off(self, portal, before_save=True)
            if answer is None:
                self.summary.setText("Nothing was changed.")
                return
            disable_portal = answer
        seen = self.compared_versions
        done = attempt(self, "Not marked as duplicate", lambda: self.clients.mark_duplicate(
            self.actor, duplicate.id, keep.id,
            expected_versions=(seen[duplicate.id], seen[keep.id])
            if duplicate.id in seen and keep.id in seen else None,
            disable_portal=disable_portal))
        if not done or done.value is None:
            return
        removed = self._set_aside(PairKind.CLIENTS, {duplicate.id}, keep_row=row)
        self.last_mark = _LastMark(done.value, duplicate_name, kept_name, removed, self.scans)
        access = " Their portal access was switched off." if disable_portal else ""
        self.summary.setText(f"{duplicate_name} is now inactive as a duplicate of {kept_name}.{access}")
        self.undo.setVisible(True)
        self.undo.setToolTip(f"Make {duplicate_name} as it was before, no longer a duplicate")
        self.changed.emit()

    def _confirm_mark(self, kept: str, duplicate: str) -> bool:
        box = QMessageBox(self)
        box.setObjectName("confirmMark")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Mark as duplicate")
        box.setText(f"Keep {kept} and mark {duplicate} as its duplicate?")
        box.setInformativeText(
            f"{duplicate} becomes inactive, linked to the profile kept. Its appointments, notes and "
            "billing documents stay where they are. You can undo this here.")
        mark = box.addButton("Mark duplicate", QMessageBox.ButtonRole.AcceptRole)
        mark.setObjectName("markDuplicate")
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(mark)
        box.exec()
        return box.clickedButton() is mark

    @Slot()
    def _undo_mark(self) -> None:
        last = self.last_mark
        if last is None:
            return
        undone = attempt(self, "Not undone", lambda: self.clients.undo_mark_duplicate(
            self.actor, last.marked.duplicate_id, last.marked))
        if not undone:
            if isinstance(undone.error, (DatabaseUnavailable, OutcomeUnknown)):
                # The server could not be reached (or could not say): trying again may work.
                self.summary.setText(f"The undo could not be done now: {undone.error}")
                return
            self.last_mark = None
            self.undo.setVisible(False)
            self.summary.setText(f"Not undone: {undone.error}")
            return
        self.last_mark = None
        self.undo.setVisible(False)
        self.summary.setText(f"Undone: {last.duplicate} is as it was, no longer a duplicate of {last.kept}.")
        if last.scan == self.scans:  # the pairs set aside belong to the list on screen
            pairs = self.pairs[PairKind.CLIENTS]
            for position, pair in last.removed:
                pairs.insert(min(position, len(pairs)), pair)
            self._refill(PairKind.CLIENTS, last.removed[0][0] if last.removed else 0)
        self.changed.emit()

    @Slot()
    def _dismiss(self) -> None:
        current = self._current()
        if current is None:
            return
        kind, row, pair = current
        if kind is PairKind.CLIENTS:
            call = lambda: self.finder.dismiss(self.actor, pair.left.id, pair.right.id)  # noqa: E731
        elif kind is PairKind.CONTACTS:
            call = lambda: self.finder.dismiss_contacts(self.actor, pair.left.id, pair.right.id)  # noqa: E731
        else:
            call = lambda: self.finder.dismiss_contact_client(  # noqa: E731
                self.actor, pair.right.id, pair.left.id)
        if not attempt(self, "Not recorded", call):
            return
        del self.pairs[kind][row]
        self._refill(kind, row)
        left = _label(pair.left, client=kind is not PairKind.CONTACTS)
        right = _label(pair.right, client=kind is PairKind.CLIENTS)
        self.summary.setText(f"Noted: {left} and {right} are different people; they will not be "
                             "offered again.")

    @Slot()
    def _merge(self) -> None:
        current = self._current()
        if current is None or current[0] is not PairKind.CONTACTS:
            return
        from desktop.ui.dialogs.merge_contacts import MergeContactsDialog

        _kind, row, pair = current
        opened = attempt(self, "Cannot merge", lambda: MergeContactsDialog(
            self.practice, self.actor, pair.left.id, pair.right.id, self))
        if not opened or opened.value is None:  # e.g. one of them was merged through another pair
            self._set_aside(PairKind.CONTACTS, {pair.left.id, pair.right.id}, keep_row=row)
            return
        dialog = opened.value
        if not dialog.exec() or dialog.removed_id is None:
            return
        removed = pair.left if dialog.removed_id == pair.left.id else pair.right
        self._set_aside(PairKind.CONTACTS, {dialog.removed_id}, keep_row=row)
        self._set_aside(PairKind.CONTACT_CLIENT, {dialog.removed_id})
        self.summary.setText(f"The contact {_contact_label(removed)} was merged into {dialog.kept_name}.")
        self.changed.emit()

    @Slot()
    def _merge_into_client(self) -> None:
        current = self._current()
        if current is None or current[0] is not PairKind.CONTACT_CLIENT:
            return
        from desktop.ui.dialogs.merge_into_client import MergeIntoClientDialog

        _kind, row, pair = current
        client, contact = pair.left, pair.right
        opened = attempt(self, "Cannot merge", lambda: MergeIntoClientDialog(
            self.practice, self.actor, contact.id, client.id, parent=self))
        if not opened or opened.value is None:  # merged or removed meanwhile
            self._set_aside(PairKind.CONTACT_CLIENT, {contact.id}, keep_row=row)
            return
        dialog = opened.value
        if not dialog.exec() or dialog.client_id is None:
            return
        self._set_aside(PairKind.CONTACT_CLIENT, {contact.id}, keep_row=row)
        self._set_aside(PairKind.CONTACTS, {contact.id})
        self.summary.setText(f"The contact {_contact_label(contact)} was merged into the client "
                             f"{dialog.kept_name}.")
        self.changed.emit()
