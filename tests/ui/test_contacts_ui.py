"""Contacts: their own profile, edit dialog, and linking from either side, clicked and typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.domain.models import ClientContactLink, Contact
from desktop.ui.contact_profile import ContactProfileWindow
from desktop.ui.dialogs.contact_dialogs import AddContactDialog, EditContactDialog, PickDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.profile import ProfileWindow
from tests.helpers import count
from tests.ui.test_profile_and_deletion import click_button, when_modal

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def family(db, practice):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    ann = clients.add_client(owner, first_name="Annabella", last_name="Milbanke")
    byron = ContactsController(db).add_contact(owner, first_name="George", last_name="Byron",
                                               phone="555 010 1788", client_id=ada, relationship="Parent")
    return {"ada": ada, "ann": ann, "byron": byron}


def test_enter_on_a_contact_row_opens_its_profile(qtbot, db, practice, family, tmp_path: Path):  # type: ignore[no-untyped-def]
    window = MainWindow(Practice(db), practice["owner"], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.load(background=False)
    model = window.clients_page.model
    row = [model.index(r, Column.NAME).data() for r in range(model.rowCount())].index("Byron, George")
    assert model.index(row, Column.TYPE).data() == "Contact"
    table = window.clients_page.table
    table.setCurrentIndex(model.index(row, Column.NAME))
    qtbot.keyClick(table, Qt.Key.Key_Return)
    profile = window.profiles[("contact", family["byron"])]
    assert isinstance(profile, ContactProfileWindow)
    assert profile.linked.rowCount() == 1 and profile.linked.item(0, 1).text() == "Parent"


def test_adding_a_contact_from_the_clients_profile_links_it(qtbot, db, practice, family):  # type: ignore[no-untyped-def]
    profile = ProfileWindow(Practice(db), practice["owner"], family["ann"])
    qtbot.addWidget(profile)
    profile.show()

    def fill(dialog: AddContactDialog) -> None:
        qtbot.keyClicks(dialog.form.edits["first_name"], "Mary")
        qtbot.keyClicks(dialog.form.edits["last_name"], "Somerville")
        qtbot.keyClicks(dialog.form.edits["phone"], "555 010 1780")
        dialog.relationship.setCurrentText("Emergency contact")
        qtbot.mouseClick(dialog.add_button, LEFT)

    when_modal(AddContactDialog, fill)
    qtbot.mouseClick(profile.findChild(type(profile.edit_button), "addContactButton"), LEFT)
    with db.reading() as s:
        mary = s.query(Contact).filter_by(last_name="Somerville").one()
        link = s.query(ClientContactLink).filter_by(contact_id=mary.id).one()
        assert (link.client_id, link.relationship) == (family["ann"], "Emergency contact")
    assert profile.contacts_table.rowCount() == 1


def test_bad_contact_details_are_refused_and_nothing_is_added(qtbot, db, practice, family):  # type: ignore[no-untyped-def]
    dialog = AddContactDialog(ContactsController(db), practice["owner"], family["ann"], "Annabella Milbanke")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.form.edits["first_name"], "Mary")
    qtbot.keyClicks(dialog.form.edits["last_name"], "Somerville")
    qtbot.keyClicks(dialog.form.edits["email"], "not-an-email")
    qtbot.mouseClick(dialog.add_button, LEFT)
    error = dialog.form.errors["email"]
    assert dialog.isVisible() and error.isVisible() and "not an email address" in error.text()
    assert dialog.problem.text() == ""  # said by the field, not at the bottom
    assert count(db, Contact) == 1


def test_linking_a_contact_to_another_client_from_the_contact_profile(qtbot, db, practice, family):  # type: ignore[no-untyped-def]
    profile = ContactProfileWindow(Practice(db), practice["owner"], family["byron"])
    qtbot.addWidget(profile)
    profile.show()

    def pick(dialog: PickDialog) -> None:
        qtbot.keyClicks(dialog.query, "milb")
        assert dialog.results.count() == 1
        dialog.results.setCurrentRow(0)
        dialog.relationship.setCurrentText("Spouse")
        qtbot.mouseClick(dialog.link_button, LEFT)

    when_modal(PickDialog, pick)
    qtbot.mouseClick(profile.link_button, LEFT)
    assert count(db, ClientContactLink, contact_id=family["byron"]) == 2
    assert profile.linked.rowCount() == 2


def test_editing_a_contact_saves_and_a_stale_save_is_refused(qtbot, db, practice, family):  # type: ignore[no-untyped-def]
    contacts = ContactsController(db)
    dialog = EditContactDialog(contacts, practice["owner"], family["byron"])
    qtbot.addWidget(dialog)
    dialog.show()
    contacts.edit_contact(practice["manager"], family["byron"], 1, notes="Prefers email")
    dialog.form.edits["phone"].clear()
    qtbot.keyClicks(dialog.form.edits["phone"], "555 999 0000")
    asked: list[str] = []

    def reload(box: QMessageBox) -> None:
        asked.append(box.text())
        click_button(box, "reload")

    when_modal(QMessageBox, reload)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert asked and "Someone else saved" in asked[0]
    assert dialog.isVisible() and "Someone else saved" in dialog.problem.text()
    assert "now shows the saved version" in dialog.problem.text()
    with db.reading() as s:
        assert s.get(Contact, family["byron"]).phone == "555 010 1788"
    assert dialog.form.notes.toPlainText() == "Prefers email"  # reloaded
    dialog.form.edits["phone"].clear()
    qtbot.keyClicks(dialog.form.edits["phone"], "555 999 0000")
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert not dialog.isVisible()
    with db.reading() as s:
        contact = s.get(Contact, family["byron"])
        assert (contact.phone, contact.notes) == ("555 999 0000", "Prefers email")


def test_unlink_removes_the_relationship_but_keeps_the_contact(qtbot, db, practice, family):  # type: ignore[no-untyped-def]
    profile = ProfileWindow(Practice(db), practice["owner"], family["ada"])
    qtbot.addWidget(profile)
    profile.show()
    profile.tabs.setCurrentIndex(2)
    profile.contacts_table.selectRow(0)
    qtbot.mouseClick(profile.findChild(type(profile.edit_button), "unlinkContactButton"), LEFT)
    assert count(db, ClientContactLink) == 0 and count(db, Contact) == 1
    assert profile.contacts_table.rowCount() == 0


def test_own_clients_clinician_cannot_link_a_contact_they_cannot_see(db, practice, family):  # type: ignore[no-untyped-def]
    from desktop.controllers.errors import PermissionDenied

    owner, clinician = practice["owner"], practice["clinician"]
    mine = ClientsController(db).add_client(owner, first_name="Alan", last_name="Turing",
                                            clinician_id=clinician.user_id)
    with pytest.raises(PermissionDenied):
        ContactsController(db).link(clinician, mine, family["byron"], "Guardian")
    assert count(db, ClientContactLink, client_id=mine) == 0


def test_own_clients_clinician_cannot_open_or_see_duplicates_of_others_contacts(db, practice, family):  # type: ignore[no-untyped-def]
    from desktop.controllers.duplicates import DuplicatesController
    from desktop.controllers.errors import PermissionDenied

    owner, clinician = practice["owner"], practice["clinician"]
    ContactsController(db).add_contact(owner, first_name="GEORGE", last_name="Byron", phone="5550101788")
    with pytest.raises(PermissionDenied):
        ContactsController(db).get_contact(clinician, family["byron"])
    assert len(DuplicatesController(db).find_contact_duplicates(owner)) == 1
    assert DuplicatesController(db).find_contact_duplicates(clinician) == []
