"""Merging contacts (docs/rules.md, "Duplicates"): chosen values win, links move, the other goes.

Two contact profiles can be merged into one, or a contact into a client
profile; either is one transaction with one audit row, and a refusal changes
nothing. An own-clients clinician may merge only contacts that belong to their
own clients.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.errors import InvalidInput, PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.domain.models import Appointment, Client, ClientContactLink, Contact, Outcome
from desktop.storage.database import Database
from tests.controllers.support import audit_rows, last_audit_id, refused_and_unchanged
from tests.helpers import add_appointment


def _client(db: Database, owner: Actor, first: str, last: str, clinician: str, **more) -> int:  # type: ignore[no-untyped-def]
    return ClientsController(db).add_client(owner, first_name=first, last_name=last,
                                            clinician_id=clinician, **more)


def _contact(db: Database, owner: Actor, first: str, last: str, **more) -> int:  # type: ignore[no-untyped-def]
    return ContactsController(db).add_contact(owner, first_name=first, last_name=last, **more)


def _links(db: Database) -> list[tuple[int, int, str]]:
    with db.reading() as s:
        return sorted(s.execute(select(ClientContactLink.client_id, ClientContactLink.contact_id,
                                       ClientContactLink.relationship)).all())


def _contact_row(db: Database, contact_id: int) -> dict[str, object] | None:
    with db.reading() as s:
        contact = s.get(Contact, contact_id)
        return None if contact is None else {
            c.key: getattr(contact, c.key) for c in Contact.__table__.columns}


@pytest.fixture
def family(db: Database, practice: dict[str, Actor]) -> dict[str, int]:
    """Two contact profiles for one grandmother, linked to three clients (one shared)."""
    owner = practice["owner"]
    ids = {
        "ana": _client(db, owner, "Ana", "Sousa", "clinician"),
        "rui": _client(db, owner, "Rui", "Sousa", "clinician"),
        "leo": _client(db, owner, "Leo", "Sousa", "clinician"),
        "keep": _contact(db, owner, "Gwen", "Holm", email="gwen@example.org",
                         notes="Prefers calls after 5"),
        "other": _contact(db, owner, "Gwendolyn", "Holm", email="g.holm@example.org",
                          phone="555 010 2020", notes="Speaks Portuguese"),
    }
    contacts = ContactsController(db)
    contacts.link(owner, ids["ana"], ids["keep"], "grandmother")
    contacts.link(owner, ids["ana"], ids["other"], "emergency contact")  # same client twice
    contacts.link(owner, ids["rui"], ids["other"], "grandmother")
    contacts.link(owner, ids["leo"], ids["other"], "emergency contact")
    return ids


# -------------------------------------------------------------- two contacts


def test_merging_two_contacts_keeps_the_chosen_values_and_removes_the_merged_one(
        db: Database, practice: dict[str, Actor], family: dict[str, int]) -> None:
    ContactsController(db).merge_contacts(
        practice["manager"], family["keep"], family["other"],
        {"first_name": "other", "email": "keep", "notes": "other"})
    kept = _contact_row(db, family["keep"])
    assert kept is not None
    assert (kept["first_name"], kept["last_name"], kept["email"], kept["notes"]) == (
        "Gwendolyn", "Holm", "gwen@example.org", "Speaks Portuguese")
    assert kept["phone"] == "555 010 2020"  # nobody chose against it: empty does not win
    assert "gwendolyn" in kept["search_key"] and "5550102020" in kept["search_key"]
    assert _contact_row(db, family["other"]) is None


def test_merging_two_contacts_moves_every_link_to_the_survivor_without_doubling_any(
        db: Database, practice: dict[str, Actor], family: dict[str, int]) -> None:
    ContactsController(db).merge_contacts(practice["owner"], family["keep"], family["other"])
    links = _links(db)
    assert {(client, contact) for client, contact, _ in links} == {
        (family["ana"], family["keep"]), (family["rui"], family["keep"]),
        (family["leo"], family["keep"])}
    assert max(Counter((c, k) for c, k, _ in links).values()) == 1
    # Ana already had the survivor as grandmother; that relationship stays.
    assert (family["ana"], family["keep"], "grandmother") in links
    assert (family["rui"], family["keep"], "grandmother") in links


def test_merging_two_contacts_is_audited_once_without_the_values(
        db: Database, practice: dict[str, Actor], family: dict[str, int]) -> None:
    mark = last_audit_id(db)
    ContactsController(db).merge_contacts(practice["clinician-all"], family["keep"],
                                          family["other"], {"phone": "other"})
    (event,) = audit_rows(db, mark)
    assert (event.action, event.actor_username, event.target_id, event.outcome) == (
        "contact.merge", "clinician-all", family["keep"], Outcome.ALLOWED)
    assert event.details["merged_contact_id"] == family["other"]
    assert "555" not in repr(event.details) and "Gwendolyn" not in repr(event.details)


@pytest.mark.parametrize("username", ["biller", "scheduler"])
def test_biller_and_scheduler_cannot_merge_contacts_and_nothing_changes(
        db: Database, practice: dict[str, Actor], family: dict[str, int], username: str) -> None:
    with refused_and_unchanged(db, username, PermissionDenied, "contact.merge"):
        ContactsController(db).merge_contacts(practice[username], family["keep"], family["other"],
                                              {"first_name": "other"})


def test_a_contact_cannot_be_merged_into_itself_and_nothing_changes(
        db: Database, practice: dict[str, Actor], family: dict[str, int]) -> None:
    with refused_and_unchanged(db, "owner", InvalidInput, "contact.merge"):
        ContactsController(db).merge_contacts(practice["owner"], family["keep"], family["keep"])


def test_own_clients_clinician_may_merge_contacts_linked_only_to_their_clients(
        db: Database, practice: dict[str, Actor], family: dict[str, int]) -> None:
    ContactsController(db).merge_contacts(practice["clinician"], family["keep"], family["other"])
    assert _contact_row(db, family["other"]) is None


@pytest.mark.parametrize("side", ["keep", "other"])
def test_own_clients_clinician_cannot_merge_a_contact_also_linked_to_someone_elses_client(
        db: Database, practice: dict[str, Actor], family: dict[str, int], side: str) -> None:
    owner = practice["owner"]
    elsewhere = _client(db, owner, "Ivo", "Marques", "clinician-all")
    ContactsController(db).link(owner, elsewhere, family[side], "neighbour")
    with refused_and_unchanged(db, "clinician", PermissionDenied, "contact.merge"):
        ContactsController(db).merge_contacts(practice["clinician"], family["keep"],
                                              family["other"])


@pytest.mark.parametrize("side", ["keep", "other"])
def test_own_clients_clinician_cannot_merge_away_a_practice_contact_linked_to_no_client(
        db: Database, practice: dict[str, Actor], family: dict[str, int], side: str) -> None:
    # A referring provider the practice keeps on file belongs to no clinician;
    # the own-clients clinician does not even see it in their list.
    owner = practice["owner"]
    provider = _contact(db, owner, "Dr. Hana", "Berg", email="referrals@example.org")
    keep, other = (provider, family["other"]) if side == "keep" else (family["keep"], provider)
    with refused_and_unchanged(db, "clinician", PermissionDenied, "contact.merge"):
        ContactsController(db).merge_contacts(practice["clinician"], keep, other)


# --------------------------------------------------------- contact into client


def test_a_contact_merged_into_a_client_leaves_the_client_with_chosen_values_and_removes_the_contact(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    client_id = _client(db, owner, "Marta", "Lindgren", "clinician", email="marta@example.org")
    visit = add_appointment(db, client_id, dt.datetime(2024, 5, 6, 14, 0))
    contact_id = _contact(db, owner, "Marta", "Lindgren-Sá", email="ml@example.org",
                          phone="555 010 3030")
    ContactsController(db).link(owner, client_id, contact_id, "self")
    with db.reading() as s:
        version = s.get(Client, client_id).version
    mark = last_audit_id(db)

    ContactsController(db).merge_contact_into_client(practice["clinician"], client_id, contact_id,
                                                     {"last_name": "other"})

    with db.reading() as s:
        client = s.get(Client, client_id)
        assert (client.first_name, client.last_name, client.email, client.phone) == (
            "Marta", "Lindgren-Sá", "marta@example.org", "555 010 3030")
        assert client.version > version  # an editor open on the old profile must reload
        assert s.get(Appointment, visit) is not None
        assert s.get(Contact, contact_id) is None
    assert _links(db) == []
    found = ClientsController(db).list_clients(owner, "all", "Lindgren-Sá 3030")
    assert [row.id for row in found] == [client_id]
    (event,) = audit_rows(db, mark)
    assert (event.action, event.target_id, event.outcome) == (
        "contact.merge_into_client", client_id, Outcome.ALLOWED)


def test_a_contact_linked_to_other_clients_is_not_merged_into_a_client_and_nothing_changes(
        db: Database, practice: dict[str, Actor], family: dict[str, int]) -> None:
    with refused_and_unchanged(db, "owner", InvalidInput, "contact.merge_into_client"):
        ContactsController(db).merge_contact_into_client(practice["owner"], family["ana"],
                                                         family["other"])


@pytest.mark.parametrize("username", ["biller", "scheduler"])
def test_biller_and_scheduler_cannot_merge_a_contact_into_a_client_and_nothing_changes(
        db: Database, practice: dict[str, Actor], username: str) -> None:
    owner = practice["owner"]
    client_id = _client(db, owner, "Marta", "Lindgren", "clinician")
    contact_id = _contact(db, owner, "Marta", "Lindgren")
    ContactsController(db).link(owner, client_id, contact_id, "self")
    with refused_and_unchanged(db, username, PermissionDenied, "contact.merge_into_client"):
        ContactsController(db).merge_contact_into_client(practice[username], client_id, contact_id)


def test_own_clients_clinician_cannot_merge_a_contact_into_someone_elses_client(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    client_id = _client(db, owner, "Marta", "Lindgren", "clinician-all")
    contact_id = _contact(db, owner, "Marta", "Lindgren")
    ContactsController(db).link(owner, client_id, contact_id, "self")
    with refused_and_unchanged(db, "clinician", PermissionDenied, "contact.merge_into_client"):
        ContactsController(db).merge_contact_into_client(practice["clinician"], client_id,
                                                         contact_id)


def test_a_merge_chosen_from_a_stale_view_is_refused_and_changes_nothing(db, practice):  # type: ignore[no-untyped-def]
    from desktop.controllers.contacts import ContactsController
    from desktop.controllers.errors import StaleVersion
    from desktop.domain.models import Contact

    owner = practice["owner"]
    contacts = ContactsController(db)
    a = contacts.add_contact(owner, first_name="Helen", last_name="Park")
    b = contacts.add_contact(owner, first_name="HELEN", last_name="Park")
    contacts.edit_contact(practice["manager"], b, 1, phone="555 100 2000")
    with pytest.raises(StaleVersion):
        contacts.merge_contacts(owner, a, b, {"first_name": "other"}, expected_versions=(1, 1))
    with db.reading() as s:
        assert s.get(Contact, b).phone == "555 100 2000" and s.get(Contact, a).first_name == "Helen"
