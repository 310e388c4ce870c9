"""Noticing that another process or workstation changed the database.

SQLite: ``PRAGMA data_version`` on one long-lived connection changes whenever
another connection commits. PostgreSQL: every write transaction sends a NOTIFY
(see ``Database.transaction``), which a LISTENing connection picks up. Both are
cheap enough to ask a few times a second.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from sqlalchemy.exc import DBAPIError

from desktop.storage.database import CHANGE_CHANNEL, Database
from desktop.storage.errors import CaseloadError, DatabaseUnavailable


class ChangeWatcher:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Locking an encrypted file closes this connection too, so no connection keeps its key.
        db.when_locked(self.close)
        self._conn: Any = None  # a DB-API connection: sqlite3's or psycopg's
        self._last_version: int | None = None
        self._had_connection = False
        self._failures = 0
        self._skip = 0

    def _connect(self) -> None:
        if self.db.is_sqlite:
            self._conn = self.db.engine.raw_connection()
            self._last_version = self._sqlite_version()
        elif self.db.is_postgresql:
            import psycopg  # only clinics on PostgreSQL pay for importing it

            url = self.db.engine.url.set(drivername="postgresql")
            conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                                   connect_timeout=5)
            conn.execute(f"LISTEN {CHANGE_CHANNEL}")
            self._conn = conn

    def _sqlite_version(self) -> int:
        cur = self._conn.cursor()  # type: ignore[union-attr]
        try:
            cur.execute("PRAGMA data_version")
            return int(cur.fetchone()[0])
        finally:
            cur.close()

    def changed(self) -> bool:
        """True if someone committed since the last call.

        A lost connection is not an error here: it is dropped and made again on
        a later tick, and that reconnect counts as a change, since notifications
        may have been missed meanwhile.
        """
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
            if self.db.is_sqlite:
                version = self._sqlite_version()
                changed = version != self._last_version
                self._last_version = version
                if changed or self.db.erase_pending:
                    # A deletion here or in another process may be waiting for a reader
                    # to let go of the file: finish its erasing as soon as one has.
                    with contextlib.suppress(CaseloadError):
                        self.db.finish_pending_erasure()
                return changed
            return bool(list(self._conn.notifies(timeout=0)))  # type: ignore[union-attr]
        except (sqlite3.Error, DBAPIError, DatabaseUnavailable) + _driver_errors():
            self.close()
            # A server that is down would make every tick wait for the connect
            # timeout: try again after 1, 2, 4 … up to 64 ticks.
            self._failures += 1
            self._skip = min(2 ** (self._failures - 1), 64)
            return False

    def _ever_connected_before(self) -> bool:
        first = not self._had_connection
        self._had_connection = True
        return not first

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


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
