"""The main window: a menu bar, navigation on the left, the current page, a toolbar and a status bar.

It wires pages to each other and to the change watcher; it holds no rules and
runs no SQL of its own. When the practice file cannot be written any more
(damaged, deleted or replaced while open), a red banner across the top says so
for as long as it lasts; the controllers refuse every change meanwhile. For
the Account Owner of a local file that is not encrypted, a yellow one says why
that matters and offers Encrypt now…. While the idle lock holds the screen
(``desktop.ui.idle_lock``), its change polling and automatic billing pause.

The menus (``desktop.ui.commands``) call this window's methods: New client and
New contact, the Client menu's flows on the selected row (the profile, the edit
and delete dialogs, the list's status change with its portal question and
undo), Export list as CSV, the Practice windows (Users, Practice settings,
Find duplicates, Audit log) and Help. Signing out closes every window of this
person's (``signedOut``); ``desktop.ui.app`` then asks who signs in next.

Whoever is signed in, the window keeps an audit chain anchor (the log's head)
on this computer once an hour and when it closes, quietly, and never while the
practice is locked (``desktop.ui.audit_log_window.keep_anchor_quietly``).

On a practice server, the change watcher also says whether the server answers
(``desktop.storage.watch``). While it does not, a banner says so with a countdown
to the next try and Retry now, and the list says when its data was last known
current (``desktop.ui.connection_banner``). When the server answers again, every
page and open profile reads everything again (notifications sent meanwhile are
lost), changes cut off with their outcome unknown are looked up and reported
(``desktop.controllers.connection``), and the status bar's word on how the
connection is protected is asked again, as it is once after signing in.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

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
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers import connection
from desktop.controllers.errors import CaseloadError
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column, Kind
from desktop.domain.models import ClientStatus, Role
from desktop.ui.app import icon, style_sheet
from desktop.ui.automatic_billing import AutomaticBilling
from desktop.ui.automatic_billing import offered_to as billing_offered_to
from desktop.ui.clients_page import ClientsPage, isolate
from desktop.ui.commands import Commands
from desktop.ui.connection_banner import ConnectionBanner, SecurityLabel
from desktop.ui.idle_lock import CHECK_MS, ScreenLock, idle_clock
from desktop.ui.list_export import export_list
from desktop.ui.operation import Outcome, attempt, in_background, lower_priority, show_refusal
from desktop.ui.widgets import DANGER, Banner, ask

if TYPE_CHECKING:  # made when first shown (MainWindow.appointments_page, .billing_page)
    from desktop.ui.appointments_page import AppointmentsPage
    from desktop.ui.billing_page import BillingPage

WATCH_INTERVAL_MS = 500
RESOLVE_AGAIN_SECONDS = 5.0  # changes of unknown outcome are asked about again at most this often
ANCHOR_EVERY_MS = 60 * 60 * 1000  # an audit chain anchor is kept this often (and at closing)
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
        lower_priority()  # the window's thread comes first (a big file's check takes a while)
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


SIGNED_IN_WIDTH = 320  # a long display name is cut short here (whole in its tool tip), never widening the window


def signed_in_label(display_name: str) -> QLabel:
    """"Signed in as …" for the toolbar, at most ``SIGNED_IN_WIDTH`` wide."""
    label = QLabel()
    label.setObjectName("signedInAs")
    label.setTextFormat(Qt.TextFormat.PlainText)
    whole = f"Signed in as {isolate(display_name)}"
    shown = label.fontMetrics().elidedText(whole, Qt.TextElideMode.ElideRight, SIGNED_IN_WIDTH)
    label.setText(f"  {shown}")
    if shown != whole:
        label.setToolTip(whole)
    label.setAccessibleName(whole)
    return label


def location_label(practice: Practice) -> QLabel:
    """Where the data lives, for the status bar: "Local database", or the server and database
    ("db.clinic.lan/caseload"), the whole URL (without its password) in the tool tip."""
    label = QLabel()
    label.setObjectName("practiceLocation")
    label.setTextFormat(Qt.TextFormat.PlainText)
    if not practice.on_server:
        label.setText("Local database")
        return label
    where = practice.location.split("://", 1)[-1].split("?", 1)[0].rsplit("@", 1)[-1]
    label.setText(label.fontMetrics().elidedText(where, Qt.TextElideMode.ElideMiddle, 260))
    label.setToolTip(practice.location)
    label.setAccessibleName(f"Practice server {where}")
    return label


class EncryptBanner(Banner):
    """Across the top, for the Account Owner of a local file that is not encrypted: why, and Encrypt now…"""

    def __init__(self, parent: QWidget | None = None) -> None:
        button = QPushButton("Encrypt now…")
        button.setObjectName("encryptNow")
        button.setAccessibleName("Encrypt now")
        super().__init__("encryptBanner", (button,), parent,
                         title="This practice file is not encrypted",
                         detail="Anyone who copies the file can read every client's records. Encrypting it "
                                "keeps everyone's password; you get a recovery key to keep somewhere safe.")
        self.setAccessibleName("The practice file is not encrypted")
        # Both colours set, so it reads the same in a light or a dark palette.
        self.setStyleSheet(
            "QFrame#encryptBanner { background: #fff4ce; border-bottom: 1px solid #d9c27a; }"
            "QFrame#encryptBanner QLabel { color: #3b2f00; background: transparent; }")
        self.button = button
        self.title.setObjectName("encryptBannerTitle")
        self.why = self.detail
        self.why.setObjectName("encryptBannerWhy")


def show_recovery_key(parent: QWidget, recovery_key: str, practice_name: str) -> None:
    """The recovery key page; it returns once the owner has shown they have the key (or chose not to)."""
    try:
        from desktop.ui.dialogs.recovery_key import RecoveryKeyDialog
    except ModuleNotFoundError as missing:  # the page is another change; until it is in, a plain box
        if missing.name != "desktop.ui.dialogs.recovery_key":
            raise
        box = QMessageBox(QMessageBox.Icon.Information, "Your recovery key", recovery_key,
                          QMessageBox.StandardButton.Ok, parent)
        box.setObjectName("recoveryKeyStandIn")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setInformativeText("Write it down and keep it somewhere safe: with it, the Account Owner can set "
                               "a new password if theirs is forgotten. Caseload shows it only now.")
        box.exec()
        box.deleteLater()
        return
    dialog = RecoveryKeyDialog(recovery_key, practice_name, parent)
    dialog.exec()
    dialog.deleteLater()


class MainWindow(QMainWindow):
    fileChecked = Signal()  # the practice file's quick check has reported (sound or not)
    signedOut = Signal()  # every window of this person's is closed: ask who signs in next
    closed = Signal()  # the window was closed (by Quit, the window's close button, or signing out)
    # The practice file was encrypted: every controller is new, so this window and all of its
    # own are stale; open a fresh window for the same person (desktop.ui.app.Session).
    reopenRequested = Signal()

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
        self._page_counts: dict[int, str] = {}
        # The other pages are made when first shown (or asked for): the window paints sooner.
        # Until then a blank stands in their place; a page not made has nothing to read again.
        self._appointments_page: AppointmentsPage | None = None
        self._billing_page: BillingPage | None = None
        self._blanks: dict[str, QWidget] = {}
        if actor.can(Action.MANAGE_APPOINTMENTS, any_client=True):
            self._add_page("Appointments", "appointments", self._blank("appointments"))
        if billing_offered_to(actor):
            self._add_page("Billing", "billing", self._blank("billing"))
        self.nav.currentRowChanged.connect(self._show_page)
        self.file_banner = QLabel()
        self.file_banner.setObjectName("fileProblem")
        self.file_banner.setAccessibleName("Practice file problem")
        self.file_banner.setTextFormat(Qt.TextFormat.PlainText)  # it names a path
        self.file_banner.setWordWrap(True)
        self.file_banner.setStyleSheet(
            f"QLabel#fileProblem {{ background: {DANGER}; color: white; font-weight: bold; "
            "padding: 8px 12px; }")
        self.file_banner.hide()
        self.connection_banner = ConnectionBanner()
        self.connection_banner.retryRequested.connect(self.retry_connection)
        self.encrypt_banner = EncryptBanner()
        self.encrypt_banner.button.clicked.connect(self.encrypt_file)
        self.encrypt_banner.setVisible(practice.plain_local and actor.role is Role.ACCOUNT_OWNER)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.file_banner)
        outer.addWidget(self.connection_banner)
        outer.addWidget(self.encrypt_banner)
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
        self.billing_status = QLabel()
        self.billing_status.setObjectName("billingStatus")
        self.billing_status.setTextFormat(Qt.TextFormat.PlainText)
        self.statusBar().addPermanentWidget(self.billing_status)
        self.statusBar().addPermanentWidget(location_label(practice))
        self.security_label = SecurityLabel()  # a server's: asked once signed in, and after each reconnect
        self.statusBar().addPermanentWidget(self.security_label)
        self._security_checking = False
        self._reconnects_seen = 0
        self._resolving = False
        self._resolve_after = 0.0
        self._unknown_names: dict[str, str] = {}  # operation id -> the record's name, while listed
        self.automatic_billing = AutomaticBilling(practice, self, self.billing_status)
        self.automatic_billing.finished.connect(self._billing_made)
        self.clients_page.countsChanged.connect(self._clients_counts)
        self.clients_page.sessionEnded.connect(self.session_ended)
        self.clients_page.openRequested.connect(self.open_profile)
        self.clients_page.newClientRequested.connect(self.new_client)
        self.users_window: QWidget | None = None
        self.duplicates_window: QWidget | None = None
        self.audit_window: QWidget | None = None
        self.signing_out = False
        self._select_after_load: tuple[str, int] | None = None

        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setStyleSheet(style_sheet())
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setIconSize(QSize(18, 18))
        self.addToolBar(toolbar)
        self.commands = Commands(self)
        commands = self.commands
        for action, name in ((commands.new_client, "clients"), (commands.undo, "undo"), (commands.redo, "redo"),
                             (commands.refresh, "refresh"), (commands.find_duplicates, "duplicates")):
            action.setIcon(icon(name))
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addWidget(signed_in_label(actor.display_name))

        self.watcher = practice.watcher()
        # A save cut off at its commit is looked up once, not three times with the window frozen:
        # the banner looks it up again when the connection is back.
        practice.db.outcome_lookups = 1
        self.watch_timer = QTimer(self)
        self.watch_timer.setInterval(WATCH_INTERVAL_MS)
        self.watch_timer.timeout.connect(self._poll_changes)
        self.anchor_timer = QTimer(self)
        self.anchor_timer.setInterval(ANCHOR_EVERY_MS)
        self.anchor_timer.timeout.connect(self._keep_anchor_hourly)
        self.anchor_timer.start()
        self.screen_lock: ScreenLock | None = None
        self._paused = False
        self._resume_watching = False
        self._billing_paused: tuple[bool, bool] | None = None  # (started, must run again)
        self._billing_due = False  # its first start came while paused

        self._restore()

    # ------------------------------------------------------------ pages

    def _add_page(self, title: str, icon_name: str, page: QWidget) -> None:
        QListWidgetItem(icon(icon_name), title, self.nav)
        self.pages.addWidget(page)

    def _blank(self, name: str) -> QWidget:
        blank = self._blanks[name] = QWidget()
        blank.setObjectName(f"{name}Blank")
        return blank

    def _replace_blank(self, name: str, page: QWidget) -> None:
        blank = self._blanks.pop(name)
        index = self.pages.indexOf(blank)
        current = self.pages.currentIndex() == index
        self.pages.insertWidget(index, page)
        self.pages.removeWidget(blank)
        blank.deleteLater()
        if current:
            self.pages.setCurrentIndex(index)

    @property
    def appointments_page(self) -> AppointmentsPage | None:
        """The Appointments page, made now if it was not yet (None: not offered to this person)."""
        if self._appointments_page is None and "appointments" in self._blanks:
            from desktop.ui.appointments_page import AppointmentsPage

            page = self._appointments_page = AppointmentsPage(self.practice, self.actor, self.roster)
            page.setObjectName("appointmentsPage")
            page.countsChanged.connect(self._appointments_counts)
            page.sessionEnded.connect(self.session_ended)
            page.openClientRequested.connect(self._open_client)
            page.clientChanged.connect(self._client_changed)
            self._replace_blank("appointments", page)
        return self._appointments_page

    @property
    def billing_page(self) -> BillingPage | None:
        """The Billing page, made now if it was not yet (None: not offered to this person)."""
        if self._billing_page is None and "billing" in self._blanks:
            from desktop.ui.billing_page import BillingPage

            page = self._billing_page = BillingPage(self.practice, self.actor)
            page.setObjectName("billingPage")
            page.sessionEnded.connect(self.session_ended)  # (it says its own counts, under its table)
            page.reload()  # it reads when shown
            self._replace_blank("billing", page)
        return self._billing_page

    @Slot(int)
    def _show_page(self, index: int) -> None:
        blank = self.pages.widget(index)
        try:  # a page not made yet is made now (a bug making it is reported by the crash handler)
            if blank is self._blanks.get("appointments"):
                _ = self.appointments_page
            elif blank is self._blanks.get("billing"):
                _ = self.billing_page
        finally:
            self.pages.setCurrentIndex(index)
            self.shown.setText(self._page_counts.get(index, ""))

    def _counts_of(self, page: QWidget, text: str) -> None:
        """A page's summary ("1,000 clients shown"), in the status bar while it is the one shown."""
        index = self.pages.indexOf(page)
        self._page_counts[index] = text
        if index == self.pages.currentIndex():
            self.shown.setText(text)

    @Slot(str)
    def _clients_counts(self, text: str) -> None:
        self._counts_of(self.clients_page, text)

    @Slot(str)
    def _appointments_counts(self, text: str) -> None:
        if self._appointments_page is not None:
            self._counts_of(self._appointments_page, text)

    @Slot(int)
    def _open_client(self, client_id: int) -> None:
        self.open_profile("client", client_id)

    def show_page(self, title: str) -> bool:
        """Go to the page named ``title`` in the navigation; False if this person has none."""
        for row in range(self.nav.count()):
            if self.nav.item(row).text() == title:
                self.nav.setCurrentRow(row)
                return True
        return False

    # ------------------------------------------------------- the Client menu

    @Slot()
    def open_current(self) -> None:
        row = self.clients_page.current_row()
        if row is not None:
            self.open_profile(row.kind, row.id)

    @Slot()
    def edit_current(self) -> None:
        from desktop.ui.dialogs.edit_client import EditClientDialog

        row = self.clients_page.current_row()
        if row is None or row.kind != "client":
            return
        opened = attempt(self, "Cannot edit", lambda: EditClientDialog(
            self.clients, self.actor, row.id, self, duplicates=self.practice.duplicates))
        if not opened or opened.value is None:
            return
        dialog = opened.value
        dialog.openExisting.connect(self._open_existing_client)
        dialog.exec()
        if dialog.deleted:
            self._show_deleted(row.id, row.name, dialog.erased)
        elif dialog.result() == QDialog.DialogCode.Accepted:
            self._client_changed(row.id)
        dialog.deleteLater()

    @Slot()
    def change_current_status(self) -> None:
        row = self.clients_page.current_row()
        if row is None or row.kind != "client" or row.status is None:
            return
        new = ClientStatus.ACTIVE if row.status is ClientStatus.INACTIVE else ClientStatus.INACTIVE
        self.clients_page.change_status_asking(row.id, new)
        self._reload_profile(row.id)

    @Slot()
    def delete_current(self) -> None:
        from desktop.ui.dialogs.delete_client import DeleteClientDialog

        row = self.clients_page.current_row()
        if row is None or row.kind != "client":
            return
        opened = attempt(self, "Cannot delete",
                         lambda: DeleteClientDialog(self.clients, self.actor, row.id, self))
        if not opened or opened.value is None:
            return
        dialog = opened.value
        dialog.exec()
        if dialog.deleted:
            self._show_deleted(row.id, row.name, dialog.erased)
        elif dialog.made_inactive:
            self._client_changed(row.id)
        dialog.deleteLater()

    def _client_changed(self, client_id: int) -> None:
        self.clients_page.refresh_from_database()
        self._reload_profile(client_id)

    def _reload_profile(self, client_id: int) -> None:
        from desktop.ui.profile import ProfileWindow

        window = self.profiles.get(("client", client_id))
        if isinstance(window, ProfileWindow):
            window.reload()

    # ------------------------------------------------------------ new records

    @Slot()
    def new_client(self) -> None:
        from desktop.ui.dialogs.edit_client import NewClientDialog

        dialog = NewClientDialog(self.practice, self.actor, self)
        dialog.openExisting.connect(self._open_existing_client)
        if dialog.exec() and dialog.client_id is not None:
            self.statusBar().showMessage(f"{isolate(dialog.shown_name())} was added.", 8000)
            self._select_when_listed("client", dialog.client_id)
        dialog.deleteLater()

    @Slot()
    def new_contact(self) -> None:
        from desktop.ui.dialogs.contact_dialogs import AddContactDialog

        dialog = AddContactDialog(self.practice.contacts, self.actor, None, parent=self,
                                  duplicates=self.practice.duplicates)
        dialog.openExisting.connect(self._open_existing_contact)
        if dialog.exec() and dialog.contact_id is not None:
            self._select_when_listed("contact", dialog.contact_id)
        dialog.deleteLater()

    @Slot(int)
    def _open_existing_client(self, client_id: int) -> None:
        self.open_profile("client", client_id)

    @Slot(int)
    def _open_existing_contact(self, contact_id: int) -> None:
        self.open_profile("contact", contact_id)

    def _select_when_listed(self, kind: str, record_id: int) -> None:
        """Read the new record into the list and select it, once any load under way is over."""
        page = self.clients_page
        if page.loading:
            self._select_after_load = (kind, record_id)
            page.loadSettled.connect(self._select_pending, Qt.ConnectionType.SingleShotConnection)
            return
        page.refresh_from_database()
        page.select_record(kind, record_id)
        self.commands.follow_row()

    @Slot()
    def _select_pending(self) -> None:
        pending, self._select_after_load = self._select_after_load, None
        if pending is not None:
            self._select_when_listed(*pending)

    # ---------------------------------------------------------------- file

    @Slot()
    def export_list(self) -> None:
        """Exactly what the list shows now (taken before the file dialog), as CSV."""
        if not self.clients_page.loaded_whole:
            self.statusBar().showMessage("The list is still being read; export it once it is in.", 10_000)
            return
        titles, rows = self.clients_page.shown_table()
        model = self.clients_page.model
        clients, contacts = model.matches_with(model.status_filter)
        written = export_list(self, titles, rows, lambda write: self.practice.clients.export_list(
            self.actor, clients, contacts, write))
        if written is not None:
            count = f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
            self.statusBar().showMessage(f"Exported {count} to {written}", 10_000)

    @Slot()
    def change_password(self) -> None:
        from desktop.ui.dialogs.change_password import ChangePasswordDialog

        dialog = ChangePasswordDialog(self.practice, self.actor, self)
        if dialog.exec():
            self.actor = dialog.actor or self.actor
            self.statusBar().showMessage("Your password was changed.", 8000)
        dialog.deleteLater()

    def _open_forms(self) -> list[QWidget]:
        """Dialogs still open with something typed and not saved."""
        found = []
        for widget in QApplication.topLevelWidgets():
            unsaved = getattr(widget, "has_unsaved_changes", None)
            if widget.isVisible() and callable(unsaved) and unsaved():
                found.append(widget)
        return found

    @Slot(str)
    def session_ended(self, why: str) -> None:
        """The practice no longer lets this person in (deactivated, or their role changed):
        say why and sign out at once. Nothing typed can be saved any more, so nothing is asked."""
        if self.signing_out:
            return
        QMessageBox.information(self, "Signed out", f"{why} Nothing more can be read or saved "
                                "in this session.")
        self.sign_out(ask=False)

    @Slot()
    def sign_out(self, ask: bool = True) -> bool:
        """Close every window of this person's, asking first about anything typed and not saved
        (unless ``ask`` is False), and hand back to the sign-in dialog (``signedOut``). False if
        they chose to stay."""
        forms = self._open_forms()
        if ask and forms and not self._discard_for_sign_out(forms):
            return False
        self._close_everything(forms)
        self.signedOut.emit()
        return True

    def close_for_reopen(self) -> None:
        """Close this window and every one of its own, as signing out does, without signing out
        (the practice file was encrypted: a fresh window follows for the same person)."""
        self._close_everything(self._open_forms())

    def _close_everything(self, forms: list[QWidget]) -> None:
        self.signing_out = True  # closing is not quitting
        for widget in forms:
            widget.close()
        self.close()
        for widget in QApplication.topLevelWidgets():  # any dialog or window still showing their data
            if widget is not self and widget.isVisible() and not isinstance(widget, QMenu):
                widget.close()

    def _discard_for_sign_out(self, forms: list[QWidget]) -> bool:
        titles = ", ".join(f"“{isolate(w.windowTitle())}”" for w in forms)
        box = QMessageBox(self)
        box.setObjectName("unsavedChangesQuestion")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Sign out")
        box.setText(f"What you typed in {titles} is not saved.")
        box.setInformativeText("Signing out closes it without saving.")
        discard = box.addButton("Discard and sign out", QMessageBox.ButtonRole.DestructiveRole)
        discard.setObjectName("discardAndSignOut")
        stay = box.addButton("Go back", QMessageBox.ButtonRole.RejectRole)
        stay.setObjectName("goBack")
        box.setDefaultButton(stay)
        box.exec()
        return box.clickedButton() is discard

    # ------------------------------------------------------------ view

    @Slot()
    def refresh(self) -> None:
        self.clients_page.refresh_from_database()

    # ------------------------------------------------------------ practice

    @Slot()
    def open_users(self) -> None:
        from desktop.ui.dialogs.users import UsersWindow

        if self.users_window is None or not shiboken6.isValid(self.users_window):
            self.users_window = UsersWindow(self.practice, self.actor, self)
        self.users_window.show()
        self.users_window.raise_()
        self.users_window.activateWindow()

    @Slot()
    def open_practice_settings(self) -> None:
        from desktop.ui.dialogs.practice_settings import PracticeSettingsDialog

        dialog = PracticeSettingsDialog(self.practice, self.actor, self)
        dialog.exec()
        dialog.deleteLater()
        if self.screen_lock is not None:
            self.screen_lock.reload_minutes()  # the idle lock minutes may have been changed

    @Slot()
    def open_audit_log(self) -> None:
        """Practice ▸ Audit log: its window, or the one already open raised."""
        from desktop.ui.audit_log_window import AuditLogWindow

        window = self.audit_window
        if window is None or not shiboken6.isValid(window):
            created = AuditLogWindow(self.practice, self.actor, roster=self.roster)
            if not created.start():  # refused (and audited): said in a message box
                created.deleteLater()
                return
            created.openClientRequested.connect(self._open_client)
            self.audit_window = window = created
        window.show()
        window.raise_()
        window.activateWindow()

    @Slot()
    def _keep_anchor_hourly(self) -> None:
        """The hour's anchor, on a worker thread, saying nothing; not while the screen is locked."""
        if self._paused or self.signing_out or self.practice.locked:
            return
        practice, actor = self.practice, self.actor
        from desktop.ui.audit_log_window import keep_anchor_quietly

        in_background(self, "Audit anchor not kept", lambda: keep_anchor_quietly(practice, actor),
                      lambda _outcome: None, report=lambda _message: None)

    # ---------------------------------------------------------------- help

    @Slot()
    def show_shortcuts(self) -> None:
        from desktop.ui.dialogs.help import ShortcutsDialog

        dialog = ShortcutsDialog(self.commands.shortcut_rows(), self)
        dialog.exec()
        dialog.deleteLater()

    @Slot()
    def show_about(self) -> None:
        from desktop import __version__
        from desktop.ui.dialogs.help import AboutDialog, caseload_licence

        read = attempt(self, "Practice details not read", lambda: self.practice.settings.settings(self.actor),
                       report=lambda _message: None)  # About still says the rest
        dialog = AboutDialog(__version__, self.practice.location, caseload_licence(), read.value, self)
        dialog.exec()
        dialog.deleteLater()

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
        if self._paused:
            self._billing_due = True  # it starts when the work resumes
        else:
            self.automatic_billing.start()

    @Slot(object)
    def _billing_made(self, _report: object) -> None:
        """New documents or held appointments: the pages that show them read again."""
        for page in (getattr(self, "_billing_page", None), getattr(self, "_appointments_page", None)):
            if page is not None:  # (one not made yet reads when it is)
                page.reload()

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
        self.check_connection_security()
        if background:
            self.clients_page.load_in_background()
        else:
            self.clients_page.reload()
        self.watch_timer.start()

    # ------------------------------------------------------------ the idle lock

    def enable_idle_lock(self, *, clock: Callable[[], float] = idle_clock,
                         interval_ms: int = CHECK_MS) -> ScreenLock:
        """Lock this session after the practice's idle lock minutes without input (desktop.ui.idle_lock)."""
        if self.screen_lock is None:
            self.screen_lock = ScreenLock(self, clock=clock, interval_ms=interval_ms)
            self.screen_lock.start()
        return self.screen_lock

    def lock_now(self) -> None:
        """Lock at once, as the idle lock does after its minutes (File ▸ Lock now, Ctrl+L)."""
        self.enable_idle_lock().lock()

    def pause_background(self) -> None:
        """While the screen is locked (or the file is being encrypted): no change polling, no
        automatic billing; the watcher's connection is let go, so an encrypted file's key can be."""
        if self._paused:
            return
        self._paused = True
        self._resume_watching = self.watch_timer.isActive()
        self.watch_timer.stop()
        self.watcher.close()
        billing = self.automatic_billing
        started = billing.hourly.isActive()
        never_finished = billing.last_report is None and billing.last_problem is None
        self._billing_paused = (started, billing.running or never_finished)
        billing.stop()  # a run under way stops after its current chunk

    def resume_background(self) -> None:
        """Back to work after ``pause_background``: the poll reconnects and reads what changed meanwhile."""
        if not self._paused or self.signing_out:
            return
        self._paused = False
        if self._resume_watching:
            self.watch_timer.start()
        self._resume_billing()

    def _resume_billing(self) -> None:
        if self._paused or self.signing_out:
            return
        billing = self.automatic_billing
        if billing.running:  # the stopped run has not reported yet: resume after it has
            QTimer.singleShot(250, self, self._resume_billing)
            return
        paused, self._billing_paused = self._billing_paused, None
        due, self._billing_due = self._billing_due, False
        started, run_again = paused or (False, False)
        billing.stopping = False
        if due or (started and run_again):
            billing.start()
        elif started:
            billing.hourly.start()

    # ------------------------------------------------------------ encrypting the file

    @Slot()
    def encrypt_file(self) -> None:
        """The banner's Encrypt now…: asked first, encrypted in place, the recovery key shown once,
        then a fresh window on the encrypted file (``reopenRequested``)."""
        chosen = ask(self, "encryptQuestion", QMessageBox.Icon.Question, "Encrypt the practice file",
                     "Encrypt the practice file now?",
                     "First close every other Caseload window on this computer that has this practice open, "
                     "and any other program using the file (such as a backup running now): encrypting needs "
                     "the file to itself. Everyone keeps their password. Afterwards Caseload shows the "
                     "recovery key, once; keep it somewhere safe.",
                     ("Encrypt", "encrypt", QMessageBox.ButtonRole.AcceptRole), go_is_default=True)
        if not chosen:
            return
        self.pause_background()  # the watcher's connection would keep the file open
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            done = attempt(self, "Not encrypted", lambda: self.practice.access.encrypt(self.actor))
        finally:
            QApplication.restoreOverrideCursor()
        if not done or done.value is None:
            self.resume_background()
            return
        self.encrypt_banner.hide()
        read = attempt(self, "Practice details not read", lambda: self.practice.settings.settings(self.actor),
                       report=lambda _message: None)  # the key page says "your practice" instead
        show_recovery_key(self, done.value, read.value.name if read.value is not None else "")
        self.reopenRequested.emit()

    def _poll_changes(self) -> None:
        # A file deleted or replaced meanwhile refuses every write; say so before anyone tries.
        self.show_file_problem(self.practice.file_problem())
        changed = self.watcher.changed()
        link = self.watcher.link()
        self._name_unknown_changes()
        if not link.connected:
            self._show_lost(link)
            return
        if link.reconnects != self._reconnects_seen:
            self._reconnects_seen = link.reconnects
            if self.connection_banner.lost:
                self._connection_back()
                return
            # Back after the watcher was let go on purpose (the idle lock), or after a moment too
            # short to say so: what changed meanwhile is found through the change numbers.
        if changed:
            self.clients_page.refresh_from_database()  # a refusal is said where the counts go
            if self._appointments_page is not None:
                self._appointments_page.reload()  # hidden, it only notes that it is out of date
        elif not link.change_waiting:
            self.clients_page.confirm_current(link.last_heard)
        self._resolve_unknown_outcomes()

    # ------------------------------------------------------------ the server connection

    def _show_lost(self, link: connection.Link) -> None:
        as_of = self.clients_page.read_at
        self.connection_banner.show_lost(link, len(connection.unresolved(self.practice, self.actor)))
        self.clients_page.show_data_as_of(as_of)

    @Slot()
    def retry_connection(self) -> None:
        """The banner's Retry now: the watcher tries at once (on its own thread)."""
        self.watcher.retry_now()
        link = self.watcher.link()
        if not link.connected:
            self._show_lost(link)

    def _connection_back(self) -> None:
        """The server answers again after it did not (or after the idle lock): everything shown
        is read again, since notifications sent meanwhile are lost and the server may even be
        back as it was earlier; changes of unknown outcome are looked up."""
        self.connection_banner.connection_back()
        self.clients_page.reload_everything()  # its "as it was at" note goes once the rows are in
        for page in (self._appointments_page, self._billing_page):
            if page is not None:
                page.reload()  # a hidden page reads when it is next shown
        for window in list(self.profiles.values()):
            reload = getattr(window, "reload", None)
            if shiboken6.isValid(window) and window.isVisible() and callable(reload):
                reload()
        self.check_connection_security()
        self._resolve_unknown_outcomes(now=True)
        self.automatic_billing.retry_if_failed()

    def _name_unknown_changes(self) -> None:
        """Note, while the list still shows them, the names of the records of changes whose
        outcome is unknown (a deleted client is gone from the list once the deletion is known)."""
        for change in connection.unresolved(self.practice, self.actor):
            if change.operation_id in self._unknown_names or change.target_id is None:
                continue
            kind = {"client": Kind.CLIENT, "contact": Kind.CONTACT}.get(change.target_kind or "")
            slot = self.roster.slot_of(kind, change.target_id) if kind is not None else None
            self._unknown_names[change.operation_id] = self.roster.name(slot) if slot is not None else ""

    def _resolve_unknown_outcomes(self, *, now: bool = False) -> None:
        """Ask the server, off the GUI thread, about this person's changes of unknown outcome."""
        if self._resolving or (not now and time.monotonic() < self._resolve_after) \
                or not connection.unresolved(self.practice, self.actor):
            return
        self._resolving = True
        practice, actor = self.practice, self.actor
        in_background(self, "Changes not looked up", lambda: connection.resolve_unknown_outcomes(practice, actor),
                      self._outcomes_resolved, report=lambda _message: None)  # asked again later

    def _outcomes_resolved(self, outcome: Outcome[list[connection.Resolution]]) -> None:
        self._resolving = False
        self._resolve_after = time.monotonic() + RESOLVE_AGAIN_SECONDS
        found = outcome.value if outcome.ok and outcome.value else []
        if not found:
            return
        sentences = []
        for resolution in found:
            named = self._unknown_names.pop(resolution.change.operation_id, "")
            sentences.append(connection.Resolution(resolution.change, resolution.saved, named).sentence)
        self.connection_banner.add_outcomes(sentences)
        if any(r.saved for r in found):
            self.clients_page.refresh_from_database()  # a change saved after all is listed

    def check_connection_security(self) -> None:
        """Ask the server, off the GUI thread, how this connection is protected (status bar)."""
        if not self.practice.on_server or self._security_checking:
            return
        self._security_checking = True
        practice = self.practice
        in_background(self, "Connection not checked", lambda: connection.security(practice),
                      self._security_known, report=lambda _message: None)  # said after the next reconnect

    def _security_known(self, outcome: Outcome[connection.ConnectionSecurity]) -> None:
        self._security_checking = False
        if outcome.ok and outcome.value is not None:
            self.security_label.show_security(outcome.value)

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
        self.anchor_timer.stop()
        self.watcher.close()
        self.automatic_billing.stop()
        if self.screen_lock is not None:
            self.screen_lock.stop()
        for window in list(self.profiles.values()):
            window.close()
        for other in (self.duplicates_window, self.users_window, self.audit_window):
            if other is not None and shiboken6.isValid(other):
                other.close()
                if self.signing_out:
                    other.deleteLater()  # nothing of this person's stays behind, even hidden
        from desktop.ui.audit_log_window import keep_anchor_quietly

        keep_anchor_quietly(self.practice, self.actor)  # the log's head as this session leaves it
        super().closeEvent(event)
        self.closed.emit()

    # ------------------------------------------------------------- profiles

    def open_duplicates(self) -> None:
        from desktop.ui.duplicates_window import DuplicatesWindow

        if self.duplicates_window is None:
            created = DuplicatesWindow(self.practice, self.actor)
            created.changed.connect(self.clients_page.refresh_from_database)
            self.duplicates_window = created
            created.show()
            created.scan()
        window = self.duplicates_window
        window.show()
        window.raise_()

    def _client_deleted(self, client_id: int, name: str) -> None:
        window = self.profiles.pop(("client", client_id), None)  # it closes itself
        self._show_deleted(client_id, name, getattr(window, "erased", True))

    def _show_deleted(self, client_id: int, name: str, erased: bool | None) -> None:
        window = self.profiles.pop(("client", client_id), None)
        if window is not None and shiboken6.isValid(window) and window.isVisible():
            window.close()  # deleted from the Client menu while its profile was open
        self.clients_page.refresh_from_database()
        if self.practice.on_server:
            # As the command line says it: gone from the practice, not yet from the server's disk.
            self.statusBar().showMessage(
                f"{isolate(name)} was deleted from the practice. The server's disk keeps the deleted "
                "rows until PostgreSQL reuses their space: keep the server on encrypted storage.", 15000)
            return
        if erased is False:
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
