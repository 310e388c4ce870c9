"""The Clients and contacts list: search as you type, Client status + Apply, Status in place.

This page owns the gestures; the roster (controllers) owns the data and the
rules; the model renders visible rows. A status change goes through an undo
command that calls the controller, so Ctrl+Z can take it back and a refusal
is shown and leaves the row as it was.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRunnable,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeySequence, QPainter, QShortcut, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionComboBox,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.clients import ClientsController, StatusFilter
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.roster import Column, Kind, Roster, RosterData
from desktop.domain.models import ClientStatus
from desktop.ui.operation import Outcome, attempt, in_background
from desktop.ui.roster_model import IdRole, KindRole, RosterModel
from desktop.ui.widgets import ask_portal_switch_off

STATUS_CHOICES = ("Active", "Inactive")


def release_free_memory() -> None:
    """Hand the heap freed by a big load back to the system (glibc only; elsewhere a no-op).

    Loading 100,000 rows leaves tens of megabytes of freed but fragmented heap
    behind; the list itself does not need them.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
ROW_HEIGHT = 26
PREPARE_ORDERS_AFTER_MS = 1000


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


class StatusChangeCommand(QUndoCommand):
    """One status change, made through the controller, undoable with Ctrl+Z.

    ``portal_off`` is the answer to the portal question asked before the change
    (docs/rules.md, "Status"): the change switches access off with the status, in
    one transaction, and undoing it restores the access that was on.
    """

    def __init__(self, page: ClientsPage, client_id: int, name: str, old: ClientStatus,
                 new: ClientStatus, *, portal_before: dict[str, bool] | None = None) -> None:
        super().__init__(f"mark {name} {new.value}")
        self.page, self.client_id, self.old, self.new = page, client_id, old, new
        self.portal_before = portal_before

    def redo(self) -> None:
        if not self.page.change_status(self.client_id, self.new,
                                       disable_portal=self.portal_before is not None):
            self.setObsolete(True)

    def undo(self) -> None:
        if not self.page.change_status(self.client_id, self.old, restore_portal=self.portal_before):
            self.setObsolete(True)


class _OrderSignals(QObject):
    done = Signal(int, object)


class _PrepareOrders(QRunnable):
    """Sorts every column on a pool thread after a load, so a header click finds it ready."""

    def __init__(self, roster: Roster) -> None:
        super().__init__()
        self.roster = roster
        self.signals = _OrderSignals()

    def run(self) -> None:
        generation, orders = self.roster.compute_orders()
        self.signals.done.emit(generation, orders)


class ClientsPage(QWidget):
    """Search box, Client status filter with Apply, and the table."""

    openRequested = Signal(str, int)  # kind ("client"/"contact"), id
    countsChanged = Signal(str)
    loaded = Signal()

    def __init__(self, clients: ClientsController, roster: Roster, actor: Actor,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clients = clients
        self.roster = roster
        self.actor = actor
        self.undo_stack = QUndoStack(self)
        self._loading = False
        self._refresh_after_load = False
        self.model = RosterModel(roster, self)
        self.model.statusChangeRequested.connect(self._status_requested)

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setAccessibleName("Search clients and contacts")
        self.search.setPlaceholderText("Search by name, email, phone or date of birth  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search_changed)

        self.status_filter = QComboBox()
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.setAccessibleName("Client status")
        for label, value in (("Active", StatusFilter.ACTIVE), ("Inactive", StatusFilter.INACTIVE),
                             ("All", StatusFilter.ALL)):
            self.status_filter.addItem(label, value)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("applyFilter")
        self.apply_button.setAccessibleName("Apply client status filter")
        self.apply_button.clicked.connect(self.apply_status_filter)
        status_label = QLabel("Client &status:")
        status_label.setBuddy(self.status_filter)

        self.table = QTableView()
        self.table.setObjectName("clientsTable")
        self.table.setAccessibleName("Clients and contacts")
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
        self.table.setTabKeyNavigation(False)
        vertical = self.table.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(ROW_HEIGHT)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        for column, width in ((Column.NAME, 260), (Column.TYPE, 80), (Column.STATUS, 110),
                              (Column.DATE_OF_BIRTH, 110), (Column.PHONE, 140), (Column.EMAIL, 280)):
            header.resizeSection(column, width)
        self.table.clicked.connect(self._clicked)
        self.table.activated.connect(self._activated)

        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addSpacing(12)
        bar.addWidget(status_label)
        bar.addWidget(self.status_filter)
        bar.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

        QShortcut(QKeySequence.StandardKey.Find, self, self.focus_search)
        self.setTabOrder(self.search, self.status_filter)
        self.setTabOrder(self.status_filter, self.apply_button)
        self.setTabOrder(self.apply_button, self.table)

    # ------------------------------------------------------------ gestures

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _search_changed(self, text: str) -> None:
        self.model.set_filter(query=text)
        self._shown_changed()

    def apply_status_filter(self) -> None:
        self.model.set_filter(status=self.status_filter.currentData())
        self._shown_changed()

    def _clicked(self, index: QModelIndex) -> None:
        if index.column() == Column.STATUS and index.flags() & Qt.ItemFlag.ItemIsEditable:
            self.table.edit(index)

    def _activated(self, index: QModelIndex) -> None:
        if index.column() == Column.STATUS and index.flags() & Qt.ItemFlag.ItemIsEditable \
                and QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return
        self.openRequested.emit(index.data(KindRole), index.data(IdRole))

    # ------------------------------------------------------------- status

    def _status_requested(self, client_id: int, value: str) -> None:
        """A Status drop-down choice. It arrives inside the editor's commit, so act only
        once the editor is closed: a question asked from here would outlive its editor."""
        QTimer.singleShot(0, self, lambda: self._change_chosen(client_id, ClientStatus(value)))

    def _change_chosen(self, client_id: int, new: ClientStatus) -> None:
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
        name = f"{self.roster.first[slot]} {self.roster.last[slot]}"
        self.undo_stack.push(StatusChangeCommand(self, client_id, name, old, new,
                                                 portal_before=portal_before))

    def _portal(self, client_id: int) -> dict[str, bool] | None:
        read = attempt(self, "Portal access not read",
                       lambda: self.clients.portal_access(self.actor, client_id),
                       report=lambda _message: None)  # the status change itself will say what is wrong
        return read.value if read else None

    def change_status(self, client_id: int, status: ClientStatus, *, disable_portal: bool = False,
                      restore_portal: dict[str, bool] | None = None) -> bool:
        """Ask the controller; on success update the list, on refusal say why. True if changed."""
        slot = self.roster.slot_of(Kind.CLIENT, client_id)
        known = self.roster.versions[slot] if slot is not None else None
        changed = attempt(self, "Status not changed", lambda: self.clients.set_status(
            self.actor, client_id, status, expected_version=known, disable_portal=disable_portal),
            reload=self.refresh_from_database)  # Reload shows what the other person saved
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

    # -------------------------------------------------------------- state

    def reload(self) -> None:
        """Read the whole roster now, on this thread."""
        self.roster.load()
        self._installed()

    def load_in_background(self) -> None:
        """Read the roster off the GUI thread; the window stays responsive meanwhile."""
        self.countsChanged.emit("Loading clients…")
        self._loading = True
        # On a pool thread, with its own database session; a refusal is said where the counts go.
        in_background(self, "The list could not be loaded", self.roster.fetch, self._fetched,
                      report=self.countsChanged.emit)

    def _fetched(self, outcome: Outcome[RosterData]) -> None:
        self._loading = False
        if not outcome or outcome.value is None:
            if outcome.error is None:  # a bug, reported by the crash handler: never hang "Loading"
                self.countsChanged.emit("The list could not be loaded.")
            return
        self.roster.install(outcome.value)
        outcome.value = None  # the fetched rows: only the roster's columns are kept
        release_free_memory()
        self._installed()
        if self._refresh_after_load:
            self._refresh_after_load = False
            self.refresh_from_database()

    def _installed(self) -> None:
        self.model.apply()
        self._shown_changed()
        self.loaded.emit()
        # After the rows are on screen: the sorting holds the GIL for a while.
        QTimer.singleShot(PREPARE_ORDERS_AFTER_MS, self, self._prepare_orders)

    def _prepare_orders(self) -> None:
        self._prepare = _PrepareOrders(self.roster)
        self._prepare.signals.done.connect(self._orders_ready)
        QThreadPool.globalInstance().start(self._prepare)

    def _orders_ready(self, generation: int, orders) -> None:  # type: ignore[no-untyped-def]
        self.roster.adopt_orders(generation, orders)
        release_free_memory()

    def refresh_from_database(self) -> bool:
        """Pick up others' changes, keeping the selection and the scroll position."""
        if self._loading:
            self._refresh_after_load = True  # the load's snapshot may predate this change
            return False
        scroll = self.table.verticalScrollBar().value()
        refreshed = attempt(self, "The list could not be refreshed", self.roster.refresh,
                            report=self.countsChanged.emit)
        changed = bool(refreshed.value)
        if changed:
            self.model.apply()
            self.table.verticalScrollBar().setValue(scroll)
            self._shown_changed()
        return changed

    def summary(self) -> str:
        active, inactive, contacts = self.roster.counts()
        shown = self.model.rowCount()
        parts = [f"{active:,} active clients", f"{inactive:,} inactive", f"{contacts:,} contacts"]
        prefix = f"{shown:,} shown" + (f" for “{self.model.query}”" if self.model.query.strip() else "")
        scope = "" if self.actor.can(Action.SEE_CLIENTS, None) else " · your clients only"
        return f"{prefix} · " + " · ".join(parts) + scope

    def _shown_changed(self) -> None:
        self.countsChanged.emit(self.summary())
