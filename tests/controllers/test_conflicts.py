"""Two people saving one profile: the second one merges field by field, and overwriting is audited.

docs/rules.md, "Conflicting saves". No Qt here: the comparison the conflict
dialog shows and the overwrite audit are both the controllers' rule, checked on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.controllers import conflicts
from desktop.controllers.audit_log import AuditFilter, AuditLogController, describe
from desktop.controllers.clients import ClientDetail, ClientsController
from desktop.controllers.errors import InvalidInput, StaleVersion
from desktop.controllers.permissions import Actor
from desktop.domain.models import Client, ClientStatus, InactiveReason, Outcome
from desktop.storage.anchors import AnchorBook
from desktop.storage.database import Database
from tests.controllers.support import audit_rows, last_audit_id, refused_and_unchanged

ADA = dict(first_name="Ada", last_name="Lovelace", date_of_birth="1985-12-10",
           email="ada@example.org", phone="555 010 0000", diagnosis_codes="F41.1")


@pytest.fixture
def clients(db: Database) -> ClientsController:
    return ClientsController(db)


@pytest.fixture
def ada(clients: ClientsController, practice: dict[str, Actor]) -> int:
    return clients.add_client(practice["owner"], **ADA)


def typed_from(detail: ClientDetail, **changes: str) -> dict[str, str]:
    """The edit form's eight fields as opened, with ``changes`` typed over them."""
    values = {key: conflicts.opened(detail)[key] for key in conflicts.FIELDS}
    values.update(changes)
    return values


def stored(db: Database, client_id: int) -> Client:
    with db.reading() as s:
        client = s.get(Client, client_id)
        assert client is not None
        s.expunge(client)
        return client


def overwrites(db: Database, after: int = 0) -> list:  # type: ignore[type-arg]
    return [row for row in audit_rows(db, after) if row.action == "client.overwrite"]


# ------------------------------------------------------------------ comparing


def test_the_comparison_lists_every_field_that_differs_and_marks_the_ones_both_changed() -> None:
    base = conflicts.texts({**ADA, "status": "active"})
    theirs = {**base, "email": "ada.l@example.org", "phone": "555 010 1111"}
    mine = {**base, "phone": "555 010 2222", "first_name": "Augusta"}
    rows = {row.key: row for row in conflicts.differences(base, theirs, mine)}
    assert list(rows) == ["first_name", "email", "phone"]  # the form's order
    assert (rows["first_name"].i_changed, rows["first_name"].they_changed) == (True, False)
    assert (rows["email"].i_changed, rows["email"].they_changed) == (False, True)
    assert rows["phone"].both_changed and not rows["email"].both_changed
    # Mine by default where I changed the field, theirs where only they did.
    assert [rows[k].mine_by_default for k in rows] == [True, False, True]


def test_status_reason_and_note_are_one_choice_in_words() -> None:
    base = conflicts.texts({**ADA, "status": "active"})
    theirs = {**base, "status": "inactive", "inactive_reason": "moved", "inactive_note": "to Leeds"}
    [row] = conflicts.differences(base, theirs, base)
    assert (row.key, row.label, row.theirs, row.mine) == (
        "status", "Client Status", "Inactive (Moved): to Leeds", "Active")
    assert not row.mine_by_default


def test_what_was_typed_is_compared_as_it_would_be_saved(
        clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    detail = clients.get_client(practice["owner"], ada)
    mine = conflicts.typed(typed_from(detail, diagnosis_codes=" f41.1 ", email=" ada@example.org "),
                           "active", None, "a note an active client does not keep")
    assert conflicts.differences(conflicts.opened(detail), conflicts.opened(detail), mine) == []


# ------------------------------------------------------------------- merging


def test_a_merged_save_keeps_their_fields_and_mine_and_audits_no_overwrite_when_none_was_replaced(
        db: Database, clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    owner, manager = practice["owner"], practice["manager"]
    opened = clients.get_client(owner, ada)
    clients.edit_client(manager, ada, opened.row.version, email="ada.l@example.org")
    with pytest.raises(StaleVersion):
        clients.save_profile(owner, ada, opened.row.version, typed_from(opened, phone="555 010 2222"),
                             status="active", base=opened)
    theirs = clients.get_client(owner, ada)
    mark = last_audit_id(db)
    # Keep their email, use my phone: nothing of theirs is replaced.
    clients.save_profile(owner, ada, theirs.row.version,
                         typed_from(opened, email="ada.l@example.org", phone="555 010 2222"),
                         status="active", base=opened)
    client = stored(db, ada)
    assert (client.email, client.phone, client.version) == ("ada.l@example.org", "555 010 2222", 3)
    assert overwrites(db, mark) == []


def test_using_mine_over_a_field_they_changed_is_audited_by_name_never_by_value(
        db: Database, clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    owner, manager = practice["owner"], practice["manager"]
    opened = clients.get_client(owner, ada)
    clients.edit_client(manager, ada, opened.row.version, email="ada.l@example.org",
                        first_name="Augusta")
    mark = last_audit_id(db)
    clients.save_profile(owner, ada, 2, typed_from(opened, email="countess@example.org"),
                         status="active", base=opened)
    client = stored(db, ada)
    # Mine everywhere: their email and first name are both replaced.
    assert (client.email, client.first_name) == ("countess@example.org", "Ada")
    [row] = overwrites(db, mark)
    assert (row.target_id, row.actor_username, row.outcome) == (ada, "owner", Outcome.ALLOWED)
    assert row.details == {"fields": ["first_name", "email"], "opened_version": 1,
                           "overwritten_version": 2}
    for value in ("Augusta", "Ada", "countess", "ada.l@", "example"):
        assert value not in str(row.details)


def test_overwriting_their_status_change_names_status_reason_and_note(
        db: Database, clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    owner, manager = practice["owner"], practice["manager"]
    opened = clients.get_client(owner, ada)
    clients.set_status(manager, ada, "inactive", reason="moved", note="to Leeds")
    mark = last_audit_id(db)
    clients.save_profile(owner, ada, 2, typed_from(opened, phone="555 010 3333"), status="active",
                         base=opened)
    client = stored(db, ada)
    assert (client.status, client.inactive_reason, client.inactive_note) == (ClientStatus.ACTIVE, None, None)
    [row] = overwrites(db, mark)
    assert row.details["fields"] == ["status", "inactive_reason", "inactive_note"]
    assert "Leeds" not in str(row.details)


def test_keeping_their_status_while_changing_a_field_is_no_overwrite(
        db: Database, clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    owner, manager = practice["owner"], practice["manager"]
    opened = clients.get_client(owner, ada)
    clients.set_status(manager, ada, "inactive", reason="moved", note="to Leeds")
    mark = last_audit_id(db)
    clients.save_profile(owner, ada, 2, typed_from(opened, phone="555 010 3333"), status="inactive",
                         reason=InactiveReason.MOVED, note="to Leeds", base=opened)
    client = stored(db, ada)
    assert (client.status, client.inactive_note, client.phone) == (
        ClientStatus.INACTIVE, "to Leeds", "555 010 3333")
    assert overwrites(db, mark) == []


def test_a_save_nobody_raced_is_never_an_overwrite(
        db: Database, clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    opened = clients.get_client(practice["owner"], ada)
    mark = last_audit_id(db)
    clients.save_profile(practice["owner"], ada, opened.row.version,
                         typed_from(opened, email="new@example.org"), status="active", base=opened)
    assert [r.action for r in audit_rows(db, mark)] == ["client.edit"]


def test_a_merged_save_after_a_third_save_is_refused_and_changes_nothing(
        db: Database, clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    owner, manager = practice["owner"], practice["manager"]
    opened = clients.get_client(owner, ada)
    clients.edit_client(manager, ada, 1, email="ada.l@example.org")
    theirs = clients.get_client(owner, ada)
    clients.edit_client(practice["clinician-all"], ada, 2, phone="555 010 9999")  # a third person
    with refused_and_unchanged(db, "owner", StaleVersion, "client.edit") as refused:
        clients.save_profile(owner, ada, theirs.row.version, typed_from(opened, phone="555 010 2222"),
                             status="active", base=opened)
    assert refused.value.current_version == 3
    assert stored(db, ada).phone == "555 010 9999"


def test_a_base_from_another_client_is_refused(
        db: Database, clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    other = clients.add_client(practice["owner"], first_name="Grace", last_name="Hopper")
    wrong = clients.get_client(practice["owner"], other)
    with refused_and_unchanged(db, "owner", InvalidInput, "client.edit"):
        clients.save_profile(practice["owner"], ada, 1, {"phone": "555 010 2222"}, status="active",
                             base=wrong)


# ------------------------------------------------------------------- in words


def test_the_audit_log_says_an_overwrite_in_words_with_the_field_names(
        db: Database, clients: ClientsController, practice: dict[str, Actor], ada: int) -> None:
    owner = practice["owner"]
    opened = clients.get_client(owner, ada)
    clients.edit_client(practice["manager"], ada, 1, email="ada.l@example.org")
    clients.save_profile(owner, ada, 2, typed_from(opened), status="active", base=opened)
    log = AuditLogController(db, AnchorBook("x", Path("/nonexistent")))
    entries = log.entries(owner, AuditFilter(client=f"#{ada}", kind="records"))
    assert "Overwrote someone else's change to Email" in [e.what for e in entries]
    assert describe("client.overwrite", "denied") == "Refused: overwrite someone else's change"
    assert describe("client.overwrite", "allowed", {"fields": ["phone", "status"]}) == (
        "Overwrote someone else's change to Phone, Client Status")
