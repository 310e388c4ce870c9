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
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from sqlalchemy import create_engine, delete, event, inspect, select, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from desktop.domain.models import AuditEvent, Base, PendingErasure
from desktop.storage import practice_file
from desktop.storage.audit_chain import add_queued, chain_audit_rows
from desktop.storage.changes import number_changes, stamp_changes
from desktop.storage.errors import (
    CaseloadError,
    CommitLost,
    DatabaseDamaged,
    DatabaseRefused,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    NotAPracticeFile,
    PracticeLocked,
    PracticeMissing,
    SchemaTooNew,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 5000
PAGE_CACHE_KIB = -2000  # negative: KiB, as SQLite counts it
ERASE_WAIT_SECONDS = 5.0
VACUUM_WAIT_SECONDS = 60.0  # closing waits this long at most for a VACUUM after a deletion
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
    return f"sqlite:///{default_database_path()}"


class KeyHolder:
    """The database key of an encrypted practice, in memory only while someone is signed in.

    The engine asks it for the key on every new connection; ``clear`` (the idle lock, closing)
    overwrites the bytes and makes every later connection refuse until the next sign-in.
    Python may still hold copies of the hex text it passed to SQLCipher until they are reused.
    """

    def __init__(self, key: bytearray | None = None) -> None:
        self._key: bytearray | None = None
        if key is not None:
            self.set(key)

    @property
    def present(self) -> bool:
        return self._key is not None

    def set(self, key: bytearray) -> None:
        self.clear()
        self._key = bytearray(key)
        for i in range(len(key)):
            key[i] = 0

    def copy(self) -> bytearray:
        if self._key is None:
            raise PracticeLocked("The practice file is locked; sign in to open it.")
        return bytearray(self._key)

    def clear(self) -> None:
        if self._key is not None:
            for i in range(len(self._key)):
                self._key[i] = 0
        self._key = None

    def key_pragma(self) -> str:
        if self._key is None:
            raise PracticeLocked("The practice file is locked; sign in to open it.")
        return f"PRAGMA key = \"x'{self._key.hex()}'\""


def sqlcipher_module():  # type: ignore[no-untyped-def]
    """SQLCipher's DB-API module, with its own logging to stderr switched off (a damaged page would
    otherwise print lines of its own beside Caseload's one sentence)."""
    import sqlcipher3.dbapi2

    if not _QUIETED:
        conn = sqlcipher3.dbapi2.connect(":memory:")
        try:
            conn.execute("PRAGMA cipher_log_level = NONE").fetchall()  # the level is the process's
        finally:
            conn.close()
        _QUIETED.append(True)
    return sqlcipher3.dbapi2


_QUIETED: list[bool] = []


def _encrypted_connector(path: Path, keys: KeyHolder) -> Callable[[], object]:
    """A connection to the encrypted file at ``path``, keyed before anything else touches it."""

    def connect() -> object:
        module = sqlcipher_module()
        pragma = keys.key_pragma()  # PracticeLocked while nobody is signed in
        conn = module.connect(str(path), timeout=5, check_same_thread=False)
        try:
            conn.execute(pragma)
            # The first read checks the key: a wrong key or a damaged file fails here, not later.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    return connect


ENCRYPTED_PAGE_CACHE_KIB = -500  # SQLCipher's own library and OpenSSL take the other megabytes


def _encrypted_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.execute("PRAGMA synchronous=FULL")
    dbapi_connection.execute(f"PRAGMA cache_size={ENCRYPTED_PAGE_CACHE_KIB}")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # Deleted content is overwritten with zeros, so a deleted client's name
    # does not linger in free pages of the file.
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # 2 MB of page cache per connection, Python's own sqlite3 default; SQLCipher's would be 8 MB,
    # and the window holds up to three connections.
    cur.execute(f"PRAGMA cache_size={PAGE_CACHE_KIB}")
    cur.close()


# Pages the write-ahead log may hold before a commit copies them into the file (a checkpoint):
# SQLite's default, and what a bulk transaction (``Database.transaction(bulk=True)``) allows.
# A first billing run commits its chunks of thousands of documents each past the default, and
# checkpointed at every commit it spent a sixth of its time there; with a larger log, a page
# that several chunks change is copied once (benchmarks/billing_run.py).
CHECKPOINT_PAGES = 1000
BULK_CHECKPOINT_PAGES = 16384  # 64 MB of 4 KB pages
# And the page cache a bulk transaction may fill (KiB): the indexes its thousands of rows go
# into stay in memory from one row to the next. Given back with the connection.
BULK_PAGE_CACHE_KIB = -32768


def _bulk_writing(session: Session) -> None:
    """Let this transaction's SQLite connection grow its log to ``BULK_CHECKPOINT_PAGES`` before
    checkpointing, and its page cache to ``BULK_PAGE_CACHE_KIB``; both given back when the
    connection returns to the pool (``_end_bulk_writing``)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    info = connection.connection.info
    if not info.get("bulk"):
        info["page_cache"] = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    info["bulk"] = True
    connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")
    connection.exec_driver_sql(f"PRAGMA cache_size={BULK_PAGE_CACHE_KIB}")


def _end_bulk_writing(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
    if record is None or not record.info.pop("bulk", False):
        return
    page_cache = int(record.info.pop("page_cache", PAGE_CACHE_KIB))
    # An invalidated connection comes back as None: it is closed, nothing to give back, and
    # an error here would hide the one that invalidated it and keep its place in the pool.
    if dbapi_connection is not None:
        with contextlib.suppress(Exception):
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
            dbapi_connection.execute(f"PRAGMA cache_size={page_cache}")


# The newest migration in migrations/versions. Knowing it here lets an
# up-to-date database open without importing Alembic at all (a fifth of a
# second and 12 MB at every start); a test keeps it equal to Alembic's head.
SCHEMA_HEAD = "0010"
# Tables every Caseload schema has; a database with other tables and not these is not ours.
CASELOAD_TABLES = {"clients", "practice_users", "audit_events"}


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


# The tables a client's rows live in: what a deletion empties, and VACUUMs on a server.
CLIENT_TABLES = tuple(table.name for table in Base.metadata.sorted_tables if table.name == "clients"
                      or any(key.column.table.name == "clients" for key in table.foreign_keys))


@dataclass
class Database:
    """An engine and its sessions, plus what kind of server is behind it."""

    engine: Engine
    sessions: sessionmaker[Session]
    # A deletion whose WAL could not be erased yet (a reader held it); retried
    # after the next write and before closing.
    erase_pending: bool = field(default=False, init=False, repr=False)
    # Called once when a deletion's erasing has to wait for a reader (to say so).
    while_erasure_waits: Callable[[], None] | None = field(default=None, init=False, repr=False)
    # What an integrity check found wrong with the file; while set, every write is refused.
    damaged: str | None = field(default=None, init=False, repr=False)
    # The SQLite file's identity (device, inode) when opened: a file deleted or replaced while
    # open would otherwise take writes that nobody will ever see again.
    file_identity: tuple[int, int] | None = field(default=None, init=False, repr=False)
    # An encrypted file's key (None: a plain file or a server). Empty while nobody has signed in
    # and while the screen is locked; the engine cannot connect then.
    keys: KeyHolder | None = field(default=None, repr=False)
    # False until an encrypted file has been opened with its key and brought up to date.
    opened: bool = field(default=True, repr=False)
    upgrade: bool = field(default=True, repr=False)
    # How often a commit cut off is looked up before saying its outcome is unknown: the window
    # asks once (it looks again when the connection is back), the command line three times.
    outcome_lookups: int = field(default=3, repr=False)
    _lock_listeners: list[Callable[[], Callable[[], object] | None]] = field(
        default_factory=list, init=False, repr=False)
    # PostgreSQL: the VACUUMs after deletions still running, and how the last one went.
    _vacuums: list[threading.Thread] = field(default_factory=list, init=False, repr=False)
    _vacuum_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _vacuum_again: bool = field(default=False, init=False, repr=False)
    _vacuum_running: bool = field(default=False, init=False, repr=False)
    last_vacuum: bool | None = field(default=None, init=False, repr=False)

    @property
    def encrypted(self) -> bool:
        return self.keys is not None

    @property
    def locked(self) -> bool:
        return self.keys is not None and not self.keys.present

    def finish_opening(self) -> None:
        """With the key in hand: migrate, mark and finish erasing, as an unencrypted file is at once."""
        if self.opened:
            return
        _prepare(self.engine, upgrade=self.upgrade, create=False)
        self.opened = True
        self._note_identity()
        if self.upgrade:
            with contextlib.suppress(DatabaseUnavailable):
                self.finish_pending_erasure()

    def when_locked(self, close: Callable[[], object]) -> None:
        """Have ``close`` called when the key is dropped (a long-lived connection held outside the pool)."""
        import weakref

        holder = weakref.WeakMethod(close) if hasattr(close, "__self__") else (lambda: close)  # type: ignore[arg-type]
        self._lock_listeners.append(holder)

    def lock(self) -> None:
        """Drop the key and close every connection: the pool's and those held outside it (an
        encrypted file; else nothing)."""
        if self.keys is None:
            return
        self.keys.clear()
        listeners, self._lock_listeners = self._lock_listeners, []
        for ref in listeners:
            close = ref()
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
                self._lock_listeners.append(ref)
        self.engine.dispose()

    def _note_identity(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                info = self.path.stat()
                self.file_identity = (info.st_dev, info.st_ino)

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None on a server."""
        return Path(self.engine.url.database) if self.is_sqlite and self.engine.url.database else None

    def file_problem(self) -> str | None:
        """Why this practice file must not be written any more, in a sentence; None if all is well."""
        if self.damaged is not None:
            return (f"The practice file is damaged ({self.damaged[:120]}), so Caseload saves nothing "
                    "to it. Restore it from a backup.")
        path = self.path
        if path is None or self.file_identity is None:
            return None
        try:
            info = path.stat()
        except FileNotFoundError:
            return (f"The practice file at {path} was deleted while Caseload was open, so nothing more "
                    "is saved. Restore it from a backup, or quit and open another file.")
        except OSError as exc:
            return f"The practice file at {path} cannot be reached ({exc.strerror or exc}); nothing was saved."
        if (info.st_dev, info.st_ino) != self.file_identity:
            return (f"The practice file at {path} was replaced by another file while Caseload was open, "
                    "so nothing more is saved to it. Quit and open Caseload again to use the new file.")
        return None

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
    def transaction(self, *, bulk: bool = False) -> Iterator[Session]:
        """One operation: commit if the block finishes, roll back if it raises.

        On PostgreSQL a NOTIFY rides in the same transaction, so other
        workstations hear about the change exactly when it becomes visible.
        ``bulk``: one of many large transactions in a row (a billing run's chunk), whose
        SQLite connection checkpoints its log less often and keeps more pages in memory
        (``BULK_CHECKPOINT_PAGES``, ``BULK_PAGE_CACHE_KIB``) until it returns to the pool.
        """
        problem = self.file_problem()
        if problem is not None:
            raise (DatabaseDamaged if self.damaged else PracticeMissing)(problem)
        session = self.sessions()
        try:
            with _unavailable_as_error():
                if bulk:
                    _bulk_writing(session)
                yield session
                if session.new or session.dirty or session.deleted:
                    session.flush()
                number_changes(session)
                if self.is_postgresql:
                    session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANGE_CHANNEL})
                # The audit rows come last: ``add_queued`` chains and writes them, so every
                # writer holds the chain head (one row, so one writer at a time) only from here
                # to its commit, and always after the change counter, never before it. (A row
                # added to the session directly is chained by this flush.)
                add_queued(session)
                if session.new:
                    session.flush()
                erase = session.info.pop("erase_after_commit", False)
                after_erase = session.info.pop("after_erase", [])
                try:
                    session.commit()
                except DBAPIError as exc:
                    if self.is_postgresql and (exc.connection_invalidated or isinstance(exc, OperationalError)):
                        # The server may have committed before the connection died.
                        raise CommitLost(_first_line(exc)) from exc
                    raise
        except BaseException:
            # Files changed in step with this transaction (the key file) go back as they were,
            # while its write lock still keeps every other writer out.
            for undo in reversed(session.info.pop("undo_on_failure", [])):
                with contextlib.suppress(Exception):
                    undo()
            with contextlib.suppress(Exception):
                session.rollback()
            raise
        finally:
            session.close()
        if erase:
            erased = self.erase_after_delete(waited=self.while_erasure_waits)
            for done in after_erase:
                done(erased)
        elif self.erase_pending:
            with contextlib.suppress(DatabaseUnavailable):
                self.finish_pending_erasure()

    def take_write_lock(self, session: Session, name: str) -> None:
        """Make this transaction the only one doing ``name`` until it ends.

        Call it first in the transaction. PostgreSQL: a transaction-scoped advisory
        lock. SQLite: a write at once, which takes the file's write lock before
        anything is read, so a second writer waits for the first to commit and then
        reads what it wrote (instead of failing on a stale snapshot).
        """
        if self.is_postgresql:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": zlib.crc32(f"caseload:{name}".encode())})
        else:
            session.execute(text("UPDATE change_counter SET value = value WHERE id = 1"))

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

    def operation_saved(self, operation_id: str, *, attempts: int = 3) -> bool | None:
        """After a lost commit: was the operation saved? None if the server stays unreachable."""
        for attempt in range(attempts):
            try:
                with self.engine.connect() as conn:
                    found = conn.execute(select(AuditEvent.id).where(
                        AuditEvent.operation_id == operation_id).limit(1)).first()
                return found is not None
            except DBAPIError:
                time.sleep(0.5 * (attempt + 1))
        return None

    def check_integrity(self, *, full: bool = False) -> list[str]:
        """SQLite's own check of the file (``quick_check``, or ``integrity_check`` if ``full``).

        Returns what it found wrong (empty: sound). Damage found here makes every
        later write refuse, so nothing is built on a damaged file.
        """
        if not self.is_sqlite:
            return []
        pragma = "integrity_check" if full else "quick_check"
        try:
            with _unavailable_as_error(), self.engine.connect() as conn:
                found = [str(row[0]) for row in conn.exec_driver_sql(f"PRAGMA {pragma}")]
        except DatabaseDamaged as exc:
            found = [str(exc)]
        problems = [] if found == ["ok"] else found
        if problems:
            self.damaged = problems[0]
        return problems

    def mark_erasure_pending(self, session: Session) -> None:
        """Record, in the deleting transaction, that its data must still be erased from the file."""
        if self.is_sqlite and session.get(PendingErasure, 1) is None:
            session.add(PendingErasure(id=1))

    def erase_after_delete(self, *, waited: Callable[[], None] | None = None) -> bool:
        """Erase a committed deletion's data from the file, waiting for readers a bounded time.

        ``secure_delete`` zeroes the freed pages in the WAL; the old page images
        leave the main file only when a checkpoint copies the new ones over it,
        and a reader inside a transaction holds that up. So: try at once; if a
        reader is there, call ``waited`` (to say why this takes a moment) and
        retry for ``ERASE_WAIT_SECONDS``. True if the data is gone from the
        file; False leaves the erasure pending (marked in the database), to be
        finished by whichever Caseload process next opens the file or polls it.
        """
        if self.is_postgresql:
            # A server keeps deleted rows on its disk until PostgreSQL reuses the space: never
            # "erased" here. VACUUM makes the space reusable sooner; it runs on a thread of its own
            # (never the window's) and ``dispose`` lets it finish (docs/rules.md, "Deleting on a
            # practice server").
            self._start_vacuum()
            return False
        if not self.is_sqlite:
            return True
        deadline = time.monotonic() + ERASE_WAIT_SECONDS
        told = False
        while True:
            try:
                if self._checkpoint():
                    self._clear_erasure_mark()
                    return True
            except DatabaseUnavailable:
                pass
            if time.monotonic() >= deadline:
                self.erase_pending = True
                return False
            if not told and waited is not None:
                waited()
            told = True
            time.sleep(0.1)

    def finish_pending_erasure(self) -> bool:
        """Without waiting: finish an erasure a reader held up, here or in another process.

        Called when the database opens, after every write, and on every change poll.
        True if nothing is pending any more.
        """
        if not self.is_sqlite:
            return True
        if not self.erase_pending:
            with self.engine.connect() as conn:
                self.erase_pending = conn.execute(select(PendingErasure.id)).first() is not None
        if not self.erase_pending:
            return True
        if self._checkpoint():
            self._clear_erasure_mark()
        return not self.erase_pending

    def checkpoint_log(self) -> bool:
        """One ``wal_checkpoint(TRUNCATE)`` that never waits for readers (what they still read
        stays in the log for later); True if it finished. SQLite only.

        Also after bulk transactions (``transaction(bulk=True)``), on their own thread: the
        log they let grow is copied into the file there, not by the next ordinary commit (a
        person's, on the window's thread), and the log file is emptied if it can be."""
        if not self.is_sqlite:
            return True
        with _unavailable_as_error(), self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
                conn.commit()
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return not busy

    def _checkpoint(self) -> bool:
        done = self.checkpoint_log()
        self.erase_pending = not done
        return done

    def _clear_erasure_mark(self) -> None:
        with _unavailable_as_error(), self.engine.begin() as conn:
            gone = conn.execute(delete(PendingErasure)).rowcount
        if gone:
            self._checkpoint()  # the mark's own removal leaves the WAL empty again, if it can
        self.erase_pending = False

    def erase_freed_space(self) -> bool:
        """Erase now if no reader is in the way (a fresh practice file, tests); True if done."""
        return self.finish_pending_erasure() if self.erase_pending else self._checkpoint()

    def _start_vacuum(self) -> None:
        """One VACUUM thread at a time: deletions made while it runs are covered by one more pass."""
        with self._vacuum_lock:
            self._vacuum_again = True
            if self._vacuum_running:
                return
            self._vacuum_running = True
            thread = threading.Thread(target=self._vacuum_until_done, name="caseload-vacuum", daemon=True)
            self._vacuums = [thread]
            thread.start()

    def _vacuum_until_done(self) -> None:
        while True:
            with self._vacuum_lock:
                if not self._vacuum_again:
                    self._vacuum_running = False
                    return
                self._vacuum_again = False
            try:
                self.vacuum_deleted()
            except Exception:  # noqa: BLE001 - a thread of its own: nobody to tell but the outcome
                self.last_vacuum = None  # "could not be asked"; autovacuum still does it

    def vacuum_deleted(self) -> bool | None:
        """VACUUM the tables that hold clients' rows, after a deletion on PostgreSQL.

        True: done; False: this connection's role may not (the application role does not own the
        tables before PostgreSQL 17's MAINTAIN right), so the server's autovacuum does it later;
        None: the server could not be reached. Records the outcome in ``last_vacuum``.
        """
        # Asked of the server, not read from its (translated) warnings: may this role VACUUM them?
        may = ("SELECT bool_and(r.rolsuper OR pg_has_role(c.relowner, 'USAGE')"
               + (" OR has_table_privilege(c.oid, 'MAINTAIN')" if self._server_version() >= 170000 else "")
               + ") FROM pg_class c, pg_roles r WHERE r.rolname = current_user AND c.relname IN ("
               + ", ".join(f"'{table}'" for table in CLIENT_TABLES) + ") AND c.relkind = 'r'")
        try:
            with self.engine.connect() as conn:
                allowed = bool(conn.exec_driver_sql(may).scalar())
                conn.rollback()
                if allowed:
                    auto = conn.execution_options(isolation_level="AUTOCOMMIT")
                    auto.exec_driver_sql("VACUUM " + ", ".join(CLIENT_TABLES))
        except DBAPIError:
            self.last_vacuum = None
            return None
        self.last_vacuum = allowed
        return self.last_vacuum

    def _server_version(self) -> int:
        return int(self.engine.dialect.server_version_info[0]) * 10000 if \
            self.engine.dialect.server_version_info else 0

    def wait_for_vacuum(self, timeout: float = VACUUM_WAIT_SECONDS) -> bool | None:
        """Wait for the VACUUMs started by deletions; how the last went (see ``vacuum_deleted``)."""
        for thread in self._vacuums:
            thread.join(timeout=timeout)
        return self.last_vacuum

    def dispose(self) -> None:
        for thread in self._vacuums:
            thread.join(timeout=VACUUM_WAIT_SECONDS)
        if self.erase_pending:
            with contextlib.suppress(DatabaseUnavailable):
                self.erase_after_delete()
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
        if _is_sqlite_error(exc.orig) and any(
                sign in first for sign in ("not a database", "malformed", "disk image")):
            raise DatabaseDamaged(
                f"The practice file is damaged or is not a Caseload file ({first}). "
                "Restore it from a backup.") from exc
        raise DatabaseRefused(f"The database refused this ({first}).") from exc


def _is_sqlite_error(error: BaseException | None) -> bool:
    if isinstance(error, sqlite3.DatabaseError):
        return True
    cipher = sys.modules.get("sqlcipher3.dbapi2")
    return cipher is not None and isinstance(error, cipher.DatabaseError)


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _describe(exc: DBAPIError) -> str:
    first = _first_line(exc)
    refusal = _tls_refusal(first) or _sign_in_refusal(first)
    if refusal:
        return refusal
    return f"The database could not be reached or is busy ({first}). Nothing was changed."


def _sign_in_refusal(first: str) -> str | None:
    """The sentence for a server that answered and refused this workstation's sign-in (a changed
    password, a role or database that is gone, a host not allowed), or None."""
    signs = ("password authentication failed", "no pg_hba.conf entry", "is not permitted to log in",
             "does not exist", "pg_hba.conf rejects")
    if first.startswith("connection") and any(sign in first for sign in signs):
        # The server's own words, after libpq's "connection to server at … failed: FATAL:".
        reason = " ".join((first.split("FATAL:", 1)[1] if "FATAL:" in first
                           else first.rsplit("failed: ", 1)[-1]).split())
        return (f"The practice server answered but refused this workstation ({reason[:200]}). Ask whoever "
                "runs it to check this workstation's role, password and database name; nothing was changed.")
    return None


def _tls_refusal(first: str) -> str | None:
    """The sentence for a connection refused over its encryption, or None if it was not that."""
    if "server does not support SSL" in first:
        return ("The practice server does not offer an encrypted connection, so Caseload did not "
                "connect. Ask whoever runs it to switch TLS on, or add sslmode=disable to the URL "
                "only if the network is private.")
    if "certificate verify failed" in first:
        return ("The practice server's certificate is not signed by the root certificate given in the "
                "URL (sslrootcert), so Caseload did not connect: it may not be your server.")
    if "does not match host name" in first:
        return ("The practice server's certificate is for another name than the one in the URL, so "
                "Caseload did not connect: use the name on the certificate, or it may not be your server.")
    if "no encryption" in first and "pg_hba.conf" in first:
        return ("The practice server refused a connection without encryption from this workstation: remove "
                "sslmode=disable from the URL, or ask whoever runs it whether this workstation is allowed.")
    return None


KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
              "tcp_user_timeout": 10_000}

UNSUPPORTED_URL = ("That is not a database location Caseload can use; use sqlite:///FILE "
                   "or postgresql+psycopg://USER@HOST/DATABASE.")


def create_database_engine(url: str, *, create: bool = False, keys: KeyHolder | None = None) -> Engine:
    """An engine for ``url``; a SQLite file is checked to be a practice first (``practice_file``).

    ``create``: a missing or empty file may become a new practice (first run, demo, init).
    ``keys``: the file is (or is to become) encrypted with the key this holds (SQLCipher).
    """
    try:
        sa_url = make_url(url)
    except (ArgumentError, ValueError):
        raise InvalidDatabaseUrl(UNSUPPORTED_URL) from None
    if sa_url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"):
        raise InvalidDatabaseUrl(UNSUPPORTED_URL)
    if sa_url.get_backend_name() == "sqlite":
        if not sa_url.database or sa_url.database == ":memory:" or sa_url.database.startswith("file:"):
            raise InvalidDatabaseUrl(UNSUPPORTED_URL)
        path = Path(sa_url.database)
        if "\x00" in sa_url.database:
            raise InvalidDatabaseUrl("The database file name contains a NUL character.")
        if path.resolve() == default_database_path().resolve() and path.parent.exists():
            with contextlib.suppress(OSError):
                path.parent.chmod(0o700)  # Caseload's own folder: its owner's only
        practice_file.check_before_open(path, create=create, encrypted=keys is not None)
        if keys is not None:
            engine = create_engine(sa_url, module=sqlcipher_module(), creator=_encrypted_connector(path, keys))
        else:
            engine = create_engine(sa_url, connect_args={"timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _end_bulk_writing)
        if keys is not None:
            # A commit that changed the key file must not be lost to a power cut after the key
            # file's own (flushed) write: every commit of an encrypted file is flushed too. And a
            # smaller page cache keeps the window within its memory with SQLCipher loaded.
            event.listen(engine, "connect", _encrypted_pragmas)
        return engine
    if sa_url.get_backend_name() == "postgresql":
        if sa_url.drivername == "postgresql":
            sa_url = sa_url.set(drivername="postgresql+psycopg")
        sa_url = with_tls_mode(sa_url)
        # Keepalives and a TCP timeout: a network that goes quiet fails a call in about 10 s
        # instead of leaving it waiting for minutes (the watcher uses the same).
        return create_engine(
            sa_url, pool_pre_ping=True,
            connect_args={"connect_timeout": 5, "application_name": "caseload", **KEEPALIVES})
    raise InvalidDatabaseUrl(UNSUPPORTED_URL)


# What each ``sslmode`` a URL may give does (docs/rules.md, "Connections to a practice server").
TLS_MODES = ("disable", "require", "verify-ca", "verify-full")


def with_tls_mode(sa_url: URL) -> URL:
    """The URL with the ``sslmode`` Caseload connects with written into it.

    A root certificate given (``sslrootcert=``) means ``verify-full``: the server must prove its
    name with a certificate that root signed. Otherwise ``require``: encrypted, name not checked.
    ``disable`` only when the URL says so; ``allow`` and ``prefer`` would quietly fall back to a
    plain connection, so they are refused. The watcher's own connection reads the same URL.
    """
    query = dict(sa_url.query)
    mode = query.get("sslmode")
    if isinstance(mode, tuple):
        raise InvalidDatabaseUrl("The database URL gives sslmode more than once; give it once.")
    if mode is None:
        mode = "verify-full" if query.get("sslrootcert") else "require"
    elif mode not in TLS_MODES:
        raise InvalidDatabaseUrl(
            f"sslmode={mode[:40]} is not one Caseload connects with: use verify-full (with "
            "sslrootcert=the server's root certificate), require, or disable to connect without "
            "encryption on purpose.")
    if mode in ("verify-ca", "verify-full") and not query.get("sslrootcert"):
        raise InvalidDatabaseUrl(
            f"sslmode={mode} needs the server's root certificate: add sslrootcert=PATH to the URL.")
    root = query.get("sslrootcert")
    if isinstance(root, str) and root != "system" and not Path(root).is_file():
        raise InvalidDatabaseUrl(f"The root certificate {root[:200]} (sslrootcert) is not a file here.")
    return sa_url.update_query_dict({"sslmode": mode})


def libpq_conninfo(sa_url: URL) -> str:
    """The URL as a libpq connection string for psycopg itself (the watcher, server set-up):
    user, password and query passed as values, so a password with spaces or @ in it works."""
    from psycopg.conninfo import make_conninfo

    values: dict[str, str | int | None] = {"host": sa_url.host, "port": sa_url.port, "user": sa_url.username,
                                           "password": sa_url.password, "dbname": sa_url.database}
    for key, value in sa_url.query.items():
        values[key] = value if isinstance(value, str) else value[-1]
    return make_conninfo("", **{k: v for k, v in values.items() if v is not None})


@dataclass(frozen=True)
class ConnectionSecurity:
    """How the connection to the practice's data is protected, for the status bar."""

    encrypted: bool
    verified: bool  # the server proved its name with a certificate from the given root
    words: str  # e.g. "Encrypted (TLSv1.3), server verified"


def connection_security(db: Database) -> ConnectionSecurity:
    """Asked of the server: is this session's connection encrypted, and how."""
    if not db.is_postgresql:
        words = "Encrypted practice file" if db.encrypted else "Practice file on this computer"
        return ConnectionSecurity(encrypted=db.encrypted, verified=True, words=words)
    mode = db.engine.url.query.get("sslmode")
    with _unavailable_as_error(), db.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first()
        local = conn.exec_driver_sql("SELECT inet_client_addr() IS NULL").scalar()
    if row is not None and row[0]:
        verified = mode == "verify-full"
        how = "server verified" if verified else "server's name not checked"
        return ConnectionSecurity(encrypted=True, verified=verified, words=f"Encrypted ({row[1]}), {how}")
    if local:
        return ConnectionSecurity(encrypted=False, verified=True, words="Local connection on the server itself")
    return ConnectionSecurity(encrypted=False, verified=False,
                              words="Not encrypted: the practice's data crosses the network readable")


def migrate(engine: Engine, *, create: bool = False) -> None:
    """Bring the schema to this version's head, or refuse a newer or a foreign database."""
    with _unavailable_as_error(), engine.connect() as conn:
        current = None
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" in tables:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if engine.dialect.name == "postgresql":
        where = engine.url.render_as_string(hide_password=True)
        if tables and not CASELOAD_TABLES <= tables:
            raise NotAPracticeFile(
                f"The database {where} belongs to another program, not Caseload; nothing was changed.")
        if not tables and not create:
            raise PracticeMissing(
                f"The database {where} holds no Caseload practice yet. Create one there with "
                "`caseload init --database URL`.")
    if current == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    server = engine.dialect.name == "postgresql"
    if current is not None:
        try:
            script.get_revision(current)
        except Exception as exc:  # alembic raises several kinds for an unknown id
            if server:
                raise SchemaTooNew(
                    f"The practice server was upgraded by a newer Caseload (schema {current}); update "
                    "Caseload on this workstation to use it; nothing was changed.") from exc
            raise SchemaTooNew(
                f"This database was written by a newer version of Caseload (schema {current}). "
                "Install the newer Caseload to open it; nothing was changed."
            ) from exc
        if current == script.get_current_head():
            return
    if server and not _may_change_schema(engine, has_schema=current is not None):
        # A workstation connected as the application role never migrates (docs/rules.md,
        # "Running a clinic server"): only `caseload server migrate` moves a server's schema.
        if current is None:
            raise PracticeMissing(
                f"The database {engine.url.render_as_string(hide_password=True)} holds no Caseload "
                "practice yet; ask whoever runs the practice server to run `caseload server init`.")
        raise ServerNeedsUpgrade(
            "The practice server needs an upgrade: ask whoever runs it to run `caseload server migrate`.")
    with _unavailable_as_error():
        command.upgrade(alembic_config(engine), "head")


class ServerNeedsUpgrade(CaseloadError):
    """The server's schema is older than this workstation's, and this connection may not upgrade it."""


def _may_change_schema(engine: Engine, *, has_schema: bool) -> bool:
    """Whether this PostgreSQL connection's role may migrate: it owns the schema's version table
    (or, for a new practice, may create tables), as ``caseload server init``'s application role
    may not."""
    with _unavailable_as_error(), engine.connect() as conn:
        if has_schema:
            return bool(conn.exec_driver_sql(
                "SELECT r.rolsuper OR t.tableowner = current_user FROM pg_tables t, pg_roles r "
                "WHERE t.schemaname = current_schema() AND t.tablename = 'alembic_version' "
                "AND r.rolname = current_user").scalar())
        return bool(conn.exec_driver_sql("SELECT has_schema_privilege(current_schema(), 'CREATE')").scalar())


def _mark_sqlite(engine: Engine) -> None:
    with _unavailable_as_error(), engine.connect() as conn:
        marked = conn.exec_driver_sql("PRAGMA application_id").scalar() == practice_file.APPLICATION_ID
        line = conn.exec_driver_sql("PRAGMA user_version").scalar()
        if not marked or line != int(SCHEMA_HEAD):
            conn.exec_driver_sql(f"PRAGMA application_id = {practice_file.APPLICATION_ID}")
            conn.exec_driver_sql(f"PRAGMA user_version = {int(SCHEMA_HEAD)}")
            conn.commit()
        _refresh_statistics(conn)


STATISTICS_FROM = 1_000  # audit entries: below this every plan is quick


def _refresh_statistics(conn: Connection) -> None:
    """Sampled statistics of the audit log for SQLite's planner, taken again whenever the log
    has doubled since they were last taken (0.3 s at a million entries, encrypted).

    Without them it cannot tell which index narrows a query most: the Audit log filtered by a
    user and an old day took 2.3 s at a million entries walking the user's entries, 78 ms with
    them. Only the audit log's table: SQLCipher's full statistics of a 100,000-client practice
    took 0.9 s. Only a hint: skipped at once if another program is writing.
    """
    entries = conn.exec_driver_sql("SELECT max(seq) FROM audit_events").scalar() or 0
    if entries < STATISTICS_FROM:
        return
    taken = 0
    if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
        stat = conn.exec_driver_sql(
            "SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_audit_events_seq'").scalar()
        with contextlib.suppress(ValueError, IndexError):
            taken = int(str(stat).split()[0])
    if taken and entries < 2 * taken:
        return
    conn.exec_driver_sql("PRAGMA busy_timeout = 0")
    try:
        conn.exec_driver_sql("PRAGMA analysis_limit = 400")
        conn.exec_driver_sql("ANALYZE audit_events")
        conn.commit()
    except DBAPIError:
        conn.rollback()
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _prepare(engine: Engine, *, upgrade: bool, create: bool) -> None:
    if upgrade:
        migrate(engine, create=create)
        if engine.dialect.name == "sqlite":
            _mark_sqlite(engine)


def open_database(url: str | None = None, *, upgrade: bool = True, create: bool = False,
                  keys: KeyHolder | None = None) -> Database:
    """Open (and migrate) the practice at ``url``; ``create`` lets a new one be made there.

    ``keys``: the SQLite file is encrypted with this key. While the holder is empty nothing is
    read yet; ``Database.finish_opening`` does the rest once the key is there.
    """
    engine = create_database_engine(resolve_url(url), create=create, keys=keys)
    waiting = keys is not None and not keys.present
    try:
        if not waiting:
            _prepare(engine, upgrade=upgrade, create=create)
    except BaseException:
        engine.dispose()
        raise
    sessions = sessionmaker(engine, expire_on_commit=False)
    stamp_changes(sessions)
    chain_audit_rows(sessions)
    db = Database(engine=engine, sessions=sessions, keys=keys, opened=not waiting, upgrade=upgrade)
    if waiting:
        return db
    db._note_identity()
    if upgrade:
        # A deletion whose erasing was held up (or cut short by a crash) is finished now.
        with contextlib.suppress(DatabaseUnavailable):
            db.finish_pending_erasure()
    return db
