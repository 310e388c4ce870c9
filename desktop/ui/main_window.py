"""The main window: navigation on the left, the current page, a toolbar and a status bar.

It wires pages to each other and to the change watcher; it holds no rules and
runs no SQL of its own.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QToolBar,
    QWidget,
)

from desktop.controllers.clients import StatusFilter
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.ui.app import icon, style_sheet
from desktop.ui.clients_page import ClientsPage
from desktop.ui.operation import attempt

WATCH_INTERVAL_MS = 500


class MainWindow(QMainWindow):
    def __init__(self, practice: Practice, actor: Actor, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.practice = practice
        self.actor = actor
        self.settings = settings or QSettings()
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"Caseload — {actor.display_name} ({actor.profile.value})")
        self.clients = practice.clients
        self.roster = practice.roster(actor)
        self.profiles: dict[tuple[str, int], QWidget] = {}

        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setAccessibleName("Navigation")
        self.nav.setFixedWidth(170)
        self.nav.setStyleSheet(style_sheet())
        QListWidgetItem(icon("clients"), "Clients", self.nav)
        self.nav.setCurrentRow(0)
        self.pages = QStackedWidget()
        self.clients_page = ClientsPage(self.clients, self.roster, actor)
        self.pages.addWidget(self.clients_page)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        central = QWidget()
        body = QHBoxLayout(central)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.nav)
        body.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.shown = QLabel()
        self.shown.setObjectName("shownSummary")
        self.statusBar().addWidget(self.shown, 1)
        self.statusBar().addPermanentWidget(QLabel(practice.location if practice.on_server else "Local database"))
        self.clients_page.countsChanged.connect(self.shown.setText)
        self.clients_page.openRequested.connect(self.open_profile)

        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setStyleSheet(style_sheet())
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setIconSize(QSize(18, 18))
        self.addToolBar(toolbar)
        undo = self.clients_page.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        undo.setObjectName("undoAction")
        redo = self.clients_page.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        refresh = QAction("Refresh", self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.clients_page.refresh_from_database)
        self.find_duplicates = QAction("Find duplicates…", self)
        self.find_duplicates.setObjectName("findDuplicates")
        self.find_duplicates.triggered.connect(self.open_duplicates)
        self.find_duplicates.setVisible(actor.can(Action.MARK_DUPLICATE, any_client=True))
        for action, name in ((undo, "undo"), (redo, "redo"), (refresh, "refresh"),
                             (self.find_duplicates, "duplicates")):
            action.setIcon(icon(name))
            toolbar.addAction(action)
            self.addAction(action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(f"  Signed in as {actor.display_name}"))

        self.watcher = practice.watcher()
        self.watch_timer = QTimer(self)
        self.watch_timer.setInterval(WATCH_INTERVAL_MS)
        self.watch_timer.timeout.connect(self._poll_changes)

        self._restore()

    # ------------------------------------------------------------ lifecycle

    def load(self, *, background: bool = True) -> None:
        """Read the roster and start watching for others' changes."""
        self.watcher.changed()  # connect first, so no change after the read is missed
        if background:
            self.clients_page.load_in_background()
        else:
            self.clients_page.reload()
        self.watch_timer.start()

    def _poll_changes(self) -> None:
        if self.watcher.changed():
            self.clients_page.refresh_from_database()  # a refusal is said where the counts go

    def _restore(self) -> None:
        geometry = self.settings.value("main/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        header = self.settings.value("clients/header")
        if isinstance(header, QByteArray) and not header.isEmpty():
            self.clients_page.table.horizontalHeader().restoreState(header)
        last = self.settings.value("clients/statusFilter", StatusFilter.ACTIVE.value)
        try:
            status = StatusFilter(str(last))
        except ValueError:
            status = StatusFilter.ACTIVE
        page = self.clients_page
        page.status_filter.setCurrentIndex(max(0, page.status_filter.findData(status)))
        page.model.status_filter = status
        sort_header = page.table.horizontalHeader()
        page.model.sort_column = Column(sort_header.sortIndicatorSection())
        page.model.descending = sort_header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("main/geometry", self.saveGeometry())
        self.settings.setValue("clients/header", self.clients_page.table.horizontalHeader().saveState())
        self.settings.setValue("clients/statusFilter", self.clients_page.model.status_filter.value)
        self.watch_timer.stop()
        self.watcher.close()
        for window in list(self.profiles.values()):
            window.close()
        if getattr(self, "duplicates_window", None) is not None:
            self.duplicates_window.close()
        super().closeEvent(event)

    # ------------------------------------------------------------- profiles

    def open_duplicates(self) -> None:
        from desktop.ui.duplicates_window import DuplicatesWindow

        window = getattr(self, "duplicates_window", None)
        if window is None:
            window = DuplicatesWindow(self.practice, self.actor)
            window.changed.connect(self.clients_page.refresh_from_database)
            self.duplicates_window = window
            window.show()
            window.scan()
        window.show()
        window.raise_()

    def _client_deleted(self, client_id: int, name: str) -> None:
        self.profiles.pop(("client", client_id), None)
        self.clients_page.refresh_from_database()
        self.statusBar().showMessage(f"{name} was deleted permanently.", 8000)

    def open_profile(self, kind: str, record_id: int) -> None:
        from desktop.ui.contact_profile import ContactProfileWindow
        from desktop.ui.profile import ProfileWindow

        key = (kind, record_id)
        window = self.profiles.get(key)
        if window is None:
            def make() -> ContactProfileWindow | ProfileWindow:
                if kind == "contact":
                    return ContactProfileWindow(self.practice, self.actor, record_id)
                return ProfileWindow(self.practice, self.actor, record_id)

            opened = attempt(self, "Cannot open profile", make)
            if not opened or opened.value is None:
                return
            window = opened.value
            if isinstance(window, ProfileWindow):
                window.deleted.connect(self._client_deleted)
                window.openContact.connect(lambda other: self.open_profile("contact", other))
            window.destroyed.connect(lambda *_a, k=key: self.profiles.pop(k, None))
            window.changed.connect(lambda _id: self.clients_page.refresh_from_database())
            window.openClient.connect(lambda other: self.open_profile("client", other))
            self.profiles[key] = window
        window.show()
        window.raise_()
        window.activateWindow()
