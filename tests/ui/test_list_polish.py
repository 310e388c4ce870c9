"""The list as a new user met it, driven as a person would: what an empty result says, the
filter's Apply, stale undo steps, columns that fit the window, right-to-left search terms, keys
and menus, a steady toolbar, and the banner for a practice file that cannot be written."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QSettings, Qt
from PySide6.QtGui import QAction, QContextMenuEvent, QHelpEvent, QKeyEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QToolBar, QToolTip

from desktop.controllers.clients import ClientsController
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.domain.models import Client, ClientStatus, StatusChange
from desktop.ui.clients_page import COLUMN_MINIMUMS
from desktop.ui.main_window import MainWindow
from tests.helpers import count, seed_users
from tests.ui import test_clients_list as clients_list
from tests.ui.test_clients_list import choose_status, names, row_of
from tests.ui.test_profile_and_deletion import click_button, when_modal

open_window = clients_list.open_window  # the list's fixtures: a window as the tests open it,
people = clients_list.people  # and a small practice to open it on

LONG_LAST = "Wolfeschlegelsteinhausenbergerdorff-Vanderbilt"
LONG_FIRST = "Maximiliana Theodora"
LONG_EMAIL = "maximiliana.theodora.wolfeschlegelsteinhausenbergerdorff@example.org"


def status_of(db, client_id: int) -> ClientStatus:  # type: ignore[no-untyped-def]
    with db.reading() as s:
        return s.get(Client, client_id).status


def apply_filter(qtbot, window: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    page = window.clients_page
    page.status_filter.setCurrentIndex(page.status_filter.findText(text))
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)


def type_text(widget, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type ``text`` a character at a time, as a keyboard layout for its script sends it
    (QTest's key clicks know only Latin-1)."""
    for char in text:
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(widget, QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, char))


def double_click(qtbot, widget, pos: QPoint) -> None:  # type: ignore[no-untyped-def]
    """A person's double-click: its first click, then the second (QTest's double-click
    sends only the second press, as a double-click event)."""
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def right_click(qtbot, view, pos: QPoint) -> None:  # type: ignore[no-untyped-def]
    """A right-click on an item view: the press selects, and the window system then sends
    the context-menu event (which QTest's clicks do not)."""
    viewport = view.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.RightButton, pos=pos)
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                       viewport.mapToGlobal(pos)))


def drag_column_edge(qtbot, header, column: int, by: int) -> None:  # type: ignore[no-untyped-def]
    """Drag the right edge of ``column``'s heading ``by`` pixels, in steps, as a hand does."""
    edge = QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) - 1, header.height() // 2)
    qtbot.mousePress(header.viewport(), Qt.MouseButton.LeftButton, pos=edge)
    for step in range(1, 11):
        qtbot.mouseMove(header.viewport(), edge + QPoint(step * by // 10, 0))
    qtbot.mouseRelease(header.viewport(), Qt.MouseButton.LeftButton, pos=edge + QPoint(by, 0))


def press_undo(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.clients_page.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


# ------------------------------------------------------------------ empty lists


def test_a_search_that_finds_nothing_says_so_and_offers_the_inactive_clients_it_would_find(
        qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    page = window.clients_page
    qtbot.keyClicks(page.search, "dijkstra")
    assert not page.table.isVisible() and page.empty.isVisible()
    assert page.empty.message.text() == "No clients match “\u2068dijkstra\u2069”."
    offer = page.empty.show_other
    assert offer.isVisible() and offer.text() == "1 inactive client matches — show it"
    qtbot.mouseClick(offer, Qt.MouseButton.LeftButton)
    assert page.status_filter.currentText() == "Inactive" and not page.not_applied.isVisible()
    assert names(window) == ["Dijkstra, Edsger"]
    assert page.table.isVisible() and not page.empty.isVisible()


def test_under_inactive_a_search_offers_the_active_clients_and_contacts_it_would_find(
        qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    page = window.clients_page
    apply_filter(qtbot, window, "Inactive")
    qtbot.keyClicks(page.search, "lovelace")
    assert page.empty.isVisible()
    assert page.empty.show_other.text() == "1 active client and 1 contact match — show them"
    qtbot.mouseClick(page.empty.show_other, Qt.MouseButton.LeftButton)
    assert names(window) == ["Lovelace, Ada", "Lovelace, Byron"]
    page.search.clear()
    qtbot.keyClicks(page.search, "nobody at all")
    assert page.empty.message.text() == "No clients match “\u2068nobody at all\u2069”."
    assert not page.empty.show_other.isVisible()  # nothing would match under another status either


@pytest.mark.parametrize(("role", "sentence"), [
    ("owner", "There are no clients in this practice yet."),
    ("clinician", "No clients are assigned to you yet."),
])
def test_an_empty_practice_shows_one_sentence_instead_of_an_empty_table(
        qtbot, open_window, practice, role, sentence):  # type: ignore[no-untyped-def]
    window = open_window(practice[role])
    page = window.clients_page
    assert not page.table.isVisible()
    assert page.empty.isVisible() and page.empty.message.text() == sentence
    assert not page.empty.show_other.isVisible()
    qtbot.keyClicks(page.search, "ada")
    assert page.empty.message.text() == sentence


# ---------------------------------------------------------- status filter, Apply


def test_a_status_chosen_but_not_applied_says_so_until_apply(qtbot, open_window, practice,
                                                             people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    page = window.clients_page
    combo = page.status_filter
    combo.setFocus()
    assert not page.not_applied.isVisible() and not page.apply_button.isDefault()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == "Inactive"
    assert page.not_applied.isVisible() and page.not_applied.text() == "Not applied"
    assert page.apply_button.isDefault()
    assert "Dijkstra, Edsger" not in names(window)
    qtbot.keyClick(combo, Qt.Key.Key_Up)  # back to what the list shows: in sync again
    assert not page.not_applied.isVisible() and not page.apply_button.isDefault()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert page.not_applied.isVisible()
    qtbot.keyClick(combo, Qt.Key.Key_Return)  # Enter applies, as the highlighted Apply says
    assert names(window) == ["Dijkstra, Edsger"]
    assert not page.not_applied.isVisible() and not page.apply_button.isDefault()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    assert len(names(window)) == 5 and not page.not_applied.isVisible()


# ------------------------------------------------------------------ stale undo


def test_a_save_in_the_clients_profile_takes_that_clients_steps_off_the_undo_stack(
        qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    from desktop.ui.dialogs.edit_client import EditClientDialog

    window = open_window(practice["owner"])
    page = window.clients_page
    apply_filter(qtbot, window, "All")
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: status_of(db, people["alan"]) is ClientStatus.INACTIVE)
    choose_status(qtbot, window, "Hopper, Grace", "Inactive")
    qtbot.waitUntil(lambda: status_of(db, people["grace"]) is ClientStatus.INACTIVE)
    assert page.undo_stack.count() == 2

    # Grace's profile, opened with a double-click on her name, saves a new email.
    table = page.table
    name = page.model.index(row_of(window, "Hopper, Grace"), Column.NAME)
    double_click(qtbot, table.viewport(), table.visualRect(name).center())
    qtbot.waitUntil(lambda: ("client", people["grace"]) in window.profiles)
    profile = window.profiles[("client", people["grace"])]

    def save(dialog: EditClientDialog) -> None:
        dialog.edits["email"].selectAll()
        qtbot.keyClicks(dialog.edits["email"], "grace@navy.example")
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    when_modal(EditClientDialog, save, after_ms=200)
    qtbot.mouseClick(profile.edit_button, Qt.MouseButton.LeftButton)
    email = lambda: page.model.index(row_of(window, "Hopper, Grace"), Column.EMAIL).data()  # noqa: E731
    qtbot.waitUntil(lambda: email() == "grace@navy.example", timeout=3000)

    # Only Alan's step is left: Ctrl+Z undoes it and asks nothing.
    assert page.undo_stack.count() == 1
    undo = window.findChild(QAction, "undoAction")
    assert "Alan Turing" in undo.toolTip() and "Grace" not in undo.toolTip()
    press_undo(qtbot, window)
    qtbot.waitUntil(lambda: status_of(db, people["alan"]) is ClientStatus.ACTIVE)
    assert QApplication.activeModalWidget() is None
    assert status_of(db, people["grace"]) is ClientStatus.INACTIVE
    assert not page.undo_stack.canUndo()
    assert count(db, StatusChange, client_id=people["grace"]) == 1


def test_a_save_from_another_workstation_takes_the_clients_steps_off_within_a_poll(
        qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    page = window.clients_page
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: "Turing, Alan" not in names(window))
    assert page.undo_stack.canUndo()
    with db.reading() as s:
        version = s.get(Client, people["alan"]).version
    ClientsController(db).edit_client(practice["manager"], people["alan"], version, email="alan@example.org")
    qtbot.waitUntil(lambda: not page.undo_stack.canUndo(), timeout=3000)


def test_a_stale_undo_still_hit_offers_reload_and_is_dropped_without_version_numbers(
        qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    window.watch_timer.stop()  # the other save must not reach the list first
    page = window.clients_page
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: "Turing, Alan" not in names(window))
    with db.reading() as s:
        version = s.get(Client, people["alan"]).version
    ClientsController(db).edit_client(practice["manager"], people["alan"], version, email="alan@example.org")
    asked: list[tuple[str, str]] = []

    def reload(box: QMessageBox) -> None:
        asked.append((box.text(), box.informativeText()))
        click_button(box, "reload")

    when_modal(QMessageBox, reload)
    press_undo(qtbot, window)
    qtbot.waitUntil(lambda: bool(asked))
    text, more = asked[0]
    assert "Someone else saved" in text
    assert "Alan Turing" in more and "taken off the undo list" in more
    assert not re.search(r"\d|version", text + more, re.IGNORECASE)
    qtbot.waitUntil(lambda: not page.undo_stack.canUndo() and not page.undo_stack.canRedo())
    assert status_of(db, people["alan"]) is ClientStatus.INACTIVE  # the undo changed nothing
    apply_filter(qtbot, window, "Inactive")
    assert page.model.index(row_of(window, "Turing, Alan"), Column.EMAIL).data() == "alan@example.org"


# -------------------------------------------------------------------- layout


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_the_columns_fill_the_list_and_a_long_name_is_elided_with_its_full_text_on_hover(
        qtbot, db, open_window, practice, people, size):  # type: ignore[no-untyped-def]
    ClientsController(db).add_client(practice["owner"], first_name=LONG_FIRST, last_name=LONG_LAST,
                                     email=LONG_EMAIL, clinician_id=practice["clinician-all"].user_id)
    window = open_window(practice["owner"])
    window.resize(*size)
    table = window.clients_page.table
    header = table.horizontalHeader()
    viewport = table.viewport()
    qtbot.waitUntil(lambda: sum(header.sectionSize(c) for c in Column) == viewport.width())
    assert not table.horizontalScrollBar().isVisible()
    right = header.sectionViewportPosition(Column.CLINICIAN) + header.sectionSize(Column.CLINICIAN)
    assert right == viewport.width()  # Clinician fully on screen
    for column in Column:
        assert header.sectionSize(column) >= COLUMN_MINIMUMS[column]
    assert table.textElideMode() == Qt.TextElideMode.ElideRight

    full = f"{LONG_LAST}, {LONG_FIRST}"
    index = table.model().index(row_of(window, full), Column.NAME)
    assert table.fontMetrics().horizontalAdvance(full) > header.sectionSize(Column.NAME)  # so it is elided
    rect = table.visualRect(index)
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, rect.center(),
                                                 viewport.mapToGlobal(rect.center())))
    qtbot.waitUntil(QToolTip.isVisible)
    assert QToolTip.text().startswith(full)
    assert "Double-click or press Enter" in QToolTip.text()
    email = table.model().index(row_of(window, full), Column.EMAIL)
    assert email.data(Qt.ItemDataRole.ToolTipRole) == LONG_EMAIL
    QToolTip.hideText()


def test_dragging_a_column_wider_takes_room_from_the_columns_to_its_right_never_more(
        qtbot, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    table = window.clients_page.table
    header = table.horizontalHeader()
    viewport = table.viewport()
    qtbot.waitUntil(lambda: sum(header.sectionSize(c) for c in Column) == viewport.width())
    name_before, type_before = header.sectionSize(Column.NAME), header.sectionSize(Column.TYPE)
    drag_column_edge(qtbot, header, Column.NAME, 400)
    assert header.sectionSize(Column.NAME) > name_before
    assert header.sectionSize(Column.TYPE) <= type_before
    assert sum(header.sectionSize(c) for c in Column) == viewport.width()
    assert not table.horizontalScrollBar().isVisible()
    for column in Column:
        assert header.sectionSize(column) >= COLUMN_MINIMUMS[column]
    # A smaller window keeps the person's proportions.
    widths = {c: header.sectionSize(c) for c in Column}
    window.resize(1180, 800)
    qtbot.waitUntil(lambda: header.sectionSize(Column.NAME) < widths[Column.NAME])
    assert sum(header.sectionSize(c) for c in Column) == viewport.width()


# -------------------------------------------------------------- bidi, wording


def test_an_arabic_search_term_is_isolated_in_the_status_bar_summary(qtbot, db, open_window, practice,
                                                                    people):  # type: ignore[no-untyped-def]
    ClientsController(db).add_client(practice["owner"], first_name="ليلى", last_name="حداد")
    window = open_window(practice["owner"])
    window.clients_page.search.setFocus()
    type_text(window.clients_page.search, "حداد")
    assert window.clients_page.search.text() == "حداد"
    assert names(window) == ["حداد, ليلى"]
    summary = window.shown.text()
    assert summary.startswith("1 shown for “\u2068حداد\u2069” · ")
    assert window.shown.textFormat() == Qt.TextFormat.PlainText


def test_the_title_does_not_repeat_the_app_name_and_esc_clears_the_search(qtbot, open_window, practice,
                                                                          people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    assert "Caseload" not in window.windowTitle()
    assert practice["owner"].display_name in window.windowTitle()
    search = window.clients_page.search
    search.setFocus()
    qtbot.keyClicks(search, "ada")
    assert names(window) == ["Lovelace, Ada"]
    qtbot.keyClick(search, Qt.Key.Key_Escape)
    assert search.text() == "" and len(names(window)) == 4
    assert "Esc" in search.toolTip() and "double-click" in search.toolTip()


def test_a_right_click_on_a_row_offers_open_and_a_double_click_opens(qtbot, open_window, practice,
                                                                   people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    page = window.clients_page
    table = page.table
    ada = page.model.index(row_of(window, "Lovelace, Ada"), Column.NAME)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(ada).center())
    qtbot.wait(50)
    assert window.profiles == {}  # a single click selects, and opens nothing
    right_click(qtbot, table, table.visualRect(ada).center())
    qtbot.waitUntil(lambda: page.row_menu is not None and page.row_menu.isVisible())
    menu = page.row_menu
    assert [a.text() for a in menu.actions()] == ["&Open profile"]
    assert menu.defaultAction() is menu.actions()[0]
    qtbot.keyClick(menu, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: ("client", people["ada"]) in window.profiles)
    window.profiles[("client", people["ada"])].close()
    qtbot.waitUntil(lambda: ("client", people["ada"]) not in window.profiles)

    byron = page.model.index(row_of(window, "Lovelace, Byron"), Column.EMAIL)
    double_click(qtbot, table.viewport(), table.visualRect(byron).center())
    qtbot.waitUntil(lambda: any(kind == "contact" for kind, _id in window.profiles))


def test_the_undo_button_keeps_its_size_and_says_what_it_would_undo_in_its_tooltip(
        qtbot, db, open_window, practice, people):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    toolbar = window.findChild(QToolBar, "mainToolbar")
    undo = window.findChild(QAction, "undoAction")
    buttons = [toolbar.widgetForAction(a) for a in toolbar.actions() if toolbar.widgetForAction(a)]
    before = [b.geometry() for b in buttons]
    assert not undo.isEnabled() and undo.toolTip() == "Nothing to undo"
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: status_of(db, people["alan"]) is ClientStatus.INACTIVE)
    assert undo.isEnabled() and undo.text().replace("&", "") == "Undo"
    assert "mark \u2068Alan Turing\u2069 inactive" in undo.toolTip()
    qtbot.wait(50)
    assert [b.geometry() for b in buttons] == before


# -------------------------------------------------------- practice file banner


@pytest.fixture
def sqlite_window(qtbot, sqlite_db, tmp_path: Path):  # type: ignore[no-untyped-def]
    users = seed_users(sqlite_db)
    alan = ClientsController(sqlite_db).add_client(users["owner"], first_name="Alan", last_name="Turing")

    def opener() -> MainWindow:
        settings = QSettings(str(tmp_path / "banner.ini"), QSettings.Format.IniFormat)
        window = MainWindow(Practice(sqlite_db), users["owner"], settings)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        with qtbot.waitSignal(window.fileChecked, timeout=10_000):
            window.show()
            window.load()
        return window

    opener.alan = alan  # type: ignore[attr-defined]
    return opener


def test_a_practice_file_deleted_while_open_shows_a_red_banner_and_refuses_a_status_change(
        qtbot, sqlite_db, sqlite_window, monkeypatch):  # type: ignore[no-untyped-def]
    window = sqlite_window()
    banner = window.file_banner
    assert not banner.isVisible()
    Path(sqlite_db.engine.url.database).unlink()
    qtbot.waitUntil(banner.isVisible, timeout=2000)  # within a poll
    assert "was deleted while Caseload was open" in banner.text()
    assert banner.text() == sqlite_db.file_problem()
    assert banner.y() == 0  # across the top, above the list
    assert banner.mapTo(window, QPoint(0, 0)).y() < window.clients_page.mapTo(window, QPoint(0, 0)).y()

    shown: list[str] = []
    monkeypatch.setattr("desktop.ui.operation.QMessageBox.warning",
                        lambda _parent, _title, text: shown.append(text))
    choose_status(qtbot, window, "Turing, Alan", "Inactive")
    qtbot.waitUntil(lambda: bool(shown))
    assert shown == [banner.text()]
    assert names(window) == ["Turing, Alan"]
    assert window.clients_page.model.index(0, Column.STATUS).data() == "Active"
    assert not window.clients_page.undo_stack.canUndo()
    qtbot.wait(1200)
    assert banner.isVisible()  # it stays


def test_damage_found_by_the_quick_check_at_opening_shows_the_banner(
        qtbot, sqlite_db, sqlite_window, monkeypatch):  # type: ignore[no-untyped-def]
    threads: list[threading.Thread] = []

    def damaged(*, full: bool = False) -> list[str]:
        threads.append(threading.current_thread())
        sqlite_db.damaged = "row 7 missing from index ix_clients_search_key"
        return [sqlite_db.damaged]

    monkeypatch.setattr(sqlite_db, "check_integrity", damaged)
    window = sqlite_window()
    assert threads and threads[0] is not threading.main_thread()  # off the GUI thread
    assert window.file_banner.isVisible()
    assert window.file_banner.text().startswith("The practice file is damaged (row 7 missing")
    assert window.file_banner.text().endswith("Restore it from a backup.")
