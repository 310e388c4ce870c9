"""Starting the window: open the database, first run or sign in, then the main window.

One person at a time (``Session``): after a sign-in whose password someone else
chose, the new password comes first; signing out closes every window of theirs
and asks who signs in next, in the same run of the application.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from desktop.controllers.access import SignedIn
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice, open_practice, where
from desktop.ui import activity
from desktop.ui.operation import attempt, background_since


def resources_dir() -> Path:
    """``resources/`` beside the package, or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


SWITCH_INTERVAL_S = 0.001


class GarbageCollector(QObject):
    """Python's cycle collector, run on the GUI thread only.

    Left to itself, the collector runs in whichever thread happens to allocate
    past its threshold, a background job's included. A Qt widget caught in a
    cycle would then be deleted from that thread, in the middle of whatever the
    GUI thread is doing: a crash. So automatic collection is switched off and
    this timer does the same work, at the same thresholds, on the GUI thread.

    A background read can make hundreds of thousands of objects between two checks
    (a day of 50,000 appointments: 300 ms to scan, the window frozen meanwhile). Such a
    crowd is not scanned but frozen (``gc.freeze``: set aside, never scanned, still freed
    when its last reference goes), and so is everything when a full collection is due (it
    scans every object there is), and when background work went on since the last collection
    (``operation.background_since``: what it made cannot be told by Python's count, and
    counting it is itself a stall); what froze is scanned again (``reclaim``) once every
    ``RECLAIM_EVERY_S`` at most, at a moment nobody is typing, sorting or filtering in the list.
    So while the window keeps reading in the background, cyclic garbage waits for that
    moment (at most ``RECLAIM_AT_LATEST_S``) instead of the next check.
    """

    FREEZE_ABOVE = 20_000  # objects a collection would scan: more takes longer than a frame
    # New objects counted beside background work, above which they are set aside uncounted (a
    # small job's few are still collected at once, and no full collection follows for them).
    BUSY_FREEZE_ABOVE = 2_000
    RECLAIM_EVERY_S = 300.0
    # Reclaimed even while the list is busy, so garbage set aside cannot grow without end.
    RECLAIM_AT_LATEST_S = 3 * RECLAIM_EVERY_S
    QUIET_S = 5.0

    def __init__(self, parent: QObject, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.reclaimed_at = time.monotonic()
        # Whether anything was frozen since the last reclaim (``gc.get_freeze_count`` would tell,
        # but it counts the frozen objects one by one: 15 ms for two million, every check).
        self.frozen = False
        self.collected_at = time.monotonic()  # the last collection or freeze: what is new came since
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    @Slot()
    def check(self) -> None:
        young, middle, old = gc.get_count()
        first, second, third = self.thresholds
        if young > first:
            since, self.collected_at = self.collected_at, time.monotonic()
            generation = 2 if middle > second and old > third else 1 if middle > second else 0
            # The count is of objects made less those freed, old ones included: a day of
            # appointments read while another is let go counts few. While background work
            # goes on, or just went on, more than a few new objects are set aside unscanned,
            # uncounted (counting 90,000 took 12 ms; Python counted 6,000 of them); else what a
            # collection would scan is counted.
            crowd = (young > self.FREEZE_ABOVE or generation == 2
                     or young > self.BUSY_FREEZE_ABOVE and background_since(since)
                     or sum(len(gc.get_objects(g)) for g in range(generation + 1)) > self.FREEZE_ABOVE)
            if crowd:
                # Set aside until the list is quiet (``reclaim``): scanning a crowd (or every
                # object, for a full collection) beside a day of 50,000 appointments took up
                # to 380 ms. Collecting the generations left empty only restarts their counts.
                gc.freeze()
                gc.collect(2)
                self.frozen = True
            else:
                gc.collect(generation)
        since = time.monotonic() - self.reclaimed_at
        if self.frozen and (since >= self.RECLAIM_EVERY_S and not activity.busy(self.QUIET_S)
                            or since >= self.RECLAIM_AT_LATEST_S):
            self.reclaim()

    def reclaim(self) -> None:
        """Scan what was frozen, with everything else, and free what is garbage among it."""
        self.reclaimed_at = time.monotonic()
        self.frozen = False
        gc.unfreeze()
        gc.collect()


def make_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv if argv is not None else sys.argv[:1])
    if app.findChild(GarbageCollector) is None:
        GarbageCollector(app)
    # A background job running Python (the first billing run: a minute of it) keeps the
    # interpreter lock up to this long each time the window's thread asks for it, and a
    # repaint asks once per cell. Python's 5 ms made a keystroke wait up to 270 ms while
    # the first run went on; 1 ms keeps it under 50 (benchmarks/list_filter.py).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    app.setApplicationName("Caseload")
    app.setOrganizationName("Caseload")
    app.setApplicationDisplayName("Caseload")
    app.setDesktopFileName("caseload")  # lets Wayland match windows to caseload.desktop
    app.setWindowIcon(icon("caseload"))
    return app


def icon(name: str) -> QIcon:
    """An icon from resources/icons, in its dark variant when the palette is dark."""
    folder = resources_dir() / "icons"
    app = QApplication.instance()
    dark = isinstance(app, QApplication) and app.palette().window().color().lightness() < 128
    for candidate in ((folder / "dark" / f"{name}.svg") if dark else None, folder / f"{name}.svg"):
        if candidate is not None and candidate.exists():
            return QIcon(str(candidate))
    return QIcon()


def style_sheet() -> str:
    """The small style sheet; set on the widgets it names, not the whole application,
    because an application-wide sheet routes every paint through the style-sheet engine."""
    path = resources_dir() / "styles" / "caseload.qss"
    return path.read_text(encoding="utf-8") if path.exists() else ""


DEMO_PASSWORD = "demo"  # published: the demo's users are fictional and share it


def sign_in(practice: Practice, notice: str = "") -> SignedIn | None:
    """First run (create the owner, maybe load the demo) or the sign-in dialog (with ``notice``
    above it, e.g. why the last person was signed out)."""
    from desktop.ui.dialogs.first_run import FirstRunDialog
    from desktop.ui.dialogs.sign_in import SignInDialog

    if not practice.access.has_users():
        first = FirstRunDialog(practice)
        if not first.exec() or first.actor is None:
            return None
        if first.demo.isChecked():
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                report = practice.load_demo(clients=1000, password=DEMO_PASSWORD, actor=first.actor)
            finally:
                QApplication.restoreOverrideCursor()
            box = QMessageBox(QMessageBox.Icon.Information, "Demo practice loaded",
                              f"{report.clients:,} fictional clients are in your practice.")
            box.setObjectName("demoLoaded")
            box.setInformativeText(
                f"The demo's fictional users ({', '.join(report.users_created)}) share the published "
                f"password “{DEMO_PASSWORD}”, so anyone can try each role. Every password a person "
                "sets, yours included, needs 10 or more characters. You remain the only Account Owner.")
            box.exec()
        return SignedIn(first.actor)
    dialog = SignInDialog(practice, practice.location, notice=notice)
    if not dialog.exec():
        return None
    return dialog.signed_in


def change_password_first(practice: Practice, actor: Actor) -> Actor | None:
    """The new password of someone whose password another person chose; None if they cancelled."""
    from desktop.ui.dialogs.change_password import ChangePasswordDialog

    dialog = ChangePasswordDialog(practice, actor, None, forced=True)
    changed = bool(dialog.exec())
    new_actor = dialog.actor if changed else None
    dialog.deleteLater()
    return new_actor


def tell_failed_attempts(window: QWidget, notice: str) -> QMessageBox:
    """Failed sign-in attempts on this username since its last sign-in, said once, over the window.

    A box rather than the status bar: it is about someone perhaps guessing the
    password, which the person should read and answer, and it comes only when
    there were failures. Window-modal and not waited for (``open``).
    """
    box = QMessageBox(QMessageBox.Icon.Information, "Failed sign-in attempts", notice,
                      QMessageBox.StandardButton.Ok, window)
    box.setObjectName("failedAttempts")
    box.setInformativeText("If they were not yours, someone may be trying to guess your password: "
                           "change it (File menu, Change password) and tell your Account Owner.")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class Session(QObject):
    """Whoever is signed in, and their main window: sign in, work, sign out, the next person.

    ``start`` asks who signs in (and, for a password someone else chose, the new
    one first), opens a fresh ``MainWindow`` with its idle lock
    (``desktop.ui.idle_lock``) and says how many sign-ins on that username failed
    since the last one, if any. When it is signed out of (from the File menu or
    the lock screen), that window and every other one of theirs is closed and
    deleted, and the sign-in dialog asks again; closing it any other way (Quit,
    the close button) ends the application through ``quit``. After the file is
    encrypted under it, the window is replaced by a fresh one for the same
    person. The application must not quit by itself when its last window
    closes: between two people there is none open.
    """

    def __init__(self, practice: Practice, settings: QSettings, quit: Callable[[], object]) -> None:
        super().__init__()
        self.practice, self.settings, self.quit = practice, settings, quit
        self.window: QWidget | None = None
        self.notice = ""

    def start(self) -> bool:
        """Sign someone in and open their window; False if nobody did (Cancel)."""
        while True:
            signed = sign_in(self.practice, self.notice)
            self.notice = ""
            if signed is None:
                return False
            actor: Actor | None = signed.actor
            if signed.actor.must_change_password:
                actor = change_password_first(self.practice, signed.actor)
            if actor is None:  # no new password, no work: back to signing in
                self.notice = "You were signed out: choose a new password before you go on."
                continue
            break
        remember(self.settings, self.practice.location)
        window = self._open_window(actor)
        if signed.notice:
            tell_failed_attempts(window, signed.notice)
        return True

    def _open_window(self, actor: Actor) -> QWidget:
        """The main window of ``actor``, shown and loading, with the idle lock watching."""
        from desktop.ui.main_window import MainWindow

        window = MainWindow(self.practice, actor, self.settings)
        window.signedOut.connect(self._signed_out)
        window.closed.connect(self._closed)
        window.reopenRequested.connect(self._reopen)
        self.window = window
        window.show()
        window.load()
        window.enable_idle_lock()
        return window

    @Slot()
    def _reopen(self) -> None:
        """The practice file was encrypted under the window: the same person, in a fresh window
        (every controller is new; the old window's pages, lists and watcher are stale)."""
        from desktop.ui.main_window import MainWindow

        window = self.window
        if not isinstance(window, MainWindow):
            return
        actor = window.actor
        window.close_for_reopen()
        self.window = None
        window.deleteLater()
        # From the event loop, not from inside the button of a window being deleted.
        QTimer.singleShot(0, self, lambda: self._open_window(actor))

    @Slot()
    def _closed(self) -> None:
        window = self.window
        if window is not None and not getattr(window, "signing_out", False):
            self.quit()

    @Slot()
    def _signed_out(self) -> None:
        self.practice.access.sign_out()  # an encrypted file's key goes with the person
        window, self.window = self.window, None
        if window is not None:
            window.deleteLater()
        self.notice = "You signed out."
        # From the event loop, not from inside the Sign out action of a window being deleted.
        QTimer.singleShot(0, self, self.sign_in_next)

    @Slot()
    def sign_in_next(self) -> None:
        started = attempt(None, "Caseload", self.start,
                          report=lambda message: QMessageBox.critical(None, "Caseload", message))
        if not started.value:
            self.quit()


def install_crash_handler() -> None:
    """One place for errors nobody expected: log them and tell the person, never a silent blank.

    Errors a user can act on are ``CaseloadError`` and are shown where they
    happen, through ``desktop.ui.operation``; anything reaching here is a bug,
    written to a log beside the data.
    """
    import logging
    import traceback

    import platformdirs

    log_dir = Path(platformdirs.user_log_dir("Caseload", "Caseload"))
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=str(log_dir / "caseload.log"), level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")

    def handle(kind, value, tb) -> None:  # type: ignore[no-untyped-def]
        text = "".join(traceback.format_exception(kind, value, tb))
        logging.error("Unexpected error\n%s", text)
        if sys.__stderr__ is not None:  # a windowed bundle has no console
            sys.__stderr__.write(text)
        if QApplication.instance() is not None:
            QMessageBox.critical(
                None, "Caseload hit an unexpected error",
                f"{kind.__name__}: {value}\n\nWhat this action managed to do is not known; check before "
                f"trying it again. The details are in {log_dir / 'caseload.log'}; please send them to "
                "your administrator.")

    sys.excepthook = handle


KNOWN_PRACTICES = "practice/known"


def remember(settings: QSettings, location: str) -> None:
    """Note that a practice lives at ``location``, so its disappearance is noticed later."""
    known = [str(k) for k in (settings.value(KNOWN_PRACTICES) or []) if k]
    if location not in known:
        settings.setValue(KNOWN_PRACTICES, [*known, location])


def open_for_window(database_url: str | None, settings: QSettings,
                    report: Callable[[str], object]) -> Practice | None:
    """Open the practice; a first run may create it, a vanished one is reported, never replaced.

    A file that this computer's Caseload has opened before and that is gone now
    was deleted or moved: starting a new, empty practice in its place would look
    as if every record had been lost. Ask instead.
    """
    location, exists = where(database_url)
    known = [str(k) for k in (settings.value(KNOWN_PRACTICES) or [])]
    create = True
    if exists is False and location in known:
        box = QMessageBox(QMessageBox.Icon.Warning, "Practice database missing",
                          f"Your practice database at {location} is missing.")
        box.setObjectName("practiceMissing")
        box.setInformativeText("Restore it from a backup, or choose another file. Starting a new, "
                               "empty practice there is possible, but only if you mean to.")
        choose = box.addButton("Choose another file…", QMessageBox.ButtonRole.AcceptRole)
        choose.setObjectName("chooseAnotherFile")
        start_new = box.addButton("Start a new practice", QMessageBox.ButtonRole.DestructiveRole)
        start_new.setObjectName("startNewPractice")
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
        quit_button.setObjectName("quit")
        box.setDefaultButton(quit_button)
        box.exec()
        if box.clickedButton() is choose:
            from PySide6.QtWidgets import QFileDialog

            chosen, _ = QFileDialog.getOpenFileName(None, "Choose the practice file", str(Path(location).parent),
                                                    "Caseload practice (*.db);;All files (*)")
            if not chosen:
                return None
            database_url, create = f"sqlite:///{chosen}", False
        elif box.clickedButton() is not start_new:
            return None
    opened = attempt(None, "Caseload cannot open the database",
                     lambda: open_practice(database_url, create=create), report=report)
    return opened.value if opened else None


def run(database_url: str | None = None) -> int:
    def critical(title: str) -> Callable[[str], object]:
        """Before any window: a refusal ends the start, so it is said as critical."""
        return lambda message: QMessageBox.critical(None, title, message)

    app = make_application()
    install_crash_handler()
    settings = QSettings()
    practice = open_for_window(database_url, settings, report=critical("Caseload cannot open the database"))
    if practice is None:
        return 1
    app.setQuitOnLastWindowClosed(False)  # between two people no window is open; Session quits
    session = Session(practice, settings, quit=app.quit)
    try:
        started = attempt(None, "Caseload", session.start, report=critical("Caseload"))
        if not started:
            return 1
        if not started.value:
            return 0
        return app.exec()
    finally:
        practice.close()  # also finishes erasing a deletion a reader had held up
