"""The recovery key in the window: "Forgot the Account Owner's password?" on the sign-in dialog,
and the dialog that sets a new password with the key, typed and clicked as a person would.

Argon2 is made cheap here (``USER_KDF``): every test signs in, sets or tries a password.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication, QDialog, QPushButton

import desktop.storage.keyfile
from desktop.controllers.access import RECOVERY_NAME
from desktop.controllers.errors import NotSignedIn
from desktop.controllers.practice import Practice, open_practice
from desktop.domain.models import Role
from desktop.storage.keyfile import new_recovery_key
from desktop.ui.dialogs.recover import RecoverDialog
from desktop.ui.dialogs.sign_in import SignInDialog

LEFT = Qt.MouseButton.LeftButton
OLD = "olive's long passphrase"
NEW = "a brand new passphrase"
WRONG_KEY = "That recovery key does not open this practice; nothing was changed."


@dataclass
class Locked:
    practice: Practice
    url: str
    key: str


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    keyfile = desktop.storage.keyfile
    monkeypatch.setattr(keyfile, "USER_KDF", keyfile.KdfParams(time_cost=1, memory_kib=8 * 1024, parallelism=1))
    monkeypatch.setattr(keyfile, "_USER_KDF_SECONDS", [])  # measured here, forgotten afterwards


@pytest.fixture
def locked(tmp_path: Path, cheap_argon2: None) -> Iterator[Locked]:
    """An encrypted practice whose Account Owner is olive, locked as at start-up."""
    url = f"sqlite:///{tmp_path / 'caseload.db'}"
    practice = open_practice(url, create=True)
    _owner, key = practice.access.create_owner("olive", "Olive Owner", OLD)
    assert key is not None
    practice.access.sign_out()
    assert practice.encrypted and practice.locked
    yield Locked(practice, url, key)
    practice.close()


def sign_in_dialog(qtbot, practice: Practice, **kwargs) -> SignInDialog:  # type: ignore[no-untyped-def]
    dialog = SignInDialog(practice, "test database", **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def open_recovery(qtbot, dialog: SignInDialog) -> RecoverDialog:  # type: ignore[no-untyped-def]
    link = dialog.findChild(QPushButton, "forgotPassword")
    assert link is not None and link.isVisible()
    qtbot.mouseClick(link, LEFT)
    recover = dialog.findChild(QDialog, "recoverDialog")
    assert isinstance(recover, RecoverDialog) and recover.isVisible()
    return recover


def type_into(qtbot, recover: RecoverDialog, *, key: str | None = None, username: str | None = None,  # type: ignore[no-untyped-def]
              password: str | None = None, repeat: str | None = None) -> None:
    for edit, text in ((recover.key, key), (recover.username, username), (recover.password, password),
                       (recover.repeat, repeat)):
        if text is not None:
            edit.selectAll()
            qtbot.keyClick(edit, Qt.Key.Key_Delete)
            if text.isascii():
                qtbot.keyClicks(edit, text)
            else:  # as a keyboard's input method commits it (QTest types ASCII only)
                event = QInputMethodEvent()
                event.setCommitString(text)
                QApplication.sendEvent(edit, event)


def press_set(qtbot, recover: RecoverDialog) -> None:  # type: ignore[no-untyped-def]
    assert recover.set_button.isEnabled()
    qtbot.mouseClick(recover.set_button, LEFT)
    qtbot.waitUntil(lambda: not recover.busy)


def signs_in(url: str, password: str) -> bool:
    """Whether olive signs in with ``password`` on a fresh opening of the practice."""
    fresh = open_practice(url)
    try:
        fresh.access.sign_in("olive", password)
        return True
    except NotSignedIn:
        return False
    finally:
        fresh.close()


def test_a_plain_practice_offers_no_recovery(qtbot, db, practice) -> None:  # type: ignore[no-untyped-def]
    dialog = sign_in_dialog(qtbot, Practice(db))
    assert dialog.findChild(QPushButton, "forgotPassword") is None
    assert "Forgot" not in " ".join(b.text() for b in dialog.findChildren(QPushButton))


def test_a_wrong_key_is_one_sentence_keeps_the_key_selected_and_changes_nothing(
        qtbot, locked) -> None:  # type: ignore[no-untyped-def]
    dialog = sign_in_dialog(qtbot, locked.practice)
    recover = open_recovery(qtbot, dialog)
    other = new_recovery_key()
    assert other != locked.key
    type_into(qtbot, recover, key=other, password=NEW, repeat=NEW)
    qtbot.keyClick(recover.repeat, Qt.Key.Key_Return)
    qtbot.keyClick(recover.repeat, Qt.Key.Key_Return)  # a double Enter is one attempt
    cursor = QApplication.overrideCursor()
    assert recover.busy and cursor is not None and cursor.shape() == Qt.CursorShape.WaitCursor
    assert recover.key.isReadOnly() and not recover.set_button.isEnabled() and not recover.cancel.isEnabled()
    qtbot.waitUntil(lambda: not recover.busy)
    assert QApplication.overrideCursor() is None
    assert recover.problem.text() == WRONG_KEY
    assert locked.practice.access.attempts.read(RECOVERY_NAME).failures == 1
    # Kept, selected, to be corrected; the rest as it was.
    assert recover.key.text() == other and recover.key.selectedText() == other
    assert recover.password.text() == NEW and recover.repeat.text() == NEW
    assert recover.isVisible() and recover.set_button.isEnabled()
    assert dialog.isVisible() and dialog.actor is None and locked.practice.locked

    qtbot.mouseClick(recover.cancel, LEFT)
    assert not recover.isVisible() and dialog.isVisible() and dialog.recovering is None
    qtbot.keyClicks(dialog.username, "olive")
    qtbot.keyClicks(dialog.password, OLD)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.busy)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.actor is not None and dialog.actor.username == "olive"


def test_what_cannot_be_a_key_is_said_as_it_is_typed_and_never_tried(qtbot, locked) -> None:  # type: ignore[no-untyped-def]
    dialog = sign_in_dialog(qtbot, locked.practice)  # held: the recovery dialog is its child
    recover = open_recovery(qtbot, dialog)
    type_into(qtbot, recover, password=NEW, repeat=NEW)
    type_into(qtbot, recover, key="K7Q2M-ABCDE")
    assert recover.problem.text() == "" and not recover.set_button.isEnabled()  # still being typed
    qtbot.keyClick(recover.key, Qt.Key.Key_Return)  # leaving it short
    assert recover.problem.text() == ("That is shorter than a recovery key: 10 of its 40 letters and digits "
                                      "are typed.")
    assert not recover.set_button.isEnabled() and not recover.busy
    type_into(qtbot, recover, key=locked.key[:-1] + "9")
    assert recover.problem.text() == ("A recovery key has only the letters A to Z and the digits 2 to 7; "
                                      "“9” is not one of them.")
    assert not recover.set_button.isEnabled()
    type_into(qtbot, recover, key=locked.key + "-ABCDE")
    assert recover.problem.text().startswith("That is longer than a recovery key")
    assert not recover.set_button.isEnabled()
    assert locked.practice.access.attempts.read(RECOVERY_NAME).failures == 0
    type_into(qtbot, recover, key=locked.key)
    assert recover.problem.text() == "" and recover.set_button.isEnabled()


def test_a_weak_or_unrepeated_new_password_is_refused_as_it_is_typed(qtbot, locked) -> None:  # type: ignore[no-untyped-def]
    dialog = sign_in_dialog(qtbot, locked.practice)  # held: the recovery dialog is its child
    recover = open_recovery(qtbot, dialog)
    type_into(qtbot, recover, key=locked.key)
    type_into(qtbot, recover, password="short")
    assert recover.problem.text() == "Use at least 10 characters." and not recover.set_button.isEnabled()
    type_into(qtbot, recover, password="password123")
    assert "most common passwords" in recover.problem.text() and not recover.set_button.isEnabled()
    type_into(qtbot, recover, repeat="password123")
    assert "most common passwords" in recover.problem.text() and not recover.set_button.isEnabled()
    qtbot.keyClick(recover.repeat, Qt.Key.Key_Return)  # the default button waits: nothing is tried
    assert not recover.busy and recover.isVisible()
    type_into(qtbot, recover, password=NEW, repeat=NEW[:-1] + "X")
    qtbot.keyClick(recover.repeat, Qt.Key.Key_Return)
    assert recover.problem.text() == "The two passwords differ." and not recover.set_button.isEnabled()
    type_into(qtbot, recover, repeat=NEW)
    assert recover.problem.text() == "" and recover.set_button.isEnabled()
    assert locked.practice.locked and signs_in(locked.url, OLD)


def test_the_right_key_in_lower_case_with_spaces_sets_the_password_and_signs_olive_in(
        qtbot, locked) -> None:  # type: ignore[no-untyped-def]
    dialog = sign_in_dialog(qtbot, locked.practice)
    recover = open_recovery(qtbot, dialog)
    type_into(qtbot, recover, key=locked.key.lower().replace("-", " "), password=NEW, repeat=NEW)
    assert recover.problem.text() == ""
    qtbot.mouseClick(recover.set_button, LEFT)
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted)
    assert recover.signed_in is not None and recover.signed_in.actor.username == "olive"
    assert dialog.signed_in is not None and dialog.signed_in.failed_attempts == 0
    assert dialog.actor is not None and dialog.actor.username == "olive"
    assert dialog.actor.role is Role.ACCOUNT_OWNER and not dialog.actor.must_change_password
    assert not dialog.isVisible() and not locked.practice.locked
    assert locked.practice.access.signed_in is not None and locked.practice.access.signed_in.username == "olive"
    assert QApplication.overrideCursor() is None
    locked.practice.close()
    assert not signs_in(locked.url, OLD)
    assert signs_in(locked.url, NEW)


def test_whose_password_when_there_are_several_account_owners(qtbot, tmp_path, cheap_argon2) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'caseload.db'}"
    practice = open_practice(url, create=True)
    try:
        owner, key = practice.access.create_owner("olive", "Olive Owner", OLD)
        practice.users.add_user(owner, "oscar", Role.ACCOUNT_OWNER, "oscar's long passphrase",
                                display_name="Oscar Owner")
        practice.access.sign_out()
        assert key is not None
        dialog = sign_in_dialog(qtbot, practice)
        recover = open_recovery(qtbot, dialog)
        type_into(qtbot, recover, key=key, password=NEW, repeat=NEW)
        press_set(qtbot, recover)
        assert recover.problem.text() == ("This practice has several Account Owners: type whose password to set "
                                          "as the username (\u2068olive\u2069, \u2068oscar\u2069).")
        assert recover.isVisible() and practice.locked
        type_into(qtbot, recover, username="سارة")
        assert recover.problem.text() == ""  # typing anew clears the refusal
        press_set(qtbot, recover)
        assert recover.problem.text() == ("No active Account Owner of this practice is called \u2068سارة\u2069: "
                                          "type an Account Owner's username, or leave it empty.")
        assert recover.username.selectedText() == "سارة" and practice.locked
        type_into(qtbot, recover, username="oscar")
        qtbot.mouseClick(recover.set_button, LEFT)
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted)
        assert dialog.actor is not None and dialog.actor.username == "oscar"
    finally:
        practice.close()
    assert signs_in(url, OLD)  # olive's password is as it was


def test_too_many_wrong_keys_wait_counted_down_on_the_button(qtbot, locked, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [1_000_000.0]
    monkeypatch.setattr("desktop.controllers.access.time", SimpleNamespace(time=lambda: now[0]))
    dialog = sign_in_dialog(qtbot, locked.practice, clock=lambda: now[0])
    recover = open_recovery(qtbot, dialog)
    type_into(qtbot, recover, password=NEW, repeat=NEW)
    for _ in range(5):
        type_into(qtbot, recover, key=new_recovery_key())
        press_set(qtbot, recover)
        assert recover.problem.text() == WRONG_KEY
    type_into(qtbot, recover, key=locked.key)
    press_set(qtbot, recover)
    assert recover.problem.text() == "Too many wrong recovery keys were tried. Wait 15 seconds, then try again."
    assert not recover.set_button.isEnabled() and recover.set_button.text() == "Wait 15 s"
    now[0] += 5.2
    qtbot.waitUntil(lambda: recover.set_button.text() == "Wait 10 s")
    now[0] += 10
    qtbot.waitUntil(lambda: recover.set_button.isEnabled())
    assert recover.set_button.text() == "Set the new password" and recover.problem.text() == ""
    assert locked.practice.locked and recover.isVisible()
