"""The idle lock, the lock screen, the sign-in notice and the "not encrypted" banner (issue 14),
driven as a person would, with a fake clock instead of waiting minutes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QMessageBox, QWidget

from desktop.controllers.access import last_group
from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import CaseloadError, NotSignedIn
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice, open_practice
from desktop.controllers.roster import Column
from desktop.controllers.settings import SettingsController
from desktop.controllers.users import UsersController
from desktop.domain.models import Client, Role
from desktop.ui import app
from desktop.ui.dialogs.edit_client import EditClientDialog
from desktop.ui.dialogs.lock_screen import LOCKED_TITLE, LockScreen
from desktop.ui.dialogs.sign_in import SignInDialog
from desktop.ui.idle_lock import IdleWatcher, LockCover, ScreenLock
from desktop.ui.main_window import MainWindow
from tests.helpers import PASSWORD, seed_users
from tests.ui.test_profile_and_deletion import click_button, when_modal

LEFT = Qt.MouseButton.LeftButton
OWNER_PASSWORD = "a long enough passphrase"
SQLITE_HEADER = b"SQLite format 3\x00"


class FakeClock:
    """Seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def clients(db, practice) -> dict[str, int]:  # type: ignore[no-untyped-def]
    controller = ClientsController(db)
    owner = practice["owner"]
    return {"ada": controller.add_client(owner, first_name="Ada", last_name="Lovelace",
                                         date_of_birth="1985-12-10"),
            "grace": controller.add_client(owner, first_name="Grace", last_name="Hopper")}


class Opened:
    """A signed-in main window with its idle lock on a fake clock."""

    def __init__(self, window: MainWindow, clock: FakeClock) -> None:
        self.window, self.clock = window, clock
        assert window.screen_lock is not None
        self.lock: ScreenLock = window.screen_lock
        self.watcher: IdleWatcher = self.lock.watcher

    def idle(self, seconds: float) -> None:
        """Nobody touches anything for ``seconds``; the once-a-second check then runs."""
        self.clock.advance(seconds)
        self.watcher.check()

    def lock_by_idling(self) -> LockScreen:
        self.idle(self.watcher.minutes * 60)
        assert self.watcher.warning.isVisible()
        self.idle(30)
        screen = self.lock.screen
        assert screen is not None and screen.isVisible()
        return screen


@pytest.fixture
def open_window(qtbot, db, settings) -> Callable[..., Opened]:  # type: ignore[no-untyped-def]
    def opener(actor: Actor, practice: Practice | None = None) -> Opened:
        window = MainWindow(practice or Practice(db), actor, settings)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        window.load(background=False)
        clock = FakeClock()
        # A long interval: the checks run when the test says, against the fake clock.
        window.enable_idle_lock(clock=clock, interval_ms=3_600_000)
        return Opened(window, clock)

    return opener


def visible_windows() -> list[QWidget]:
    return [w for w in QApplication.topLevelWidgets() if w.isVisible() and not isinstance(w, QMenu)]


def texts_of(widget: QWidget) -> str:
    return " ".join([widget.windowTitle()] + [label.text() for label in widget.findChildren(QLabel)
                                              if label.isVisible()])


def assert_covered(window: QWidget) -> None:
    """Nothing of ``window`` shows: its cover is up, over all of it, and its title says locked."""
    covers = [c for c in window.findChildren(LockCover) if c.parentWidget() is window]
    assert len(covers) == 1, window
    cover = covers[0]
    assert cover.isVisible() and cover.geometry() == window.rect()
    assert window.windowTitle() == LOCKED_TITLE
    # The window as the screen would show it is exactly its cover: no pixel of anything else.
    assert window.grab().toImage() == cover.grab().toImage()


# ------------------------------------------------------------------ the warning

def test_the_warning_comes_after_the_practices_minutes_without_input_and_not_before(
        qtbot, db, practice, open_window):  # type: ignore[no-untyped-def]
    SettingsController(db).save(practice["owner"], 0, {"name": "Riverside", "idle_lock_minutes": 3}, [])
    opened = open_window(practice["clinician"])
    assert opened.watcher.minutes == 3
    opened.idle(3 * 60 - 1)
    assert not opened.watcher.warning.isVisible()
    opened.idle(1)
    warning = opened.window.findChild(QWidget, "idleWarning")
    assert warning is not None and warning.isVisible()
    assert warning.text.text() == ("Caseload will lock in 30 seconds because nobody has used it for "
                                   "3 minutes.")
    stay = warning.findChild(QWidget, "staySignedIn")
    assert stay.isDefault()
    qtbot.waitUntil(stay.hasFocus)  # Space or Return answers at once
    opened.idle(11)
    assert warning.text.text().startswith("Caseload will lock in 19 seconds")
    opened.idle(18)
    assert warning.text.text().startswith("Caseload will lock in 1 second because")
    assert opened.lock.screen is None
    opened.idle(1)
    assert opened.lock.is_locked and not warning.isVisible()


def test_input_resets_the_wait_and_only_an_answer_in_the_warning_keeps_the_session(
        qtbot, db, practice, clients, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    table = opened.window.clients_page.table
    opened.idle(9 * 60 + 50)
    qtbot.keyClick(table, Qt.Key.Key_Down)  # someone is working
    opened.idle(60)
    assert not opened.watcher.warning.isVisible()
    qtbot.mouseMove(table, QPoint(200, 40))
    opened.idle(9 * 60 + 59)
    assert not opened.watcher.warning.isVisible()
    opened.idle(1)
    warning = opened.watcher.warning
    assert warning.isVisible()

    # A mouse moved or a key pressed elsewhere is not an answer: the warning stays and counts on.
    qtbot.mouseMove(table, QPoint(300, 60))
    qtbot.keyClick(table, Qt.Key.Key_Up)
    opened.idle(5)
    assert warning.isVisible() and "25 seconds" in warning.text.text()

    qtbot.keyClick(warning, Qt.Key.Key_Shift)  # any key in the warning is an answer
    assert not warning.isVisible() and not opened.lock.is_locked
    opened.idle(9 * 60)
    assert not warning.isVisible()  # a whole new wait after the answer
    opened.idle(60)
    assert warning.isVisible()
    qtbot.mouseClick(warning.stay, LEFT)
    assert not warning.isVisible()
    opened.idle(10 * 60 - 1)
    assert not warning.isVisible() and not opened.lock.is_locked


def test_a_computer_that_slept_past_the_warning_locks_at_once(
        qtbot, db, practice, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    opened.idle(2 * 60 * 60)
    assert opened.lock.is_locked and not opened.watcher.warning.isVisible()


def test_a_shorter_setting_saved_elsewhere_meanwhile_still_warns_first(
        qtbot, db, practice, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    for _ in range(9 * 60):
        opened.idle(1)  # checked every second, as the timer does
    assert not opened.watcher.warning.isVisible()
    SettingsController(db).save(practice["owner"], 0, {"name": "Riverside", "idle_lock_minutes": 3}, [])
    for _ in range(60):
        opened.idle(1)  # read again within a minute
    assert opened.watcher.warning.isVisible() and not opened.lock.is_locked
    assert "30 seconds" in opened.watcher.warning.text.text()


def test_a_longer_setting_saved_elsewhere_meanwhile_counts_before_warning(
        qtbot, db, practice, open_window):  # type: ignore[no-untyped-def]
    controller = SettingsController(db)
    saved = controller.save(practice["owner"], 0, {"name": "Riverside", "idle_lock_minutes": 3}, [])
    opened = open_window(practice["owner"])
    controller.save(practice["owner"], saved.version, {"name": "Riverside", "idle_lock_minutes": 5}, [])
    opened.idle(3 * 60)
    assert not opened.watcher.warning.isVisible() and opened.watcher.minutes == 5
    opened.idle(2 * 60)
    assert opened.watcher.warning.isVisible()
    assert "for 5 minutes" in opened.watcher.warning.text.text()


# ------------------------------------------------------------------ the lock

def test_the_lock_covers_every_window_and_the_right_password_gives_back_the_unsaved_edit(
        qtbot, db, practice, clients, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    window = opened.window
    window.open_profile("client", clients["ada"])
    profile = window.profiles[("client", clients["ada"])]
    dialog = EditClientDialog(window.clients, window.actor, clients["ada"], window)
    dialog.show()
    qtbot.keyClicks(dialog.edits["preferred_name"], "Countess")
    title_before = dialog.windowTitle()
    assert "Lovelace" in title_before and "Lovelace" in profile.windowTitle()
    menu = window.commands.menus["client"]
    menu.popup(window.mapToGlobal(QPoint(100, 100)))  # a menu left open
    qtbot.waitUntil(menu.isVisible)

    screen = opened.lock_by_idling()
    assert not menu.isVisible()
    shown = visible_windows()
    assert {id(w) for w in shown} == {id(window), id(profile), id(dialog), id(screen)}
    for widget in shown:
        if widget is screen:
            continue
        assert_covered(widget)
    assert screen.windowTitle() == LOCKED_TITLE
    assert screen.heading.text() == "Locked. \u2068Olivia Owens\u2069 is signed in."
    for widget in shown:
        if widget is not screen:
            continue
        words = texts_of(widget)
        assert "Lovelace" not in words and "Ada" not in words and "Hopper" not in words
    assert QApplication.activeModalWidget() is screen
    qtbot.waitUntil(screen.findChild(QWidget, "lockPassword").hasFocus)

    # Wrong password: one sentence, the box cleared, still locked.
    qtbot.keyClicks(screen.password, "not the password")
    qtbot.mouseClick(screen.unlock, LEFT)
    assert screen.isVisible() and opened.lock.is_locked
    assert screen.problem.text() == ("That is not the password of Olivia Owens, or their account is no "
                                     "longer active.")
    assert screen.password.text() == ""
    assert_covered(dialog)

    qtbot.keyClicks(screen.password, PASSWORD)
    qtbot.keyClick(screen.password, Qt.Key.Key_Return)
    assert not opened.lock.is_locked and not screen.isVisible()
    assert dialog.isVisible() and dialog.edits["preferred_name"].text() == "Countess"
    assert dialog.windowTitle() == title_before and "Lovelace" in profile.windowTitle()
    assert window.windowTitle() == "Olivia Owens (Account Owner)"
    for widget in (window, profile, dialog):
        assert not [c for c in widget.findChildren(LockCover) if c.isVisible()]
    with db.reading() as s:
        assert s.get(Client, clients["ada"]).preferred_name is None  # nothing was saved by locking
    dialog.reject()


def test_a_dialog_run_with_exec_stays_open_with_its_edit_through_lock_and_unlock(
        qtbot, db, practice, clients, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    window = opened.window
    assert window.clients_page.select_record("client", clients["ada"])
    seen: dict[str, object] = {}

    def meanwhile(dialog: EditClientDialog) -> None:
        qtbot.keyClicks(dialog.edits["preferred_name"], "Countess")
        screen = opened.lock_by_idling()
        assert_covered(dialog)
        assert_covered(window)
        seen["modal while locked"] = QApplication.activeModalWidget() is screen
        qtbot.keyClicks(screen.password, PASSWORD)
        qtbot.mouseClick(screen.unlock, LEFT)
        seen["open after unlock"] = dialog.isVisible()
        seen["text after unlock"] = dialog.edits["preferred_name"].text()
        seen["modal after unlock"] = QApplication.activeModalWidget() is dialog
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(EditClientDialog, meanwhile)
    window.edit_current()
    assert seen == {"modal while locked": True, "open after unlock": True, "text after unlock": "Countess",
                    "modal after unlock": True}
    with db.reading() as s:
        assert s.get(Client, clients["ada"]).preferred_name == "Countess"  # saved after unlocking


def test_signing_out_from_the_lock_asks_whose_changes_go_and_cancel_stays_locked(
        qtbot, db, practice, clients, settings):  # type: ignore[no-untyped-def]
    quits: list[bool] = []
    session = app.Session(Practice(db), settings, quit=lambda: quits.append(True))
    when_modal(SignInDialog, sign_in_as(qtbot, "owner", PASSWORD))
    try:
        assert session.start()
        window = session.window
        assert isinstance(window, MainWindow) and window.screen_lock is not None
        clock = FakeClock()
        window.screen_lock.watcher.clock = clock
        window.screen_lock.watcher.last_input = clock()
        opened = Opened(window, clock)
        dialog = EditClientDialog(window.clients, window.actor, clients["ada"], window)
        dialog.show()
        qtbot.keyClicks(dialog.edits["preferred_name"], "Countess")
        screen = opened.lock_by_idling()
        asked: list[str] = []

        def answer(button: str) -> Callable[[QMessageBox], None]:
            def click(box: QMessageBox) -> None:
                asked.append(f"{box.text()} {box.informativeText()}")
                click_button(box, button)
            return click

        when_modal(QMessageBox, answer("cancel"))
        qtbot.mouseClick(screen.sign_out, LEFT)
        assert asked and asked[0].startswith("Discard the unsaved changes of \u2068Olivia Owens\u2069?")
        assert "“Edit client”" in asked[0] and "Lovelace" not in asked[0]
        assert screen.isVisible() and opened.lock.is_locked and dialog.isVisible()
        assert_covered(dialog)

        when_modal(QMessageBox, answer("discardAndSignOut"))
        when_modal(SignInDialog, sign_in_as(qtbot, "biller", PASSWORD))
        qtbot.mouseClick(screen.sign_out, LEFT)
        qtbot.waitUntil(lambda: session.window is not None and session.window is not window)
        assert not shiboken6.isValid(dialog) or not dialog.isVisible()
        assert session.window.actor.username == "biller"  # type: ignore[attr-defined]
        assert visible_windows() == [session.window]
        assert quits == []
        with db.reading() as s:
            assert s.get(Client, clients["ada"]).preferred_name is None
    finally:
        if session.window is not None and shiboken6.isValid(session.window):
            session.window.close()
            session.window.deleteLater()


def test_signing_out_from_the_lock_over_a_dialog_run_with_exec_closes_it_first(
        qtbot, db, practice, clients, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    window = opened.window
    signed_out: list[bool] = []
    window.signedOut.connect(lambda: signed_out.append(True))
    assert window.clients_page.select_record("client", clients["ada"])

    def meanwhile(dialog: EditClientDialog) -> None:
        qtbot.keyClicks(dialog.edits["preferred_name"], "Countess")
        screen = opened.lock_by_idling()
        when_modal(QMessageBox, lambda box: click_button(box, "discardAndSignOut"))
        qtbot.mouseClick(screen.sign_out, LEFT)

    when_modal(EditClientDialog, meanwhile)
    window.edit_current()  # returns once the dialog is closed, before the window signs out
    qtbot.waitUntil(lambda: signed_out == [True])
    assert not window.isVisible()
    with db.reading() as s:
        assert s.get(Client, clients["ada"]).preferred_name is None


def test_a_window_that_opens_while_locked_is_covered_and_one_without_edits_needs_no_question(
        qtbot, db, practice, clients, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    window = opened.window
    signed_out: list[bool] = []
    window.signedOut.connect(lambda: signed_out.append(True))
    window.open_profile("client", clients["ada"])
    notice = QMessageBox(QMessageBox.Icon.Information, "Notice", "Something to read.",
                         QMessageBox.StandardButton.Ok, window)
    notice.open()
    screen = opened.lock_by_idling()
    assert_covered(notice)
    late = QMessageBox(QMessageBox.Icon.Warning, "Ada Lovelace", "A refusal about Ada Lovelace.",
                       QMessageBox.StandardButton.Ok, window)
    late.show()  # e.g. a background job's refusal arriving while locked
    qtbot.waitUntil(lambda: bool([c for c in late.findChildren(LockCover) if c.isVisible()]))
    assert_covered(late)
    assert opened.lock.open_work() == []  # a profile and message boxes hold nothing typed
    asked: list[str] = []
    when_modal(QMessageBox, lambda box: asked.append(box.objectName()) if box.objectName() == "discardForSignOut"
               else None)
    qtbot.mouseClick(screen.sign_out, LEFT)  # so no question: signed out at once
    qtbot.waitUntil(lambda: signed_out == [True])
    assert asked == []
    assert visible_windows() == []


def test_a_role_changed_while_locked_signs_out_at_unlock(
        qtbot, db, practice, clients, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["clinician"])
    window = opened.window
    signed_out: list[bool] = []
    window.signedOut.connect(lambda: signed_out.append(True))
    screen = opened.lock_by_idling()
    UsersController(db).change_role(practice["owner"], "clinician", Role.CLINICIAN, entire_practice=True)
    told: list[str] = []

    def read(box: QMessageBox) -> None:
        told.append(box.text())
        box.button(QMessageBox.StandardButton.Ok).click()

    when_modal(QMessageBox, read)
    qtbot.keyClicks(screen.password, PASSWORD)
    qtbot.mouseClick(screen.unlock, LEFT)
    qtbot.waitUntil(lambda: signed_out == [True])
    assert told == ["Your role or password was changed while Caseload was locked, so you sign in again."]
    assert not window.isVisible()


def test_background_work_pauses_while_locked_and_changes_meanwhile_arrive_after(
        qtbot, db, practice, clients, open_window):  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    window = opened.window
    billing = window.automatic_billing
    qtbot.waitUntil(lambda: billing.last_report is not None or billing.last_problem is not None, timeout=15_000)
    assert window.watch_timer.isActive() and billing.hourly.isActive()
    screen = opened.lock_by_idling()
    assert not window.watch_timer.isActive() and not billing.hourly.isActive() and billing.stopping

    def listed() -> bool:
        model = window.clients_page.model
        return any("Lamarr" in str(model.index(r, Column.NAME).data()) for r in range(model.rowCount()))

    ClientsController(db).add_client(practice["manager"], first_name="Hedy", last_name="Lamarr")
    qtbot.wait(1200)  # more than two polls' time: nothing is read while locked
    assert not listed()
    qtbot.keyClicks(screen.password, PASSWORD)
    qtbot.mouseClick(screen.unlock, LEFT)
    assert window.watch_timer.isActive() and billing.hourly.isActive() and not billing.stopping
    qtbot.waitUntil(listed, timeout=5000)


def test_an_encrypted_practice_drops_its_key_while_locked(qtbot, tmp_path: Path, open_window) -> None:  # type: ignore[no-untyped-def]
    practice = open_practice(f"sqlite:///{tmp_path / 'encrypted' / 'caseload.db'}", create=True)
    try:
        owner, recovery = practice.access.create_owner("dana", "Dana Whitfield", OWNER_PASSWORD)
        assert recovery and practice.encrypted
        practice.clients.add_client(owner, first_name="Ada", last_name="Lovelace")
        opened = open_window(owner, practice)
        assert not opened.window.encrypt_banner.isVisible()  # encrypted already: no banner
        screen = opened.lock_by_idling()
        assert practice.locked
        with pytest.raises(CaseloadError):
            practice.clients.list_clients(owner)
        qtbot.keyClicks(screen.password, OWNER_PASSWORD)
        qtbot.mouseClick(screen.unlock, LEFT)
        assert not practice.locked and not opened.lock.is_locked
        assert [c.last_name for c in practice.clients.list_clients(owner)] == ["Lovelace"]
    finally:
        practice.close()


def test_lock_now_in_the_file_menu_locks_at_once_and_the_password_unlocks(
        qtbot, db, practice, clients, open_window) -> None:  # type: ignore[no-untyped-def]
    opened = open_window(practice["owner"])
    file_menu = opened.window.menuBar().findChild(QMenu, "fileMenu")
    lock_now = next(a for a in file_menu.actions() if a.objectName() == "lockNow")
    assert lock_now.isVisible() and lock_now.shortcut().toString() == "Ctrl+L"
    lock_now.trigger()
    screen = opened.lock.screen
    assert screen is not None and screen.isVisible() and opened.lock.is_locked
    assert_covered(opened.window)
    qtbot.keyClicks(screen.password, PASSWORD)
    qtbot.mouseClick(screen.unlock, LEFT)
    assert not opened.lock.is_locked and opened.window.windowTitle() != LOCKED_TITLE


# ------------------------------------------------------------------ signing in

def sign_in_as(qtbot, username: str, password: str) -> Callable[[SignInDialog], None]:  # type: ignore[no-untyped-def]
    def answer(dialog: SignInDialog) -> None:
        qtbot.keyClicks(dialog.username, username)
        qtbot.keyClicks(dialog.password, password)
        qtbot.mouseClick(dialog.sign_in, LEFT)
    return answer


@pytest.fixture
def session(db, settings) -> Iterator[app.Session]:  # type: ignore[no-untyped-def]
    made = app.Session(Practice(db), settings, quit=lambda: None)
    yield made
    window = made.window
    if window is not None and shiboken6.isValid(window):
        window.close()
        window.deleteLater()


def test_failed_attempts_since_the_last_sign_in_are_told_after_signing_in(
        qtbot, db, practice, session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotSignedIn):
        session.practice.access.sign_in("owner", "not the password")
    when_modal(SignInDialog, sign_in_as(qtbot, "owner", PASSWORD))
    assert session.start()
    window = session.window
    assert isinstance(window, MainWindow) and window.screen_lock is not None  # the idle lock is on
    box = window.findChild(QMessageBox, "failedAttempts")
    assert box is not None
    qtbot.waitUntil(box.isVisible)
    assert box.text() == "1 failed sign-in attempt since you last signed in."
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), LEFT)
    qtbot.waitUntil(lambda: not shiboken6.isValid(box) or not box.isVisible())


def test_no_failed_attempts_no_box(qtbot, db, practice, session) -> None:  # type: ignore[no-untyped-def]
    when_modal(SignInDialog, sign_in_as(qtbot, "owner", PASSWORD))
    assert session.start()
    assert session.window.findChild(QMessageBox, "failedAttempts") is None


# ------------------------------------------------------------------ the banner

@pytest.mark.parametrize("username", ["owner", "manager", "clinician", "biller"])
def test_only_the_account_owner_of_a_plain_local_file_sees_the_banner(
        qtbot, db, practice, open_window, username: str) -> None:  # type: ignore[no-untyped-def]
    opened = open_window(practice[username])
    banner = opened.window.findChild(QWidget, "encryptBanner")
    expected = username == "owner" and db.is_sqlite
    assert banner.isVisible() is expected
    if expected:
        assert "This practice file is not encrypted" in texts_of(banner)
        assert "Anyone who copies the file can read" in texts_of(banner)
        assert banner.findChild(QWidget, "encryptNow").isVisible()


@pytest.fixture
def plain_session(qtbot, sqlite_db, settings) -> Iterator[app.Session]:  # type: ignore[no-untyped-def]
    users = seed_users(sqlite_db)
    ClientsController(sqlite_db).add_client(users["owner"], first_name="Ada", last_name="Lovelace")
    made = app.Session(Practice(sqlite_db), settings, quit=lambda: None)
    when_modal(SignInDialog, sign_in_as(qtbot, "owner", PASSWORD))
    assert made.start()
    yield made
    window = made.window
    if window is not None and shiboken6.isValid(window):
        window.close()
        window.deleteLater()
    made.practice.close()


def wait_until_idle(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Until the window's own reads are over (the list, the file check, billing), as a person who
    looks at the list before choosing Encrypt now: while Caseload reads the file, encrypting says
    "try again in a moment" (test_privacy_at_rest.py)."""
    from PySide6.QtCore import QThreadPool

    from desktop.ui.operation import wait_for_background_jobs

    qtbot.waitUntil(lambda: window.clients_page.loaded_whole)
    QThreadPool.globalInstance().waitForDone(10_000)  # the file check
    assert wait_for_background_jobs()


def test_encrypt_now_encrypts_the_file_shows_the_key_and_reopens_the_window(
        qtbot, sqlite_db, plain_session) -> None:  # type: ignore[no-untyped-def]
    session = plain_session
    first = session.window
    assert isinstance(first, MainWindow)
    path = Path(sqlite_db.path)
    assert path.read_bytes()[:16] == SQLITE_HEADER
    asked: list[str] = []
    keys: list[str] = []

    def confirm(box: QMessageBox) -> None:
        asked.append(f"{box.text()} {box.informativeText()}")
        click_button(box, "encrypt")

    def keep_the_key(dialog: QWidget) -> None:
        key = dialog.findChild(QLabel, "recoveryKey").text()
        keys.append(key)
        qtbot.keyClicks(dialog.findChild(QWidget, "recoveryKeyCheck"), last_group(key))
        qtbot.mouseClick(dialog.findChild(QWidget, "recoveryKeyContinue"), LEFT)

    when_modal(QMessageBox, confirm)
    from desktop.ui.dialogs.recovery_key import RecoveryKeyDialog

    when_modal(RecoveryKeyDialog, keep_the_key)
    wait_until_idle(qtbot, first)
    qtbot.mouseClick(first.findChild(QWidget, "encryptNow"), LEFT)
    qtbot.waitUntil(lambda: session.window is not None and session.window is not first)
    assert asked and "close every other Caseload window" in asked[0] and "keeps their password" in asked[0]
    assert keys and len(keys[0]) > 20
    assert path.read_bytes()[:16] != SQLITE_HEADER
    practice = session.practice
    assert practice.encrypted and not practice.plain_local
    second = session.window
    assert isinstance(second, MainWindow) and second.actor.username == "owner"
    assert not second.encrypt_banner.isVisible()
    assert second.screen_lock is not None
    qtbot.waitUntil(lambda: second.clients_page.model.rowCount() == 1)
    qtbot.waitUntil(lambda: not shiboken6.isValid(first))
    assert visible_windows() == [second]


def test_encrypt_now_refused_while_another_program_has_the_file_open_says_so_and_goes_on(
        qtbot, sqlite_db, plain_session) -> None:  # type: ignore[no-untyped-def]
    window = plain_session.window
    assert isinstance(window, MainWindow)
    wait_until_idle(qtbot, window)  # (this process's own reads are another refusal)
    path = Path(sqlite_db.path)
    # Another program (another process: file locks are per process) in the middle of reading it.
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('BEGIN'); "
         "c.execute('SELECT count(*) FROM clients').fetchone(); print('reading', flush=True); sys.stdin.read()",
         str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    told: list[str] = []
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"

        def warned(box: QMessageBox) -> None:
            told.append(box.text())
            box.button(QMessageBox.StandardButton.Ok).click()

        def confirm(box: QMessageBox) -> None:
            when_modal(QMessageBox, warned)  # the next box: the refusal
            click_button(box, "encrypt")

        when_modal(QMessageBox, confirm)
        qtbot.mouseClick(window.encrypt_banner.button, LEFT)
        qtbot.waitUntil(lambda: bool(told))
    finally:
        reader.communicate("")
    assert told[0].startswith("Another Caseload window or program has this practice file open.")
    assert path.read_bytes()[:16] == SQLITE_HEADER
    assert plain_session.window is window and window.encrypt_banner.isVisible()
    assert window.watch_timer.isActive()  # back to work
