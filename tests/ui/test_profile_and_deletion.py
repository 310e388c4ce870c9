"""Profile, edit dialog, Client Portal and the deletion flow, clicked and typed as a person would."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.domain.models import Client, ClientStatus, PortalAccess, StatusChange
from desktop.ui.dialogs.conflict import ConflictDialog
from desktop.ui.dialogs.delete_client import DeleteClientDialog, InactiveReasonDialog
from desktop.ui.dialogs.edit_client import EditClientDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.profile import ProfileWindow
from tests.helpers import add_appointment, assert_deletion_said, count

LEFT = Qt.MouseButton.LeftButton


# Bumped at the end of every window test (tests/ui/conftest.py): pollers of a test that is
# over stop, instead of answering the next test's dialogs or touching deleted widgets.
WHEN_MODAL_GENERATION = [0]


def when_modal(kind: type, act: Callable[[QWidget], None], *, times: int = 1, after_ms: int = 0) -> None:
    """Run ``act`` on the next modal window of ``kind`` once it has been up ``after_ms``.

    A person reads a question before answering it; ``after_ms`` lets the event
    loop run (timers, repaints, editors closing) the way it does meanwhile.
    """
    import shiboken6

    handled: list[QWidget] = []
    generation = WHEN_MODAL_GENERATION[0]

    def current() -> bool:
        return WHEN_MODAL_GENERATION[0] == generation

    def answer(widget: QWidget) -> None:
        if not current() or not shiboken6.isValid(widget):
            return
        act(widget)
        if len(handled) < times:
            QTimer.singleShot(20, poll)

    def poll() -> None:
        if not current():
            return
        widget = QApplication.activeModalWidget()
        if isinstance(widget, kind) and widget not in handled and widget.isVisible():
            handled.append(widget)
            QTimer.singleShot(after_ms, lambda: answer(widget))
            return
        QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)


def click_button(box: QMessageBox, name: str) -> None:
    button = box.findChild(QPushButton, name)
    assert button is not None, f"no button {name!r} in {box.text()!r}"
    button.click()


@pytest.fixture
def ada(db, practice):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    owner = practice["owner"]
    cid = clients.add_client(owner, first_name="Ada", last_name="Lovelace", date_of_birth="1985-12-10",
                             email="ada@example.org", clinician_id=practice["clinician"].user_id)
    clients.set_portal_access(owner, cid, portal=True, messaging=True)
    add_appointment(db, cid, dt.datetime(2026, 1, 5, 10))
    add_appointment(db, cid, dt.datetime(2026, 2, 5, 10))
    contact = ContactsController(db).add_contact(owner, first_name="Byron", last_name="Lovelace")
    ContactsController(db).link(owner, cid, contact, "Parent")
    clients.add_client(owner, first_name="Grace", last_name="Hopper")
    return cid


def status_of(db, client_id: int) -> ClientStatus | None:  # type: ignore[no-untyped-def]
    with db.reading() as s:
        client = s.get(Client, client_id)
        return client.status if client else None


def portal_of(db, client_id: int) -> tuple[bool, bool]:  # type: ignore[no-untyped-def]
    with db.reading() as s:
        access = s.get(PortalAccess, client_id)
        return (access.portal_enabled, access.messaging_enabled)


def list_names(window: MainWindow) -> list[str]:
    model = window.clients_page.model
    return [model.index(r, Column.NAME).data() for r in range(model.rowCount())]


def open_edit(qtbot, db, actor, client_id: int) -> EditClientDialog:  # type: ignore[no-untyped-def]
    dialog = EditClientDialog(ClientsController(db), actor, client_id)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_edit_make_inactive_save_then_active_again_moves_the_client_between_filters(
        qtbot, db, practice, ada, tmp_path: Path):  # type: ignore[no-untyped-def]
    window = MainWindow(Practice(db), practice["owner"], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.load(background=False)
    table = window.clients_page.table
    table.setCurrentIndex(table.model().index(list_names(window).index("Lovelace, Ada"), 0))
    qtbot.keyClick(table, Qt.Key.Key_Return)
    profile = window.profiles[("client", ada)]

    def set_inactive(dialog: EditClientDialog) -> None:
        dialog.status.setCurrentIndex(dialog.status.findText("Inactive"))
        dialog.reason.setCurrentIndex(dialog.reason.findText("Discharged"))
        qtbot.keyClicks(dialog.note, "completed treatment")
        when_modal(QMessageBox, lambda box: click_button(box, "keepAccessOn"))
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(EditClientDialog, set_inactive)
    qtbot.mouseClick(profile.edit_button, LEFT)
    assert status_of(db, ada) is ClientStatus.INACTIVE
    assert profile.badge.text().strip() == "Inactive"
    qtbot.waitUntil(lambda: "Lovelace, Ada" not in list_names(window))
    page = window.clients_page
    page.status_filter.setCurrentIndex(page.status_filter.findText("Inactive"))
    qtbot.mouseClick(page.apply_button, LEFT)
    assert list_names(window) == ["Lovelace, Ada"]

    def set_active(dialog: EditClientDialog) -> None:
        dialog.status.setCurrentIndex(dialog.status.findText("Active"))
        qtbot.mouseClick(dialog.save_button, LEFT)

    when_modal(EditClientDialog, set_active)
    qtbot.mouseClick(profile.edit_button, LEFT)
    assert status_of(db, ada) is ClientStatus.ACTIVE
    qtbot.waitUntil(lambda: list_names(window) == [])
    page.status_filter.setCurrentIndex(page.status_filter.findText("Active"))
    qtbot.mouseClick(page.apply_button, LEFT)
    assert "Lovelace, Ada" in list_names(window)
    assert count(db, StatusChange, client_id=ada) == 2


@pytest.mark.parametrize("answer, expected", [("keepAccessOn", (True, True)),
                                              ("switchOffAccess", (False, False))])
def test_inactivating_with_portal_on_offers_to_switch_it_off(qtbot, db, practice, ada, answer, expected):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    dialog.status.setCurrentIndex(dialog.status.findText("Inactive"))
    asked: list[str] = []

    def answer_it(box: QMessageBox) -> None:
        asked.append(box.text())
        click_button(box, answer)

    when_modal(QMessageBox, answer_it)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert asked and "stays on" in asked[0]
    assert status_of(db, ada) is ClientStatus.INACTIVE
    assert portal_of(db, ada) == expected


def test_cancelling_the_portal_question_saves_nothing(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    dialog.status.setCurrentIndex(dialog.status.findText("Inactive"))
    when_modal(QMessageBox, lambda box: box.button(QMessageBox.StandardButton.Cancel).click())
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible()
    assert status_of(db, ada) is ClientStatus.ACTIVE and portal_of(db, ada) == (True, True)


def test_client_portal_tab_switches_access(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    profile = ProfileWindow(Practice(db), practice["owner"], ada)
    qtbot.addWidget(profile)
    profile.show()
    profile.tabs.setCurrentIndex(1)
    box = profile.messaging_box
    qtbot.mouseClick(box, LEFT, pos=QPoint(8, box.height() // 2))  # on the tick box itself
    qtbot.waitUntil(lambda: portal_of(db, ada) == (True, False))
    assert not profile.messaging_box.isChecked()


def test_invalid_fields_are_shown_beside_the_field_and_save_is_disabled(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    dob = dialog.edits["date_of_birth"]
    dob.clear()
    qtbot.keyClicks(dob, "1985-13-40")
    assert dialog.errors["date_of_birth"].isVisible()
    assert "not a date" in dialog.errors["date_of_birth"].text()
    assert not dialog.save_button.isEnabled()
    dob.clear()
    qtbot.keyClicks(dob, "1985-12-11")
    assert not dialog.errors["date_of_birth"].isVisible() and dialog.save_button.isEnabled()
    dialog.edits["first_name"].clear()
    assert "required" in dialog.errors["first_name"].text()
    assert not dialog.save_button.isEnabled()
    with db.reading() as s:
        assert s.get(Client, ada).date_of_birth == dt.date(1985, 12, 10)


def test_stale_edit_from_a_second_session_is_refused_and_offers_reload(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice["owner"], ada)
    ClientsController(db).edit_client(practice["manager"], ada, 1, email="ada.l@example.org")
    dialog.edits["phone"].clear()
    qtbot.keyClicks(dialog.edits["phone"], "555 123 4567")
    told: list[str] = []

    def reload(conflict: QWidget) -> None:  # the conflict dialog (tests/ui/test_conflict_dialog.py)
        told.extend(row.label for row in conflict.rows)  # type: ignore[attr-defined]
        click_button(conflict, "reload")  # type: ignore[arg-type]

    when_modal(ConflictDialog, reload)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert "Email" in told
    with db.reading() as s:
        client = s.get(Client, ada)
        assert client.email == "ada.l@example.org" and client.phone is None
    assert dialog.edits["email"].text() == "ada.l@example.org"  # reloaded
    assert dialog.edits["phone"].text() == ""


@pytest.mark.parametrize("username, visible", [
    ("owner", True), ("manager", True), ("clinician-all", True),
    ("clinician", False), ("biller", False), ("scheduler", False)])
def test_delete_this_client_is_shown_only_to_roles_that_may_delete(qtbot, db, practice, ada, username, visible):  # type: ignore[no-untyped-def]
    dialog = open_edit(qtbot, db, practice[username], ada)
    assert dialog.delete_button.isVisible() is visible
    profile = ProfileWindow(Practice(db), practice[username], ada)
    qtbot.addWidget(profile)
    profile.show()
    assert profile.edit_button.isVisible() is (username not in ("biller", "scheduler"))


def open_delete(qtbot, db, actor, client_id: int) -> DeleteClientDialog:  # type: ignore[no-untyped-def]
    dialog = DeleteClientDialog(ClientsController(db), actor, client_id)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_first_page_warns_suggests_inactive_and_counts_what_goes(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_delete(qtbot, db, practice["owner"], ada)
    assert dialog.pages.currentIndex() == 0
    impact = dialog.findChild(QWidget, "impactList").text()
    assert "2 appointments" in impact
    assert "1 link to a contact" in impact
    assert "1 Client Portal access setting" in impact
    assert "cannot be undone" in dialog.findChild(QWidget, "warningPage").findChildren(QWidget)[1].text()
    assert dialog.make_inactive_button.isVisible() and dialog.export_button.isVisible()


@pytest.mark.parametrize("typed", ["ada lovelace", "Ada Lovelace ", " Ada Lovelace", "Ada  Lovelace", "Ada",
                                   "Lovelace Ada", "ADA LOVELACE", "Ada Lovelac"])
def test_delete_stays_disabled_unless_the_name_is_typed_exactly(qtbot, db, practice, ada, typed):  # type: ignore[no-untyped-def]
    dialog = open_delete(qtbot, db, practice["owner"], ada)
    qtbot.mouseClick(dialog.continue_button, LEFT)
    qtbot.keyClicks(dialog.typed, typed)
    qtbot.mouseClick(dialog.understood, LEFT, pos=dialog.understood.rect().center())
    assert dialog.understood.isChecked()
    assert not dialog.delete_button.isEnabled()
    qtbot.mouseClick(dialog.delete_button, LEFT)
    assert status_of(db, ada) is ClientStatus.ACTIVE


def test_delete_needs_the_box_ticked_too_and_then_removes_everything(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_delete(qtbot, db, practice["owner"], ada)
    qtbot.mouseClick(dialog.continue_button, LEFT)
    qtbot.keyClicks(dialog.typed, "Ada Lovelace")
    assert not dialog.delete_button.isEnabled()
    qtbot.mouseClick(dialog.understood, LEFT, pos=dialog.understood.rect().center())
    assert dialog.delete_button.isEnabled()
    qtbot.mouseClick(dialog.delete_button, LEFT)
    assert dialog.deleted and not dialog.isVisible()
    assert status_of(db, ada) is None
    from desktop.controllers.clients import client_owned_tables

    with db.reading() as s:
        for table in client_owned_tables():
            for fk in table.foreign_keys:
                if fk.column.table.name == "clients":
                    assert s.execute(table.select().where(fk.parent == ada)).first() is None, table.name


@pytest.mark.parametrize("page", [0, 1])
def test_cancel_on_either_page_changes_nothing(qtbot, db, practice, ada, page):  # type: ignore[no-untyped-def]
    dialog = open_delete(qtbot, db, practice["owner"], ada)
    if page == 1:
        qtbot.mouseClick(dialog.continue_button, LEFT)
        qtbot.keyClicks(dialog.typed, "Ada Lovelace")
        dialog.understood.setChecked(True)
    cancel = dialog.findChild(QPushButton, "cancelPage1" if page == 0 else "cancelPage2")
    qtbot.mouseClick(cancel, LEFT)
    assert not dialog.isVisible() and not dialog.deleted
    assert status_of(db, ada) is ClientStatus.ACTIVE
    assert ClientsController(db).deletion_impact(practice["owner"], ada).counts["appointments"] == 2


def test_make_inactive_instead_keeps_every_record(qtbot, db, practice, ada):  # type: ignore[no-untyped-def]
    dialog = open_delete(qtbot, db, practice["owner"], ada)
    told: list[str] = []

    def switch_off(box: QMessageBox) -> None:
        told.append(box.text())
        click_button(box, "switchOffAccess")

    def give_reason(asked: InactiveReasonDialog) -> None:
        asked.reason.setCurrentIndex(asked.reason.findText("Discharged"))
        qtbot.keyClicks(asked.note, "treatment completed")
        when_modal(QMessageBox, switch_off, after_ms=300)
        qtbot.mouseClick(asked.ok_button, LEFT)

    when_modal(InactiveReasonDialog, give_reason, after_ms=300)
    qtbot.mouseClick(dialog.make_inactive_button, LEFT)
    assert dialog.made_inactive and not dialog.deleted
    assert status_of(db, ada) is ClientStatus.INACTIVE
    assert told and "Client Portal" in told[0]  # the article's rule: access stays on unless switched off
    assert portal_of(db, ada) == (False, False)
    assert ClientsController(db).deletion_impact(practice["owner"], ada).counts["appointments"] == 2


def test_export_record_first_writes_the_complete_record(qtbot, db, practice, ada, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    target = tmp_path / "ada.json"
    monkeypatch.setattr("desktop.ui.dialogs.delete_client.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), "Client record (JSON) (*.json)"))
    dialog = open_delete(qtbot, db, practice["owner"], ada)
    qtbot.mouseClick(dialog.export_button, LEFT)
    record = json.loads(target.read_text(encoding="utf-8"))
    assert record["first_name"] == "Ada" and record["last_name"] == "Lovelace"
    assert len(record["appointments"]) == 2
    assert record["contacts"][0]["relationship"] == "Parent"
    assert record["portal"] == {"portal_enabled": True, "messaging_enabled": True}
    assert "status_history" in record and "billing_documents" in record
    assert status_of(db, ada) is ClientStatus.ACTIVE  # exporting deletes nothing


def test_export_record_first_can_write_a_printable_pdf(qtbot, db, practice, ada, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    target = tmp_path / "ada.pdf"
    monkeypatch.setattr("desktop.ui.dialogs.delete_client.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), "Printable record (PDF) (*.pdf)"))
    dialog = open_delete(qtbot, db, practice["owner"], ada)
    qtbot.mouseClick(dialog.export_button, LEFT)
    data = target.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 1000
    assert "Exported" in dialog.export_button.text()


def test_the_whole_flow_from_profile_returns_to_the_list_without_the_client(qtbot, db, practice, ada, tmp_path):  # type: ignore[no-untyped-def]
    window = MainWindow(Practice(db), practice["clinician-all"],
                        QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.load(background=False)
    assert "Lovelace, Ada" in list_names(window)
    window.open_profile("client", ada)
    profile = window.profiles[("client", ada)]

    def confirm(dialog: DeleteClientDialog) -> None:
        qtbot.mouseClick(dialog.continue_button, LEFT)
        qtbot.keyClicks(dialog.typed, "Ada Lovelace")
        qtbot.keyClick(dialog.understood, Qt.Key.Key_Space)
        qtbot.mouseClick(dialog.delete_button, LEFT)

    when_modal(EditClientDialog, lambda edit: (when_modal(DeleteClientDialog, confirm),
                                               qtbot.mouseClick(edit.delete_button, LEFT)))
    qtbot.mouseClick(profile.edit_button, LEFT)
    assert status_of(db, ada) is None
    qtbot.waitUntil(lambda: "Lovelace, Ada" not in list_names(window))
    assert_deletion_said(db, window.statusBar().currentMessage())
    assert ("client", ada) not in window.profiles
