"""Practice ▸ Audit log: the practice's audit log, newest first, filtered, exported and verified.

For the Account Owner and the Practice Manager (the permission table's "read
the practice audit log"); the controller refuses, and audits, anyone else.

* **The list** is read a page at a time as it scrolls (``AuditLogModel``'s
  ``canFetchMore``/``fetchMore``, each page one ``AuditLogController.entries``
  call older than the last entry held): a log of a million entries opens as
  fast as one of a hundred. The model runs no SQL; it asks the controller.
* **Filters** (user, client, kind of action, allowed or refused, a date range)
  apply as they are chosen; the client's name or number applies on Enter or
  after a short pause in typing. A filter the controller refuses is said in
  one sentence beside the filters, and the list stays as it was.
* **Export CSV…** writes every entry the filters let through, up to the newest
  one shown (the export's own entry, made as it starts, is not in it).
* **Verify integrity…** recomputes the whole hash chain on a worker thread,
  with progress and Cancel, then says "N entries, intact, matches the anchor
  of <date>", or names the first entry that fails and how; **Show entry N**
  brings that entry into the list.

Closing the window keeps an anchor (the chain head) on this computer; so does
the main window, hourly and when it closes (``keep_anchor_quietly``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QBrush,
    QCloseEvent,
    QColor,
    QKeySequence,
    QPainter,
    QPalette,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.audit_log import (
    CSV_TITLES,
    KINDS,
    PAGE,
    AuditFilter,
    LogEntry,
    anchor_when,
    clients_named,
    csv_row,
    outcome_words,
)
from desktop.controllers.errors import CaseloadError
from desktop.controllers.files import write_private
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Roster
from desktop.domain.models import Outcome as EntryOutcome
from desktop.ui.list_export import CSV_FILTER, csv_cell, documents_folder
from desktop.ui.operation import Outcome, attempt, in_background
from desktop.ui.widgets import DANGER, ColumnFitter, list_table, local_time, problem_label

ROW_HEIGHT = 26  # as the Clients list
CLIENT_PAUSE_MS = 450  # typing in the Client filter applies after this pause (or on Enter)
PROGRESS_POLL_MS = 100
CONTEXT_ABOVE = 8  # "Show entry N" starts the list this many entries newer than N
DEFAULT_DAYS = 30  # a date filter ticked on starts this many days back


class Col(IntEnum):
    ENTRY = 0
    TIME = 1
    USER = 2
    ACTION = 3
    CLIENT = 4
    OUTCOME = 5


TITLES = ("Entry", "Time", "User", "Action", "Client", "Outcome")
# How the columns share the table's width, and how narrow each may get (``widgets.ColumnFitter``).
WEIGHTS = dict(enumerate((80, 150, 170, 280, 230, 80)))
MINIMUMS = dict(enumerate((76, 150, 110, 170, 130, 76)))
_REFUSED = QBrush(QColor(DANGER))
_FAILED = QBrush(QColor(255, 214, 214))  # the entry a verification found not intact
NUMBER_PADDING = 10  # between the right-aligned entry number and the time beside it
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
SeqRole = Qt.ItemDataRole.UserRole + 1
ClientIdRole = Qt.ItemDataRole.UserRole + 2


def isolate(text: str) -> str:
    """User text set apart from the sentence around it (an Arabic name keeps its place)."""
    return f"\u2068{text}\u2069"


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def keep_anchor_quietly(practice: Practice, actor: Actor) -> bool:
    """Record the audit chain's head on this computer; never a message (True if kept).

    Skipped while the practice is locked (its data cannot be read then), and
    when its file was deleted, replaced or found damaged (an anchor of another
    file's log would vouch for it). A refusal or a database out of reach only
    means no anchor this time.
    """
    if practice.locked or practice.file_problem() is not None:
        return False
    try:
        return practice.audit.keep_anchor(actor)
    except CaseloadError:
        return False


def when_kept(anchor: Any) -> str:
    """An anchor's moment as a person reads it (this computer's time), or how it was given."""
    taken = getattr(anchor, "taken", None)
    if isinstance(taken, dt.datetime):
        return local_time(taken.isoformat())
    return anchor_when(anchor)


# ---------------------------------------------------------------------- the model


class AuditLogModel(QAbstractTableModel):
    """The entries read so far, newest first; the next page is read when the view needs it.

    ``read(where, before)`` is the controller's ``entries`` (a page of ``PAGE``
    entries older than entry ``before``); a page that cannot be read stops the
    paging and is told through ``problem``.
    """

    problem = Signal(str)
    grew = Signal()  # rows were added, or the whole list replaced

    def __init__(self, read: Callable[[AuditFilter, int | None], list[LogEntry]],
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.read = read
        self.where = AuditFilter()
        self.start: int | None = None  # the list begins with entries older than this (Show entry N)
        self.entries: list[LogEntry] = []
        self.more = False
        self.failed: int | None = None  # the entry the last verification named, shown tinted
        self._fetching = False

    # -------------------------------------------------------------- reading

    def mark_failed(self, seq: int | None) -> None:
        """Tint entry ``seq``'s row (the first one a verification found not intact)."""
        self.failed = seq
        if self.entries:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.entries) - 1, len(TITLES) - 1),
                                  [Qt.ItemDataRole.BackgroundRole])

    def show(self, where: AuditFilter, start: int | None = None) -> None:
        """Replace the list with the first page ``where`` lets through (older than ``start``).
        Raises the controller's refusal, with the list left as it was."""
        page = self.read(where, start)
        self.beginResetModel()
        self.where, self.start, self.entries = where, start, list(page)
        self.more = len(page) >= PAGE
        self.endResetModel()
        self.grew.emit()

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self.more and not self._fetching

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or not self.more or self._fetching or not self.entries:
            return
        self._fetching = True
        try:
            page = self.read(self.where, self.entries[-1].seq)
        except CaseloadError as error:
            self.more = False
            self.problem.emit(f"Older entries could not be read: {error}")
            return
        finally:
            self._fetching = False
        self.more = len(page) >= PAGE
        if page:
            first = len(self.entries)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self.entries.extend(page)
            self.endInsertRows()
        self.grew.emit()

    def row_of(self, seq: int) -> int | None:
        """The row of entry ``seq`` if it is loaded (entries are in falling ``seq`` order)."""
        low, high = 0, len(self.entries)
        while low < high:
            middle = (low + high) // 2
            if self.entries[middle].seq > seq:
                low = middle + 1
            else:
                high = middle
        return low if low < len(self.entries) and self.entries[low].seq == seq else None

    @property
    def newest(self) -> int | None:
        return self.entries[0].seq if self.entries else None

    # ---------------------------------------------------------------- shape

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(TITLES)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(TITLES):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return TITLES[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if section == Col.ENTRY else _LEFT
        if role == Qt.ItemDataRole.ToolTipRole and section == Col.TIME:
            return "In the practice's time zone"
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def text(self, entry: LogEntry, column: int) -> str:
        if column == Col.ENTRY:
            return f"{entry.seq:,}"
        if column == Col.TIME:
            return entry.local
        if column == Col.USER:
            return entry.user
        if column == Col.ACTION:
            return entry.what
        if column == Col.CLIENT:
            return entry.client
        return outcome_words(entry.outcome)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        entry, column = self.entries[index.row()], index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self.text(entry, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column == Col.ENTRY else _LEFT
        if role == Qt.ItemDataRole.ForegroundRole and column == Col.OUTCOME \
                and entry.outcome != EntryOutcome.ALLOWED.value:
            return _REFUSED
        if role == Qt.ItemDataRole.BackgroundRole and entry.seq == self.failed:
            return _FAILED
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry, column)
        if role == SeqRole:
            return entry.seq
        if role == ClientIdRole:
            return entry.client_id
        return None

    def _tooltip(self, entry: LogEntry, column: int) -> str | None:
        if column == Col.USER and entry.username and entry.username != entry.user:
            return f"{entry.user} (user name {entry.username})"
        if column == Col.CLIENT and entry.client_id is not None:
            if entry.client.startswith("deleted client"):
                return entry.client
            return f"{entry.client} (client #{entry.client_id}); double-click to open the profile"
        if column == Col.ENTRY and entry.seq == self.failed:
            return f"Entry {entry.seq:,}: the last verification found the log not intact here"
        if column in (Col.USER, Col.ACTION) and entry.user and self.text(entry, column):
            return self.text(entry, column)
        return None


class NumberDelegate(QStyledItemDelegate):
    """A right-aligned number kept clear of the column to its right."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        shown = QStyleOptionViewItem(option)
        self.initStyleOption(shown, index)
        text, shown.text = shown.text, ""
        widget = shown.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, shown, painter, widget)
        selected = bool(shown.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        area = shown.rect.adjusted(0, 0, -NUMBER_PADDING, 0)  # type: ignore[attr-defined]
        style.drawItemText(painter, area, _RIGHT, shown.palette, True, text, role)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- the window


@dataclass
class _Progress:
    """Shared with the verification's worker thread: plain numbers and an event, nothing of Qt."""

    done: int = 0
    total: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)


def _date_filter(text: str, name: str) -> tuple[QCheckBox, QDateEdit]:
    box = QCheckBox(text)
    box.setObjectName(f"{name}On")
    edit = QDateEdit()
    edit.setObjectName(name)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setAccessibleName(f"{text.replace('&', '')} date")
    edit.setEnabled(False)
    box.setToolTip(f"Tick to show only entries {'on or after' if name == 'since' else 'on or before'} a day")
    return box, edit


class AuditLogWindow(QWidget):
    """The Audit log, a top-level window of its own (Practice ▸ Audit log)."""

    openClientRequested = Signal(int)

    def __init__(self, practice: Practice, actor: Actor, parent: QWidget | None = None, *,
                 roster: Roster | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setObjectName("auditLogWindow")
        self.setWindowTitle("Audit log — Caseload")
        self.practice, self.actor = practice, actor
        self.roster = roster  # the main window's list: a typed name is looked up there (``clients_named``)
        self.log = practice.audit
        self.verifying: _Progress | None = None
        self.progress: QProgressDialog | None = None
        self.exporting = False
        self.started = False
        self.applied: AuditFilter | None = None
        self.said_timer = QTimer(self)
        self.said_timer.setSingleShot(True)

        log = self.log  # (not ``self``: the model's reader holds no reference to the window)
        self.model = AuditLogModel(lambda where, before: log.entries(actor, where, before=before), self)
        self.model.grew.connect(self._show_counts)
        self.model.problem.connect(self._say_problem)

        # ------------------------------------------------------------ the filters
        self.user = QComboBox()
        self.user.setObjectName("userFilter")
        self.user.setAccessibleName("User")
        self.user.addItem("Everyone", None)
        self.user.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.user.setMinimumContentsLength(16)
        self.client = QLineEdit()
        self.client.setObjectName("clientFilter")
        self.client.setAccessibleName("Client")
        self.client.setPlaceholderText("Name or #number")
        self.client.setClearButtonEnabled(True)
        self.client.setMaxLength(200)
        self.client.setMinimumWidth(170)
        self.client_pause = QTimer(self)
        self.client_pause.setSingleShot(True)
        self.client_pause.setInterval(CLIENT_PAUSE_MS)
        self.client_pause.timeout.connect(self.apply_filters)
        self.client.textChanged.connect(self._client_typed)
        self.client.returnPressed.connect(self.apply_filters)
        self.kind = QComboBox()
        self.kind.setObjectName("kindFilter")
        self.kind.setAccessibleName("Kind of action")
        self.kind.addItem("All kinds", None)
        for key, (title, _actions) in KINDS.items():
            self.kind.addItem(title, key)
        self.kind.addItem("Other", "other")
        self.outcome = QComboBox()
        self.outcome.setObjectName("outcomeFilter")
        self.outcome.setAccessibleName("Outcome")
        self.outcome.addItem("All", None)
        self.outcome.addItem("Allowed", EntryOutcome.ALLOWED.value)
        self.outcome.addItem("Refused", EntryOutcome.DENIED.value)
        self.since_on, self.since = _date_filter("&From", "since")
        self.until_on, self.until = _date_filter("&To", "until")
        self._reset_dates()
        self.clear = QPushButton("C&lear filters")
        self.clear.setObjectName("clearFilters")
        self.clear.setAutoDefault(False)
        self.clear.clicked.connect(self.clear_filters)
        self.problem = problem_label("filterProblem")
        for combo in (self.user, self.kind, self.outcome):
            combo.currentIndexChanged.connect(self._choice_changed)
        for box, edit in ((self.since_on, self.since), (self.until_on, self.until)):
            box.toggled.connect(edit.setEnabled)
            box.toggled.connect(self._choice_changed)
            edit.dateChanged.connect(self._date_changed)

        # ------------------------------------------------------------ the table
        self.table = QTableView()
        self.table.setObjectName("auditTable")
        self.table.setAccessibleName("Audit log entries, newest first")
        self.table.setModel(self.model)
        list_table(self.table, ROW_HEIGHT)
        self.columns = ColumnFitter(self.table, WEIGHTS, MINIMUMS)
        self.number_delegate = NumberDelegate(self.table)
        self.table.setItemDelegateForColumn(Col.ENTRY, self.number_delegate)
        self.table.doubleClicked.connect(self._open_client)

        # ------------------------------------------------------------ under the table
        self.status = QLabel()
        self.status.setObjectName("auditStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.said = QLabel()
        self.said.setObjectName("auditSaid")
        self.said.setTextFormat(Qt.TextFormat.PlainText)
        self.said.setWordWrap(True)
        self.said_timer.timeout.connect(self.said.clear)
        self.newest_button = QPushButton("&Newest entries")
        self.newest_button.setObjectName("showNewest")
        self.newest_button.setToolTip("Read the list again from the newest entry (F5)")
        self.newest_button.setAutoDefault(False)
        self.newest_button.clicked.connect(self.refresh)
        self.export_button = QPushButton("&Export CSV…")
        self.export_button.setObjectName("exportAuditCsv")
        self.export_button.setToolTip("Write every entry the filters let through to a CSV file")
        self.export_button.setAutoDefault(False)
        self.export_button.clicked.connect(self.export_csv)
        self.verify_button = QPushButton("&Verify integrity…")
        self.verify_button.setObjectName("verifyIntegrity")
        self.verify_button.setToolTip("Recompute the whole log's hash chain and check it against the anchors "
                                      "kept on this computer")
        self.verify_button.setAutoDefault(False)
        self.verify_button.clicked.connect(self.verify)

        first = QHBoxLayout()
        first.setSpacing(6)
        for caption, widget, stretch in (("&User:", self.user, 0), ("&Client:", self.client, 1),
                                         ("&Kind:", self.kind, 0), ("&Outcome:", self.outcome, 0)):
            label = QLabel(caption)
            label.setBuddy(widget)
            first.addWidget(label)
            first.addWidget(widget, stretch)
            first.addSpacing(8)
        second = QHBoxLayout()
        second.setSpacing(6)
        second.addWidget(self.since_on)
        second.addWidget(self.since)
        second.addSpacing(8)
        second.addWidget(self.until_on)
        second.addWidget(self.until)
        second.addSpacing(12)
        second.addWidget(self.clear)
        second.addSpacing(12)
        second.addWidget(self.problem, 1)
        under = QHBoxLayout()
        texts = QVBoxLayout()
        texts.setSpacing(2)
        texts.addWidget(self.status)
        texts.addWidget(self.said)
        under.addLayout(texts, 1)
        under.addWidget(self.newest_button, 0, Qt.AlignmentFlag.AlignTop)
        under.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        under.addWidget(self.verify_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(first)
        layout.addLayout(second)
        layout.addWidget(self.table, 1)
        layout.addLayout(under)

        for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")):
            QShortcut(keys, self, self.close)
        for keys in QKeySequence.keyBindings(QKeySequence.StandardKey.Refresh) or [QKeySequence("F5")]:
            QShortcut(keys, self, self.refresh)
        self.resize(1180, 720)

    # ------------------------------------------------------------------ opening

    def start(self) -> bool:
        """Record that the log was opened, list the users and read the newest page; False (and
        said) if this person may not read the log. Shown without it, the window starts itself."""
        self.started = True
        if not attempt(self, "Audit log not opened", lambda: self.log.opened(self.actor)):
            return False
        users = attempt(self, "Users not read", lambda: self.log.users(self.actor), report=self._say_problem)
        self.user.blockSignals(True)
        for user_id, name in users.value or []:
            self.user.addItem(name, user_id)
        self.user.blockSignals(False)
        self.apply_filters()
        return True

    # ------------------------------------------------------------------ filters

    def chosen_filter(self) -> AuditFilter:
        """What the filter row says now."""
        outcome = self.outcome.currentData()
        return AuditFilter(
            user_id=self.user.currentData(),
            client=self.client.text().strip(),
            kind=self.kind.currentData(),
            outcome=EntryOutcome(outcome) if outcome else None,
            since=self.since.date().toPython() if self.since_on.isChecked() else None,  # type: ignore[arg-type]
            until=self.until.date().toPython() if self.until_on.isChecked() else None)  # type: ignore[arg-type]

    @Slot()
    def apply_filters(self) -> None:
        """Show the newest entries the filter row lets through (Enter in the Client filter, a pause)."""
        self._apply()

    @Slot()
    def _choice_changed(self) -> None:
        self._apply()

    @Slot()
    def _client_typed(self) -> None:
        self.client_pause.start()

    def _apply(self, *, start: int | None = None, force: bool = False) -> bool:
        """Show the newest entries the filters let through (from ``start`` back); a filter the
        controller refuses is said beside the filters and the list stays as it was."""
        self.client_pause.stop()
        where = self.chosen_filter()
        if where == self.applied and start is None and self.model.start is None and not force:
            self.problem.clear()  # back to what the list shows: nothing wrong with it
            return True
        roster = self.roster

        def show() -> None:
            self.model.show(clients_named(roster, where) if roster is not None else where, start)

        shown = attempt(self, "Audit log not read", show, report=self._say_problem)
        if not shown:
            return False
        self.applied = where
        self.problem.clear()
        self.table.scrollToTop()
        return True

    @Slot()
    def refresh(self) -> None:
        """The newest entries again, as the filters say (F5)."""
        self._apply(force=True)

    @Slot()
    def clear_filters(self) -> None:
        self._unfiltered(dates_too=True)
        self._apply(force=True)

    def _unfiltered(self, *, dates_too: bool) -> None:
        """Every filter back to "all", without each change reloading the list on its own."""
        widgets = (self.user, self.client, self.kind, self.outcome, self.since_on, self.until_on,
                   self.since, self.until)
        for widget in widgets:
            widget.blockSignals(True)
        self.user.setCurrentIndex(0)
        self.client.clear()
        self.kind.setCurrentIndex(0)
        self.outcome.setCurrentIndex(0)
        self.since_on.setChecked(False)
        self.until_on.setChecked(False)
        self.since.setEnabled(False)
        self.until.setEnabled(False)
        if dates_too:
            self._reset_dates()
        for widget in widgets:
            widget.blockSignals(False)

    def _reset_dates(self) -> None:
        today = QDate.currentDate()
        self.since.setDate(today.addDays(-DEFAULT_DAYS))
        self.until.setDate(today)

    @Slot()
    def _date_changed(self) -> None:
        if self.since_on.isChecked() or self.until_on.isChecked():
            self._apply()

    def _say_problem(self, message: str) -> None:
        self.problem.setText(message)

    # ------------------------------------------------------------------ the list

    @Slot()
    def _show_counts(self) -> None:
        model = self.model
        shown = len(model.entries)
        filtered = self.applied is not None and self.applied != AuditFilter()
        if not shown:
            self.status.setText("No entries match these filters." if filtered
                                else "No entries are older than that." if model.start is not None
                                else "The audit log is empty.")
        else:
            where = (f"From entry {model.entries[0].seq:,} back" if model.start is not None
                     else "Newest first")
            text = f"{where} · {shown:,} shown"
            if filtered:
                text += ", filtered"
            if model.more:
                text += " · scroll down for older entries"
            self.status.setText(text)
        self.newest_button.setVisible(model.start is not None)
        self.export_button.setEnabled(shown > 0 and not self.exporting)

    @Slot(QModelIndex)
    def _open_client(self, index: QModelIndex) -> None:
        entry = self.model.entries[index.row()] if index.isValid() else None
        if entry is not None and entry.client_id is not None and not entry.client.startswith("deleted client"):
            self.openClientRequested.emit(entry.client_id)

    def show_entry(self, seq: int) -> bool:
        """Bring entry ``seq`` into the list and select it: where it is if it is loaded, else the
        unfiltered log from a little above it. False if there is no such entry (missing)."""
        row = self.model.row_of(seq)
        if row is None:
            self._unfiltered(dates_too=False)
            if not self._apply(start=seq + CONTEXT_ABOVE + 1):
                return False
            row = self.model.row_of(seq)
        target = row
        if target is None:  # missing: the entry just older than it, where it would have been
            target = next((r for r, e in enumerate(self.model.entries) if e.seq < seq), None)
        if target is None:
            return False
        index = self.model.index(target, Col.ENTRY)
        self.table.setCurrentIndex(index)
        self.table.selectRow(target)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.table.setFocus()
        return row is not None

    # ------------------------------------------------------------------ export

    @Slot()
    def export_csv(self) -> None:
        """Every entry the filters let through, up to the newest one shown, to a CSV file."""
        where, newest = self.model.where, self.model.newest
        if newest is None or self.exporting:
            return
        name = f"audit-log-{dt.date.today().isoformat()}.csv"
        path, _chosen = QFileDialog.getSaveFileName(self, "Export audit log as CSV",
                                                    str(documents_folder() / name), CSV_FILTER)
        if not path:
            return
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(".csv")

        def deliver(entries: Iterator[LogEntry]) -> tuple[Path, int]:  # on the worker thread
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(CSV_TITLES)
            written = 0
            for entry in entries:
                if entry.seq > newest:  # newer than the list: the export's own entry, say
                    continue
                writer.writerow([csv_cell(cell) for cell in csv_row(entry)])
                written += 1
            return write_private(target, out.getvalue().encode("utf-8-sig")), written

        actor, log = self.actor, self.log
        self.exporting = True
        self.export_button.setEnabled(False)
        self._say("Writing the file…", 0)
        self.setCursor(Qt.CursorShape.BusyCursor)
        in_background(self, "Audit log not exported", lambda: log.export(actor, where, deliver), self._exported)

    def _exported(self, outcome: Outcome[tuple[Path, int]]) -> None:
        self.unsetCursor()
        self.exporting = False
        self._show_counts()
        if not outcome or outcome.value is None:
            self._say("Nothing was exported.")
            return
        path, written = outcome.value
        self._say(f"Exported {_count(written, 'entry', 'entries')} to {path}.")

    def _say(self, text: str, for_ms: int = 15_000) -> None:
        self.said.setText(text)
        if for_ms:
            self.said_timer.start(for_ms)
        else:
            self.said_timer.stop()

    # ------------------------------------------------------------------ verify

    @Slot()
    def verify(self) -> None:
        """Recompute the whole chain on a worker thread, with progress and Cancel; then say how it went."""
        if self.verifying is not None:
            return
        state = self.verifying = _Progress()
        progress = self.progress = QProgressDialog("Checking every entry of the audit log…", "Cancel", 0, 100, self)
        progress.setObjectName("verifyProgress")
        progress.setWindowTitle("Verify integrity")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)
        progress.setValue(0)
        progress.canceled.connect(state.cancelled.set)
        timer = QTimer(progress)
        timer.setInterval(PROGRESS_POLL_MS)
        timer.timeout.connect(self._show_progress)
        timer.start()
        self.verify_button.setEnabled(False)
        actor, log = self.actor, self.log

        def report(done: int, total: int) -> bool:  # on the worker thread
            state.done, state.total = done, total
            return state.cancelled.is_set()

        def check() -> Any:  # on the worker thread
            try:
                return log.verify(actor, progress=report)
            except InterruptedError:
                return None

        in_background(self, "Audit log not verified", check, self._verified, report=self._verify_refused)

    @Slot()
    def _show_progress(self) -> None:
        state, progress = self.verifying, self.progress
        if state is None or progress is None:
            return
        if progress.wasCanceled():  # Cancel, Escape or the dialog closed
            state.cancelled.set()
        if not state.total or state.cancelled.is_set():
            return
        progress.setValue(min(99, state.done * 100 // state.total))
        progress.setLabelText(f"Checked {state.done:,} of {state.total:,} entries…")

    def _end_progress(self) -> None:
        progress, self.progress = self.progress, None
        if progress is not None:
            progress.reset()
            progress.hide()
            progress.deleteLater()
        self.verify_button.setEnabled(True)

    def _verify_refused(self, message: str) -> None:
        self._end_progress()  # before saying why, not behind the progress dialog
        self.verifying = None
        QMessageBox.warning(self, "Audit log not verified", message)

    def _verified(self, outcome: Outcome[Any]) -> None:
        state, self.verifying = self.verifying, None
        self._end_progress()
        if not outcome:
            return  # said already (a refusal), or a bug the crash handler reports
        verdict = outcome.value
        if verdict is None or (state is not None and state.cancelled.is_set()):
            self._say("Verification stopped before the end; nothing was concluded.")
            return
        self.show_verdict(verdict)

    def show_verdict(self, verdict: Any) -> None:
        """How the check went: intact (with the anchor it matched), or the first entry that fails."""
        box = QMessageBox(self)
        box.setObjectName("verifyResult")
        box.setWindowTitle("Verify integrity")
        box.setTextFormat(Qt.TextFormat.PlainText)
        # Wide enough that the explanation reads in a few lines, not a narrow column.
        box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 460px; }")
        show = None
        if verdict.intact:
            self.model.mark_failed(None)
            box.setIcon(QMessageBox.Icon.Information)
            entries = _count(verdict.entries, "entry", "entries")
            if verdict.anchor is not None:
                box.setText(f"{entries}, intact, matches the anchor of {when_kept(verdict.anchor)}.")
            else:
                box.setText(f"{entries}, intact. No anchor was kept on this computer yet.")
            box.setInformativeText(
                "Every entry still gives its own hash and links to the one before it. An anchor is kept "
                "on this computer every hour and when Caseload or this window closes; a later check "
                "compares the log with it.")
            self._say(box.text(), 60_000)
        else:
            box.setIcon(QMessageBox.Icon.Critical)
            first = verdict.first_bad
            box.setText(self.failure_headline(verdict))
            good = _count(verdict.entries, "entry", "entries")
            explanation = str(verdict.explanation or "").strip()
            because = f"{explanation[:1].upper()}{explanation[1:]}." if explanation else ""
            box.setInformativeText(
                f"{because} The {good} before it are intact. The practice database was changed outside "
                "Caseload: keep it as it is, and ask whoever looks after it to compare it with a backup.")
            self._say(box.text(), 0)
            self.model.mark_failed(first)
            if first is not None:
                show = box.addButton(f"Show entry {first:,}", QMessageBox.ButtonRole.ActionRole)
                show.setObjectName("showEntry")
        if getattr(verdict, "note", ""):  # anchors of another log, unreadable ones, a check not recorded
            box.setInformativeText(f"{box.informativeText()}\n\n{verdict.note}")
        ok = box.addButton(QMessageBox.StandardButton.Ok)
        box.setDefaultButton(ok)
        box.setEscapeButton(ok)
        box.exec()
        clicked = box.clickedButton()
        box.deleteLater()
        if show is not None and clicked is show and verdict.first_bad is not None:
            self.show_entry(min(verdict.first_bad, max(verdict.entries, 1))
                            if verdict.reason == "shorter than the anchor" else verdict.first_bad)

    @staticmethod
    def failure_headline(verdict: Any) -> str:
        n = f"{verdict.first_bad:,}"
        reason = verdict.reason
        if reason == "changed":
            return f"The audit log is not intact: entry {n} was changed."
        if reason == "missing":
            return f"The audit log is not intact: entry {n} is missing."
        if reason == "inserted":
            return f"The audit log is not intact: entry {n} was inserted."
        if reason == "out of order":
            return f"The audit log is not intact: entry {n} is out of order."
        if reason == "shorter than the anchor":
            anchor = f" of {when_kept(verdict.anchor)}" if verdict.anchor is not None else ""
            return (f"The audit log is not intact: it is shorter than the anchor{anchor}, "
                    f"entry {n} onwards is gone.")
        return f"The audit log is not intact at entry {n}: {reason}."

    # ------------------------------------------------------------------ closing

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.started and not self.start():
            QTimer.singleShot(0, self, self.close)  # refused, and said so

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.verifying is not None:
            self.verifying.cancelled.set()  # the worker stops at its next report
        self.client_pause.stop()
        keep_anchor_quietly(self.practice, self.actor)
        super().closeEvent(event)
