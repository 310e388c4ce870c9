"""Noticing that another process or workstation changed the database, and whether the server answers.

SQLite: ``PRAGMA data_version`` on one long-lived connection changes whenever
another connection commits; it is asked on the caller's thread, a few times a
second (a local file answers at once).

PostgreSQL: every write transaction sends a NOTIFY (see ``Database.transaction``),
which a LISTENing connection picks up. That connection lives on a thread of its
own, so a server that stops answering never holds up the window: the thread
notices (the server closing the connection at once; a network gone quiet through
a query every few seconds and TCP keepalives), marks the practice's server
unreachable for this process (``server_unreachable``: the controllers' gate then
refuses at once instead of waiting for a connect timeout on the window's thread),
and tries again after 1, 2, 4 … up to 32 seconds (``RETRY_FIRST_SECONDS``,
``RETRY_MOST_SECONDS``: tests shorten them), or at once when asked (``retry_now``).
A reconnect counts as a change, since notifications sent meanwhile are lost.
``link()`` tells the window what it needs for its banner: connected or not,
since when, and how long until the next try.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from desktop.storage.database import CHANGE_CHANNEL, KEEPALIVES, Database, libpq_conninfo
from desktop.storage.errors import CaseloadError, DatabaseUnavailable

T = TypeVar("T")

# After the server stopped answering, the next try comes after RETRY_FIRST_SECONDS, then twice
# as long each time, up to RETRY_MOST_SECONDS. Read when a watcher is made.
RETRY_FIRST_SECONDS = 1.0
RETRY_MOST_SECONDS = 32.0
HEARTBEAT_SECONDS = 5.0  # a quiet connection is asked something this often, to notice a dead network
LISTEN_SLICE_SECONDS = 0.25  # how long the thread waits for notifications before looking up again
CONNECT_TIMEOUT_SECONDS = 5
# A connection whose network went quiet fails within about ten seconds instead of TCP's minutes.


@dataclass(frozen=True)
class Link:
    """What a watcher knows of the connection to the practice server, for the window's banner."""

    connected: bool
    lost_since: dt.datetime | None  # when the server stopped answering (local time), None while it answers
    retry_in: float | None  # seconds to the next try; 0 while one is under way; None while connected
    last_heard: dt.datetime | None  # when the server last answered (local time)
    reconnects: int  # how many times the connection came back
    # A change was heard of and not yet taken by ``changed()``: whatever read the caller made
    # before is not current as of ``last_heard``.
    change_waiting: bool = False
    # The server answered the last try and refused this workstation (a changed password, a
    # certificate from another root …), in a sentence; None when it simply did not answer.
    refusal: str | None = None


class _Reachability:
    """Whether this process's watcher of one database finds its server answering (shared by threads)."""

    def __init__(self) -> None:
        self.unreachable_since: dt.datetime | None = None
        self.marked_by: object | None = None
        self.suspect = threading.Event()  # someone's operation failed to reach it: look now


class PerDatabase(Generic[T]):
    """One ``T`` per open database in this process, made on first use, gone with its engine
    (what this process knows of a server, shared by the window's threads)."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[Engine, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, db: Database) -> T:
        with self._lock:
            found = self._made.get(db.engine)
            if found is None:
                found = self._made[db.engine] = self._make()
            return found

    def get(self, db: Database) -> T | None:
        """The one made for ``db``, without making it."""
        with self._lock:
            return self._made.get(db.engine)


_REACHABILITY: PerDatabase[_Reachability] = PerDatabase(_Reachability)
_reachability = _REACHABILITY.of


def server_unreachable(db: Database) -> dt.datetime | None:
    """Since when this process's change watcher finds the practice server not answering; None if
    it answers, or if nothing watches it (the command line)."""
    found = _REACHABILITY.get(db)
    return None if found is None else found.unreachable_since


def report_unreachable(db: Database) -> None:
    """An operation could not reach the server: have the watcher look at its own connection now."""
    _reachability(db).suspect.set()


def lost_connection(error: BaseException) -> bool:
    """Whether ``error`` (a ``DatabaseUnavailable`` or the driver's error under it) means the
    practice server could not be reached or dropped the connection, rather than a busy row, a
    timeout of a statement, or a refused certificate."""
    from desktop.storage.database import _first_line, _sign_in_refusal, _tls_refusal

    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, DBAPIError):
        cause = cause.__cause__
    if cause is None or cause.orig is None:
        return False
    first = _first_line(cause)
    if _tls_refusal(first) is not None or _sign_in_refusal(first) is not None:
        return False  # the server answered, and was refused: another sentence says why
    import psycopg

    orig = cause.orig
    if type(orig) is psycopg.OperationalError:  # the driver's own: connecting failed, connection lost
        return True
    errors = psycopg.errors
    return isinstance(orig, (errors.ConnectionException, errors.AdminShutdown, errors.CrashShutdown,
                             errors.CannotConnectNow))


class ChangeWatcher:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Locking an encrypted file closes this connection too, so no connection keeps its key.
        db.when_locked(self.close)
        self._conn: Any = None  # SQLite's DB-API connection (a server's lives in its listener)
        self._last_version: int | None = None
        self._had_connection = False
        self._failures = 0
        self._skip = 0
        # A server's watching: the thread, and what it shares with the caller's thread.
        self.retry_first = RETRY_FIRST_SECONDS
        self.retry_most = RETRY_MOST_SECONDS
        self._lock = threading.Lock()
        self._listener: _Listener | None = None
        self._pending = False
        self._lost_since: dt.datetime | None = None
        self._last_heard: dt.datetime | None = None
        self._retry_at: float | None = None
        self._trying = False
        self._reconnects = 0
        self._refusal: str | None = None  # why the server refused the last try, if it answered

    # ------------------------------------------------------------------ SQLite

    def _connect(self) -> None:
        self._conn = self.db.engine.raw_connection()
        self._last_version = self._sqlite_version()

    def _sqlite_version(self) -> int:
        cur = self._conn.cursor()  # type: ignore[union-attr]
        try:
            cur.execute("PRAGMA data_version")
            return int(cur.fetchone()[0])
        finally:
            cur.close()

    def changed(self) -> bool:
        """True if someone committed since the last call.

        A lost connection is not an error here: it is made again later, and that
        reconnect counts as a change, since notifications may have been missed meanwhile.
        """
        if self.db.is_postgresql:
            return self._server_changed()
        if self._skip > 0:
            self._skip -= 1
            return False
        if self.db.locked:
            return False  # nothing can be read until someone signs in again
        try:
            if self._conn is None:
                self._connect()
                return self._ever_connected_before()
            self._failures = 0
            version = self._sqlite_version()
            changed = version != self._last_version
            self._last_version = version
            if changed or self.db.erase_pending:
                # A deletion here or in another process may be waiting for a reader
                # to let go of the file: finish its erasing as soon as one has.
                with contextlib.suppress(CaseloadError):
                    self.db.finish_pending_erasure()
            return changed
        except (sqlite3.Error, DBAPIError, DatabaseUnavailable) + _driver_errors():
            self._close_file_connection()
            # A file that cannot be opened now would make every tick wait for its busy timeout:
            # try again after 1, 2, 4 … up to 64 ticks.
            self._failures += 1
            self._skip = min(2 ** (self._failures - 1), 64)
            return False

    def _ever_connected_before(self) -> bool:
        first = not self._had_connection
        self._had_connection = True
        return not first

    def _close_file_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    # ------------------------------------------------------------------ a server

    def _server_changed(self) -> bool:
        if self._listener is None:
            if self._had_connection:
                # Watching again after ``close`` (the idle lock): connected on the listener's
                # thread, and that reconnect counts as a change.
                self._listener = _Listener(self, None)
                self._listener.start()
                return False
            # The first connection is made here, on the caller's thread, so a change committed
            # after this call is never missed by a list read just after it (``MainWindow.load``);
            # every later one is made on the listener's thread.
            refusal = None
            try:
                conn = self._open()
            except _connect_errors() as exc:
                conn, refusal = None, _refusal_of(exc)
            listener = _Listener(self, conn)
            self._listener = listener
            with self._lock:
                if conn is None:
                    self._failed(listener, refusal)
                else:
                    self._answered(listener)
            listener.start()
            return False
        with self._lock:
            pending, self._pending = self._pending, False
        return pending

    def _open(self) -> Any:
        import psycopg  # only clinics on PostgreSQL pay for importing it
        from psycopg.conninfo import make_conninfo

        conninfo = make_conninfo(libpq_conninfo(self.db.engine.url), connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                 application_name="caseload-watch", **KEEPALIVES)
        conn = psycopg.connect(conninfo, autocommit=True)
        try:
            conn.execute(f"LISTEN {CHANGE_CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    def link(self) -> Link:
        """What is known now of the connection (always connected for a file)."""
        if not self.db.is_postgresql:
            return Link(True, None, None, None, 0, False)
        with self._lock:
            lost = self._lost_since
            retry_in = None
            if lost is not None:
                retry_in = 0.0 if self._trying or self._retry_at is None else max(
                    0.0, self._retry_at - time.monotonic())
            return Link(lost is None, lost, retry_in, self._last_heard, self._reconnects, self._pending,
                        self._refusal if lost is not None else None)

    def retry_now(self) -> None:
        """Try to connect again at once (Retry now), rather than after the wait under way."""
        with self._lock:
            self._retry_at = time.monotonic()
        listener = self._listener
        if listener is not None:
            listener.wake.set()

    # Called by the listener with ``_lock`` held; a listener already stopped changes nothing.

    def _answered(self, listener: _Listener, *, reconnected: bool = False) -> None:
        if listener.stop.is_set():
            return
        self._had_connection = True
        self._last_heard = _now()
        self._refusal = None
        self._failures = 0
        self._retry_at = None
        if reconnected:
            self._pending = True
            self._reconnects += 1
        if self._lost_since is not None or reconnected:
            self._lost_since = None
            reach = _reachability(self.db)
            if reach.marked_by is self:
                reach.unreachable_since, reach.marked_by = None, None

    def _failed(self, listener: _Listener, refusal: str | None = None) -> None:
        if listener.stop.is_set():
            return
        self._refusal = refusal
        self._failures += 1
        self._retry_at = time.monotonic() + min(self.retry_first * 2 ** (self._failures - 1), self.retry_most)
        if self._lost_since is None:
            self._lost_since = _now()
            reach = _reachability(self.db)
            reach.unreachable_since, reach.marked_by = self._lost_since, self

    def _forget(self) -> None:
        """Nobody watches through this watcher any more: it stops marking the server unreachable."""
        with self._lock:
            self._lost_since = None
            self._trying = False
            # Watching again (after the idle lock) tries at once, not after an old back-off.
            self._retry_at = None
            self._failures = 0
            reach = _REACHABILITY.get(self.db)
            if reach is not None and reach.marked_by is self:
                reach.unreachable_since, reach.marked_by = None, None

    def close(self) -> None:
        """Let go of the connection (the idle lock, closing). Polling again starts over."""
        self._close_file_connection()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop.set()
            listener.wake.set()  # it closes its connection itself, within a moment
            self._forget()


class _Listener(threading.Thread):
    """The thread that holds a server's LISTEN connection and makes it again when it is lost."""

    def __init__(self, watcher: ChangeWatcher, conn: Any) -> None:
        super().__init__(name="caseload-watch", daemon=True)
        self.watcher = watcher
        self.conn = conn
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.reach = _reachability(watcher.db)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if self.conn is None:
                    self._reconnect()
                else:
                    self._listen()
        finally:
            self._drop()

    def _reconnect(self) -> None:
        watcher = self.watcher
        with watcher._lock:
            retry_at = watcher._retry_at
        wait = 0.0 if retry_at is None else retry_at - time.monotonic()
        if wait > 0:
            self.wake.wait(wait)
            self.wake.clear()
            return
        with watcher._lock:
            watcher._trying = True
        try:
            conn = watcher._open()
        except _connect_errors() as exc:
            with watcher._lock:
                watcher._trying = False
                watcher._failed(self, _refusal_of(exc))
            return
        if self.stop.is_set():
            with contextlib.suppress(Exception):
                conn.close()
            return
        self.conn = conn
        self.reach.suspect.clear()
        with watcher._lock:
            watcher._trying = False
            watcher._answered(self, reconnected=True)

    def _listen(self) -> None:
        watcher = self.watcher
        conn = self.conn
        try:
            for _notice in conn.notifies(timeout=LISTEN_SLICE_SECONDS):
                with watcher._lock:
                    watcher._pending = True
            with watcher._lock:
                heard = watcher._last_heard
            quiet = heard is None or (_now() - heard).total_seconds() >= HEARTBEAT_SECONDS
            if quiet or self.reach.suspect.is_set() or self.wake.is_set():
                self.reach.suspect.clear()
                self.wake.clear()
                conn.execute("SELECT 1")
                # A change notified while that was under way counts before the answer does.
                waiting = bool(list(conn.notifies(timeout=0)))  # read to the end: it holds the connection's lock
                with watcher._lock:
                    watcher._pending = watcher._pending or waiting
                    watcher._answered(self)
        except _connect_errors():
            self._drop()
            with watcher._lock:
                watcher._failed(self)

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _refusal_of(error: BaseException) -> str | None:
    """The sentence for a connection the server answered and refused, or None (no answer)."""
    from desktop.storage.database import _sign_in_refusal, _tls_refusal

    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    said = _tls_refusal(first) or _sign_in_refusal(first)
    # The banner keeps what is typed and saves nothing meanwhile: no "nothing was changed" there.
    return said.replace("; nothing was changed.", ".") if said else None


def _connect_errors() -> tuple[type[BaseException], ...]:
    import psycopg

    return (psycopg.Error, OSError)


def _driver_errors() -> tuple[type[BaseException], ...]:
    import sys

    found: tuple[type[BaseException], ...] = ()
    psycopg = sys.modules.get("psycopg")  # imported only if a PostgreSQL watcher ran
    if psycopg is not None:
        found += (psycopg.Error,)
    cipher = sys.modules.get("sqlcipher3.dbapi2")  # imported only for an encrypted file
    if cipher is not None:
        found += (cipher.Error,)
    return found
