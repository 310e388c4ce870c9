"""What a new user reported about the profile, the edit, delete and contact dialogs, driven by keys and clicks."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QTableWidget,
    QWidget,
)

from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.practice import Practice
from desktop.domain.models import (
    AuditEvent,
    Client,
    ClientContactLink,
    ClientStatus,
    InactiveReason,
    Outcome,
)
from desktop.ui.dialogs.contact_dialogs import AddContactDialog, PickDialog
from desktop.ui.dialogs.delete_client import DeleteClientDialog, InactiveReasonDialog
from desktop.ui.dialogs.edit_client import EditClientDialog
from desktop.ui.profile import ProfileWindow
from tests.helpers import add_appointment, count, seed_users
from tests.ui.test_profile_and_deletion import click_button

LEFT = Qt.MouseButton.LeftButton
ALT = Qt.KeyboardModifier.AltModifier
READING_MS = 800  # how long a person takes to read a question before answering it

_running: list[object] = []  # the test now running, so answers left over from another never act


@pytest.fixture(autouse=True)
def _answers_end_with_the_test() -> Iterator[None]:
    token = object()
    _running.append(token)
    yield
    _running.remove(token)


def close_modals() -> None:
    """Close whatever modal window is up, so a test that went wrong fails instead of hanging."""
    for _ in range(10):
        widget = QApplication.activeModalWidget()
        if widget is None:
            return
        if isinstance(widget, QDialog):
            widget.reject()
        else:
            widget.close()


def answer(kind: type, act: Callable, *, after_ms: int = READING_MS, give_up_ms: int = 10_000) -> None:  # type: ignore[type-arg]
    """Run ``act`` on the next modal window of ``kind`` once it has been up ``after_ms``.

    Like ``when_modal``; but if ``act`` fails, or another window stands in the way
    until ``give_up_ms``, the modal windows are closed so the test fails, not hangs.
    """
    token = _running[-1]
    deadline = time.monotonic() + give_up_ms / 1000

    def respond(widget: QWidget) -> None:
        try:
            act(widget)
        except BaseException:
            close_modals()
            raise

    def poll() -> None:
        if not _running or _running[-1] is not token:
            return  # that test is over
        widget = QApplication.activeModalWidget()
        if isinstance(widget, kind) and widget.isVisible():
            QTimer.singleShot(after_ms, lambda: respond(widget))
            return
        if time.monotonic() > deadline:
            close_modals()
            return
        QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)


@pytest.fixture
def ada(db, practice):  # type: ignore[no-untyped-def]
    """Ada, assigned to the own-clients clinician, portal on, two appointments and a parent."""
    clients, contacts, owner = ClientsController(db), ContactsController(db), practice["owner"]
    cid = clients.add_client(owner, first_name="Ada", last_name="Lovelace", date_of_birth="1985-12-10",
                             clinician_id=practice["clinician"].user_id)
    clients.set_portal_access(owner, cid, portal=True, messaging=True)
    add_appointment(db, cid, dt.datetime(2026, 1, 5, 10))
    add_appointment(db, cid, dt.datetime(2026, 2, 5, 10))
    contacts.add_contact(owner, first_name="Byron", last_name="Lovelace", email="byron@example.org",
                         client_id=cid, relationship="Parent")
    return cid


def shown(qtbot, widget: QWidget) -> QWidget:  # type: ignore[no-untyped-def]
    """Show ``widget`` as the active window, as it is when a person types into it."""
    qtbot.addWidget(widget)
    widget.show()
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow)
    return widget


def type_keys(qtbot, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type into whatever has the focus, as a keyboard does."""
    for ch in text:
        qtbot.keyClick(QApplication.focusWidget(), ch)


def alt(qtbot, letter: str) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClick(QApplication.focusWidget(), getattr(Qt.Key, f"Key_{letter.upper()}"), ALT)


def focused_in(widget: QWidget) -> bool:
    focus = QApplication.focusWidget()
    return focus is widget or (focus is not None and widget.isAncestorOf(focus))


def mnemonic_labels(root: QWidget) -> list[QLabel]:
    return [label for label in root.findChildren(QLabel)
            if label.isVisibleTo(root) and "&" in label.text().replace("&&", "")]


def check_every_mnemonic(qtbot, root: QWidget) -> list[str]:  # type: ignore[no-untyped-def]
    """Press Alt+letter for every underlined label; the focus must land in the field it names."""
    labels = mnemonic_labels(root)
    assert labels
    seen = []
    for label in labels:
        text = label.text()
        letter = text[text.index("&") + 1]
        buddy = label.buddy()
        assert buddy is not None, f"{text!r} has no buddy"
        assert isinstance(buddy, (QLineEdit, QComboBox, QPlainTextEdit, QTableWidget, QCheckBox)), \
            f"{text!r} names a {type(buddy).__name__}, which cannot take the focus"
        if not buddy.isEnabled():
            continue
        alt(qtbot, letter)
        assert focused_in(buddy), f"Alt+{letter} ({text!r}) left the focus in {QApplication.focusWidget()}"
        seen.append(text)
    return seen


# ------------------------------------------------------------------ 1. mnemonics


def test_alt_l_in_the_edit_dialog_moves_to_last_name_and_leaves_first_name_alone(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = shown(qtbot, EditClientDialog(ClientsController(db), practice["owner"], ada))
    first, last = dialog.edits["first_name"], dialog.edits["last_name"]
    first.setFocus()
    qtbot.waitUntil(first.hasFocus)
    alt(qtbot, "l")
    assert last.hasFocus()
    type_keys(qtbot, "King")  # the mnemonic selects the field's text, so typing replaces it
    assert first.text() == "Ada" and last.text() == "King"


def test_every_underlined_label_in_the_edit_dialog_moves_the_focus(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = shown(qtbot, EditClientDialog(ClientsController(db), practice["owner"], ada))
    dialog.status.setCurrentIndex(dialog.status.findText("Inactive"))  # Reason and Note enabled
    dialog.edits["first_name"].setFocus()
    seen = check_every_mnemonic(qtbot, dialog)
    assert {"&First name:", "&Last name:", "P&hone:", "&Address:", "&Reason:", "&Note:"} <= set(seen)


def test_the_edit_dialog_checks_fields_with_the_controllers_dispatch(qtbot, db, practice, ada, monkeypatch):  # type: ignore[no-untyped-def]
    from desktop.controllers import validation

    checked: list[str] = []
    real = validation.field

    def spy(key: str, value: object) -> object:
        checked.append(key)
        return real(key, value)

    monkeypatch.setattr(validation, "field", spy)
    dialog = shown(qtbot, EditClientDialog(ClientsController(db), practice["owner"], ada))
    checked.clear()
    dialog.edits["phone"].setFocus()
    type_keys(qtbot, "12")
    assert checked and set(checked) == {"phone"}
    assert "not a phone number" in dialog.errors["phone"].text()


def test_every_underlined_label_in_the_contact_and_delete_dialogs_moves_the_focus(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    add = shown(qtbot, AddContactDialog(ContactsController(db), practice["owner"], ada, "Ada Lovelace"))
    add.form.edits["first_name"].setFocus()
    assert "&Relationship:" in check_every_mnemonic(qtbot, add)
    add.close()

    picker = shown(qtbot, PickDialog("Link a contact", lambda _text: [], None))
    picker.relationship.setFocus()
    assert set(check_every_mnemonic(qtbot, picker)) == {"&Search:", "&Relationship:"}
    picker.close()

    reason = shown(qtbot, InactiveReasonDialog("Ada Lovelace", lambda _r, _n: None))
    assert set(check_every_mnemonic(qtbot, reason)) == {"&Reason:", "&Note:"}
    reason.close()

    delete = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], ada))
    qtbot.mouseClick(delete.continue_button, LEFT)
    delete.understood.setFocus()
    alt(qtbot, "t")
    assert delete.typed.hasFocus()


def test_every_label_of_the_profile_overview_is_tied_to_its_value(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    profile = shown(qtbot, ProfileWindow(Practice(db), practice["owner"], ada))
    form = profile.findChild(QWidget, "overview").layout()
    assert isinstance(form, QFormLayout)
    for row in range(form.rowCount()):
        label = form.itemAt(row, QFormLayout.ItemRole.LabelRole).widget()
        field = form.itemAt(row, QFormLayout.ItemRole.FieldRole).widget()
        assert isinstance(label, QLabel) and label.buddy() is field, label.text()


# ------------------------------------------------------------------ 2. linking twice


def test_linking_an_already_linked_contact_asks_before_changing_the_relationship(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    ContactsController(db).add_contact(practice["owner"], first_name="Byron", last_name="Lovelace",
                                       email="lord.byron@example.com")  # another Byron Lovelace
    profile = shown(qtbot, ProfileWindow(Practice(db), practice["owner"], ada))
    profile.tabs.setCurrentIndex(2)
    link_button = profile.findChild(QWidget, "linkContactButton")
    asked: list[str] = []
    labels: list[str] = []

    def pick(button: str):  # type: ignore[no-untyped-def]
        def act(picker: PickDialog) -> None:
            qtbot.keyClicks(picker.query, "byron")
            labels[:] = [picker.results.item(i).text() for i in range(picker.results.count())]
            row = next(i for i, text in enumerate(labels) if "byron@example.org" in text)
            picker.results.setCurrentRow(row)
            picker.relationship.setCurrentText("Guardian")

            def reply(box: QMessageBox) -> None:
                asked.append(box.text())
                click_button(box, button)
                if button == "keepRelationship":  # back in the picker, which stays open
                    assert picker.isVisible()
                    qtbot.keyClick(picker.query, Qt.Key.Key_Escape)

            answer(QMessageBox, reply)
            qtbot.mouseClick(picker.link_button, LEFT)
        return act

    answer(PickDialog, pick("keepRelationship"))
    qtbot.mouseClick(link_button, LEFT)
    assert asked == ["Byron Lovelace is already linked as Parent; change to Guardian?"]
    # Two people of one name are told apart by their email; the linked one says so.
    assert len(labels) == 2
    assert any("byron@example.org" in text and "linked as Parent" in text for text in labels)
    assert any("lord.byron@example.com" in text and "linked" not in text for text in labels)
    with db.reading() as s:
        assert [link.relationship for link in s.query(ClientContactLink).filter_by(client_id=ada)] == ["Parent"]

    answer(PickDialog, pick("changeRelationship"))
    qtbot.mouseClick(profile.findChild(QWidget, "linkContactButton"), LEFT)
    assert len(asked) == 2
    with db.reading() as s:
        assert [link.relationship for link in s.query(ClientContactLink).filter_by(client_id=ada)] == ["Guardian"]
    assert profile.contacts_table.item(0, 1).text() == "Guardian"


# ------------------------------------------------------------------ 3. what each role sees


@pytest.mark.parametrize("username, billing, history", [
    ("owner", True, True), ("clinician", True, True), ("biller", True, False), ("scheduler", False, False)])
def test_billing_and_history_tabs_only_for_roles_that_may_see_them(qtbot, db, practice, ada, username,  # type: ignore[no-untyped-def]
                                                                  billing, history):
    profile = shown(qtbot, ProfileWindow(Practice(db), practice[username], ada))
    tabs = [profile.tabs.tabText(i) for i in range(profile.tabs.count())]
    assert any(t.startswith("Billing documents") for t in tabs) is billing
    assert ("History" in tabs) is history
    assert (profile.findChild(QTableWidget, "auditTrail") is not None) is history
    for i in range(profile.tabs.count()):  # every tab a role has, it can open
        qtbot.mouseClick(profile.tabs.tabBar(), LEFT, pos=profile.tabs.tabBar().tabRect(i).center())
        assert profile.tabs.currentIndex() == i


# ------------------------------------------------------------------ 4. make inactive instead


def test_make_inactive_instead_asks_the_reason_and_note_then_the_portal_question(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], ada))
    order: list[str] = []

    def give_reason(asked: InactiveReasonDialog) -> None:
        order.append(asked.windowTitle())
        asked.reason.setFocus()
        qtbot.keyClick(asked.reason, Qt.Key.Key_Down)  # Discharged → Moved
        asked.note.setFocus()
        type_keys(qtbot, "Moved to Leeds")

        def keep_on(box: QMessageBox) -> None:
            order.append(box.text())
            click_button(box, "keepAccessOn")

        answer(QMessageBox, keep_on)
        qtbot.mouseClick(asked.ok_button, LEFT)

    answer(InactiveReasonDialog, give_reason)
    qtbot.mouseClick(dialog.make_inactive_button, LEFT)
    assert order[0] == "Make Ada Lovelace inactive" and "stays on" in order[1]
    assert dialog.made_inactive and not dialog.isVisible()
    with db.reading() as s:
        client = s.get(Client, ada)
        assert (client.status, client.inactive_reason, client.inactive_note) == (
            ClientStatus.INACTIVE, InactiveReason.MOVED, "Moved to Leeds")


def test_cancelling_the_reason_changes_nothing(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], ada))
    answer(InactiveReasonDialog, lambda asked: qtbot.keyClick(asked.note, Qt.Key.Key_Escape))
    qtbot.mouseClick(dialog.make_inactive_button, LEFT)
    assert dialog.isVisible() and not dialog.made_inactive
    with db.reading() as s:
        assert s.get(Client, ada).status is ClientStatus.ACTIVE


# ------------------------------------------------------------------ 5. wording


def test_history_and_audit_trail_speak_plainly_and_name_people(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    clinician = practice["clinician-all"]  # Dr. Alma Reyes
    clients = ClientsController(db)
    clients.set_status(clinician, ada, "inactive", reason="discharged")
    clients.set_portal_access(clinician, ada, portal=False)
    profile = shown(qtbot, ProfileWindow(Practice(db), practice["owner"], ada))
    profile.tabs.setCurrentIndex([profile.tabs.tabText(i) for i in range(profile.tabs.count())].index("History"))

    def cells(name: str) -> list[list[str]]:
        table = profile.findChild(QTableWidget, name)
        return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]

    history, trail = cells("statusHistory"), cells("auditTrail")
    assert history[0][1:] == ["Active → Inactive", "Discharged", "", "Dr. Alma Reyes"]
    whats = {row[2] for row in trail}
    assert {"Changed status to Inactive", "Changed portal access", "Added client", "Viewed profile"} <= whats
    assert ["Dr. Alma Reyes", "Changed status to Inactive", "Allowed"] in [row[1:] for row in trail]
    everything = " ".join(" ".join(row) for row in history + trail)
    assert "client." not in everything and "clinician-all" not in everything and "owner" not in everything


def test_delete_page_one_says_billing_document_lines(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    BillingController(db).run_billing(practice["owner"], through="2026-03-01")
    dialog = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], ada))
    impact = dialog.findChild(QLabel, "impactList").text()
    assert re.search(r"\b\d+ billing document lines\b", impact), impact
    assert "billed appointment" not in impact


# ------------------------------------------------------------------ 6. closing by keyboard


@pytest.mark.parametrize("key, modifier", [(Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
                                           (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)])
def test_escape_and_ctrl_w_close_the_profile(qtbot, db, practice, ada, key, modifier):  # type: ignore[no-untyped-def]
    profile = shown(qtbot, ProfileWindow(Practice(db), practice["owner"], ada))
    profile.tabs.setCurrentIndex(2)
    profile.contacts_table.setFocus()
    qtbot.waitUntil(profile.contacts_table.hasFocus)
    with qtbot.waitSignal(profile.destroyed, timeout=3000):  # closed, and gone (WA_DeleteOnClose)
        qtbot.keyClick(QApplication.focusWidget(), key, modifier)


# ------------------------------------------------------------------ 7. delete page 2


def test_delete_page_two_keeps_its_heading_is_compact_and_says_what_differs(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], ada))
    qtbot.mouseClick(dialog.continue_button, LEFT)
    title = dialog.findChild(QLabel, "confirmTitle")
    assert title is not None and title.isVisible() and "Ada Lovelace" in title.text()
    bottom_of_box = dialog.understood.mapTo(dialog, QPoint(0, dialog.understood.height())).y()
    top_of_buttons = dialog.delete_button.mapTo(dialog, QPoint(0, 0)).y()
    assert top_of_buttons - bottom_of_box < 40, "an empty area above the buttons"
    hint = dialog.findChild(QLabel, "nameHint")

    for typed, said in [("ada lovelace", "Capitals differ"), ("Ada  Lovelace", "Spaces differ"),
                        ("Ada Lovelace ", "Spaces differ"), ("ADA  LOVELACE", "Capitals and spaces differ"),
                        ("Ada Love", None), ("Ada Lovelace", None)]:
        dialog.typed.selectAll()
        qtbot.keyClick(dialog.typed, Qt.Key.Key_Backspace)
        qtbot.keyClicks(dialog.typed, typed)
        if said:
            assert hint.isVisible() and hint.text().startswith(said), typed
            # the line is under the field it is about, and the heading still shows whole
            assert hint.mapTo(dialog, QPoint(0, 0)).y() > dialog.typed.mapTo(dialog, QPoint(0, 0)).y()
            assert title.height() >= title.heightForWidth(title.width())
        else:
            assert not hint.isVisible(), typed
    assert dialog.typed.text() == "Ada Lovelace"


# ------------------------------------------------------------------ 8. export


def audit_count(db, outcome: Outcome) -> int:  # type: ignore[no-untyped-def]
    return count(db, AuditEvent, action="client.export", outcome=outcome)


def test_export_starts_in_documents_named_for_the_client_and_is_private(qtbot, db, practice, ada,  # type: ignore[no-untyped-def]
                                                                       tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    target = tmp_path / "chosen.json"
    seen: dict[str, str] = {}

    def save_as(box: QFileDialog) -> None:
        seen["folder"] = box.directory().absolutePath()
        seen["file"] = box.selectedFiles()[0]
        name = box.findChild(QLineEdit, "fileNameEdit")
        name.selectAll()
        qtbot.keyClicks(name, str(target))
        qtbot.keyClick(name, Qt.Key.Key_Return)

    dialog = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], ada))
    answer(QFileDialog, save_as)
    qtbot.mouseClick(dialog.export_button, LEFT)
    assert Path(seen["folder"]) == home / "Documents"
    assert Path(seen["file"]).name == f"Ada Lovelace {dt.date.today().isoformat()}.json"
    record = json.loads(target.read_text(encoding="utf-8"))
    assert record["first_name"] == "Ada" and len(record["appointments"]) == 2
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert audit_count(db, Outcome.ALLOWED) == 1
    assert str(target) in dialog.findChild(QLabel, "exportedTo").text()


def test_an_export_that_cannot_be_written_is_not_audited_as_done(qtbot, db, practice, ada, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    elsewhere = tmp_path / "someone-elses.txt"
    elsewhere.write_text("keep me")
    link = tmp_path / "ada.json"
    link.symlink_to(elsewhere)
    monkeypatch.setattr("desktop.ui.dialogs.delete_client.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(link), "Client record (JSON) (*.json)"))
    dialog = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], ada))
    told: list[str] = []
    answer(QMessageBox, lambda box: (told.append(box.text()), box.accept()))
    qtbot.mouseClick(dialog.export_button, LEFT)
    assert told and "symbolic link" in told[0]
    assert elsewhere.read_text() == "keep me"
    assert audit_count(db, Outcome.ALLOWED) == 0 and audit_count(db, Outcome.DENIED) == 1
    assert "Exported" not in dialog.export_button.text()


def test_a_pdf_export_is_written_privately_too(qtbot, db, practice, ada, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    target = tmp_path / "ada.json"
    monkeypatch.setattr("desktop.ui.dialogs.delete_client.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), "Printable record (PDF) (*.pdf)"))
    dialog = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], ada))
    qtbot.mouseClick(dialog.export_button, LEFT)
    pdf = target.with_suffix(".pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and stat.S_IMODE(pdf.stat().st_mode) == 0o600
    assert not target.exists()


# ------------------------------------------------------------------ 9. erasure held up


def test_a_deletion_held_up_by_a_reader_says_the_data_stays_in_the_file(qtbot, sqlite_db, monkeypatch):  # type: ignore[no-untyped-def]
    from desktop.storage import database

    monkeypatch.setattr(database, "ERASE_WAIT_SECONDS", 0.3)
    db = sqlite_db
    owner = seed_users(db)["owner"]
    ada = ClientsController(db).add_client(owner, first_name="Ada", last_name="Lovelace")
    reader = sqlite3.connect(db.engine.url.database, check_same_thread=False)  # a backup reading the file
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM clients").fetchone()
    try:
        dialog = shown(qtbot, DeleteClientDialog(ClientsController(db), owner, ada))
        qtbot.mouseClick(dialog.continue_button, LEFT)
        qtbot.keyClicks(dialog.typed, "Ada Lovelace")
        qtbot.keyClick(dialog.understood, Qt.Key.Key_Space)
        told: list[str] = []
        answer(QMessageBox, lambda box: (told.append(box.text()), box.accept()))
        qtbot.mouseClick(dialog.delete_button, LEFT)
    finally:
        reader.rollback()
        reader.close()
    assert dialog.deleted and not dialog.erased
    assert told == ["Deleted. Some of the data stays in the practice file until the other program "
                    "reading it (another Caseload window, a backup) closes."]
    assert "permanently" not in told[0]


# ------------------------------------------------------------------ 10. add contact


def test_add_contact_says_each_problem_by_its_field_and_keeps_notes_tall(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = shown(qtbot, AddContactDialog(ContactsController(db), practice["owner"], ada, "Ada Lovelace"))
    form = dialog.form
    lines = form.notes.fontMetrics().lineSpacing()
    assert form.notes.height() >= 4 * lines
    form.edits["first_name"].setFocus()
    type_keys(qtbot, "Mary")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)  # last name left empty
    type_keys(qtbot, "mary-at-example")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    type_keys(qtbot, "12")
    qtbot.mouseClick(dialog.add_button, LEFT)
    assert dialog.isVisible() and dialog.problem.text() == ""

    def top(widget: QWidget) -> int:
        return widget.mapTo(dialog, QPoint(0, 0)).y()

    for key, said, below, above in [("last_name", "required", "last_name", "email"),
                                    ("email", "not an email address", "email", "phone"),
                                    ("phone", "not a phone number", "phone", "notes")]:
        error = form.errors[key]
        assert error.isVisible() and said in error.text(), key
        upper = form.edits[below]
        lower = form.notes if above == "notes" else form.edits[above]
        assert top(upper) + upper.height() <= top(error) < top(lower), f"{key}'s problem is not under it"
    assert not form.errors["first_name"].isVisible()
    assert form.notes.height() >= 4 * lines  # the problems took no room from Notes
    assert form.edits["last_name"].hasFocus()  # the first field to put right
    type_keys(qtbot, "Somerville")
    assert not form.errors["last_name"].isVisible()  # gone as soon as it is right
    dialog.resize(dialog.width(), 200)  # squeezed: Notes keeps its lines
    qtbot.wait(50)
    assert form.notes.height() >= 4 * lines


# ------------------------------------------------------------------ 11. names in other scripts


def leftmost_ink(widget: QWidget) -> int:
    """The x (in ``widget``) of the first painted column of its text."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    for x in range(image.width()):
        if any(image.pixelColor(x, y).lightness() < 128 for y in range(image.height())):
            return x
    return image.width()


def test_arabic_values_sit_next_to_their_labels(qtbot, db, practice):  # type: ignore[no-untyped-def]
    cid = ClientsController(db).add_client(practice["owner"], first_name="ليلى", last_name="حداد",
                                           address="شارع الحمراء ١٢، بيروت")
    profile = shown(qtbot, ProfileWindow(Practice(db), practice["owner"], cid))
    profile.resize(1024, 700)
    qtbot.wait(50)
    form = profile.findChild(QWidget, "overview").layout()
    for name in ("first_name", "last_name", "address"):
        value = profile.findChild(QLabel, name)
        label = form.labelForField(value)
        assert label.geometry().top() <= value.geometry().center().y() <= label.geometry().bottom() + 4
        assert value.x() < 200  # the value's box begins after the labels' column...
        assert value.width() > 500  # ...and as wide as the window lets it be
        assert leftmost_ink(value) < 10, f"{name}: its text is painted far from its label"


def test_a_chinese_name_is_shown_family_name_first_and_titles_do_not_repeat_the_app(qtbot, db, practice):  # type: ignore[no-untyped-def]
    cid = ClientsController(db).add_client(practice["owner"], first_name="小龍", last_name="李")
    profile = shown(qtbot, ProfileWindow(Practice(db), practice["owner"], cid))
    assert profile.windowTitle() == "李小龍" and profile.name.text() == "李小龍"
    edit = shown(qtbot, EditClientDialog(ClientsController(db), practice["owner"], cid))
    assert edit.windowTitle() == "Edit 李小龍"
    delete = shown(qtbot, DeleteClientDialog(ClientsController(db), practice["owner"], cid))
    assert delete.findChild(QLabel, "warningTitle").text() == "Permanently delete 李小龍?"
    assert delete.findChild(QLabel, "nameToType").text() == "小龍 李"  # typed as first and last name
    for window in (profile, edit, delete):
        assert "Caseload" not in window.windowTitle()
