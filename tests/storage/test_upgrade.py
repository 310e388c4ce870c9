"""Databases made by the previous release open in place and keep their data.

Each test builds the previous release's schema with its own migrations, fills it
the way that release did (the demo's local-time stamps included), opens it with
this version and checks what a person would see.
"""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import text

from desktop.controllers.clients import ClientsController
from desktop.controllers.roster import Roster
from desktop.storage.database import (
    SCHEMA_HEAD,
    alembic_config,
    create_database_engine,
    open_database,
)
from tests.helpers import seed_users
from tests.storage.test_database import fresh_url  # noqa: F401 - the fixture

PREVIOUS_RELEASE = "0001"


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
