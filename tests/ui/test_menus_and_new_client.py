"""Starting a practice from the window: the menus, New client, the duplicate warning at intake,
exporting the list, and signing out, clicked and typed as a person would."""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QMessageBox, QToolBar, QWidget

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.controllers.users import UsersController
from desktop.domain.models import Client, Contact, Role
from desktop.ui import app
from desktop.ui.contact_profile import ContactProfileWindow
from desktop.ui.dialogs.change_password import ChangePasswordDialog
from desktop.ui.dialogs.contact_dialogs import AddContactDialog
from desktop.ui.dialogs.duplicate_warning import DuplicateWarningDialog
from desktop.ui.dialogs.edit_client import EditClientDialog, NewClientDialog
from desktop.ui.dialogs.first_run import FirstRunDialog
from desktop.ui.dialogs.help import AboutDialog, ShortcutsDialog
from desktop.ui.dialogs.sign_in import SignInDialog
from desktop.ui.list_export import documents_folder
from desktop.ui.main_window import MainWindow
from desktop.ui.profile import ProfileWindow
from tests.helpers import PASSWORD, assert_deletion_said, count
from tests.ui.test_profile_and_deletion import click_button, when_modal

LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier
OWNER_PASSWORD = "a long enough passphrase"


# ------------------------------------------------------------------ helpers

@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def open_window(qtbot, db, settings):  # type: ignore[no-untyped-def]
    """The main window of ``actor``, shown at 1280×800 with its list loaded."""
    def opener(actor: Actor) -> MainWindow:
        window = MainWindow(Practice(db), actor, settings)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        window.load(background=False)
        return window

    return opener


@pytest.fixture
def dana(db) -> Actor:  # type: ignore[no-untyped-def]
    """A practice that has just been set up: its Account Owner and nothing else, no demo."""
    return UsersController(db).create_account_owner("dana", "Dana Whitfield", OWNER_PASSWORD)


def names(window: MainWindow) -> list[str]:
    model = window.clients_page.model
    return [model.index(r, Column.NAME).data() for r in range(model.rowCount())]


def select(window: MainWindow, name: str) -> None:
    table = window.clients_page.table
    table.setCurrentIndex(table.model().index(names(window).index(name), Column.NAME))


def choose(qtbot, window: MainWindow, menu_name: str, action: QAction) -> None:  # type: ignore[no-untyped-def]
    """Open a menu from the menu bar and click one of its items, as a person would."""
    menu = window.commands.menus[menu_name]
    window.menuBar().setActiveAction(menu.menuAction())
    qtbot.waitUntil(menu.isVisible)
    assert action.isVisible() and action.isEnabled(), action.text()
    qtbot.mouseClick(menu, LEFT, pos=menu.actionGeometry(action).center())


def fill_client(qtbot, dialog: NewClientDialog, first: str, last: str, born: str = "",  # type: ignore[no-untyped-def]
                email: str = "") -> None:
    qtbot.keyClicks(dialog.edits["first_name"], first)
    assert not dialog.save_button.isEnabled()  # no last name yet
    assert not dialog.errors["last_name"].isVisible()  # nothing said in red before typing
    qtbot.keyClicks(dialog.edits["last_name"], last)
    if born:
        qtbot.keyClicks(dialog.edits["date_of_birth"], born)
    if email:
        qtbot.keyClicks(dialog.edits["email"], email)
    assert dialog.save_button.isEnabled()


def db_clients(db) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with db.reading() as s:
        return sorted((c.first_name, c.last_name) for c in s.query(Client))


# ------------------------------------------------------------ an empty practice

@pytest.mark.parametrize("how", ["menu", "ctrl+n", "empty list button"])
def test_from_an_empty_practice_a_new_client_is_added_selected_and_opens_with_enter(
        qtbot, db, dana, open_window, how: str):  # type: ignore[no-untyped-def]
    window = open_window(dana)
    page = window.clients_page
    assert page.empty.isVisible() and page.empty.message.text() == "There are no clients in this practice yet."
    assert page.empty.new_client.isVisible()
    seen: list[str] = []

    def add(dialog: NewClientDialog) -> None:
        seen.append(dialog.clinician.currentText())
        fill_client(qtbot, dialog, "Ada", "Lovelace", "1985-12-10", "ada@example.org")
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(NewClientDialog, add)
    if how == "menu":
        choose(qtbot, window, "file", window.commands.new_client)
    elif how == "ctrl+n":
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        page.search.setFocus()
        qtbot.keyClick(page.search, Qt.Key.Key_N, CTRL)
    else:
        qtbot.mouseClick(page.empty.new_client, LEFT)
    qtbot.waitUntil(lambda: names(window) == ["Lovelace, Ada"])
    assert seen == ["Dana Whitfield"]  # the signed-in clinician, by default
    assert db_clients(db) == [("Ada", "Lovelace")]
    assert page.table.isVisible() and not page.empty.isVisible()
    row = page.current_row()
    assert row is not None and row.name == "Ada Lovelace"
    assert window.focusWidget() is page.table  # Enter goes to the list once the window is active
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    assert isinstance(window.profiles.get(("client", row.id)), ProfileWindow)


def test_a_new_client_hidden_by_the_search_is_shown_and_selected_all_the_same(
        qtbot, db, practice, open_window):  # type: ignore[no-untyped-def]
    ClientsController(db).add_client(practice["owner"], first_name="Grace", last_name="Hopper")
    window = open_window(practice["owner"])
    page = window.clients_page
    qtbot.keyClicks(page.search, "hopper")

    def add(dialog: NewClientDialog) -> None:
        fill_client(qtbot, dialog, "Alan", "Turing")
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(NewClientDialog, add)
    window.commands.new_client.trigger()
    assert page.search.text() == ""
    assert page.current_row() is not None and page.current_row().name == "Alan Turing"


@pytest.mark.parametrize("username, choices, enabled", [
    ("owner", ["Not assigned", "Dr. Alma Reyes", "Dr. Colin Park", "Olivia Owens"], True),
    ("manager", ["Not assigned", "Dr. Alma Reyes", "Dr. Colin Park", "Marcus Mendel", "Olivia Owens"], True),
    ("clinician", ["Dr. Colin Park"], False),
])
def test_the_clinician_defaults_to_the_person_adding_and_is_fixed_for_own_clients_clinicians(
        qtbot, db, practice, username, choices, enabled):  # type: ignore[no-untyped-def]
    dialog = NewClientDialog(Practice(db), practice[username])
    qtbot.addWidget(dialog)
    shown = [dialog.clinician.itemText(i) for i in range(dialog.clinician.count())]
    assert shown == choices
    assert dialog.clinician.isEnabled() is enabled
    default = {"owner": "Olivia Owens", "manager": "Not assigned", "clinician": "Dr. Colin Park"}[username]
    assert dialog.clinician.currentText() == default


def test_a_new_client_with_a_bad_date_of_birth_cannot_be_saved_and_says_why(qtbot, db, dana):  # type: ignore[no-untyped-def]
    dialog = NewClientDialog(Practice(db), dana)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.edits["first_name"], "Ada")
    qtbot.keyClicks(dialog.edits["last_name"], "Lovelace")
    qtbot.keyClicks(dialog.edits["date_of_birth"], "1985-13-40")
    assert "not a date" in dialog.errors["date_of_birth"].text()
    assert not dialog.save_button.isEnabled()
    dialog.edits["date_of_birth"].clear()
    assert dialog.save_button.isEnabled()


# ------------------------------------------------------- the duplicate warning

@pytest.fixture
def ada(db, practice) -> int:  # type: ignore[no-untyped-def]
    return ClientsController(db).add_client(
        practice["owner"], first_name="Ada", last_name="Lovelace", date_of_birth="1985-12-10",
        clinician_id=practice["clinician"].user_id)


def warn_then(qtbot, answer: str, seen: list[list[str]]) -> Callable[[NewClientDialog], None]:  # type: ignore[no-untyped-def]
    """Type a near-duplicate of Ada (a typo in the last name, the same date of birth), save,
    and answer the warning with ``answer``."""
    def add(dialog: NewClientDialog) -> None:
        fill_client(qtbot, dialog, "Ada", "Lovelase", "1985-12-10")

        def read_and_answer(warning: DuplicateWarningDialog) -> None:
            table = warning.table
            seen.append([table.item(0, c).text() for c in range(table.columnCount())])
            click_button(warning, answer)
            if answer == "backToForm":
                dialog.reject()

        when_modal(DuplicateWarningDialog, read_and_answer)
        qtbot.mouseClick(dialog.save_button, LEFT)
    return add


def test_a_near_duplicate_warns_and_open_existing_opens_that_profile_and_saves_nothing(
        qtbot, db, practice, ada, open_window):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    seen: list[list[str]] = []
    when_modal(NewClientDialog, warn_then(qtbot, "openExisting", seen))
    window.commands.new_client.trigger()
    assert seen == [["Ada Lovelace", "1985-12-10", "Active", "Dr. Colin Park",
                     "Similar names, same date of birth"]]
    qtbot.waitUntil(lambda: ("client", ada) in window.profiles)
    assert window.profiles[("client", ada)].isVisible()
    assert count(db, Client) == 1


def test_save_anyway_saves_and_the_audit_row_names_the_candidate(qtbot, db, practice, ada, open_window):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    seen: list[list[str]] = []
    when_modal(NewClientDialog, warn_then(qtbot, "saveAnyway", seen))
    window.commands.new_client.trigger()
    assert len(seen) == 1
    assert db_clients(db) == [("Ada", "Lovelace"), ("Ada", "Lovelase")]
    added = [e for e in ClientsController(db).audit_events(practice["owner"]) if e["action"] == "client.add"]
    assert added[0]["details"] == {"possible_duplicates": [ada]}
    qtbot.waitUntil(lambda: window.clients_page.current_row() is not None)
    assert window.clients_page.current_row().name == "Ada Lovelase"


def test_back_to_the_form_saves_nothing_and_keeps_what_was_typed(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = NewClientDialog(Practice(db), practice["owner"])
    qtbot.addWidget(dialog)
    dialog.show()
    fill_client(qtbot, dialog, "Ada", "Lovelase", "1985-12-10")
    when_modal(DuplicateWarningDialog, lambda warning: click_button(warning, "backToForm"))
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible() and dialog.edits["last_name"].text() == "Lovelase"
    assert count(db, Client) == 1


def test_a_client_with_no_likely_duplicate_is_saved_without_a_question(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = NewClientDialog(Practice(db), practice["owner"])
    qtbot.addWidget(dialog)
    dialog.show()
    fill_client(qtbot, dialog, "Ada", "Lovelase", "1990-01-01")  # similar name, nothing else alike
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.client_id is not None


def test_editing_a_client_into_a_likely_duplicate_warns_and_save_anyway_is_audited(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    other = clients.add_client(practice["owner"], first_name="Ada", last_name="Byron")
    dialog = EditClientDialog(clients, practice["owner"], other)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.address, "12 St James's Square")  # not identifying: no check
    dialog.edits["date_of_birth"].clear()
    qtbot.keyClicks(dialog.edits["date_of_birth"], "1985-12-10")
    dialog.edits["last_name"].clear()
    qtbot.keyClicks(dialog.edits["last_name"], "Lovelace")
    asked: list[int] = []

    def answer(warning: DuplicateWarningDialog) -> None:
        asked.append(warning.candidates[0].id)
        click_button(warning, "saveAnyway")

    when_modal(DuplicateWarningDialog, answer)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert asked == [ada]  # never itself
    assert dialog.result() == QDialog.DialogCode.Accepted
    edits = [e for e in clients.audit_events(practice["owner"], other) if e["action"] == "client.edit"]
    assert edits[0]["details"]["possible_duplicates"] == [ada]


def test_editing_only_the_address_asks_nothing(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    clients.add_client(practice["owner"], first_name="Ada", last_name="Lovelase", date_of_birth="1985-12-10")
    dialog = EditClientDialog(clients, practice["owner"], ada)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.address, "12 St James's Square")
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_open_existing_from_the_edit_dialog_in_a_profile_opens_the_other_profile(
        qtbot, db, practice, ada, open_window):  # type: ignore[no-untyped-def]
    other = ClientsController(db).add_client(practice["owner"], first_name="Ada", last_name="Byron")
    window = open_window(practice["owner"])
    window.open_profile("client", other)
    profile = window.profiles[("client", other)]

    def edit(dialog: EditClientDialog) -> None:
        dialog.edits["last_name"].clear()
        qtbot.keyClicks(dialog.edits["last_name"], "Lovelace")
        qtbot.keyClicks(dialog.edits["date_of_birth"], "1985-12-10")
        when_modal(DuplicateWarningDialog, lambda warning: click_button(warning, "openExisting"))
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(EditClientDialog, edit)
    qtbot.mouseClick(profile.edit_button, LEFT)
    qtbot.waitUntil(lambda: ("client", ada) in window.profiles)
    assert db_clients(db) == [("Ada", "Byron"), ("Ada", "Lovelace")]  # nothing saved


@pytest.mark.parametrize("answer", ["openExisting", "saveAnyway"])
def test_new_contact_warns_about_a_contact_with_the_same_email(qtbot, db, practice, open_window, answer):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    byron = ContactsController(db).add_contact(owner, first_name="George", last_name="Byron",
                                               email="byron@example.org")
    window = open_window(owner)
    seen: list[str] = []

    def add(dialog: AddContactDialog) -> None:
        qtbot.keyClicks(dialog.form.edits["first_name"], "Georges")
        qtbot.keyClicks(dialog.form.edits["last_name"], "Byron")
        qtbot.keyClicks(dialog.form.edits["email"], "Byron@example.org")

        def read(warning: DuplicateWarningDialog) -> None:
            seen.append(" / ".join(warning.table.item(0, c).text() for c in range(warning.table.columnCount())))
            click_button(warning, answer)

        when_modal(DuplicateWarningDialog, read)
        qtbot.mouseClick(dialog.add_button, LEFT)

    when_modal(AddContactDialog, add)
    choose(qtbot, window, "file", window.commands.new_contact)
    assert seen == ["George Byron / byron@example.org /  / Similar names, same email"]
    if answer == "openExisting":
        qtbot.waitUntil(lambda: ("contact", byron) in window.profiles)
        assert isinstance(window.profiles[("contact", byron)], ContactProfileWindow)
        assert count(db, Contact) == 1
        return
    assert count(db, Contact) == 2
    with db.reading() as s:
        new = s.query(Contact).filter_by(first_name="Georges").one().id
    qtbot.waitUntil(lambda: window.clients_page.current_row() is not None)
    assert window.clients_page.current_row().id == new


def test_adding_a_contact_from_a_profile_offers_the_existing_one_and_opens_it(
        qtbot, db, practice, ada, open_window):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    byron = ContactsController(db).add_contact(owner, first_name="George", last_name="Byron",
                                               phone="555 010 1788")
    window = open_window(owner)
    window.open_profile("client", ada)
    profile = window.profiles[("client", ada)]

    def add(dialog: AddContactDialog) -> None:
        qtbot.keyClicks(dialog.form.edits["first_name"], "George")
        qtbot.keyClicks(dialog.form.edits["last_name"], "Byron")
        qtbot.keyClicks(dialog.form.edits["phone"], "(555) 010-1788")
        when_modal(DuplicateWarningDialog, lambda warning: click_button(warning, "openExisting"))
        qtbot.mouseClick(dialog.add_button, LEFT)

    when_modal(AddContactDialog, add)
    qtbot.mouseClick(profile.findChild(QWidget, "addContactButton"), LEFT)
    qtbot.waitUntil(lambda: ("contact", byron) in window.profiles)
    assert count(db, Contact) == 1


# ----------------------------------------------------------- menus by role

# What each role may use, from the permission table (docs/rules.md, "Who may do what"):
# hidden items are never offered; the row's items are enabled for the rows the role may act on.
VISIBLE = {  # new client, new contact, edit, status, delete, users, settings, duplicates
    "owner":         (True, True, True, True, True, True, True, True),
    "manager":       (True, True, True, True, True, False, True, True),
    "clinician-all": (True, True, True, True, True, False, False, True),
    "clinician":     (True, False, True, True, False, False, False, True),
    "biller":        (False, False, False, False, False, False, False, False),
    "scheduler":     (False, False, False, False, False, False, False, False),
}


@pytest.fixture
def two_clients(db, practice) -> dict[str, int]:  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    owner = practice["owner"]
    mine = clients.add_client(owner, first_name="Ada", last_name="Lovelace",
                              clinician_id=practice["clinician"].user_id)
    other = clients.add_client(owner, first_name="Grace", last_name="Hopper",
                               clinician_id=practice["clinician-all"].user_id)
    contact = ContactsController(db).add_contact(owner, first_name="George", last_name="Byron",
                                                 client_id=mine, relationship="Parent")
    return {"mine": mine, "other": other, "contact": contact}


@pytest.mark.parametrize("username", list(VISIBLE))
def test_every_menu_item_is_offered_exactly_as_the_permission_table_allows(
        qtbot, practice, two_clients, open_window, username: str):  # type: ignore[no-untyped-def]
    window = open_window(practice[username])
    row_items = (window.commands.edit, window.commands.change_status, window.commands.delete)
    items = (window.commands.new_client, window.commands.new_contact, *row_items,
             window.commands.users, window.commands.practice_settings, window.commands.find_duplicates)
    assert tuple(a.isVisible() for a in items) == VISIBLE[username]
    toolbar = window.findChild(QToolBar, "mainToolbar")
    new_button = toolbar.widgetForAction(window.commands.new_client)
    assert new_button.isVisible() is VISIBLE[username][0]
    practice_menu = window.commands.menus["practice"].menuAction()
    assert practice_menu.isVisible() is any(VISIBLE[username][5:])
    for always in (window.commands.export, window.commands.change_password, window.commands.sign_out,
                   window.commands.quit, window.commands.undo, window.commands.redo, window.commands.find,
                   window.commands.refresh, window.commands.shortcuts, window.commands.about,
                   *window.commands.status.values()):
        assert always.isVisible(), always.text()

    # No row chosen: nothing to act on.
    assert not window.commands.open_profile.isEnabled() and not any(a.isEnabled() for a in row_items)
    # A contact's row opens its profile, and nothing else.
    select(window, "Byron, George")
    assert window.commands.open_profile.isEnabled() and not any(a.isEnabled() for a in row_items)
    # The own-clients clinician's client, then someone else's (which that clinician never sees).
    select(window, "Lovelace, Ada")
    assert window.commands.open_profile.isEnabled()
    assert tuple(a.isEnabled() for a in row_items) == VISIBLE[username][2:5]
    assert window.commands.change_status.text() == "Make &inactive"
    if username == "clinician":
        assert "Hopper, Grace" not in names(window)
        return
    select(window, "Hopper, Grace")
    assert tuple(a.isEnabled() for a in row_items) == VISIBLE[username][2:5]


def test_make_inactive_from_the_client_menu_asks_about_the_portal_and_undo_takes_it_back(
        qtbot, db, practice, two_clients, open_window):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    ClientsController(db).set_portal_access(owner, two_clients["mine"], portal=True)
    window = open_window(owner)
    select(window, "Lovelace, Ada")
    when_modal(QMessageBox, lambda box: click_button(box, "keepAccessOn"))
    choose(qtbot, window, "client", window.commands.change_status)
    with db.reading() as s:
        assert s.get(Client, two_clients["mine"]).status.value == "inactive"
    assert window.commands.undo.isEnabled()
    choose(qtbot, window, "edit", window.commands.undo)
    with db.reading() as s:
        assert s.get(Client, two_clients["mine"]).status.value == "active"


def test_the_view_menus_client_status_follows_the_list_and_sets_it(qtbot, practice, two_clients, open_window):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    page = window.clients_page
    assert window.commands.status[page.model.status_filter].isChecked()
    statuses = window.commands.menus["view"].findChild(QMenu, "clientStatusMenu")
    window.menuBar().setActiveAction(window.commands.menus["view"].menuAction())
    window.commands.menus["view"].setActiveAction(statuses.menuAction())
    qtbot.waitUntil(statuses.isVisible)
    inactive = next(a for a in statuses.actions() if a.objectName() == "statusInactive")
    qtbot.mouseClick(statuses, LEFT, pos=statuses.actionGeometry(inactive).center())
    assert page.model.status_filter.value == "inactive" and page.status_filter.currentText() == "Inactive"
    page.status_filter.setCurrentIndex(page.status_filter.findText("All"))
    qtbot.mouseClick(page.apply_button, LEFT)
    assert next(a for a in statuses.actions() if a.isChecked()).objectName() == "statusAll"


def test_edit_and_delete_from_the_client_menu_use_the_usual_dialogs(qtbot, db, practice, two_clients, open_window):  # type: ignore[no-untyped-def]
    from desktop.ui.dialogs.delete_client import DeleteClientDialog

    window = open_window(practice["owner"])
    select(window, "Hopper, Grace")

    def rename(dialog: EditClientDialog) -> None:
        qtbot.keyClicks(dialog.edits["preferred_name"], "Amazing Grace")
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(EditClientDialog, rename)
    choose(qtbot, window, "client", window.commands.edit)
    qtbot.waitUntil(lambda: "Hopper, Grace (Amazing Grace)" in names(window))
    select(window, "Hopper, Grace (Amazing Grace)")

    def confirm(dialog: DeleteClientDialog) -> None:
        qtbot.mouseClick(dialog.continue_button, LEFT)
        qtbot.keyClicks(dialog.typed, "Grace Hopper")
        qtbot.keyClick(dialog.understood, Qt.Key.Key_Space)
        qtbot.mouseClick(dialog.delete_button, LEFT)

    when_modal(DeleteClientDialog, confirm)
    choose(qtbot, window, "client", window.commands.delete)
    assert count(db, Client) == 1
    qtbot.waitUntil(lambda: "Hopper, Grace (Amazing Grace)" not in names(window))
    assert_deletion_said(db, window.statusBar().currentMessage())


# ------------------------------------------------------------------ export

def test_export_list_as_csv_writes_what_the_list_shows_in_its_order(
        qtbot, db, practice, tmp_path, open_window, monkeypatch):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    for first, last, born, email in (("Anna", "Smith", "1970-01-02", "anna@example.org"),
                                     ("Bob", "Smithers", "1980-03-04", ""),
                                     ("Zoë", "Smith", "", "=cmd@example.org"),
                                     ("Carl", "Jones", "1990-05-06", "smith@example.org"),
                                     ("Dora", "Brown", "", "")):
        clients.add_client(owner, first_name=first, last_name=last, date_of_birth=born or None,
                           email=email or None, phone="+1 555 010 1234" if first == "Anna" else None)
    ContactsController(db).add_contact(owner, first_name="Sam", last_name="Smith")
    window = open_window(owner)
    page = window.clients_page
    qtbot.keyClicks(page.search, "smith")
    header = page.table.horizontalHeader()
    header.moveSection(header.visualIndex(Column.EMAIL), 1)  # the person moved Email beside Name
    name_title = QPoint(header.sectionViewportPosition(Column.NAME) + 10, header.height() // 2)
    qtbot.mouseClick(header.viewport(), LEFT, pos=name_title)
    assert page.model.descending  # a second click on Name: Z to A
    asked: list[str] = []
    target = tmp_path / "smiths.csv"

    def save_as(_parent, _title, suggested, _filter):  # type: ignore[no-untyped-def]
        asked.append(suggested)
        return str(target), _filter

    monkeypatch.setattr("desktop.ui.list_export.QFileDialog.getSaveFileName", save_as)
    choose(qtbot, window, "file", window.commands.export)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    model = page.model
    columns = [header.logicalIndex(v) for v in range(header.count())]
    assert rows[0] == ["Name", "Email", "Type", "Status", "Date of birth", "Phone", "Clinician"]
    shown = [[model.index(r, c).data() or "" for c in columns] for r in range(model.rowCount())]
    assert [r[0] for r in rows[1:]] == ["Smithers, Bob", "Smith, Zoë", "Smith, Sam", "Smith, Anna",
                                        "Jones, Carl"]
    assert [r for r in rows[1:] if r[0] != "Smith, Zoë"] == [r for r in shown if r[0] != "Smith, Zoë"]
    zoe = next(r for r in rows[1:] if r[0] == "Smith, Zoë")
    assert zoe[1] == "'=cmd@example.org"  # a spreadsheet shows it, never runs it
    anna = next(r for r in rows[1:] if r[0] == "Smith, Anna")
    assert anna[5] == "+1 555 010 1234"  # a phone's plus is kept
    assert asked and Path(asked[0]).name.startswith("Caseload clients ") and asked[0].endswith(".csv")
    assert Path(asked[0]).parent == documents_folder()
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "Exported 5 rows" in window.statusBar().currentMessage()
    # Health data leaving the practice is audited once written: how many, never who.
    [exported] = [e for e in clients.audit_events(owner) if e["action"] == "client.export_list"]
    assert exported["details"] == {"clients": 4, "contacts": 1} and exported["target_id"] is None


# ----------------------------------------------------------------- help

def test_keyboard_shortcuts_lists_the_windows_keys(qtbot, practice, open_window):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    listed: list[tuple[str, str]] = []

    def read(dialog: ShortcutsDialog) -> None:
        table = dialog.table
        listed.extend((table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount()))
        dialog.reject()

    when_modal(ShortcutsDialog, read)
    choose(qtbot, window, "help", window.commands.shortcuts)
    assert ("Ctrl+N", "New client") in listed
    assert ("Ctrl+F", "Find") in listed
    assert ("Ctrl+Q", "Quit") in listed
    assert ("F5", "Refresh") in listed
    assert ("Enter", "Open profile") in listed


def test_about_says_the_version_where_the_data_lives_and_the_practice(qtbot, db, practice, open_window):  # type: ignore[no-untyped-def]
    from desktop import __version__

    owner = practice["owner"]
    Practice(db).settings.save(owner, 0, {"name": "Harbour Counselling",
                                          "address": "1 Quay Street\nBristol"}, [])
    window = open_window(practice["biller"])  # every role may read About
    said: dict[str, str] = {}

    def read(dialog: AboutDialog) -> None:
        for name in ("aboutVersion", "aboutLocation", "aboutPracticeName", "aboutPracticeAddress",
                     "aboutLicence"):
            said[name] = dialog.findChild(QWidget, name).text()
        dialog.reject()

    when_modal(AboutDialog, read)
    choose(qtbot, window, "help", window.commands.about)
    assert said["aboutVersion"] == f"Caseload {__version__}"
    assert said["aboutLocation"] == window.practice.location
    assert said["aboutPracticeName"] == "Harbour Counselling"
    assert said["aboutPracticeAddress"] == "1 Quay Street\nBristol"
    assert said["aboutLicence"]


# ------------------------------------------------------------- signing out

def sign_in_as(qtbot, username: str, password: str, notices: list[str]) -> Callable[[SignInDialog], None]:  # type: ignore[no-untyped-def]
    def answer(dialog: SignInDialog) -> None:
        notices.append(dialog.notice.text() if dialog.notice.isVisible() else "")
        qtbot.keyClicks(dialog.username, username)
        qtbot.keyClicks(dialog.password, password)
        qtbot.mouseClick(dialog.sign_in, LEFT)
    return answer


@pytest.fixture
def session(db, settings):  # type: ignore[no-untyped-def]
    """The application's sign-in loop over the test database; every window it opened is closed after."""
    quits: list[bool] = []
    made = app.Session(Practice(db), settings, quit=lambda: quits.append(True))
    made.quits = quits  # type: ignore[attr-defined]
    yield made
    window = made.window
    if window is not None and shiboken6.isValid(window):
        window.close()
        window.deleteLater()


def test_sign_out_closes_every_window_and_the_next_person_gets_their_own(
        qtbot, db, practice, two_clients, session):  # type: ignore[no-untyped-def]
    notices: list[str] = []
    when_modal(SignInDialog, sign_in_as(qtbot, "owner", PASSWORD, notices))
    assert session.start()
    first = session.window
    first.open_profile("client", two_clients["mine"])
    profile = first.profiles[("client", two_clients["mine"])]
    first.open_duplicates()
    duplicates = first.duplicates_window
    qtbot.waitUntil(lambda: duplicates.progress is None or not duplicates.progress.isVisible())
    assert profile.isVisible() and duplicates.isVisible()

    when_modal(SignInDialog, sign_in_as(qtbot, "biller", PASSWORD, notices))
    choose(qtbot, first, "file", first.commands.sign_out)
    qtbot.waitUntil(lambda: session.window is not None and session.window is not first)
    assert not shiboken6.isValid(profile) or not profile.isVisible()
    assert not shiboken6.isValid(duplicates) or not duplicates.isVisible()
    assert not shiboken6.isValid(first) or not first.isVisible()
    assert notices == ["", "You signed out."]
    second = session.window
    assert second.actor.username == "biller" and second.isVisible()
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible() and not isinstance(w, QMenu)]
    assert visible == [second]
    assert not second.commands.new_client.isVisible()
    assert not second.commands.users.isVisible()
    assert not second.commands.delete.isVisible()
    assert not second.findChild(QToolBar, "mainToolbar").widgetForAction(second.commands.new_client).isVisible()
    assert session.quits == []  # signing out is not quitting
    qtbot.waitUntil(lambda: not shiboken6.isValid(first))  # deleted, not merely hidden
    second.commands.quit.trigger()
    assert session.quits == [True]


def test_sign_out_with_unsaved_changes_in_an_edit_dialog_asks_first(
        qtbot, db, practice, two_clients, open_window):  # type: ignore[no-untyped-def]
    window = open_window(practice["owner"])
    dialog = EditClientDialog(window.clients, window.actor, two_clients["mine"], window)
    dialog.show()
    qtbot.keyClicks(dialog.edits["preferred_name"], "Countess")
    signed_out: list[bool] = []
    window.signedOut.connect(lambda: signed_out.append(True))
    asked: list[str] = []

    def answer(button: str) -> Callable[[QMessageBox], None]:
        def click(box: QMessageBox) -> None:
            asked.append(box.text())
            click_button(box, button)
        return click

    when_modal(QMessageBox, answer("goBack"))
    assert window.sign_out() is False
    assert dialog.isVisible() and window.isVisible() and not signed_out
    assert asked and "Edit Ada Lovelace" in asked[0] and "not saved" in asked[0]
    when_modal(QMessageBox, answer("discardAndSignOut"))
    assert window.sign_out() is True
    assert not dialog.isVisible() and not window.isVisible() and signed_out == [True]
    with db.reading() as s:
        assert s.get(Client, two_clients["mine"]).preferred_name is None


NEW_PASSWORD = "my very own passphrase"


def test_a_password_chosen_by_someone_else_is_changed_before_the_window_and_sign_out_goes_back(
        qtbot, db, practice, session):  # type: ignore[no-untyped-def]
    UsersController(db).add_user(practice["owner"], "newbie", Role.CLINICIAN, PASSWORD,
                                 display_name="Nora Newbie")
    notices: list[str] = []
    forced: list[bool] = []
    answers = iter(["cancel", "change"])

    def answer(dialog: ChangePasswordDialog) -> None:
        forced.append(dialog.forced)
        if next(answers) == "cancel":
            qtbot.mouseClick(dialog.cancel_button, LEFT)  # "Sign Out"
            return
        qtbot.keyClicks(dialog.current, PASSWORD)
        qtbot.keyClicks(dialog.new.edit, NEW_PASSWORD)
        qtbot.keyClicks(dialog.new.repeat, NEW_PASSWORD)
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(ChangePasswordDialog, answer, times=2)
    when_modal(SignInDialog, sign_in_as(qtbot, "newbie", PASSWORD, notices), times=2)
    assert session.start()
    assert forced == [True, True]
    assert notices == ["", "You were signed out: choose a new password before you go on."]
    window = session.window
    assert window.actor.username == "newbie" and not window.actor.must_change_password
    assert UsersController(db).sign_in("newbie", NEW_PASSWORD).username == "newbie"


def test_change_password_users_and_practice_settings_open_from_the_menus(
        qtbot, db, practice, open_window):  # type: ignore[no-untyped-def]
    from desktop.ui.dialogs.practice_settings import PracticeSettingsDialog
    from desktop.ui.dialogs.users import UsersWindow

    window = open_window(practice["owner"])

    def change(dialog: ChangePasswordDialog) -> None:
        assert not dialog.forced
        qtbot.keyClicks(dialog.current, PASSWORD)
        qtbot.keyClicks(dialog.new.edit, NEW_PASSWORD)
        qtbot.keyClicks(dialog.new.repeat, NEW_PASSWORD)
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(ChangePasswordDialog, change)
    choose(qtbot, window, "file", window.commands.change_password)
    assert "password was changed" in window.statusBar().currentMessage()
    assert UsersController(db).sign_in("owner", NEW_PASSWORD).username == "owner"

    opened: list[str] = []
    when_modal(PracticeSettingsDialog, lambda dialog: (opened.append(dialog.objectName()), dialog.reject()))
    choose(qtbot, window, "practice", window.commands.practice_settings)
    assert opened == ["practiceSettingsDialog"]
    choose(qtbot, window, "practice", window.commands.users)
    users = window.users_window
    assert isinstance(users, UsersWindow) and users.isVisible()
    window.close()
    assert not users.isVisible()  # closed with the main window


# ---------------------------------------------------------------- the demo

def test_the_first_run_says_the_demo_users_share_the_published_password(qtbot, db):  # type: ignore[no-untyped-def]
    dialog = FirstRunDialog(Practice(db))
    qtbot.addWidget(dialog)
    dialog.show()
    note = dialog.findChild(QWidget, "demoNote")
    assert note.isVisible() and "“demo”" in note.text() and "10 or more characters" in note.text()


def test_after_loading_the_demo_the_window_says_its_users_share_the_password_demo(qtbot, db, monkeypatch):  # type: ignore[no-untyped-def]
    from desktop.controllers.demo import DemoReport

    practice = Practice(db)
    loaded: list[str] = []

    def load_demo(*, clients: int, password: str, actor: Actor | None = None, seed: int = 1) -> DemoReport:
        loaded.append(password)
        return DemoReport(clients=clients, users_created=["manager", "clinician", "biller"])

    monkeypatch.setattr(practice, "load_demo", load_demo)
    told: list[str] = []

    def create(dialog: FirstRunDialog) -> None:
        for edit, text in ((dialog.username, "dana"), (dialog.display_name, "Dana Whitfield"),
                           (dialog.password, OWNER_PASSWORD), (dialog.repeat, OWNER_PASSWORD)):
            qtbot.keyClicks(edit, text)
        qtbot.mouseClick(dialog.demo, LEFT)

        def read(box: QMessageBox) -> None:
            told.append(f"{box.text()} {box.informativeText()}")
            box.accept()

        when_modal(QMessageBox, read)
        qtbot.mouseClick(dialog.create_button, LEFT)

    when_modal(FirstRunDialog, create)
    signed = app.sign_in(practice)
    assert signed is not None and signed.actor.username == "dana"
    assert loaded == ["demo"]
    assert told and "“demo”" in told[0] and "10 or more characters" in told[0]


def test_a_window_left_open_by_a_deactivated_user_stops_taking_in_data_and_signs_out(
        qtbot, db, practice, two_clients, open_window):  # type: ignore[no-untyped-def]
    """Deactivating someone also ends the session still open on their workstation: the next
    change in the practice is not read into their list; they are told and signed out."""
    window = open_window(practice["clinician-all"])
    signed_out: list[bool] = []
    window.signedOut.connect(lambda: signed_out.append(True))
    told: list[str] = []

    def read(box: QMessageBox) -> None:
        told.append(box.text())
        box.accept()

    UsersController(db).deactivate(practice["owner"], "clinician-all")
    ClientsController(db).add_client(practice["owner"], first_name="Newly", last_name="Admitted")
    when_modal(QMessageBox, read)
    window.clients_page.refresh_from_database()  # what the change watcher's poll does
    qtbot.waitUntil(lambda: bool(signed_out), timeout=5_000)
    assert told and told[0].startswith("Your account has been deactivated")
    assert "Admitted, Newly" not in names(window)
