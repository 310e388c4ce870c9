"""The main window: navigation on the left, the current page, a toolbar and a status bar.

It wires pages to each other and to the change watcher; it holds no rules and
runs no SQL of its own. When the practice file cannot be written any more
(damaged, deleted or replaced while open), a red banner across the top says so
for as long as it lasts; the controllers refuse every change meanwhile.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import (
    QByteArray,
    QCoreApplication,
    QObject,
    QRunnable,
    QSettings,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.errors import CaseloadError
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.ui.app import icon, style_sheet
from desktop.ui.clients_page import ClientsPage, isolate
from desktop.ui.operation import Outcome, attempt, show_refusal
from desktop.ui.widgets import DANGER

WATCH_INTERVAL_MS = 500
_CHECKED = object()  # the practice file's quick check has reported


class _FileCheckDelivery(QObject):
    """Brings the quick check's outcome from its pool thread to the window, if it is still open.

    It belongs to the application, not the window, and is deleted (on the GUI thread)
    only once it has delivered: the pool thread always emits on a living object,
    whatever became of the window meanwhile.
    """

    arrived = Signal(object)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(QCoreApplication.instance())
        self.window: MainWindow | None = window
        self.arrived.connect(self.deliver)  # queued: emitted on the pool thread

    @Slot(object)
    def deliver(self, outcome: object) -> None:
        window, self.window = self.window, None
        self.deleteLater()
        if window is not None and shiboken6.isValid(window):
            window._file_checked(outcome)
        elif not isinstance(outcome, Outcome):
            sys.excepthook(*outcome)  # type: ignore[misc]  # a bug, even with the window gone


class _FileCheck(QRunnable):
    """``Practice.check`` on a pool thread: a refusal or a bug comes back as its outcome."""

    def __init__(self, check: Callable[[], list[str]], delivery: _FileCheckDelivery) -> None:
        super().__init__()
        self.check: Callable[[], list[str]] | None = check
        self.delivery: _FileCheckDelivery | None = delivery

    def run(self) -> None:
        check, self.check = self.check, None
        delivery, self.delivery = self.delivery, None
        if check is None or delivery is None:
            return
        try:
            outcome: object = Outcome(True, check())
        except CaseloadError as error:
            outcome = Outcome(False, error=error)
        except BaseException:  # noqa: BLE001 - a pool thread has no crash handler: hand it over
            outcome = sys.exc_info()
        delivery.arrived.emit(outcome)


class MainWindow(QMainWindow):
    fileChecked = Signal()  # the practice file's quick check has reported (sound or not)

    def __init__(self, practice: Practice, actor: Actor, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.practice = practice
        self.actor = actor
        self.settings = settings or QSettings()
        self.setObjectName("mainWindow")
        # The application's display name ("Caseload") is added to every title by Qt.
        self.setWindowTitle(f"{actor.display_name} ({actor.profile.value})")
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
        self.file_banner = QLabel()
        self.file_banner.setObjectName("fileProblem")
        self.file_banner.setAccessibleName("Practice file problem")
        self.file_banner.setTextFormat(Qt.TextFormat.PlainText)  # it names a path
        self.file_banner.setWordWrap(True)
        self.file_banner.setStyleSheet(
            f"QLabel#fileProblem {{ background: {DANGER}; color: white; font-weight: bold; "
            "padding: 8px 12px; }")
        self.file_banner.hide()
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.file_banner)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.nav)
        body.addWidget(self.pages, 1)
        outer.addLayout(body, 1)
        self.setCentralWidget(central)
        self._file_check: object | None = None  # the quick check's job, then _CHECKED

        self.shown = QLabel()
        self.shown.setObjectName("shownSummary")
        self.shown.setTextFormat(Qt.TextFormat.PlainText)  # it quotes what was typed
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
        undo = self._stack_action("&Undo", QKeySequence.StandardKey.Undo, "undoAction")
        redo = self._stack_action("&Redo", QKeySequence.StandardKey.Redo, "redoAction")
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

    def _stack_action(self, text: str, key: QKeySequence.StandardKey, name: str) -> QAction:
        """Undo or Redo with a fixed label (the toolbar never shifts); what it would do is in its tooltip."""
        stack = self.clients_page.undo_stack
        undo = name == "undoAction"
        action = QAction(text, self)
        action.setObjectName(name)
        action.setShortcut(key)
        verb = "Undo" if undo else "Redo"
        keys = QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
        suffix = f" ({keys})" if keys else ""

        def follow(what: str) -> None:
            action.setToolTip(f"{verb} {what}{suffix}" if what else f"Nothing to {verb.lower()}")
            action.setStatusTip(f"{verb} {what}" if what else "")

        action.triggered.connect(stack.undo if undo else stack.redo)
        (stack.canUndoChanged if undo else stack.canRedoChanged).connect(action.setEnabled)
        (stack.undoTextChanged if undo else stack.redoTextChanged).connect(follow)
        action.setEnabled(stack.canUndo() if undo else stack.canRedo())
        follow(stack.undoText() if undo else stack.redoText())
        return action

    # ------------------------------------------------------------ lifecycle

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._file_check is None:
            # After the current event (``load()`` follows ``show()``), so the list can go first.
            QTimer.singleShot(0, self, self._check_when_list_loaded)

    def _check_when_list_loaded(self) -> None:
        """The file check, once per window, when the list is not being read: the list comes
        first, and a big file's check takes a while."""
        if self._file_check is not None:
            return
        if self.clients_page.loading:
            self.clients_page.loadSettled.connect(self._check_when_list_loaded,
                                                  Qt.ConnectionType.SingleShotConnection)
            return
        self.check_practice_file()

    def check_practice_file(self) -> None:
        """SQLite's quick check of the practice file, on a pool thread; damage shows the banner.

        Not through ``operation.in_background``: with PySide 6.11 a second
        ``in_background`` in one window's life (the list's load is the first)
        crashed about half the test runs, its per-call callback's receiver deleted
        twice. Here the outcome arrives at a method of a long-lived object instead.
        """
        delivery = _FileCheckDelivery(self)
        self._file_check = delivery
        QThreadPool.globalInstance().start(_FileCheck(self.practice.check, delivery))

    def _file_checked(self, outcome: object) -> None:
        self._file_check = _CHECKED
        try:
            if not isinstance(outcome, Outcome):
                sys.excepthook(*outcome)  # type: ignore[misc]  # a bug: the crash handler says so
            elif not outcome.ok:
                if outcome.error is not None:
                    show_refusal(self, "The practice file could not be checked", outcome.error,
                                 report=lambda message: self.statusBar().showMessage(message, 10_000))
            elif outcome.value:
                self.show_file_problem(self.practice.file_problem()
                                       or f"The practice file is damaged ({str(outcome.value[0])[:120]}); "
                                          "Caseload saves nothing to it. Restore it from a backup.")
        finally:
            self.fileChecked.emit()

    def show_file_problem(self, problem: str | None) -> None:
        """The red banner: one sentence while the practice file cannot be written; hidden otherwise."""
        if problem is None:
            self.file_banner.hide()
            return
        if self.file_banner.text() != problem:
            self.file_banner.setText(problem)
        self.file_banner.show()

    def load(self, *, background: bool = True) -> None:
        """Read the roster and start watching for others' changes."""
        self.watcher.changed()  # connect first, so no change after the read is missed
        if background:
            self.clients_page.load_in_background()
        else:
            self.clients_page.reload()
        self.watch_timer.start()

    def _poll_changes(self) -> None:
        # A file deleted or replaced meanwhile refuses every write; say so before anyone tries.
        self.show_file_problem(self.practice.file_problem())
        if self.watcher.changed():
            self.clients_page.refresh_from_database()  # a refusal is said where the counts go

    def _restore(self) -> None:
        geometry = self.settings.value("main/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        # Column widths, order and sort are remembered; the Client status filter is not:
        # every session starts on Active (docs/rules.md, "Lists").
        page = self.clients_page
        header = self.settings.value("clients/header")
        if isinstance(header, QByteArray) and not header.isEmpty():
            page.columns.restore(header)
        sort_header = page.table.horizontalHeader()
        page.model.sort_column = Column(sort_header.sortIndicatorSection())
        page.model.descending = sort_header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("main/geometry", self.saveGeometry())
        self.settings.setValue("clients/header", self.clients_page.table.horizontalHeader().saveState())
        self.settings.remove("clients/statusFilter")  # remembered by earlier versions; no longer
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
        window = self.profiles.pop(("client", client_id), None)
        self.clients_page.refresh_from_database()
        if getattr(window, "erased", True) is False:
            # Never more than is known: the data is out of the practice, not yet out of the file.
            self.statusBar().showMessage(
                f"{isolate(name)} was deleted. Some of the data stays in the practice file until the "
                "other program reading it closes.", 15000)
            return
        self.statusBar().showMessage(f"{isolate(name)} was deleted permanently.", 8000)

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
