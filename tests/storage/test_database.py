"""SPEC §4 Storage: where the database is, how SQLite is set up, and schema versions.

The first start creates and migrates the database; later starts leave an
up-to-date one alone; a database written by a newer Caseload is refused with a
clear message and not touched. Both back ends, real servers, no mocks of the
database itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from desktop.controllers.errors import SchemaTooNew
from desktop.domain.models import AuditChainHead, AuditEvent, Base
from desktop.storage import audit_chain, database
from desktop.storage.database import (
    ENV_URL,
    Database,
    head_revision,
    open_database,
    resolve_url,
)
from tests.conftest import empty_pg_database
from tests.helpers import seed_users

FUTURE_REVISION = "f7e3a91c0d2b"  # what a newer Caseload's migration would be called


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database that does not exist yet (SQLite) or is empty (PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path / "first start" / "caseload.db"
        assert not path.exists()
        yield f"sqlite:///{path}"
        return
    with empty_pg_database(request.getfixturevalue("pg_url")) as url:
        yield url


def _revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _state(url: str) -> dict[str, Any]:
    """Everything a refused or idle open could have changed, read without migrating."""
    db = open_database(url, upgrade=False)
    try:
        with db.engine.connect() as conn:
            inspector = inspect(conn)
            tables = sorted(inspector.get_table_names())
            state: dict[str, Any] = {"tables": tables}
            for name in tables:
                state[f"{name}.columns"] = [c["name"] for c in inspector.get_columns(name)]
                state[f"{name}.indexes"] = sorted(i["name"] or "" for i in inspector.get_indexes(name))
                state[f"{name}.rows"] = sorted(map(repr, conn.execute(text(f'SELECT * FROM "{name}"'))))
        return state
    finally:
        db.dispose()


def _file_digest(url: str) -> str | None:
    if not url.startswith("sqlite"):
        return None
    return hashlib.sha256(Path(url.removeprefix("sqlite:///")).read_bytes()).hexdigest()


# ------------------------------------------------------------------ SQLite setup


def test_every_sqlite_connection_uses_wal_foreign_keys_and_secure_delete(
        sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as first, sqlite_db.engine.connect() as second:
        for conn in (first, second):
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_sqlite_refuses_a_row_that_points_at_a_missing_client(sqlite_db: Database) -> None:
    with pytest.raises(IntegrityError), sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO status_changes (client_id, from_status, to_status, changed_at) "
            "VALUES (424242, 'active', 'inactive', '2024-01-01 00:00:00')")


# --------------------------------------------------------------- schema versions


def test_first_start_creates_the_database_and_migrates_it_to_head(fresh_url: str) -> None:
    db = open_database(fresh_url, create=True)
    try:
        assert _revision(db) == head_revision()
        with db.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= set(Base.metadata.tables)
            # The migrations build exactly what the models describe.
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        seed_users(db)  # and it is usable at once
    finally:
        db.dispose()
    if fresh_url.startswith("sqlite"):
        assert Path(fresh_url.removeprefix("sqlite:///")).is_file()


def test_a_database_from_a_newer_caseload_is_refused_clearly_and_left_unchanged(
        fresh_url: str) -> None:
    db = open_database(fresh_url, create=True)
    seed_users(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE_REVISION})
    db.dispose()
    before, digest = _state(fresh_url), _file_digest(fresh_url)

    with pytest.raises(SchemaTooNew) as refusal:
        open_database(fresh_url)

    message = str(refusal.value)
    assert "newer" in message and "Caseload" in message and FUTURE_REVISION in message
    if fresh_url.startswith("postgresql"):  # a shared server: this workstation is the one to update
        assert "update Caseload on this workstation" in message
    assert "nothing was changed" in message
    assert _state(fresh_url) == before
    assert _file_digest(fresh_url) == digest


def test_reopening_an_up_to_date_database_changes_nothing(
        fresh_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = open_database(fresh_url, create=True)
    seed_users(db)
    db.dispose()
    before = _state(fresh_url)

    def no_upgrade(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an up-to-date database was migrated again")

    import alembic.command

    monkeypatch.setattr(alembic.command, "upgrade", no_upgrade)
    again = open_database(fresh_url)
    try:
        assert _revision(again) == head_revision()
    finally:
        again.dispose()
    assert _state(fresh_url) == before


def test_the_test_databases_of_both_back_ends_are_at_head(db: Database) -> None:
    assert _revision(db) == head_revision()
    assert db.is_sqlite != db.is_postgresql


# ------------------------------------------------------------------ which database


def test_a_url_given_on_the_command_line_wins_over_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, "postgresql+psycopg://clinic-server/caseload")
    assert resolve_url("sqlite:////tmp/given.db") == "sqlite:////tmp/given.db"


def test_the_environment_url_is_used_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, "postgresql+psycopg://clinic-server/caseload")
    assert resolve_url(None) == "postgresql+psycopg://clinic-server/caseload"
    assert resolve_url("") == "postgresql+psycopg://clinic-server/caseload"


@pytest.fixture
def user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"

    def user_data_dir(appname: str | None = None, appauthor: str | None = None,
                      *_args: object, **_kwargs: object) -> str:
        return str(home / "data" / (appname or ""))

    monkeypatch.setattr(database.platformdirs, "user_data_dir", user_data_dir)
    monkeypatch.delenv(ENV_URL, raising=False)
    return home / "data" / "Caseload"


def test_without_url_or_environment_the_database_is_a_file_in_the_user_data_directory(
        user_data_dir: Path) -> None:
    assert not user_data_dir.exists()
    assert resolve_url() == f"sqlite:///{user_data_dir / 'caseload.db'}"
    assert not user_data_dir.exists()  # naming the place creates nothing; creating a practice does


def test_first_start_without_any_setting_creates_the_default_file(user_data_dir: Path) -> None:
    db = open_database(create=True)
    try:
        assert db.is_sqlite
        assert _revision(db) == head_revision()
    finally:
        db.dispose()
    assert (user_data_dir / "caseload.db").is_file()
    assert stat.S_IMODE(user_data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((user_data_dir / "caseload.db").stat().st_mode) == 0o600


def test_the_known_schema_head_is_alembics_head():  # type: ignore[no-untyped-def]
    from desktop.storage.database import SCHEMA_HEAD, head_revision

    # A new migration must update SCHEMA_HEAD, or up-to-date databases would be
    # treated as old and upgraded at every start.
    assert SCHEMA_HEAD == head_revision()


def test_a_long_log_gets_planner_statistics_again_each_time_it_doubles(sqlite_db):  # type: ignore[no-untyped-def]
    def grow_to(total: int) -> None:
        with sqlite_db.engine.begin() as conn:
            seq, prev = audit_chain.head(conn) or (0, audit_chain.GENESIS)
            at = dt.datetime(2026, 1, 1)
            rows = []
            while seq < total:
                seq += 1
                digest = audit_chain.entry_hash(prev, seq, at, None, None, "client.list", None, None, "allowed",
                                                None, None)
                rows.append({"seq": seq, "prev_hash": prev, "row_hash": digest, "occurred_at": at,
                             "action": "client.list", "outcome": "allowed", "details": None})
                prev = digest
            conn.execute(AuditEvent.__table__.insert(), rows)
            conn.execute(AuditChainHead.__table__.update().values(seq=seq, hash=prev))

    def analyzed() -> int | None:
        with sqlite_db.engine.connect() as conn:
            if not conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
                return None
            stat = conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_audit_events_seq'").scalar()
            return int(stat.split()[0]) if stat else None

    url = sqlite_db.engine.url.render_as_string(hide_password=False)
    grow_to(999)
    open_database(url).dispose()
    assert analyzed() is None  # a short log plans well without them
    grow_to(1_500)
    open_database(url).dispose()
    first = analyzed()  # sampled (400 rows an index): an estimate of the 1,500
    assert first is not None and 1_000 <= first <= 2_000
    grow_to(2 * first - 10)
    open_database(url).dispose()
    assert analyzed() == first  # not yet doubled: not taken again
    grow_to(2 * first + 10)
    open_database(url).dispose()
    again = analyzed()
    assert again is not None and again != first and again >= 2 * first - 800


def test_a_bulk_transactions_longer_log_ends_with_it(sqlite_db: Database) -> None:
    """A billing run's chunks let the log grow before it is copied into the file; whatever uses
    the same connection next checkpoints as SQLite does by default."""
    def allowed(s: Any) -> tuple[int, int]:
        return tuple(int(s.connection().exec_driver_sql(f"PRAGMA {name}").scalar_one())  # type: ignore[return-value]
                     for name in ("wal_autocheckpoint", "cache_size"))

    with sqlite_db.transaction(bulk=True) as s:
        assert allowed(s) == (database.BULK_CHECKPOINT_PAGES, database.BULK_PAGE_CACHE_KIB)
    for _ in range(3):  # every pooled connection, whichever comes back
        with sqlite_db.transaction() as s:
            assert allowed(s) == (database.CHECKPOINT_PAGES, database.PAGE_CACHE_KIB)


def test_a_bulk_transaction_whose_connection_is_lost_says_so_and_gives_its_place_back(
        sqlite_db: Database) -> None:
    with pytest.raises(RuntimeError, match="the disk failed"):  # that error, not one of the clean-up's
        with sqlite_db.transaction(bulk=True) as s:
            s.connection().invalidate()  # as a failed disk or a closed file leaves it
            raise RuntimeError("the disk failed")
    assert sqlite_db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with sqlite_db.transaction() as s:  # and the next one works
        assert s.execute(text("SELECT 1")).scalar_one() == 1
