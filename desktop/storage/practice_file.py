"""Is this file a Caseload practice? Looked at before anything writes to it.

A Caseload SQLite file carries SQLite's ``application_id`` (``APPLICATION_ID``)
and its schema line in ``user_version``. Before any pragma, migration or write,
the file is read without SQLite's help (its 100-byte header), and, for files
from before the mark existed, through an immutable read-only connection that
can create or change nothing. Anything else is refused in one sentence:
another program's database, a 0-byte or missing file where no practice is
being created, a damaged or foreign file.

Files are created, with their folder, readable by their owner only (0600 and
0700); existing ones are tightened when opened.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from desktop.storage.errors import DatabaseDamaged, NotAPracticeFile, PracticeMissing

APPLICATION_ID = 0x43534C44  # "CSLD"
_HEADER = b"SQLite format 3\x00"
# Tables only Caseload's own schema has all of: a file from before the mark existed.
_CASELOAD_TABLES = {"alembic_version", "clients", "practice_users", "audit_events", "status_changes"}
SIDE_FILES = ("-wal", "-shm", "-journal")


ENCRYPTED_PAGE = 4096  # SQLCipher 4's page size: an encrypted file is a whole number of pages


def looks_encrypted(path: Path) -> bool:
    """Whether ``path`` is a non-empty file that does not start as a plain SQLite file does
    (an encrypted practice, or a damaged or foreign file: its key file tells which)."""
    try:
        if path.stat().st_size == 0:
            return False
    except OSError:
        return False
    return not _header(path).startswith(_HEADER)


def check_before_open(path: Path, *, create: bool, encrypted: bool = False) -> bool:
    """Refuse ``path`` unless it is a practice file (or may become one); True if it is new.

    ``encrypted``: the file has a key file, so it is expected to be unreadable without it.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        if not create:
            raise PracticeMissing(
                f"There is no practice database at {path}. Restore it from a backup, or choose "
                "another file.") from None
        _create(path)
        return True
    except OSError as exc:
        raise NotAPracticeFile(f"Caseload cannot read {path}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise NotAPracticeFile(f"{path} is not a file, so it is not a Caseload practice.")
    if info.st_size == 0:
        if create:
            tighten(path)
            return True
        raise NotAPracticeFile(
            f"{path} is empty, not a Caseload practice; nothing was changed. Restore the practice "
            "from a backup, or choose another file.")
    header = _header(path)
    if encrypted:
        if header.startswith(_HEADER):
            raise NotAPracticeFile(
                f"{path} is not encrypted, yet a key file is used to open it; nothing was changed.")
        if info.st_size % ENCRYPTED_PAGE:
            raise DatabaseDamaged(
                f"{path} is damaged (it was cut short, perhaps while being copied); nothing was "
                "changed. Restore it and its key file from a backup.")
        tighten(path)
        return False
    if not header.startswith(_HEADER):
        raise DatabaseDamaged(
            f"{path} is damaged or is not a Caseload practice file; nothing was changed. Restore it "
            "from a backup.")
    application_id = int.from_bytes(header[68:72], "big")
    if application_id == APPLICATION_ID:
        tighten(path)
        return False
    if application_id == 0 and _CASELOAD_TABLES <= _tables(path):
        tighten(path)
        return False  # a practice from before Caseload marked its files; marked after migrating
    raise NotAPracticeFile(
        f"{path} is another program's database, not a Caseload practice; nothing was changed.")


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(100)
    except OSError as exc:
        raise NotAPracticeFile(f"Caseload cannot read {path}: {exc.strerror or exc}.") from None


def _tables(path: Path) -> set[str]:
    """Table names, read through a connection that cannot create or change any file."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return set()
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        raise DatabaseDamaged(
            f"{path} is damaged or is not a Caseload practice file; nothing was changed. Restore it "
            "from a backup.") from None
    finally:
        conn.close()


def _create(path: Path) -> None:
    folder = path.parent
    if not folder.exists():
        try:
            folder.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            raise NotAPracticeFile(f"Caseload cannot create the folder {folder}: {exc.strerror or exc}.") from None
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process made it a moment ago; SQLite opens it as it finds it
    except OSError as exc:
        raise NotAPracticeFile(f"Caseload cannot create {path}: {exc.strerror or exc}.") from None


def tighten(path: Path) -> None:
    """Make the practice file and SQLite's side files readable by their owner only."""
    for candidate in (path, *(path.with_name(path.name + side) for side in SIDE_FILES)):
        with contextlib.suppress(OSError):
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)


def mark(dbapi_connection: sqlite3.Connection, schema_line: int) -> None:
    """Stamp a practice file as Caseload's, with its schema line."""
    dbapi_connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    dbapi_connection.execute(f"PRAGMA user_version = {schema_line}")
    dbapi_connection.commit()


@contextlib.contextmanager
def held_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock on the small file ``path`` (made if missing), held for the block, across
    processes; released by the system if the process dies. Yields False at once, without the lock,
    if ``wait`` is False and another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            if wait:
                raise
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock
