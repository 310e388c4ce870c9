"""The Clients and contacts list: search as you type, Client status + Apply, Status in place.

This page owns the gestures; the roster (controllers) owns the data and the
rules; the model renders visible rows. A status change goes through an undo
command that calls the controller, so Ctrl+Z can take it back and a refusal
is shown and leaves the row as it was. A client saved since by anyone (another
workstation, or this window's own profile) takes that client's steps off the
undo stack: undoing them would overwrite that save.

The columns always fill the list's width (``widgets.ColumnFitter``); a search that
finds nothing, or a practice with no clients yet, says so in the list's place
(``EmptyList``) instead of showing an empty grid, and an empty practice offers
its first New client there.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import NamedTuple

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QContextMenuEvent,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionComboBox,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.clients import ClientsController, StatusFilter
from desktop.controllers.errors import CaseloadError, NotSignedIn
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.roster import (
    Column,
    FirstScreen,
    Kind,
    Roster,
    RosterData,
    release_free_memory,
)
from desktop.domain.models import ClientStatus
from desktop.domain.search import display_name
from desktop.ui import activity
from desktop.ui.operation import Outcome, attempt, in_background, lower_priority, when_resolved
from desktop.ui.roster_model import SCREENFUL, IdRole, KindRole, RosterModel
from desktop.ui.widgets import ColumnFitter, ask_portal_switch_off

STATUS_CHOICES = ("Active", "Inactive")


def isolate(text: str) -> str:
    """User text set apart from the sentence around it (Unicode first-strong isolate … pop).

    Without it an Arabic or Hebrew search term pulls the numbers and quotes
    beside it into its own right-to-left order, and the sentence reads scrambled.
    """
    return f"\u2068{text}\u2069"


ROW_HEIGHT = 26
PREPARE_ORDERS_AFTER_MS = 1000
# The orders prepared ahead of a click wait before each column while the list had a gesture
# within ORDERS_YIELD_AFTER_S, for at most ORDERS_YIELD_MAX_S at a time.
ORDERS_YIELD_AFTER_S = 1.0
ORDERS_YIELD_MAX_S = 10.0
# How the columns share the list's width until the person resizes one, and how
# narrow each may get when the window is made smaller (below the sum of these
# the list scrolls sideways instead of cutting columns off).
COLUMN_WEIGHTS: dict[int, int] = {
    Column.NAME: 250, Column.TYPE: 75, Column.STATUS: 105, Column.DATE_OF_BIRTH: 100,
    Column.PHONE: 140, Column.EMAIL: 250, Column.CLINICIAN: 170}
COLUMN_MINIMUMS: dict[int, int] = {
    Column.NAME: 150, Column.TYPE: 64, Column.STATUS: 96, Column.DATE_OF_BIRTH: 92,
    Column.PHONE: 120, Column.EMAIL: 150, Column.CLINICIAN: 110}


class RosterTable(QTableView):
    """The list's table; a right-click (or the Menu key) asks for the row's menu."""

    menuRequested = Signal(QModelIndex, QPoint)  # the row's index, where to open (global)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            index = self.indexAt(self.viewport().mapFromGlobal(event.globalPos()))
            where = event.globalPos()
        else:  # the keyboard: the current row, not wherever the mouse happens to be
            index = self.currentIndex()
            where = self.viewport().mapToGlobal(self.visualRect(index).center())
        if index.isValid():
            self.menuRequested.emit(index, where)
            event.accept()


class EmptyList(QWidget):
    """What the list area says when it shows no rows: why, and what would show some (another
    status, or in an empty practice a New client)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyList")
        self.message = QLabel()
        self.message.setObjectName("emptyMessage")
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # it quotes what was typed
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.message.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.message.setFont(font)
        self.show_other = QPushButton()
        self.show_other.setObjectName("showOtherStatus")
        self.show_other.hide()
        self.new_client = QPushButton("&New client…")
        self.new_client.setObjectName("emptyNewClient")
        self.new_client.setAccessibleName("New client")
        self.new_client.hide()
        self.buttons = QHBoxLayout()
        self.buttons.addStretch(1)
        self.buttons.addWidget(self.show_other)
        self.buttons.addWidget(self.new_client)
        self.buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.message)
        layout.addSpacing(8)
        layout.addLayout(self.buttons)
        layout.addStretch(3)

    def say(self, message: str, other: str | None = None, *, offer_new_client: bool = False) -> None:
        self.message.setText(message)
        self.setAccessibleName(message)
        self.show_other.setText(other or "")
        self.show_other.setVisible(bool(other))
        self.new_client.setVisible(offer_new_client)


def about(n: int) -> str:
    """A count still being made, to two significant figures: 'about 530,000'."""
    if n < 100:
        return f"{n:,}"
    digits = len(str(n)) - 2
    return f"{round(n, -digits):,}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


class StatusDelegate(QStyledItemDelegate):
    """Draws each client's status as a drop-down and edits it with a real one."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        if not index.flags() & Qt.ItemFlag.ItemIsEditable:
            super().paint(painter, option, index)
            return
        widget = option.widget  # type: ignore[attr-defined]
        style = widget.style() if widget else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget)
        box = QStyleOptionComboBox()
        box.rect = QRect(option.rect.adjusted(3, 2, -3, -2))  # type: ignore[attr-defined]
        box.state = QStyle.StateFlag.State_Enabled
        box.currentText = index.data() or ""
        box.palette = option.palette  # type: ignore[attr-defined]
        style.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, box, painter, widget)
        style.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, box, painter, widget)

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,
                     index: QModelIndex | QPersistentModelIndex) -> QWidget:
        combo = QComboBox(parent)
        combo.setObjectName("statusEditor")
        combo.setAccessibleName("Status")
        combo.addItems(STATUS_CHOICES)
        combo.activated.connect(lambda _i, c=combo: self._chosen(c))
        # Open the list at once (one click, as on the web); tied to the combo, so a
        # combo closed before the timer fires is simply skipped.
        QTimer.singleShot(0, combo, combo.showPopup)
        return combo

    def _chosen(self, combo: QComboBox) -> None:
        self.commitData.emit(combo)
        self.closeEditor.emit(combo, QStyledItemDelegate.EndEditHint.NoHint)

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        assert isinstance(editor, QComboBox)
        editor.setCurrentText(index.data() or "Active")

    def setModelData(self, editor: QWidget, model, index: QModelIndex | QPersistentModelIndex) -> None:  # type: ignore[no-untyped-def]
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)

    def updateEditorGeometry(self, editor: QWidget, option: QStyleOptionViewItem,
                             index: QModelIndex | QPersistentModelIndex) -> None:
        editor.setGeometry(option.rect)  # type: ignore[attr-defined]


class StatusStep(NamedTuple):
    """What one status change on the undo stack is, enough to put it back on a rebuilt stack."""

    client_id: int
    name: str
    old: ClientStatus
    new: ClientStatus
    portal_before: dict[str, bool] | None


class StatusChangeCommand(QUndoCommand):
    """One status change, made through the controller, undoable with Ctrl+Z.

    ``portal_before`` is the access that was on when the person answered the
    portal question "switch it off" (docs/rules.md, "Status"): the change switches
    access off with the status, in one transaction, and undoing it restores it.
    """

    def __init__(self, page: ClientsPage, step: StatusStep) -> None:
        super().__init__(f"mark {isolate(step.name)} {step.new.value}")
        self.page, self.step = page, step
        self.pushed = False  # its first redo is the change itself, not a step taken again

    @property
    def client_id(self) -> int:
        return self.step.client_id

    def redo(self) -> None:
        if self.page.rebuilding_undo:
            return  # put back on a rebuilt stack: already done
        step, again = self.step, self.pushed
        self.pushed = True
        with self.page.running_step():
            if not self.page.change_status(step.client_id, step.new, step=self.text() if again else None,
                                           disable_portal=step.portal_before is not None):
                self.setObsolete(True)

    def undo(self) -> None:
        if self.page.rebuilding_undo:
            return
        step = self.step
        with self.page.running_step():
            if not self.page.change_status(step.client_id, step.old, step=self.text(),
                                           restore_portal=step.portal_before):
                self.setObsolete(True)


# Orders are made on Python threads and handed back through futures (``operation.when_resolved``):
# no Qt object is touched off the window's thread. A head start waits behind the person's work;
# an order a person waits for has threads of its own, at the window's priority.
_HEAD_STARTS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caseload-orders")
_WAITED_SORTS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="caseload-sort")


class _PrepareOrders:
    """Sorts ``columns`` (every column) off the window's thread: after a load, so a header click
    finds them ready, or while a click waits for one. Returns the roster's generation and the
    orders made (-1 and none if it failed)."""

    def __init__(self, roster: Roster, columns: tuple[Column, ...] = tuple(Column), *,
                 waited_for: bool = False) -> None:
        self.roster = roster
        self.columns = columns
        self.waited_for = waited_for

    def __call__(self) -> tuple[int, dict[Column, object]]:
        if not self.waited_for:  # (a person waits for the other: not lowered)
            lower_priority()  # keystrokes come first
        # A head start gives way to the person: a column's order holds the interpreter now and
        # then for a few milliseconds, which a keystroke would wait for.
        pause = None if self.waited_for else _while_the_list_is_busy
        try:
            return self.roster.compute_orders(self.columns, pause)  # type: ignore[return-value]
        except Exception:  # noqa: BLE001  (only a head start: a click sorts on the spot)
            return -1, {}
        finally:
            if self.waited_for:
                activity.waiting(False)  # begun with the job (ClientsPage._begin_sort)


def _while_the_list_is_busy() -> None:
    """Wait while someone types, sorts or filters in the list (at most ``ORDERS_YIELD_MAX_S``)."""
    waited = 0.0
    while activity.busy(ORDERS_YIELD_AFTER_S) and waited < ORDERS_YIELD_MAX_S:
        time.sleep(0.05)
        waited += 0.05


class Row(NamedTuple):
    """The list's current row, as the window's Client menu needs it."""

    kind: str  # "client" or "contact"
    id: int
    clinician_id: int | None
    status: ClientStatus | None  # None for a contact
    name: str


class ClientsPage(QWidget):
    """Search box, Client status filter with Apply, and the table."""

    openRequested = Signal(str, int)  # kind ("client"/"contact"), id
    countsChanged = Signal(str)
    sessionEnded = Signal(str)  # the practice refused this person (deactivated, role changed): why
    loaded = Signal()
    loadSettled = Signal()  # a background load is over, loaded or not
    firstRowsShown = Signal()  # the first screen of a list still being read is shown
    newClientRequested = Signal()  # the empty practice's New client button
    statusApplied = Signal(str)  # the Client status filter now applied (a StatusFilter value)
    currentRowChanged = Signal()  # another row is current, or the current row's data changed

    def __init__(self, clients: ClientsController, roster: Roster, actor: Actor,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clients = clients
        self.roster = roster
        self.actor = actor
        self.undo_stack = QUndoStack(self)
        self.rebuilding_undo = False
        self._running_steps = 0
        self._drop_after_step: set[int] = set()
        self._loading = False
        self._loaded = False
        self._loads = 0  # background loads begun: a first screen belongs to the latest only
        self._sorting: set[Column] = set()  # orders being made (or about to be) for a waiting sort
        self._first_wanted: FirstScreen | None = None  # what the latest load's first screen shows
        self._refresh_after_load = False
        self._reload_after_load = False
        # When the list was last known to match the database (a read, or the change watcher
        # finding nothing new); ``_behind``: a refresh failed since, so it is not known now.
        self.read_at: dt.datetime | None = None
        self._behind = False
        self._other_status: StatusFilter | None = None
        self.model = RosterModel(roster, self)
        self.model.statusChangeRequested.connect(self._status_requested)
        self.model.answerCompleted.connect(self._shown_changed)
        self.model.sortWaiting.connect(self._sort_elsewhere)
        self.model.chosen_rows = self._chosen_rows

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setAccessibleName("Search clients and contacts")
        self.search.setPlaceholderText("Search by name, email, phone or date of birth  (Ctrl+F)")
        self.search.setToolTip("Type any part of a name, email, phone or date of birth; Esc clears.\n"
                               "In the list, double-click a name or press Enter to open the profile.")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search_changed)
        self.search.installEventFilter(self)

        self.status_filter = QComboBox()
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.setAccessibleName("Client status")
        for label, value in (("Active", StatusFilter.ACTIVE), ("Inactive", StatusFilter.INACTIVE),
                             ("All", StatusFilter.ALL)):
            self.status_filter.addItem(label, value)
        self.status_filter.currentIndexChanged.connect(self._filter_choice_changed)
        self.status_filter.installEventFilter(self)  # Enter applies the choice
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("applyFilter")
        self.apply_button.setAccessibleName("Apply client status filter")
        self.apply_button.clicked.connect(self.apply_status_filter)
        self.not_applied = QLabel("Not applied")
        self.not_applied.setObjectName("filterNotApplied")
        self.not_applied.setToolTip("The list still shows the status it showed before: press Apply.")
        italic = self.not_applied.font()
        italic.setItalic(True)
        self.not_applied.setFont(italic)
        keep_room = self.not_applied.sizePolicy()
        keep_room.setRetainSizeWhenHidden(True)  # appearing must not push the search box about
        self.not_applied.setSizePolicy(keep_room)
        self.not_applied.hide()
        status_label = QLabel("Client &status:")
        status_label.setBuddy(self.status_filter)

        self.table = RosterTable()
        self.table.setObjectName("clientsTable")
        self.table.setAccessibleName("Clients and contacts")
        self.table.setAccessibleDescription("Enter or double-click opens the profile; "
                                            "the Menu key or a right-click shows more.")
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(Column.STATUS, StatusDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(Column.NAME, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)  # "…"; the tooltip has it all
        self.table.setTabKeyNavigation(False)
        vertical = self.table.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(ROW_HEIGHT)
        self.table.horizontalHeader().setHighlightSections(False)
        self.columns = ColumnFitter(self.table, COLUMN_WEIGHTS, COLUMN_MINIMUMS)
        self.table.clicked.connect(self._clicked)
        self.table.activated.connect(self._activated)
        self.table.menuRequested.connect(self._row_menu)
        self.row_menu: QMenu | None = None

        self.empty = EmptyList()
        self.empty.show_other.clicked.connect(self._show_other_status)
        self.empty.new_client.clicked.connect(self.newClientRequested)
        selection = self.table.selectionModel()
        selection.currentRowChanged.connect(self.currentRowChanged)
        selection.selectionChanged.connect(self.currentRowChanged)
        self.model.layoutChanged.connect(self.currentRowChanged)
        self.model.modelReset.connect(self.currentRowChanged)
        self.list_area = QStackedWidget()
        self.list_area.setObjectName("listArea")
        self.list_area.addWidget(self.table)
        self.list_area.addWidget(self.empty)

        self.as_of = QLabel()
        self.as_of.setObjectName("listAsOf")
        self.as_of.setTextFormat(Qt.TextFormat.PlainText)
        self.as_of.setWordWrap(True)
        self.as_of.setStyleSheet("QLabel#listAsOf { color: #5c3b00; font-style: italic; padding: 2px 0; }")
        self.as_of.hide()

        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addSpacing(12)
        bar.addWidget(status_label)
        bar.addWidget(self.status_filter)
        bar.addWidget(self.apply_button)
        bar.addWidget(self.not_applied)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.addLayout(bar)
        layout.addWidget(self.as_of)
        layout.addWidget(self.list_area, 1)

        # Ctrl+F is the window's Edit ▸ Find, which calls focus_search.
        self.setTabOrder(self.search, self.status_filter)
        self.setTabOrder(self.status_filter, self.apply_button)
        self.setTabOrder(self.apply_button, self.table)
        self.setTabOrder(self.table, self.empty.show_other)
        self.setTabOrder(self.empty.show_other, self.empty.new_client)

    # ------------------------------------------------------------ gestures

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) \
                and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier):
            if watched is self.search and event.key() == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
                return True
            if watched is self.status_filter and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.apply_status_filter()
                return True
        return super().eventFilter(watched, event)

    def _search_changed(self, text: str) -> None:
        activity.mark()
        self.model.set_filter(query=text)
        self._shown_changed()

    def apply_status_filter(self) -> None:
        activity.mark()
        self.model.set_filter(status=self.status_filter.currentData())
        self._filter_choice_changed()
        self._shown_changed()
        self.statusApplied.emit(self.model.status_filter.value)

    def show_status(self, status: StatusFilter) -> None:
        """Choose ``status`` in the Client status filter and apply it."""
        self.status_filter.setCurrentIndex(max(0, self.status_filter.findData(status)))
        self.apply_status_filter()

    def _filter_choice_changed(self) -> None:
        """A choice not applied yet: say so, and make Apply the button Enter presses."""
        pending = self.status_filter.currentData() != self.model.status_filter
        self.not_applied.setVisible(pending)
        self.apply_button.setDefault(pending)
        font = self.apply_button.font()
        font.setBold(pending)
        self.apply_button.setFont(font)
        self.apply_button.setAccessibleDescription(
            "The chosen status is not applied yet." if pending else "")

    def _show_other_status(self) -> None:
        if self._other_status is not None:
            self.show_status(self._other_status)

    def _clicked(self, index: QModelIndex) -> None:
        if index.column() == Column.STATUS and index.flags() & Qt.ItemFlag.ItemIsEditable:
            self.table.edit(index)

    def _activated(self, index: QModelIndex) -> None:
        """Enter, or a double-click (the platform's activation), opens the row's profile."""
        if index.column() == Column.STATUS and index.flags() & Qt.ItemFlag.ItemIsEditable \
                and QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return
        self.open_row(index)

    def open_row(self, index: QModelIndex | QPersistentModelIndex) -> None:
        if index.isValid():
            self.openRequested.emit(index.data(KindRole), index.data(IdRole))

    def current_row(self) -> Row | None:
        """The row the Client menu acts on: the current one, if it is selected and shown."""
        if self.list_area.currentWidget() is not self.table:
            return None
        index = self.table.currentIndex()
        if not index.isValid() or not self.table.selectionModel().isRowSelected(index.row(), QModelIndex()):
            return None
        kind, record_id = index.data(KindRole), index.data(IdRole)
        slot = self.roster.slot_of(Kind.CLIENT if kind == "client" else Kind.CONTACT, record_id)
        if slot is None:
            return None
        return Row(kind, record_id, self.roster.clinician_ids[slot], self.roster.status(slot),
                   display_name(self.roster.first[slot], self.roster.last[slot]))

    def select_record(self, kind: str, record_id: int) -> bool:
        """Make ``record_id`` the current, selected row and give the list the focus, so Enter
        opens it. A search or status that hides it is cleared first. False if it is not listed."""
        slot = self.roster.slot_of(Kind.CLIENT if kind == "client" else Kind.CONTACT, record_id)
        if slot is None:
            return False
        row = self.model.row_of(slot)
        if row is None and not self.model.complete and self.roster.shows(
                slot, self.model.status_filter, self.model.query):
            self.model.apply(whole=True)  # listed, but not among the first rows found yet
            row = self.model.row_of(slot)
        if row is None and self.search.text():
            self.search.clear()
            row = self.model.row_of(slot)
        if row is None:
            inactive = self.roster.status(slot) is ClientStatus.INACTIVE
            self.show_status(StatusFilter.INACTIVE if inactive else StatusFilter.ACTIVE)
            row = self.model.row_of(slot)
        if row is None:
            return False
        index = self.model.index(row, Column.NAME)
        self.table.setCurrentIndex(index)  # selects the row (SelectRows)
        self.table.scrollTo(index)
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        return True

    def shown_table(self) -> tuple[list[str], list[list[str]]]:
        """The list as it is shown now: its columns in their order, its rows in theirs."""
        header = self.table.horizontalHeader()
        columns = [c for c in (header.logicalIndex(v) for v in range(header.count()))
                   if not header.isSectionHidden(c)]
        model, roster = self.model, self.roster
        titles = [str(model.headerData(c, Qt.Orientation.Horizontal)) for c in columns]
        # The model's own rows (the same cached answer it holds), rendered as its cells render,
        # without a Qt call per cell: 100,000 rows take a fraction of a second.
        slots = roster.filter(model.status_filter, model.query, model.sort_column, model.descending)
        shown = [Column(c) for c in columns]
        rows = [[roster.text(slot, column) for column in shown] for slot in slots]
        return titles, rows

    def _row_menu(self, index: QModelIndex, where: QPoint) -> None:
        row = QPersistentModelIndex(index)
        menu = QMenu(self.table)
        menu.setObjectName("rowMenu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        open_profile = menu.addAction("&Open profile")
        open_profile.setObjectName("openProfile")
        open_profile.setShortcut(QKeySequence(Qt.Key.Key_Return))  # shown beside it, as a hint
        open_profile.setShortcutVisibleInContextMenu(True)
        open_profile.triggered.connect(lambda: self.open_row(row))
        menu.setDefaultAction(open_profile)
        self.row_menu = menu
        menu.destroyed.connect(lambda *_a: setattr(self, "row_menu", None))
        menu.popup(where)
        menu.setActiveAction(open_profile)  # Enter opens, as on the row itself

    # ------------------------------------------------------------- status

    def _status_requested(self, client_id: int, value: str) -> None:
        """A Status drop-down choice. It arrives inside the editor's commit, so act only
        once the editor is closed: a question asked from here would outlive its editor."""
        QTimer.singleShot(0, self, lambda: self._change_chosen(client_id, ClientStatus(value)))

    def _change_chosen(self, client_id: int, new: ClientStatus) -> None:
        self.change_status_asking(client_id, new)

    def change_status_asking(self, client_id: int, new: ClientStatus) -> None:
        """Make a client Active or Inactive as the Status drop-down does: the portal question
        first when access is on, then one step on the undo stack."""
        slot = self.roster.slot_of(Kind.CLIENT, client_id)
        if slot is None:
            return
        old = self.roster.status(slot)
        if old is None or old is new:
            return
        portal_before = None
        if new is ClientStatus.INACTIVE:
            portal = self._portal(client_id)
            if portal is not None and (portal["portal_enabled"] or portal["messaging_enabled"]):
                answer = ask_portal_switch_off(self, portal, before_save=True)
                if answer is None:
                    return  # Cancel: nothing was changed
                if answer:
                    portal_before = portal
        if self.roster.slot_of(Kind.CLIENT, client_id) is None:
            return  # deleted elsewhere while the question was open
        name = display_name(self.roster.first[slot], self.roster.last[slot])
        self.undo_stack.push(StatusChangeCommand(self, StatusStep(client_id, name, old, new, portal_before)))

    def _portal(self, client_id: int) -> dict[str, bool] | None:
        read = attempt(self, "Portal access not read",
                       lambda: self.clients.portal_access(self.actor, client_id),
                       report=lambda _message: None)  # the status change itself will say what is wrong
        return read.value if read else None

    def change_status(self, client_id: int, status: ClientStatus, *, step: str | None = None,
                      disable_portal: bool = False, restore_portal: dict[str, bool] | None = None) -> bool:
        """Ask the controller; on success update the list, on refusal say why. True if changed.

        ``step``: the undo step being taken again, if it is one (a refusal then
        says the step was dropped; the stack drops it).
        """
        slot = self.roster.slot_of(Kind.CLIENT, client_id)
        known = self.roster.versions[slot] if slot is not None else None

        def explain(_error: CaseloadError) -> str:
            return (f"“{step}” was taken off the undo list, so it cannot overwrite that save."
                    if step else "")

        changed = attempt(self, "Status not changed", lambda: self.clients.set_status(
            self.actor, client_id, status, expected_version=known, disable_portal=disable_portal),
            reload=self.refresh_from_database,  # Reload shows what the other person saved
            explain=explain if step else None)
        if not changed or changed.value is None:
            return False
        self.roster.set_client_status(client_id, status, changed.value)
        self.model.apply()
        self._shown_changed()
        if restore_portal is not None:
            title = "Portal access not restored"
            attempt(self, title, lambda: self.clients.set_portal_access(
                self.actor, client_id, portal=restore_portal["portal_enabled"],
                messaging=restore_portal["messaging_enabled"]),
                report=lambda message: QMessageBox.warning(
                    self, title, f"The status was changed back, but portal access was not: {message}"))
        return True

    # ----------------------------------------------------------- undo stack

    class _RunningStep:
        def __init__(self, page: ClientsPage) -> None:
            self.page = page

        def __enter__(self) -> None:
            self.page._running_steps += 1

        def __exit__(self, *_exc: object) -> None:
            page = self.page
            page._running_steps -= 1
            if not page._running_steps and page._drop_after_step:
                # After the undo stack has finished with the step (this is still inside it).
                QTimer.singleShot(0, page, page._drop_postponed)

    def running_step(self) -> ClientsPage._RunningStep:
        """While an undo step runs (and any question it asks is open), the stack is not rebuilt."""
        return ClientsPage._RunningStep(self)

    def _steps(self) -> list[tuple[bool, StatusStep]]:
        """Every step on the undo stack, oldest first, with whether it is done (else undone)."""
        stack = self.undo_stack
        steps = []
        for i in range(stack.count()):
            command = stack.command(i)
            if isinstance(command, StatusChangeCommand):
                steps.append((i < stack.index(), command.step))
        return steps

    def _known_states(self) -> dict[int, tuple[int, int] | None]:
        """The version and state the list holds for each client with a step on the stack."""
        known: dict[int, tuple[int, int] | None] = {}
        for _done, step in self._steps():
            slot = self.roster.slot_of(Kind.CLIENT, step.client_id)
            known[step.client_id] = (None if slot is None
                                     else (self.roster.versions[slot], self.roster.state[slot]))
        return known

    def _drop_stale_steps(self, known: dict[int, tuple[int, int] | None]) -> None:
        """Take off the undo stack the steps of clients saved since by anyone but this stack.

        This stack's own changes reach the list at once (``change_status``), so a
        version that moved in a refresh was another save: the profile's edit
        dialog, another workstation, the duplicates window. Undoing a step of
        that client would overwrite it (or be refused as stale), so it goes.
        """
        now = self._known_states()
        stale = {cid for cid, was in known.items() if was != now.get(cid)}
        if stale:
            self.drop_steps_of(stale)

    def drop_steps_of(self, client_ids: Iterable[int]) -> None:
        """Rebuild the undo stack without the steps of ``client_ids`` (nothing is changed by it)."""
        ids = set(client_ids)
        if self._running_steps:  # the stack is inside a step: rebuild it once the step is over
            self._drop_after_step |= ids
            return
        steps = self._steps()
        kept = [(done, step) for done, step in steps if step.client_id not in ids]
        if len(kept) == len(steps):
            return
        stack = self.undo_stack
        self.rebuilding_undo = True
        try:
            stack.clear()
            for _done, step in kept:
                command = StatusChangeCommand(self, step)
                command.pushed = True
                stack.push(command)
            stack.setIndex(sum(1 for done, _step in kept if done))
        finally:
            self.rebuilding_undo = False

    def _drop_postponed(self) -> None:
        ids, self._drop_after_step = self._drop_after_step, set()
        if ids:
            self.drop_steps_of(ids)

    # -------------------------------------------------------------- state

    def reload(self) -> None:
        """Read the whole roster now, on this thread."""
        known = self._known_states()
        chosen = self._chosen_records() if self._loaded else None
        data = self.roster.fetch()  # a refusal leaves the list as it was
        self.model.forget_rows()
        self.roster.install(data)
        self._installed()
        if chosen is not None:
            self._choose_records(*chosen)
        self._drop_stale_steps(known)

    def load_in_background(self, *, quietly: bool = False) -> None:
        """Read the roster off the GUI thread; the window stays responsive meanwhile.

        ``quietly``: the list already shows rows and keeps them (and its counts) until the new
        ones are in."""
        if not quietly:
            self.countsChanged.emit("Loading clients…")
        self._loading = True
        self._loads += 1
        fetch = self.roster.fetch
        if not self._loaded and not quietly and self.model.sort_column is Column.NAME \
                and not self.model.query.strip():
            # A big practice takes seconds to read: its first screen is shown as soon as the
            # name order is known (docs/rules.md, "Lists").
            # Handed over through a future, not a signal: the fetch's thread must not touch a
            # Qt object of a page that may be closed meanwhile.
            first_rows: Future[RosterData | None] = Future()
            wanted = FirstScreen(self.model.status_filter, self.model.descending, SCREENFUL,
                                 first_rows.set_result)
            self._first_wanted = wanted
            when_resolved(self, first_rows, partial(self._first_rows_arrived, self._loads))
            fetch = partial(fetch, wanted)
        # On a pool thread, with its own database session; a refusal is said where the counts go.
        in_background(self, "The list could not be loaded", fetch, self._fetched,
                      report=self.countsChanged.emit)

    def _first_rows_arrived(self, load: int, outcome: Outcome[RosterData | None]) -> None:
        data = outcome.value
        if data is None or load != self._loads or not self._loading or self._loaded \
                or self._first_wanted is None:
            return  # none to show, the whole list is in already, or another load began
        rows = Roster(self.roster.db, self.actor)
        rows.install(data)
        wanted = self._first_wanted  # the view they were read for, whatever is chosen since
        self.model.show_first_rows(rows, wanted.status, wanted.descending)
        self._shown_changed()
        self.firstRowsShown.emit()

    def reload_everything(self) -> None:
        """Read the whole list again, in the background, keeping it readable, its selection and
        its scroll meanwhile: after the practice server was out of reach, when notifications of
        changes were lost and the server may even have come back as it was earlier (a restored
        backup), which a look for what changed since the last change number would miss."""
        if self._loading:
            self._reload_after_load = True  # the load under way may have started before
            return
        self.load_in_background(quietly=self._loaded)

    def confirm_current(self, at: dt.datetime | None) -> None:
        """The change watcher heard from the server at ``at`` with no change waiting: the list
        matched the database then (unless a refresh failed since, or a load is under way)."""
        if at is not None and self._loaded and not self._loading and not self._behind \
                and (self.read_at is None or at > self.read_at):
            self.read_at = at

    def show_data_as_of(self, at: dt.datetime | None) -> None:
        """Say above the list when its data was last known to be current (None: hide that)."""
        from desktop.ui.connection_banner import local_clock

        if at is None:
            self.as_of.hide()
            return
        text = (f"The list shows the practice as it was at {local_clock(at)}; it is not updated "
                "while the practice server cannot be reached.")
        if self.as_of.text() != text:
            self.as_of.setText(text)
        self.as_of.show()

    @property
    def loaded_whole(self) -> bool:
        """Whether the list holds every row it may show (not nothing, nor a load's first rows)."""
        return self._loaded and not self.model.first_rows_only

    @property
    def loading(self) -> bool:
        """Whether a background load is under way."""
        return self._loading

    def _fetched(self, outcome: Outcome[RosterData]) -> None:
        self._loading = False
        try:
            self._take(outcome)
        finally:
            self.loadSettled.emit()

    def _take(self, outcome: Outcome[RosterData]) -> None:
        if not outcome or outcome.value is None:
            if self.model.first_rows_only:
                self.model.forget_rows()  # the rest could not be read: no half a list
            if outcome.error is None:  # a bug, reported by the crash handler: never hang "Loading"
                self.countsChanged.emit("The list could not be loaded.")
            elif self._loaded:
                self._behind = True
                if self._reload_after_load:  # asked for after this load began: once more
                    self._reload_after_load = False
                    QTimer.singleShot(0, self, self.reload_everything)
            return
        known = self._known_states()
        # (Rows chosen among a load's first rows are chosen again in the whole list.)
        chosen = self._chosen_records() if self._loaded or self.model.first_rows_only else None
        scroll = self.table.verticalScrollBar().value()
        self.model.forget_rows()  # the old slots would name other rows of the new read
        self.roster.install(outcome.value)
        outcome.value = None  # the fetched rows: only the roster's columns are kept
        release_free_memory()
        self._installed()
        if chosen is not None:
            self._choose_records(*chosen)
            self.table.verticalScrollBar().setValue(scroll)
        self._drop_stale_steps(known)
        if self._reload_after_load:
            self._reload_after_load = self._refresh_after_load = False
            self.reload_everything()
        elif self._refresh_after_load:
            self._refresh_after_load = False
            self.refresh_from_database()

    def _chosen_rows(self) -> list[int]:
        """The current row and the selected ones (a thousand at most: a search keeps these)."""
        current = self.table.currentIndex()
        rows = [current.row()] if current.isValid() else []
        selection = self.table.selectionModel()
        if selection is not None and selection.hasSelection():
            ranges = selection.selection()
            spans = [(ranges.at(i).top(), ranges.at(i).bottom()) for i in range(ranges.count())]
            if sum(bottom - top + 1 for top, bottom in spans) <= 1000:
                rows += [row for top, bottom in spans for row in range(top, bottom + 1)]
        return rows

    def _chosen_records(self) -> tuple[tuple[str, int] | None, list[tuple[str, int]]]:
        """The current and the selected rows' records, to find again after the rows are replaced."""
        index = self.table.currentIndex()
        current = (index.data(KindRole), index.data(IdRole)) if index.isValid() else None
        rows = self.table.selectionModel().selectedRows(Column.NAME)
        return current, [(i.data(KindRole), i.data(IdRole)) for i in rows]

    def _choose_records(self, current: tuple[str, int] | None, chosen: list[tuple[str, int]]) -> None:
        """Select ``chosen`` and make ``current`` current again, where they are still listed."""
        def row_of(kind: str, record_id: int) -> int | None:
            slot = self.roster.slot_of(Kind.CLIENT if kind == "client" else Kind.CONTACT, record_id)
            return None if slot is None else self.model.row_of(slot)

        if not self.model.complete and (chosen or current is not None):
            self.model.apply(whole=True)  # a chosen row may lie beyond the first rows found
        last = self.model.columnCount() - 1
        selection = QItemSelection()
        for kind, record_id in chosen[:1000]:  # more would only take time to find again
            row = row_of(kind, record_id)
            if row is not None:
                selection.select(self.model.index(row, 0), self.model.index(row, last))
        model = self.table.selectionModel()
        model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        row = row_of(*current) if current is not None else None
        if row is not None:
            model.setCurrentIndex(self.model.index(row, Column.NAME), QItemSelectionModel.SelectionFlag.NoUpdate)
        else:
            model.clearCurrentIndex()

    def _installed(self) -> None:
        waiting = self.model.waiting_sort
        if waiting is not None and not self.roster.has_order(waiting[0]):
            # Still waited for, on the new rows: made elsewhere, not here (an order being made
            # for the rows before is made again when it comes: ``_sorted_elsewhere``).
            self._sort_elsewhere(int(waiting[0]))
        self._loaded = True
        self.read_at, self._behind = dt.datetime.now().astimezone(), False
        self.as_of.hide()
        self.model.apply()
        self._shown_changed()
        self.loaded.emit()
        # After the rows are on screen: the sorting holds the GIL for a while.
        QTimer.singleShot(PREPARE_ORDERS_AFTER_MS, self, self._prepare_orders)

    def _prepare_orders(self) -> None:
        when_resolved(self, _HEAD_STARTS.submit(_PrepareOrders(self.roster)), self._orders_ready)

    def _orders_ready(self, outcome: Outcome[tuple[int, dict]]) -> None:  # type: ignore[type-arg]
        if outcome.value is None:
            return  # a bug, which the crash handler reports
        self.roster.adopt_orders(*outcome.value)
        release_free_memory()
        self._sort_ready()

    def _sort_elsewhere(self, column: int) -> None:
        """A header click waits for its column's order: made on a pool thread, the window
        answering meanwhile (the rows keep their order until it is made)."""
        self._shown_changed()
        wanted = Column(column)
        if wanted in self._sorting:
            return  # already being made, or about to be
        self._sorting.add(wanted)
        # Threads of its own: the others may all be busy with work that waits (the head start
        # above, billing), and the person waits for this: that work waits until it is made,
        # as while someone types.
        # Begun once the click is painted: the order's first steps hold the interpreter for tens
        # of milliseconds (a million values into an array), which the paint would wait for.
        QTimer.singleShot(0, self, partial(self._begin_sort, wanted))

    def _begin_sort(self, wanted: Column) -> None:
        waiting = self.model.waiting_sort
        if waiting is None or waiting[0] is not wanted or self.roster.has_order(wanted):
            self._sorting.discard(wanted)  # no longer waited for
            return
        activity.waiting(True)  # ended by the job, however it ends
        job = _WAITED_SORTS.submit(_PrepareOrders(self.roster, (wanted,), waited_for=True))
        when_resolved(self, job, partial(self._sorted_elsewhere, int(wanted)))

    def _sorted_elsewhere(self, column: int, outcome: Outcome[tuple[int, dict]]) -> None:  # type: ignore[type-arg]
        made = Column(column)
        self._sorting.discard(made)
        generation, orders = outcome.value if outcome.value is not None else (-1, {})
        self.roster.adopt_orders(generation, orders)
        waiting = self.model.waiting_sort
        if waiting is not None and waiting[0] is made and not self.roster.has_order(made):
            if generation >= 0:  # made for rows that changed meanwhile: made again for these
                self._sort_elsewhere(column)
                return
            self.model.sort_ready(anyway=True)  # it failed: sorted here, as a small list is
            self._shown_changed()
            return
        self._sort_ready()

    def _sort_ready(self) -> None:
        if self.model.waiting_sort is not None and self.roster.has_order(self.model.waiting_sort[0]):
            self.model.sort_ready()
            self._shown_changed()

    def refresh_from_database(self) -> bool:
        """Pick up others' changes, keeping the selection and the scroll position."""
        if self._loading:
            self._refresh_after_load = True  # the load's snapshot may predate this change
            return False
        scroll = self.table.verticalScrollBar().value()
        known = self._known_states()
        refreshed = attempt(self, "The list could not be refreshed", self.roster.refresh,
                            report=self.countsChanged.emit)
        if isinstance(refreshed.error, NotSignedIn):
            self.sessionEnded.emit(str(refreshed.error))
            return False
        if not refreshed:
            self._behind = True  # until a read succeeds, the list is not known to be current
            return False
        self.read_at, self._behind = dt.datetime.now().astimezone(), False
        changed = bool(refreshed.value)
        if changed:
            self.model.apply()
            self.table.verticalScrollBar().setValue(scroll)
            self._shown_changed()
            self._drop_stale_steps(known)
        return changed

    def summary(self) -> str:
        if self._loading and not self._loaded:
            return "Loading the rest of the clients…" if self.model.first_rows_only else "Loading clients…"
        active, inactive, contacts = self.roster.counts()
        shown, exact = self.model.shown()
        parts = [_count(active, "active client", "active clients"), f"{inactive:,} inactive",
                 _count(contacts, "contact", "contacts")]
        query = self.model.query.strip()
        if self.model.waiting_sort is not None:
            prefix = f"Sorting by {self.model.waiting_sort[0].title}…"
        elif shown is None:
            prefix = "Searching" + (f" for “{isolate(query)}”" if query else "") + "…"
        else:
            prefix = (f"{shown:,}" if exact else f"about {about(shown)}") + " shown" + (
                f" for “{isolate(query)}”" if query else "")
        scope = "" if self.actor.can(Action.SEE_CLIENTS, None) else " · your clients only"
        return f"{prefix} · " + " · ".join(parts) + scope

    def _shown_changed(self) -> None:
        self.countsChanged.emit(self.summary())
        self._update_list_area()

    # ----------------------------------------------------------- empty list

    def _update_list_area(self) -> None:
        """The table when it has rows (or is still loading); otherwise a sentence saying why not."""
        if self.model.rowCount() or not self._loaded or not self.model.complete:
            # (a search still being made may have found nothing yet: no "no matches" until done)
            self._other_status = None
            self.list_area.setCurrentWidget(self.table)
            return
        active, inactive, contacts = self.roster.counts()
        query = self.model.query.strip()
        status = self.model.status_filter
        other: str | None = None
        self._other_status = None
        offer_new_client = False
        if active + inactive + contacts == 0:
            message = ("There are no clients in this practice yet."
                       if self.actor.can(Action.SEE_CLIENTS, None)
                       else "No clients are assigned to you yet.")
            offer_new_client = self.actor.can(Action.EDIT_CLIENT, any_client=True)
        else:
            if query:
                message = f"No clients match “{isolate(query)}”."
            else:
                message = {StatusFilter.ACTIVE: "There are no active clients or contacts.",
                           StatusFilter.INACTIVE: "There are no inactive clients."}.get(
                               status, "There are no clients or contacts.")
            other_status = {StatusFilter.ACTIVE: StatusFilter.INACTIVE,
                            StatusFilter.INACTIVE: StatusFilter.ACTIVE}.get(status)
            if other_status is not None:
                other = self._other_status_offer(other_status, matching=bool(query))
                if other:
                    self._other_status = other_status
        self.empty.say(message, other, offer_new_client=offer_new_client)
        self.list_area.setCurrentWidget(self.empty)

    def _other_status_offer(self, status: StatusFilter, *, matching: bool) -> str | None:
        """"3 inactive clients match — show them", or None if ``status`` would show nothing either."""
        clients, contacts = self.model.matches_with(status)
        if not clients + contacts:
            return None
        adjective = "inactive" if status is StatusFilter.INACTIVE else "active"
        things = [_count(clients, f"{adjective} client", f"{adjective} clients")] if clients else []
        if contacts:
            things.append(_count(contacts, "contact", "contacts"))
        one = clients + contacts == 1
        verb = (" matches" if one else " match") if matching else ""
        return f"{' and '.join(things)}{verb} — show {'it' if one else 'them'}"
