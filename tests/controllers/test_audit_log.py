"""The audit log as a hash chain: tampering of every kind is caught, on SQLite and PostgreSQL.

The tampering is done as the database's superuser would: straight SQL, with the
append-only triggers (and, where the tampering needs it, the unique index on the
entry number) dropped first.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from desktop.controllers.audit_log import (
    AuditFilter,
    AuditLogController,
    clients_named,
    parse_anchor,
    verdict_text,
)
from desktop.controllers.base import audit
from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.errors import InvalidInput, NotFound, PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.controllers.roster import Roster
from desktop.domain.models import AuditChainHead, AuditEvent, Outcome
from desktop.storage import audit_chain
from desktop.storage.anchors import AnchorBook
from desktop.storage.audit_chain import Anchor, add_queued
from desktop.storage.database import Database, open_database
from tests.controllers.support import as_superuser, refused_and_unchanged

ROLES_WHO_READ = ("owner", "manager")
ROLES_REFUSED = ("clinician-all", "clinician", "biller", "scheduler")


def _log(db: Database, tmp_path: Path) -> AuditLogController:
    return AuditLogController(db, AnchorBook(db.url, tmp_path / "anchors"))


@pytest.fixture
def filled(db: Database, practice: dict[str, Actor]) -> dict[str, Any]:
    """Twelve entries or so: clients added, looked at, made inactive."""
    owner = practice["owner"]
    clients = ClientsController(db)
    ids = [clients.add_client(owner, first_name=f"Client{n}", last_name="Tester") for n in range(4)]
    for client_id in ids:
        clients.get_client(owner, client_id)
        clients.set_status(owner, client_id, "inactive", reason="moved")
    return {"ids": ids}


@pytest.fixture(autouse=True)
def _schema_put_back(db: Database) -> Iterator[None]:
    """The PostgreSQL test database is shared by the session: put back what tampering dropped."""
    yield
    if db.is_postgresql:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.exec_driver_sql("TRUNCATE audit_events, audit_chain_head")
            conn.exec_driver_sql("DROP TABLE IF EXISTS swap_tmp")
            conn.exec_driver_sql("CREATE UNIQUE INDEX IF NOT EXISTS ix_audit_events_seq ON audit_events (seq)")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
            conn.exec_driver_sql("CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
                                 "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")


def _verify(db: Database, anchors: tuple[Anchor, ...] = ()) -> audit_chain.Verdict:
    with db.engine.connect() as conn:
        return audit_chain.verify(conn, anchors)


def _last_seq(db: Database) -> int:
    with db.reading() as s:
        return int(s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0)


def test_an_untouched_log_verifies_and_every_entry_is_numbered_without_gaps(db, filled):  # type: ignore[no-untyped-def]
    verdict = _verify(db)
    assert verdict.intact, verdict
    with db.reading() as s:
        seqs = list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.id)))
        head_seq = s.scalar(select(AuditChainHead.seq))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 12
    assert verdict.entries == len(seqs)
    assert head_seq == len(seqs)


def test_a_changed_field_is_caught_at_its_entry(db, filled):  # type: ignore[no-untyped-def]
    as_superuser(db, "UPDATE audit_events SET action = 'client.delete' WHERE seq = 5")
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason, verdict.entries) == (5, "changed", 4)


def test_a_changed_field_with_its_hash_recomputed_is_caught_by_the_next_entry(db, filled):  # type: ignore[no-untyped-def]
    with db.reading() as s:
        row = s.scalars(select(AuditEvent).where(AuditEvent.seq == 6)).one()
        forged = audit_chain.entry_hash(row.prev_hash, 6, row.occurred_at, row.actor_id, "someone-else",
                                        row.action, row.target_kind, row.target_id, row.outcome.value,
                                        row.details, row.operation_id)
    as_superuser(db, f"UPDATE audit_events SET actor_username = 'someone-else', "
                   f"row_hash = {_blob(db, forged)} WHERE seq = 6")
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason, verdict.entries) == (6, "changed", 5)


def test_a_deleted_middle_entry_is_caught_as_missing(db, filled):  # type: ignore[no-untyped-def]
    as_superuser(db, "DELETE FROM audit_events WHERE seq = 7")
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason) == (7, "missing")


def test_a_deleted_entry_with_the_rest_renumbered_is_caught_as_missing(db, filled):  # type: ignore[no-untyped-def]
    as_superuser(db, "DROP INDEX ix_audit_events_seq", "DELETE FROM audit_events WHERE seq = 7",
               "UPDATE audit_events SET seq = seq - 1 WHERE seq > 7")
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason) == (7, "missing")


def test_an_inserted_entry_is_caught_at_its_place(db, filled):  # type: ignore[no-untyped-def]
    last = _last_seq(db)
    # Made room for at entry 4, the later ones renumbered, and the head moved to match.
    as_superuser(db, "DROP INDEX ix_audit_events_seq",
               "UPDATE audit_events SET seq = seq + 1 WHERE seq >= 4",
               f"UPDATE audit_chain_head SET seq = {last + 1}",
               "INSERT INTO audit_events (seq, prev_hash, row_hash, occurred_at, actor_username, action, "
               "outcome, details) SELECT 4, row_hash, row_hash, occurred_at, 'owner', 'client.view', "
               "'allowed', 'null' FROM audit_events WHERE seq = 3")
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason) == (4, "inserted")


def test_an_inserted_entry_with_a_valid_hash_is_caught_by_the_entry_after_it(db, filled):  # type: ignore[no-untyped-def]
    last = _last_seq(db)
    with db.reading() as s:
        third_hash, third_at = s.execute(select(AuditEvent.row_hash, AuditEvent.occurred_at)
                                         .where(AuditEvent.seq == 3)).one()
        at = third_at + dt.timedelta(microseconds=1)
        forged = audit_chain.entry_hash(third_hash, 4, at, None, "owner", "client.view", None, None,
                                        "allowed", None, None)
    as_superuser(db, "DROP INDEX ix_audit_events_seq",
               "UPDATE audit_events SET seq = seq + 1 WHERE seq >= 4",
               f"UPDATE audit_chain_head SET seq = {last + 1}",
               "INSERT INTO audit_events (seq, prev_hash, row_hash, occurred_at, actor_username, action, "
               f"outcome, details) VALUES (4, {_blob(db, third_hash)}, {_blob(db, forged)}, "
               f"'{audit_chain.moment_text(at)}', 'owner', 'client.view', 'allowed', 'null')")
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason) == (4, "inserted")


def test_a_chain_head_deleted_is_caught_as_entries_that_may_be_missing(db, filled):  # type: ignore[no-untyped-def]
    last = _last_seq(db)
    as_superuser(db, "DELETE FROM audit_chain_head")
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason, verdict.entries) == (last + 1, "missing", last)


def test_an_entry_added_after_the_head_is_caught(db, filled):  # type: ignore[no-untyped-def]
    last = _last_seq(db)
    as_superuser(db, "INSERT INTO audit_events (seq, prev_hash, row_hash, occurred_at, action, outcome, details) "
                   f"SELECT {last + 1}, row_hash, row_hash, occurred_at, 'client.view', 'allowed', 'null' "
                   f"FROM audit_events WHERE seq = {last}")
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason) == (last + 1, "inserted")


@pytest.mark.parametrize("how", ["numbers", "fields", "ids"])
def test_two_entries_swapped_are_caught_as_out_of_order(db, filled, how):  # type: ignore[no-untyped-def]
    if how == "numbers":  # their places in the log exchanged
        statements = ["DROP INDEX ix_audit_events_seq", "UPDATE audit_events SET seq = -1 WHERE seq = 8",
                      "UPDATE audit_events SET seq = 8 WHERE seq = 9", "UPDATE audit_events SET seq = 9 WHERE seq = -1"]
    elif how == "fields":  # what they say exchanged, the chain columns left where they were
        cols = "occurred_at, actor_id, actor_username, action, target_kind, target_id, outcome, details, operation_id"
        statements = [
            "CREATE TABLE swap_tmp AS SELECT seq, " + cols + " FROM audit_events WHERE seq IN (8, 9)",
            *(f"UPDATE audit_events SET {c} = (SELECT {c} FROM swap_tmp WHERE swap_tmp.seq = 17 - audit_events.seq) "
              "WHERE seq IN (8, 9)" for c in cols.split(", ")),
            "DROP TABLE swap_tmp"]
    else:  # stored in each other's place (their row ids exchanged)
        with db.reading() as s:
            id8, id9 = (s.scalar(select(AuditEvent.id).where(AuditEvent.seq == n)) for n in (8, 9))
        statements = ["UPDATE audit_events SET id = -1 WHERE seq = 8",
                      f"UPDATE audit_events SET id = {id8} WHERE seq = 9",
                      f"UPDATE audit_events SET id = {id9} WHERE seq = 8"]
    as_superuser(db, *statements)
    verdict = _verify(db)
    assert (verdict.first_bad, verdict.reason) == (8, "out of order"), verdict


def test_a_log_cut_short_and_its_chain_rebuilt_is_caught_only_by_the_anchor(db, filled, tmp_path, practice):  # type: ignore[no-untyped-def]
    log = _log(db, tmp_path)
    kept = log.anchor(practice["owner"])
    assert kept.kept
    ClientsController(db).get_client(practice["owner"], filled["ids"][0])  # the log goes on after it
    with db.reading() as s:
        cut_at = kept.seq - 3
        new_head = s.scalar(select(AuditEvent.row_hash).where(AuditEvent.seq == cut_at))
    as_superuser(db, f"DELETE FROM audit_events WHERE seq > {cut_at}",
               f"UPDATE audit_chain_head SET seq = {cut_at}, hash = {_blob(db, new_head)}")
    assert _verify(db).intact  # the cut chain is whole in itself: only the anchor can tell
    verdict = log.verify(practice["owner"])
    assert (verdict.first_bad, verdict.reason) == (cut_at + 1, "shorter than the anchor")
    assert verdict.anchor is not None and verdict.anchor.seq == kept.seq
    # An anchor kept on paper and typed back in catches it just the same.
    typed = parse_anchor(kept.text)
    assert _verify(db, (typed,)).reason == "shorter than the anchor"


def test_an_anchor_matched_is_named_with_its_date(db, filled, tmp_path, practice):  # type: ignore[no-untyped-def]
    log = _log(db, tmp_path)
    kept = log.anchor(practice["owner"])
    verdict = log.verify(practice["owner"])
    assert verdict.intact and verdict.anchor is not None and verdict.anchor.seq == kept.seq
    assert verdict_text(verdict).endswith(f"matches the anchor of {kept.taken:%Y-%m-%d %H:%M} UTC.")


def test_a_rewritten_log_that_is_as_long_as_the_anchor_is_caught_at_the_anchor(db, filled, tmp_path, practice):  # type: ignore[no-untyped-def]
    log = _log(db, tmp_path)
    kept = log.anchor(practice["owner"])
    # Every entry's hash recomputed after changing one: a whole, valid, but different chain.
    as_superuser(db, "UPDATE audit_events SET actor_username = 'nobody' WHERE seq = 2")
    with db.reading() as s:
        rows = list(s.execute(select(AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.actor_id,
                                     AuditEvent.actor_username, AuditEvent.action, AuditEvent.target_kind,
                                     AuditEvent.target_id, AuditEvent.outcome, AuditEvent.details,
                                     AuditEvent.operation_id).order_by(AuditEvent.seq)))
    prev, fixes = audit_chain.GENESIS, []
    for row in rows:
        digest = audit_chain.entry_hash(prev, row.seq, row.occurred_at, row.actor_id, row.actor_username,
                                        row.action, row.target_kind, row.target_id, row.outcome.value,
                                        row.details, row.operation_id)
        fixes.append(f"UPDATE audit_events SET prev_hash = {_blob(db, prev)}, row_hash = {_blob(db, digest)} "
                     f"WHERE seq = {row.seq}")
        prev = digest
    as_superuser(db, *fixes, f"UPDATE audit_chain_head SET hash = {_blob(db, prev)}")
    assert _verify(db).intact
    verdict = log.verify(practice["owner"])
    assert (verdict.first_bad, verdict.reason) == (kept.seq, "changed")
    assert verdict.entries == 0  # no earlier anchor vouches for any entry before it


def _blob(db: Database, value: bytes) -> str:
    return f"X'{value.hex()}'" if db.is_sqlite else f"'\\x{value.hex()}'::bytea"


# ---------------------------------------------------------------------- append-only


def test_the_database_refuses_to_change_or_delete_an_audit_entry(db, filled):  # type: ignore[no-untyped-def]
    for statement in ("UPDATE audit_events SET action = 'x' WHERE seq = 1", "DELETE FROM audit_events WHERE seq = 2",
                      "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    if db.is_postgresql:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit_events CASCADE")
    assert _verify(db).intact


def test_deleting_a_client_keeps_their_audit_entries_and_the_chain(db, practice, filled):  # type: ignore[no-untyped-def]
    owner, gone = practice["owner"], filled["ids"][0]
    clients = ClientsController(db)
    clients.delete_client(owner, gone, "Client0 Tester")
    entries = AuditLogController(db, AnchorBook("x", Path("/nonexistent"))).entries(owner, AuditFilter(client=f"#{gone}"))
    assert [e.what for e in entries][:1] == ["Deleted client"]
    assert {e.client for e in entries} == {f"deleted client #{gone}"}
    assert len(entries) >= 4
    assert _verify(db).intact


def test_a_rolled_back_operation_leaves_no_gap(db, practice, filled):  # type: ignore[no-untyped-def]
    before = _last_seq(db)
    with db.reading() as s:
        head_before = s.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one()
    with pytest.raises(RuntimeError), db.transaction() as s:
        audit(s, practice["owner"], "client.view", "client", filled["ids"][0])
        add_queued(s)  # chained and written: the head moved inside this transaction
        assert s.execute(select(AuditChainHead.seq)).scalar() == before + 1
        raise RuntimeError("the operation failed after writing its audit entry")
    with db.reading() as s:
        assert s.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one() == head_before
    ClientsController(db).get_client(practice["owner"], filled["ids"][1])
    assert _last_seq(db) == before + 1
    assert _verify(db).intact


def test_an_entry_written_while_the_log_is_verified_is_no_alarm(db, practice, filled, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    reading = audit_chain._raw_rows

    def another_workstation_writes_first(conn):  # type: ignore[no-untyped-def]
        ClientsController(db).get_client(practice["manager"], filled["ids"][0])  # committed meanwhile
        return reading(conn)

    monkeypatch.setattr(audit_chain, "_raw_rows", another_workstation_writes_first)
    before = _last_seq(db)
    verdict = _log(db, tmp_path).verify(practice["owner"])
    assert verdict.intact, verdict
    assert verdict.entries == before  # the entries as they were when the check began
    assert _last_seq(db) == before + 2  # the look, and the check itself


def test_anchors_of_another_log_at_the_same_place_are_set_aside_and_said(db, practice, filled, tmp_path):  # type: ignore[no-untyped-def]
    log = _log(db, tmp_path)
    kept = log.anchor(practice["owner"])
    # As if another practice had been made at this path before: its first entry was another.
    log.book.record(kept.seq + 50, bytes(32), kept.taken + dt.timedelta(hours=1), first=bytes.fromhex("11" * 32))
    verdict = log.verify(practice["owner"])
    assert verdict.intact and verdict.anchor is not None and verdict.anchor.seq == kept.seq
    assert "1 anchor kept at this place belongs to a log with another first entry" in verdict.note
    assert verdict_text(verdict).endswith("They were not compared.")


@pytest.mark.parametrize("content", ['{"anchors": 5}', "not json", '{"anchors": [{"seq": "x"}, 7]}'])
def test_an_anchors_file_that_cannot_be_read_is_said_and_kept_aside(db, practice, filled, tmp_path, content):  # type: ignore[no-untyped-def]
    log = _log(db, tmp_path)
    log.book.folder.mkdir(parents=True)
    log.book.path.write_text(content)
    verdict = log.verify(practice["owner"])
    assert verdict.intact and ("could not be read" in verdict.note or "not in the expected form" in verdict.note)
    assert log.keep_anchor(practice["owner"]) is True
    assert [p.name for p in log.book.folder.iterdir() if ".unreadable-" in p.name]
    assert len(log.book.anchors()) == 1 and log.book.problem is None


def _write_audited(url: str, username: str, client_id: int, times: int) -> None:
    db = open_database(url)
    try:
        from desktop.controllers.users import actor_for
        from desktop.domain.models import PracticeUser

        with db.reading() as s:
            user = s.scalars(select(PracticeUser).where(PracticeUser.username == username)).one()
            actor = actor_for(user)
        clients = ClientsController(db)
        for n in range(times):
            if n % 2:
                clients.get_client(actor, client_id)
            else:
                clients.set_status(actor, client_id, "active" if n % 4 == 0 else "inactive", reason="moved")
    finally:
        db.dispose()


def test_four_processes_writing_at_once_leave_one_chain_that_verifies(db, practice, filled):  # type: ignore[no-untyped-def]
    url = db.engine.url.render_as_string(hide_password=False)
    before = _last_seq(db)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_audited, args=(url, "owner", client_id, 12))
               for client_id in filled["ids"]]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    verdict = _verify(db)
    assert verdict.intact, verdict
    assert verdict.entries == before + 4 * 12


# ---------------------------------------------------------------------- who may


@pytest.mark.parametrize("username", ROLES_REFUSED)
@pytest.mark.parametrize("operation", ["entries", "verify", "anchor", "who_viewed", "export", "opened"])
def test_only_the_owner_and_managers_read_verify_or_anchor_the_log(db, practice, filled, tmp_path, username,  # type: ignore[no-untyped-def]
                                                                  operation):
    log = _log(db, tmp_path)
    calls = {
        "entries": lambda a: log.entries(a),
        "verify": lambda a: log.verify(a),
        "anchor": lambda a: log.anchor(a),
        "who_viewed": lambda a: log.who_viewed(a, filled["ids"][0]),
        "export": lambda a: log.export(a, None, list),
        "opened": lambda a: log.opened(a),
    }
    with refused_and_unchanged(db, username, PermissionDenied):
        calls[operation](practice[username])
    assert not (tmp_path / "anchors").exists()
    for allowed in ROLES_WHO_READ:
        calls[operation](practice[allowed])


def test_every_role_keeps_an_anchor_but_sees_nothing_of_the_log(db, practice, filled, tmp_path):  # type: ignore[no-untyped-def]
    log = _log(db, tmp_path)
    assert log.keep_anchor(practice["scheduler"]) is True
    [kept] = log.book.anchors()
    assert kept.seq == _last_seq(db)


def test_every_look_at_a_record_is_listed_with_the_viewers_name(db, practice, filled, tmp_path):  # type: ignore[no-untyped-def]
    client_id = filled["ids"][1]
    clients = ClientsController(db)
    clients.get_client(practice["manager"], client_id)
    clients.export_client(practice["clinician-all"], client_id)
    with pytest.raises(PermissionDenied):
        clients.get_client(practice["clinician"], client_id)  # not their client: refused, and listed
    seen = _log(db, tmp_path).who_viewed(practice["owner"], client_id)
    name = {u: practice[u].display_name for u in ("owner", "manager", "clinician-all", "clinician")}
    assert [(e.user, e.what, e.outcome) for e in seen] == [
        (name["clinician"], "Refused: view profile", "denied"),
        (name["clinician-all"], "Exported the record", "allowed"),
        (name["manager"], "Viewed profile", "allowed"),
        (name["owner"], "Viewed profile", "allowed"),
    ]


# ---------------------------------------------------------------------- reading


def test_filters_narrow_the_log_and_pages_go_back_in_time(db, practice, filled, tmp_path):  # type: ignore[no-untyped-def]
    owner, log = practice["owner"], _log(db, tmp_path)
    everything = log.entries(owner, limit=10_000)
    assert [e.seq for e in everything] == sorted((e.seq for e in everything), reverse=True)
    first, second = log.entries(owner, limit=5), log.entries(owner, before=everything[4].seq, limit=5)
    assert [e.seq for e in first + second] == [e.seq for e in everything[:10]]
    status = log.entries(owner, AuditFilter(kind="status"))
    assert len(status) == 4 and {e.what for e in status} == {"Changed status to Inactive"}
    by_name = log.entries(owner, AuditFilter(client="client2 test"))
    assert {e.client for e in by_name} == {"Client2 Tester"} and len(by_name) == 3
    assert log.entries(owner, AuditFilter(client=f"#{filled['ids'][2]}")) == by_name
    assert log.entries(owner, AuditFilter(client=f"#{2**40}")) == []  # beyond any id: nobody
    assert log.entries(owner, AuditFilter(user_id=practice["manager"].user_id)) == []
    assert {e.username for e in log.entries(owner, AuditFilter(username="owner"))} == {"owner"}
    assert log.entries(owner, AuditFilter(outcome=Outcome.DENIED)) == []
    today = dt.datetime.now(dt.UTC).date()
    assert len(log.entries(owner, AuditFilter(since=today - dt.timedelta(days=1), until=today + dt.timedelta(days=1)),
                           limit=10_000)) == len(everything)
    assert log.entries(owner, AuditFilter(until=today - dt.timedelta(days=2))) == []


def test_a_name_looked_up_in_the_windows_list_finds_the_entries_the_database_search_finds(  # type: ignore[no-untyped-def]
        db, practice, filled, tmp_path):
    """The Audit log window looks a typed name up in the list it already holds (a million names
    in milliseconds, where the database reads them all); the entries must be the same."""
    owner, log = practice["owner"], _log(db, tmp_path)
    ContactsController(db).add_contact(owner, first_name="Client2", last_name="Tester")  # a contact: no entries
    roster = Roster(db, owner)
    assert clients_named(roster, AuditFilter(client="client2 test")).client_ids is None  # not read yet
    roster.load()
    for typed in ("client2 test", "TESTER client", "lient1", "nobody at all"):
        named = clients_named(roster, AuditFilter(client=typed))
        assert named.client_ids is not None and named.client == typed
        assert log.entries(owner, named) == log.entries(owner, AuditFilter(client=typed)), typed
    assert clients_named(roster, AuditFilter(client="client2 test")).client_ids == (filled["ids"][2],)
    number = AuditFilter(client=f"#{filled['ids'][1]}")
    assert clients_named(roster, number) == number  # a number is looked up by the database, as before
    with pytest.raises(InvalidInput, match="cannot be typed"):
        clients_named(roster, AuditFilter(client="client\u200b2"))
    # An own-clients clinician's list is not the whole practice: the database is asked.
    mine = Roster(db, practice["clinician"])
    mine.load()
    assert clients_named(mine, AuditFilter(client="tester")).client_ids is None


def test_more_clients_named_than_anyone_reads_is_refused_in_the_same_sentence_either_way(  # type: ignore[no-untyped-def]
        db, practice, tmp_path, monkeypatch):
    owner, log = practice["owner"], _log(db, tmp_path)
    monkeypatch.setattr("desktop.controllers.audit_log.MAX_CLIENT_MATCHES", 3)
    clients = ClientsController(db)
    for n in range(4):
        clients.add_client(owner, first_name=f"Many{n}", last_name="Alike")
    roster = Roster(db, owner)
    roster.load()
    with pytest.raises(InvalidInput) as from_the_list:
        clients_named(roster, AuditFilter(client="alike"))
    with refused_and_unchanged(db, "owner", InvalidInput) as from_the_database:
        log.entries(owner, AuditFilter(client="alike"))
    assert str(from_the_list.value) == str(from_the_database.value) == (
        "More than 3 clients match 'alike'; type more of the name, or the client's number as #12.")
    with refused_and_unchanged(db, "owner", InvalidInput):
        log.entries(owner, AuditFilter(client="alike", client_ids=(1, 2, 3, 4)))


@pytest.mark.parametrize("where, says", [
    (AuditFilter(username="nobody"), "There is no user"),
    (AuditFilter(username="owner\u200b"), "cannot be typed"),
    (AuditFilter(client="\u200b\u200b"), "cannot be typed"),
    (AuditFilter(client="   "), "Type a client"),
    (AuditFilter(client="x" * 500), "longer than"),
    (AuditFilter(kind="gossip"), "no kind of action"),
    (AuditFilter(since=dt.date(2026, 5, 2), until=dt.date(2026, 5, 1)), "after the last"),
])
def test_a_filter_that_makes_no_sense_is_refused_in_one_sentence(db, practice, filled, tmp_path, where, says):  # type: ignore[no-untyped-def]
    with refused_and_unchanged(db, "owner", InvalidInput) as info:
        _log(db, tmp_path).entries(practice["owner"], where)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_a_user_number_larger_than_any_id_is_no_user(db, practice, filled, tmp_path):  # type: ignore[no-untyped-def]
    with refused_and_unchanged(db, "owner", NotFound) as info:
        _log(db, tmp_path).entries(practice["owner"], AuditFilter(user_id=2**40))
    assert str(info.value) == f"There is no user {2**40}."


def test_a_typed_anchor_that_is_not_one_is_refused() -> None:
    for bad in ("", "12", "12:abc", "x" * 400, "12:" + "g" * 64):
        with pytest.raises(InvalidInput):
            parse_anchor(bad)
    anchor = parse_anchor(" 12 : " + "Ab" * 32 + " ")
    assert anchor.seq == 12 and anchor.hash == bytes.fromhex("ab" * 32)

