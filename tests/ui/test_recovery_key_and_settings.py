"""The recovery key page, the first run with it, throttled sign-ins, and Security in Practice
settings (idle lock minutes, New recovery key…), typed and clicked as a person would.

An encrypted practice costs Argon2 (about half a second) for each owner created, sign-in or
password set, so the tests that need one make as few of those as they can.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QLabel, QMessageBox, QPushButton

from desktop.controllers.errors import NotSignedIn
from desktop.controllers.practice import Practice, open_practice
from desktop.domain.models import AuditEvent, Outcome, Role
from desktop.storage.keyfile import last_group
from desktop.ui.dialogs.first_run import FirstRunDialog
from desktop.ui.dialogs.practice_settings import PracticeSettingsDialog
from desktop.ui.dialogs.recovery_key import RecoveryKeyDialog, group_matches
from desktop.ui.dialogs.sign_in import SignInDialog
from tests.helpers import PASSWORD, count
from tests.ui.test_profile_and_deletion import click_button, when_modal

LEFT = Qt.MouseButton.LeftButton
OWNER_PASSWORD = "Quiet-Harbour-Lamp"
KEY = "K7Q2M-ABCDE-FGHIJ-KLMNO-PQRST-UVWXY-Z2345-BOI7Q"  # a fixed key for the page alone
WRONG = "Wrong username or password."


@pytest.fixture
def encrypted(tmp_path: Path) -> Iterator[Practice]:
    """A new local practice, encrypted as every new one is, with nobody in it yet."""
    practice = open_practice(f"sqlite:///{tmp_path / 'caseload.db'}", create=True)
    assert practice.encrypted
    yield practice
    practice.close()


def pdf_words(path: Path) -> str:
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is needed; .ci/run installs it"
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def key_page(qtbot, name: str = "Riverside Counselling") -> RecoveryKeyDialog:  # type: ignore[no-untyped-def]
    page = RecoveryKeyDialog(KEY, name, today=dt.date(2026, 11, 26))
    # Closed at the end as a person who has the key closes it; else closing asks, and waits.
    qtbot.addWidget(page, before_close_func=lambda widget: widget.check.setText(last_group(KEY)))
    page.show()
    return page


def type_group(qtbot, page: RecoveryKeyDialog, text: str) -> None:  # type: ignore[no-untyped-def]
    page.check.selectAll()
    qtbot.keyClick(page.check, Qt.Key.Key_Delete)
    qtbot.keyClicks(page.check, text)


# ------------------------------------------------------------------ the first run


def test_first_run_on_an_encrypted_practice_shows_the_key_until_its_last_group_is_typed(
        qtbot, encrypted):  # type: ignore[no-untyped-def]
    dialog = FirstRunDialog(encrypted)
    qtbot.addWidget(dialog)
    dialog.show()
    said = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert "encrypted" in said and "password" in said
    for edit, text in ((dialog.username, "dana"), (dialog.display_name, "Dana Whitfield"),
                       (dialog.password, OWNER_PASSWORD), (dialog.repeat, OWNER_PASSWORD)):
        qtbot.keyClicks(edit, text)
    seen: dict[str, object] = {}

    def read_and_prove(page: RecoveryKeyDialog) -> None:
        key = page.findChild(QLabel, "recoveryKey").text()
        seen["key"] = key
        seen["explained"] = " ".join(label.text() for label in page.findChildren(QLabel))
        continue_button = page.findChild(QPushButton, "recoveryKeyContinue")
        check = page.check
        assert check.objectName() == "recoveryKeyCheck"
        assert not continue_button.isEnabled()
        wrong = "AAAAA" if last_group(key) != "AAAAA" else "BBBBB"
        qtbot.keyClicks(check, wrong)
        assert not continue_button.isEnabled()
        assert "not the last group" in page.problem.text()
        qtbot.keyClick(check, Qt.Key.Key_Return)  # Return does not get past a wrong group
        assert page.isVisible()
        # Escape does not leave the page before the group is typed.
        qtbot.keyClick(check, Qt.Key.Key_Escape)
        assert page.isVisible() and not page.confirmed
        assert page.problem.text().startswith("Type the last group of the key to go on")
        typed = last_group(key).lower()
        type_group(qtbot, page, f"{typed[:2]} {typed[2:]}")  # any case, spaces ignored
        assert continue_button.isEnabled() and not page.problem.text()
        qtbot.mouseClick(continue_button, LEFT)

    when_modal(RecoveryKeyDialog, read_and_prove)
    qtbot.mouseClick(dialog.create_button, LEFT)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.actor is not None and dialog.actor.role is Role.ACCOUNT_OWNER
    assert seen["key"] == dialog.recovery_key and dialog.recovery_key_confirmed
    explained = str(seen["explained"])
    for words in ("set a new password", "not even the makers of Caseload", "on paper",
                  "away from the computer", "only now", "your practice"):
        assert words in explained, words
    assert encrypted.access.has_users()


def test_a_plain_practice_has_no_key_page_and_no_word_of_encryption(qtbot, db):  # type: ignore[no-untyped-def]
    dialog = FirstRunDialog(Practice(db))
    qtbot.addWidget(dialog)
    dialog.show()
    assert "encrypted" not in " ".join(label.text() for label in dialog.findChildren(QLabel))
    for edit, text in ((dialog.username, "dana"), (dialog.display_name, "Dana"),
                       (dialog.password, OWNER_PASSWORD), (dialog.repeat, OWNER_PASSWORD)):
        qtbot.keyClicks(edit, text)
    qtbot.mouseClick(dialog.create_button, LEFT)  # no page comes up: this would hang if one did
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.recovery_key is None


# ------------------------------------------------------------------ the page alone


def test_the_group_is_read_as_a_key_is_typed() -> None:
    assert group_matches("b0i7q", KEY) and group_matches(" B0 I7Q ", KEY) and group_matches("bo-i7q", KEY)
    assert group_matches("8OI7Q", KEY)  # 8 for B, 0 for O, 1 for I, as normalize_recovery_key reads them
    assert not group_matches("", KEY) and not group_matches("BOI7", KEY) and not group_matches("Z2345", KEY)


def test_the_page_cannot_be_closed_before_the_last_group_is_typed(qtbot) -> None:  # type: ignore[no-untyped-def]
    page = key_page(qtbot)
    page.close()  # the window's close button
    assert page.isVisible() and not page.confirmed
    assert page.problem.text().startswith("Type the last group of the key to go on")
    qtbot.keyClick(page.check, Qt.Key.Key_Escape)
    assert page.isVisible() and not page.confirmed


def test_once_the_group_is_typed_escape_closes_without_a_question(qtbot) -> None:  # type: ignore[no-untyped-def]
    page = key_page(qtbot)
    qtbot.keyClicks(page.check, "B0I7Q")
    qtbot.keyClick(page.check, Qt.Key.Key_Escape)  # a question now would hang the test
    assert not page.isVisible() and page.confirmed


def test_save_as_pdf_writes_one_private_page_with_the_key_as_text(qtbot, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    name = "Cabinet Émilie Gâteau-Ørsted"
    page = key_page(qtbot, name)
    asked: list[str] = []

    def choose(parent, caption, suggested, filters):  # type: ignore[no-untyped-def]
        asked.append(Path(suggested).name)
        return str(tmp_path / "our key"), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(choose))
    qtbot.mouseClick(page.findChild(QPushButton, "saveRecoveryKeyPdf"), LEFT)
    written = tmp_path / "our key.pdf"
    assert asked == [f"Caseload recovery key – {name}.pdf"]
    assert written.exists() and (written.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["our key.pdf"]  # no temporary file left
    words = pdf_words(written)
    assert KEY in words
    assert "Caseload recovery key" in words and name in words and "2026-11-26" in words
    flat = " ".join(words.split())
    assert "set a new password if theirs is forgotten" in flat and "away from the computer" in flat
    info = subprocess.run(["pdfinfo", str(written)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.MULTILINE)
    assert str(written) in page.saved_note.text() and not page.file_problem.text()


def test_a_pdf_that_cannot_be_written_is_one_sentence_and_leaves_no_file(qtbot, tmp_path, monkeypatch,
                                                                         ) -> None:  # type: ignore[no-untyped-def]
    # A file where a folder should be: refused for root too (a read-only folder is not, for root).
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    target = folder / "notes.txt" / "key.pdf"
    page = key_page(qtbot)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args: (str(target), "")))
    qtbot.mouseClick(page.findChild(QPushButton, "saveRecoveryKeyPdf"), LEFT)
    said = page.file_problem.text()
    assert said.startswith("Could not write") and "Nothing was written." in said
    assert "\n" not in said and "Traceback" not in said
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert page.saved_to is None and page.isVisible()


def test_print_opens_the_print_dialog_and_prints_the_same_page(qtbot, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    page = key_page(qtbot)
    opened: list[str] = []

    def cancelled(dialog: QPrintDialog) -> int:
        opened.append(dialog.objectName())
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(QPrintDialog, "exec", cancelled)
    qtbot.mouseClick(page.findChild(QPushButton, "printRecoveryKey"), LEFT)
    assert opened == ["printDialog"] and not page.saved_note.isVisible()

    printed = tmp_path / "printed.pdf"

    def to_a_file(dialog: QPrintDialog) -> int:  # the person picks "Print to file"
        dialog.printer().setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        dialog.printer().setOutputFileName(str(printed))
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(QPrintDialog, "exec", to_a_file)
    qtbot.mouseClick(page.findChild(QPushButton, "printRecoveryKey"), LEFT)
    assert KEY in pdf_words(printed) and page.saved_note.isVisible()


# ------------------------------------------------------------------ practice settings


def test_lock_after_is_saved_and_nothing_outside_1_to_60_is(qtbot, db, practice) -> None:  # type: ignore[no-untyped-def]
    dialog = PracticeSettingsDialog(Practice(db), practice["manager"])
    qtbot.addWidget(dialog)
    dialog.show()
    spin = dialog.idle_lock
    assert spin.objectName() == "idleLockMinutes" and spin.value() == 10 and spin.text() == "10 minutes"
    assert (spin.minimum(), spin.maximum()) == (1, 60)
    explained = dialog.findChild(QLabel, "idleLockExplanation").text()
    assert "warns, then locks the screen" in explained
    error = dialog.errors["idle_lock_minutes"]

    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "0")
    assert error.isVisible() and error.text() == "Lock after must be a whole number of minutes from 1 to 60."
    assert not dialog.save_button.isEnabled()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "61")  # the spin box takes no 1 after a 6
    assert spin.value() == 6 and not error.isVisible() and dialog.save_button.isEnabled()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "60")
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert spin.value() == 60
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "1")
    assert spin.text() == "1 minute"
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "25")
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert Practice(db).settings.settings(practice["owner"]).idle_lock_minutes == 25

    again = PracticeSettingsDialog(Practice(db), practice["owner"])
    qtbot.addWidget(again)
    assert again.idle_lock.value() == 25 and again.idle_lock.text() == "25 minutes"


def test_those_who_may_not_change_settings_see_the_minutes_but_cannot_type(qtbot, db, practice) -> None:  # type: ignore[no-untyped-def]
    dialog = PracticeSettingsDialog(Practice(db), practice["biller"])
    qtbot.addWidget(dialog)
    assert dialog.idle_lock.value() == 10 and not dialog.idle_lock.isEnabled()


def test_a_plain_practice_offers_no_new_recovery_key(qtbot, db, practice) -> None:  # type: ignore[no-untyped-def]
    dialog = PracticeSettingsDialog(Practice(db), practice["owner"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.findChild(QPushButton, "newRecoveryKey") is None
    assert dialog.idle_lock.isVisible()


def test_new_recovery_key_replaces_the_old_one_and_only_the_owner_sees_it(
        qtbot, encrypted) -> None:  # type: ignore[no-untyped-def]
    owner, old_key = encrypted.access.create_owner("dana", "Dana Whitfield", OWNER_PASSWORD)
    assert old_key is not None
    encrypted.settings.save(owner, 0, {"name": "明心心理咨询中心"}, [])
    dialog = PracticeSettingsDialog(encrypted, owner)
    qtbot.addWidget(dialog)
    dialog.show()
    button = dialog.findChild(QPushButton, "newRecoveryKey")
    assert button is not None and button.isVisible()

    # Asked first; Cancel changes nothing.
    questions: list[str] = []

    def cancel(box: QMessageBox) -> None:
        questions.append(f"{box.text()} {box.informativeText()}")
        click_button(box, "cancel")

    when_modal(QMessageBox, cancel)
    qtbot.mouseClick(button, LEFT)
    assert questions and "stops working" in questions[0]
    assert count(encrypted.db, AuditEvent, action="practice.recovery_key") == 0

    shown: dict[str, str] = {}

    def prove(page: RecoveryKeyDialog) -> None:
        shown["key"] = page.key_label.text()
        shown["practice"] = page.findChild(QLabel, "recoveryKeyPractice").text()
        qtbot.keyClicks(page.check, last_group(shown["key"]))
        qtbot.mouseClick(page.continue_button, LEFT)

    when_modal(QMessageBox, lambda box: click_button(box, "makeNewRecoveryKey"))
    when_modal(RecoveryKeyDialog, prove)
    qtbot.mouseClick(button, LEFT)
    new_key = shown["key"]
    assert new_key and new_key != old_key and "明心心理咨询中心" in shown["practice"]
    assert count(encrypted.db, AuditEvent, action="practice.recovery_key") == 1
    assert dialog.isVisible()  # the settings stay open behind the page

    encrypted.access.sign_out()
    with pytest.raises(NotSignedIn):
        encrypted.access.recover(old_key, "Another-Brisk-Lantern")
    assert encrypted.access.recover(new_key, "Another-Brisk-Lantern").username == "dana"

    # A Practice Manager of the same encrypted practice changes settings, but has no recovery key.
    again = encrypted.access.signed_in
    assert again is not None
    encrypted.users.add_user(again, "morgan", Role.PRACTICE_MANAGER, "Sturdy-Lantern-42")
    manager = encrypted.users.sign_in("morgan", "Sturdy-Lantern-42")
    manager = encrypted.users.change_password(manager, "Sturdy-Lantern-42", "Brisk-Meadow-Owl-7")
    theirs = PracticeSettingsDialog(encrypted, manager)
    qtbot.addWidget(theirs)
    theirs.show()
    assert theirs.findChild(QPushButton, "newRecoveryKey") is None
    assert theirs.save_button.isVisible() and theirs.idle_lock.isEnabled()


# ------------------------------------------------------------------ signing in


def sign_in_dialog(qtbot, practice: Practice, **kwargs) -> SignInDialog:  # type: ignore[no-untyped-def]
    dialog = SignInDialog(practice, "test database", **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def press_sign_in(qtbot, dialog: SignInDialog, username: str | None, password: str) -> None:  # type: ignore[no-untyped-def]
    if username is not None:
        dialog.username.clear()
        qtbot.keyClicks(dialog.username, username)
    qtbot.keyClicks(dialog.password, password)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.busy)


def test_a_throttled_sign_in_counts_down_on_the_button_then_lets_them_in(
        qtbot, db, practice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [1_000_000.0]
    monkeypatch.setattr("desktop.controllers.access.time", SimpleNamespace(time=lambda: now[0]))
    dialog = sign_in_dialog(qtbot, Practice(db), clock=lambda: now[0])
    for _ in range(5):
        press_sign_in(qtbot, dialog, "owner", "not the password")
        assert dialog.problem.text() == WRONG and dialog.sign_in.isEnabled()
    press_sign_in(qtbot, dialog, None, "not the password either")
    assert dialog.problem.text() == ("Too many failed sign-in attempts for that username. Wait 15 seconds, "
                                     "then try again.")
    assert not dialog.sign_in.isEnabled() and dialog.sign_in.text() == "Wait 15 s"
    denied = count(db, AuditEvent, action="user.sign_in", outcome=Outcome.DENIED)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)  # nothing happens while it waits
    assert not dialog.busy and count(db, AuditEvent, action="user.sign_in", outcome=Outcome.DENIED) == denied

    now[0] += 5.2
    qtbot.waitUntil(lambda: dialog.sign_in.text() == "Wait 10 s")  # the timer counts down by itself
    # Another username is not the one held back.
    qtbot.keyClicks(dialog.username, "x")
    assert dialog.sign_in.isEnabled() and dialog.sign_in.text() == "Sign in" and not dialog.problem.text()
    qtbot.keyClick(dialog.username, Qt.Key.Key_Backspace)
    assert not dialog.sign_in.isEnabled() and "Too many failed" in dialog.problem.text()

    now[0] += 10
    qtbot.waitUntil(lambda: dialog.sign_in.isEnabled())
    assert dialog.sign_in.text() == "Sign in" and not dialog.problem.text()
    press_sign_in(qtbot, dialog, None, PASSWORD)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.signed_in is not None and dialog.signed_in.failed_attempts == 5


def test_one_return_is_one_attempt_under_a_wait_cursor(qtbot, db, practice) -> None:  # type: ignore[no-untyped-def]
    dialog = sign_in_dialog(qtbot, Practice(db))
    qtbot.keyClicks(dialog.username, "owner")
    qtbot.keyClicks(dialog.password, "not the password")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)  # a double Enter
    qtbot.mouseClick(dialog.sign_in, LEFT)  # and an impatient click
    cursor = QApplication.overrideCursor()
    assert dialog.busy and cursor is not None and cursor.shape() == Qt.CursorShape.WaitCursor
    assert not dialog.sign_in.isEnabled() and dialog.password.isReadOnly()
    qtbot.waitUntil(lambda: not dialog.busy)
    assert QApplication.overrideCursor() is None
    assert dialog.problem.text() == WRONG and dialog.sign_in.isEnabled()
    assert count(db, AuditEvent, action="user.sign_in", outcome=Outcome.DENIED) == 1


def test_on_an_encrypted_practice_a_wrong_password_and_an_unknown_user_read_alike(
        qtbot, encrypted) -> None:  # type: ignore[no-untyped-def]
    encrypted.access.create_owner("dana", "Dana Whitfield", OWNER_PASSWORD)
    encrypted.access.sign_out()
    assert encrypted.locked
    dialog = sign_in_dialog(qtbot, encrypted)
    press_sign_in(qtbot, dialog, "dana", "Not-Her-Password")
    assert dialog.problem.text() == WRONG and dialog.password.text() == "" and encrypted.locked
    press_sign_in(qtbot, dialog, "nobody", "Not-Her-Password")
    assert dialog.problem.text() == WRONG
    press_sign_in(qtbot, dialog, "dana", OWNER_PASSWORD)
    assert dialog.actor is not None and dialog.actor.username == "dana" and not encrypted.locked
    assert dialog.signed_in is not None and dialog.signed_in.failed_attempts == 1
