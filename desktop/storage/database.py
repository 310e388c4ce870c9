"""From a database URL to a ready, migrated database.

``open_database(url)`` is the one way in: it resolves the URL (command line,
``CASELOAD_DATABASE_URL``, or the default SQLite file in the user data
directory), sets the SQLite pragmas on every connection, brings the schema up
to date with the Alembic migrations shipped in this package, and refuses a
database written by a newer Caseload. ``Database.transaction()`` is the unit
of work every controller operation runs in.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from desktop.storage.changes import stamp_changes
from desktop.storage.errors import (
    DatabaseDamaged,
    DatabaseRefused,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    SchemaTooNew,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
CHANGE_CHANNEL = "caseload_changes"
ENV_URL = "CASELOAD_DATABASE_URL"


def default_database_path() -> Path:
    return Path(platformdirs.user_data_dir("Caseload", "Caseload")) / "caseload.db"


def resolve_url(url: str | None = None) -> str:
    """The URL to use: the one given, else the environment, else the local file."""
    if url:
        return url
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL]
    path = default_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # Deleted content is overwritten with zeros, so a deleted client's name
    # does not linger in free pages of the file.
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


# The newest migration in migrations/versions. Knowing it here lets an
# up-to-date database open without importing Alembic at all (a fifth of a
# second and 12 MB at every start); a test keeps it equal to Alembic's head.
SCHEMA_HEAD = "0002"


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@dataclass
class Database:
    """An engine and its sessions, plus what kind of server is behind it."""

    engine: Engine
    sessions: sessionmaker[Session]
    # A deletion whose WAL could not be erased yet (a reader held it); retried
    # after the next write and before closing.
    erase_pending: bool = field(default=False, init=False, repr=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One operation: commit if the block finishes, roll back if it raises.

        On PostgreSQL a NOTIFY rides in the same transaction, so other
        workstations hear about the change exactly when it becomes visible.
        """
        session = self.sessions()
        try:
            with _unavailable_as_error():
                yield session
                if session.new or session.dirty or session.deleted:
                    session.flush()
                if self.is_postgresql:
                    session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANGE_CHANNEL})
                erase = session.info.pop("erase_after_commit", False)
                session.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                session.rollback()
            raise
        finally:
            session.close()
        if erase:
            try:
                self.erase_freed_space()
            except DatabaseUnavailable:
                # The change is committed; the erase is retried at the next write and at close.
                self.erase_pending = True
        elif self.erase_pending:
            with contextlib.suppress(DatabaseUnavailable):
                self.erase_freed_space(wait=False)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session that is closed afterwards."""
        session = self.sessions()
        try:
            with _unavailable_as_error():
                yield session
        finally:
            with contextlib.suppress(Exception):
                session.rollback()
            session.close()

    def erase_freed_space(self, *, wait: bool = True) -> bool:
        """Make deleted data unrecoverable from the files on disk.

        ``secure_delete`` already zeroes freed pages in the main file; the WAL
        still holds page images written before the delete, so checkpoint it and
        truncate it to nothing.

        Returns whether that finished. A reader still inside a transaction
        keeps the old page images needed; SQLite then reports the checkpoint
        busy instead of failing, so the erase stays pending and is retried
        after the next write and before closing, never silently dropped.
        Those retries do not ``wait`` for readers: a long read (the list loading
        a million rows) must not make every save stall for the busy timeout.
        """
        if not self.is_sqlite:
            return True
        with _unavailable_as_error(), self.engine.connect() as conn:
            if not wait:
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
                conn.commit()
            finally:
                if not wait:
                    conn.exec_driver_sql("PRAGMA busy_timeout=5000")
        self.erase_pending = bool(busy)
        return not self.erase_pending

    def dispose(self) -> None:
        if self.erase_pending:
            with contextlib.suppress(DatabaseUnavailable):
                self.erase_freed_space()
        self.engine.dispose()


@contextlib.contextmanager
def _unavailable_as_error() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        # Lost connections, locks and timeouts: the user can act on these.
        raise DatabaseUnavailable(_describe(exc)) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable(_describe(exc)) from exc
        first = _first_line(exc)
        if isinstance(exc.orig, sqlite3.DatabaseError) and any(
                sign in first for sign in ("not a database", "malformed", "disk image")):
            raise DatabaseDamaged(
                f"The practice file is damaged or is not a Caseload file ({first}). "
                "Restore it from a backup.") from exc
        raise DatabaseRefused(f"The database refused this ({first}).") from exc


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _describe(exc: DBAPIError) -> str:
    first = _first_line(exc)
    return f"The database could not be reached or is busy ({first}). Nothing was changed."


UNSUPPORTED_URL = ("That is not a database location Caseload can use; use sqlite:///FILE "
                   "or postgresql+psycopg://USER@HOST/DATABASE.")


def create_database_engine(url: str) -> Engine:
    try:
        sa_url = make_url(url)
    except (ArgumentError, ValueError):
        raise InvalidDatabaseUrl(UNSUPPORTED_URL) from None
    if sa_url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"):
        raise InvalidDatabaseUrl(UNSUPPORTED_URL)
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(sa_url, connect_args={"timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if sa_url.get_backend_name() == "postgresql":
        if sa_url.drivername == "postgresql":
            sa_url = sa_url.set(drivername="postgresql+psycopg")
        return create_engine(
            sa_url, pool_pre_ping=True, connect_args={"connect_timeout": 5, "application_name": "caseload"}
        )
    raise InvalidDatabaseUrl(UNSUPPORTED_URL)


def migrate(engine: Engine) -> None:
    """Bring the schema to this version's head, or refuse a newer database."""
    with _unavailable_as_error(), engine.connect() as conn:
        current = None
        if inspect(conn).has_table("alembic_version"):
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if current == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    if current is not None:
        try:
            script.get_revision(current)
        except Exception as exc:  # alembic raises several kinds for an unknown id
            raise SchemaTooNew(
                f"This database was written by a newer version of Caseload (schema {current}). "
                "Install the newer Caseload to open it; nothing was changed."
            ) from exc
        if current == script.get_current_head():
            return
    with _unavailable_as_error():
        command.upgrade(alembic_config(engine), "head")


def open_database(url: str | None = None, *, upgrade: bool = True) -> Database:
    engine = create_database_engine(resolve_url(url))
    try:
        if upgrade:
            migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    sessions = sessionmaker(engine, expire_on_commit=False)
    stamp_changes(sessions)
    return Database(engine=engine, sessions=sessions)
