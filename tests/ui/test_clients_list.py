"""The Clients and contacts list, driven as a person would: typing, clicking, keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QModelIndex, QPoint, QSettings, Qt
from PySide6.QtWidgets import QApplication, QComboBox

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.domain.models import AuditEvent, Client, ClientStatus, StatusChange
from desktop.ui.main_window import MainWindow
from desktop.ui.roster_model import IdRole
from tests.helpers import PASSWORD, count


@pytest.fixture
def people(db, practice):  # type: ignore[no-untyped-def]
    """A small practice: three active clients, one inactive, one contact."""
    clients = ClientsController(db)
    owner = practice["owner"]
    ids = {
        "ada": clients.add_client(owner, first_name="Ada", last_name="Lovelace", email="ada@example.org",
                                  date_of_birth="1985-12-10", phone="(555) 010-1815",
                                  clinician_id=practice["clinician"].user_id),
        "grace": clients.add_client(owner, first_name="Grace", last_name="Hopper",
                                    email="grace@example.org", clinician_id=practice["clinician-all"].user_id),
        "alan": clients.add_client(owner, first_name="Alan", last_name="Turing",
                                   clinician_id=practice["clinician"].user_id),
        "edsger": clients.add_client(owner, first_name="Edsger", last_name="Dijkstra",
                                     clinician_id=practice["clinician-all"].user_id),
    }
    clients.set_status(owner, ids["edsger"], "inactive", reason="moved")
    contact = ContactsController(db).add_contact(owner, first_name="Byron", last_name="Lovelace")
    ContactsController(db).link(owner, ids["ada"], contact, "Parent")
    return ids


def shown_window(qtbot, db, tmp_path: Path, actor) -> MainWindow:  # type: ignore[no-untyped-def]
    """The main window as ``actor``, shown at 1280×800, its list not loaded yet."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(Practice(db), actor, settings)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


@pytest.fixture
def open_window(qtbot, db, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Open the main window as ``username`` and wait until the list is loaded."""

    def opener(actor):  # type: ignore[no-untyped-def]
        window = shown_window(qtbot, db, tmp_path, actor)
        with qtbot.waitSignal(window.clients_page.loaded, timeout=10_000):
            window.load()
        return window

    return opener


def names(window: MainWindow) -> list[str]:
    model = window.clients_page.model
    return [model.index(r, Column.NAME).data() for r in range(model.rowCount())]


def row_of(window: MainWindow, name: str) -> int:
    return names(window).index(name)


def test_the_list_shows_active_clients_and_contacts_by_default(open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    assert names(window) == ["Hopper, Grace", "Lovelace, Ada", "Lovelace, Byron", "Turing, Alan"]
    assert "3 active clients" in window.shown.text()
    assert "1 inactive" in window.shown.text()


def test_typing_in_search_narrows_the_list_and_clearing_restores_it(qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    search = window.clients_page.search
    qtbot.keyClicks(search, "love")
    assert names(window) == ["Lovelace, Ada", "Lovelace, Byron"]
    qtbot.keyClicks(search, "lace ada")
    assert names(window) == ["Lovelace, Ada"]
    search.clear()
    assert len(names(window)) == 4


def test_search_finds_by_phone_email_and_date_of_birth(qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    search = window.clients_page.search
    for typed in ("555-010-1815", "ADA@EXAMPLE", "1985-12-10"):
        search.clear()
        qtbot.keyClicks(search, typed)
        assert names(window) == ["Lovelace, Ada"], typed


def test_client_status_filter_with_apply_shows_inactive_then_all(qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    page = window.clients_page
    page.status_filter.setCurrentIndex(page.status_filter.findText("Inactive"))
    assert "Dijkstra, Edsger" not in names(window)  # nothing changes before Apply
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    assert names(window) == ["Dijkstra, Edsger"]
    page.status_filter.setCurrentIndex(page.status_filter.findText("All"))
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    assert len(names(window)) == 5


def test_clicking_a_column_header_sorts_by_it(qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    table = window.clients_page.table
    header = table.horizontalHeader()
    x = header.sectionViewportPosition(Column.EMAIL) + header.sectionSize(Column.EMAIL) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=header.rect().center().__class__(x, 5))
    emails = [window.clients_page.model.index(r, Column.EMAIL).data() for r in range(4)]
    assert emails[:2] == ["ada@example.org", "grace@example.org"]
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=header.rect().center().__class__(x, 5))
    emails = [window.clients_page.model.index(r, Column.EMAIL).data() for r in range(4)]
    assert emails[-2:] == ["grace@example.org", "ada@example.org"]


def choose_status(qtbot, window: MainWindow, name: str, choice: str) -> None:  # type: ignore[no-untyped-def]
    """Click the row's Status drop-down and pick ``choice`` with the keyboard."""
    table = window.clients_page.table
    index = window.clients_page.model.index(row_of(window, name), Column.STATUS)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(index).center())
    qtbot.waitUntil(lambda: table.findChild(QComboBox, "statusEditor") is not None)
    editor = table.findChild(QComboBox, "statusEditor")
    qtbot.waitUntil(lambda: editor.view().isVisible())
    target = editor.findText(choice)
    key = Qt.Key.Key_Down if target > editor.currentIndex() else Qt.Key.Key_Up
    for _ in range(abs(target - editor.currentIndex())):
        qtbot.keyClick(editor.view(), key)
    qtbot.keyClick(editor.view(), Qt.Key.Key_Return)


def test_status_drop_down_marks_a_client_inactive_and_ctrl_z_undoes_it(qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: "Turing, Alan" not in names(window))
    with db.reading() as s:
        assert s.get(Client, people["alan"]).status is ClientStatus.INACTIVE
    assert count(db, StatusChange, client_id=people["alan"]) == 1
    assert count(db, AuditEvent, action="client.set_status", target_id=people["alan"]) == 1
    assert "2 active clients" in window.shown.text()

    qtbot.keyClick(window.clients_page.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "Turing, Alan" in names(window))
    with db.reading() as s:
        assert s.get(Client, people["alan"]).status is ClientStatus.ACTIVE
    assert count(db, StatusChange, client_id=people["alan"]) == 2


@pytest.mark.parametrize("role", ["scheduler", "biller"])
def test_roles_that_may_not_change_status_get_no_status_drop_down(qtbot, db, open_window, practice, people,
                                                                   role, monkeypatch):  # type: ignore[no-untyped-def]
    """Regression: biller and scheduler got a working-looking drop-down whose choice was then refused."""
    shown: list[str] = []
    monkeypatch.setattr("desktop.ui.operation.QMessageBox.warning",
                        lambda _parent, _title, text: shown.append(text))
    window = open_window(practice[role])
    table = window.clients_page.table
    index = window.clients_page.model.index(row_of(window, "Turing, Alan"), Column.STATUS)
    assert not index.flags() & Qt.ItemFlag.ItemIsEditable  # so it is drawn as plain text, too
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "Active"  # no "click to change"
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(index).center())
    table.setCurrentIndex(index)
    qtbot.keyClick(table, Qt.Key.Key_F2)
    qtbot.wait(100)
    assert table.findChild(QComboBox, "statusEditor") is None
    assert shown == []
    assert index.data() == "Active"
    assert count(db, StatusChange, client_id=people["alan"]) == 0
    assert not window.clients_page.undo_stack.canUndo()


def test_own_clients_clinician_gets_the_drop_down_on_their_clients_rows_only(
        qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["clinician"])
    model = window.clients_page.model
    editable = {name: bool(model.index(row_of(window, name), Column.STATUS).flags()
                           & Qt.ItemFlag.ItemIsEditable) for name in names(window)}
    assert editable == {"Lovelace, Ada": True, "Lovelace, Byron": False, "Turing, Alan": True}
    # A client of someone else's that is on the list (assigned elsewhere since it was read) gets none.
    roster = window.clients_page.roster
    slot = roster.slot_of(0, people["alan"])
    roster.clinician_ids[slot] = practice["clinician-all"].user_id
    assert not model.index(row_of(window, "Turing, Alan"), Column.STATUS).flags() & Qt.ItemFlag.ItemIsEditable
    choose_status(qtbot, window, "Lovelace, Ada", "Inactive")
    qtbot.waitUntil(lambda: "Lovelace, Ada" not in names(window))
    with db.reading() as s:
        assert s.get(Client, people["ada"]).status is ClientStatus.INACTIVE


def test_own_clients_clinician_sees_only_assigned_clients(open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["clinician"])
    assert names(window) == ["Lovelace, Ada", "Lovelace, Byron", "Turing, Alan"]
    assert "your clients only" in window.shown.text()


def test_another_process_marking_a_client_inactive_drops_it_from_the_open_list(qtbot, db, open_window,
                                                                              practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    table = window.clients_page.table
    table.selectRow(row_of(window, "Turing, Alan"))
    env = dict(os.environ, CASELOAD_PASSWORD=PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "clients", "set-status", str(people["grace"]), "inactive",
         "--as", "manager", "--database", url],
        env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    qtbot.waitUntil(lambda: "Hopper, Grace" not in names(window), timeout=2000)
    selected = [table.model().index(i.row(), Column.NAME).data() for i in table.selectionModel().selectedRows()]
    assert selected == ["Turing, Alan"]


def test_enter_on_a_row_opens_the_clients_profile(qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    table = window.clients_page.table
    table.setFocus()
    table.setCurrentIndex(table.model().index(row_of(window, "Lovelace, Ada"), Column.NAME))
    qtbot.keyClick(table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: ("client", people["ada"]) in window.profiles)
    assert window.profiles[("client", people["ada"])].windowTitle().startswith("Ada Lovelace")


def test_ctrl_f_focuses_the_search_box(qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    window.activateWindow()
    window.clients_page.table.setFocus()
    qtbot.keyClick(window.clients_page.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.clients_page.search)


def test_columns_and_sort_persist_between_sessions_but_every_session_starts_on_active(
        qtbot, db, tmp_path, practice, people):  # type: ignore[no-untyped-def]
    """docs/rules.md, "Lists": a session starts on Active, whatever the last one showed."""
    settings = QSettings(str(tmp_path / "persist.ini"), QSettings.Format.IniFormat)
    first = MainWindow(Practice(db), practice["owner"], settings)
    qtbot.addWidget(first)
    first.resize(1280, 800)
    first.show()
    qtbot.waitExposed(first)
    first.load(background=False)
    page = first.clients_page
    page.status_filter.setCurrentIndex(page.status_filter.findText("All"))
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    assert len(names(first)) == 5
    header = page.table.horizontalHeader()
    x = header.sectionViewportPosition(Column.EMAIL) + header.sectionSize(Column.EMAIL) // 2
    for _ in range(2):  # Email, descending
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    header.resizeSection(Column.EMAIL, 290)  # as a drag of its right edge does
    widths = [header.sectionSize(c) for c in Column]
    first.close()

    second = MainWindow(Practice(db), practice["owner"], settings)
    qtbot.addWidget(second)
    second.resize(1280, 800)  # the offscreen screen is smaller than the geometry saved
    second.show()
    qtbot.waitExposed(second)
    second.load(background=False)
    page = second.clients_page
    assert page.status_filter.currentText() == "Active"
    assert not page.not_applied.isVisible()
    assert "Dijkstra, Edsger" not in names(second)
    header = page.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (Column.EMAIL,
                                                                           Qt.SortOrder.DescendingOrder)
    emails = [page.model.index(r, Column.EMAIL).data() for r in range(page.model.rowCount())]
    assert emails[-2:] == ["grace@example.org", "ada@example.org"]
    assert header.sectionSize(Column.EMAIL) == 290
    assert [header.sectionSize(c) for c in Column] == widths


def test_making_a_portal_user_inactive_in_the_list_says_access_stays_on(qtbot, db, open_window, practice,
                                                                         people):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QMessageBox, QPushButton

    from desktop.domain.models import PortalAccess
    from tests.ui.test_profile_and_deletion import when_modal

    ClientsController(db).set_portal_access(practice["owner"], people["alan"], portal=True, messaging=True)
    window = open_window(practice["owner"])
    told: list[str] = []

    def keep_on(box: QMessageBox) -> None:
        told.append(box.text())
        box.findChild(QPushButton, "keepAccessOn").click()

    when_modal(QMessageBox, keep_on)
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: bool(told))
    assert "Client Portal" in told[0]
    with db.reading() as s:
        access = s.get(PortalAccess, people["alan"])
        assert (access.portal_enabled, access.messaging_enabled) == (True, True)
        assert s.get(Client, people["alan"]).status is ClientStatus.INACTIVE


def test_a_status_change_on_a_row_someone_else_just_changed_is_refused_and_offers_reload(
        qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QMessageBox

    from tests.ui.test_profile_and_deletion import click_button, when_modal

    window = open_window(practice["owner"])
    window.watch_timer.stop()  # the other edit must not reach the list first
    ClientsController(db).edit_client(practice["manager"], people["alan"], 1, email="alan@example.org")
    shown: list[str] = []

    def reload(box: QMessageBox) -> None:
        shown.append(box.text())
        click_button(box, "reload")

    when_modal(QMessageBox, reload)
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: bool(shown))
    assert "Someone else saved" in shown[0]
    with db.reading() as s:
        alan = s.get(Client, people["alan"])
        assert alan.status is ClientStatus.ACTIVE and alan.email == "alan@example.org"
    model = window.clients_page.model
    qtbot.waitUntil(lambda: model.index(row_of(window, "Turing, Alan"), Column.EMAIL).data()
                    == "alan@example.org")  # reloaded: the other person's save is shown
    assert model.index(row_of(window, "Turing, Alan"), Column.STATUS).data() == "Active"


@pytest.mark.parametrize("answer", ["switchOffAccess", "keepAccessOn"])
def test_the_portal_question_answered_at_a_persons_pace_changes_status_and_undoes_cleanly(
        qtbot, qtlog, db, open_window, practice, people, answer):  # type: ignore[no-untyped-def]
    """Regression: the question used to run inside the drop-down's commit, and answering it
    after a second (the editor deleted meanwhile) crashed the app."""
    from PySide6.QtWidgets import QMessageBox

    from desktop.domain.models import PortalAccess
    from tests.ui.test_profile_and_deletion import click_button, when_modal

    ClientsController(db).set_portal_access(practice["owner"], people["alan"], portal=True, messaging=True)
    window = open_window(practice["owner"])
    asked: list[str] = []

    def reply(box: QMessageBox) -> None:
        asked.append(box.text())
        click_button(box, answer)

    when_modal(QMessageBox, reply, after_ms=1200)
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: "Turing, Alan" not in names(window), timeout=5000)
    assert len(asked) == 1
    switched_off = answer == "switchOffAccess"
    with db.reading() as s:
        access = s.get(PortalAccess, people["alan"])
        assert (access.portal_enabled, access.messaging_enabled) == (not switched_off, not switched_off)
        assert s.get(Client, people["alan"]).status is ClientStatus.INACTIVE

    # Undo makes Alan active again, restores the access the change switched off, asks nothing.
    assert window.clients_page.undo_stack.canUndo()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.clients_page.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "Turing, Alan" in names(window))
    qtbot.wait(300)
    assert len(asked) == 1
    with db.reading() as s:
        access = s.get(PortalAccess, people["alan"])
        assert (access.portal_enabled, access.messaging_enabled) == (True, True)
        assert s.get(Client, people["alan"]).status is ClientStatus.ACTIVE
    # Redo (making him inactive again) does not ask again either.
    from PySide6.QtGui import QKeySequence

    qtbot.keySequence(window.clients_page.table, QKeySequence(QKeySequence.StandardKey.Redo))
    qtbot.waitUntil(lambda: "Turing, Alan" not in names(window))
    qtbot.wait(300)
    assert len(asked) == 1
    assert not [r for r in qtlog.records if "closeEditor" in r.message]


def test_cancel_on_the_lists_portal_question_changes_nothing(qtbot, db, open_window, practice,
                                                             people):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QMessageBox

    ClientsController(db).set_portal_access(practice["owner"], people["alan"], portal=True, messaging=False)
    window = open_window(practice["owner"])
    from tests.ui.test_profile_and_deletion import when_modal

    when_modal(QMessageBox, lambda box: box.button(QMessageBox.StandardButton.Cancel).click(), after_ms=800)
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.wait(1500)
    assert "Turing, Alan" in names(window)
    with db.reading() as s:
        assert s.get(Client, people["alan"]).status is ClientStatus.ACTIVE
    assert count(db, StatusChange, client_id=people["alan"]) == 0
    assert not window.clients_page.undo_stack.canUndo()


def test_a_status_change_from_the_list_prints_no_qt_warning(qtbot, qtlog, open_window, practice,
                                                          people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: "Turing, Alan" not in names(window))
    qtbot.wait(100)
    assert [r.message for r in qtlog.records if "editor" in r.message.lower()] == []


def test_a_rename_saved_in_the_profile_reaches_the_open_list_with_rows_stamped_in_the_future(
        qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    """Regression: the list asked only for rows stamped after its newest stamp, so after the demo
    (stamped at 09:00 local time) nothing saved for hours reached it, not even with F5."""
    from PySide6.QtWidgets import QDialog

    from desktop.ui.dialogs.edit_client import EditClientDialog
    from tests.controllers.test_roster import stamp_everything_tomorrow
    from tests.ui.test_profile_and_deletion import when_modal

    stamp_everything_tomorrow(db)
    window = open_window(practice["owner"])
    window.open_profile("client", people["ada"])
    profile = window.profiles[("client", people["ada"])]

    def rename(dialog: QDialog) -> None:
        dialog.edits["last_name"].selectAll()
        qtbot.keyClicks(dialog.edits["last_name"], "King")
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    when_modal(EditClientDialog, rename, after_ms=200)
    qtbot.mouseClick(profile.edit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "King, Ada" in names(window), timeout=2000)
    assert "Lovelace, Ada" not in names(window)


def test_a_change_saved_by_another_process_reaches_the_open_list_with_rows_stamped_in_the_future(
        qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    from tests.controllers.test_roster import stamp_everything_tomorrow

    stamp_everything_tomorrow(db)
    window = open_window(practice["owner"])
    url = db.engine.url.render_as_string(hide_password=False)
    script = (
        "import sys\n"
        "from desktop.controllers.clients import ClientsController\n"
        "from desktop.controllers.users import UsersController\n"
        "from desktop.storage.database import open_database\n"
        "db = open_database(sys.argv[1])\n"
        f"owner = UsersController(db).sign_in('owner', {PASSWORD!r})\n"
        f"ClientsController(db).edit_client(owner, {people['grace']}, 1, first_name='Amazing')\n"
        "db.dispose()\n")
    result = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    qtbot.waitUntil(lambda: "Hopper, Amazing" in names(window), timeout=2000)


def test_the_command_line_lists_clients_in_the_windows_order(qtbot, db, open_window, practice):  # type: ignore[no-untyped-def]
    import json

    from desktop.ui.roster_model import KindRole

    clients = ClientsController(db)
    owner = practice["owner"]
    for first, last in (("Vincent", "van Gogh"), ("Anders", "Ångström"), ("Siobhan", "O'Brien"),
                        ("Juana", "de la Cruz"), ("Serena", "Williams"), ("Wei", "Zhang"),
                        ("Ayşe", "Çelik"), ("Ole", "Øster"), ("Łukasz", "Nowak"), ("Lukas", "nowak"),
                        ("ada", "Abbott"), ("Zoe", "ABBOTT"), ("Émile", "Zola"), ("Emile", "Zola")):
        clients.add_client(owner, first_name=first, last_name=last)
    window = open_window(owner)
    model = window.clients_page.model
    in_window = [model.index(r, 0).data(IdRole) for r in range(model.rowCount())
                 if model.index(r, 0).data(KindRole) == "client"]
    env = dict(os.environ, CASELOAD_PASSWORD=PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)
    result = subprocess.run([sys.executable, "-m", "desktop", "clients", "list", "--format", "json",
                             "--as", "owner", "--database", url],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    on_command_line = [row["id"] for row in json.loads(result.stdout)]
    assert on_command_line == in_window
    shown = [n for n in names(window)]
    # Accents, case and particles keep a name with its letter.
    assert shown.index("Çelik, Ayşe") < shown.index("de la Cruz, Juana") < shown.index("O'Brien, Siobhan")
    assert shown.index("Øster, Ole") < shown.index("van Gogh, Vincent") < shown.index("Williams, Serena")
    assert shown.index("Abbott, ada") < shown.index("ABBOTT, Zoe") < shown.index("Ångström, Anders")


def test_a_letter_most_rows_hold_shows_a_screenful_at_once_then_the_exact_count(
        qtbot, db, practice, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """At a million clients the first letter typed matches most rows: the list shows the first
    screenful at once, says "about N shown", and adds the rest below it while idle, keeping
    the rows on screen where they are. (The thresholds are lowered to see that at 120 rows.)"""
    from sqlalchemy import insert

    from desktop.controllers import roster as roster_module
    from desktop.domain.search import make_search_key
    from desktop.ui import roster_model

    monkeypatch.setattr(roster_module, "CHECK_AT_ONCE", 5)
    monkeypatch.setattr(roster_module, "WALK_SLICE", 16)
    monkeypatch.setattr(roster_module, "JOB_SLICE", 8)
    monkeypatch.setattr(roster_model, "SCREENFUL", 30)
    monkeypatch.setattr(roster_model, "JOB_SLICE", 8)
    rows = []
    for i in range(120):
        first, last = ("Sam" if i % 3 else "Kim"), f"Name{i:03d}"
        rows.append(dict(first_name=first, last_name=last, status="active",
                         search_key=make_search_key(first, last)))
    from desktop.domain.models import Client
    with db.transaction() as s:
        s.execute(insert(Client), rows)
    window = open_window(practice["owner"])
    page = window.clients_page
    qtbot.keyClicks(page.search, "s")
    assert not page.model.complete
    first_rows = [page.model.index(r, Column.NAME).data() for r in range(page.model.rowCount())]
    assert 30 <= len(first_rows) < 80
    assert first_rows == sorted(first_rows)
    assert window.shown.text().startswith("about ")
    qtbot.waitUntil(lambda: page.model.complete, timeout=5_000)
    assert page.model.rowCount() == 80
    names = [page.model.index(r, Column.NAME).data() for r in range(80)]
    assert names[:len(first_rows)] == first_rows
    assert all(n.endswith("Sam") for n in names)
    assert window.shown.text().startswith("80 shown for “\u2068s\u2069”")


def hundred_sams(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A hundred clients named Sam, and the list's thresholds lowered so that a search of them
    shows its first screenful (20 rows) before the rest, as a million clients' would."""
    from sqlalchemy import insert

    from desktop.controllers import roster as roster_module
    from desktop.domain.models import Client
    from desktop.domain.search import make_search_key
    from desktop.ui import roster_model

    monkeypatch.setattr(roster_module, "CHECK_AT_ONCE", 5)
    monkeypatch.setattr(roster_module, "WALK_SLICE", 16)
    monkeypatch.setattr(roster_model, "SCREENFUL", 20)
    rows = [dict(first_name="Sam", last_name=f"Name{i:03d}", status="active",
                 search_key=make_search_key("Sam", f"Name{i:03d}")) for i in range(100)]
    with db.transaction() as s:
        s.execute(insert(Client), rows)


def test_a_selected_row_beyond_the_first_screenful_stays_selected_while_typing(
        qtbot, db, practice, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    hundred_sams(db, monkeypatch)
    window = open_window(practice["owner"])
    page = window.clients_page
    table = page.table
    target = page.model.index(90, Column.NAME)
    assert target.data() == "Name090, Sam"
    table.scrollTo(target)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(target).center())
    qtbot.keyClicks(page.search, "sa")
    current = table.currentIndex()
    assert current.isValid() and current.data() == "Name090, Sam"
    assert [i.data() for i in table.selectionModel().selectedRows(Column.NAME)] == ["Name090, Sam"]


def test_reading_the_list_again_during_a_search_still_filling_keeps_the_chosen_client(
        qtbot, db, practice, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A reload (the server came back) while a search is still being made: the row the person
    chose is found again by its record, even beyond the first rows found, and nothing fails
    although the new read has fewer rows."""
    from sqlalchemy import delete

    from desktop.domain.models import Client
    from desktop.ui import roster_model

    hundred_sams(db, monkeypatch)
    monkeypatch.setattr(roster_model, "JOB_SLICE", 1)
    window = open_window(practice["owner"])
    page = window.clients_page
    table = page.table
    qtbot.keyClicks(page.search, "sa")
    qtbot.waitUntil(lambda: page.model.complete, timeout=5_000)
    target = page.model.index(90, Column.NAME)
    table.scrollTo(target)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(target).center())
    page.model.set_filter(query="sam")  # a search not finished yet when the read comes back
    with db.transaction() as s:
        s.execute(delete(Client).where(Client.last_name < "Name010"))
    with qtbot.waitSignal(page.loadSettled, timeout=10_000):
        page.reload_everything()
    current = table.currentIndex()
    assert current.isValid() and current.data() == "Name090, Sam"


@pytest.fixture
def slow_read(monkeypatch):  # type: ignore[no-untyped-def]
    """The list's read held after the clients' names (as a million clients' takes seconds) until
    ``release`` is set; ``fail`` makes it fail there instead."""
    import threading

    from desktop.storage import queries
    from desktop.storage.errors import DatabaseUnavailable

    release, fail = threading.Event(), threading.Event()
    read_columns = queries.joined_client_columns

    def held(session, who):  # type: ignore[no-untyped-def]
        release.wait(20)
        if fail.is_set():
            raise DatabaseUnavailable("The practice database could not be reached.")
        return read_columns(session, who)

    monkeypatch.setattr(queries, "joined_client_columns", held)
    yield release, fail
    release.set()


def open_while_reading(qtbot, db, tmp_path, actor):  # type: ignore[no-untyped-def]
    window = shown_window(qtbot, db, tmp_path, actor)
    with qtbot.waitSignal(window.clients_page.firstRowsShown, timeout=10_000):
        window.load()
    return window


def test_the_first_rows_show_while_the_rest_is_read_and_the_whole_list_replaces_them(
        qtbot, db, tmp_path, practice, people, slow_read, monkeypatch):  # type: ignore[no-untyped-def]
    from desktop.ui import clients_page

    monkeypatch.setattr(clients_page, "SCREENFUL", 3)  # a screen of three rows, of the four listed
    release, _fail = slow_read
    window = open_while_reading(qtbot, db, tmp_path, practice["owner"])
    page = window.clients_page
    first = ["Hopper, Grace", "Lovelace, Ada", "Lovelace, Byron"]
    assert names(window) == first
    assert window.shown.text() == "Loading the rest of the clients…"
    status = page.model.index(0, Column.STATUS)
    assert not status.flags() & Qt.ItemFlag.ItemIsEditable  # a row read early is not changed from here
    assert "change the status" not in status.data(Qt.ItemDataRole.ToolTipRole)
    window.export_list()  # not a file of a few rows, nor of none
    assert window.statusBar().currentMessage() == "The list is still being read; export it once it is in."
    # A search before the list is in shows nothing rather than a search of the first rows only.
    qtbot.keyClicks(page.search, "ada")
    assert names(window) == [] and page.list_area.currentWidget() is page.table
    assert window.shown.text() == "Loading the rest of the clients…"
    page.search.clear()
    assert names(window) == first
    page.table.selectRow(1)  # chosen among the first rows: still chosen in the whole list
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        release.set()
    assert names(window) == [*first, "Turing, Alan"]
    assert page.table.currentIndex().data() == "Lovelace, Ada"
    assert page.table.selectionModel().isRowSelected(1, QModelIndex())
    assert page.model.index(0, Column.STATUS).flags() & Qt.ItemFlag.ItemIsEditable


def test_first_rows_read_for_one_view_are_not_shown_in_another(
        qtbot, db, tmp_path, practice, people, slow_read, monkeypatch):  # type: ignore[no-untyped-def]
    """A sort chosen while the first rows are read: they were picked for A to Z, so Z to A shows
    none of them; back to A to Z, they are shown."""
    import threading

    from desktop.storage import queries

    release, _fail = slow_read
    picked = threading.Event()
    read_rows = queries.client_tuples

    def held(session, who, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("ids") is not None:
            picked.wait(20)
        return read_rows(session, who, **kwargs)

    monkeypatch.setattr(queries, "client_tuples", held)
    window = shown_window(qtbot, db, tmp_path, practice["owner"])
    window.load()
    page = window.clients_page
    header = page.table.horizontalHeader()
    x = header.sectionViewportPosition(Column.NAME) + header.sectionSize(Column.NAME) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    with qtbot.waitSignal(page.firstRowsShown, timeout=10_000):
        picked.set()
    assert names(window) == []
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert names(window) == ["Hopper, Grace", "Lovelace, Ada", "Lovelace, Byron", "Turing, Alan"]
    qtbot.keyClicks(page.search, "love")
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        release.set()
    assert names(window) == ["Lovelace, Ada", "Lovelace, Byron"]  # what was typed meanwhile applies
    assert window.shown.text().startswith("2 shown for “\u2068love\u2069” · 3 active clients")


def test_a_window_closed_while_its_first_rows_are_read_is_left_alone(
        qtbot, db, tmp_path, practice, people, slow_read, monkeypatch):  # type: ignore[no-untyped-def]
    """The first rows are handed over by a thread of the read: the window they were read for
    may be gone by then, and nothing of it is touched (it once was, through a signal)."""
    import threading

    from desktop.storage import queries
    from desktop.ui.operation import wait_for_background_jobs

    release, _fail = slow_read
    picked, picking = threading.Event(), threading.Event()
    read_rows = queries.client_tuples

    def held(session, who, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("ids") is not None:
            picking.set()
            picked.wait(20)
        return read_rows(session, who, **kwargs)

    monkeypatch.setattr(queries, "client_tuples", held)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(Practice(db), practice["owner"], settings)  # deleted below, not by qtbot
    window.show()
    page = window.clients_page
    shown: list[bool] = []
    page.firstRowsShown.connect(lambda: shown.append(True))
    window.load()
    assert picking.wait(10)
    window.close()
    window.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(page), timeout=5_000)
    picked.set()
    release.set()
    assert wait_for_background_jobs()  # the read ends, and hands its rows to no one
    assert shown == []


def test_a_list_whose_rest_cannot_be_read_drops_its_first_rows_and_says_so(
        qtbot, db, tmp_path, practice, people, slow_read):  # type: ignore[no-untyped-def]
    release, fail = slow_read
    window = open_while_reading(qtbot, db, tmp_path, practice["owner"])
    page = window.clients_page
    assert len(names(window)) == 4
    fail.set()
    with qtbot.waitSignal(page.loadSettled, timeout=10_000):
        release.set()
    assert names(window) == []
    assert window.shown.text() == "The practice database could not be reached."


def test_a_sort_whose_order_is_not_made_yet_waits_for_it_without_freezing_the_window(
        qtbot, open_window, practice, people, monkeypatch):  # type: ignore[no-untyped-def]
    """At a million rows, ordering by email takes seconds: the click says "Sorting by Email…",
    the rows keep their order and the window keeps answering until the order is made."""
    import threading

    from desktop.controllers.roster import Roster
    from desktop.ui import activity, clients_page, roster_model

    monkeypatch.setattr(roster_model, "SORT_ELSEWHERE_ROWS", 1)  # as if the practice were big
    monkeypatch.setattr(clients_page, "PREPARE_ORDERS_AFTER_MS", 600_000)  # no head start
    made, sorting_on = threading.Event(), []
    column_order = Roster._column_order

    def slow(self, column):  # type: ignore[no-untyped-def]
        if column is Column.EMAIL:
            sorting_on.append(threading.current_thread() is threading.main_thread())
            made.wait(20)
        return column_order(self, column)

    monkeypatch.setattr(Roster, "_column_order", slow)
    window = open_window(practice["owner"])
    page = window.clients_page
    header = page.table.horizontalHeader()
    by_name = names(window)
    x = header.sectionViewportPosition(Column.EMAIL) + header.sectionSize(Column.EMAIL) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert names(window) == by_name
    assert window.shown.text().startswith("Sorting by Email…")
    qtbot.waitUntil(lambda: bool(sorting_on), timeout=5_000)  # begun once the click is painted
    assert activity.busy(0.0)  # other background work (billing, orders ahead) waits meanwhile
    qtbot.keyClicks(page.search, "lovelace")  # the window answers meanwhile, in the old order
    assert names(window) == ["Lovelace, Ada", "Lovelace, Byron"]
    page.search.clear()
    # Someone else changes a client meanwhile: the order being made is of the rows before.
    ClientsController(page.roster.db).edit_client(practice["manager"], people["grace"], 1, email="a@example.org")
    assert page.refresh_from_database()
    made.set()
    qtbot.waitUntil(lambda: names(window)[:2] == ["Hopper, Grace", "Lovelace, Ada"]
                    and page.model.waiting_sort is None, timeout=10_000)
    assert window.shown.text().startswith("4 shown")
    assert sorting_on == [False, False]  # made on a pool thread, and again for the changed rows
    assert not activity.busy(0.0)


def test_a_sort_clicked_just_before_the_list_is_read_again_is_made_once(
        qtbot, open_window, practice, people, monkeypatch):  # type: ignore[no-untyped-def]
    """A click waits for an order made elsewhere; the list is read again before that order is
    begun: it is made once, for the rows read again, not once for each."""
    from desktop.controllers.roster import Roster
    from desktop.ui import clients_page, roster_model

    monkeypatch.setattr(roster_model, "SORT_ELSEWHERE_ROWS", 1)  # as if the practice were big
    monkeypatch.setattr(clients_page, "PREPARE_ORDERS_AFTER_MS", 600_000)  # no head start
    made: list[int] = []
    column_order = Roster._column_order

    def counted(self, column):  # type: ignore[no-untyped-def]
        if column is Column.EMAIL:
            made.append(len(self))
        return column_order(self, column)

    monkeypatch.setattr(Roster, "_column_order", counted)
    window = open_window(practice["owner"])
    page = window.clients_page
    ClientsController(page.roster.db).add_client(practice["manager"], first_name="Zed", last_name="Zimmer")
    header = page.table.horizontalHeader()
    x = header.sectionViewportPosition(Column.EMAIL) + header.sectionSize(Column.EMAIL) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    page.reload()  # before the event loop begins the sort
    qtbot.waitUntil(lambda: page.model.waiting_sort is None, timeout=10_000)
    assert made == [len(page.roster)]  # once, for the rows read again (the new client among them)
    assert "Zimmer, Zed" in names(window)


def test_a_window_closed_as_a_sort_is_clicked_leaves_no_work_waiting_behind_it(
        qtbot, db, tmp_path, practice, people, monkeypatch):  # type: ignore[no-untyped-def]
    """Billing and the orders made ahead wait while a person waits for a sort: a window closed
    the moment its header was clicked must not leave them waiting for ever."""
    from desktop.ui import activity, roster_model
    from desktop.ui.operation import wait_for_background_jobs

    monkeypatch.setattr(roster_model, "SORT_ELSEWHERE_ROWS", 1)  # as if the practice were big
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(Practice(db), practice["owner"], settings)  # deleted below, not by qtbot
    window.resize(1280, 800)
    window.show()
    page = window.clients_page
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        window.load()
    header = page.table.horizontalHeader()
    x = header.sectionViewportPosition(Column.EMAIL) + header.sectionSize(Column.EMAIL) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert page.model.waiting_sort is not None
    window.close()
    shiboken6.delete(window)  # at once: before anything the click left queued has run
    assert not shiboken6.isValid(page)
    assert wait_for_background_jobs()
    assert not activity.busy(0.0)


def test_orders_prepared_ahead_wait_while_someone_types_in_the_list(
        qtbot, open_window, practice, people, monkeypatch):  # type: ignore[no-untyped-def]
    """The sort orders made after a load (a head start for a header click) hold the
    interpreter now and then: before each column they wait while the person types."""
    import threading
    import time

    from desktop.ui import clients_page

    monkeypatch.setattr(clients_page, "ORDERS_YIELD_AFTER_S", 0.6)
    monkeypatch.setattr(clients_page, "PREPARE_ORDERS_AFTER_MS", 600_000)  # started by hand below
    window = open_window(practice["owner"])
    page = window.clients_page
    qtbot.keyClicks(page.search, "lo")
    job = clients_page._PrepareOrders(page.roster, (Column.EMAIL, Column.PHONE))
    made: list[object] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: made.append(job()[1]))
    worker.start()
    qtbot.wait(300)
    assert worker.is_alive()  # typed a moment ago: no column is begun
    qtbot.keyClicks(page.search, "v")  # more typing keeps it waiting
    worker.join(timeout=5)
    assert time.monotonic() - started >= 0.85
    qtbot.waitUntil(lambda: bool(made), timeout=5_000)
    assert set(made[0]) == {Column.EMAIL, Column.PHONE}  # type: ignore[call-overload]
