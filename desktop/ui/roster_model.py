"""The Qt face of the roster: a table model whose only data is a list of slots.

As in Anki's browser, the model holds the ordered slots that match the current
filter and renders a cell only when the view asks for it (the visible rows).
A new filter swaps the list and signals ``layoutChanged`` with the persistent
indexes (selection, current row) moved to where their records now are, so the
view keeps its selection and repaints only what is on screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont

from desktop.controllers.clients import StatusFilter
from desktop.controllers.permissions import Action
from desktop.controllers.roster import Column, Roster, State

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
OPEN_HINT = "Double-click or press Enter to open the profile."
CHANGE_HINT = "Click to change the status."


class RosterModel(QAbstractTableModel):
    """Rows are roster slots; columns are ``roster.Column``."""

    statusChangeRequested = Signal(int, str)  # client id, new status value

    def __init__(self, roster: Roster, parent: Any = None) -> None:
        super().__init__(parent)
        self.roster = roster
        self._slots: Sequence[int] = ()
        self.status_filter = StatusFilter.ACTIVE
        self.query = ""
        self.sort_column = Column.NAME
        self.descending = False
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
            if column is Column.STATUS and self.may_change_status(slot):
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
        if index.column() == Column.STATUS and self.may_change_status(self._slots[index.row()]):
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
        self.sort_column = Column(column)
        self.descending = order == Qt.SortOrder.DescendingOrder
        self.apply()

    # -------------------------------------------------------------- filtering

    def row_of(self, slot: int) -> int | None:
        try:
            return self._slots.index(slot)
        except ValueError:
            return None

    def matches_with(self, status: StatusFilter) -> tuple[int, int]:
        """How many clients and contacts the current search would show under ``status``."""
        slots = self.roster.filter(status, self.query, Column.NAME)
        clients = sum(1 for slot in slots if self.roster.is_client(slot))
        return clients, len(slots) - clients

    def set_filter(self, status: StatusFilter | None = None, query: str | None = None) -> None:
        if status is not None:
            self.status_filter = StatusFilter(status)
        if query is not None:
            self.query = query
        self.apply()

    def apply(self) -> None:
        """Recompute the rows for the current filter and sort, keeping the selection."""
        slots = self.roster.filter(self.status_filter, self.query, self.sort_column, self.descending)
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        tracked = [(p, self._slots[p.row()] if 0 <= p.row() < len(self._slots) else None)
                   for p in persistent]
        self._slots = slots
        if tracked:
            positions = {slot: row for row, slot in enumerate(slots)} if len(tracked) > 8 else None
            new_indexes = []
            for p, slot in tracked:
                row = None
                if slot is not None:
                    row = positions.get(slot) if positions is not None else self.row_of(slot)
                new_indexes.append(self.index(row, p.column()) if row is not None else QModelIndex())
            self.changePersistentIndexList(persistent, new_indexes)
        self.layoutChanged.emit()
