"""Bad input on the command line: one clear line, a non-zero exit, and nothing changed.

Hypothesis throws malformed, huge, invisible, control and non-UTF-8 values at
every command (at least 1,000 examples each), run in this process against a
real SQLite practice. Whatever it finds must end in exactly one line on
stderr, never a traceback, and a non-zero exit. A refusal at the edge (exit 2:
the words themselves are wrong) leaves the file byte for byte as it was; a
refusal by the controllers leaves every table as it was but the audit log,
which records it on purpose.

``appointments add`` is different: mixed in with the bad values are good ones,
so some bookings go through, in a practice of their own. A booking that goes
through prints its id alone, may warn on stderr ("Warning: …" lines, for an
inactive client or a double-booked clinician: warnings never block), and adds
exactly that one appointment; one that does not is refused as above.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import os
import re
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.cli.main import main
from desktop.controllers.appointments import AppointmentsController
from desktop.controllers.audit_log import ANCHOR_TEXT
from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.domain.models import PracticeSettings, PracticeUser, Role, Service
from desktop.storage.database import open_database

EXAMPLES = int(os.environ.get("CASELOAD_FUZZ_EXAMPLES", "1000"))  # at least 1,000 in CI
PASSWORD = "fuzz password"
# Cheap to verify, so a thousand sign-ins take a second, not a minute.
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


@pytest.fixture(autouse=True)
def cheap_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown username is checked against a stand-in hash as costly as a real one; here every
    user's hash is cheap (the fuzzing is of the words, not of Argon2), so the stand-in is too."""
    import desktop.controllers.users as users

    monkeypatch.setattr(users, "_stand_in_hash", lambda: CHEAP_HASH)

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


def make_practice(path: Path) -> None:
    """Owner, scheduler and biller; Ada, Alan and Grace (Alan inactive); two services on New
    York's clock; one attended appointment of Ada's, billed (a superbill and a statement)."""
    db = open_database(f"sqlite:///{path}", create=True)
    with db.transaction() as s:
        s.add_all([PracticeUser(username=u, display_name=u.title(), role=r, entire_practice_access=True,
                                password_hash=CHEAP_HASH, active=True)
                   for u, r in (("owner", Role.ACCOUNT_OWNER), ("scheduler", Role.SCHEDULER),
                                ("biller", Role.BILLER))])
        s.add(PracticeSettings(id=1, name="Fuzz Practice", time_zone="America/New_York"))
        s.add_all([Service(code="90834", description="Psychotherapy, 45 minutes", minutes=45,
                           default_fee=Decimal("140.00"), position=0),
                   Service(code="90837", description="Psychotherapy, 60 minutes", minutes=60,
                           default_fee=Decimal("180.00"), position=1)])
    with db.reading() as s:
        from desktop.controllers.users import actor_for

        owner = actor_for(s.query(PracticeUser).filter_by(username="owner").one())
    clients = ClientsController(db)
    ada, alan, _grace = (clients.add_client(owner, first_name=first, last_name=last, clinician_id="owner")
                         for first, last in (("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")))
    clients.set_status(owner, alan, "inactive", reason="moved")
    AppointmentsController(db).book(owner, ada, "2024-03-04 10:00", service_code="90834", attendance="attended")
    BillingController(db).run_automatic(through="2024-12-31")
    db.dispose()


@pytest.fixture(scope="module")
def practice_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("fuzz") / "caseload.db"
    make_practice(path)
    yield path


@pytest.fixture(scope="module")
def booking_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A practice of its own for bookings that go through (the others' ids stay unused)."""
    path = tmp_path_factory.mktemp("fuzz-bookings") / "caseload.db"
    make_practice(path)
    yield path


def file_state(path: Path) -> str:
    digest = hashlib.sha256()
    for candidate in (path, path.with_name(path.name + "-wal")):
        if candidate.exists():
            digest.update(candidate.read_bytes())
    return digest.hexdigest()


def run(path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    code, _out, err = run_full(path, argv, monkeypatch)
    return code, err


def run_full(path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("CASELOAD_PASSWORD", PASSWORD)
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", PASSWORD)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(["--database", f"sqlite:///{path}", *argv])
        except SystemExit as exit_:  # argparse's own exits
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def table_digest(path: Path) -> str:
    """Every row of every table but the audit log, hashed (read without Caseload's code).

    When each user last signed in is left out like the audit log: a refused command
    still signed someone in, and that is recorded.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT IN ('audit_events', 'audit_chain_head') AND name NOT LIKE 'sqlite_%' ORDER BY name")]
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
    assert_refused_as_documented(path, argv, code, err, before, before_bytes)


def assert_refused_as_documented(path: Path, argv: list[str], code: int, err: str, before: str,
                                 before_bytes: str) -> None:
    assert "Traceback" not in err, (argv, err)
    assert len(err.splitlines()) == 1 and err.startswith("caseload: "), (argv, err)
    if code == 2:
        assert file_state(path) == before_bytes, (argv, err)
    assert table_digest(path) == before, (argv, err)


def appointments_of(path: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, client_id FROM appointments ORDER BY id").fetchall()
    finally:
        conn.close()


def check_booked_or_refused(path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A booking goes through (its id alone on stdout, warnings only on stderr, exactly one
    appointment more, for that client) or is refused as every other command is. Says which."""
    before, before_bytes, booked = table_digest(path), file_state(path), appointments_of(path)
    code, out, err = run_full(path, argv, monkeypatch)
    assert "Traceback" not in err, (argv, err)
    if code != 0:
        assert out == "", (argv, out)
        assert_refused_as_documented(path, argv, code, err, before, before_bytes)
        return "refused at the edge" if code == 2 else "refused"
    assert re.fullmatch(r"[1-9][0-9]*\n", out), (argv, out, err)
    assert all(line.startswith("Warning: ") for line in err.splitlines()), (argv, err)
    assert len(err.splitlines()) <= 2, (argv, err)  # inactive client, double-booked clinician
    assert appointments_of(path) == [*booked, (int(out), int(argv[2]))], (argv, out)
    return "booked with a warning" if err else "booked"


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
    "audit verify --anchor": st.tuples(nasty_text).filter(lambda t: not ANCHOR_TEXT.fullmatch(t[0]))
    .map(lambda t: ["audit", "verify", "--anchor", t[0], "--as", "owner"]),
    "demo": st.tuples(nasty_id).map(lambda t: ["demo", "--clients", t[0]]),
    "init": st.tuples(nasty_text).map(lambda t: ["init", "--owner", t[0] or "x"]),
    "wrong user": st.tuples(nasty_text).map(lambda t: ["clients", "list", "--as", t[0] or "nobody"]),
    "appointments set": st.tuples(nasty_id, st.sampled_from(["scheduled", "attended", "no-show", "late-cancel",
                                                             "cancelled", "no_show", "Attended", "", "gone"]))
    .map(lambda t: ["appointments", "set", t[0], t[1], "--as", "scheduler"]),
    "appointments list --date": st.tuples(nasty_text).filter(lambda t: not is_day(t[0]))
    .map(lambda t: ["appointments", "list", "--date", t[0] or "x", "--as", "scheduler"]),
    "appointments list --client": st.tuples(nasty_id, st.sampled_from(["table", "json"]))
    .map(lambda t: ["appointments", "list", "--client", t[0], "--format", t[1], "--as", "scheduler"]),
    "billing documents": st.tuples(nasty_text, nasty_text, nasty_id)
    .filter(lambda t: t[0] not in ("superbill", "statement") or not is_month(t[1]))
    .map(lambda t: ["billing", "documents", "--kind", t[0] or "x", "--period", t[1] or "x", "--client", t[2],
                    "--as", "biller"]),
    "billing document": st.tuples(nasty_id, nasty_text)
    .map(lambda t: ["billing", "document", t[0], "--out", "/nonexistent-folder/" + t[1], "--as", "biller"]),
    "scheduler opens billing": st.tuples(st.sampled_from(["1", "2"]), st.sampled_from(["superbill", "statement"]))
    .map(lambda t: ["billing", "documents", "--client", t[0], "--kind", t[1], "--as", "scheduler"]),
    "biller books": st.tuples(st.sampled_from(["1", "2", "3"]))
    .map(lambda t: ["appointments", "add", t[0], "--start", "2030-01-15 10:00", "--service", "90834",
                    "--as", "biller"]),
}


def is_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_month(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{4}-[0-9]{2}", text, flags=re.ASCII))


# The commands are fuzzed in two files (this one and test_fuzz_more.py), each with a practice of
# its own: the test runner gives each file to one worker, and one file of them all took minutes
# after the other worker had finished.
FIRST_COMMANDS = list(COMMANDS)[:9]


def fuzz_refusals(practice_file: Path, command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    @FUZZ
    @given(COMMANDS[command])
    def attempt(argv: list[str]) -> None:
        check_refused(practice_file, argv, monkeypatch)

    attempt()


@pytest.mark.parametrize("command", FIRST_COMMANDS)
def test_bad_input_is_one_line_non_zero_and_changes_nothing(practice_file: Path, command: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz_refusals(practice_file, command, monkeypatch)


# ------------------------------------------------------------------ bookings that may go through

days_and_times = st.builds(lambda day, hour, minute: f"{day:%Y-%m-%d} {hour:02d}:{minute:02d}",
                           st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2210, 12, 31)),
                           st.integers(0, 23), st.sampled_from([0, 30, 59]))
# The clocks skip 02:30 and repeat 01:30 in New York; no 29 February in 2030; a slot shared by many
# examples, so the clinician is double-booked; a few ways of writing a time, good and bad.
edge_times = st.sampled_from(["2030-03-10 02:30", "2030-11-03 01:30", "2030-02-29 10:00", "2030-01-15 10:00",
                              "2030-01-15T10:00", " 2030-01-15 10:00 ", "2030-01-15 24:00", "2030-1-15 10:00"])


GOOD = {
    "client": st.sampled_from(["1", "2", "3"]),  # 2 (Alan) is inactive
    "--start": st.one_of(days_and_times, edge_times),
    "--service": st.sampled_from(["90834", "90837", " 90834"]),
    "--minutes": st.none() | st.integers(1, 480).map(str),
    "--fee": st.none() | st.sampled_from(["150.00", "$1,000.00", "0", "99999999.99", "12"]),
    "--clinician": st.none() | st.just("owner"),
}
BAD = {
    "client": nasty_id,
    "--start": nasty_text,
    "--service": st.sampled_from(["90834\x00", "99999", "9083"]) | nasty_text,
    "--minutes": st.integers(-5, 5000).map(str) | nasty_text,
    "--fee": st.decimals(allow_nan=True, allow_infinity=True).map(str)
    | st.sampled_from(["-0.01", "1e400", "0.001", "1E+999999999"]) | nasty_text,
    "--clinician": st.sampled_from(["scheduler", "biller", "nobody"]) | nasty_text,
}


@st.composite
def booking(draw: st.DrawFn) -> dict[str, str | None]:
    """Every value good but up to two, which are anything: a booking needs all good to go through."""
    bad = draw(st.sets(st.sampled_from(sorted(GOOD)), max_size=2))
    return {name: draw(BAD[name] if name in bad else GOOD[name]) for name in GOOD}


def booking_words(values: dict[str, str | None]) -> list[str]:
    words = ["appointments", "add", str(values["client"])]
    for option in ("--start", "--service", "--minutes", "--fee", "--clinician"):
        if values[option] is not None:
            words += [option, str(values[option])]
    return [*words, "--as", "scheduler"]


def test_a_booking_goes_through_with_warnings_at_most_or_is_refused_changing_nothing(
        booking_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()

    @FUZZ
    @given(booking().map(booking_words))
    def attempt(argv: list[str]) -> None:
        seen.add(check_booked_or_refused(booking_file, argv, monkeypatch))

    attempt()
    # The mix above books, warns and refuses: the property held every way, not only one.
    assert seen == {"booked", "booked with a warning", "refused", "refused at the edge"}
