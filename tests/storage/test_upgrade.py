"""Databases made by the previous release open in place and keep their data.

Each test builds the previous release's schema with its own migrations, fills it
the way that release did (the demo's local-time stamps included), opens it with
this version and checks what a person would see.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, event, inspect, select, text

from desktop.controllers.appointments import AppointmentsController
from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.controllers.roster import Roster
from desktop.domain import clock
from desktop.domain.models import (
    Appointment,
    Attendance,
    BillingDocument,
    BillingItem,
    Client,
    ClientStatus,
    DocumentKind,
)
from desktop.storage.database import (
    SCHEMA_HEAD,
    alembic_config,
    create_database_engine,
    open_database,
)
from tests.controllers.support import NEW_YORK, utc
from tests.helpers import add_appointment, add_services, seed_users
from tests.storage.test_database import fresh_url  # noqa: F401 - the fixture

PREVIOUS_RELEASE = "0001"
OWED_SINCE = ("owes_superbill_since", "owes_statement_since")  # 0009


def make_previous_release(url: str) -> None:
    engine = create_database_engine(url, create=True)
    try:
        command.upgrade(alembic_config(engine), PREVIOUS_RELEASE)
        future = (dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=14)).isoformat(" ")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO clients (first_name, last_name, status, search_key, created_at, updated_at, version)"
                " VALUES ('Ada', 'Lovelace', 'active', 'lovelace ada', :t, :t, 1)"), {"t": future})
    finally:
        engine.dispose()


def test_the_previous_releases_database_upgrades_in_place_and_its_list_follows_changes(fresh_url):  # type: ignore[no-untyped-def]  # noqa: F811
    make_previous_release(fresh_url)
    db = open_database(fresh_url)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
            ada_id, stamp = conn.execute(text("SELECT id, updated_at FROM clients")).one()
            if isinstance(stamp, str):
                stamp = dt.datetime.fromisoformat(stamp)
        assert stamp <= dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=1)
        owner = seed_users(db)["owner"]
        roster = Roster(db, owner)
        roster.load()
        assert [roster.name(s) for s in roster.filter("active")] == ["Lovelace, Ada"]
        ClientsController(db).edit_client(owner, ada_id, 1, last_name="King")
        assert roster.refresh()
        assert [roster.name(s) for s in roster.filter("active")] == ["King, Ada"]
    finally:
        db.dispose()


def test_an_upgraded_database_has_the_tables_columns_and_indexes_of_a_new_one(fresh_url, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from desktop.domain.models import Base

    make_previous_release(fresh_url)
    db = open_database(fresh_url)
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        db.dispose()


def test_the_last_releases_database_keeps_its_users_and_finds_duplicates_at_intake(fresh_url):  # type: ignore[no-untyped-def]  # noqa: F811
    """Revision 0002 was the schema of the last release: its users sign in as before (no
    password to change), and its clients are found by the intake check through keys the
    upgrade filled in."""
    from desktop.controllers.duplicates import DuplicatesController
    from desktop.controllers.users import UsersController, hash_password
    from tests.helpers import PASSWORD

    engine = create_database_engine(fresh_url, create=True)
    try:
        command.upgrade(alembic_config(engine), "0002")
    finally:
        engine.dispose()
    engine = create_database_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO clients (first_name, last_name, status, search_key, email, phone, created_at,"
                " updated_at, version, change_seq) VALUES ('Ada', 'Lovelace', 'active', 'ada lovelace',"
                " ' Ada@Example.org ', '+1 (555) 010-1815', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, 0)"))
            conn.execute(text(
                "INSERT INTO practice_users (username, display_name, role, entire_practice_access, password_hash,"
                " active, created_at) VALUES ('olivia', 'Olivia Owens', 'account_owner', TRUE, :h, TRUE,"
                " CURRENT_TIMESTAMP)"), {"h": hash_password(PASSWORD)})
    finally:
        engine.dispose()
    db = open_database(fresh_url)
    try:
        owner = UsersController(db).sign_in("olivia", PASSWORD)
        assert not owner.must_change_password
        check = DuplicatesController(db).likely_client_duplicates_of
        assert [c.first_name for c in check(owner, {"first_name": "Ada", "last_name": "Lovelace",
                                                     "email": "ada@example.org"})] == ["Ada"]
        assert [c.first_name for c in check(owner, {"first_name": "Ada", "last_name": "Lovelace",
                                                     "phone": "555 010 1815"})] == ["Ada"]
    finally:
        db.dispose()


# ---------------------------------------------------------------- 0004 (the last release) -> head

LAST_RELEASE = "0004"


@pytest.fixture
def computer_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The computer's own time zone is New York's (the one the last release's times were typed in)."""
    monkeypatch.setenv("TZ", "America/New_York")
    clock.computer_zone_name.cache_clear()
    yield
    monkeypatch.undo()
    clock.computer_zone_name.cache_clear()


def _old_appointment(conn: Connection, client_id: int, wall: str, *, attended: bool,
                     manual: bool = False, fee: str = "150.00") -> int:
    return conn.execute(text(
        "INSERT INTO appointments (client_id, clinician_id, start, duration_minutes, service_code, fee,"
        " attended, manual_billing_only) VALUES (:c, NULL, :start, 50, '90834', :fee, :attended, :manual)"
        " RETURNING id"), {"c": client_id, "start": f"{wall}:00", "fee": fee, "attended": attended,
                          "manual": manual}).scalar_one()


def _old_document(conn: Connection, client_id: int, kind: str, appointment_ids: list[int], amount: str) -> int:
    doc = conn.execute(text(
        "INSERT INTO billing_documents (client_id, kind, period_start, period_end, amount, automatic, created_at)"
        " VALUES (:c, :kind, '2026-02-01', '2026-02-02', :amount, TRUE, '2026-02-03 12:00:00') RETURNING id"),
        {"c": client_id, "kind": kind, "amount": amount}).scalar_one()
    for appointment in appointment_ids:
        conn.execute(text("INSERT INTO billing_items (client_id, document_id, appointment_id, kind)"
                          " VALUES (:c, :d, :a, :kind)"), {"c": client_id, "d": doc, "a": appointment, "kind": kind})
    return doc


def _last_release_with_billing(url: str) -> tuple[dict[str, int], int, int]:
    """A 0004 practice with appointments as that release stored them and two documents
    it made; returns the appointments by what they are, and the documents' ids."""
    engine = create_database_engine(url, create=True)
    try:
        command.upgrade(alembic_config(engine), LAST_RELEASE)
        with engine.begin() as conn:
            ada = conn.execute(text(
                "INSERT INTO clients (first_name, last_name, status, search_key, created_at, updated_at, version,"
                " change_seq) VALUES ('Ada', 'Lovelace', 'active', 'ada lovelace', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP, 1, 0) RETURNING id")).scalar_one()
            old = {
                "came_in_summer_time": _old_appointment(conn, ada, "2026-03-10 10:00", attended=True),
                "no_show_in_winter": _old_appointment(conn, ada, "2026-01-15 09:00", attended=False),
                "billed_both": _old_appointment(conn, ada, "2026-02-02 16:30", attended=True, fee="120.00"),
                "billed_superbill_only": _old_appointment(conn, ada, "2026-02-01 11:00", attended=True),
                "held_for_manual": _old_appointment(conn, ada, "2026-01-20 10:00", attended=True, manual=True),
                "typed_in_the_skipped_hour": _old_appointment(conn, ada, "2026-03-08 02:30", attended=True),
                "in_the_repeated_hour": _old_appointment(conn, ada, "2026-11-01 01:30", attended=False),
            }
            superbill = _old_document(conn, ada, "superbill", [old["billed_both"], old["billed_superbill_only"]],
                                      "270.00")
            statement = _old_document(conn, ada, "statement", [old["billed_both"]], "120.00")
    finally:
        engine.dispose()

    return old, superbill, statement


def test_the_last_releases_appointments_and_billing_upgrade_to_attendance_utc_and_owed_flags(
        fresh_url, computer_in_new_york):  # type: ignore[no-untyped-def]  # noqa: F811
    """0004 stored attended yes/no and wall-clock starts typed on this computer, and made
    documents without keys. After the upgrade: attended / no-show, starts in UTC converted
    from this computer's zone, owed flags only on attended appointments not yet billed,
    documents kept, and the next run bills only what was never billed."""
    old, superbill, statement = _last_release_with_billing(fresh_url)
    db = open_database(fresh_url)
    try:
        with db.reading() as s:
            appts = {a.id: (a.attendance, a.start, a.superbill_owed, a.statement_owed, a.manual_billing_only,
                            a.version) for a in s.scalars(select(Appointment))}
            docs = {d.id: (d.kind, d.amount, d.automatic, d.automatic_key) for d in s.scalars(select(BillingDocument))}
            items = sorted((i.document_id, i.appointment_id, i.kind) for i in s.scalars(select(BillingItem)))
        state = {name: appts[i] for name, i in old.items()}
        A, N = Attendance.ATTENDED, Attendance.NO_SHOW
        assert state == {
            "came_in_summer_time": (A, dt.datetime(2026, 3, 10, 14, 0), True, True, False, 1),  # EDT, -4
            "no_show_in_winter": (N, dt.datetime(2026, 1, 15, 14, 0), False, False, False, 1),  # EST, -5
            "billed_both": (A, dt.datetime(2026, 2, 2, 21, 30), False, False, False, 1),
            "billed_superbill_only": (A, dt.datetime(2026, 2, 1, 16, 0), False, True, False, 1),
            "held_for_manual": (A, dt.datetime(2026, 1, 20, 15, 0), False, False, True, 1),
            "typed_in_the_skipped_hour": (A, dt.datetime(2026, 3, 8, 7, 30), True, True, False, 1),  # 03:30 EDT
            "in_the_repeated_hour": (N, dt.datetime(2026, 11, 1, 5, 30), False, False, False, 1),  # the first
        }
        assert docs == {superbill: (DocumentKind.SUPERBILL, Decimal("270.00"), True, None),
                        statement: (DocumentKind.STATEMENT, Decimal("120.00"), True, None)}
        assert items == sorted([(superbill, old["billed_both"], DocumentKind.SUPERBILL),
                                (superbill, old["billed_superbill_only"], DocumentKind.SUPERBILL),
                                (statement, old["billed_both"], DocumentKind.STATEMENT)])

        # The practice keeps the computer's zone (an empty setting) and bills what was never billed.
        add_services(db)
        report = BillingController(db).run_automatic(through="2026-10-31")
        assert report.by_kind == {"superbill": 2, "statement": 2}
        with db.reading() as s:
            billed = sorted(s.execute(select(BillingItem.appointment_id, BillingItem.kind)
                                      .where(BillingItem.document_id.not_in(list(docs)))).all())
        assert billed == sorted([(old["came_in_summer_time"], DocumentKind.SUPERBILL),
                                 (old["came_in_summer_time"], DocumentKind.STATEMENT),
                                 (old["typed_in_the_skipped_hour"], DocumentKind.SUPERBILL),
                                 (old["typed_in_the_skipped_hour"], DocumentKind.STATEMENT),
                                 (old["billed_superbill_only"], DocumentKind.STATEMENT)])
    finally:
        db.dispose()


def test_going_back_to_the_last_release_keeps_the_documents_and_the_wall_clock_times(
        fresh_url, computer_in_new_york):  # type: ignore[no-untyped-def]  # noqa: F811
    old, superbill, statement = _last_release_with_billing(fresh_url)
    open_database(fresh_url).dispose()
    engine = create_database_engine(fresh_url)
    try:
        command.downgrade(alembic_config(engine), LAST_RELEASE)
        with engine.connect() as conn:
            rows = {i: (bool(a), s if isinstance(s, dt.datetime) else dt.datetime.fromisoformat(s))
                    for i, a, s in conn.execute(text("SELECT id, attended, start FROM appointments"))}
            items = conn.execute(text("SELECT count(*) FROM billing_items")).scalar_one()
            docs = conn.execute(text("SELECT count(*) FROM billing_documents")).scalar_one()
            clients = conn.execute(text("SELECT count(*) FROM clients")).scalar_one()
    finally:
        engine.dispose()
    assert rows[old["came_in_summer_time"]] == (True, dt.datetime(2026, 3, 10, 10, 0))
    assert rows[old["no_show_in_winter"]] == (False, dt.datetime(2026, 1, 15, 9, 0))
    assert rows[old["typed_in_the_skipped_hour"]] == (True, dt.datetime(2026, 3, 8, 3, 30))
    assert (clients, len(rows), items, docs) == (1, len(old), 3, 2)


# ---------------------------------------------------------------- 0005 -> head (0006: indexes)

INDEXES_ONLY_SINCE = "0005"
JULY_FIRST = dt.date(2026, 7, 1)


def _indexes(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's indexes: name, columns, unique, and a partial index's condition."""
    db = open_database(url, upgrade=False)
    try:
        with db.engine.connect() as conn:
            inspector = inspect(conn)
            return {table: sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]),
                                   tuple(sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items())))
                                  for i in inspector.get_indexes(table))
                    for table in inspector.get_table_names()}
    finally:
        db.dispose()


@contextlib.contextmanager
def _another_database(url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same back end as ``url``."""
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'another' / 'caseload.db'}"
        return
    from tests.conftest import empty_pg_database

    with empty_pg_database(url) as other:
        yield other


@contextlib.contextmanager
def _readable_by_this_version(url: str) -> Iterator[None]:
    """This version's models map a column that 0007 added, the audit chain's columns and head
    (0008) and the clients' owed-since stamps (0009): lent to an older schema for as long as it
    is written or read through them, and taken back afterwards."""
    engine = create_database_engine(url)
    blob = "BYTEA" if engine.dialect.name == "postgresql" else "BLOB"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE practice_settings ADD COLUMN idle_lock_minutes INTEGER "
                                 "NOT NULL DEFAULT 10")
            for column, kind in (("seq", "BIGINT"), ("prev_hash", blob), ("row_hash", blob)):
                conn.exec_driver_sql(f"ALTER TABLE audit_events ADD COLUMN {column} {kind}")
            conn.exec_driver_sql(f"CREATE TABLE audit_chain_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, "
                                 f"hash {blob} NOT NULL)")
            for column in OWED_SINCE:
                conn.exec_driver_sql(f"ALTER TABLE clients ADD COLUMN {column} TIMESTAMP")
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE practice_settings DROP COLUMN idle_lock_minutes")
            for column in ("seq", "prev_hash", "row_hash"):
                conn.exec_driver_sql(f"ALTER TABLE audit_events DROP COLUMN {column}")
            conn.exec_driver_sql("DROP TABLE audit_chain_head")
            for column in OWED_SINCE:
                conn.exec_driver_sql(f"ALTER TABLE clients DROP COLUMN {column}")
        engine.dispose()


def _practice_at_0005(url: str) -> dict[str, Any]:
    """A 0005 practice (its tables are this version's, less two indexes) with a busy first of
    July in New York: two clients at 09:00 (booked in this order), one without a clinician and
    inactive, one billed, one named in Chinese."""
    engine = create_database_engine(url, create=True)
    try:
        command.upgrade(alembic_config(engine), INDEXES_ONLY_SINCE)
    finally:
        engine.dispose()
    db = open_database(url, upgrade=False)
    try:
        with _readable_by_this_version(url):
            actors = seed_users(db)
            add_services(db, time_zone=NEW_YORK)
            owner = actors["owner"]
            clients = ClientsController(db)
            ines = clients.add_client(owner, first_name="Ines", last_name="Harrow", clinician_id="clinician")
            tobias = clients.add_client(owner, first_name="Tobias", last_name="Wren", clinician_id="clinician-all")
            una = clients.add_client(owner, first_name="Una", last_name="Field")
            li = clients.add_client(owner, first_name="小龍", last_name="李")
            booked = {
                "tobias_9": add_appointment(db, tobias, utc("2026-07-01 09:00"), fee="120.00",
                                            clinician_id=actors["clinician-all"].user_id),
                "ines_9": add_appointment(db, ines, utc("2026-07-01 09:00"), clinician_id=actors["clinician"].user_id),
                "una_8": add_appointment(db, una, utc("2026-07-01 08:00"), attended=False),
                "li_17": add_appointment(db, li, utc("2026-07-01 17:30"), fee="99.99"),
                "ines_next_day": add_appointment(db, ines, utc("2026-07-02 00:30")),
            }
            with db.transaction() as s:
                s.get(Client, una).status = ClientStatus.INACTIVE  # type: ignore[union-attr]
                doc = BillingDocument(client_id=ines, kind=DocumentKind.SUPERBILL, period_start=JULY_FIRST,
                                      period_end=JULY_FIRST, amount=Decimal("150.00"), automatic=False)
                s.add(doc)
                s.flush()
                s.add(BillingItem(client_id=ines, document_id=doc.id, appointment_id=booked["ines_9"],
                                  kind=DocumentKind.SUPERBILL))
            return {"owner": owner, "booked": booked, "day": AppointmentsController(db).day(owner, JULY_FIRST)}
    finally:
        db.dispose()


def test_a_0005_database_gains_the_day_and_month_indexes_in_place_and_shows_the_same_day(
        fresh_url, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    old = _practice_at_0005(fresh_url)
    indexes_0005 = _indexes(fresh_url)
    db = open_database(fresh_url)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
        day = AppointmentsController(db).day(old["owner"], JULY_FIRST)
    finally:
        db.dispose()

    # The same day, row for row, and as a person would read it.
    assert day == old["day"]
    b = old["booked"]
    assert [(r.id, r.start.strftime("%H:%M"), r.client_name, r.client_status, r.clinician_name, r.fee, r.billed,
             r.attendance) for r in day.rows] == [
        (b["una_8"], "08:00", "Una Field", ClientStatus.INACTIVE, "", Decimal("150.00"), False, Attendance.NO_SHOW),
        (b["tobias_9"], "09:00", "Tobias Wren", ClientStatus.ACTIVE, "Dr. Alma Reyes", Decimal("120.00"), False,
         Attendance.ATTENDED),
        (b["ines_9"], "09:00", "Ines Harrow", ClientStatus.ACTIVE, "Dr. Colin Park", Decimal("150.00"), True,
         Attendance.ATTENDED),
        (b["li_17"], "17:30", "李小龍", ClientStatus.ACTIVE, "", Decimal("99.99"), False, Attendance.ATTENDED),
    ]
    assert day.rows[1].service_description == "Psychotherapy, 45 minutes"

    # The day's and the month's indexes added, the owed flags' client first, the period's
    # start alone gone: exactly the indexes of a practice created at this version.
    upgraded = _indexes(fresh_url)
    added = {t: sorted(set(upgraded[t]) - set(indexes_0005.get(t, []))) for t in upgraded}
    removed = {t: sorted(set(indexes_0005[t]) - set(upgraded.get(t, []))) for t in indexes_0005}
    assert {t: [i[:3] for i in found] for t, found in added.items() if found} == {
        "appointments": [("ix_appointments_day", ("start", "id", "client_id", "clinician_id", "duration_minutes",
                                                  "service_code", "fee", "attendance", "version",
                                                  "manual_billing_only"), False),
                         ("ix_appointments_statement_owed", ("client_id", "start"), False),
                         ("ix_appointments_superbill_owed", ("client_id", "start"), False)],
        # (0010: and the document's client, under a new name.)
        "billing_documents": [("ix_billing_documents_period", ("period_end", "period_start", "client_id"), False)],
        # 0008: the audit log window's filters, newest first, and the chain's numbers.
        "audit_events": [("ix_audit_action_seq", ("action", "seq"), False),
                         ("ix_audit_actor_seq", ("actor_id", "seq"), False),
                         ("ix_audit_events_seq", ("seq",), True),
                         ("ix_audit_outcome_seq", ("outcome", "seq"), False),
                         ("ix_audit_target_seq", ("target_kind", "target_id", "seq"), False)],
        # 0009: where the billing run starts.
        "clients": [("ix_clients_owes_statement", ("status", "owes_statement_since"), False),
                    ("ix_clients_owes_superbill", ("status", "owes_superbill_since"), False)],
    }
    assert {t: [i[:3] for i in found] for t, found in removed.items() if found} == {
        "appointments": [("ix_appointments_statement_owed", ("start", "client_id"), False),
                         ("ix_appointments_superbill_owed", ("start", "client_id"), False)],
        "billing_documents": [("ix_billing_documents_period_start", ("period_start",), False)],
        "audit_events": [("ix_audit_target", ("target_kind", "target_id"), False)],
    }
    with _another_database(fresh_url, tmp_path) as new_url:
        open_database(new_url, create=True).dispose()
        assert _indexes(new_url) == upgraded

    # Going back drops them again and keeps every row.
    engine = create_database_engine(fresh_url)
    try:
        command.downgrade(alembic_config(engine), INDEXES_ONLY_SINCE)
    finally:
        engine.dispose()
    assert _indexes(fresh_url) == indexes_0005
    db = open_database(fresh_url, upgrade=False)
    try:
        with _readable_by_this_version(fresh_url):
            assert AppointmentsController(db).day(old["owner"], JULY_FIRST) == old["day"]
    finally:
        db.dispose()


# ---------------------------------------------------------------- migrating SQLite with foreign keys off

def _migrations_with(tmp_path: Path, revision: str, body: str) -> Any:
    """Caseload's migrations plus one more after the head, in a copy: its configuration."""
    from desktop.storage.database import MIGRATIONS

    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / f"{revision}_test.py").write_text(
        f'revision = "{revision}"\ndown_revision = "{SCHEMA_HEAD}"\nbranch_labels = None\ndepends_on = None\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n\ndef upgrade():\n"
        + "".join(f"    {line}\n" for line in body.strip().splitlines())
        + "\n\ndef downgrade():\n    pass\n")
    cfg = alembic_config()
    cfg.set_main_option("script_location", str(folder))
    return cfg


def _billed_practice(tmp_path: Path) -> tuple[str, int]:
    url = f"sqlite:///{tmp_path / 'practice.db'}"
    db = open_database(url, create=True)
    try:
        owner = seed_users(db)["owner"]
        ada = ClientsController(db).add_client(owner, first_name="Ada", last_name="Lovelace")
        appointment = add_appointment(db, ada, dt.datetime(2026, 3, 2, 15, 0))
        with db.transaction() as s:
            doc = BillingDocument(client_id=ada, kind=DocumentKind.SUPERBILL, period_start=dt.date(2026, 3, 2),
                                  period_end=dt.date(2026, 3, 2), amount=Decimal("150.00"), automatic=False)
            s.add(doc)
            s.flush()
            s.add(BillingItem(client_id=ada, document_id=doc.id, appointment_id=appointment,
                              kind=DocumentKind.SUPERBILL))
    finally:
        db.dispose()
    return url, appointment


def _count(url: str, table: str) -> int:
    db = open_database(url, upgrade=False)
    try:
        with db.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        db.dispose()


def test_a_sqlite_table_rebuilt_by_a_migration_keeps_the_rows_that_refer_to_it(tmp_path: Path) -> None:
    """Batch mode copies ``appointments`` and drops the old one: with foreign keys on, the drop
    would delete every billing item. After the migration the pooled connection has them on again."""
    url, _ = _billed_practice(tmp_path)
    cfg = _migrations_with(tmp_path, "t001", """
with op.batch_alter_table("appointments", recreate="always") as batch_op:
    batch_op.alter_column("duration_minutes", existing_type=sa.Integer(), nullable=False)
""")
    engine = create_database_engine(url)
    seen: list[tuple[Any, int]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def peek(_conn, cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("DROP TABLE APPOINTMENTS"):
            seen.append((cursor.connection, cursor.connection.execute("PRAGMA foreign_keys").fetchone()[0]))

    try:
        cfg.attributes["engine"] = engine
        command.upgrade(cfg, "t001")
        [(used, foreign_keys)] = seen
        assert foreign_keys == 0
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection is used  # the migration's, back from the pool
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
    assert (_count(url, "appointments"), _count(url, "billing_items"), _count(url, "billing_documents")) == (1, 1, 1)


def test_a_sqlite_migration_that_would_leave_references_to_missing_rows_is_refused(tmp_path: Path) -> None:
    url, _ = _billed_practice(tmp_path)
    cfg = _migrations_with(tmp_path, "t002", 'op.execute("DELETE FROM appointments")')
    engine = create_database_engine(url)
    try:
        cfg.attributes["engine"] = engine
        with pytest.raises(RuntimeError, match=r"left 1 references to missing rows .*billing_items row \d+ "
                                               r"refers to a missing appointments row"):
            command.upgrade(cfg, "t002")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
    finally:
        engine.dispose()
    assert (_count(url, "appointments"), _count(url, "billing_items")) == (1, 1)


# ---------------------------------------------------------------- 0006 -> head (0007: idle lock, sign-in attempts)

def test_a_0006_practice_keeps_its_settings_and_gains_the_idle_lock_and_the_attempts_table(
        fresh_url):  # type: ignore[no-untyped-def]  # noqa: F811
    from desktop.controllers.practice import Practice
    from desktop.controllers.settings import SettingsController

    engine = create_database_engine(fresh_url, create=True)
    try:
        command.upgrade(alembic_config(engine), "0006")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO practice_settings (id, name, address, phone, tax_id, npi, time_zone, "
                              "version) VALUES (1, 'Lakeside', '', '', '', '', 'America/New_York', 3)"))
    finally:
        engine.dispose()
    db = open_database(fresh_url)
    try:
        actors = seed_users(db)
        found = SettingsController(db).settings(actors["owner"])
        assert (found.name, found.time_zone, found.version, found.idle_lock_minutes) == (
            "Lakeside", "America/New_York", 3, 10)
        saved = SettingsController(db).save(actors["owner"], 3, {"name": "Lakeside", "idle_lock_minutes": "25"}, [])
        assert saved.idle_lock_minutes == 25
        practice = Practice(db)
        for _ in range(2):
            with pytest.raises(Exception, match="Wrong username or password"):
                practice.access.sign_in("owner", "not the password")
        if db.is_postgresql:  # a server counts failures in the new table (a file counts them beside it)
            with db.engine.connect() as conn:
                assert conn.execute(text("SELECT failures FROM sign_in_attempts")).scalar() == 2
    finally:
        db.dispose()
    engine = create_database_engine(fresh_url)
    try:
        command.downgrade(alembic_config(engine), "0006")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name, version FROM practice_settings")).one() == ("Lakeside", 4)
            assert "sign_in_attempts" not in inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_a_0007_practice_has_its_audit_rows_chained_in_place_and_the_log_verifies(
        fresh_url):  # type: ignore[no-untyped-def]  # noqa: F811
    from desktop.controllers.audit_log import AuditFilter, AuditLogController
    from desktop.storage.anchors import AnchorBook
    from desktop.storage.audit_chain import verify

    engine = create_database_engine(fresh_url, create=True)
    try:
        command.upgrade(alembic_config(engine), "0007")
        with engine.begin() as conn:
            # As the last release wrote them: json.dumps's own spacing, ids in the order written.
            for n in range(5):
                conn.execute(text(
                    "INSERT INTO audit_events (actor_username, action, target_kind, target_id, outcome, details, "
                    "occurred_at) VALUES ('owner', :a, 'client', 7, :o, :d, :t)"),
                    {"a": "client.set_status" if n % 2 else "client.view", "o": "allowed" if n < 4 else "denied",
                     "d": '{"to": "inactive", "from": "active"}' if n % 2 else "null",
                     "t": f"2026-10-0{n + 1} 09:00:00.000000"})
    finally:
        engine.dispose()
    db = open_database(fresh_url)
    try:
        with db.engine.connect() as conn:
            assert verify(conn).intact
            assert conn.execute(text("SELECT min(seq), max(seq), count(*) FROM audit_events")).one() == (1, 5, 5)
        actors = seed_users(db)
        ClientsController(db).add_client(actors["owner"], first_name="New", last_name="Entry")
        log = AuditLogController(db, AnchorBook(fresh_url, Path("/nonexistent")))
        entries = log.entries(actors["owner"], AuditFilter(client="#7"))
        assert [e.what for e in entries] == ["Refused: view profile", "Changed status to Inactive", "Viewed profile",
                                             "Changed status to Inactive", "Viewed profile"]
        assert entries[0].client == "deleted client #7"
        with db.engine.connect() as conn:
            assert verify(conn).entries == 6 and verify(conn).intact
        with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events WHERE seq = 1"))
    finally:
        db.dispose()
    engine = create_database_engine(fresh_url)
    try:
        command.downgrade(alembic_config(engine), "0007")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 6
            conn.execute(text("DELETE FROM audit_events WHERE id = 1"))  # the last release's own rules again
            assert "audit_chain_head" not in inspect(conn).get_table_names()
    finally:
        engine.dispose()


# ---------------------------------------------------------------- 0008 -> head (0009: owed-since stamps)

def _booked_as_the_last_release_did(conn: Connection, client_id: int, start: dt.datetime, superbill: bool,
                                    statement: bool) -> None:
    """An attended appointment written as 0008's Caseload wrote one: its owed flags, no stamps."""
    conn.execute(text(
        "INSERT INTO appointments (client_id, start, duration_minutes, service_code, fee, attendance, "
        "manual_billing_only, superbill_owed, statement_owed, version) VALUES (:c, :start, 45, "
        "'90834', 140, 'attended', :no, :sb, :st, 1)"),
        {"c": client_id, "start": start, "no": False, "sb": superbill, "st": statement})


def test_a_0008_practice_gains_the_owed_since_stamps_from_its_owed_flags_and_bills_as_before(
        fresh_url):  # type: ignore[no-untyped-def]  # noqa: F811
    """A practice the last release billed up to a point: Ada (active) still owes a superbill for
    March and statements for March and April; Bob (inactive) owes both for March; Cy owes nothing."""
    engine = create_database_engine(fresh_url, create=True)
    try:
        command.upgrade(alembic_config(engine), "0008")
        with engine.begin() as conn:
            ids = {}
            for name, status in (("Ada", "active"), ("Bob", "inactive"), ("Cy", "active")):
                ids[name] = conn.execute(text(
                    "INSERT INTO clients (first_name, last_name, status, search_key, created_at, updated_at, "
                    "version, change_seq) VALUES (:n, 'Example', :s, :k, :t, :t, 1, 0) RETURNING id"),
                    {"n": name, "s": status, "k": f"example {name.lower()}",
                     "t": dt.datetime(2026, 1, 5, 9)}).scalar_one()
            for name, start, superbill, statement in (
                    ("Ada", dt.datetime(2026, 3, 9, 15), True, True),
                    ("Ada", dt.datetime(2026, 2, 2, 15), False, False),  # billed in full long ago
                    ("Ada", dt.datetime(2026, 4, 6, 15), False, True),
                    ("Bob", dt.datetime(2026, 3, 16, 15), True, True),
                    ("Cy", dt.datetime(2026, 3, 17, 15), False, False)):
                _booked_as_the_last_release_did(conn, ids[name], start, superbill, statement)
    finally:
        engine.dispose()

    db = open_database(fresh_url)
    try:
        with db.reading() as s:
            stamped = {name: (superbill, statement) for name, superbill, statement in s.execute(
                select(Client.first_name, Client.owes_superbill_since, Client.owes_statement_since))}
        assert stamped == {"Ada": (dt.datetime(2026, 3, 9, 15), dt.datetime(2026, 3, 9, 15)),
                           "Bob": (dt.datetime(2026, 3, 16, 15), dt.datetime(2026, 3, 16, 15)),
                           "Cy": (None, None)}
        add_services(db, time_zone=NEW_YORK)
        report = BillingController(db).run_automatic(through="2026-04-30")
        # Ada's March superbill and her March and April statements; Bob skipped while inactive.
        assert (report.by_kind, report.inactive_clients_skipped) == ({"superbill": 1, "statement": 2}, 1)
        with db.reading() as s:
            assert s.execute(select(Client.owes_superbill_since, Client.owes_statement_since)
                             .where(Client.first_name == "Ada")).one() == (None, None)
        assert BillingController(db).run_automatic(through="2026-04-30").documents_created == 0
        # A workstation still running the last release (it opened the file before this one
        # upgraded it) books Cy an attended visit, knowing nothing of the stamps: the database
        # stamps it, and the next run bills it.
        with db.engine.begin() as conn:
            _booked_as_the_last_release_did(conn, ids["Cy"], dt.datetime(2026, 4, 20, 15), True, True)
        assert BillingController(db).run_automatic(through="2026-04-30").by_kind == {"superbill": 1, "statement": 1}
    finally:
        db.dispose()

    engine = create_database_engine(fresh_url)
    try:
        command.downgrade(alembic_config(engine), "0008")
        with engine.connect() as conn:
            assert not {"owes_superbill_since", "owes_statement_since"} & {
                c["name"] for c in inspect(conn).get_columns("clients")}
            assert conn.execute(text("SELECT count(*) FROM clients")).scalar() == 3
            assert conn.execute(text("SELECT count(*) FROM billing_documents")).scalar() == 5
            conn.execute(text("UPDATE appointments SET superbill_owed = superbill_owed"))  # no trigger left
    finally:
        engine.dispose()


# ---------------------------------------------------------------- 0009 -> head (0010: a period's clients)

@contextlib.contextmanager
def _gone_back_to(url: str, revision: str) -> Iterator[Connection]:
    """A connection to the practice at ``url`` once migrated back to ``revision``."""
    engine = create_database_engine(url)
    try:
        command.downgrade(alembic_config(engine), revision)
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _plan(conn: Connection, statement: str, parameters: Any) -> str:
    return " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))


def test_a_0009_practice_names_a_large_months_clients_from_its_period_index_and_can_go_back(
        fresh_url, monkeypatch):  # type: ignore[no-untyped-def]  # noqa: F811
    """A practice the last release billed: the period index gains the client in place, a large
    month's clients are named from it alone (SQLite's plan), its first rows and whole month read
    as before; going back restores 0009's index and keeps every document."""
    engine = create_database_engine(fresh_url, create=True)
    try:
        command.upgrade(alembic_config(engine), "0009")
    finally:
        engine.dispose()
    db = open_database(fresh_url, upgrade=False)  # 0009's tables are the models' (only an index differs)
    try:
        add_services(db, time_zone=NEW_YORK)
        owner = seed_users(db)["owner"]
        for first, last in (("Ada", "Lovelace"), ("Bob", "Marley"), ("Cy", "Young")):
            cid = ClientsController(db).add_client(owner, first_name=first, last_name=last)
            add_appointment(db, cid, utc("2026-04-06 14:00"), fee="90.00")
        BillingController(db).run_automatic(through="2026-04-30")
    finally:
        db.dispose()
    assert ("ix_billing_documents_period_end", ("period_end", "period_start"), False) in [
        i[:3] for i in _indexes(fresh_url)["billing_documents"]]

    db = open_database(fresh_url)  # upgraded in place
    try:
        found = [i[:3] for i in _indexes(fresh_url)["billing_documents"]]
        assert ("ix_billing_documents_period", ("period_end", "period_start", "client_id"), False) in found
        assert "ix_billing_documents_period_end" not in [i[0] for i in found]
        monkeypatch.setattr("desktop.controllers.billing.FIRST_SCREEN_FROM", 2)
        monkeypatch.setattr("desktop.controllers.billing.FIRST_CLIENTS", 1)
        names: list[tuple[str, Any]] = []

        def noted(conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
            if statement.lstrip().startswith("SELECT clients.id, clients.first_name"):
                names.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", noted)
        firsts: list[Any] = []
        whole = BillingController(db).document_table(owner, month="2026-04", first=firsts.append)
        event.remove(db.engine, "before_cursor_execute", noted)
        assert [firsts[0].row(i).client_name for i in range(len(firsts[0]))] == ["Ada Lovelace"] * 2
        assert sorted(whole.row(i).client_name for i in range(len(whole))) == [
            "Ada Lovelace", "Ada Lovelace", "Bob Marley", "Bob Marley", "Cy Young", "Cy Young"]
        if db.is_sqlite:  # (PostgreSQL's plan depends on its statistics and on vacuuming)
            with db.engine.connect() as conn:
                assert "COVERING INDEX ix_billing_documents_period " in _plan(conn, *names[0]) + " "
    finally:
        db.dispose()

    with _gone_back_to(fresh_url, "0009") as conn:
        indexes = {i["name"]: tuple(i["column_names"]) for i in inspect(conn).get_indexes("billing_documents")}
        assert indexes["ix_billing_documents_period_end"] == ("period_end", "period_start")
        assert "ix_billing_documents_period" not in indexes
        assert conn.execute(text("SELECT count(*) FROM billing_documents")).scalar() == 6
