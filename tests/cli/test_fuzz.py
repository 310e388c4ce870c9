"""Bad input on the command line: one clear line, a non-zero exit, and nothing changed.

Hypothesis throws malformed, huge, invisible, control and non-UTF-8 values at
every command (at least 1,000 examples each), run in this process against a
real SQLite practice. Whatever it finds must end in exactly one line on
stderr, never a traceback, and a non-zero exit. A refusal at the edge (exit 2:
the words themselves are wrong) leaves the file byte for byte as it was; a
refusal by the controllers leaves every table as it was but the audit log,
which records it on purpose.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.cli.main import main
from desktop.controllers.clients import ClientsController
from desktop.domain.models import PracticeUser, Role
from desktop.storage.database import open_database

EXAMPLES = int(os.environ.get("CASELOAD_FUZZ_EXAMPLES", "1000"))  # at least 1,000 in CI
PASSWORD = "fuzz password"
# Cheap to verify, so a thousand sign-ins take a second, not a minute.
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co"]), min_size=1, max_size=10),
    st.sampled_from(["", " ", "\x00", "\x1b[31mred", "Ann\u200b Lee", "\u202eevil", "a" * 5000,
                     "\udcff\udcfe", "Robert'); DROP TABLE clients;--", "%", "_", "\\", "\n\n"]),
    st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
nasty_id = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["18446744073709551616", "9223372036854775808", "0", "-1", "1e3", "0x10", "", " 7",
                     "٣", "1_000", "NaN"]),
    nasty_text,
).filter(lambda text: not (text.isascii() and text.isdigit() and 1 <= int(text) <= 10))
# (never the id of a record that exists: 1 to 10 here)


@pytest.fixture(scope="module")
def practice_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("fuzz") / "caseload.db"
    db = open_database(f"sqlite:///{path}", create=True)
    with db.transaction() as s:
        s.add_all([PracticeUser(username=u, display_name=u.title(), role=r, entire_practice_access=True,
                                password_hash=CHEAP_HASH, active=True)
                   for u, r in (("owner", Role.ACCOUNT_OWNER), ("scheduler", Role.SCHEDULER))])
    with db.reading() as s:
        from desktop.controllers.users import actor_for

        owner = actor_for(s.query(PracticeUser).filter_by(username="owner").one())
    clients = ClientsController(db)
    for first, last in (("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")):
        clients.add_client(owner, first_name=first, last_name=last)
    db.dispose()
    yield path


def file_state(path: Path) -> str:
    digest = hashlib.sha256()
    for candidate in (path, path.with_name(path.name + "-wal")):
        if candidate.exists():
            digest.update(candidate.read_bytes())
    return digest.hexdigest()


def run(path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("CASELOAD_PASSWORD", PASSWORD)
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", PASSWORD)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["--database", f"sqlite:///{path}", *argv])
        except SystemExit as exit_:  # argparse's own exits
            code = int(exit_.code or 0)
    return code, err.getvalue()


def table_digest(path: Path) -> str:
    """Every row of every table but the audit log, hashed (read without Caseload's code).

    When each user last signed in is left out like the audit log: a refused command
    still signed someone in, and that is recorded.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'audit_events' ORDER BY name")]
        for table in tables:
            digest.update(table.encode())
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")') if r[1] != "last_sign_in_at"]
            listed = ", ".join(f'"{c}"' for c in columns)
            for row in conn.execute(f'SELECT {listed} FROM "{table}" ORDER BY rowid'):
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def check_refused(path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    before, before_bytes = table_digest(path), file_state(path)
    code, err = run(path, argv, monkeypatch)
    assert code != 0, (argv, err)
    assert "Traceback" not in err, (argv, err)
    assert len(err.splitlines()) == 1 and err.startswith("caseload: "), (argv, err)
    if code == 2:
        assert file_state(path) == before_bytes, (argv, err)
    assert table_digest(path) == before, (argv, err)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

COMMANDS = {
    "clients show": st.tuples(nasty_id).map(lambda t: ["clients", "show", t[0], "--as", "owner"]),
    "clients set-status": st.tuples(nasty_id, st.sampled_from(["active", "inactive", "gone", ""]), nasty_text)
    .map(lambda t: ["clients", "set-status", t[0], t[1], "--note", t[2], "--as", "scheduler"]),
    "clients delete": st.tuples(nasty_id, nasty_text)
    .map(lambda t: ["clients", "delete", t[0], "--confirm-name", t[1], "--as", "owner"]),
    "clients export": st.tuples(nasty_id, nasty_text)
    .map(lambda t: ["clients", "export", t[0], "--out", "/nonexistent-folder/" + t[1], "--as", "owner"]),
    "clients mark-duplicate": st.tuples(nasty_id, nasty_id)
    .map(lambda t: ["clients", "mark-duplicate", t[0], "--keep", t[1], "--as", "scheduler"]),
    "clients add": st.tuples(nasty_text, nasty_text, nasty_text, nasty_text).filter(lambda t: any(t))
    .map(lambda t: ["clients", "add", "--first", t[0] + "\x00", "--last", t[1], "--dob", t[2], "--email", t[3],
                    "--as", "owner"]),
    "clients list": st.tuples(nasty_text, nasty_text).filter(lambda t: t[0] not in ("active", "inactive", "all"))
    .map(lambda t: ["clients", "list", "--status", t[0] or "none", "--search", t[1], "--as", "owner"]),
    "contacts merge": st.tuples(nasty_id, nasty_id, nasty_text)
    .map(lambda t: ["contacts", "merge", t[0], t[1], "--take", t[2], "--as", "owner"]),
    "billing run": st.tuples(nasty_text).map(lambda t: ["billing", "run", "--through", t[0] or "x", "--as", "owner"]),
    "users add": st.tuples(nasty_text, nasty_text)
    .map(lambda t: ["users", "add", t[0] or " ", "--role", t[1] or "x", "--as", "scheduler"]),
    "audit": st.tuples(nasty_id).map(lambda t: ["audit", "--client", t[0], "--as", "scheduler"]),
    "demo": st.tuples(nasty_id).map(lambda t: ["demo", "--clients", t[0]]),
    "init": st.tuples(nasty_text).map(lambda t: ["init", "--owner", t[0] or "x"]),
    "wrong user": st.tuples(nasty_text).map(lambda t: ["clients", "list", "--as", t[0] or "nobody"]),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_input_is_one_line_non_zero_and_changes_nothing(practice_file: Path, command: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    @FUZZ
    @given(COMMANDS[command])
    def attempt(argv: list[str]) -> None:
        check_refused(practice_file, argv, monkeypatch)

    attempt()
