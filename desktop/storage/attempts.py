"""Where failed sign-ins are counted, across processes: a file beside a local practice, a
table on a server.

A local practice's file may be encrypted, and nothing can be written to it before
someone signs in, so its counts live in a small file named after it
(``caseload.db`` → ``caseload.signin``), changed under an exclusive lock. A
PostgreSQL practice keeps them in ``sign_in_attempts``, shared by every workstation.

Neither holds a username. A name typed at sign-in may be a password typed into
the wrong box, so it is reduced to a 16-bit bucket of a keyed hash: too little to
tell what was typed, enough that two real usernames rarely share one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from desktop.domain.models import SignInAttempts
from desktop.storage.database import Database

SUFFIX = ".signin"
MAX_TIMES = 50  # failure times kept for the audit log, per bucket
MAX_BUCKETS = 5000


@dataclass
class Record:
    failures: int = 0
    last_failure: float | None = None
    unaudited: tuple[float, ...] = ()


def bucket(secret: bytes, username: str) -> str:
    name = (username or "").strip().casefold().encode("utf-8", "surrogatepass")
    return hmac.new(secret, name, hashlib.sha256).hexdigest()[:4]


class AttemptStore(Protocol):
    def read(self, username: str) -> Record: ...

    def failed(self, username: str, at: float, *, audited: bool) -> Record: ...

    def succeeded(self, username: str) -> Record: ...


def attempts_path(database: Path) -> Path:
    return database.with_name(database.stem + SUFFIX) if database.suffix else database.with_name(
        database.name + SUFFIX)


class FileAttempts:
    """The counts of a local practice, in ``<name>.signin`` beside it."""

    def __init__(self, database: Path) -> None:
        self.path = attempts_path(database)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
            raw = b""
            while chunk := os.read(fd, 1 << 16):
                raw += chunk
            try:
                data = json.loads(raw.decode("utf-8")) if raw else {}
                if not isinstance(data, dict) or not isinstance(data.get("buckets"), dict):
                    raise ValueError
                bytes.fromhex(data["secret"])
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError, UnicodeDecodeError):
                data = {"secret": secrets.token_hex(16), "buckets": {}}  # a damaged file starts over
            before = json.dumps(data, sort_keys=True)
            yield data
            after = json.dumps(data, sort_keys=True)
            if after != before:
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, after.encode("utf-8"))
                os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _record(data: dict[str, Any], key: str) -> Record:
        item = data["buckets"].get(key)
        try:
            return Record(int(item["failures"]), float(item["last"]) if item["last"] is not None else None,
                          tuple(float(t) for t in item["unaudited"]))
        except (TypeError, KeyError, ValueError):
            return Record()

    def read(self, username: str) -> Record:
        with self._locked() as data:
            return self._record(data, bucket(bytes.fromhex(data["secret"]), username))

    def failed(self, username: str, at: float, *, audited: bool) -> Record:
        with self._locked() as data:
            key = bucket(bytes.fromhex(data["secret"]), username)
            old = self._record(data, key)
            new = Record(old.failures + 1, at, old.unaudited if audited else (*old.unaudited, at)[-MAX_TIMES:])
            buckets = data["buckets"]
            if key not in buckets and len(buckets) >= MAX_BUCKETS:
                oldest = min(buckets, key=lambda k: buckets[k].get("last") or 0)
                del buckets[oldest]
            buckets[key] = {"failures": new.failures, "last": new.last_failure, "unaudited": list(new.unaudited)}
            return new

    def succeeded(self, username: str) -> Record:
        with self._locked() as data:
            key = bucket(bytes.fromhex(data["secret"]), username)
            old = self._record(data, key)
            data["buckets"].pop(key, None)
            return old


class TableAttempts:
    """The counts of a server practice, in ``sign_in_attempts``, one row per bucket, locked while
    changed so two workstations cannot lose a count."""

    SECRET = b"caseload-sign-in-attempts"  # the table is readable only by those who can read the practice

    def __init__(self, db: Database) -> None:
        self.db = db

    def _row(self, s: Any, key: str, *, lock: bool) -> SignInAttempts | None:
        stmt = select(SignInAttempts).where(SignInAttempts.bucket == key)
        if lock and self.db.is_postgresql:
            stmt = stmt.with_for_update()
        return s.scalars(stmt).one_or_none()

    @staticmethod
    def _as_record(row: SignInAttempts | None) -> Record:
        if row is None:
            return Record()
        times = tuple(float(t) for t in row.unaudited.split(",") if t)
        return Record(row.failures, row.last_failure, times)

    def read(self, username: str) -> Record:
        with self.db.reading() as s:
            return self._as_record(self._row(s, bucket(self.SECRET, username), lock=False))

    def failed(self, username: str, at: float, *, audited: bool) -> Record:
        key = bucket(self.SECRET, username)
        with self.db.transaction() as s:
            self.db.take_write_lock(s, f"sign-in:{key}")
            row = self._row(s, key, lock=True)
            if row is None:
                row = SignInAttempts(bucket=key, failures=0, unaudited="")
                s.add(row)
            row.failures = (row.failures or 0) + 1
            row.last_failure = at
            if not audited:
                times = [t for t in (row.unaudited or "").split(",") if t]
                row.unaudited = ",".join([*times, repr(at)][-MAX_TIMES:])
            return self._as_record(row)

    def succeeded(self, username: str) -> Record:
        key = bucket(self.SECRET, username)
        with self.db.transaction() as s:
            self.db.take_write_lock(s, f"sign-in:{key}")
            row = self._row(s, key, lock=True)
            found = self._as_record(row)
            if row is not None:
                s.delete(row)
            return found


def _lock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
