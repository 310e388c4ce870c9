"""The Billing page: the practice's superbills and statements, and what waits for manual billing.

Offered to the roles that may run billing (``automatic_billing.offered_to``; docs/rules.md, "Who
may do what"). Two tabs:

* **Documents**: one period at a time (a month on the practice's clock, which
  the first read finds out, read off the GUI thread; a
  practice of 100,000 clients makes over a hundred thousand documents a month,
  so the page never reads every period unasked), narrowed by kind and by the
  client's name as it is typed (in memory, over the rows read). Open
  (double-click, Enter) shows the document in its own window; Save as PDF…
  and Print… act on the selected one.
* **Needs manual billing**: attended appointments from a time their client was
  inactive, which the automatic run never bills (docs/rules.md, "Billing").
  Generate superbill makes them, after saying what will be made; the new
  documents are then shown on the Documents tab, selected.

The Qt models hold the rows the controller returned and the order shown; they
never query. ``reload()`` reads both tabs again (after an automatic run, or
when another workstation changed something).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import billing as billing_rules
from desktop.controllers.appointments import AppointmentRow
from desktop.controllers.billing import BillingRunReport, DocumentRow
from desktop.controllers.document_table import DocumentTable, Key
from desktop.controllers.errors import NotSignedIn
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.controllers.roster import release_free_memory
from desktop.domain import clock
from desktop.domain.models import DocumentKind
from desktop.render.billing_document import money
from desktop.ui.document_window import DocumentWindow, open_document, print_document, save_as_pdf
from desktop.ui.operation import Outcome, attempt, in_background, when_resolved
from desktop.ui.widgets import ColumnFitter, list_table

if TYPE_CHECKING:
    import numpy as np
else:
    from desktop.lazy import lazy_module

    np = lazy_module("numpy", __name__, "np")  # the window paints first (desktop/lazy.py)

ROW_HEIGHT = 26
MONTHS_BACK = 24
ALL_PERIODS_ASK_ABOVE = 10_000  # documents in the month listed: above this, All periods asks first
R = TypeVar("R")
IdRole = Qt.ItemDataRole.UserRole + 1


def isolate(text: str) -> str:
    """User text set apart from the sentence around it (Unicode first-strong isolate)."""
    return f"\u2068{text}\u2069"


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column of a table: its title, what a cell says, how it sorts, and where it sits."""

    title: str
    text: Callable[[R], str]
    key: Callable[[R], Any]
    right: bool = False
    tooltip: bool = False  # long values (names): the whole text as a tooltip too


def _sorted(keys: list[Any], descending: bool) -> list[int]:
    # Stable: rows with equal keys stay in the controller's order, so a sort is always the same.
    return sorted(range(len(keys)), key=keys.__getitem__, reverse=descending)


class _ColumnsModel(QAbstractTableModel):
    """What both tabs' models share: ``shown`` rows, ``columns`` with a title, a cell's text,
    alignment and tooltip; ``_record(row)`` is the record a shown row stands for."""

    columns: Sequence[Any]
    shown: Any  # a list or an array of indexes, in the order shown

    def _record(self, row: int) -> Any:
        raise NotImplementedError

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.shown)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            column = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return column.title
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int((Qt.AlignmentFlag.AlignRight if column.right else Qt.AlignmentFlag.AlignLeft)
                           | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.shown):
            return None
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole or (role == Qt.ItemDataRole.ToolTipRole and column.tooltip):
            return column.text(self._record(index.row()))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column.right:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute | Qt.AlignmentFlag.AlignVCenter)
        return None


class Keyed(NamedTuple, Generic[R]):
    """Rows with their sort keys made (``RowsModel.keyed``)."""

    rows: list[R]
    keys: list[list[Any]]  # per column, per row
    sort: tuple[int, bool]  # the column and direction ``shown`` is in
    shown: list[int]


class RowsModel(_ColumnsModel, Generic[R]):
    """Rows the controller returned (Needs manual billing), shown in a sort made in memory.

    ``shown`` holds indexes into ``rows``; a sort is a layout change that keeps the
    selection on the same records (persistent indexes follow their row), as the
    Clients list does.
    """

    def __init__(self, columns: Sequence[Column[R]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.rows: list[R] = []
        self._keys: list[list[Any]] = [[] for _ in self.columns]  # per column, per row
        self.shown: list[int] = []  # every row, in the sort's order
        self.sort_column = 0
        self.descending = False

    # ---------------------------------------------------------------- Qt

    def _record(self, row: int) -> Any:
        return self.rows[self.shown[row]]

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column = column
        self.descending = order == Qt.SortOrder.DescendingOrder
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        held = [self.shown[i.row()] if 0 <= i.row() < len(self.shown) else None for i in before]
        self.shown = _sorted(self._keys[self.sort_column], self.descending)
        place = {row: at for at, row in enumerate(self.shown)}
        self.changePersistentIndexList(before, [
            self.index(place[row], index.column()) if row is not None else QModelIndex()
            for index, row in zip(before, held, strict=True)])
        self.layoutChanged.emit()

    # --------------------------------------------------------------- rows

    def keyed(self, rows: list[R]) -> Keyed[R]:
        """``rows`` with every column's sort key made, and sorted as the model is now: made
        off the GUI thread (a large practice waits with thousands of rows), then ``install``-ed.
        Reads only the columns and the sort, which the GUI thread may change meanwhile:
        ``install`` sorts again if it did."""
        sort = (self.sort_column, self.descending)
        keys = [[column.key(row) for row in rows] for column in self.columns]
        return Keyed(rows, keys, sort, _sorted(keys[sort[0]], sort[1]))

    def install(self, rows: list[R] | Keyed[R]) -> None:
        """New rows from the controller (or ``keyed`` already), in the current sort's order."""
        keyed = rows if isinstance(rows, Keyed) else self.keyed(rows)
        self.beginResetModel()
        self.rows, self._keys = keyed.rows, keyed.keys
        self.shown = keyed.shown if keyed.sort == (self.sort_column, self.descending) \
            else _sorted(self._keys[self.sort_column], self.descending)
        self.endResetModel()

    def row_at(self, row: int) -> R | None:
        return self.rows[self.shown[row]] if 0 <= row < len(self.shown) else None


class DocumentsModel(_ColumnsModel):
    """The Documents tab's rows: a ``DocumentTable`` (numpy columns) shown through the Kind and
    Client filters and a sort, all in memory. A row becomes a ``DocumentRow`` only when it is
    painted or chosen (a few hundred are kept made)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = DOCUMENT_COLUMNS
        self.table = DocumentTable.empty(ZoneInfo("UTC"))
        self.shown = np.zeros(0, dtype=np.int32)  # indexes into the table, filtered, in the sort's order
        self.sort_column = DocColumn.CLIENT
        self.descending = False
        self.keep: Any = None  # a mask over the table, or None for every row
        # The table holds a large period's first rows only, its rest still being read
        # (``install(first_only=True)``): shown only in the Client column's ascending order, unfiltered.
        self.first_only = False
        self._made: dict[int, DocumentRow] = {}

    @property
    def total(self) -> int:
        """How many documents were read (before the filters)."""
        return len(self.table)

    # ---------------------------------------------------------------- Qt

    def _record(self, row: int) -> DocumentRow:
        return self._row(int(self.shown[row]))

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == IdRole:
            return int(self.table.ids[self.shown[index.row()]]) if 0 <= index.row() < len(self.shown) else None
        return super().data(index, role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column = DocColumn(column)
        self.descending = order == Qt.SortOrder.DescendingOrder
        self._relayout()

    # --------------------------------------------------------------- rows

    @property
    def sort_order(self) -> tuple[int, bool]:
        return self.sort_column, self.descending

    def install(self, table: DocumentTable, keep: Any = None, *, first_only: bool = False) -> None:
        """Newly read documents, those ``keep`` (a mask over them) lets through, in the current
        sort's order: one reset (each costs the view a pass over every row).

        ``first_only``: the first rows of a period, in the Client column's order, whose rest
        is still being read. They are shown while that order is chosen and nothing filters
        them; otherwise no rows are, rather than a part of the answer (docs/rules.md, "Billing")."""
        self.beginResetModel()
        self.table = table
        self._made = {}
        self.keep = keep
        self.first_only = first_only
        self.shown = self._order()
        self.endResetModel()

    def extend(self, table: DocumentTable, keep: Any = None) -> bool:
        """The whole period, in place of its first rows shown (``first_only``): the rows on
        screen stay where they are, and the rest are added below them. False, and nothing
        changed, if the rows shown are not the first of the whole in this view (a document
        added or removed between the two reads): then the period is installed anew."""
        if not self.first_only or keep is not None or not len(self.shown):
            return False
        order = table.order(Key(self.sort_column), self.descending)
        before = len(self.shown)
        if len(order) < before or not np.array_equal(table.ids[order[:before]], self.table.ids[self.shown]):
            return False
        if len(order) > before:
            self.beginInsertRows(QModelIndex(), before, len(order) - 1)
        self.table, self.shown, self.keep, self.first_only = table, order, None, False
        self._made = {}  # (made from the first rows' table: the same documents at other indexes)
        if len(order) > before:
            self.endInsertRows()
        # The same documents, read again: a value may have changed between the two reads.
        self.dataChanged.emit(self.index(0, 0), self.index(before - 1, len(self.columns) - 1))
        return True

    def _order(self) -> Any:
        """The table's indexes shown: those ``keep`` lets through, in the sort's order."""
        if self.first_only and (self.keep is not None or self.sort_column != DocColumn.CLIENT or self.descending):
            return np.zeros(0, dtype=np.int32)
        order = self.table.order(Key(self.sort_column), self.descending)
        return order if self.keep is None else order[self.keep[order]]

    def set_keep(self, keep: Any) -> None:
        """Show only the rows whose place in ``keep`` (a mask over the table) is true; None: all."""
        self.keep = keep
        self._relayout()

    def row_at(self, row: int) -> DocumentRow | None:
        return self._row(int(self.shown[row])) if 0 <= row < len(self.shown) else None

    def row_of(self, ident: int) -> int | None:
        index = self.table.index_of(ident)
        if index is None:
            return None
        found = np.flatnonzero(self.shown == index)
        return int(found[0]) if len(found) else None

    def _row(self, index: int) -> DocumentRow:
        row = self._made.get(index)
        if row is None:
            if len(self._made) >= 512:  # the rows of a few screens: painting asks for each cell
                self._made.clear()
            row = self._made[index] = self.table.row(index)
        return row

    def _relayout(self) -> None:
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        held = [int(self.shown[i.row()]) if 0 <= i.row() < len(self.shown) else -1 for i in before]
        self.shown = self._order()
        after = []
        for index, record in zip(before, held, strict=True):  # (the current row, the selection: a few)
            found = np.flatnonzero(self.shown == record) if record >= 0 else np.zeros(0, dtype=np.int64)
            after.append(self.index(int(found[0]), index.column()) if len(found) else QModelIndex())
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()


def _period_text(row: DocumentRow) -> str:
    """"October 2026" for a statement; a superbill's date of service, or its first and last
    ("2026-09-10 – 09-17" within a year)."""
    if row.kind is DocumentKind.STATEMENT:
        return f"{row.period_start:%B %Y}"
    start, end = row.period_start, row.period_end
    if start == end:
        return start.isoformat()
    return f"{start.isoformat()} – {end:%m-%d}" if start.year == end.year else f"{start} – {end}"


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


class Shown(NamedTuple):
    """A column of the Documents tab: its title and what a cell says. What it sorts by is the
    ``DocumentTable``'s (``document_table.Key``, in the same order)."""

    title: str
    text: Callable[[DocumentRow], str]
    right: bool = False
    tooltip: bool = False  # long values: the whole text as a tooltip too


DOCUMENT_COLUMNS: list[Shown] = [
    Shown("No.", lambda r: str(r.id)),
    Shown("Kind", lambda r: r.kind.value.capitalize()),
    Shown("Client", lambda r: r.client_name, tooltip=True),  # sorted and filtered by the name case-folded
    Shown("Period or date of service", _period_text, tooltip=True),
    Shown("Created", lambda r: f"{r.created_at:%Y-%m-%d %H:%M}"),
    Shown("Made", lambda r: "Automatic" if r.automatic else "Manual"),
    Shown("Amount", lambda r: money(r.amount), right=True),
]
# How the columns share a table's width, and how narrow each may get (``widgets.ColumnFitter``).
DOCUMENT_WEIGHTS = dict(enumerate((60, 90, 280, 190, 140, 90, 100)))
DOCUMENT_MINIMUMS = dict(enumerate((80, 80, 150, 160, 125, 80, 90)))  # No.: eight digits (a large practice's)


DocColumn = Key  # the Documents tab's columns, in order


MANUAL_COLUMNS: list[Column[AppointmentRow]] = [
    Column("Date", lambda r: f"{r.start:%Y-%m-%d %H:%M}", lambda r: r.start.timestamp()),
    Column("Client", lambda r: r.client_name, lambda r: r.client_name.casefold(), tooltip=True),
    Column("Clinician", lambda r: r.clinician_name or "—", lambda r: r.clinician_name.casefold(), tooltip=True),
    Column("Service", lambda r: f"{r.service_code} {r.service_description}".strip(),
           lambda r: r.service_code, tooltip=True),
    Column("Fee", lambda r: money(r.fee), lambda r: _cents(r.fee), right=True),
]
MANUAL_WEIGHTS = dict(enumerate((140, 250, 180, 280, 100)))
MANUAL_MINIMUMS = dict(enumerate((130, 150, 110, 150, 80)))


def _table(name: str, accessible: str, model: QAbstractTableModel, *, multi: bool = False) -> QTableView:
    table = QTableView()
    table.setObjectName(name)
    table.setAccessibleName(accessible)
    table.setModel(model)
    list_table(table, ROW_HEIGHT, multi=multi)
    table.setSortingEnabled(True)
    return table


@dataclass(frozen=True)
class Period:
    """What the Documents tab reads: one month, every period, or the documents just made."""

    month: dt.date | None  # the first day; None: every period
    made: tuple[int, ...] = ()  # documents just made (Generate superbill)
    waiting: bool = False  # this month, before the first read has said which month that is

    @property
    def every(self) -> bool:
        """Whether this is All periods."""
        return self.month is None and not self.made and not self.waiting

    @property
    def words(self) -> str:
        if self.made:
            return "made just now"
        if self.waiting:
            return "of this month"
        return "in every period" if self.month is None else f"of {self.month:%B %Y}"


THIS_MONTH = Period(None, waiting=True)


class BillingPage(QWidget):
    """The Billing page (see the module's docstring)."""

    countsChanged = Signal(str)  # what the Documents tab shows, for the window's status bar
    sessionEnded = Signal(str)  # the practice refused this person (deactivated, role changed): why
    loaded = Signal()  # a read of the Documents tab has arrived (or been refused)
    firstShown = Signal()  # a large period's first rows are shown, its rest still being read
    manualLoaded = Signal()  # the same, for Needs manual billing
    billingRun = Signal(object)  # a Run billing now finished: its BillingRunReport

    def __init__(self, practice: Practice, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("billingPage")
        self.practice = practice
        self.billing = practice.billing
        self.actor = actor
        self.windows: dict[int, DocumentWindow] = {}
        self._generation = 0  # the newest read asked for; an older one arriving late is dropped
        self._manual_generation = 0
        self._loaded_for: tuple[Period, DocumentKind | None] | None = None
        self._select_after_load: tuple[int, ...] = ()
        self._progress: tuple[int, int] | None = None
        self._stale = False  # reload() was asked for while hidden: read when shown
        self._reading_for: tuple[Period, DocumentKind | None] | None = None  # the read in flight
        self._first_for: tuple[Period, DocumentKind | None] | None = None  # what the first rows shown are of
        self._read_again = False
        self.running = False
        # Today on the practice's clock (its months are the practice's). Reading the practice's
        # settings is a database read, so it is not done here, on the GUI thread: the first read
        # of the documents finds it, off the GUI thread, and then lists the months (``_fill_periods``).
        self.today: dt.date | None = None
        self._reading_today = False

        # ------------------------------------------------------------ Documents
        self.period = QComboBox()
        self.period.setObjectName("periodFilter")
        self.period.setAccessibleName("Period")
        self.period.setToolTip("The month whose documents are listed: a statement for that month, a "
                               "superbill for a service on one of its days.")
        self.period.addItem("This month", THIS_MONTH)  # the months once the first read says which
        # As wide as its longest choice ("This month (September 2026)"), once the months are in.
        self.period.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.period.setCurrentIndex(0)
        self._period_index = 0  # the choice whose documents are listed (or being read)
        self.period.currentIndexChanged.connect(self._period_changed)
        period_label = QLabel("Pe&riod:")
        period_label.setBuddy(self.period)

        self.kind = QComboBox()
        self.kind.setObjectName("kindFilter")
        self.kind.setAccessibleName("Kind")
        for text, value in (("All", ""), ("Superbills", DocumentKind.SUPERBILL.value),
                            ("Statements", DocumentKind.STATEMENT.value)):
            self.kind.addItem(text, value)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        kind_label = QLabel("&Kind:")
        kind_label.setBuddy(self.kind)

        self.client = QLineEdit()
        self.client.setObjectName("clientFilter")
        self.client.setAccessibleName("Client name")
        self.client.setPlaceholderText("Type part of a client's name")
        self.client.setClearButtonEnabled(True)
        self.client.textChanged.connect(self._client_typed)
        self.client.installEventFilter(self)
        client_label = QLabel("Clien&t:")
        client_label.setBuddy(self.client)

        self.run_button = QPushButton("R&un billing now")
        self.run_button.setObjectName("runBilling")
        self.run_button.setAccessibleName("Run billing now")
        self.run_button.setToolTip("Make the superbills and statements that are due, through yesterday "
                                   "(Caseload also does this by itself every hour).")
        self.run_button.setVisible(actor.can(Action.RUN_BILLING, any_client=True))
        self.run_button.clicked.connect(self.run_billing)

        self.documents = DocumentsModel(self)  # sorted by client: their superbills beside their statement
        self.table = _table("documentsTable", "Billing documents", self.documents)
        self.table.setAccessibleDescription("Enter or double-click opens the document.")
        self.table.horizontalHeader().setSortIndicator(DocColumn.CLIENT, Qt.SortOrder.AscendingOrder)
        self.document_columns = ColumnFitter(self.table, DOCUMENT_WEIGHTS, DOCUMENT_MINIMUMS)
        self.table.activated.connect(self._activated)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.documents.modelReset.connect(self._selection_changed)
        self.documents.layoutChanged.connect(self._selection_changed)
        self.documents.layoutChanged.connect(self._sorted_while_reading)
        self.empty = QLabel()
        self.empty.setObjectName("documentsEmpty")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)  # it quotes what was typed
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.list_area = QStackedWidget()
        self.list_area.addWidget(self.table)
        self.list_area.addWidget(self.empty)

        self.notice = QLabel()
        self.notice.setObjectName("billingNotice")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("QLabel#billingNotice { background: #eef4ea; border: 1px solid #b9d3ad; "
                                  "border-radius: 3px; padding: 4px 8px; }")
        self.notice.hide()
        self.summary = QLabel()
        self.summary.setObjectName("documentsSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)  # it quotes what was typed
        self.summary.setWordWrap(True)
        self.open_button = QPushButton("&Open")
        self.open_button.setObjectName("openDocument")
        self.open_button.clicked.connect(self.open_selected)
        self.save_button = QPushButton("&Save as PDF…")
        self.save_button.setObjectName("saveAsPdf")
        self.save_button.setAccessibleName("Save as PDF")
        self.save_button.clicked.connect(self.save_selected)
        self.print_button = QPushButton("Pr&int…")
        self.print_button.setObjectName("printDocument")
        self.print_button.setAccessibleName("Print")
        self.print_button.clicked.connect(self.print_selected)

        bar = QHBoxLayout()
        bar.addWidget(period_label)
        bar.addWidget(self.period)
        bar.addSpacing(12)
        bar.addWidget(kind_label)
        bar.addWidget(self.kind)
        bar.addSpacing(12)
        bar.addWidget(client_label)
        bar.addWidget(self.client, 1)
        bar.addSpacing(12)
        bar.addWidget(self.run_button)
        actions = QHBoxLayout()
        actions.addWidget(self.summary, 1)
        actions.addWidget(self.open_button)
        actions.addWidget(self.save_button)
        actions.addWidget(self.print_button)
        documents_tab = QWidget()
        documents_tab.setObjectName("documentsTab")
        column = QVBoxLayout(documents_tab)
        column.addLayout(bar)
        column.addWidget(self.notice)
        column.addWidget(self.list_area, 1)
        column.addLayout(actions)

        # ------------------------------------------------------- Needs manual billing
        self.can_generate = actor.can(Action.GENERATE_DOCUMENTS, any_client=True)
        about = QLabel("Attended appointments from a time their client was inactive. Caseload never "
                       "bills these by itself; choose the ones to bill and generate their superbills.")
        about.setObjectName("manualAbout")
        about.setWordWrap(True)
        self.manual = RowsModel(MANUAL_COLUMNS, self)
        self.manual_table = _table("manualTable", "Appointments that need manual billing", self.manual,
                                   multi=True)
        self.manual_columns = ColumnFitter(self.manual_table, MANUAL_WEIGHTS, MANUAL_MINIMUMS)
        self.manual_table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.manual_table.selectionModel().selectionChanged.connect(self._manual_selection_changed)
        self.manual.modelReset.connect(self._manual_selection_changed)
        self.manual.layoutChanged.connect(self._manual_selection_changed)
        self.manual_summary = QLabel()
        self.manual_summary.setObjectName("manualSummary")
        self.manual_summary.setTextFormat(Qt.TextFormat.PlainText)
        self.manual_summary.setWordWrap(True)
        self.generate_button = QPushButton("&Generate superbill")
        self.generate_button.setObjectName("generateSuperbill")
        self.generate_button.setAccessibleName("Generate superbill")
        if not self.can_generate:
            self.generate_button.setToolTip("Your role cannot generate billing documents.")
        self.generate_button.clicked.connect(self.generate_superbills)
        manual_actions = QHBoxLayout()
        manual_actions.addWidget(self.manual_summary, 1)
        manual_actions.addWidget(self.generate_button)
        manual_tab = QWidget()
        manual_tab.setObjectName("manualTab")
        column = QVBoxLayout(manual_tab)
        column.addWidget(about)
        column.addWidget(self.manual_table, 1)
        column.addLayout(manual_actions)

        # Mnemonics apart from the window's menus (File, Edit, View, Client, Practice, Help).
        self.tabs = QTabWidget()
        self.tabs.setObjectName("billingTabs")
        self.tabs.addTab(documents_tab, "&Documents")
        self.tabs.addTab(manual_tab, "&Needs manual billing")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.addWidget(self.tabs, 1)

        # While a period is read: how many documents so far, noted by the reading thread (a plain
        # list, no Qt) and said every half second.
        self._read_so_far: list[int] = [0]
        self.read_timer = QTimer(self)
        self.read_timer.setInterval(500)
        self.read_timer.timeout.connect(self._show_read_so_far)
        self.progress_timer = QTimer(self)
        self.progress_timer.setInterval(200)
        self.progress_timer.timeout.connect(self._show_progress)
        self._selection_changed()
        self._manual_selection_changed()

    # ------------------------------------------------------------- reading

    def _read_today(self) -> None:
        """Find today on the practice's clock, off the GUI thread; then list the months and read."""
        if self._reading_today:
            return
        self._reading_today = True
        self._say(f"Reading the documents {THIS_MONTH.words}…")
        settings, actor = self.practice.settings, self.actor
        in_background(self, "Practice settings not read", lambda: clock.today(settings.settings(actor).zone),
                      self._today_read, report=lambda _message: None)

    def _today_read(self, outcome: Outcome[dt.date]) -> None:
        self._reading_today = False
        # Not read (a refusal is said by the documents' read, which meets it too): the computer's date.
        self._fill_periods(outcome.value if outcome and outcome.value is not None else dt.date.today())
        self.load_documents(force=True)

    def _fill_periods(self, today: dt.date) -> None:
        """The months to choose from, this month (on the practice's clock) first, and chosen.

        This month: what the automatic run made since the month began (yesterday's superbills
        included) is what a person looks for first; last month, with the statements made on
        the 1st, is one step down. Documents made just now, if shown meanwhile, stay shown.
        """
        self.today = today
        chosen = self.current_period()
        blocked = self.period.blockSignals(True)
        try:
            self.period.clear()
            if chosen.made:
                self.period.addItem("Made just now", chosen)
            month = today.replace(day=1)
            for back in range(MONTHS_BACK + 1):
                label = f"{month:%B %Y}"
                if back == 0:
                    label = f"This month ({label})"
                elif back == 1:
                    label = f"Last month ({label})"
                self.period.addItem(label, Period(month))
                month = (month - dt.timedelta(days=1)).replace(day=1)
            self.period.addItem("All periods", Period(None))
            self.period.setCurrentIndex(0)
        finally:
            self.period.blockSignals(blocked)
        self._period_index = 0

    def reload(self) -> None:
        """Read both tabs again, off the GUI thread, keeping the selection where the rows remain.

        While the page is hidden (another page of the window is showing) it only notes
        that it is out of date and reads when next shown: a month of a large practice
        takes seconds to read, and nobody is looking.
        """
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        self.load_documents(force=True)
        self.load_manual()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            QTimer.singleShot(0, self, self.reload)

    def chosen_kind(self) -> DocumentKind | None:
        value = self.kind.currentData()
        return DocumentKind(value) if value else None

    def current_period(self) -> Period:
        period = self.period.currentData()
        return period if isinstance(period, Period) else Period(None)

    def load_documents(self, *, force: bool = False) -> None:
        """Read the chosen period's documents (all kinds for a month, so Kind filters in memory)."""
        period = self.current_period()
        if period.waiting:
            self._read_today()  # which month this is; then this method again
            return
        kind = self.chosen_kind() if period.every else None
        wanted = (period, kind)
        if not force and self._loaded_for == wanted:
            return
        if self._reading_for == wanted:
            self._read_again = True  # once this read is in, once more: something changed meanwhile
            return
        self._reading_for = wanted
        self._read_again = False
        self._generation += 1
        generation = self._generation
        if self.documents.first_only and self._first_for != wanted:
            self._drop_first_rows()  # of a read given up (another period or kind): not this one's
        billing, actor, sort = self.billing, self.actor, self.documents.sort_order
        so_far = self._read_so_far = [0]  # this read's own: a late one cannot speak for it
        self._say(self._reading_words())
        self.read_timer.start()

        def noted(count: int) -> None:
            so_far[0] = count

        # A large period's first rows, in the Client column's order, are shown while the rest
        # is read. Handed over through a future, not a signal: the reading thread must not touch
        # a Qt object of a page that may be closed meanwhile.
        first_rows: Future[DocumentTable | None] | None = None
        if not period.made:
            first_rows = Future()
            when_resolved(self, first_rows, lambda outcome: self._first_read(generation, outcome))

        def read() -> DocumentTable:
            try:
                if period.made:
                    table = billing.document_table(actor, ids=period.made)
                else:
                    month = None if period.month is None else f"{period.month:%Y-%m}"
                    table = billing.document_table(actor, month=month, kind=kind, progress=noted,
                                                   first=first_rows.set_result if first_rows else None)
            finally:
                if first_rows is not None and not first_rows.done():
                    first_rows.set_result(None)  # (a small period, or a refusal: no first rows)
            table.order(Key(sort[0]), sort[1])  # sorted here, off the GUI thread: the order shown first,
            table.prepare_orders()  # then the others a header click may ask for
            release_free_memory()  # the rows read on the way: a month of a large practice is a million
            return table

        try:
            in_background(self, "Billing documents not read", read,
                          lambda outcome: self._documents_read(generation, wanted, outcome), report=self._say)
        except BaseException:
            if first_rows is not None and not first_rows.done():
                first_rows.set_result(None)  # (``when_resolved`` waits for it whatever happens)
            raise

    def _first_read(self, generation: int, outcome: Outcome[DocumentTable | None]) -> None:
        """A large period's first rows, its rest still being read: shown at once."""
        wanted = self._reading_for
        if generation != self._generation or wanted is None or outcome.value is None:
            return  # another read began meanwhile, or the period is small (read whole at once)
        if self.documents.first_only and self._first_for == wanted:
            return  # read again (something changed meanwhile): the rows on screen stay, chosen as they are
        self._first_for = wanted
        self._loaded_for = None  # (the period listed before is not, now: choosing it reads it again)
        self.documents.install(outcome.value, self._keep_for(outcome.value), first_only=True)
        self._shown_changed()
        self.firstShown.emit()

    def _drop_first_rows(self) -> None:
        """No part of a period shown: the first rows of a large one go, and nothing is listed."""
        self.documents.install(DocumentTable.empty(self.documents.table.tz))
        self.list_area.setCurrentWidget(self.table)
        self._loaded_for = None

    def _documents_read(self, generation: int, wanted: tuple[Period, DocumentKind | None],
                        outcome: Outcome[DocumentTable]) -> None:
        if generation != self._generation:
            return  # another period was chosen meanwhile; its read is on its way
        self._reading_for = None
        self.read_timer.stop()
        if self._read_again and outcome:
            self._read_again = False
            self.load_documents(force=True)  # what arrived is already out of date
            return
        try:
            if (not outcome or outcome.value is None) and self.documents.first_only:
                self._drop_first_rows()  # the rest could not be read (or the person was signed out)
            if isinstance(outcome.error, NotSignedIn):
                self.sessionEnded.emit(str(outcome.error))
                return
            if not outcome or outcome.value is None:
                if outcome.error is None:
                    self._say("The documents could not be read.")
                return
            selected = self.selected_document()
            self._loaded_for = wanted
            keep = self._keep_for(outcome.value)
            extended = self.documents.extend(outcome.value, keep)
            if not extended:
                self.documents.install(outcome.value, keep)
            self._shown_changed()
            if self._select_after_load or not extended:  # (extended: the rows chosen, and the scroll, stay)
                keep = self._select_after_load or ((selected.id,) if selected is not None else ())
                self._select_after_load = ()
                self.select_documents(keep)
        finally:
            self.loaded.emit()

    def load_manual(self) -> None:
        """Read the Needs manual billing list, off the GUI thread."""
        if not self.can_generate:
            self.manual.install([])
            self.manual_summary.setText("Your role cannot generate billing documents.")
            self.manualLoaded.emit()
            return
        self._manual_generation += 1
        generation = self._manual_generation
        self.manual_summary.setText("Reading…")
        billing, actor, keyed = self.billing, self.actor, self.manual.keyed
        in_background(self, "Needs manual billing not read", lambda: keyed(billing.needs_manual_billing(actor)),
                      lambda outcome: self._manual_read(generation, outcome),
                      report=self.manual_summary.setText)

    def _manual_read(self, generation: int, outcome: Outcome[Keyed[AppointmentRow]]) -> None:
        if generation != self._manual_generation:
            return
        try:
            if outcome and outcome.value is not None:
                self.manual.install(outcome.value)
                self._manual_selection_changed()
            elif outcome.error is None:
                self.manual_summary.setText("The list could not be read.")
        finally:
            self.manualLoaded.emit()

    # ------------------------------------------------------------- filters

    def _period_changed(self) -> None:
        chosen = self.current_period()
        if chosen.every and not self._read_every_period():
            self.period.blockSignals(True)  # back to what is listed; nothing is read
            self.period.setCurrentIndex(self._period_index)
            self.period.blockSignals(False)
            return
        self.tell("")  # about what was listed before
        made_index = self.period.findText("Made just now")
        if made_index >= 0 and made_index != self.period.currentIndex():
            self.period.blockSignals(True)
            self.period.removeItem(made_index)
            self.period.blockSignals(False)
        self._period_index = self.period.currentIndex()
        self.load_documents()

    def _read_every_period(self) -> bool:
        """Whether to read every period: asked first when one month already holds many documents.

        A practice of 100,000 clients holds over two million; reading them all takes
        most of a minute and gigabytes of memory, so nobody does it by a slip of the list.
        """
        loaded = self.documents.total
        period = self.current_period() if self._loaded_for is None else self._loaded_for[0]
        if self.documents.first_only:  # a large month's first rows: the month itself is being read
            period = self._period_read()
        elif loaded <= ALL_PERIODS_ASK_ABOVE:
            return True
        if period.month is None:
            return True
        held = f"at least {billing_rules.FIRST_SCREEN_FROM:,}" if self.documents.first_only else f"{loaded:,}"
        box = QMessageBox(self)
        box.setObjectName("confirmAllPeriods")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("All periods")
        box.setText(f"{period.month:%B %Y} alone holds {held} documents; every period holds "
                    "many times more.")
        box.setInformativeText("Reading them all can take minutes and a lot of memory. To find a "
                               "client's documents from any month, open their profile's Billing documents tab.")
        read = box.addButton("Read every period", QMessageBox.ButtonRole.AcceptRole)
        read.setObjectName("readAllPeriods")
        keep = box.addButton(f"Keep {period.month:%B %Y}", QMessageBox.ButtonRole.RejectRole)
        keep.setObjectName("keepMonth")
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is read

    def _kind_changed(self) -> None:
        period = self.current_period()
        if period.every:
            self.load_documents()  # every period: read only the kind asked for
        else:
            self._apply_filters()

    def _client_typed(self) -> None:
        self._apply_filters()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.client and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() == Qt.Key.Key_Escape and self.client.text():
                self.client.clear()
                return True
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Return, Qt.Key.Key_Enter) \
                    and self.documents.rowCount():
                self.table.setFocus(Qt.FocusReason.OtherFocusReason)
                if not self.table.selectionModel().hasSelection():
                    self.table.selectRow(0)
                return True
        return super().eventFilter(watched, event)

    def _apply_filters(self) -> None:
        self.documents.set_keep(self._keep_for(self.documents.table))
        self._shown_changed()

    def _keep_for(self, table: DocumentTable) -> Any:
        """The mask of ``table``'s documents the Kind and Client filters let through (None: all)."""
        kind = self.chosen_kind()
        query = self.client.text().strip()
        keep = table.of_kind(kind) if kind is not None else None
        if query:
            named = table.named(query)
            keep = named if keep is None else keep & named
        return keep

    def _sorted_while_reading(self) -> None:
        if self.documents.first_only:  # another sort shows no rows until the whole period is in
            self._shown_changed()

    def _shown_changed(self) -> None:
        model = self.documents
        shown = model.shown
        if model.first_only:  # counted once the whole period is in
            self._say(self._reading_words())
            if len(shown):
                self.list_area.setCurrentWidget(self.table)
            else:
                self.empty.setText(f"The documents {self._period_read().words} are still being read. They are sorted and "
                                   "filtered as you chose once they are all in.")
                self.list_area.setCurrentWidget(self.empty)
            return
        superbills, statements, total = model.table.counts(model.keep)
        period = self.current_period()
        query = self.client.text().strip()
        parts = [f"{_count(len(shown), 'document', 'documents')} {period.words}"
                 + (f" for “{isolate(query)}”" if query else ""),
                 money(total)]
        kinds_shown = [_count(n, one, many) for n, one, many in (
            (superbills, "superbill", "superbills"), (statements, "statement", "statements")) if n]
        if kinds_shown:
            parts.append(", ".join(kinds_shown))
        self._say(" · ".join(parts))
        if len(shown) or not self._loaded_for:
            self.list_area.setCurrentWidget(self.table)
            return
        if query:
            message = f"No documents {period.words} are for a client whose name has “{isolate(query)}”."
        elif self.documents.total:
            message = f"No {self.kind.currentText().lower()} {period.words}."
        else:
            message = f"No billing documents {period.words}."
        self.empty.setText(message)
        self.list_area.setCurrentWidget(self.empty)

    def _say(self, text: str) -> None:
        self.summary.setText(text)
        self.countsChanged.emit(text)

    # ------------------------------------------------------------ selection

    def selected_document(self) -> DocumentRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.documents.row_at(rows[0].row()) if rows else None

    def select_documents(self, ids: Sequence[int]) -> bool:
        """Select the documents ``ids`` that are shown (the first current); False if none is."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        first = None
        for ident in ids:
            row = self.documents.row_of(ident)
            if row is None:
                continue
            index = self.documents.index(row, DocColumn.CLIENT)
            if first is None:
                first = index
                self.table.setCurrentIndex(index)
            selection.select(index, selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
        if first is not None:
            self.table.scrollTo(first)
        return first is not None

    def _selection_changed(self) -> None:
        chosen = self.selected_document() is not None
        for button in (self.open_button, self.save_button, self.print_button):
            button.setEnabled(chosen)

    def _manual_chosen(self) -> list[AppointmentRow]:
        rows = sorted(index.row() for index in self.manual_table.selectionModel().selectedRows())
        return [r for r in (self.manual.row_at(row) for row in rows) if r is not None]

    def _manual_selection_changed(self) -> None:
        chosen = self._manual_chosen()
        self.generate_button.setEnabled(self.can_generate and bool(chosen))
        waiting = self.manual.rows
        self.tabs.setTabText(1, f"&Needs manual billing ({len(waiting):,})" if waiting
                             else "&Needs manual billing")
        if not self.can_generate:
            return
        text = (f"{_count(len(waiting), 'appointment waits', 'appointments wait')} for manual billing, "
                f"{money(sum((r.fee for r in waiting), Decimal('0')))}" if waiting
                else "Nothing waits for manual billing.")
        if chosen:
            text += (f" · {_count(len(chosen), 'chosen', 'chosen')}, "
                     f"{money(sum((r.fee for r in chosen), Decimal('0')))}")
        self.manual_summary.setText(text)

    # ------------------------------------------------------------- documents

    def _activated(self, index: QModelIndex) -> None:
        row = self.documents.row_at(index.row())
        if row is not None:
            self.open(row.id)

    def open(self, document_id: int) -> DocumentWindow | None:
        """Show document ``document_id`` in its window (the open one, if it is open already)."""
        window = self.windows.get(document_id)
        if window is not None:
            window.show()
            window.raise_()
            window.activateWindow()
            return window
        opened = open_document(self, self.practice, self.actor, document_id)
        if opened is not None:
            self.windows[document_id] = opened
            opened.destroyed.connect(lambda *_a, d=document_id: self.windows.pop(d, None))
        return opened

    def open_selected(self) -> None:
        row = self.selected_document()
        if row is not None:
            self.open(row.id)

    def save_selected(self) -> None:
        row = self.selected_document()
        if row is not None:
            written = save_as_pdf(self, self.practice, self.actor, row)
            if written is not None:
                self.tell(f"Saved {row.kind.value} {row.id} as {written}")

    def print_selected(self) -> None:
        row = self.selected_document()
        if row is not None and print_document(self, self.practice, self.actor, row):
            self.tell(f"{row.kind.value.capitalize()} {row.id} was sent to the printer.")

    # --------------------------------------------------------------- by hand

    def generate_superbills(self) -> list[int]:
        """Confirm what will be made, make it, and show it on the Documents tab; the new ids."""
        chosen = self._manual_chosen()
        if not chosen or not self.can_generate:
            return []
        by_client: dict[int, list[AppointmentRow]] = {}
        for row in chosen:
            by_client.setdefault(row.client_id, []).append(row)
        total = sum((r.fee for r in chosen), Decimal("0"))
        box = QMessageBox(self)
        box.setObjectName("confirmGenerate")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Generate superbill")
        made = _count(len(by_client), "superbill", "superbills")
        box.setText(f"Make {made} for {_count(len(chosen), 'appointment', 'appointments')}, "
                    f"{money(total)} in all?")
        lines = [f"• {isolate(rows[0].client_name)}: {_count(len(rows), 'appointment', 'appointments')}, "
                 f"{money(sum((r.fee for r in rows), Decimal('0')))}" for rows in by_client.values()]
        if len(lines) > 12:
            lines = [*lines[:12], f"… and {len(lines) - 12:,} more clients"]
        box.setInformativeText("One superbill per client:\n" + "\n".join(lines))
        go = box.addButton(f"Generate {made}", QMessageBox.ButtonRole.AcceptRole)
        go.setObjectName("generate")
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(go)
        box.exec()
        if box.clickedButton() is not go:
            return []
        ids = [r.id for r in chosen]
        generated = attempt(self, "Superbill not generated",
                            lambda: self.billing.generate_superbills(self.actor, ids))
        if not generated or not generated.value:
            self.load_manual()  # what was refused may have been billed by someone else meanwhile
            return []
        documents = list(generated.value)
        self.tell(f"Made {_count(len(documents), 'superbill', 'superbills')} by hand; "
                  + ("it is listed below, selected." if len(documents) == 1
                     else "they are listed below, selected."))
        self.show_made(documents)
        self.load_manual()
        return documents

    def show_made(self, document_ids: Sequence[int]) -> None:
        """The Documents tab, showing just ``document_ids`` (made a moment ago), selected."""
        made = Period(None, tuple(document_ids))
        self.period.blockSignals(True)
        existing = self.period.findText("Made just now")
        if existing >= 0:
            self.period.removeItem(existing)
        self.period.insertItem(0, "Made just now", made)
        self.period.setCurrentIndex(0)
        self._period_index = 0
        self.period.blockSignals(False)
        self.kind.setCurrentIndex(0)
        self.client.clear()
        self._select_after_load = tuple(document_ids)
        self.tabs.setCurrentIndex(0)
        self.load_documents(force=True)

    # --------------------------------------------------------------- the run

    def run_billing(self) -> None:
        """Run billing now, off the GUI thread, progress said where the counts go; then read again."""
        if self.running:
            return
        self.running = True
        self.run_button.setEnabled(False)
        self._progress = (0, 0)
        self._say("Running billing…")
        self.progress_timer.start()
        billing, actor = self.billing, self.actor

        def progress(done: int, total: int) -> None:
            self._progress = (done, total)  # read by the GUI thread's timer: a plain tuple, no Qt

        in_background(self, "Billing not run", lambda: billing.run_billing(actor, progress=progress),
                      self._billing_done)

    def _show_read_so_far(self) -> None:
        if self._reading_for is not None and self._read_so_far[0] and not self.running:
            self._say(self._reading_words())

    def _reading_words(self) -> str:
        """What the summary says while a read is under way."""
        rest = "the rest of " if self.documents.first_only else ""
        so_far = f" {self._read_so_far[0]:,} so far" if self._read_so_far[0] else ""
        return f"Reading {rest}the documents {self._period_read().words}…{so_far}"

    def _period_read(self) -> Period:
        """The period being read (or, between reads, the one chosen)."""
        return self._reading_for[0] if self._reading_for is not None else self.current_period()

    def _show_progress(self) -> None:
        if self._progress is not None and self._progress[1]:
            done, total = self._progress
            self._say(f"Running billing… {done:,} of {_count(total, 'client', 'clients')}")

    def _billing_done(self, outcome: Outcome[BillingRunReport]) -> None:
        self.running = False
        self.progress_timer.stop()
        self._progress = None
        self.run_button.setEnabled(True)
        report = outcome.value if outcome else None
        self.reload()
        if report is not None:
            self.billingRun.emit(report)
            made = report.documents_created
            kinds = ", ".join(_count(n, k, k + "s") for k, n in sorted(report.by_kind.items()) if n)
            text = f"Billing run: {_count(made, 'document', 'documents')} made" + (f" ({kinds})" if kinds else "")
            if report.held_for_manual_billing:
                text += (f"; {_count(report.held_for_manual_billing, 'appointment waits', 'appointments wait')}"
                         " for manual billing")
            self.tell(text + ".")

    def tell(self, text: str) -> None:
        """Say what was just done, above the list, until the next thing is done."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
