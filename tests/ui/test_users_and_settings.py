"""Users, passwords and practice settings, clicked and typed as the Account Owner and others would."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox, QTableWidget

from desktop.controllers.errors import NotSignedIn, PermissionDenied
from desktop.controllers.practice import Practice
from desktop.domain.models import AuditEvent, Outcome, Role
from desktop.ui.dialogs.change_password import ChangePasswordDialog
from desktop.ui.dialogs.practice_settings import PracticeSettingsDialog
from desktop.ui.dialogs.users import (
    MUST_CHANGE,
    NAME,
    PASSWORD,
    ROLE,
    STATUS,
    USERNAME,
    AddUserDialog,
    ChangeRoleDialog,
    ResetPasswordDialog,
    UsersWindow,
)
from tests.helpers import PASSWORD as SEEDED_PASSWORD
from tests.helpers import count
from tests.ui.test_profile_and_deletion import click_button, when_modal

LEFT = Qt.MouseButton.LeftButton
FIRST_PASSWORD = "Sturdy-Lantern-42"
OWN_PASSWORD = "Quiet-Harbour-Lamp"


def open_users(qtbot, db, actor) -> UsersWindow:  # type: ignore[no-untyped-def]
    window = UsersWindow(Practice(db), actor)
    qtbot.addWidget(window)
    window.show()
    return window


def text_at(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    return item.text() if item is not None else ""


def row_of(window: UsersWindow, username: str) -> int:
    table = window.table
    found = [r for r in range(table.rowCount()) if text_at(table, r, USERNAME) == username]
    assert found, f"{username} is not in the table"
    return found[0]


def cell(window: UsersWindow, username: str, column: int) -> str:
    return text_at(window.table, row_of(window, username), column)


def click_user(qtbot, window: UsersWindow, username: str) -> None:  # type: ignore[no-untyped-def]
    table = window.table
    rect = table.visualRect(table.model().index(row_of(window, username), USERNAME))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())
    selected = window.selected()
    assert selected is not None and selected.username == username


def type_password_twice(qtbot, dialog, password: str) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClicks(dialog.password.edit, password)
    qtbot.keyClicks(dialog.password.repeat, password)


# ------------------------------------------------------------------ adding users and passwords


def test_owner_adds_a_biller_who_must_choose_their_own_password_at_first_sign_in(qtbot, db, practice):  # type: ignore[no-untyped-def]
    window = open_users(qtbot, db, practice["owner"])
    seen: dict[str, object] = {}

    def fill(dialog: AddUserDialog) -> None:
        qtbot.keyClicks(dialog.username_edit, "bea.o")
        qtbot.keyClicks(dialog.display_name, "Beatriz Ortiz")
        dialog.role.combo.setCurrentIndex(dialog.role.combo.findText("Biller"))
        seen["entire shown"] = dialog.role.entire.isVisible()
        seen["note"] = dialog.note.text()
        qtbot.keyClicks(dialog.password.edit, FIRST_PASSWORD)
        qtbot.keyClicks(dialog.password.repeat, FIRST_PASSWORD[:-1])
        seen["half typed"] = (dialog.add_button.isEnabled(), dialog.password.repeat_error.isVisible())
        qtbot.keyClicks(dialog.password.repeat, FIRST_PASSWORD[-1])
        qtbot.mouseClick(dialog.add_button, LEFT)

    when_modal(AddUserDialog, fill)
    qtbot.mouseClick(window.add_button, LEFT)
    assert seen["entire shown"] is False  # a biller's reach is not a choice
    assert "when they first sign in" in str(seen["note"])
    assert seen["half typed"] == (False, False)  # not yet the same, and not called different either
    assert cell(window, "bea.o", NAME) == "Beatriz Ortiz"
    assert cell(window, "bea.o", ROLE) == "Biller"
    assert cell(window, "bea.o", PASSWORD) == MUST_CHANGE
    assert window.selected() is not None and window.selected().username == "bea.o"

    users = Practice(db).users
    bea = users.sign_in("bea.o", FIRST_PASSWORD)
    assert bea.role is Role.BILLER and bea.must_change_password
    with pytest.raises(PermissionDenied, match="Change your password first"):
        Practice(db).settings.settings(bea)

    dialog = ChangePasswordDialog(Practice(db), bea, forced=True)
    qtbot.addWidget(dialog)
    dialog.show()
    assert "chosen by someone else" in dialog.intro.text()
    assert dialog.cancel_button.text() == "Sign Out"
    qtbot.keyClicks(dialog.current, FIRST_PASSWORD)
    qtbot.keyClicks(dialog.new.edit, "short")
    assert dialog.new.error.isVisible() and "at least 10 characters" in dialog.new.error.text()
    qtbot.keyClicks(dialog.new.repeat, "short")
    assert not dialog.save_button.isEnabled()
    for field in (dialog.new.edit, dialog.new.repeat):
        field.clear()
        qtbot.keyClicks(field, "password2024!")
    assert "most common passwords" in dialog.new.error.text()
    assert not dialog.save_button.isEnabled()
    for field in (dialog.new.edit, dialog.new.repeat):
        field.clear()
        qtbot.keyClicks(field, OWN_PASSWORD)
    assert not dialog.new.error.isVisible() and dialog.save_button.isEnabled()
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.actor.username == "bea.o" and not dialog.actor.must_change_password
    assert not users.sign_in("bea.o", OWN_PASSWORD).must_change_password
    assert Practice(db).settings.settings(dialog.actor).version == 0  # no longer refused

    window.reload()
    assert cell(window, "bea.o", PASSWORD) == "Their own"


def test_a_wrong_current_password_is_said_under_it_and_changes_nothing(qtbot, db, practice):  # type: ignore[no-untyped-def]
    dialog = ChangePasswordDialog(Practice(db), practice["clinician"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.cancel_button.text() != "Sign Out"
    qtbot.keyClicks(dialog.current, "not my password")
    qtbot.keyClicks(dialog.new.edit, OWN_PASSWORD)
    qtbot.keyClicks(dialog.new.repeat, OWN_PASSWORD + "x")
    assert dialog.new.repeat_error.text() == "The two passwords differ."
    assert not dialog.save_button.isEnabled()
    qtbot.keyClick(dialog.new.repeat, Qt.Key.Key_Backspace)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible()
    assert dialog.current_error.text() == "That is not your current password."
    with pytest.raises(NotSignedIn):
        Practice(db).users.sign_in("clinician", OWN_PASSWORD)
    assert Practice(db).users.sign_in("clinician", SEEDED_PASSWORD)


def test_a_taken_username_is_said_under_it_and_nothing_is_added(qtbot, db, practice):  # type: ignore[no-untyped-def]
    dialog = AddUserDialog(Practice(db).users, practice["owner"])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username_edit, "two words")
    assert "one word" in dialog.username_error.text() and not dialog.add_button.isEnabled()
    dialog.username_edit.clear()
    qtbot.keyClicks(dialog.username_edit, "biller")
    type_password_twice(qtbot, dialog, FIRST_PASSWORD)
    qtbot.mouseClick(dialog.add_button, LEFT)
    assert dialog.isVisible() and dialog.user_id is None
    assert "already a user called 'biller'" in dialog.username_error.text()
    assert len(Practice(db).users.users(practice["owner"])) == 6


def test_reset_password_makes_them_choose_their_own_at_next_sign_in(qtbot, db, practice):  # type: ignore[no-untyped-def]
    window = open_users(qtbot, db, practice["owner"])
    click_user(qtbot, window, "clinician")
    intro: list[str] = []

    def reset(dialog: ResetPasswordDialog) -> None:
        intro.append(dialog.intro.text())
        qtbot.keyClicks(dialog.password.edit, "1234567890")
        intro.append(dialog.password.error.text())
        dialog.password.edit.clear()
        type_password_twice(qtbot, dialog, FIRST_PASSWORD)
        qtbot.mouseClick(dialog.reset_button, LEFT)

    when_modal(ResetPasswordDialog, reset)
    qtbot.mouseClick(window.reset_button, LEFT)
    assert "Dr. Colin Park" in intro[0] and "next sign in" in intro[0]
    assert intro[1]  # a run of digits is refused as it is typed
    assert cell(window, "clinician", PASSWORD) == MUST_CHANGE
    assert window.selected() is not None and window.selected().username == "clinician"
    assert Practice(db).users.sign_in("clinician", FIRST_PASSWORD).must_change_password


def test_change_role_gives_a_clinician_the_entire_practice(qtbot, db, practice):  # type: ignore[no-untyped-def]
    window = open_users(qtbot, db, practice["owner"])
    assert cell(window, "clinician", ROLE) == "Clinician, own clients"
    click_user(qtbot, window, "clinician")

    def widen(dialog: ChangeRoleDialog) -> None:
        assert not dialog.change_button.isEnabled()  # nothing changed yet
        qtbot.mouseClick(dialog.role.entire, LEFT, pos=dialog.role.entire.rect().center())
        qtbot.mouseClick(dialog.change_button, LEFT)

    when_modal(ChangeRoleDialog, widen)
    qtbot.mouseClick(window.role_button, LEFT)
    assert cell(window, "clinician", ROLE) == "Clinician, entire practice"
    assert window.selected() is not None and window.selected().username == "clinician"


# ------------------------------------------------------------------ deactivating


def test_deactivate_asks_then_they_cannot_sign_in_and_reactivate_lets_them_in_again(qtbot, db, practice):  # type: ignore[no-untyped-def]
    window = open_users(qtbot, db, practice["owner"])
    click_user(qtbot, window, "biller")
    assert window.active_button.text() == "Deactivate…"
    asked: list[str] = []

    def answer(button: str):  # type: ignore[no-untyped-def]
        def act(box: QMessageBox) -> None:
            asked.append(box.text())
            click_button(box, button)
        return act

    when_modal(QMessageBox, answer("cancel"))
    qtbot.mouseClick(window.active_button, LEFT)
    assert "Bea Lindqvist" in asked[0] and "biller" in asked[0]
    assert cell(window, "biller", STATUS) == "Active"
    assert Practice(db).users.sign_in("biller", SEEDED_PASSWORD)

    when_modal(QMessageBox, answer("confirmDeactivate"))
    qtbot.mouseClick(window.active_button, LEFT)
    assert cell(window, "biller", STATUS) == "Deactivated"
    assert window.selected() is not None and window.selected().username == "biller"
    assert window.active_button.text() == "Reactivate"
    with pytest.raises(NotSignedIn):
        Practice(db).users.sign_in("biller", SEEDED_PASSWORD)

    qtbot.mouseClick(window.active_button, LEFT)  # reactivating asks nothing: it only gives back
    assert cell(window, "biller", STATUS) == "Active"
    assert window.active_button.text() == "Deactivate…"
    assert Practice(db).users.sign_in("biller", SEEDED_PASSWORD).username == "biller"


def test_the_last_account_owner_can_be_neither_deactivated_nor_demoted(qtbot, db, practice):  # type: ignore[no-untyped-def]
    window = open_users(qtbot, db, practice["owner"])
    click_user(qtbot, window, "owner")
    when_modal(QMessageBox, lambda box: click_button(box, "confirmDeactivate"))
    qtbot.mouseClick(window.active_button, LEFT)
    assert window.problem.text() == "You cannot deactivate your own account."
    assert cell(window, "owner", STATUS) == "Active"

    said: list[str] = []

    def demote(dialog: ChangeRoleDialog) -> None:
        dialog.role.combo.setCurrentIndex(dialog.role.combo.findText("Practice Manager"))
        qtbot.mouseClick(dialog.change_button, LEFT)
        said.append(dialog.problem.text())
        dialog.reject()

    when_modal(ChangeRoleDialog, demote)
    qtbot.mouseClick(window.role_button, LEFT)
    assert "only Account Owner" in said[0]
    assert cell(window, "owner", ROLE) == "Account Owner"
    owner = Practice(db).users.sign_in("owner", SEEDED_PASSWORD)
    assert owner.role is Role.ACCOUNT_OWNER


@pytest.mark.parametrize("username", ["manager", "clinician-all", "scheduler"])
def test_the_users_window_shows_the_refusal_and_no_list_to_anyone_but_the_owner(qtbot, db, practice, username):  # type: ignore[no-untyped-def]
    window = open_users(qtbot, db, practice[username])
    assert "may not manage users" in window.problem.text()
    assert not window.table.isVisible() and window.table.rowCount() == 0
    assert not window.add_button.isVisible()
    assert count(db, AuditEvent, action="user.manage_list", outcome=Outcome.DENIED) == 1


# ------------------------------------------------------------------ practice settings


def open_settings(qtbot, db, actor) -> PracticeSettingsDialog:  # type: ignore[no-untyped-def]
    dialog = PracticeSettingsDialog(Practice(db), actor)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def type_in_cell(qtbot, table: QTableWidget, row: int, column: int, text: str) -> None:  # type: ignore[no-untyped-def]
    """Double-click the cell, replace what it holds, press Return."""
    rect = table.visualRect(table.model().index(row, column))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())  # a double click starts with a click
    qtbot.mouseDClick(table.viewport(), LEFT, pos=rect.center())
    editors = [e for e in table.viewport().findChildren(QLineEdit) if e.isVisible()]
    assert len(editors) == 1, "the cell did not open for typing"
    qtbot.keyClick(editors[0], Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editors[0], text)
    qtbot.keyClick(editors[0], Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: text_at(table, row, column) == text)  # Qt commits it queued


def test_practice_settings_are_saved_and_shown_again(qtbot, db, practice):  # type: ignore[no-untyped-def]
    dialog = open_settings(qtbot, db, practice["manager"])
    assert dialog.common_button.isVisible()  # an empty list offers the usual codes
    qtbot.keyClicks(dialog.edits["name"], "Riverside Counselling")
    qtbot.keyClicks(dialog.address, "12 Elm Street")
    qtbot.keyClick(dialog.address, Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.address, "Springfield, IL 62701")
    qtbot.keyClicks(dialog.edits["phone"], "(217) 555-0142")
    qtbot.keyClicks(dialog.edits["tax_id"], "12-3456789")
    qtbot.keyClicks(dialog.edits["npi"], "1234567893")
    qtbot.mouseClick(dialog.common_button, LEFT)
    table = dialog.services
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == [
        "90791", "90832", "90834", "90837", "90847"]
    assert not dialog.common_button.isVisible()
    assert "Service 1" in dialog.services_error.text() and not dialog.save_button.isEnabled()
    for row, fee in enumerate(("200.00", "100.00", "150.00", "180.00", "160.00")):
        type_in_cell(qtbot, table, row, 3, fee)
    assert not dialog.services_error.isVisible() and dialog.save_button.isEnabled()
    qtbot.mouseClick(dialog.add_service_button, LEFT)
    assert not dialog.save_button.isEnabled()  # an empty service is not one
    for column, text in enumerate(("90853", "Group psychotherapy", "90", "60.00")):
        type_in_cell(qtbot, table, 5, column, text)
    assert dialog.save_button.isEnabled()
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.result() == dialog.DialogCode.Accepted

    again = open_settings(qtbot, db, practice["owner"])
    assert again.edits["name"].text() == "Riverside Counselling"
    assert again.address.toPlainText() == "12 Elm Street\nSpringfield, IL 62701"
    assert again.edits["tax_id"].text() == "12-3456789" and again.edits["npi"].text() == "1234567893"
    assert again.services.rowCount() == 6 and not again.common_button.isVisible()
    assert [again.services.item(5, c).text() for c in range(4)] == ["90853", "Group psychotherapy", "90", "60.00"]
    stored = Practice(db).settings.settings(practice["scheduler"])
    assert stored.services[2].default_fee == Decimal("150.00") and stored.phone == "(217) 555-0142"

    # Removing a service is saved too.
    rect = again.services.visualRect(again.services.model().index(1, 1))
    qtbot.mouseClick(again.services.viewport(), LEFT, pos=rect.center())
    qtbot.mouseClick(again.remove_service_button, LEFT)
    qtbot.mouseClick(again.save_button, LEFT)
    codes = [s.code for s in Practice(db).settings.settings(practice["owner"]).services]
    assert codes == ["90791", "90834", "90837", "90847", "90853"]


def test_an_invalid_npi_or_ein_or_a_code_listed_twice_is_said_and_save_waits(qtbot, db, practice):  # type: ignore[no-untyped-def]
    dialog = open_settings(qtbot, db, practice["owner"])
    qtbot.keyClicks(dialog.edits["npi"], "1234567890")
    assert dialog.errors["npi"].isVisible() and "check digit" in dialog.errors["npi"].text()
    assert not dialog.save_button.isEnabled()
    qtbot.keyClicks(dialog.edits["tax_id"], "12-345")
    assert "nine digits" in dialog.errors["tax_id"].text()
    assert dialog.errors["npi"].isVisible()  # each field says its own problem
    qtbot.keyClick(dialog.edits["npi"], Qt.Key.Key_Backspace)
    qtbot.keyClicks(dialog.edits["npi"], "3")
    assert not dialog.errors["npi"].isVisible() and not dialog.save_button.isEnabled()
    qtbot.keyClicks(dialog.edits["tax_id"], "6789")
    assert not dialog.errors["tax_id"].isVisible() and dialog.save_button.isEnabled()

    qtbot.mouseClick(dialog.common_button, LEFT)
    for row in range(5):
        type_in_cell(qtbot, dialog.services, row, 3, "150.00")
    qtbot.mouseClick(dialog.add_service_button, LEFT)
    for column, text in enumerate(("90834", "Psychotherapy again", "45", "150.00")):
        type_in_cell(qtbot, dialog.services, 5, column, text)
    assert "Service 6: the code 90834 is listed twice." == dialog.services_error.text()
    assert not dialog.save_button.isEnabled()
    dialog.reject()
    assert Practice(db).settings.settings(practice["owner"]).version == 0  # nothing saved


def test_a_save_over_someone_elses_offers_reload(qtbot, db, practice):  # type: ignore[no-untyped-def]
    dialog = open_settings(qtbot, db, practice["owner"])
    Practice(db).settings.save(practice["manager"], 0, {"name": "Their Practice"}, [])
    qtbot.keyClicks(dialog.edits["name"], "My Practice")
    when_modal(QMessageBox, lambda box: click_button(box, "reload"))
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible()
    assert "Someone else saved the practice settings" in dialog.problem.text()
    assert dialog.edits["name"].text() == "Their Practice"
    assert Practice(db).settings.settings(practice["owner"]).name == "Their Practice"


@pytest.mark.parametrize("username", ["scheduler", "biller", "clinician-all"])
def test_only_owner_and_manager_may_change_the_settings(qtbot, db, practice, username):  # type: ignore[no-untyped-def]
    Practice(db).settings.save(practice["owner"], 0, {"name": "Riverside"}, [
        {"code": "90834", "description": "Psychotherapy", "minutes": 45, "default_fee": "150"}])
    dialog = open_settings(qtbot, db, practice[username])
    assert dialog.edits["name"].text() == "Riverside" and dialog.services.rowCount() == 1
    assert "Account Owner and Practice Manager" in dialog.notice.text() and dialog.notice.isVisible()
    assert not dialog.save_button.isVisible() and not dialog.add_service_button.isVisible()
    assert not dialog.common_button.isVisible()
    qtbot.keyClicks(dialog.edits["name"], " and Co")
    assert dialog.edits["name"].text() == "Riverside"  # read-only
    assert dialog.services.editTriggers() == QTableWidget.EditTrigger.NoEditTriggers
    with pytest.raises(PermissionDenied):
        Practice(db).settings.save(practice[username], 1, {"name": "Mine"}, [])
    assert Practice(db).settings.settings(practice["owner"]).name == "Riverside"
