"""The duplicate review window and the contact merge dialog, clicked as a person would."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.duplicates import DuplicatesController
from desktop.controllers.practice import Practice
from desktop.domain.models import (
    AuditEvent,
    Client,
    ClientContactLink,
    ClientStatus,
    Contact,
    ContactDismissal,
    DuplicateDismissal,
    InactiveReason,
)
from desktop.ui.dialogs.merge_contacts import MergeContactsDialog
from desktop.ui.duplicates_window import DuplicatesWindow, PairKind
from tests.helpers import count
from tests.ui.test_profile_and_deletion import click_button, when_modal

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def twins(db, practice):  # type: ignore[no-untyped-def]
    """Robert Jones entered twice (once as Bob), and an unrelated Jones with the same birthday."""
    clients = ClientsController(db)
    owner = practice["owner"]
    robert = clients.add_client(owner, first_name="Robert", last_name="Jones", date_of_birth="1970-04-02",
                                phone="(555) 201-3344")
    bob = clients.add_client(owner, first_name="Bob", last_name="JONES", date_of_birth="1970-04-02",
                             phone="555.201.3344")
    other = clients.add_client(owner, first_name="Maria", last_name="Jones", date_of_birth="1970-04-02")
    return {"robert": robert, "bob": bob, "maria": other}


def scanned(qtbot, db, actor) -> DuplicatesWindow:  # type: ignore[no-untyped-def]
    window = DuplicatesWindow(Practice(db), actor)
    qtbot.addWidget(window)
    window.show()
    window.scan()
    qtbot.waitUntil(lambda: window.rescan.isEnabled(), timeout=10_000)
    return window


def test_keep_left_marks_the_right_profile_as_its_duplicate(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    window = scanned(qtbot, db, practice["owner"])
    assert window.client_table.rowCount() == 1  # Maria Jones is a different person
    window.client_table.selectRow(0)
    assert window.keep_left.isVisible() and not window.merge.isVisible()
    assert "never merged" in window.explain.text()
    pair = window.pairs[PairKind.CLIENTS][0]
    when_modal(QMessageBox, lambda box: click_button(box, "markDuplicate"), after_ms=300)
    qtbot.mouseClick(window.keep_left, LEFT)
    with db.reading() as s:
        duplicate = s.get(Client, pair.right.id)
        kept = s.get(Client, pair.left.id)
        assert duplicate.status is ClientStatus.INACTIVE
        assert duplicate.inactive_reason is InactiveReason.DUPLICATE
        assert duplicate.duplicate_of_id == kept.id
        assert kept.status is ClientStatus.ACTIVE
    assert window.client_table.rowCount() == 0
    assert ClientsController(db).get_client(practice["owner"], pair.left.id).duplicates == [pair.right.id]


def test_not_a_duplicate_is_remembered_and_not_offered_again(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    window = scanned(qtbot, db, practice["owner"])
    window.client_table.selectRow(0)
    qtbot.mouseClick(window.not_duplicate, LEFT)
    assert count(db, DuplicateDismissal) == 1
    assert count(db, Client, status=ClientStatus.ACTIVE) == 3
    again = scanned(qtbot, db, practice["owner"])
    assert again.client_table.rowCount() == 0


def test_scheduler_keep_left_is_refused_and_changes_nothing(qtbot, db, practice, twins, monkeypatch):  # type: ignore[no-untyped-def]
    said: list[str] = []
    monkeypatch.setattr("desktop.ui.duplicates_window.QMessageBox.warning",
                        lambda _p, _t, text: said.append(text))
    window = DuplicatesWindow(Practice(db), practice["scheduler"])
    qtbot.addWidget(window)
    window.scan()
    qtbot.waitUntil(lambda: window.rescan.isEnabled() and bool(said), timeout=10_000)
    assert "Scheduler" in said[0]
    assert count(db, Client, status=ClientStatus.INACTIVE) == 0


def test_cancelling_the_scan_leaves_everything_as_it_was(qtbot, db, practice, twins, monkeypatch):  # type: ignore[no-untyped-def]
    import time

    from desktop.controllers import duplicates

    real = duplicates.find_pairs

    def long_scan(people, dismissed=frozenset(), progress=None):  # type: ignore[no-untyped-def]
        # A practice big enough to take a while: keep reporting progress until told to stop.
        deadline = time.monotonic() + 20
        step = 0
        while time.monotonic() < deadline:
            step += 1
            if progress and progress(step % 100, 100) is False:
                return []
            time.sleep(0.01)
        return real(people, dismissed, progress)

    monkeypatch.setattr(duplicates, "find_pairs", long_scan)
    window = DuplicatesWindow(Practice(db), practice["owner"])
    qtbot.addWidget(window)
    window.show()
    window.scan()
    qtbot.waitUntil(lambda: window.progress.isVisible(), timeout=5_000)
    cancel = window.progress.findChild(QPushButton)
    qtbot.mouseClick(cancel, LEFT)
    qtbot.waitUntil(lambda: window.rescan.isEnabled(), timeout=10_000)
    assert window.client_table.rowCount() == 0
    assert "cancelled" in window.summary.text()
    assert count(db, Client, status=ClientStatus.ACTIVE) == 3
    assert count(db, AuditEvent, action="client.mark_duplicate") == 0


def test_merge_dialog_takes_the_chosen_values_and_moves_links(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    contacts = ContactsController(db)
    a = contacts.add_contact(owner, first_name="Helen", last_name="Park", email="helen@example.org",
                             phone="555 100 2000")
    b = contacts.add_contact(owner, first_name="HELEN", last_name="Park", email="h.park@example.org",
                             phone="5551002000")
    contacts.link(owner, twins["robert"], a, "Guardian")
    contacts.link(owner, twins["maria"], b, "Emergency contact")
    dialog = MergeContactsDialog(Practice(db), owner, a, b)
    qtbot.addWidget(dialog)
    dialog.show()
    assert set(dialog.choices) == {"first_name", "email", "phone"}
    qtbot.mouseClick(dialog.choices["email"][1], LEFT, pos=dialog.choices["email"][1].rect().center())
    qtbot.mouseClick(dialog.merge_button, LEFT)
    assert dialog.result() == dialog.DialogCode.Accepted
    with db.reading() as s:
        kept = s.get(Contact, a)
        assert (kept.first_name, kept.email, kept.phone) == ("Helen", "h.park@example.org", "555 100 2000")
        assert s.get(Contact, b) is None
    assert count(db, ClientContactLink, contact_id=a) == 2


def test_keep_left_is_refused_if_a_profile_was_saved_after_it_was_compared(qtbot, db, practice, twins,
                                                                          monkeypatch):  # type: ignore[no-untyped-def]
    said: list[str] = []
    monkeypatch.setattr("desktop.ui.duplicates_window.QMessageBox.warning",
                        lambda _p, _t, text: said.append(text))
    window = scanned(qtbot, db, practice["owner"])
    window.client_table.selectRow(0)
    pair = window.pairs[PairKind.CLIENTS][0]
    ClientsController(db).edit_client(practice["manager"], pair.right.id, 1, email="new@example.org")
    when_modal(QMessageBox, lambda box: click_button(box, "markDuplicate"))
    qtbot.mouseClick(window.keep_left, LEFT)
    assert said and "Someone else saved" in said[0]
    assert count(db, Client, status=ClientStatus.INACTIVE) == 0


def test_an_unexpected_error_in_the_scan_closes_the_progress_dialog(qtbot, db, practice, twins,
                                                                   monkeypatch):  # type: ignore[no-untyped-def]
    """Regression: the scan's worker caught only CaseloadError, so a bug left "Finding duplicates" up forever."""
    caught: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda _kind, value, _tb: caught.append(value))
    shown = threading.Event()
    real = DuplicatesController.find_client_duplicates
    calls: list[int] = []

    def broken_once(self, actor, progress=None):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            shown.wait(10)  # fail while the progress dialog is up, as a slow scan would
            raise RuntimeError("the scan broke")
        return real(self, actor, progress)

    monkeypatch.setattr(DuplicatesController, "find_client_duplicates", broken_once)
    window = DuplicatesWindow(Practice(db), practice["owner"])
    qtbot.addWidget(window)
    window.show()
    window.scan()
    qtbot.waitUntil(lambda: window.progress.isVisible(), timeout=5_000)
    shown.set()
    qtbot.waitUntil(lambda: window.rescan.isEnabled(), timeout=10_000)
    assert not window.progress.isVisible()
    assert QApplication.activeModalWidget() is None
    assert len(caught) == 1 and isinstance(caught[0], RuntimeError)  # handed to the crash handler
    assert "did not finish" in window.summary.text()
    # Still usable: Scan again works.
    qtbot.mouseClick(window.rescan, LEFT)
    qtbot.waitUntil(lambda: window.rescan.isEnabled(), timeout=10_000)
    assert not window.progress.isVisible()
    assert window.client_table.rowCount() == 1
    assert len(caught) == 1


def test_comparing_a_pair_reads_each_profile_once(qtbot, db, practice, twins, monkeypatch):  # type: ignore[no-untyped-def]
    read: list[int] = []
    real = ClientsController.get_client

    def counting(self, actor, client_id):  # type: ignore[no-untyped-def]
        read.append(client_id)
        return real(self, actor, client_id)

    monkeypatch.setattr(ClientsController, "get_client", counting)
    window = scanned(qtbot, db, practice["owner"])  # selects the first pair
    pair = window.pairs[PairKind.CLIENTS][0]
    assert sorted(read) == sorted([pair.left.id, pair.right.id])
    window.tabs.setCurrentIndex(1)
    window.tabs.setCurrentIndex(0)
    assert window.compare.rowCount() > 0 and sorted(read) == sorted([pair.left.id, pair.right.id])


def test_not_a_duplicate_for_contacts_is_remembered_and_not_offered_again(qtbot, db, practice):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    contacts = ContactsController(db)
    a = contacts.add_contact(owner, first_name="Helen", last_name="Park", email="helen@example.org",
                             phone="555 100 2000")
    b = contacts.add_contact(owner, first_name="HELEN", last_name="Park", phone="5551002000")
    window = scanned(qtbot, db, owner)
    assert window.contact_table.rowCount() == 1
    window.tabs.setCurrentIndex(1)
    window.contact_table.selectRow(0)
    assert window.not_duplicate.isEnabled()
    qtbot.mouseClick(window.not_duplicate, LEFT)
    assert window.contact_table.rowCount() == 0
    assert count(db, ContactDismissal) == 1
    assert count(db, Contact) == 2  # nothing merged or removed
    qtbot.mouseClick(window.rescan, LEFT)
    qtbot.waitUntil(lambda: window.rescan.isEnabled(), timeout=10_000)
    assert window.contact_table.rowCount() == 0 and window.pairs[PairKind.CONTACTS] == []
    again = scanned(qtbot, db, owner)
    assert again.contact_table.rowCount() == 0
    assert {a, b} == {c["id"] for c in contacts.search_contacts(owner, "park")}


# ----------------------------------------------------------- Keep, asked and undone


def _comparison(window: DuplicatesWindow) -> dict[str, tuple[str, str]]:
    table = window.compare
    return {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}


def _row_texts(table) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_pairs_and_comparison_name_people_by_name_and_birth_date_never_by_id(
        qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    window = scanned(qtbot, db, practice["owner"])
    [[left, right, _score]] = _row_texts(window.client_table)
    assert {left, right} == {"Robert Jones (born 1970-04-02)", "Bob JONES (born 1970-04-02)"}
    assert window.why.text().startswith("Why they look alike: ") and "phone" in window.why.text()
    shown = _comparison(window)
    assert "Client id" not in shown and not any("id" == label.lower()[-2:] for label in shown)
    assert shown["Date of birth"] == ("1970-04-02", "1970-04-02")


def test_keep_asks_first_and_cancel_changes_nothing(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    window = scanned(qtbot, db, practice["owner"])
    asked: list[str] = []

    def cancel(box: QMessageBox) -> None:
        asked.append(box.text())
        box.button(QMessageBox.StandardButton.Cancel).click()

    when_modal(QMessageBox, cancel, after_ms=200)
    qtbot.mouseClick(window.keep_left, LEFT)
    pair = window.pairs[PairKind.CLIENTS][0]
    assert asked == [f"Keep {'Robert Jones' if pair.left.id == twins['robert'] else 'Bob JONES'} (born 1970-04-02) "
                     f"and mark {'Bob JONES' if pair.left.id == twins['robert'] else 'Robert Jones'} "
                     "(born 1970-04-02) as its duplicate?"]
    assert count(db, Client, status=ClientStatus.INACTIVE) == 0
    assert window.client_table.rowCount() == 1 and not window.undo.isVisible()


def test_keep_then_undo_puts_the_profile_and_the_pair_back(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    window = scanned(qtbot, db, owner)
    changes: list[int] = []
    window.changed.connect(lambda: changes.append(1))
    pair = window.pairs[PairKind.CLIENTS][0]
    when_modal(QMessageBox, lambda box: click_button(box, "markDuplicate"), after_ms=200)
    qtbot.mouseClick(window.keep_left, LEFT)
    duplicate_name = "Bob JONES" if pair.right.id == twins["bob"] else "Robert Jones"
    assert window.summary.text().startswith(f"{duplicate_name} (born 1970-04-02) is now inactive as a duplicate of ")
    assert not any(ch.isdigit() for ch in window.summary.text().replace("1970-04-02", ""))
    assert window.undo.isVisible() and window.client_table.rowCount() == 0
    assert ClientsController(db).get_client(owner, pair.right.id).row.status is ClientStatus.INACTIVE

    qtbot.mouseClick(window.undo, LEFT)

    detail = ClientsController(db).get_client(owner, pair.right.id)
    assert (detail.row.status, detail.duplicate_of_id, detail.inactive_reason) == (ClientStatus.ACTIVE, None, None)
    assert window.summary.text().startswith("Undone:")
    assert not window.undo.isVisible()
    assert window.client_table.rowCount() == 1 and window.keep_left.isEnabled()
    assert count(db, AuditEvent, action="client.undo_mark_duplicate") == 1
    assert changes == [1, 1]  # the main list hears of both


def test_keep_asks_the_portal_question_and_undo_gives_access_back(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    for client_id in (twins["robert"], twins["bob"]):
        clients.set_portal_access(owner, client_id, portal=True, messaging=True)
    window = scanned(qtbot, db, owner)
    pair = window.pairs[PairKind.CLIENTS][0]
    asked: list[str] = []

    def answer(box: QMessageBox) -> None:
        asked.append(box.objectName())
        click_button(box, {"confirmMark": "markDuplicate", "portalQuestion": "switchOffAccess"}[box.objectName()])

    when_modal(QMessageBox, answer, times=2, after_ms=200)
    qtbot.mouseClick(window.keep_left, LEFT)
    qtbot.waitUntil(lambda: window.undo.isVisible(), timeout=5_000)
    assert clients.portal_access(owner, pair.right.id) == {"portal_enabled": False, "messaging_enabled": False}
    assert clients.portal_access(owner, pair.left.id) == {"portal_enabled": True, "messaging_enabled": True}
    assert asked == ["confirmMark", "portalQuestion"]
    assert "portal access was switched off" in window.summary.text()

    qtbot.mouseClick(window.undo, LEFT)
    assert clients.portal_access(owner, pair.right.id) == {"portal_enabled": True, "messaging_enabled": True}


def test_cancel_at_the_portal_question_changes_nothing(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    for client_id in (twins["robert"], twins["bob"]):
        clients.set_portal_access(owner, client_id, portal=True)
    window = scanned(qtbot, db, owner)

    def answer(box: QMessageBox) -> None:
        if box.objectName() == "confirmMark":
            click_button(box, "markDuplicate")
        else:
            box.button(QMessageBox.StandardButton.Cancel).click()

    when_modal(QMessageBox, answer, times=2, after_ms=200)
    qtbot.mouseClick(window.keep_right, LEFT)
    qtbot.waitUntil(lambda: window.summary.text() == "Nothing was changed.", timeout=5_000)
    assert count(db, Client, status=ClientStatus.INACTIVE) == 0
    assert count(db, AuditEvent, action="client.mark_duplicate") == 0


def test_undo_after_someone_saved_the_duplicate_is_refused_and_says_so(qtbot, db, practice, twins,
                                                                      monkeypatch):  # type: ignore[no-untyped-def]
    said: list[str] = []
    monkeypatch.setattr("desktop.ui.duplicates_window.QMessageBox.warning",
                        lambda _p, _t, text: said.append(text))
    owner = practice["owner"]
    window = scanned(qtbot, db, owner)
    pair = window.pairs[PairKind.CLIENTS][0]
    when_modal(QMessageBox, lambda box: click_button(box, "markDuplicate"), after_ms=200)
    qtbot.mouseClick(window.keep_left, LEFT)
    version = ClientsController(db).get_client(owner, pair.right.id).row.version
    ClientsController(db).edit_client(practice["manager"], pair.right.id, version, email="later@example.org")
    qtbot.mouseClick(window.undo, LEFT)
    assert said and "Someone else saved" in said[0]
    assert window.summary.text().startswith("Not undone: Someone else saved")
    assert not window.undo.isVisible()
    assert ClientsController(db).get_client(owner, pair.right.id).row.status is ClientStatus.INACTIVE


# ----------------------------------------------------------------- contacts


@pytest.fixture
def look_alikes(db, practice, twins):  # type: ignore[no-untyped-def]
    """Two Helen Park contacts, and a contact who is really the client Robert Jones."""
    owner = practice["owner"]
    contacts = ContactsController(db)
    helen = contacts.add_contact(owner, first_name="Helen", last_name="Park", email="helen@example.org",
                                 phone="555 100 2000")
    helen_again = contacts.add_contact(owner, first_name="HELEN", last_name="Park", phone="5551002000")
    robert = contacts.add_contact(owner, first_name="Robert", last_name="Jones", phone="555 201 3344",
                                  email="rj@example.org")
    return {"helen": helen, "helen_again": helen_again, "robert": robert}


def test_each_tab_opens_with_its_first_pair_selected(qtbot, db, practice, look_alikes):  # type: ignore[no-untyped-def]
    window = scanned(qtbot, db, practice["owner"])
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Clients (1)", "Contacts (1)", "Contacts who are clients (2)"]
    window.tabs.setCurrentIndex(1)
    assert window.contact_table.selectionModel().selectedRows()[0].row() == 0
    assert window.merge.isVisible() and window.merge.isEnabled() and window.not_duplicate.isEnabled()
    window.tabs.setCurrentIndex(2)
    assert window.contact_client_table.selectionModel().selectedRows()[0].row() == 0
    assert window.merge_into_client.isVisible() and window.merge_into_client.isEnabled()
    assert not window.keep_left.isVisible() and not window.merge.isVisible()
    assert _comparison(window)["Date of birth"] == ("1970-04-02", "not recorded for contacts")
    assert window.not_duplicate.text() == "&Not the same person"


def test_a_contact_who_is_a_client_is_merged_into_the_client_from_the_window(
        qtbot, db, practice, twins, look_alikes):  # type: ignore[no-untyped-def]
    from desktop.ui.dialogs.merge_into_client import MergeIntoClientDialog

    owner = practice["owner"]
    window = scanned(qtbot, db, owner)
    window.tabs.setCurrentIndex(2)
    # The contact looks like both Robert and Bob (same phone); they are Robert.
    pairs = window.pairs[PairKind.CONTACT_CLIENT]
    assert {p.left.id for p in pairs} == {twins["robert"], twins["bob"]}
    window.contact_client_table.selectRow(next(i for i, p in enumerate(pairs) if p.left.id == twins["robert"]))

    refused: list[str] = []

    def merge(dialog: MergeIntoClientDialog) -> None:
        dialog.merge_button.click()
        if dialog.isVisible():  # refused: say why instead of waiting for ever
            refused.append(dialog.problem.text())
            dialog.reject()

    when_modal(MergeIntoClientDialog, merge, after_ms=300)
    qtbot.mouseClick(window.merge_into_client, LEFT)
    assert refused == []
    qtbot.waitUntil(lambda: window.contact_client_table.rowCount() == 0, timeout=5_000)
    with db.reading() as s:
        assert s.get(Contact, look_alikes["robert"]) is None
    assert ClientsController(db).get_client(owner, twins["robert"]).row.email == "rj@example.org"
    assert window.summary.text() == ("The contact Robert Jones (rj@example.org) was merged into the client "
                                     "Robert Jones (born 1970-04-02).")
    assert window.tabs.tabText(2) == "Contacts who are clients (0)"  # the pair with Bob went too


def test_a_contact_said_not_to_be_the_client_is_not_offered_again(
        qtbot, db, practice, twins, look_alikes):  # type: ignore[no-untyped-def]
    from desktop.domain.models import ContactClientDismissal

    window = scanned(qtbot, db, practice["owner"])
    window.tabs.setCurrentIndex(2)
    dismissed = window.pairs[PairKind.CONTACT_CLIENT][0]
    qtbot.mouseClick(window.not_duplicate, LEFT)
    assert window.pairs[PairKind.CONTACT_CLIENT] != [] and dismissed not in window.pairs[PairKind.CONTACT_CLIENT]
    assert window.contact_client_table.rowCount() == 1
    assert window.contact_client_table.selectionModel().selectedRows()[0].row() == 0  # the next one
    assert count(db, ContactClientDismissal) == 1
    assert "different people" in window.summary.text()
    again = scanned(qtbot, db, practice["owner"])
    assert [p.left.id for p in again.pairs[PairKind.CONTACT_CLIENT]] == [
        p.left.id for p in window.pairs[PairKind.CONTACT_CLIENT]]
    with db.reading() as s:
        assert s.get(Contact, look_alikes["robert"]) is not None


def test_merging_two_contacts_from_the_window_names_them_in_the_message(
        qtbot, db, practice, look_alikes):  # type: ignore[no-untyped-def]
    window = scanned(qtbot, db, practice["owner"])
    window.tabs.setCurrentIndex(1)
    when_modal(MergeContactsDialog, lambda dialog: dialog.merge_button.click(), after_ms=300)
    qtbot.mouseClick(window.merge, LEFT)
    qtbot.waitUntil(lambda: window.contact_table.rowCount() == 0, timeout=5_000)
    assert window.summary.text() == "The contact HELEN Park (5551002000) was merged into Helen Park."
    assert count(db, Contact) == 2


def test_a_clinician_without_contact_merging_sees_only_the_clients_tab(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    from desktop.controllers.permissions import Action

    for name, actor in practice.items():
        if actor.can(Action.MARK_DUPLICATE, any_client=True) and not actor.can(Action.MERGE_CONTACTS,
                                                                               any_client=True):
            window = DuplicatesWindow(Practice(db), actor)
            qtbot.addWidget(window)
            assert window.tabs.count() == 1, name


def test_escape_closes_the_window(qtbot, db, practice, twins):  # type: ignore[no-untyped-def]
    window = scanned(qtbot, db, practice["owner"])
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2_000)
    qtbot.keyClick(window.client_table, Qt.Key.Key_Escape)
    assert not window.isVisible()
