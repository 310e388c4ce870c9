"""Reviewing likely duplicates: scan with progress, compare side by side, decide.

Two client profiles are never merged (their records stay with the profile they
were made in): the choice is which one to keep, and the other is marked
inactive as its duplicate, after a confirmation and the portal question every
inactivation asks (docs/rules.md, "Status"); Undo makes it Active again and
restores the access it switched off. Two contacts can be merged, field by
field, and so can a contact who turns out to be a client, into the client's
profile. The scan runs on a pool thread with its own database session and can
be cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
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
from desktop.controllers.duplicates import DuplicatePair, Person
from desktop.controllers.errors import NotFound
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.ui.dialogs.merge_into_client import born, name_of, who
from desktop.ui.operation import Outcome, attempt, in_background
from desktop.ui.widgets import ask_portal_switch_off

DIFFERENT = QBrush(QColor(255, 236, 179))
NO_MERGE_REASON = (
    "Client profiles are never merged: appointments, notes and billing documents stay with the "
    "profile they were made in. Keep one profile active and mark the other as its duplicate; "
    "the duplicate stays inactive with a link to the one kept.")
CONTACT_MERGE = (
    "Two contact profiles can be merged into one: you choose the value that wins for each field "
    "that differs, and every client link moves to the contact kept.")
INTO_CLIENT = (
    "This contact looks like one of your clients. Merging folds the contact into the client "
    "profile: you choose the value that wins for each field that differs, the client profile "
    "stays, and the contact profile is removed.")

CLIENTS, CONTACTS, CONTACTS_CLIENTS = "client", "contact", "contact_client"
KINDS = (CLIENTS, CONTACTS, CONTACTS_CLIENTS)
TAB_TITLES = {CLIENTS: "&Clients", CONTACTS: "C&ontacts", CONTACTS_CLIENTS: "Contacts who are clien&ts"}
EXPLAIN = {CLIENTS: NO_MERGE_REASON, CONTACTS: CONTACT_MERGE, CONTACTS_CLIENTS: INTO_CLIENT}
SIDES = {CLIENTS: ("Left", "Right"), CONTACTS: ("Left", "Right"), CONTACTS_CLIENTS: ("Client", "Contact")}

Found = tuple[list[DuplicatePair], list[DuplicatePair], list[DuplicatePair]]


class _ScanProgress(QObject):
    """Carries the scan's progress from its pool thread to the progress dialog."""

    progressed = Signal(int, int)


@dataclass
class _Marked:
    """A Keep left/right that Undo can take back."""

    duplicate_id: int
    duplicate: str  # the duplicate's name and date of birth, as the messages say it
    kept: str
    portal_before: dict[str, bool] | None  # the access it switched off, if it did
    removed: list[DuplicatePair]  # the pairs it took off the list


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _pairs_table(name: str) -> QTableWidget:
    """One pair a row, on two lines: the two names one above the other, how they match beside."""
    table = QTableWidget(0, 3)
    table.setObjectName(name)
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(["Profiles", "Score", "Why"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setTabKeyNavigation(False)
    table.setWordWrap(False)  # a long name is cut short with "…" (the tooltip has it whole)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
    header.resizeSection(2, 190)
    rows = table.verticalHeader()
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(2 * table.fontMetrics().lineSpacing() + 10)
    return table


class DuplicatesWindow(QWidget):
    """Candidate pairs on the left, the two profiles side by side on the right."""

    changed = Signal()

    def __init__(self, practice: Practice, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("duplicatesWindow")
        self.setWindowTitle("Likely duplicates")  # Qt adds the application's name
        self.practice, self.actor = practice, actor
        self.finder = practice.duplicates
        self.clients = practice.clients
        self.client_pairs: list[DuplicatePair] = []
        self.contact_pairs: list[DuplicatePair] = []
        self.contact_client_pairs: list[DuplicatePair] = []
        self.compared_versions: dict[int, int] = {}
        # The two client profiles of the selected pair, read once per selection (not per tab switch).
        self.compared: tuple[ClientDetail, ClientDetail] | None = None
        self.marked: _Marked | None = None  # the last Keep, for Undo
        self.scanned_once = False
        self.scan_cancelled = threading.Event()
        self.scan_progress = _ScanProgress(self)
        self.scan_progress.progressed.connect(self._progressed)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("pairTabs")
        self.client_table = _pairs_table("clientPairs")
        self.contact_table = _pairs_table("contactPairs")
        self.contact_client_table = _pairs_table("contactClientPairs")
        for kind in KINDS:
            self.tabs.addTab(self._table(kind), TAB_TITLES[kind])
        self.client_table.itemSelectionChanged.connect(self._client_selection_changed)
        self.contact_table.itemSelectionChanged.connect(self._show_selected)
        self.contact_client_table.itemSelectionChanged.connect(self._show_selected)
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
        self.keep_left = QPushButton("Keep &left")
        self.keep_left.setObjectName("keepLeft")
        self.keep_left.setToolTip("Keep the left profile; mark the right one inactive as its duplicate")
        self.keep_right = QPushButton("Keep &right")
        self.keep_right.setObjectName("keepRight")
        self.keep_right.setToolTip("Keep the right profile; mark the left one inactive as its duplicate")
        self.merge = QPushButton("&Merge contacts…")
        self.merge.setObjectName("mergeContacts")
        self.merge_into_client = QPushButton("Merge &into client…")
        self.merge_into_client.setObjectName("mergeIntoClient")
        self.merge_into_client.setToolTip("Merge this contact into the client's profile, choosing "
                                          "the value that wins for each field that differs")
        self.not_duplicate = QPushButton("&Not a duplicate")
        self.not_duplicate.setObjectName("notDuplicate")
        self.keep_left.clicked.connect(lambda: self._keep(left=True))
        self.keep_right.clicked.connect(lambda: self._keep(left=False))
        self.not_duplicate.clicked.connect(self._dismiss)
        self.merge.clicked.connect(self._merge)
        self.merge_into_client.clicked.connect(self._merge_into_client)
        self.rescan = QPushButton("&Scan again")
        self.rescan.setObjectName("scanAgain")
        self.rescan.clicked.connect(self.scan)
        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)

        # What the last decision did, in names, with Undo while it can be undone.
        self.message_bar = QFrame()
        self.message_bar.setObjectName("messageBar")
        self.message_bar.setStyleSheet("QFrame#messageBar { background: #eef4fb; border: 1px solid #b8c8e0; "
                                       "border-radius: 4px; }")
        self.message = QLabel()
        self.message.setObjectName("message")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.undo_button = QPushButton("&Undo")
        self.undo_button.setObjectName("undo")
        self.undo_button.setToolTip("Make the duplicate Active again (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        bar = QHBoxLayout(self.message_bar)
        bar.setContentsMargins(10, 4, 6, 4)
        bar.addWidget(self.message, 1)
        bar.addWidget(self.undo_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.message_bar.hide()

        buttons = QHBoxLayout()
        for b in (self.keep_left, self.keep_right, self.merge, self.merge_into_client, self.not_duplicate):
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
        layout.addWidget(self.message_bar)
        layout.addWidget(splitter, 1)
        self.resize(1150, 640)

        for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")):
            QShortcut(keys, self, self.close)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo)
        self._show_selected()

    # ------------------------------------------------------------- the lists

    def _table(self, kind: str) -> QTableWidget:
        return {CLIENTS: self.client_table, CONTACTS: self.contact_table,
                CONTACTS_CLIENTS: self.contact_client_table}[kind]

    def _pairs(self, kind: str) -> list[DuplicatePair]:
        return {CLIENTS: self.client_pairs, CONTACTS: self.contact_pairs,
                CONTACTS_CLIENTS: self.contact_client_pairs}[kind]

    def _set_pairs(self, kind: str, pairs: list[DuplicatePair], *, row: int = 0) -> None:
        """Show ``pairs`` in their tab, with the pair at ``row`` (or the last) selected."""
        if kind == CLIENTS:
            self.client_pairs = pairs
        elif kind == CONTACTS:
            self.contact_pairs = pairs
        else:
            self.contact_client_pairs = pairs
        table = self._table(kind)
        table.blockSignals(True)  # one selection change below, not one per row
        table.clearSelection()
        table.setRowCount(len(pairs))
        for r, pair in enumerate(pairs):
            names = f"{name_of(pair.left.first_name, pair.left.last_name)}\n" \
                    f"{name_of(pair.right.first_name, pair.right.last_name)}"
            # The first reason says how the names match, the others what they share.
            why = f"{pair.reasons[0]}\n{', '.join(pair.reasons[1:])}" if pair.reasons else ""
            tip = f"{self._who(pair.left)}\n{self._who(pair.right)}\n{', '.join(pair.reasons)}"
            for c, text in enumerate((names, f"{pair.score:.0f}", why)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if c == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)
        table.blockSignals(False)
        self.tabs.setTabText(KINDS.index(kind), f"{TAB_TITLES[kind]} ({len(pairs)})")
        if self.scanned_once:
            self._summarize()
        if pairs:
            table.selectRow(min(row, len(pairs) - 1))  # a filled list never opens on nothing
        else:
            table.selectionModel().clearSelection()
            self._show_selected()

    @staticmethod
    def _who(person: Person) -> str:
        return who(person.first_name, person.last_name, person.date_of_birth)

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

        def find() -> Found | None:  # on the pool thread
            clients = finder.find_client_duplicates(actor, progress)
            if cancelled.is_set():
                return None
            contacts = finder.find_contact_duplicates(actor)
            if cancelled.is_set():
                return None
            return clients, contacts, finder.find_contact_client_duplicates(actor)

        self.rescan.setEnabled(False)
        in_background(self, "Could not look for duplicates", find, self._scanned, report=self._scan_refused)

    def _progressed(self, done: int, total: int) -> None:
        if total and not self.scan_cancelled.is_set():
            self.progress.setValue(min(99, int(done * 100 / total)))

    def _scan_refused(self, message: str) -> None:
        self.progress.reset()  # before saying why, not behind the progress dialog
        QMessageBox.warning(self, "Could not look for duplicates", message)

    def _scanned(self, outcome: Outcome[Found | None]) -> None:
        self.progress.reset()
        self.rescan.setEnabled(True)
        if not outcome:
            self.summary.setText("The scan did not finish; nothing was changed.")
            return
        if outcome.value is None:
            self.summary.setText("Scan cancelled; nothing was changed.")
            return
        clients, contacts, contact_clients = outcome.value
        self.compared = None  # read the profiles again: the scan is newer
        self.scanned_once = True
        self._set_pairs(CLIENTS, clients)
        self._set_pairs(CONTACTS, contacts)
        self._set_pairs(CONTACTS_CLIENTS, contact_clients)
        self._show_selected()

    def _summarize(self) -> None:
        clients, contacts, contact_clients = (len(self._pairs(kind)) for kind in KINDS)
        self.summary.setText(
            f"To review: {_plural(clients, 'client pair', 'client pairs')}, "
            f"{_plural(contacts, 'contact pair', 'contact pairs')} and "
            f"{_plural(contact_clients, 'contact who may be a client', 'contacts who may be clients')}.")

    # ------------------------------------------------------------ comparing

    def _kind(self) -> str:
        return KINDS[max(0, self.tabs.currentIndex())]

    def _current(self) -> tuple[str, int, DuplicatePair] | None:
        kind = self._kind()
        pairs = self._pairs(kind)
        rows = self._table(kind).selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(pairs):
            return None
        return kind, rows[0].row(), pairs[rows[0].row()]

    def _client_selection_changed(self) -> None:
        self.compared = None  # a new selection: read the two profiles again, once
        self._show_selected()

    def _show_selected(self) -> None:
        current = self._current()
        kind = self._kind()
        for b in (self.keep_left, self.keep_right):
            b.setVisible(kind == CLIENTS)
            b.setEnabled(current is not None)
        self.merge.setVisible(kind == CONTACTS)
        self.merge.setEnabled(current is not None)
        self.merge_into_client.setVisible(kind == CONTACTS_CLIENTS)
        self.merge_into_client.setEnabled(current is not None)
        # Only pairs of one kind can be set aside as different people.
        self.not_duplicate.setVisible(kind != CONTACTS_CLIENTS)
        self.not_duplicate.setEnabled(current is not None)
        self.explain.setText(EXPLAIN[kind])
        self.compare.setHorizontalHeaderLabels(["", *SIDES[kind]])
        if current is None:
            self.compare.setRowCount(0)
            return
        _kind, _row, pair = current
        rows = self._fields(kind, pair)
        self.compare.setRowCount(len(rows))
        for r, (label, left, right, compared) in enumerate(rows):
            items = [QTableWidgetItem(label), QTableWidgetItem(left), QTableWidgetItem(right)]
            for item in items[1:]:
                item.setToolTip(item.text())  # a long email or address, whole
            if compared and left != right:
                for item in items[1:]:
                    item.setBackground(DIFFERENT)
                    item.setToolTip(f"{item.text()}\n(These differ)" if item.text() else "(These differ)")
            if not compared:
                items[2].setForeground(QBrush(QColor(110, 110, 110)))
            for c, item in enumerate(items):
                self.compare.setItem(r, c, item)

    def _read_compared(self, pair: DuplicatePair) -> tuple[ClientDetail, ClientDetail] | str:
        if self.compared is None or (self.compared[0].row.id, self.compared[1].row.id) != (
                pair.left.id, pair.right.id):
            self.compared = None
            read = attempt(self, "Cannot compare", lambda: (
                self.clients.get_client(self.actor, pair.left.id),
                self.clients.get_client(self.actor, pair.right.id)),
                report=lambda _message: None)  # said in the comparison instead
            if not read or read.value is None:
                return str(read.error)
            self.compared = read.value
        return self.compared

    def _fields(self, kind: str, pair: DuplicatePair) -> list[tuple[str, str, str, bool]]:
        """(label, left, right, whether a difference means anything) per row of the comparison."""
        if kind == CLIENTS:
            compared = self._read_compared(pair)
            if isinstance(compared, str):
                return [("Problem", compared, "", False)]
            a, b = compared
            # What the person is looking at: Keep refuses if either was saved since.
            self.compared_versions = {a.row.id: a.row.version, b.row.id: b.row.version}

            def facts(d: ClientDetail) -> list[tuple[str, str]]:
                r = d.row
                documents = d.billing_documents
                return [("First name", r.first_name), ("Last name", r.last_name),
                        ("Preferred name", r.preferred_name or ""),
                        ("Date of birth", born(r.date_of_birth)),
                        ("Email", r.email or ""), ("Phone", r.phone or ""), ("Address", d.address or ""),
                        ("Status", r.status.value.title()), ("Clinician", r.clinician or ""),
                        ("Appointments", str(len(d.appointments))),
                        ("Billing documents", "—" if documents is None else str(len(documents))),
                        ("Created", d.created_at.date().isoformat())]

            return [(label, x, y, True) for (label, x), (_l, y) in zip(facts(a), facts(b))]
        left, right = pair.left, pair.right
        rows = [("First name", left.first_name, right.first_name, True),
                ("Last name", left.last_name, right.last_name, True)]
        if kind == CONTACTS_CLIENTS:
            rows.append(("Date of birth", born(left.date_of_birth), "not recorded for contacts", False))
        return rows + [("Email", left.email or "", right.email or "", True),
                       ("Phone", left.phone or "", right.phone or "", True)]

    def _reread(self) -> None:
        """After a refusal because someone saved meanwhile: compare what is saved now."""
        self.compared = None
        self._show_selected()

    # ------------------------------------------------------------- deciding

    def _drop(self, kind: str, gone: Callable[[DuplicatePair], bool]) -> list[DuplicatePair]:
        """Take the pairs ``gone`` says are settled off ``kind``'s list; returns them."""
        pairs = self._pairs(kind)
        current = self._current()
        row = current[1] if current is not None and current[0] == kind else 0
        removed = [p for p in pairs if gone(p)]
        if removed:
            if kind == CLIENTS:
                self.compared = None
            self._set_pairs(kind, [p for p in pairs if not gone(p)], row=row)
        return removed

    def _say(self, text: str, *, undo: bool = False) -> None:
        self.message.setText(text)
        self.undo_button.setVisible(undo)
        self.message_bar.show()
        if not undo:
            self.marked = None

    def _keep(self, *, left: bool) -> None:
        current = self._current()
        if current is None or current[0] != CLIENTS:
            return
        pair = current[2]
        compared = self.compared if self.compared is not None and (
            self.compared[0].row.id, self.compared[1].row.id) == (pair.left.id, pair.right.id) else None
        if compared is not None:
            people = [who(d.row.first_name, d.row.last_name, d.row.date_of_birth) for d in compared]
        else:
            people = [self._who(pair.left), self._who(pair.right)]
        keep, duplicate = (pair.left, pair.right) if left else (pair.right, pair.left)
        kept_name, duplicate_name = (people[0], people[1]) if left else (people[1], people[0])
        if not self._confirm_keep(kept_name, duplicate_name, left=left):
            return
        # docs/rules.md, "Status": inactivation says that access stays on and offers to switch it off.
        read = attempt(self, "Portal access not read", lambda: self.clients.portal_access(
            self.actor, duplicate.id), report=lambda _message: None)  # Mark duplicate will say what is wrong
        portal = read.value if read else None
        portal_before = None
        if portal is not None and (portal["portal_enabled"] or portal["messaging_enabled"]):
            answer = ask_portal_switch_off(self, portal, before_save=True)
            if answer is None:
                return  # Cancel: nothing was changed
            if answer:
                portal_before = portal
        seen = self.compared_versions
        if not attempt(self, "Not marked as duplicate", lambda: self.clients.mark_duplicate(
                self.actor, duplicate.id, keep.id,
                expected_versions=(seen[duplicate.id], seen[keep.id])
                if duplicate.id in seen and keep.id in seen else None,
                disable_portal=portal_before is not None), reload=self._reread):
            return
        ids = {pair.left.id, pair.right.id}
        removed = self._drop(CLIENTS, lambda p: bool({p.left.id, p.right.id} & ids))
        if portal_before is not None:
            access = " Their Client Portal and Secure Messaging access was switched off."
        elif portal is not None and (portal["portal_enabled"] or portal["messaging_enabled"]):
            access = " Their portal access stays on."
        else:
            access = ""
        self._say(f"Kept {kept_name}. {duplicate_name} is now inactive as a duplicate of that "
                  f"profile.{access}", undo=True)
        self.marked = _Marked(duplicate.id, duplicate_name, kept_name, portal_before, removed)
        self.changed.emit()

    def _confirm_keep(self, kept: str, duplicate: str, *, left: bool) -> bool:
        kept_side, duplicate_side = ("left", "right") if left else ("right", "left")
        box = QMessageBox(self)
        box.setObjectName("keepQuestion")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Mark as duplicate")
        box.setText(f"Keep the {kept_side} profile, {kept}, and make the {duplicate_side} one, "
                    f"{duplicate}, inactive as its duplicate?")
        box.setInformativeText(
            f"The profile of {duplicate} becomes Inactive with the reason duplicate and a link to the "
            "profile kept. Nothing is deleted: its appointments, notes and billing documents stay "
            "with it. You can undo this afterwards.")
        confirm = box.addButton("Make inactive", QMessageBox.ButtonRole.AcceptRole)
        confirm.setObjectName("confirmKeep")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        cancel.setObjectName("cancelKeep")
        box.setDefaultButton(confirm)
        box.exec()
        return box.clickedButton() is confirm

    def undo(self) -> None:
        """Take the last Keep back: the duplicate Active again, with the access it had."""
        marked = self.marked
        if marked is None or self.undo_button.isHidden():
            return
        if not attempt(self, "Not undone", lambda: self.clients.set_status(
                self.actor, marked.duplicate_id, "active")):
            return
        self.marked = None
        restored = ""
        before = marked.portal_before
        if before is not None:
            title = "Portal access not restored"
            if attempt(self, title, lambda: self.clients.set_portal_access(
                    self.actor, marked.duplicate_id, portal=before["portal_enabled"],
                    messaging=before["messaging_enabled"]),
                    report=lambda message: QMessageBox.warning(
                        self, title, f"The profile is Active again, but portal access was not "
                                     f"switched back on: {message}")):
                restored = " Its portal access is back on."
        # The pairs it settled are offered again, where they were.
        known = {(p.left.id, p.right.id) for p in self.client_pairs}
        back = self.client_pairs + [p for p in marked.removed if (p.left.id, p.right.id) not in known]
        back.sort(key=lambda p: (-p.score, p.left.id, p.right.id))
        first = next((i for i, p in enumerate(back) if p in marked.removed), 0)
        self.compared = None
        self.tabs.setCurrentIndex(KINDS.index(CLIENTS))
        self._set_pairs(CLIENTS, back, row=first)
        self._show_selected()
        self._say(f"Undone: {marked.duplicate} is Active again, no longer linked to "
                  f"{marked.kept}.{restored}")
        self.changed.emit()

    def _dismiss(self) -> None:
        current = self._current()
        if current is None or current[0] == CONTACTS_CLIENTS:
            return
        kind, _row, pair = current
        dismiss = self.finder.dismiss if kind == CLIENTS else self.finder.dismiss_contacts
        if not attempt(self, "Not recorded", lambda: dismiss(self.actor, pair.left.id, pair.right.id)):
            return
        self._drop(kind, lambda p: p is pair)
        self._say(f"Noted: {self._who(pair.left)} and {self._who(pair.right)} are different people; "
                  "they will not be offered again.")

    def _drop_contact(self, contact_id: int) -> None:
        """A contact profile is gone: no pair with it is left to decide."""
        self._drop(CONTACTS, lambda p: contact_id in (p.left.id, p.right.id))
        self._drop(CONTACTS_CLIENTS, lambda p: p.right.id == contact_id)

    def _merge(self) -> None:
        current = self._current()
        if current is None or current[0] != CONTACTS:
            return
        from desktop.ui.dialogs.merge_contacts import MergeContactsDialog

        pair = current[2]
        opened = attempt(self, "Cannot merge", lambda: MergeContactsDialog(
            self.practice, self.actor, pair.left.id, pair.right.id, self))
        if not opened or opened.value is None:  # e.g. one of them was merged through another pair
            if isinstance(opened.error, NotFound):
                self._drop(CONTACTS, lambda p: p is pair)
            return
        dialog = opened.value
        if not dialog.exec() or dialog.removed_id is None:
            return
        self._drop_contact(dialog.removed_id)
        self._say(f"Merged the two contacts. Kept {dialog.kept_name}, with the client links of both; "
                  "the other contact profile was removed.")
        self.changed.emit()

    def _merge_into_client(self) -> None:
        current = self._current()
        if current is None or current[0] != CONTACTS_CLIENTS:
            return
        from desktop.ui.dialogs.merge_into_client import MergeIntoClientDialog

        pair = current[2]
        client, contact = pair.left, pair.right
        opened = attempt(self, "Cannot merge", lambda: MergeIntoClientDialog(
            self.practice, self.actor, contact.id, client_id=client.id, parent=self))
        if not opened or opened.value is None:
            if isinstance(opened.error, NotFound):  # merged or removed meanwhile
                self._drop(CONTACTS_CLIENTS, lambda p: p is pair)
            return
        dialog = opened.value
        if not dialog.exec():
            return
        self._drop_contact(contact.id)
        self._say(f"Merged the contact {name_of(contact.first_name, contact.last_name)} into the "
                  f"client profile. Kept {dialog.kept_name}; the contact profile was removed.")
        self.changed.emit()
