"""Deleting a client for good (docs/rules.md, "Deletion"): exact name, all or nothing, no trace.

The rows a client owns are found here by walking the foreign keys of
``Base.metadata`` from ``clients`` — directly or through tables such as
appointments and billing documents — not by asking the controller, so a table
added later that holds client data is checked without anyone remembering it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Table, func, or_, select, text

from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController, client_owned_tables
from desktop.controllers.contacts import ContactsController
from desktop.controllers.errors import ConfirmationMismatch, PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.domain.models import (
    AuditEvent,
    Base,
    Client,
    ContactClientDismissal,
    DuplicateDismissal,
    Outcome,
)
from desktop.storage.database import Database, open_database
from tests.controllers.support import audit_rows, last_audit_id, refused_and_unchanged, snapshot
from tests.helpers import PASSWORD, add_appointment, seed_users

CLIENTS = Client.__table__


# ------------------------------------------------------ what belongs to a client


def _pk(table: Table) -> Column[Any]:
    (pk,) = table.primary_key.columns  # every table here has a one-column key
    return pk


def tables_holding_client_data() -> set[str]:
    """Tables that reference ``clients``, directly or through other such tables."""
    found = {CLIENTS.name}
    grew = True
    while grew:
        grew = False
        for table in Base.metadata.sorted_tables:
            if table.name in found:
                continue
            if any(fk.column.table.name in found for fk in table.foreign_keys):
                found.add(table.name)
                grew = True
    return found - {CLIENTS.name}


def owned_rows(db: Database, client_id: int) -> dict[str, set[Any]]:
    """Primary keys of every row reachable from the client through foreign keys.

    The ``duplicate_of`` link between clients is not ownership: another
    profile marked as this one's duplicate is a different person's record.
    """
    owned: dict[str, set[Any]] = {t.name: set() for t in Base.metadata.sorted_tables}
    with db.reading() as s:
        owned[CLIENTS.name] = set(s.scalars(select(CLIENTS.c.id).where(CLIENTS.c.id == client_id)))
        grew = True
        while grew:
            grew = False
            for table in Base.metadata.sorted_tables:
                if table is CLIENTS:
                    continue
                for fk in table.foreign_keys:
                    parent = fk.column.table
                    if not owned[parent.name]:
                        continue
                    referenced = select(fk.column).where(_pk(parent).in_(owned[parent.name]))
                    keys = set(s.scalars(select(_pk(table)).where(fk.parent.in_(referenced))))
                    if keys - owned[table.name]:
                        owned[table.name] |= keys
                        grew = True
    return {name: keys for name, keys in owned.items() if keys}


def rows_by_key(db: Database) -> dict[str, dict[Any, dict[str, Any]]]:
    with db.reading() as s:
        return {
            t.name: {r._mapping[_pk(t).name]: dict(r._mapping) for r in s.execute(select(t))}
            for t in Base.metadata.sorted_tables
        }


# ------------------------------------------------------------------ the world


@dataclass(frozen=True)
class Practice:
    actors: dict[str, Actor]
    doomed: int  # the client to delete
    bystander: int  # another client of the same clinician, sharing a contact
    twin: int  # a profile marked as duplicate of the doomed client
    first: str
    last: str
    email: str
    phone: str


def build_practice(db: Database, actors: dict[str, Actor], first: str = "Zephyrine",
                   last: str = "Quillfeather") -> Practice:
    """Three clients with every kind of record a client can have."""
    owner = actors["owner"]
    clients, contacts, billing = ClientsController(db), ContactsController(db), BillingController(db)
    email, phone = "zq.private@example.org", "555 017 3344"
    # Ids bystander < doomed < twin, so dismissed pairs name the doomed client on either side.
    bystander = clients.add_client(owner, first_name="Barnaby", last_name="Ostrowski",
                                   date_of_birth="1990-01-02", email="barnaby@example.org",
                                   clinician_id="clinician")
    doomed = clients.add_client(owner, first_name=first, last_name=last, preferred_name="Zephy",
                                date_of_birth="1987-06-05", email=email, phone=phone,
                                address="12 Larkspur Lane", clinician_id="clinician")
    twin = clients.add_client(owner, first_name="Zephy", last_name="Quill",
                              date_of_birth="1987-06-05", clinician_id="clinician")

    for client_id in (doomed, bystander, twin):
        add_appointment(db, client_id, dt.datetime(2024, 1, 8, 9, 0))
        add_appointment(db, client_id, dt.datetime(2024, 1, 15, 9, 0))
        add_appointment(db, client_id, dt.datetime(2024, 1, 22, 9, 0), attended=False)
        clients.set_portal_access(owner, client_id, portal=True, messaging=True)
    shared = contacts.add_contact(owner, first_name="Greta", last_name="Holm", phone="555 017 0001")
    own = contacts.add_contact(owner, first_name="Referring", last_name="Provider",
                               email="referrals@example.org")
    contacts.link(owner, doomed, shared, "emergency contact")
    contacts.link(owner, bystander, shared, "guardian")
    contacts.link(owner, doomed, own, "referring provider")

    clients.set_status(owner, doomed, "inactive", reason="moved", note=f"{first} moved away")
    clients.set_status(owner, doomed, "active")
    clients.mark_duplicate(owner, twin, doomed)
    billing.run_billing(owner, through=dt.date(2024, 12, 31))  # bills doomed and bystander
    twin_visit = add_appointment(db, twin, dt.datetime(2024, 2, 1, 9, 0))
    billing.generate_document(owner, twin, [twin_visit], "superbill")
    with db.transaction() as s:
        for a, b in ((bystander, doomed), (doomed, twin), (bystander, twin)):
            s.add(DuplicateDismissal(client_id=a, other_client_id=b, actor_id=owner.user_id))
        s.add(ContactClientDismissal(contact_id=own, client_id=doomed, actor_id=owner.user_id))
    return Practice(actors, doomed, bystander, twin, first, last, email, phone)


@pytest.fixture
def world(db: Database, practice: dict[str, Actor]) -> Practice:
    return build_practice(db, practice)


def _exists(db: Database, client_id: int) -> bool:
    with db.reading() as s:
        return s.get(Client, client_id) is not None


# ---------------------------------------------------------- typing the name


@pytest.mark.parametrize("typed", [
    pytest.param("zephyrine quillfeather", id="wrong-case"),
    pytest.param("Zephyrine QuillFeather", id="one-letter-wrong-case"),
    pytest.param("Zephyrinee Quillfeather", id="extra-letter"),
    pytest.param("Zephyrine Quilfeather", id="missing-letter"),
    pytest.param("Zephyrine Quillfeather ", id="trailing-space"),
    pytest.param(" Zephyrine Quillfeather", id="leading-space"),
    pytest.param("Zephyrine  Quillfeather", id="double-space"),
    pytest.param("Zephyrine\u00a0Quillfeather", id="no-break-space"),
    pytest.param("Quillfeather Zephyrine", id="last-then-first"),
    pytest.param("Zephyrine", id="first-name-only"),
    pytest.param("Quillfeather", id="last-name-only"),
    pytest.param("Zephy Quillfeather", id="preferred-name"),
    pytest.param("", id="nothing"),
])
def test_delete_is_refused_unless_the_name_is_typed_exactly_and_nothing_changes(
        db: Database, world: Practice, typed: str) -> None:
    with refused_and_unchanged(db, "owner", ConfirmationMismatch, "client.delete"):
        ClientsController(db).delete_client(world.actors["owner"], world.doomed, typed)
    assert _exists(db, world.doomed)


def test_delete_is_refused_without_ticking_i_understand_and_nothing_changes(
        db: Database, world: Practice) -> None:
    with refused_and_unchanged(db, "manager", ConfirmationMismatch, "client.delete"):
        ClientsController(db).delete_client(world.actors["manager"], world.doomed,
                                            "Zephyrine Quillfeather", understood=False)
    assert _exists(db, world.doomed)


NAMES = [
    ("Zoë", "Saint-Exupéry"),
    ("Siobhán", "O'Connor-Ní Bhriain"),
    ("D’Arcy", "Ó Súilleabháin"),
    ("Nguyễn", "Thị Minh Khai"),
    ("Мария", "Шостакович"),
    ("Ἀθηνᾶ", "Παλλάδιος"),
    ("美咲", "山田"),
    ("محمد", "الأحمد"),
    ("Ayşe", "Çelik-Öztürk"),
]


def _typed_forms() -> list:  # type: ignore[type-arg]
    cases = []
    for first, last in NAMES:
        shown = f"{first} {last}"
        cases.append(pytest.param(first, last, shown, id=f"{shown}-as-shown"))
        decomposed = unicodedata.normalize("NFD", shown)
        if decomposed != shown:  # only where typing it decomposed is really different
            cases.append(pytest.param(first, last, decomposed, id=f"{shown}-typed-NFD"))
    return cases


@pytest.mark.parametrize(("first", "last", "typed"), _typed_forms())
def test_clinician_with_entire_practice_access_deletes_a_client_by_typing_any_script_exactly(
        db: Database, practice: dict[str, Actor], first: str, last: str, typed: str) -> None:
    owner = practice["owner"]
    client_id = ClientsController(db).add_client(owner, first_name=first, last_name=last)
    keeper = ClientsController(db).add_client(owner, first_name=first, last_name=f"{last} Jr")
    impact = ClientsController(db).delete_client(practice["clinician-all"], client_id, typed)
    assert impact.client_id == client_id
    assert not _exists(db, client_id)
    assert _exists(db, keeper)


def test_a_lookalike_apostrophe_is_not_the_name_as_shown(db: Database,
                                                        practice: dict[str, Actor]) -> None:
    client_id = ClientsController(db).add_client(practice["owner"], first_name="D’Arcy",
                                                 last_name="Byrne")
    with refused_and_unchanged(db, "owner", ConfirmationMismatch, "client.delete"):
        ClientsController(db).delete_client(practice["owner"], client_id, "D'Arcy Byrne")


# ---------------------------------------------------------------------- who


@pytest.mark.parametrize("username", ["biller", "scheduler", "clinician"])
def test_roles_without_delete_permission_are_refused_and_nothing_changes(
        db: Database, world: Practice, username: str) -> None:
    # Even the own-clients clinician to whom the client is assigned.
    actor = world.actors[username]
    controller = ClientsController(db)
    with refused_and_unchanged(db, username, PermissionDenied, "client.delete"):
        controller.delete_client(actor, world.doomed, "Zephyrine Quillfeather")
    with refused_and_unchanged(db, username, PermissionDenied, "client.delete_preview"):
        controller.deletion_impact(actor, world.doomed)
    assert _exists(db, world.doomed)


# ------------------------------------------------------------------- what goes


def test_the_seeded_practice_has_rows_in_every_table_that_holds_client_data(
        db: Database, world: Practice) -> None:
    # If this fails after adding a table, seed it in build_practice: the deletion
    # tests below are only as good as the data they delete.
    owned = owned_rows(db, world.doomed)
    assert set(owned) - {CLIENTS.name} == tables_holding_client_data()


def test_deleting_a_client_leaves_no_row_that_references_them_directly_or_indirectly(
        db: Database, world: Practice) -> None:
    owned = owned_rows(db, world.doomed)
    ClientsController(db).delete_client(world.actors["owner"], world.doomed,
                                        "Zephyrine Quillfeather")
    assert owned_rows(db, world.doomed) == {}
    with db.reading() as s:
        for name, keys in owned.items():
            table = Base.metadata.tables[name]
            assert s.execute(select(func.count()).select_from(table)
                             .where(_pk(table).in_(keys))).scalar_one() == 0, name
            direct = [fk.parent for fk in table.foreign_keys if fk.column.table is CLIENTS]
            if direct and table is not CLIENTS:
                assert s.execute(select(func.count()).select_from(table).where(
                    or_(*(c == world.doomed for c in direct)))).scalar_one() == 0, name


def test_deleting_a_client_leaves_every_other_clients_rows_untouched(
        db: Database, world: Practice) -> None:
    owned = owned_rows(db, world.doomed)
    before = rows_by_key(db)
    ClientsController(db).delete_client(world.actors["owner"], world.doomed,
                                        "Zephyrine Quillfeather")
    after = rows_by_key(db)
    for name, rows in before.items():
        if name in (AuditEvent.__tablename__, "audit_chain_head", "change_counter"):  # bookkeeping, not data
            continue
        expected = {k: v for k, v in rows.items() if k not in owned.get(name, set())}
        got = after[name]
        if name == CLIENTS.name:  # the twin's link changes, checked in its own test
            expected.pop(world.twin)
            got = {k: v for k, v in got.items() if k != world.twin}
        assert got == expected, name
    assert after["contacts"] == before["contacts"]  # contacts are people in their own right


def test_a_profile_marked_duplicate_of_the_deleted_client_loses_the_link_but_keeps_its_data(
        db: Database, world: Practice) -> None:
    doomed_rows = owned_rows(db, world.doomed)
    twin_rows = owned_rows(db, world.twin)
    assert twin_rows["appointments"] and twin_rows["billing_documents"]
    before = rows_by_key(db)["clients"][world.twin]
    assert before["duplicate_of_id"] == world.doomed
    ClientsController(db).delete_client(world.actors["owner"], world.doomed,
                                        "Zephyrine Quillfeather")
    # Only what the two shared goes: the "not the same person" note about the pair.
    shared = {name: keys & doomed_rows.get(name, set()) for name, keys in twin_rows.items()}
    assert {name for name, keys in shared.items() if keys} == {"duplicate_dismissals"}
    assert owned_rows(db, world.twin) == {name: keys - shared[name]
                                          for name, keys in twin_rows.items() if keys - shared[name]}
    after = rows_by_key(db)["clients"][world.twin]
    assert after["duplicate_of_id"] is None
    assert after["version"] == before["version"] + 1  # open editors see it changed
    assert after["change_seq"] > before["change_seq"]  # and open lists take it in
    unchanged = {k for k in before if k not in ("duplicate_of_id", "version", "updated_at", "change_seq")}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


def test_deletion_impact_counts_exactly_what_delete_removes(db: Database, world: Practice) -> None:
    owned = owned_rows(db, world.doomed)
    removed = {name: len(keys) for name, keys in owned.items() if name != CLIENTS.name}
    controller = ClientsController(db)
    preview = controller.deletion_impact(world.actors["owner"], world.doomed)
    assert preview.full_name == "Zephyrine Quillfeather"
    assert {k: v for k, v in preview.counts.items() if v} == removed
    result = controller.delete_client(world.actors["owner"], world.doomed, "Zephyrine Quillfeather")
    assert result.counts == preview.counts
    assert preview.total == sum(removed.values())


def test_the_audit_log_keeps_who_when_and_counts_but_no_name_email_or_phone(
        db: Database, world: Practice) -> None:
    mark = last_audit_id(db)
    impact = ClientsController(db).delete_client(world.actors["clinician-all"], world.doomed,
                                                 "Zephyrine Quillfeather")
    (event,) = [e for e in audit_rows(db, mark) if e.action == "client.delete"]
    assert (event.actor_username, event.target_kind, event.target_id, event.outcome) == (
        "clinician-all", "client", world.doomed, Outcome.ALLOWED)
    assert event.details == {"removed": impact.counts}
    with db.reading() as s:
        everything = repr([tuple(r) for r in s.execute(select(AuditEvent.__table__))]).casefold()
    for secret in (world.first, world.last, world.email, world.phone, "Zephy", "Larkspur",
                   "1987-06-05", "moved away"):
        assert secret.casefold() not in everything, secret


# ------------------------------------------------------------------ all or nothing


def test_a_failure_halfway_through_deleting_leaves_the_client_and_every_row_in_place(
        db: Database, world: Practice, monkeypatch: pytest.MonkeyPatch) -> None:
    original = ClientsController._delete_owned
    deleted: list[str] = []

    def fail_on_third_table(s, table: Table, client_id: int) -> None:  # type: ignore[no-untyped-def]
        if len(deleted) == 2:
            raise RuntimeError("disk full")
        original(s, table, client_id)
        deleted.append(table.name)

    monkeypatch.setattr(ClientsController, "_delete_owned", staticmethod(fail_on_third_table))
    before = snapshot(db, with_audit=True)
    with pytest.raises(RuntimeError, match="disk full"):
        ClientsController(db).delete_client(world.actors["owner"], world.doomed,
                                            "Zephyrine Quillfeather")
    assert len(deleted) == 2  # rows really were deleted inside the transaction
    assert snapshot(db, with_audit=True) == before
    assert len(client_owned_tables()) > 2


# ---------------------------------------------------------- not in the file either


def _file_bytes(db_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in db_path.parent.glob(db_path.name + "*")}


def _secrets(world: Practice) -> list[bytes]:
    return [text.encode() for text in (world.first, world.last, world.first.casefold(),
                                       world.last.casefold(), world.email, "Larkspur")]


def test_on_sqlite_the_deleted_name_is_gone_from_the_database_file_and_its_wal(
        sqlite_db: Database) -> None:
    db = sqlite_db
    db_path = Path(db.engine.url.database or "")
    world = build_practice(db, seed_users(db))
    # Another window (or another process on the laptop) has the same file open.
    other = open_database(f"sqlite:///{db_path}")
    try:
        assert ClientsController(other).list_clients(world.actors["scheduler"], "all")
        files = _file_bytes(db_path)
        assert any(name.endswith("-wal") for name in files)
        for secret in _secrets(world):
            assert any(secret in content for content in files.values()), secret
        ClientsController(db).delete_client(world.actors["owner"], world.doomed,
                                            "Zephyrine Quillfeather")
        assert ClientsController(other).list_clients(world.actors["scheduler"], "all")
        for name, content in _file_bytes(db_path).items():
            for secret in _secrets(world):
                assert secret not in content, f"{secret!r} still in {name}"
        # The bystander, who was never deleted, is of course still on disk.
        assert any(b"Ostrowski" in content for content in _file_bytes(db_path).values())
    finally:
        other.dispose()


def _reader_holds(db_path: Path) -> sqlite3.Connection:
    """A list still streaming rows in another program: a read transaction left open."""
    reader = sqlite3.connect(db_path, check_same_thread=False)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM clients").fetchone()[0] > 0
    return reader


def _assert_erased(db_path: Path, world: Practice) -> None:
    for name, content in _file_bytes(db_path).items():
        for secret in _secrets(world):
            assert secret not in content, f"{secret!r} still in {name}"


def test_on_sqlite_a_reader_held_open_during_the_delete_is_waited_for_then_reported(
        sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop.storage import database

    monkeypatch.setattr(database, "ERASE_WAIT_SECONDS", 0.3)
    db = sqlite_db
    db_path = Path(db.engine.url.database or "")
    world = build_practice(db, seed_users(db))
    told: list[str] = []
    db.while_erasure_waits = lambda: told.append("waiting")
    reader = _reader_holds(db_path)
    try:
        impact = ClientsController(db).delete_client(world.actors["owner"], world.doomed,
                                                     "Zephyrine Quillfeather")
        assert told == ["waiting"]
        assert not impact.erased  # never "deleted permanently" while the data is on disk
        assert db.erase_pending
        reader.rollback()  # the list has finished; the program stays open
        # The next change anyone saves finishes the erasing.
        ClientsController(db).set_status(world.actors["owner"], world.bystander, "inactive",
                                         reason="discharged")
        assert not db.erase_pending
        _assert_erased(db_path, world)
    finally:
        reader.close()


def test_on_sqlite_a_reader_that_lets_go_within_the_wait_lets_the_deletion_finish_erasing(
        sqlite_db: Database) -> None:
    import threading

    db = sqlite_db
    db_path = Path(db.engine.url.database or "")
    world = build_practice(db, seed_users(db))
    reader = _reader_holds(db_path)
    db.while_erasure_waits = lambda: threading.Timer(0.5, reader.rollback).start()
    try:
        impact = ClientsController(db).delete_client(world.actors["owner"], world.doomed,
                                                     "Zephyrine Quillfeather")
        assert impact.erased and not db.erase_pending
        _assert_erased(db_path, world)
    finally:
        reader.close()


def test_on_sqlite_the_change_poll_of_another_process_finishes_a_held_up_erasure(
        sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deleting command has exited; an open window's next poll erases once the reader ends."""
    from desktop.storage import database
    from desktop.storage.watch import ChangeWatcher

    monkeypatch.setattr(database, "ERASE_WAIT_SECONDS", 0.2)
    db = sqlite_db
    db_path = Path(db.engine.url.database or "")
    world = build_practice(db, seed_users(db))
    window = database.open_database(str(db.engine.url))
    watcher = ChangeWatcher(window)
    watcher.changed()
    reader = _reader_holds(db_path)
    try:
        impact = ClientsController(db).delete_client(world.actors["owner"], world.doomed,
                                                     "Zephyrine Quillfeather")
        assert not impact.erased
        db.engine.dispose()  # the command line exits; its last try at closing is held up too
        assert watcher.changed()  # the window sees the deletion...
        assert window.erase_pending  # ...and the mark it left
        reader.rollback()
        reader.close()
        watcher.changed()  # one poll after the reader ended
        assert not window.erase_pending
        _assert_erased(db_path, world)
    finally:
        watcher.close()
        window.dispose()
        reader.close()


def test_on_sqlite_a_kill_between_commit_and_erasing_is_finished_by_the_next_open(
        sqlite_db: Database) -> None:
    import subprocess
    import sys

    db = sqlite_db
    db_path = Path(db.engine.url.database or "")
    world = build_practice(db, seed_users(db))
    db.dispose()
    # Another process deletes and dies right after the commit, before any checkpoint.
    script = (
        "import os, sys\n"
        "from desktop.controllers.clients import ClientsController\n"
        "from desktop.controllers.users import UsersController\n"
        "from desktop.storage import database\n"
        "database.Database.erase_after_delete = lambda self, waited=None: os._exit(9)\n"
        "db = database.open_database(sys.argv[1])\n"
        "owner = UsersController(db).sign_in('owner', sys.argv[2])\n"
        "ClientsController(db).delete_client(owner, int(sys.argv[3]), 'Zephyrine Quillfeather')\n")
    killed = subprocess.run([sys.executable, "-c", script, str(db.engine.url), PASSWORD, str(world.doomed)],
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == 9, killed.stderr
    assert any(any(secret in c for secret in _secrets(world)) for c in _file_bytes(db_path).values())
    reopened = open_database(str(db.engine.url))
    try:
        assert not reopened.erase_pending
        _assert_erased(db_path, world)
        with reopened.reading() as s:
            assert s.execute(text("SELECT count(*) FROM pending_erasure")).scalar_one() == 0
            assert s.get(Client, world.doomed) is None
    finally:
        reopened.dispose()


def test_a_deleted_clients_id_is_never_given_to_the_next_client(db, practice):  # type: ignore[no-untyped-def]
    from desktop.controllers.clients import ClientsController

    owner = practice["owner"]
    clients = ClientsController(db)
    newest = clients.add_client(owner, first_name="Grace", last_name="Hopper")
    clients.delete_client(owner, newest, "Grace Hopper")
    after = clients.add_client(owner, first_name="Barbara", last_name="Liskov")
    # The audit log still names `newest` as deleted; it must not come to mean Barbara.
    assert after > newest


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_on_postgresql_a_deletion_vacuums_the_clients_tables_and_never_claims_erased(
        db: Database, world: Practice) -> None:
    clients = ClientsController(db)
    with db.engine.connect() as conn:
        before = dict(conn.execute(text("SELECT relname, coalesce(vacuum_count, 0) FROM pg_stat_user_tables "
                                        "WHERE relname IN ('clients', 'appointments')")).all())
    impact = clients.delete_client(world.actors["owner"], world.doomed, f"{world.first} {world.last}",
                                   understood=True)
    assert impact.erased is False  # the server's disk keeps the rows until it reuses the space
    assert db.wait_for_vacuum() is True
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        after = dict(conn.execute(text("SELECT relname, vacuum_count FROM pg_stat_user_tables "
                                       "WHERE relname IN ('clients', 'appointments')")).all())
    assert after["clients"] > before["clients"] and after["appointments"] > before["appointments"]
