"""Caseload touches only its own practice files, creates them private, and says so in one line.

Every refusal here must leave the file byte for byte as it was and create no
side file (``-wal``, ``-shm``) or folder.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.cli.test_cli import caseload, refused, succeeded
from tests.conftest import PG_ADMIN_URL, pg_database_url


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def siblings(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()}


def other_programs_database(path: Path, *, alembic: bool = False) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('shopping list')")
    if alembic:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
        conn.execute("INSERT INTO alembic_version VALUES ('a1b2c3d4e5f6')")
    conn.commit()
    conn.close()
    return path


def refused_untouched(path: Path, *args: str, expect: str, code: int = 1) -> None:
    before, files = digest(path), siblings(path)
    line = refused(caseload(None, "--database", f"sqlite:///{path}", *args), code=code)
    assert expect in line, line
    assert digest(path) == before
    assert siblings(path) == files


@pytest.mark.parametrize("alembic", [False, True], ids=["plain", "with alembic_version"])
def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path, alembic: bool) -> None:
    path = other_programs_database(tmp_path / "notes.db", alembic=alembic)
    refused_untouched(path, "clients", "list", "--as", "owner", expect="another program's database")
    with sqlite3.connect(path) as conn:  # still the other program's, and not switched to WAL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} >= {"notes"}


@pytest.mark.parametrize("content", [
    b"", b"just some text\n" * 20, os.urandom(4096), b"\x00" * 8192,
], ids=["empty", "text", "random", "zeroes"])
def test_an_empty_or_damaged_file_is_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "caseload.db"
    path.write_bytes(content)
    # A file that is not SQLite may be an encrypted practice whose key file is missing: the
    # sentence says both what to bring back and what to restore.
    refused_untouched(path, "clients", "list", "--as", "owner",
                      expect="empty" if not content else "is encrypted or damaged, and there is no key file")


def test_a_practice_with_a_truncated_file_is_refused_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "caseload.db"
    succeeded(caseload(None, "--database", f"sqlite:///{path}", "demo", "--clients", "50"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    # The demo users' own password, so the key opens the file and finds it cut short (with a wrong
    # one it cannot tell, and says the password is wrong), whether or not the cut falls on a page.
    ran = caseload(None, "--database", f"sqlite:///{path}", "clients", "list", "--as", "owner", password="demo")
    assert ran.code == 1 and len(ran.err.splitlines()) == 1 and "Traceback" not in ran.err
    assert "damaged" in ran.err or "backup" in ran.err


def test_a_missing_practice_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "caseload.db"
    line = refused(caseload(None, "--database", f"sqlite:///{path}", "clients", "list", "--as", "owner"))
    assert "There is no practice database at" in line and "backup" in line
    assert not path.parent.exists()


def test_init_creates_a_private_practice_once(tmp_path: Path) -> None:
    path = tmp_path / "new folder" / "caseload.db"
    env = {"CASELOAD_NEW_PASSWORD": "a long secret"}
    out = succeeded(caseload(None, "--database", f"sqlite:///{path}", "init", "--owner", "dana",
                             env=env))
    assert "dana" in out
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for candidate in path.parent.iterdir():
        assert stat.S_IMODE(candidate.stat().st_mode) == 0o600, candidate.name
    listed = caseload(None, "--database", f"sqlite:///{path}", "clients", "list", "--as", "dana",
                      password="a long secret")
    assert listed.code == 0, listed.err
    again = refused(caseload(None, "--database", f"sqlite:///{path}", "init", "--owner", "eve", env=env),
                    code=2)
    assert "already a practice" in again


def test_a_practice_readable_by_others_is_made_private_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "caseload.db"
    succeeded(caseload(None, "--database", f"sqlite:///{path}", "demo", "--clients", "20"))
    path.chmod(0o644)
    succeeded(caseload(None, "--database", f"sqlite:///{path}", "clients", "list", "--as", "owner",
                       password="demo"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for side in ("-wal", "-shm"):
        other = path.with_name(path.name + side)
        if other.exists():
            assert stat.S_IMODE(other.stat().st_mode) == 0o600


@pytest.mark.postgres
@pytest.mark.parametrize("foreign", [True, False], ids=["another program's tables", "empty"])
def test_a_postgresql_database_that_is_not_a_practice_is_refused_and_left_alone(pg_url: str, foreign: bool) -> None:
    name = f"caseload_other_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_database_url(pg_url, name)
    try:
        if foreign:
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute("CREATE TABLE notes (id serial primary key, body text)")
        line = refused(caseload(None, "--database", url, "clients", "list", "--as", "owner"))
        assert ("another program" in line) if foreign else ("no Caseload practice" in line)
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables == ({"notes"} if foreign else set())
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def damaged_practice(tmp_path: Path) -> Path:
    path = tmp_path / "caseload.db"
    succeeded(caseload(None, "--database", f"sqlite:///{path}", "demo", "--clients", "400"))
    data = bytearray(path.read_bytes())
    page = 4096
    for number in range(20, 32):  # twelve pages in the middle of the client table
        data[number * page:(number + 1) * page] = bytes(page)
    path.write_bytes(bytes(data))
    return path


def test_check_reports_a_damaged_file_and_changes_are_refused(tmp_path: Path) -> None:
    path = damaged_practice(tmp_path)
    url = f"sqlite:///{path}"
    ran = caseload(None, "--database", url, "check", "--as", "owner", password="demo")
    said = ran.out + ran.err
    assert ran.code == 1 and "damaged" in said and "backup" in said and "Traceback" not in said, ran
    before = digest(path)
    line = refused(caseload(None, "--database", url, "clients", "set-status", "3", "inactive",
                            "--as", "owner", password="demo"))
    assert "damaged" in line and "backup" in line
    assert digest(path) == before


def test_check_says_a_sound_file_is_sound(tmp_path: Path) -> None:
    path = tmp_path / "caseload.db"
    succeeded(caseload(None, "--database", f"sqlite:///{path}", "demo", "--clients", "40"))
    url = f"sqlite:///{path}"
    # An encrypted file is checked once someone signs in: it cannot be read before.
    assert "--as USERNAME" in refused(caseload(None, "--database", url, "check"), code=2)
    assert "is sound" in succeeded(caseload(None, "--database", url, "check", "--as", "owner", password="demo"))
