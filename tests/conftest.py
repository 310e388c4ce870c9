"""Fixtures shared by every test: a real database (SQLite file and PostgreSQL), and a practice.

``db`` is parametrized over both back ends. PostgreSQL tests skip when no server
answers on a laptop, and fail when ``CI`` is set, so a broken CI server can
never pass as "skipped".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite runs two processes side by side, each waiting on its own background jobs: jobs made
# nicer than the other process's busy test thread would only make the suite slower
# (test_operation.py checks the niceness itself).
os.environ.setdefault("CASELOAD_BACKGROUND_NICENESS", "0")

from desktop.controllers.permissions import Actor  # noqa: E402
from desktop.domain.models import Base  # noqa: E402
from desktop.storage.database import Database, open_database  # noqa: E402
from tests.helpers import seed_users  # noqa: E402

# The machine's server has no TLS; the URL says so, as Caseload asks of a plain connection.
PG_ADMIN_URL = os.environ.get("CASELOAD_TEST_PG",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres?sslmode=disable")


def pg_database_url(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name`` (the query, such as sslmode, kept)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _anchors_kept_in_the_test_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Audit chain anchors go to the test's own folder, never the user's data folder."""
    folder = tmp_path / "audit-anchors"
    monkeypatch.setenv("CASELOAD_ANCHOR_DIR", str(folder))
    return folder


@contextlib.contextmanager
def empty_pg_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` (its URL), dropped afterwards."""
    import psycopg

    name = f"caseload_fresh_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_database_url(server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_available() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = open_database(f"sqlite:///{path}", create=True)
    db.erase_freed_space()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    problem = _pg_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but PostgreSQL does not answer at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"no PostgreSQL server: {problem}")
    import psycopg

    name = f"caseload_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_database_url(PG_ADMIN_URL, name)
    open_database(url, create=True).dispose()  # migrate once; each test truncates
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_sqlite(template: Path, folder: Path) -> Database:
    path = folder / "caseload.db"
    shutil.copyfile(template, path)
    return open_database(f"sqlite:///{path}")


def make_pg(url: str) -> Database:
    db = open_database(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # past the audit log's triggers
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return db


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = make_sqlite(sqlite_template, tmp_path)
    else:
        database = make_pg(request.getfixturevalue("pg_url"))
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    database = make_sqlite(sqlite_template, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def practice(db: Database) -> dict[str, Actor]:
    """The six demo users, by username, on the parametrized database."""
    return seed_users(db)
