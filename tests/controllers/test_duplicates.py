"""Finding likely duplicate clients and contacts, and remembering "not a duplicate"."""

from __future__ import annotations

import pytest

from desktop.controllers.clients import ClientsController
from desktop.controllers.demo import build_demo_practice
from desktop.controllers.duplicates import DuplicatesController, Person, score_pair
from desktop.controllers.errors import PermissionDenied
from desktop.controllers.users import UsersController
from desktop.domain.models import AuditEvent, DuplicateDismissal, Outcome
from tests.helpers import count


@pytest.mark.parametrize("seed", [1, 2])
def test_every_planted_duplicate_is_found_and_nothing_else(sqlite_db, seed):  # type: ignore[no-untyped-def]
    report = build_demo_practice(sqlite_db, clients=4000, seed=seed, password="demo")
    owner = UsersController(sqlite_db).sign_in("owner", "demo")
    finder = DuplicatesController(sqlite_db)
    planted = {tuple(sorted((a, b))) for a, b, _kind in report.planted_client_duplicates}
    kinds = {kind for _a, _b, kind in report.planted_client_duplicates}
    assert kinds == {"typo", "swapped", "nickname", "case"}
    found = {(p.left.id, p.right.id) for p in finder.find_client_duplicates(owner)}
    assert planted <= found, f"missed {sorted(planted - found)}"
    assert found == planted  # the demo plants no other look-alikes with shared evidence
    planted_contacts = {tuple(sorted((a, b))) for a, b, _k in report.planted_contact_duplicates}
    found_contacts = {(p.left.id, p.right.id) for p in finder.find_contact_duplicates(owner)}
    assert planted_contacts <= found_contacts


def person(pid, first, last, dob=None, email=None, phone=None):  # type: ignore[no-untyped-def]
    import datetime as dt

    return Person(pid, first, last, dt.date.fromisoformat(dob) if dob else None, email, phone)


@pytest.mark.parametrize("a, b", [
    (("Maria", "Garcia"), ("Sofia", "Garcia")),
    (("John", "Smith"), ("Joan", "Smith")),
    (("Ella", "Nguyen"), ("Emma", "Nguyen")),
    (("Liam", "Jones"), ("Lily", "Jones")),
])
def test_different_people_sharing_a_surname_and_birthday_are_not_paired(a, b):  # type: ignore[no-untyped-def]
    score, reasons = score_pair(person(1, *a, dob="1990-01-01"), person(2, *b, dob="1990-01-01"))
    assert score == 0 and reasons == ()


@pytest.mark.parametrize("b, why", [
    (("Bob", "Jones"), "nickname"),
    (("Jones", "Robert"), "first and last name swapped"),
    (("ROBERT", "jones"), "same name"),
    (("Robert", "Jnoes"), "similar names"),
])
def test_nicknames_swaps_case_and_typos_are_paired_with_their_reasons(b, why):  # type: ignore[no-untyped-def]
    score, reasons = score_pair(person(1, "Robert", "Jones", phone="(555) 201-3344"),
                                person(2, *b, phone="555 201 3344"))
    assert score >= 70
    assert reasons[0] == why and "same phone" in reasons


def test_a_similar_name_without_shared_details_is_not_a_duplicate():  # type: ignore[no-untyped-def]
    assert score_pair(person(1, "Robert", "Jones"), person(2, "Robert", "Jones"))[0] == 0


def test_not_a_duplicate_is_remembered_per_pair_and_audited(db, practice):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    owner = practice["owner"]
    a = clients.add_client(owner, first_name="Robert", last_name="Jones", date_of_birth="1970-04-02")
    b = clients.add_client(owner, first_name="Bob", last_name="Jones", date_of_birth="1970-04-02")
    finder = DuplicatesController(db)
    assert len(finder.find_client_duplicates(owner)) == 1
    finder.dismiss(owner, b, a)
    finder.dismiss(owner, a, b)  # saying it twice records it once
    assert count(db, DuplicateDismissal) == 1
    assert finder.find_client_duplicates(owner) == []
    assert count(db, AuditEvent, action="client.not_duplicate", outcome=Outcome.ALLOWED) == 2


def test_scheduler_cannot_dismiss_or_scan_and_nothing_changes(db, practice):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    owner = practice["owner"]
    a = clients.add_client(owner, first_name="Robert", last_name="Jones", date_of_birth="1970-04-02")
    b = clients.add_client(owner, first_name="Bob", last_name="Jones", date_of_birth="1970-04-02")
    finder = DuplicatesController(db)
    with pytest.raises(PermissionDenied):
        finder.dismiss(practice["scheduler"], a, b)
    with pytest.raises(PermissionDenied):
        finder.find_client_duplicates(practice["scheduler"])
    assert count(db, DuplicateDismissal) == 0
    assert count(db, AuditEvent, action="client.not_duplicate", outcome=Outcome.DENIED) == 1


def test_own_clients_clinician_is_offered_only_pairs_among_their_clients(db, practice):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    owner, mine = practice["owner"], practice["clinician"].user_id
    clients.add_client(owner, first_name="Robert", last_name="Jones", date_of_birth="1970-04-02",
                       clinician_id=mine)
    clients.add_client(owner, first_name="Bob", last_name="Jones", date_of_birth="1970-04-02")
    finder = DuplicatesController(db)
    assert finder.find_client_duplicates(practice["clinician"]) == []
    assert len(finder.find_client_duplicates(owner)) == 1


def test_demo_on_a_practice_with_an_owner_adds_no_second_owner(sqlite_db):  # type: ignore[no-untyped-def]
    from desktop.domain.models import PracticeUser, Role

    dana = UsersController(sqlite_db).create_account_owner("dana", "Dana Whitfield", "river otter 42")
    with pytest.raises(PermissionDenied):  # nobody signed in: no users with a known password
        build_demo_practice(sqlite_db, clients=50, seed=3, password="demo")
    report = build_demo_practice(sqlite_db, clients=50, seed=3, password="demo", actor=dana)
    assert "owner" not in report.users_created and "manager" in report.users_created
    with sqlite_db.reading() as s:
        owners = s.query(PracticeUser).filter_by(role=Role.ACCOUNT_OWNER).all()
        assert [o.username for o in owners] == ["dana"]


def test_the_demo_gives_its_practice_details_so_its_documents_look_real(sqlite_db):  # type: ignore[no-untyped-def]
    from desktop.controllers.settings import SettingsController

    build_demo_practice(sqlite_db, clients=20, seed=3)
    with sqlite_db.reading() as s:
        shown = SettingsController._read(s)
    assert shown.name == "Lakeside Counselling (demo)" and "Springfield" in shown.address
    assert (shown.tax_id, shown.npi) == ("12-3456789", "1234567893")


def test_the_demo_keeps_the_details_a_practice_typed_itself(sqlite_db):  # type: ignore[no-untyped-def]
    from desktop.controllers.settings import SettingsController
    from desktop.domain.models import PracticeSettings

    with sqlite_db.transaction() as s:
        s.add(PracticeSettings(id=1, name="", address="", phone="555 0199", tax_id="", npi="", version=1))
    build_demo_practice(sqlite_db, clients=20, seed=3)
    with sqlite_db.reading() as s:
        shown = SettingsController._read(s)
    assert (shown.name, shown.phone, shown.npi) == ("", "555 0199", "")


def test_a_contact_who_is_a_client_is_offered_for_merging_into_the_client(db, practice):  # type: ignore[no-untyped-def]
    from desktop.controllers.contacts import ContactsController

    owner = practice["owner"]
    ada = ClientsController(db).add_client(owner, first_name="Ada", last_name="Lovelace", phone="555 010 1815")
    ContactsController(db).add_contact(owner, first_name="Ada", last_name="Lovelace", phone="(555) 010-1815")
    ContactsController(db).add_contact(owner, first_name="Mary", last_name="Lovelace", phone="555 010 9999")
    pairs = DuplicatesController(db).find_contact_client_duplicates(owner)
    assert [(p.left.id, p.left.first_name, p.right.first_name) for p in pairs] == [(ada, "Ada", "Ada")]
    assert "same phone" in pairs[0].reasons


def test_a_contact_said_not_to_be_a_client_is_not_offered_again_and_the_decision_is_audited(
        db, practice):  # type: ignore[no-untyped-def]
    from desktop.controllers.contacts import ContactsController
    from desktop.domain.models import ContactClientDismissal

    owner = practice["owner"]
    ada = ClientsController(db).add_client(owner, first_name="Ada", last_name="Lovelace", phone="555 010 1815")
    namesake = ContactsController(db).add_contact(owner, first_name="Ada", last_name="Lovelace",
                                                  phone="555 010 1815")
    finder = DuplicatesController(db)
    with pytest.raises(PermissionDenied):
        finder.dismiss_contact_client(practice["scheduler"], namesake, ada)
    assert count(db, ContactClientDismissal) == 0
    assert len(finder.find_contact_client_duplicates(owner)) == 1

    finder.dismiss_contact_client(owner, namesake, ada)
    finder.dismiss_contact_client(owner, namesake, ada)  # saying it twice records it once

    assert count(db, ContactClientDismissal) == 1
    assert finder.find_contact_client_duplicates(owner) == []
    assert count(db, AuditEvent, action="contact.not_a_client", outcome=Outcome.ALLOWED) == 2
    assert count(db, AuditEvent, action="contact.not_a_client", outcome=Outcome.DENIED) == 1
    # Deleting the client takes the decision with it.
    ClientsController(db).delete_client(owner, ada, "Ada Lovelace")
    assert count(db, ContactClientDismissal) == 0


def test_demo_emails_keep_accented_names_readable():  # type: ignore[no-untyped-def]
    from desktop.controllers.demo import _email

    assert _email("Björn", "Flores", 638) == "bjorn.flores638@example.org"
    assert _email("Łukasz", "Øster", 1) == "lukasz.oster1@example.org"
