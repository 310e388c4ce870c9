"""Client profiles as the front desk uses them: adding, editing, finding, duplicates.

Every refusal here must name the field the form should point at and change
nothing; a save over someone else's newer save is refused, not merged; and a
database that cannot be reached is reported as such, not as a crash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import sessionmaker

from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import (
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StaleVersion,
)
from desktop.controllers.permissions import Actor
from desktop.domain.models import Client, ClientStatus, InactiveReason, Outcome, Role
from desktop.storage.database import Database, create_database_engine, open_database
from tests.controllers.support import audit_rows, last_audit_id, refused_and_unchanged, snapshot
from tests.helpers import count

TODAY = dt.date.today()

JOSE = dict(first_name="José", last_name="Núñez", preferred_name="Pepe",
            date_of_birth="1984-03-09", email="Jose.Nunez@Example.com", phone="(555) 123-4567")
MEI = dict(first_name="Mei", last_name="Chen", date_of_birth="1990-11-02",
           email="mei.chen@example.org", phone="+44 20 7946 0958")


@pytest.fixture
def clients(db: Database) -> ClientsController:
    return ClientsController(db)


def ids(rows) -> list[int]:  # type: ignore[no-untyped-def]
    return [r.id for r in rows]


def stored(db: Database, client_id: int) -> dict[str, Any]:
    with db.reading() as s:
        c = s.get(Client, client_id)
        assert c is not None
        return {k: getattr(c, k) for k in (
            "first_name", "last_name", "preferred_name", "date_of_birth", "email", "phone",
            "address", "clinician_id", "status", "version")}


# --------------------------------------------------------------------- adding


def test_adding_a_client_stores_what_was_typed_trimmed(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    client_id = clients.add_client(practice["owner"], first_name="  José ", last_name="Núñez\t",
                                   date_of_birth=" 1984-03-09 ", email=" Jose.Nunez@Example.com ",
                                   phone=" (555) 123-4567 ", address="1 Rue de la Paix\nParis",
                                   clinician_id="clinician")
    assert stored(db, client_id) == {
        "first_name": "José", "last_name": "Núñez", "preferred_name": None,
        "date_of_birth": dt.date(1984, 3, 9), "email": "Jose.Nunez@Example.com",
        "phone": "(555) 123-4567", "address": "1 Rue de la Paix\nParis",
        "clinician_id": practice["clinician"].user_id, "status": ClientStatus.ACTIVE, "version": 1}
    [event] = audit_rows(db)
    assert (event.action, event.target_id, event.outcome) == ("client.add", client_id, Outcome.ALLOWED)
    assert "José" not in str(event.details) and "Núñez" not in str(event.details)


def test_a_name_typed_with_a_combining_accent_is_stored_composed(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    client_id = clients.add_client(practice["owner"], first_name="Jose\u0301",
                                   last_name="Nu\u0301n\u0303ez")
    after = stored(db, client_id)
    assert (after["first_name"], after["last_name"]) == ("Jos\u00e9", "N\u00fa\u00f1ez")
    clients.delete_client(practice["owner"], client_id, "José Núñez")  # typed composed, as shown
    assert count(db, Client) == 0


TOMORROW = TODAY + dt.timedelta(days=1)

BAD_INPUT = [
    ("date_of_birth", "2020-13-45"),
    ("date_of_birth", "yesterday"),
    ("date_of_birth", "09/03/1984"),
    ("date_of_birth", TOMORROW.isoformat()),
    ("date_of_birth", TOMORROW),
    ("date_of_birth", "1899-12-31"),
    ("date_of_birth", 19840309),
    ("first_name", "A" * 10_000),
    ("last_name", "B" * 101),
    ("preferred_name", "C" * 10_000),
    ("first_name", ""),
    ("first_name", "   "),
    ("last_name", None),
    ("first_name", "Ann\x00e"),
    ("first_name", "Ann\x07e"),
    ("last_name", "\x1b[31mRed"),
    ("last_name", "Smith\nJones"),
    ("first_name", 42),
    ("email", "not-an-email"),
    ("email", "jane@example"),
    ("email", "jane@@example.com"),
    ("email", "jane doe@example.com"),
    ("email", "jane@exa\x00mple.com"),
    ("email", "j" * 250 + "@example.com"),
    ("phone", "123"),
    ("phone", "call me maybe"),
    ("phone", "5" * 16),
    ("phone", "555-123-4567 ext 2"),
    ("phone", "555\x00123 4567"),
    ("address", "x" * 10_001),
    ("address", "Flat 1\x00"),
    ("clinician_id", "nobody"),
]


@pytest.mark.parametrize("field, value", BAD_INPUT, ids=[f"{f}-{str(v)[:20]!r}" for f, v in BAD_INPUT])
def test_adding_with_a_malformed_value_names_the_field_and_adds_no_one(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        field: str, value: Any) -> None:
    values = {"first_name": "Nora", "last_name": "Quinn", field: value}
    with refused_and_unchanged(db, "owner", InvalidInput, "client.add") as refused:
        clients.add_client(practice["owner"], **values)
    assert refused.value.field == field
    assert str(refused.value)  # a message the form can show
    assert count(db, Client) == 0


@pytest.mark.parametrize("field, value", BAD_INPUT, ids=[f"{f}-{str(v)[:20]!r}" for f, v in BAD_INPUT])
def test_editing_with_a_malformed_value_names_the_field_and_keeps_the_profile(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        field: str, value: Any) -> None:
    client_id = clients.add_client(practice["owner"], **MEI)
    with refused_and_unchanged(db, "manager", InvalidInput, "client.edit") as refused:
        # A valid change rides along; it must not be saved either.
        values = {"address": "2 New Street", field: value}
        clients.edit_client(practice["manager"], client_id, 1, **values)
    assert refused.value.field == field
    assert stored(db, client_id)["address"] is None
    assert stored(db, client_id)["version"] == 1


def test_a_field_that_does_not_exist_is_refused(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    with refused_and_unchanged(db, "owner", InvalidInput, "client.add"):
        clients.add_client(practice["owner"], first_name="Nora", last_name="Quinn", status="inactive")


def test_a_birthday_today_and_one_in_1900_are_accepted(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    newborn = clients.add_client(practice["owner"], first_name="Baby", last_name="Quinn",
                                 date_of_birth=TODAY)
    oldest = clients.add_client(practice["owner"], first_name="Ada", last_name="Quinn",
                                date_of_birth="1900-01-01")
    assert stored(db, newborn)["date_of_birth"] == TODAY
    assert stored(db, oldest)["date_of_birth"] == dt.date(1900, 1, 1)


# -------------------------------------------------------------------- editing


def test_editing_saves_the_changed_fields_and_audits_their_names_only(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    client_id = clients.add_client(practice["owner"], **MEI)
    mark = last_audit_id(db)

    version = clients.edit_client(practice["clinician-all"], client_id, 1,
                                  last_name="Chen-Walker", email="mei@example.org",
                                  phone=MEI["phone"])

    assert version == 2
    after = stored(db, client_id)
    assert (after["last_name"], after["email"], after["phone"], after["version"]) == (
        "Chen-Walker", "mei@example.org", MEI["phone"], 2)
    [event] = audit_rows(db, mark)
    assert (event.action, event.outcome) == ("client.edit", Outcome.ALLOWED)
    assert event.details == {"fields": ["email", "last_name"]}
    assert [r.id for r in clients.list_clients(practice["owner"], search="walker")] == [client_id]
    assert clients.list_clients(practice["owner"], search="mei.chen") == []


def test_saving_without_changes_keeps_the_version(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    client_id = clients.add_client(practice["owner"], **MEI)
    assert clients.edit_client(practice["owner"], client_id, 1, first_name=" Mei ") == 1
    assert stored(db, client_id)["version"] == 1


def test_a_second_save_over_the_same_version_is_refused_and_the_first_is_kept(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    client_id = clients.add_client(practice["owner"], **MEI)
    # Two workstations open the same profile.
    reception = clients.get_client(practice["manager"], client_id)
    clinician = clients.get_client(practice["clinician-all"], client_id)
    assert reception.row.version == clinician.row.version == 1

    clients.edit_client(practice["manager"], client_id, reception.row.version,
                        phone="555 010 1111", email="mei.new@example.org")
    with refused_and_unchanged(db, "clinician-all", StaleVersion, "client.edit") as refused:
        clients.edit_client(practice["clinician-all"], client_id, clinician.row.version,
                            phone="555 010 2222", preferred_name="May")

    assert refused.value.current_version == 2
    assert "nothing of yours was saved" in str(refused.value)
    after = stored(db, client_id)
    assert (after["phone"], after["email"], after["preferred_name"], after["version"]) == (
        "555 010 1111", "mei.new@example.org", None, 2)


def test_a_status_change_after_loading_also_makes_an_edit_stale(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    client_id = clients.add_client(practice["owner"], **MEI)
    loaded = clients.get_client(practice["owner"], client_id).row.version
    clients.set_status(practice["manager"], client_id, "inactive", reason="moved")
    with pytest.raises(StaleVersion):
        clients.edit_client(practice["owner"], client_id, loaded, first_name="May")
    assert stored(db, client_id)["first_name"] == "Mei"


def test_a_save_that_lands_before_the_status_change_is_flushed_is_a_stale_version(
        db: Database, practice: dict[str, Actor], clients: ClientsController, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Another save bumps the version after the client was read, and the change is flushed
    by a plain flush (a query's, or the commit's), not ``flush_versioned``: the gate says it
    in one sentence, and nothing is saved."""
    import desktop.controllers.clients as clients_module

    client_id = clients.add_client(practice["owner"], **MEI)
    real_audit = clients_module.audit

    def saved_meanwhile(s, *args, **kwargs):  # type: ignore[no-untyped-def]
        s.connection().exec_driver_sql(f"UPDATE clients SET version = version + 1 WHERE id = {client_id}")
        return real_audit(s, *args, **kwargs)

    monkeypatch.setattr(clients_module, "audit", saved_meanwhile)
    monkeypatch.setattr(clients_module, "flush_versioned", lambda s: s.flush())
    with refused_and_unchanged(db, "manager", StaleVersion, "client.set_status") as refused:
        clients.set_status(practice["manager"], client_id, "inactive", reason="moved")
    assert str(refused.value) == ("Someone else saved this profile at the same moment. Reload and try "
                                  "again; nothing of yours was saved.")


def test_editing_a_deleted_client_says_it_is_gone(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    client_id = clients.add_client(practice["owner"], **MEI)
    clients.delete_client(practice["owner"], client_id, "Mei Chen")
    with pytest.raises(NotFound):
        clients.edit_client(practice["manager"], client_id, 1, first_name="May")


# -------------------------------------------------------------------- finding


@pytest.fixture
def roster(db: Database, practice: dict[str, Actor], clients: ClientsController) -> dict[str, int]:
    owner = practice["owner"]
    found = {
        "jose": clients.add_client(owner, **JOSE, clinician_id="clinician"),
        "mei": clients.add_client(owner, **MEI, clinician_id="clinician-all"),
        "gail": clients.add_client(owner, first_name="Gail", last_name="Frost",
                                   email="gail@example.net", clinician_id="clinician"),
    }
    clients.set_status(owner, found["gail"], "inactive", reason="discharged")
    return found


@pytest.mark.parametrize("typed", [
    "jose", "JOSE", "José", "JOSÉ", "Jose\u0301", "núñez", "NUNEZ", "nunez jose", "jos nun",
    "pepe", "Núñez José",
])
def test_search_finds_a_client_by_name_whatever_the_case_and_accents(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int],
        typed: str) -> None:
    assert ids(clients.list_clients(practice["owner"], search=typed)) == [roster["jose"]]


@pytest.mark.parametrize("first, last, typed", [
    ("Søren", "Kierkegaard", "soren"),
    ("Łukasz", "Żółć", "lukasz zolc"),
    ("Guðrún", "Ærø", "gudrun aero"),
    ("Straße", "İnce", "strasse ince"),
    ("ℌans", "Ｍüller", "hans muller"),
])
def test_search_finds_names_typed_without_their_special_letters(
        practice: dict[str, Actor], clients: ClientsController, first: str, last: str,
        typed: str) -> None:
    client_id = clients.add_client(practice["owner"], first_name=first, last_name=last)
    assert ids(clients.list_clients(practice["owner"], search=typed)) == [client_id]
    assert ids(clients.list_clients(practice["owner"], search=f"{first} {last}")) == [client_id]


@pytest.mark.parametrize("typed", ["jose.nunez@example.com", "JOSE.NUNEZ@EXAMPLE.COM", "@example.com",
                                   "nunez@"])
def test_search_finds_a_client_by_email(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int],
        typed: str) -> None:
    assert ids(clients.list_clients(practice["owner"], search=typed)) == [roster["jose"]]


@pytest.mark.parametrize("typed", ["555-123-4567", "555.123.4567", "5551234567", "(555)123-4567",
                                   "555 123 4567", "+1 555 123 4567", "123-4567", "(555) 123-45"])
def test_search_finds_a_client_by_phone_typed_with_other_punctuation(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int],
        typed: str) -> None:
    assert ids(clients.list_clients(practice["owner"], search=typed)) == [roster["jose"]]


@pytest.mark.parametrize("typed, who", [("1984-03-09", "jose"), ("1990-11-02", "mei"),
                                        ("03/09/1984", "jose"), ("1984-03", "jose")])
def test_search_finds_a_client_by_date_of_birth(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int],
        typed: str, who: str) -> None:
    assert ids(clients.list_clients(practice["owner"], search=typed)) == [roster[who]]


@pytest.mark.parametrize("typed", ["Smith", "jose chen", "1984-03-10", "%", "_", "\\", "'", "*"])
def test_search_for_what_no_client_has_shows_no_one(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int],
        typed: str) -> None:
    assert clients.list_clients(practice["owner"], "all", search=typed) == []


def test_the_list_shows_active_clients_unless_another_status_is_chosen(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int]) -> None:
    owner = practice["owner"]
    # Sorted by last name: Chen, Frost, Núñez.
    assert ids(clients.list_clients(owner)) == [roster["mei"], roster["jose"]]
    assert ids(clients.list_clients(owner, "active")) == [roster["mei"], roster["jose"]]
    assert ids(clients.list_clients(owner, "inactive")) == [roster["gail"]]
    assert ids(clients.list_clients(owner, "all")) == [roster["mei"], roster["gail"], roster["jose"]]
    assert clients.list_clients(owner, "active", search="gail") == []
    assert ids(clients.list_clients(owner, "all", search="gail")) == [roster["gail"]]


def test_an_unknown_status_filter_is_invalid_input(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int]) -> None:
    with pytest.raises(InvalidInput) as refused:
        clients.list_clients(practice["owner"], "archived")
    assert refused.value.field == "status"


def test_the_list_rows_carry_what_the_table_shows(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int]) -> None:
    [row] = clients.list_clients(practice["owner"], search="jose")
    assert (row.full_name, row.date_of_birth, row.email, row.phone, row.status, row.clinician) == (
        "José Núñez", dt.date(1984, 3, 9), "Jose.Nunez@Example.com", "(555) 123-4567",
        ClientStatus.ACTIVE, "Dr. Colin Park")


def test_an_own_clients_clinician_sees_only_assigned_clients(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int]) -> None:
    clinician = practice["clinician"]
    assert ids(clients.list_clients(clinician, "all")) == [roster["gail"], roster["jose"]]
    assert clients.list_clients(clinician, "all", search="mei") == []
    assert clients.list_clients(clinician, "all", search="1990-11-02") == []
    assert clients.get_client(clinician, roster["jose"]).row.first_name == "José"


def test_an_own_clients_clinician_is_refused_another_clinicians_client(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        roster: dict[str, int]) -> None:
    with refused_and_unchanged(db, "clinician", PermissionDenied, "client.view"):
        clients.get_client(practice["clinician"], roster["mei"])
    with refused_and_unchanged(db, "clinician", PermissionDenied, "client.export"):
        clients.export_client(practice["clinician"], roster["mei"])


@pytest.mark.parametrize("username", ["owner", "manager", "clinician-all", "biller", "scheduler"])
def test_everyone_else_sees_every_client(
        practice: dict[str, Actor], clients: ClientsController, roster: dict[str, int],
        username: str) -> None:
    assert sorted(ids(clients.list_clients(practice[username], "all"))) == sorted(roster.values())


# ----------------------------------------------------------------- duplicates


def test_marking_a_duplicate_makes_it_inactive_linked_to_the_kept_profile(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        roster: dict[str, int]) -> None:
    manager = practice["manager"]
    kept = roster["jose"]
    dup = clients.add_client(practice["owner"], first_name="Jose", last_name="Nunez",
                             date_of_birth="1984-03-09")
    mark = last_audit_id(db)

    clients.mark_duplicate(manager, dup, kept, note="Same person, typed without accents")

    detail = clients.get_client(manager, dup)
    assert (detail.row.status, detail.inactive_reason, detail.duplicate_of_id) == (
        ClientStatus.INACTIVE, InactiveReason.DUPLICATE, kept)
    assert detail.inactive_note == "Same person, typed without accents"
    assert [(h["from"], h["to"], h["reason"], h["actor"]) for h in detail.status_history] == [
        ("active", "inactive", "duplicate", "manager")]
    assert clients.get_client(manager, kept).duplicates == [dup]
    assert clients.get_client(manager, kept).row.status is ClientStatus.ACTIVE
    events = [e for e in audit_rows(db, mark) if e.action != "client.view"]  # the looks above
    assert sorted(e.action for e in events) == ["client.mark_duplicate", "client.set_status"]
    assert all(e.outcome is Outcome.ALLOWED and e.target_id == dup for e in events)
    [dup_event] = [e for e in events if e.action == "client.mark_duplicate"]
    assert dup_event.details == {"kept_client_id": kept}
    # Both profiles and their data still exist: duplicates are never merged.
    assert count(db, Client) == 4
    assert ids(clients.list_clients(manager, search="jose")) == [kept]


def test_undoing_a_mark_duplicate_puts_back_status_reason_links_and_portal(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        roster: dict[str, int]) -> None:
    owner = practice["owner"]
    kept = roster["jose"]
    dup = clients.add_client(owner, first_name="Jose", last_name="Nunez", date_of_birth="1984-03-09")
    clients.set_status(owner, dup, "inactive", reason="moved", note="Moved to Leeds")
    older = clients.add_client(owner, first_name="José", last_name="Nunes")
    clients.mark_duplicate(owner, older, dup)  # points at dup; follows it to the kept one
    clients.set_portal_access(owner, dup, portal=True, messaging=True)
    before = clients.get_client(owner, dup)

    marked = clients.mark_duplicate(owner, dup, kept, disable_portal=True)
    assert clients.get_client(owner, older).duplicate_of_id == kept
    assert clients.portal_access(owner, dup) == {"portal_enabled": False, "messaging_enabled": False}

    clients.undo_mark_duplicate(owner, dup, marked)

    after = clients.get_client(owner, dup)
    assert (after.row.status, after.inactive_reason, after.inactive_note, after.duplicate_of_id) == (
        ClientStatus.INACTIVE, InactiveReason.MOVED, "Moved to Leeds", None)
    assert after.portal == before.portal == {"portal_enabled": True, "messaging_enabled": True}
    assert clients.get_client(owner, older).duplicate_of_id == dup
    assert clients.get_client(owner, kept).duplicates == []
    # The history tells the whole story, undo included.
    assert [(h["to"], h["reason"]) for h in after.status_history] == [
        ("inactive", "moved"), ("inactive", "duplicate"), ("inactive", "moved")]


def test_undoing_a_mark_duplicate_is_refused_after_a_later_save_and_changes_nothing(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        roster: dict[str, int]) -> None:
    owner = practice["owner"]
    dup = clients.add_client(owner, first_name="Jose", last_name="Nunez")
    marked = clients.mark_duplicate(owner, dup, roster["jose"])
    clients.edit_client(owner, dup, marked.version, phone="555 0101")

    with refused_and_unchanged(db, "owner", StaleVersion, "client.undo_mark_duplicate"):
        clients.undo_mark_duplicate(owner, dup, marked)
    with refused_and_unchanged(db, "owner", InvalidInput, "client.undo_mark_duplicate"):
        clients.undo_mark_duplicate(owner, roster["mei"], marked)
    with refused_and_unchanged(db, "clinician", PermissionDenied, "client.undo_mark_duplicate"):
        clients.undo_mark_duplicate(practice["clinician"], dup, marked)


def test_reactivating_a_duplicate_clears_the_link(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        roster: dict[str, int]) -> None:
    owner = practice["owner"]
    kept = roster["jose"]
    dup = clients.add_client(owner, first_name="Jose", last_name="Nunez")
    clients.mark_duplicate(owner, dup, kept)

    clients.set_status(owner, dup, "active")

    detail = clients.get_client(owner, dup)
    assert (detail.row.status, detail.inactive_reason, detail.duplicate_of_id) == (
        ClientStatus.ACTIVE, None, None)
    assert [h["to"] for h in detail.status_history] == ["inactive", "active"]
    assert clients.get_client(owner, kept).duplicates == []


def test_a_duplicate_cannot_be_marked_through_the_plain_status_change(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        roster: dict[str, int]) -> None:
    with refused_and_unchanged(db, "owner", InvalidInput, "client.set_status") as refused:
        clients.set_status(practice["owner"], roster["mei"], "inactive", reason="duplicate")
    assert refused.value.field == "reason"


def test_a_client_cannot_be_its_own_duplicate_nor_a_duplicate_of_a_duplicate(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        roster: dict[str, int]) -> None:
    owner = practice["owner"]
    with refused_and_unchanged(db, "owner", InvalidInput, "client.mark_duplicate"):
        clients.mark_duplicate(owner, roster["mei"], roster["mei"])
    dup = clients.add_client(owner, first_name="Jose", last_name="Nunez")
    clients.mark_duplicate(owner, dup, roster["jose"])
    with refused_and_unchanged(db, "owner", InvalidInput, "client.mark_duplicate"):
        clients.mark_duplicate(owner, roster["mei"], dup)


def test_an_own_clients_clinician_cannot_mark_another_clinicians_client_duplicate(
        db: Database, practice: dict[str, Actor], clients: ClientsController,
        roster: dict[str, int]) -> None:
    with refused_and_unchanged(db, "clinician", PermissionDenied, "client.mark_duplicate"):
        clients.mark_duplicate(practice["clinician"], roster["jose"], roster["mei"])


# ------------------------------------------------------------ lost connection

NOBODY_LISTENS = "postgresql+psycopg://postgres@127.0.0.1:1/caseload"
SOMEONE = Actor(1, "owner", "Olivia Owens", Role.ACCOUNT_OWNER, True)


@pytest.fixture
def unreachable() -> Iterator[Database]:
    engine = create_database_engine(NOBODY_LISTENS)
    database = Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
    yield database
    database.dispose()


def test_a_server_nobody_answers_on_is_reported_as_unavailable(unreachable: Database) -> None:
    clients = ClientsController(unreachable)
    with pytest.raises(DatabaseUnavailable) as listing:
        clients.list_clients(SOMEONE)
    with pytest.raises(DatabaseUnavailable) as adding:
        clients.add_client(SOMEONE, first_name="Nora", last_name="Quinn")
    for refused in (listing, adding):
        message = str(refused.value)
        assert "could not be reached" in message
        assert "Nothing was changed" in message
        assert "\n" not in message  # one line, for the status bar and stderr


def test_opening_a_server_nobody_answers_on_is_reported_as_unavailable() -> None:
    with pytest.raises(DatabaseUnavailable, match="could not be reached"):
        open_database(NOBODY_LISTENS)


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    from tests.conftest import make_pg
    from tests.helpers import seed_users

    database = make_pg(pg_url)
    seed_users(database)
    yield database
    database.dispose()


def _kill_connection_on(database: Database, pg_admin: str, statement_start: str) -> None:
    """Have the server drop this connection just as ``statement_start`` is sent."""
    import psycopg

    done: list[int] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not done and statement.lstrip().upper().startswith(statement_start):
            pid = conn.connection.dbapi_connection.info.backend_pid
            with psycopg.connect(pg_admin, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            done.append(pid)

    event.listen(database.engine, "before_cursor_execute", before)


@pytest.mark.postgres
def test_a_connection_dropped_mid_save_is_reported_and_saves_nothing(pg_db: Database) -> None:
    from tests.conftest import PG_ADMIN_URL

    clients = ClientsController(pg_db)
    owner = _owner(pg_db)  # also leaves a live connection in the pool
    _kill_connection_on(pg_db, PG_ADMIN_URL.replace("+psycopg", ""), "INSERT INTO CLIENTS")

    with pytest.raises(DatabaseUnavailable) as refused:
        clients.add_client(owner, first_name="Nora", last_name="Quinn")

    assert "could not be reached" in str(refused.value)
    # The next operation finds a fresh connection by itself, and nothing was half-saved.
    assert clients.list_clients(owner, "all") == []
    assert clients.add_client(owner, first_name="Nora", last_name="Quinn") > 0
    assert [r.full_name for r in clients.list_clients(owner)] == ["Nora Quinn"]


@pytest.mark.postgres
def test_a_connection_dropped_while_idle_is_replaced_without_troubling_the_user(
        pg_db: Database) -> None:
    import psycopg

    from tests.conftest import PG_ADMIN_URL

    owner = _owner(pg_db)
    clients = ClientsController(pg_db)
    clients.add_client(owner, first_name="Nora", last_name="Quinn")
    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'caseload' AND datname = %s",
            (pg_db.engine.url.database,)).fetchone()
    assert killed is not None and killed[0] >= 1

    assert [r.full_name for r in clients.list_clients(owner)] == ["Nora Quinn"]


def _owner(database: Database) -> Actor:
    from desktop.controllers.users import actor_for
    from desktop.domain.models import PracticeUser

    with database.reading() as s:
        user = s.scalars(select(PracticeUser).where(PracticeUser.username == "owner")).one()
        return actor_for(user)


def test_snapshot_helper_sees_client_rows(db: Database, practice: dict[str, Actor],
                                          clients: ClientsController) -> None:
    """Guard for the helpers above: a change must show in a snapshot, or 'unchanged' proves nothing."""
    before = snapshot(db)
    clients.add_client(practice["owner"], first_name="Nora", last_name="Quinn")
    assert snapshot(db) != before


def test_changing_a_duplicates_reason_in_the_edit_dialog_drops_its_link(db, practice):  # type: ignore[no-untyped-def]
    from desktop.controllers.clients import ClientsController
    from desktop.domain.models import Client, InactiveReason

    owner = practice["owner"]
    clients = ClientsController(db)
    kept = clients.add_client(owner, first_name="Robert", last_name="Jones")
    twin = clients.add_client(owner, first_name="Bob", last_name="Jones")
    clients.mark_duplicate(owner, twin, kept)
    version = clients.get_client(owner, twin).row.version
    clients.save_profile(owner, twin, version, {}, status="inactive", reason="moved")
    with db.reading() as s:
        client = s.get(Client, twin)
        assert client.inactive_reason is InactiveReason.MOVED and client.duplicate_of_id is None
    assert clients.get_client(owner, kept).duplicates == []


@pytest.mark.parametrize("hidden", ["\u200b", "\u202e", "\u2066", "\ufeff", "\u2060", "\u200d"])
def test_invisible_characters_are_refused_in_names_by_the_field(
        db: Database, practice: dict[str, Actor], clients: ClientsController, hidden: str) -> None:
    from desktop.controllers.errors import InvalidInput

    with refused_and_unchanged(db, "owner", InvalidInput, "client.add") as refusal:
        clients.add_client(practice["owner"], first_name=f"Ann{hidden}", last_name="Lee")
    assert refusal.value.field == "first_name" and "invisible" in str(refusal.value)


def test_joiners_between_letters_are_kept_as_persian_and_indic_names_need_them(
        clients: ClientsController, practice: dict[str, Actor]) -> None:
    persian = "\u0645\u06cc\u200c\u0631\u0632\u0627"  # میرزا written with a ZWNJ
    indic = "\u0915\u094d\u200d\u0937"  # क्‍ष with a ZWJ
    cid = clients.add_client(practice["owner"], first_name=persian, last_name=indic)
    detail = clients.get_client(practice["owner"], cid)
    assert (detail.row.first_name, detail.row.last_name) == (persian, indic)


def test_a_confirmation_with_an_invisible_character_says_so_and_deletes_nothing(
        db: Database, practice: dict[str, Actor], clients: ClientsController) -> None:
    from desktop.controllers.errors import ConfirmationMismatch

    cid = clients.add_client(practice["owner"], first_name="Ann", last_name="Lee")
    with refused_and_unchanged(db, "owner", ConfirmationMismatch, "client.delete") as refusal:
        clients.delete_client(practice["owner"], cid, "Ann\u200b Lee")
    assert "invisible" in str(refusal.value)
