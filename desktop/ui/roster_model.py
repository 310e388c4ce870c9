"""The Qt face of the roster: a table model whose only data is a list of slots.

As in Anki's browser, the model holds the ordered slots that match the current
filter and renders a cell only when the view asks for it (the visible rows).
A new filter swaps the list and signals ``layoutChanged`` with the persistent
indexes (selection, current row) moved to where their records now are, so the
view keeps its selection and repaints only what is on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont

from desktop.controllers.clients import StatusFilter
from desktop.controllers.permissions import Action
from desktop.controllers.roster import JOB_SLICE, Answer, Column, MatchJob, Roster, State
from desktop.lazy import lazy_module
from desktop.ui import activity

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy", __name__, "np")  # the window paints first (desktop/lazy.py)

KindRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_EDIT = int(Qt.ItemDataRole.EditRole)
_ACCESSIBLE = int(Qt.ItemDataRole.AccessibleTextRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_COLUMNS = tuple(Column)
_PLAIN = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_EDITABLE = _PLAIN | Qt.ItemFlag.ItemIsEditable
_INACTIVE_FG = QBrush(QColor(110, 110, 110))
# Rows found before the first paint of a search (a tall screen shows about 80); the rest
# of a search most rows match is found while the window is idle (``Roster.search``).
SCREENFUL = 200
_NO_ROWS: Any = ()
# From this many rows, a sort by a column whose order is not made yet waits for it to be made
# on a pool thread (seconds at a million rows) instead of freezing the window meanwhile.
SORT_ELSEWHERE_ROWS = 100_000
OPEN_HINT = "Double-click or press Enter to open the profile."
CHANGE_HINT = "Click to change the status."


class RosterModel(QAbstractTableModel):
    """Rows are roster slots; columns are ``roster.Column``."""

    statusChangeRequested = Signal(int, str)  # client id, new status value
    answerCompleted = Signal()  # every matching row is now listed (the count is exact)
    sortWaiting = Signal(int)  # a sort waits for this column's order (``sort``, ``sort_ready``)

    def __init__(self, roster: Roster, parent: Any = None) -> None:
        super().__init__(parent)
        self.roster = roster
        self._own = roster  # ``roster`` is another only while a list's first rows are shown
        self._first_view: tuple[StatusFilter, bool] | None = None
        # No rows before the first read: not an array yet, so the window paints before numpy
        # is imported (desktop/lazy.py).
        self._first_slots: np.ndarray = _NO_ROWS
        self._slots: np.ndarray = _NO_ROWS
        self.complete = True
        self.estimate: int | None = 0
        self._job: MatchJob | None = None
        self._installs = roster.installs  # the roster's read the slots belong to
        # The rows a person chose (the view's current and selected rows), which a search must
        # keep listed if they match: set by the page that shows this model.
        self.chosen_rows: Callable[[], Iterable[int]] = lambda: ()
        self._finishing = QTimer(self)
        self._finishing.setSingleShot(True)
        self._finishing.setInterval(0)
        self._finishing.timeout.connect(self._finish_step)
        self.status_filter = StatusFilter.ACTIVE
        self.query = ""
        self.sort_column = Column.NAME
        self.descending = False
        self.waiting_sort: tuple[Column, bool] | None = None
        self._italic = QFont()
        self._italic.setItalic(True)

    # ----------------------------------------------------------- Qt interface

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._slots)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        # A repaint asks about a dozen roles of every visible cell; plain ints and
        # a tuple of columns keep each question to a few comparisons.
        if role == _DISPLAY or role == _EDIT or role == _ACCESSIBLE:
            return self.roster.text(self._slots[index.row()], _COLUMNS[index.column()])
        if role == _FOREGROUND:
            slot = self._slots[index.row()]
            return _INACTIVE_FG if self.roster.state[slot] == State.INACTIVE else None
        if role == _FONT:
            if index.column() == Column.TYPE and not self.roster.is_client(self._slots[index.row()]):
                return self._italic
            return None
        if role == _TOOLTIP:
            # A narrow column elides its text: the tooltip always has all of it.
            slot, column = self._slots[index.row()], _COLUMNS[index.column()]
            text = self.roster.text(slot, column)
            if column is Column.NAME:
                return f"{text}\n{OPEN_HINT}"
            if column is Column.STATUS and not self.first_rows_only and self.may_change_status(slot):
                return f"{text}\n{CHANGE_HINT}"
            return text or None
        if role == IdRole:
            return self.roster.ids[self._slots[index.row()]]
        if role == KindRole:
            return "client" if self.roster.is_client(self._slots[index.row()]) else "contact"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            return Column(section).title
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if index.column() == Column.STATUS and not self.first_rows_only \
                and self.may_change_status(self._slots[index.row()]):
            return _EDITABLE
        return _PLAIN

    def may_change_status(self, slot: int) -> bool:
        """Whether this user may change this row's status (a client of theirs, for "assigned only").

        Only then is the Status cell a drop-down: a drop-down that is then refused
        promises what the role does not allow (docs/rules.md, "Who may do what").
        """
        return self.roster.is_client(slot) and self.roster.actor.can(
            Action.CHANGE_STATUS, self.roster.clinician_ids[slot])

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        """A Status drop-down choice: ask for the change; the data moves only once it is made."""
        if role != Qt.ItemDataRole.EditRole or index.column() != Column.STATUS:
            return False
        slot = self._slots[index.row()]
        current = self.roster.status(slot)
        if current is None or str(value).lower() == current.value:
            return False
        self.statusChangeRequested.emit(self.roster.ids[slot], str(value).lower())
        return False

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column``. In a big list whose order by it is not made yet, the rows keep
        their order and ``sortWaiting`` asks for it to be made elsewhere; ``sort_ready`` sorts."""
        activity.mark()
        wanted = (Column(column), order == Qt.SortOrder.DescendingOrder)
        if len(self.roster) >= SORT_ELSEWHERE_ROWS and not self.roster.has_order(wanted[0]) \
                and not self.first_rows_only:
            self.waiting_sort = wanted
            self.sortWaiting.emit(int(wanted[0]))
            return
        self.waiting_sort = None
        self.sort_column, self.descending = wanted
        self.apply()

    def sort_ready(self, *, anyway: bool = False) -> None:
        """An order was made: the sort waiting for it, if it is ready, is made (``anyway``: the
        order could not be made elsewhere, so it is made here)."""
        if self.waiting_sort is None or not (anyway or self.roster.has_order(self.waiting_sort[0])):
            return
        (self.sort_column, self.descending), self.waiting_sort = self.waiting_sort, None
        self.apply()

    # -------------------------------------------------------------- filtering

    def row_of(self, slot: int) -> int | None:
        rows = np.flatnonzero(np.asarray(self._slots) == slot)
        return int(rows[0]) if len(rows) else None

    def shown(self) -> tuple[int | None, bool]:
        """How many rows the current search shows, and whether that is exact (else an estimate,
        None while not even that is known)."""
        return (len(self._slots), True) if self.complete else (self.estimate, False)

    def matches_with(self, status: StatusFilter) -> tuple[int, int]:
        """How many clients and contacts the current search would show under ``status``."""
        return self.roster.kinds_of(self.roster.filter(status, self.query, Column.NAME))

    def set_filter(self, status: StatusFilter | None = None, query: str | None = None) -> None:
        if status is not None:
            self.status_filter = StatusFilter(status)
        if query is not None:
            self.query = query
        self.apply()

    def forget_rows(self) -> None:
        """Show no rows: called before the roster is read again, whose slots name other rows
        (the page chooses its rows again by their records afterwards). First rows shown
        (``show_first_rows``) are dropped: the model shows its own roster again."""
        self._finishing.stop()
        self._job = None
        self.beginResetModel()
        self.roster, self._first_view = self._own, None
        self._first_slots = self._slots = np.zeros(0, dtype=np.int32)
        self.complete, self.estimate = True, 0
        self.endResetModel()

    @property
    def first_rows_only(self) -> bool:
        """Whether the rows shown are a list's first rows, read before the rest of it."""
        return self._first_view is not None

    def show_first_rows(self, rows: Roster, status: StatusFilter, descending: bool) -> None:
        """Show ``rows`` (``Roster.fetch``'s first screen, in a roster of their own) while the
        whole list is still being read, for ``status`` in name order (``descending``) with no
        search; under another search, status or sort, no rows until the list is in.

        They can be opened but not changed (their Status cells are no drop-downs); the page
        puts the whole list in their place with ``forget_rows`` and its own roster."""
        self._finishing.stop()
        self._job = None
        self.beginResetModel()
        self.roster, self._first_view = rows, (StatusFilter(status), descending)
        self._first_slots = rows.filter(status, "", Column.NAME, descending)
        self._choose_first_slots()
        self.endResetModel()

    def _choose_first_slots(self) -> None:
        """The first rows if the view is the one they were read for, else none."""
        fits = (self.status_filter, self.descending) == self._first_view \
            and self.sort_column is Column.NAME and not self.query.strip()
        self._slots = self._first_slots if fits else np.zeros(0, dtype=np.int32)
        self.complete, self.estimate = True, len(self._slots)

    def _search(self, *, whole: bool = False) -> Answer:
        return self.roster.search(self.status_filter, self.query, self.sort_column, self.descending,
                                  need=None if whole else SCREENFUL)

    def apply(self, *, whole: bool = False) -> None:
        """Recompute the rows for the current filter and sort, keeping the selection.

        A search most rows match lists its first screenful now and the rest once found,
        a slice at a time while the window is idle (``answerCompleted``), unless a chosen row
        (``chosen_rows``) lies beyond that screenful: then everything is found now, so it
        stays selected."""
        self._finishing.stop()
        self._job = None
        if self.first_rows_only:  # the list is still being read: its first rows, or none
            self.beginResetModel()
            self._choose_first_slots()
            self.endResetModel()
            return
        if not self.roster.installs and not len(self._slots):
            return  # nothing read yet, and no rows shown: nothing to search (nor numpy to import)
        answer = self._search(whole=whole)
        if not answer.complete and self._installs == self.roster.installs:
            # (After the roster was read again, slots name other rows: the page chooses its
            # rows again by their records.)
            chosen = [int(self._slots[row]) for row in self.chosen_rows() if 0 <= row < len(self._slots)]
            listed = set(answer.slots.tolist())
            if any(slot not in listed and slot < len(self.roster)
                   and self.roster.shows(slot, self.status_filter, self.query) for slot in chosen):
                answer = self._search(whole=True)  # a chosen row lies beyond the first screenful
        # Views turn their selection into persistent indexes when told the layout will change.
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        tracked = [(p, int(self._slots[p.row()]) if 0 <= p.row() < len(self._slots) else None)
                   for p in persistent]
        slots = answer.slots
        self._slots = slots
        self._installs = self.roster.installs
        self.complete, self.estimate = answer.complete, answer.estimate
        if tracked:
            wanted = np.array([slot for _p, slot in tracked if slot is not None], dtype=np.int64)
            found = np.flatnonzero(np.isin(slots, wanted))
            positions = dict(zip(slots[found].tolist(), found.tolist()))
            new_indexes = []
            for p, slot in tracked:
                row = positions.get(slot) if slot is not None else None
                new_indexes.append(self.index(row, p.column()) if row is not None else QModelIndex())
            self.changePersistentIndexList(persistent, new_indexes)
        self.layoutChanged.emit()
        if not answer.complete and answer.job is not None:
            self._job = answer.job
            self._finishing.start()

    def _finish_step(self) -> None:
        """One slice of the rest of a search; once all is found, the rows after the first
        screenful are added below it (the rows on screen stay where they are)."""
        job = self._job
        if job is None:
            return
        if not job.step(JOB_SLICE):
            self._finishing.start()
            return
        self._job = None
        if not self.roster.adopt(job):
            self.apply()  # the keys changed meanwhile: search again
            self.answerCompleted.emit()
            return
        answer = self._search(whole=True)
        old, new = self._slots, answer.slots
        if len(new) >= len(old) and np.array_equal(new[:len(old)], old):
            if len(new) > len(old):
                self.beginInsertRows(QModelIndex(), len(old), len(new) - 1)
                self._slots = new
                self.complete, self.estimate = True, len(new)
                self.endInsertRows()
            else:
                self.complete, self.estimate = True, len(new)
        else:
            self.apply()
        self.answerCompleted.emit()
