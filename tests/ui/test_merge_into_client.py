"""Merging a contact into a client profile, from the contact's window and from the duplicates window.

docs/rules.md, "Duplicates": a contact can be merged into a client profile; the
person picks which value wins for each differing field and the contact is
removed. Driven through the real widgets, answering each dialog after a pause.
"""

from __future__ import annotations

import pytest
import shiboken6
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QRadioButton

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.practice import Practice
from desktop.domain.models import AuditEvent, Client, ClientContactLink, Contact
from desktop.ui.contact_profile import ContactProfileWindow
from desktop.ui.dialogs.merge_into_client import MergeIntoClientDialog
from tests.helpers import count
from tests.ui.test_profile_and_deletion import when_modal

LEFT = Qt.MouseButton.LeftButton
PAUSE_MS = 800


@pytest.fixture
def two_roberts(db, practice):  # type: ignore[no-untyped-def]
    """Two clients named Robert Jones, told apart by date of birth, and a contact who is the first."""
    owner = practice["owner"]
    clients, contacts = ClientsController(db), ContactsController(db)
    elder = clients.add_client(owner, first_name="Robert", last_name="Jones", date_of_birth="1970-04-02",
                               phone="(555) 201-3344")
    younger = clients.add_client(owner, first_name="Robert", last_name="Jones", date_of_birth="1988-09-30",
                                 email="rj88@example.org")
    bob = contacts.add_contact(owner, first_name="Bob", last_name="Jones", phone="555.201.3344",
                               email="bob.jones@example.org", notes="Calls on Fridays",
                               client_id=elder, relationship="Emergency contact")
    return {"elder": elder, "younger": younger, "bob": bob}


@pytest.fixture
def open_contact(db):  # type: ignore[no-untyped-def]
    """Open a contact's window; those still open (not closed and deleted by a merge) close afterwards."""
    opened: list[ContactProfileWindow] = []

    def open_(actor, contact_id: int) -> ContactProfileWindow:  # type: ignore[no-untyped-def]
        window = ContactProfileWindow(Practice(db), actor, contact_id)
        window.show()
        opened.append(window)
        return window

    yield open_
    for window in opened:
        if shiboken6.isValid(window):
            window.close()


def safely(act):  # type: ignore[no-untyped-def]
    """``act`` on a dialog, which is closed if ``act`` fails half-way, so the test fails rather than hangs."""
    def run(dialog: MergeIntoClientDialog) -> None:
        try:
            act(dialog)
        finally:
            if dialog.isVisible():
                dialog.reject()
    return run


def click(qtbot, widget) -> None:  # type: ignore[no-untyped-def]
    """Click a button where a person would: a radio button on its circle, others in the middle."""
    pos = QPoint(8, widget.height() // 2) if isinstance(widget, QRadioButton) else widget.rect().center()
    qtbot.mouseClick(widget, LEFT, pos=pos)


def test_merge_into_a_client_from_the_contact_profile(qtbot, db, practice, two_roberts, open_contact):  # type: ignore[no-untyped-def]
    window = open_contact(practice["owner"], two_roberts["bob"])
    changed: list[int] = []
    opened: list[int] = []
    closed: list[int] = []
    window.changed.connect(changed.append)
    window.openClient.connect(opened.append)
    window.destroyed.connect(lambda *_a: closed.append(1))
    seen: dict[str, object] = {}

    def choose_and_merge(dialog: MergeIntoClientDialog) -> None:
        seen["first page"] = dialog.pages.currentIndex()  # first: which client
        dialog.query.clear()
        qtbot.keyClicks(dialog.query, "robert jones")
        results = dialog.results
        seen["rows"] = [(results.item(r, 0).text(), results.item(r, 1).text()) for r in range(results.rowCount())]
        elder_row = next(r for r in range(results.rowCount()) if results.item(r, 1).text() == "1970-04-02")
        rect = results.visualItemRect(results.item(elder_row, 1))
        qtbot.mouseClick(results.viewport(), LEFT, pos=rect.center())
        click(qtbot, dialog.next_button)
        seen["page"] = dialog.pages.currentIndex()
        seen["choices"] = sorted(dialog.choices)
        seen["notes warned"] = "notes are not kept" in " ".join(
            label.text() for label in dialog.fields_page.findChildren(type(dialog.problem)))
        click(qtbot, dialog.choices["first_name"][0])  # keep "Robert"
        click(qtbot, dialog.choices["email"][1])  # the contact's email (the client has none)
        click(qtbot, dialog.choices["phone"][0])  # keep the client's phone as written
        click(qtbot, dialog.merge_button)

    when_modal(MergeIntoClientDialog, safely(choose_and_merge), after_ms=PAUSE_MS)
    click(qtbot, window.merge_button)

    # The picker told the two Roberts apart by their dates of birth.
    assert sorted(seen["rows"]) == [("Robert Jones", "1970-04-02"), ("Robert Jones", "1988-09-30")]  # type: ignore[arg-type]
    assert seen["first page"] == 0 and seen["page"] == 1 and seen["choices"] == ["email", "first_name", "phone"]
    assert seen["notes warned"]
    with db.reading() as s:
        elder = s.get(Client, two_roberts["elder"])
        assert (elder.first_name, elder.last_name, elder.email, elder.phone) == (
            "Robert", "Jones", "bob.jones@example.org", "(555) 201-3344")
        assert s.get(Contact, two_roberts["bob"]) is None
        younger = s.get(Client, two_roberts["younger"])
        assert younger.email == "rj88@example.org"  # the other Robert is untouched
    assert count(db, ClientContactLink) == 0
    # The lists refresh, the client's profile is asked for, and the contact's window goes.
    assert changed == [two_roberts["bob"]] and opened == [two_roberts["elder"]]
    qtbot.waitUntil(lambda: bool(closed))


def test_the_picker_and_the_merge_work_from_the_keyboard(qtbot, db, practice, two_roberts, open_contact):  # type: ignore[no-untyped-def]
    ContactsController(db).unlink(practice["owner"], two_roberts["elder"], two_roberts["bob"])
    window = open_contact(practice["owner"], two_roberts["bob"])
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    pages: list[int] = []
    focus: list[bool] = []

    def by_keyboard(dialog: MergeIntoClientDialog) -> None:
        focus.append(QApplication.focusWidget() is dialog.query)
        qtbot.keyClicks(dialog.query, "1970-04")  # replaces the name put there to start with
        qtbot.keyClick(dialog.query, Qt.Key.Key_Down)  # into the results, on the first one
        qtbot.keyClick(dialog.results, Qt.Key.Key_Return)  # Next
        pages.append(dialog.pages.currentIndex())
        qtbot.keyClick(dialog, Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)  # Merge
        qtbot.waitUntil(lambda: not dialog.isVisible())  # a mnemonic clicks after showing the press

    when_modal(MergeIntoClientDialog, safely(by_keyboard), after_ms=PAUSE_MS)
    qtbot.keyClick(window, Qt.Key.Key_C, Qt.KeyboardModifier.AltModifier)  # Merge into a client…
    qtbot.waitUntil(lambda: bool(pages), timeout=10_000)
    assert focus == [True] and pages == [1]
    assert count(db, Contact) == 0
    with db.reading() as s:
        assert s.get(Client, two_roberts["elder"]).email == "bob.jones@example.org"


def test_a_contact_of_other_clients_is_not_merged_and_the_dialog_says_why(qtbot, db, practice, two_roberts, open_contact):  # type: ignore[no-untyped-def]
    window = open_contact(practice["owner"], two_roberts["bob"])
    said: dict[str, object] = {}

    def try_the_younger(dialog: MergeIntoClientDialog) -> None:
        dialog.query.clear()
        qtbot.keyClicks(dialog.query, "1988-09-30")
        said["found"] = dialog.results.rowCount()
        click(qtbot, dialog.next_button)
        said["problem"] = dialog.problem.text()
        said["enabled"] = dialog.merge_button.isEnabled()
        click(qtbot, dialog.merge_button)  # disabled: nothing happens
        click(qtbot, dialog.cancel_button)

    when_modal(MergeIntoClientDialog, safely(try_the_younger), after_ms=PAUSE_MS)
    click(qtbot, window.merge_button)
    assert said["found"] == 1 and said["enabled"] is False
    assert said["problem"] == ("Bob Jones is also a contact of Robert Jones. Unlink that client from "
                               "the contact first, so no relationship is lost.")
    assert count(db, Contact) == 1 and count(db, AuditEvent, action="contact.merge_into_client") == 0
    assert window.isVisible()


def test_back_chooses_another_client_and_cancel_changes_nothing(qtbot, db, practice, two_roberts, open_contact):  # type: ignore[no-untyped-def]
    window = open_contact(practice["owner"], two_roberts["bob"])
    seen: list[str] = []

    def look_then_cancel(dialog: MergeIntoClientDialog) -> None:
        dialog.query.clear()
        qtbot.keyClicks(dialog.query, "robert")
        click(qtbot, dialog.next_button)
        seen.append(dialog.findChild(type(dialog.problem), "dateOfBirth").text())
        click(qtbot, dialog.back_button)
        seen.append(f"page {dialog.pages.currentIndex()}")
        dialog.results.selectRow(1)
        click(qtbot, dialog.next_button)
        seen.append(dialog.findChild(type(dialog.problem), "dateOfBirth").text())
        click(qtbot, dialog.cancel_button)

    when_modal(MergeIntoClientDialog, safely(look_then_cancel), after_ms=PAUSE_MS)
    click(qtbot, window.merge_button)
    assert seen == ["1970-04-02", "page 0", "1988-09-30"]
    assert count(db, Contact) == 1 and window.isVisible()
    with db.reading() as s:
        assert s.get(Client, two_roberts["elder"]).email is None


@pytest.mark.parametrize("username, visible", [("owner", True), ("clinician", True), ("biller", False),
                                               ("scheduler", False)])
def test_merge_into_a_client_is_offered_to_those_who_may_merge(qtbot, db, practice, username, visible, open_contact):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    client = ClientsController(db).add_client(owner, first_name="Ada", last_name="Lovelace",
                                              clinician_id=practice["clinician"].user_id)
    contact = ContactsController(db).add_contact(owner, first_name="Byron", last_name="Lovelace",
                                                 client_id=client, relationship="Parent")
    window = open_contact(practice[username], contact)
    assert window.merge_button.isVisible() is visible
    window.close()
