"""The duplicate review window and the contact merge dialog, clicked as a person would."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton

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
from desktop.ui.duplicates_window import DuplicatesWindow
from tests.helpers import count

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
    pair = window.client_pairs[0]
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
    pair = window.client_pairs[0]
    ClientsController(db).edit_client(practice["manager"], pair.right.id, 1, email="new@example.org")
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
    pair = window.client_pairs[0]
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
    assert window.contact_table.rowCount() == 0 and window.contact_pairs == []
    again = scanned(qtbot, db, owner)
    assert again.contact_table.rowCount() == 0
    assert {a, b} == {c["id"] for c in contacts.search_contacts(owner, "park")}
