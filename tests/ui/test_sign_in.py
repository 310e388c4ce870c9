"""First run and signing in, typed into the real dialogs."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.controllers.clients import ClientsController
from desktop.controllers.practice import Practice
from desktop.controllers.users import UsersController
from desktop.domain.models import AuditEvent, Outcome, PracticeUser, Role
from desktop.ui.dialogs.first_run import FirstRunDialog
from desktop.ui.dialogs.sign_in import SignInDialog
from tests.helpers import PASSWORD, count


def test_first_run_creates_the_account_owner(qtbot, db):  # type: ignore[no-untyped-def]
    dialog = FirstRunDialog(Practice(db))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "dana")
    qtbot.keyClicks(dialog.display_name, "Dana Whitfield")
    qtbot.keyClicks(dialog.password, "s3cret-pass")
    assert not dialog.create_button.isEnabled()
    qtbot.keyClicks(dialog.repeat, "s3cret-pas")
    assert not dialog.create_button.isEnabled()
    assert "differ" in dialog.problem.text()
    qtbot.keyClicks(dialog.repeat, "s")
    assert dialog.create_button.isEnabled()
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.actor is not None and dialog.actor.role is Role.ACCOUNT_OWNER
    with db.reading() as s:
        owner = s.query(PracticeUser).one()
        assert owner.username == "dana" and owner.password_hash != "s3cret-pass"
    assert UsersController(db).sign_in("dana", "s3cret-pass").display_name == "Dana Whitfield"


def test_first_run_with_demo_ticked_leaves_the_box_for_the_app_to_act_on(qtbot, db):  # type: ignore[no-untyped-def]
    dialog = FirstRunDialog(Practice(db))
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.demo, Qt.MouseButton.LeftButton)
    assert dialog.demo.isChecked()


def test_wrong_password_is_refused_with_one_message_and_audited(qtbot, db, practice):  # type: ignore[no-untyped-def]
    dialog = SignInDialog(Practice(db), "test database")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "owner")
    qtbot.keyClicks(dialog.password, "not the password")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.busy)  # the password is checked off the window's thread
    assert dialog.actor is None
    assert dialog.isVisible()
    assert dialog.problem.text() == "Wrong username or password."
    assert dialog.password.text() == ""
    assert count(db, AuditEvent, action="user.sign_in", outcome=Outcome.DENIED) == 1

    qtbot.keyClicks(dialog.username, "x")  # an unknown user gets the very same message
    qtbot.keyClicks(dialog.password, "whatever")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.busy)  # the password is checked off the window's thread
    assert dialog.problem.text() == "Wrong username or password."

    dialog.username.clear()
    qtbot.keyClicks(dialog.username, "owner")
    qtbot.keyClicks(dialog.password, PASSWORD)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.busy)  # the password is checked off the window's thread
    assert dialog.actor is not None and dialog.actor.username == "owner"
    assert ClientsController(db).list_clients(dialog.actor) == []
