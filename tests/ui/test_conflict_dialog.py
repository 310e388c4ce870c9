"""Someone else saved the profile being edited: theirs and mine, chosen field by field, clicked as a person would.

docs/rules.md, "Conflicting saves". Each test opens the edit dialog, types a
change, has another person save through the controller meanwhile, clicks Save
Client, and answers the conflict dialog with clicks.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QMessageBox, QPushButton, QRadioButton, QWidget

from desktop.controllers.clients import ClientsController
from desktop.domain.models import AuditEvent, Client, ClientStatus, PortalAccess
from desktop.ui.dialogs.conflict import ConflictDialog, Resolution
from desktop.ui.dialogs.edit_client import NOT_SAVED_YET, EditClientDialog
from tests.helpers import count
from tests.ui.test_profile_and_deletion import click_button, open_edit, when_modal

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def ada(db, practice) -> int:  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    owner = practice["owner"]
    cid = clients.add_client(owner, first_name="Ada", last_name="Lovelace", date_of_birth="1985-12-10",
                             email="ada@example.org", phone="555 010 0000",
                             clinician_id=practice["clinician"].user_id)
    clients.set_portal_access(owner, cid, portal=True, messaging=True)
    return cid


def stored(db, client_id: int) -> Client:  # type: ignore[no-untyped-def]
    with db.reading() as s:
        client = s.get(Client, client_id)
        assert client is not None
        s.expunge(client)
        return client


def overwrites(db) -> list[list[str]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    with db.reading() as s:
        return [e.details["fields"] for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "client.overwrite").order_by(AuditEvent.id))]


def type_into(qtbot, dialog: EditClientDialog, key: str, text: str) -> None:  # type: ignore[no-untyped-def]
    edit = dialog.edits[key]
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def click(qtbot, dialog: QWidget, cls: type, name: str) -> None:  # type: ignore[no-untyped-def]
    widget = dialog.findChild(cls, name)
    assert widget is not None and widget.isVisible(), f"no visible {name!r}"
    qtbot.mouseClick(widget, LEFT)


def rows_of(dialog: ConflictDialog) -> dict[str, tuple[str, str]]:
    """What the dialog shows per field: (theirs, mine) as a person reads them."""
    shown = {}
    for row in dialog.rows:
        theirs = dialog.findChild(QLabel, f"{row.key}Theirs")
        mine = dialog.findChild(QLabel, f"{row.key}Mine")
        shown[row.key] = (theirs.text().replace("\u200b", ""), mine.text().replace("\u200b", ""))
    return shown


def answer_conflicts(*acts: Callable[[ConflictDialog], None]) -> list[ConflictDialog]:
    """Answer the next conflict dialogs, one act each, in order; returns the dialogs seen."""
    seen: list[ConflictDialog] = []

    def act(dialog: QWidget) -> None:
        assert isinstance(dialog, ConflictDialog)
        seen.append(dialog)
        try:
            acts[len(seen) - 1](dialog)
        except BaseException:
            dialog.reject()  # a failed check fails the test instead of leaving the dialog up
            raise

    when_modal(ConflictDialog, act, times=len(acts), after_ms=30)
    return seen


# ------------------------------------------------------------------ Save merged


def test_both_changed_fields_are_highlighted_and_the_merge_saves_each_chosen_value(
        qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    type_into(qtbot, dialog, "email", "countess@example.org")
    type_into(qtbot, dialog, "phone", "555 010 2222")
    ClientsController(db).edit_client(practice["manager"], ada, 1, email="ada.l@example.org",
                                      first_name="Augusta")
    shown: dict[str, tuple[str, str]] = {}

    def choose(conflict: ConflictDialog) -> None:
        shown.update(rows_of(conflict))
        # Defaults: mine where I changed the field, theirs where only they did.
        assert conflict.use_mine() == {"first_name": False, "email": True, "phone": True}
        assert conflict.findChild(QFrame, "emailConflict") is not None  # both changed
        assert conflict.findChild(QFrame, "first_nameConflict") is None
        assert conflict.findChild(QLabel, "emailWhoChanged").text() == "You both changed it"
        click(qtbot, conflict, QRadioButton, "emailKeepTheirs")
        click(qtbot, conflict, QRadioButton, "first_nameUseMine")  # put my "Ada" back over theirs
        click(qtbot, conflict, QPushButton, "saveMerged")

    seen = answer_conflicts(choose)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert len(seen) == 1 and seen[0].outcome is Resolution.SAVE_MERGED
    assert shown == {"first_name": ("Augusta", "Ada"), "email": ("ada.l@example.org", "countess@example.org"),
                     "phone": ("555 010 0000", "555 010 2222")}
    client = stored(db, ada)
    assert (client.first_name, client.email, client.phone, client.version) == (
        "Ada", "ada.l@example.org", "555 010 2222", 3)
    assert dialog.result() == EditClientDialog.DialogCode.Accepted and not dialog.isVisible()
    assert overwrites(db) == [["first_name"]]  # by name: the values are not in the audit log


def test_a_click_on_a_value_chooses_it(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    type_into(qtbot, dialog, "phone", "555 010 2222")
    ClientsController(db).edit_client(practice["manager"], ada, 1, phone="555 010 1111")

    def choose(conflict: ConflictDialog) -> None:
        assert conflict.use_mine() == {"phone": True}
        click(qtbot, conflict, QLabel, "phoneTheirs")
        assert conflict.use_mine() == {"phone": False}
        click(qtbot, conflict, QPushButton, "saveMerged")

    answer_conflicts(choose)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert stored(db, ada).phone == "555 010 1111"
    assert overwrites(db) == []


def test_a_third_save_during_the_merge_shows_the_newest_values_and_keeps_the_other_choices(
        qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    type_into(qtbot, dialog, "email", "countess@example.org")
    type_into(qtbot, dialog, "phone", "555 010 2222")
    clients.edit_client(practice["manager"], ada, 1, email="ada.l@example.org", phone="555 010 1111")
    headings: list[str] = []

    def first(conflict: ConflictDialog) -> None:
        headings.append(conflict.findChild(QLabel, "conflictHeading").text())
        click(qtbot, conflict, QRadioButton, "emailKeepTheirs")
        clients.edit_client(practice["clinician-all"], ada, 2, phone="555 010 9999")  # a third person
        click(qtbot, conflict, QPushButton, "saveMerged")

    def second(conflict: ConflictDialog) -> None:
        headings.append(conflict.findChild(QLabel, "conflictHeading").text())
        assert rows_of(conflict)["phone"] == ("555 010 9999", "555 010 2222")
        # Email is as it was: my choice stands. Phone changed again: decided afresh (mine).
        assert conflict.use_mine() == {"email": False, "phone": True}
        click(qtbot, conflict, QRadioButton, "phoneKeepTheirs")
        click(qtbot, conflict, QPushButton, "saveMerged")

    seen = answer_conflicts(first, second)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert len(seen) == 2
    assert "while you were editing" in headings[0] and "saved again" in headings[1]
    client = stored(db, ada)
    assert (client.email, client.phone, client.version) == ("ada.l@example.org", "555 010 9999", 3)
    assert not dialog.isVisible()
    assert overwrites(db) == []


def test_their_status_change_is_one_choice_and_kept_by_default(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    type_into(qtbot, dialog, "phone", "555 010 2222")
    ClientsController(db).set_status(practice["manager"], ada, "inactive", reason="moved", note="to Leeds")

    def keep_theirs(conflict: ConflictDialog) -> None:
        assert rows_of(conflict)["status"] == ("Inactive (Moved): to Leeds", "Active")
        assert conflict.use_mine() == {"phone": True, "status": False}
        click(qtbot, conflict, QPushButton, "saveMerged")

    answer_conflicts(keep_theirs)
    qtbot.mouseClick(dialog.save_button, LEFT)
    client = stored(db, ada)
    assert (client.status, client.inactive_note, client.phone) == (ClientStatus.INACTIVE, "to Leeds", "555 010 2222")
    assert overwrites(db) == []


def test_making_inactive_over_their_save_asks_the_portal_question_once(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    dialog.status.setCurrentIndex(dialog.status.findText("Inactive"))
    dialog.reason.setCurrentIndex(dialog.reason.findText("Discharged"))
    ClientsController(db).edit_client(practice["manager"], ada, 1, email="ada.l@example.org")
    asked: list[str] = []

    def switch_off(box: QMessageBox) -> None:
        asked.append(box.text())
        click_button(box, "switchOffAccess")

    when_modal(QMessageBox, switch_off)
    answer_conflicts(lambda conflict: click(qtbot, conflict, QPushButton, "saveMerged"))
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert len(asked) == 1
    client = stored(db, ada)
    assert (client.status, client.email) == (ClientStatus.INACTIVE, "ada.l@example.org")
    with db.reading() as s:
        access = s.get(PortalAccess, ada)
        assert (access.portal_enabled, access.messaging_enabled) == (False, False)


# ------------------------------------------------------------- the ways out


def test_reload_drops_what_was_typed_and_shows_theirs(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    type_into(qtbot, dialog, "phone", "555 010 2222")
    ClientsController(db).edit_client(practice["manager"], ada, 1, email="ada.l@example.org")
    answer_conflicts(lambda conflict: click(qtbot, conflict, QPushButton, "reload"))
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible()
    assert dialog.edits["email"].text() == "ada.l@example.org"
    assert dialog.edits["phone"].text() == "555 010 0000"
    assert dialog.problem.text() == ""
    client = stored(db, ada)
    assert (client.email, client.phone, client.version) == ("ada.l@example.org", "555 010 0000", 2)
    # Their version is now the one this form saves over: the next save is no conflict.
    type_into(qtbot, dialog, "phone", "555 010 3333")
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert stored(db, ada).phone == "555 010 3333" and not dialog.isVisible()


def test_cancel_goes_back_to_the_form_with_everything_typed(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    type_into(qtbot, dialog, "phone", "555 010 2222")
    type_into(qtbot, dialog, "first_name", "Augusta Ada")
    ClientsController(db).edit_client(practice["manager"], ada, 1, email="ada.l@example.org")
    answer_conflicts(lambda conflict: click(qtbot, conflict, QPushButton, "cancel"))
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible()
    assert (dialog.edits["phone"].text(), dialog.edits["first_name"].text(), dialog.edits["email"].text()) == (
        "555 010 2222", "Augusta Ada", "ada@example.org")
    assert dialog.problem.text() == NOT_SAVED_YET
    assert stored(db, ada).phone == "555 010 0000"
    # Saving again compares again, and the merge goes through.
    answer_conflicts(lambda conflict: click(qtbot, conflict, QPushButton, "saveMerged"))
    qtbot.mouseClick(dialog.save_button, LEFT)
    client = stored(db, ada)
    assert (client.first_name, client.email, client.phone) == ("Augusta Ada", "ada.l@example.org", "555 010 2222")


def test_a_client_deleted_during_the_merge_is_said_in_one_sentence(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    type_into(qtbot, dialog, "phone", "555 010 2222")
    clients.edit_client(practice["manager"], ada, 1, email="ada.l@example.org")

    def deleted_meanwhile(conflict: ConflictDialog) -> None:
        clients.delete_client(practice["manager"], ada, "Ada Lovelace")
        click(qtbot, conflict, QPushButton, "saveMerged")

    answer_conflicts(deleted_meanwhile)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible()
    assert dialog.problem.text() == f"There is no client with id {ada}; it may have been deleted."
    assert count(db, Client, id=ada) == 0
