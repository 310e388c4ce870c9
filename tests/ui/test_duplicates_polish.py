"""The duplicates window as a new user met it: Keep asks first, offers Undo, speaks in names; keyboard.

Each test drives the real widgets (clicks and keys) and answers every question
after a person's pause, as in test_profile_and_deletion.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.practice import Practice
from desktop.domain.models import AuditEvent, Client, ClientStatus, Contact, InactiveReason
from desktop.ui.contact_profile import ContactProfileWindow
from desktop.ui.dialogs.merge_contacts import MergeContactsDialog
from tests.helpers import count
from tests.ui.test_duplicates_window import scanned, twins  # noqa: F401 - the fixture
from tests.ui.test_profile_and_deletion import portal_of, status_of, when_modal

LEFT = Qt.MouseButton.LeftButton
PAUSE_MS = 800  # a person reads the question before answering it


def answer_in_turn(answers: list[tuple[str, str]], said: list[str]) -> None:
    """Answer the next message boxes in turn: each (box objectName, button objectName or "Cancel").

    What each box said is kept in ``said`` as "objectName: text informative text".
    A box other than the one expected is cancelled, so a test fails rather than hangs.
    """
    def act_for(i: int):  # type: ignore[no-untyped-def]
        def act(box: QMessageBox) -> None:
            said.append(f"{box.objectName()}: {box.text()} {box.informativeText()}")
            expected_box, button_name = answers[i]
            if i + 1 < len(answers):
                when_modal(QMessageBox, act_for(i + 1), after_ms=PAUSE_MS)
            button = box.button(QMessageBox.StandardButton.Cancel) if button_name == "Cancel" \
                else box.findChild(QWidget, button_name)
            if box.objectName() != expected_box or button is None:
                box.reject()
                return
            button.click()  # type: ignore[attr-defined]
        return act

    when_modal(QMessageBox, act_for(0), after_ms=PAUSE_MS)


@pytest.fixture
def bob_on_portal(db, practice, twins):  # type: ignore[no-untyped-def]  # noqa: F811
    """Bob JONES (the right profile of the pair) has Client Portal and Secure Messaging on."""
    ClientsController(db).set_portal_access(practice["owner"], twins["bob"], portal=True, messaging=True)
    return twins


def test_keep_left_confirms_asks_the_portal_question_and_undo_restores_everything(
        qtbot, db, practice, bob_on_portal):  # type: ignore[no-untyped-def]
    robert, bob = bob_on_portal["robert"], bob_on_portal["bob"]
    window = scanned(qtbot, db, practice["owner"])
    changed: list[int] = []
    window.changed.connect(lambda: changed.append(1))
    said: list[str] = []
    answer_in_turn([("keepQuestion", "confirmKeep"), ("portalQuestion", "switchOffAccess")], said)
    qtbot.mouseClick(window.keep_left, LEFT)

    assert len(said) == 2, said
    # The confirmation names both people: who is kept, who becomes inactive.
    assert said[0].startswith("keepQuestion: Keep the left profile, Robert Jones (born 1970-04-02), "
                              "and make the right one, Bob JONES (born 1970-04-02), inactive")
    assert "stays on" in said[1]  # docs/rules.md, "Status": the portal question
    with db.reading() as s:
        duplicate = s.get(Client, bob)
        assert duplicate.status is ClientStatus.INACTIVE
        assert duplicate.inactive_reason is InactiveReason.DUPLICATE and duplicate.duplicate_of_id == robert
    assert portal_of(db, bob) == (False, False)
    assert window.message_bar.isVisible() and window.undo_button.isVisible()
    message = window.message.text()
    assert "Kept Robert Jones (born 1970-04-02)" in message and "Bob JONES (born 1970-04-02)" in message
    assert "switched off" in message
    assert not re.search(r"\b(client|id) \d", message, re.IGNORECASE)
    assert window.client_table.rowCount() == 0 and changed

    qtbot.mouseClick(window.undo_button, LEFT)
    assert status_of(db, bob) is ClientStatus.ACTIVE
    with db.reading() as s:
        undone = s.get(Client, bob)
        assert undone.duplicate_of_id is None and undone.inactive_reason is None
    assert portal_of(db, bob) == (True, True)  # the access it switched off is back on
    assert "Active again" in window.message.text() and "Bob JONES" in window.message.text()
    assert not window.undo_button.isVisible()
    assert window.client_table.rowCount() == 1  # offered again, selected
    assert window.client_table.selectionModel().selectedRows()[0].row() == 0
    assert len(changed) == 2


@pytest.mark.parametrize("stage", ["confirmation", "portal question"])
def test_cancel_at_either_question_changes_nothing(qtbot, db, practice, bob_on_portal, stage):  # type: ignore[no-untyped-def]
    bob = bob_on_portal["bob"]
    window = scanned(qtbot, db, practice["owner"])
    said: list[str] = []
    answers = [("keepQuestion", "cancelKeep")] if stage == "confirmation" else \
        [("keepQuestion", "confirmKeep"), ("portalQuestion", "Cancel")]
    answer_in_turn(answers, said)
    qtbot.mouseClick(window.keep_left, LEFT)
    assert len(said) == len(answers), said
    assert status_of(db, bob) is ClientStatus.ACTIVE and portal_of(db, bob) == (True, True)
    assert count(db, AuditEvent, action="client.mark_duplicate") == 0
    assert window.client_table.rowCount() == 1 and not window.message_bar.isVisible()


def test_keep_right_without_portal_access_asks_only_to_confirm_and_ctrl_z_undoes(
        qtbot, db, practice, twins):  # type: ignore[no-untyped-def]  # noqa: F811
    robert, bob = twins["robert"], twins["bob"]
    window = scanned(qtbot, db, practice["owner"])
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    said: list[str] = []
    answer_in_turn([("keepQuestion", "confirmKeep")], said)
    qtbot.mouseClick(window.keep_right, LEFT)
    assert len(said) == 1 and "Keep the right profile, Bob JONES" in said[0]
    assert status_of(db, robert) is ClientStatus.INACTIVE and status_of(db, bob) is ClientStatus.ACTIVE
    assert "Kept Bob JONES (born 1970-04-02). Robert Jones (born 1970-04-02) is now inactive" \
        in window.message.text()
    # A window manager gives the focus back to the window once the question closes; offscreen, we do.
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    qtbot.keyClick(window.client_table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert status_of(db, robert) is ClientStatus.ACTIVE
    assert count(db, AuditEvent, action="client.portal") == 0  # no access to switch off or restore


def test_the_comparison_and_messages_speak_in_names_and_dates_of_birth(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]  # noqa: F811
    window = scanned(qtbot, db, practice["owner"])
    compare = window.compare
    rows = {compare.item(r, 0).text(): (compare.item(r, 1).text(), compare.item(r, 2).text())
            for r in range(compare.rowCount())}
    assert "Client id" not in rows
    assert rows["Date of birth"] == ("1970-04-02", "1970-04-02")
    assert rows["First name"] == ("Robert", "Bob")
    ids = {str(twins["robert"]), str(twins["bob"])}
    assert not any(text in ids for pair in rows.values() for text in pair)
    qtbot.mouseClick(window.not_duplicate, LEFT)
    assert window.message.text() == ("Noted: Robert Jones (born 1970-04-02) and Bob JONES "
                                     "(born 1970-04-02) are different people; they will not be "
                                     "offered again.")


@pytest.fixture
def parks(db, practice):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    contacts = ContactsController(db)
    a = contacts.add_contact(owner, first_name="Helen", last_name="Park", email="helen@example.org",
                             phone="555 100 2000")
    b = contacts.add_contact(owner, first_name="HELEN", last_name="Park", email="h.park@example.org",
                             phone="5551002000")
    return a, b


def test_contacts_tab_opens_on_the_first_pair_and_a_merge_names_who_was_kept(qtbot, db, practice, parks):  # type: ignore[no-untyped-def]
    a, b = parks
    window = scanned(qtbot, db, practice["owner"])
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, LEFT, pos=bar.tabRect(1).center())
    assert window.tabs.currentIndex() == 1
    assert [i.row() for i in window.contact_table.selectionModel().selectedRows()] == [0]
    assert window.compare.rowCount() > 0
    assert window.merge.isVisible() and window.merge.isEnabled()

    def merge(dialog: MergeContactsDialog) -> None:
        choice = dialog.choices["first_name"][1]  # "HELEN" wins, on the contact kept (the left one)
        qtbot.mouseClick(choice, LEFT, pos=QPoint(8, choice.height() // 2))  # on its circle
        qtbot.mouseClick(dialog.merge_button, LEFT)

    when_modal(MergeContactsDialog, merge, after_ms=PAUSE_MS)
    qtbot.mouseClick(window.merge, LEFT)
    with db.reading() as s:
        assert s.get(Contact, a).first_name == "HELEN" and s.get(Contact, b) is None
    assert "Kept HELEN Park" in window.message.text()
    assert window.contact_table.rowCount() == 0


def test_esc_and_ctrl_w_close_the_duplicates_window(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]  # noqa: F811
    window = scanned(qtbot, db, practice["owner"])
    for key, modifier in ((Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
                          (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)):
        window.show()
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
        qtbot.keyClick(window.client_table, key, modifier)
        assert not window.isVisible(), key


def test_esc_and_ctrl_w_close_the_contact_profile(qtbot, db, practice, parks):  # type: ignore[no-untyped-def]
    for key, modifier in ((Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
                          (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)):
        window = ContactProfileWindow(Practice(db), practice["owner"], parks[0])
        closed: list[int] = []
        window.destroyed.connect(lambda *_a, into=closed: into.append(1))
        window.show()
        window.activateWindow()
        qtbot.waitUntil(lambda w=window: QApplication.activeWindow() is w)
        qtbot.keyClick(window.linked, key, modifier)
        qtbot.waitUntil(lambda done=closed: bool(done))  # closed, and deleted with it


def _form_labels(widget: QWidget) -> list[QLabel]:
    """The labels that name a field: their text ends with a colon."""
    return [label for label in widget.findChildren(QLabel)
            if label.text().rstrip().endswith(":") and label.text().strip() != ":"]


def test_every_form_label_of_the_contact_profile_has_a_buddy_its_mnemonic_focuses(qtbot, db, practice, parks):  # type: ignore[no-untyped-def]
    window = ContactProfileWindow(Practice(db), practice["owner"], parks[0])
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    labels = _form_labels(window)
    assert len(labels) == 4
    for label in labels:
        assert "&" in label.text() and label.buddy() is not None, label.text()
    for letter, target in ((Qt.Key.Key_M, window.fields["email"]), (Qt.Key.Key_H, window.fields["phone"]),
                           (Qt.Key.Key_N, window.linked), (Qt.Key.Key_O, window.fields["notes"])):
        qtbot.keyClick(window, letter, Qt.KeyboardModifier.AltModifier)
        assert QApplication.focusWidget() is target, letter


def test_every_form_label_of_the_contact_merge_dialog_has_a_buddy(qtbot, db, practice, parks):  # type: ignore[no-untyped-def]
    dialog = MergeContactsDialog(Practice(db), practice["owner"], *parks)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    labels = _form_labels(dialog)
    assert {label.text() for label in labels} == {"&Keep:", "&First name:", "&Last name:", "&Email:",
                                                  "P&hone:", "N&otes:"}
    assert all(label.buddy() is not None for label in labels)
    qtbot.keyClick(dialog, Qt.Key.Key_E, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is dialog.choices["email"][0]
    # Same names on both sides: the survivor choice says what tells them apart, never an id.
    assert dialog.keep_left.text() == "Helen Park" and dialog.keep_right.text() == "HELEN Park"
    assert "contact " not in dialog.keep_left.text()


def test_the_windows_never_import_storage_or_sqlalchemy() -> None:
    root = Path(__file__).resolve().parents[2] / "desktop" / "ui"
    for name in ("duplicates_window.py", "contact_profile.py", "dialogs/merge_contacts.py",
                 "dialogs/merge_into_client.py"):
        source = (root / name).read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+(sqlalchemy|desktop\.storage)", source, re.MULTILINE), name
