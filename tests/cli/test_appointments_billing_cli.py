"""``caseload appointments`` and ``caseload billing documents|document``, run as a script would.

The clinic of ``test_cli`` (Ada active with the own-clients clinician, Grace with the
entire-practice clinician, Alan inactive) in a practice on New York's clock that
offers 90834 (45 minutes, $140) and 90837 (60 minutes, $180). Booking, attendance,
the lists' JSON and the PDF are the happy paths, on SQLite and PostgreSQL where the
other command-line tests use both; every refusal is one line on stderr, a non-zero
exit, nothing on stdout, and every table but the audit log as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pty
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, or_, select

from desktop.controllers.appointments import AppointmentsController
from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.domain import clock
from desktop.domain.models import Appointment, Attendance, BillingDocument, Client, ClientStatus
from desktop.storage.database import Database
from tests.cli.test_cli import (
    ROOT,
    Clinic,
    as_json,
    audit_trail,
    caseload,
    open_clinic,
    refused,
    snapshot,
    succeeded,
    url_of,
)
from tests.helpers import PASSWORD, add_services, count

NEW_YORK = ZoneInfo("America/New_York")
APPOINTMENT_KEYS = ["id", "client_id", "start", "minutes", "service", "fee", "clinician", "attendance"]
DOCUMENT_KEYS = ["id", "kind", "client_id", "service_dates", "period", "amount", "automatic", "created_at"]


def practice_of(db: Database) -> Clinic:
    clinic = open_clinic(db)
    add_services(db, time_zone="America/New_York")  # also names the practice: Riverside Counselling
    return clinic


@pytest.fixture
def clinic(sqlite_db: Database) -> Clinic:
    return practice_of(sqlite_db)


@pytest.fixture
def any_clinic(db: Database) -> Clinic:
    return practice_of(db)


def book(clinic: Clinic, client_id: int, start: str, *, attendance: str = "scheduled",
         service: str = "90834", fee: str | None = None, clinician: str | None = None) -> int:
    """An appointment booked through the controller (the setting for a command under test)."""
    return AppointmentsController(clinic.db).book(clinic.owner, client_id, start, service_code=service,
                                                  fee=fee, clinician_id=clinician, attendance=attendance)


def listed(clinic: Clinic, *args: str, who: str = "scheduler") -> list[dict]:
    return as_json(caseload(clinic.db, "appointments", "list", *args, "--format", "json", "--as", who))


# ------------------------------------------------------------------ appointments add

def test_scheduler_books_an_appointment_and_only_the_new_id_is_printed(any_clinic: Clinic):
    c = any_clinic
    out = succeeded(caseload(c.db, "appointments", "add", str(c.ada), "--start", "2030-01-15 10:00",
                             "--minutes", "50", "--service", "90834", "--fee", "155.50",
                             "--clinician", "clinician", "--as", "scheduler"))
    assert re.fullmatch(r"\d+\n", out), out
    rows = listed(c, "--client", str(c.ada))
    assert [list(r) for r in rows] == [APPOINTMENT_KEYS] * len(rows)
    assert rows[-1] == {"id": int(out), "client_id": c.ada, "start": "2030-01-15T10:00-05:00", "minutes": 50,
                        "service": "90834", "fee": "155.50", "clinician": "clinician",
                        "attendance": "scheduled"}
    booked = audit_trail(c.db, "appointment.book")[-1]
    assert (booked.target_id, booked.outcome, booked.actor_username) == (c.ada, "allowed", "scheduler")


def test_minutes_fee_and_clinician_default_to_the_services_and_the_clients(clinic: Clinic):
    out = succeeded(caseload(clinic.db, "appointments", "add", str(clinic.grace), "--start", "2030-07-01 09:30",
                             "--service", "90837", "--as", "manager"))
    [row] = [r for r in listed(clinic, "--client", str(clinic.grace)) if r["id"] == int(out)]
    assert (row["start"], row["minutes"], row["fee"], row["clinician"]) == (
        "2030-07-01T09:30-04:00", 60, "180.00", "clinician-all")


def test_booking_an_inactive_client_warns_and_books_anyway(clinic: Clinic):
    ran = caseload(clinic.db, "appointments", "add", str(clinic.alan), "--start", "2030-01-16 11:00",
                   "--service", "90834", "--as", "scheduler")
    assert ran.code == 0, ran.err
    assert re.fullmatch(r"\d+\n", ran.out), ran.out
    assert ran.err.splitlines() == [
        "Warning: Alan Turing is inactive (moved). Appointments while a client is inactive are not "
        "billed automatically."]
    assert count(clinic.db, Appointment, id=int(ran.out), client_id=clinic.alan) == 1


def test_double_booking_a_clinician_warns_and_books_anyway(clinic: Clinic):
    book(clinic, clinic.ada, "2030-01-17 14:00")  # with Dr. Colin Park, Ada's clinician
    ran = caseload(clinic.db, "appointments", "add", str(clinic.grace), "--start", "2030-01-17 14:30",
                   "--service", "90834", "--clinician", "clinician", "--as", "scheduler")
    assert ran.code == 0, ran.err
    assert ran.err.splitlines() == [
        "Warning: Dr. Colin Park already has an appointment with Ada Lovelace from 14:00 to 14:45 that day."]
    assert [r["clinician"] for r in listed(clinic, "--date", "2030-01-17")] == ["clinician", "clinician"]


# ------------------------------------------------------------------ appointments set, list

def test_marking_a_past_appointment_attended_shows_in_the_list(any_clinic: Clinic):
    c = any_clinic
    appointment = book(c, c.grace, "2024-06-03 10:00")
    out = succeeded(caseload(c.db, "appointments", "set", str(appointment), "attended", "--as", "scheduler"))
    assert out == f"Appointment {appointment} is now attended.\n"
    [row] = listed(c, "--date", "2024-06-03")
    assert (row["id"], row["attendance"], row["start"]) == (appointment, "attended", "2024-06-03T10:00-04:00")
    succeeded(caseload(c.db, "appointments", "set", str(appointment), "no-show", "--as", "clinician-all"))
    assert [r["attendance"] for r in listed(c, "--date", "2024-06-03")] == ["no-show"]


def test_a_day_is_the_practices_day_even_the_day_the_clocks_go_back(clinic: Clinic):
    """3 November 2024 has 25 hours in New York: 01:30 happens twice (the first is meant)."""
    for start in ("2024-11-03 00:30", "2024-11-03 01:30", "2024-11-03 23:30", "2024-11-04 00:00"):
        book(clinic, clinic.ada, start)
    book(clinic, clinic.ada, "2024-11-02 23:59")
    rows = listed(clinic, "--date", "2024-11-03", who="clinician")
    assert [r["start"] for r in rows] == ["2024-11-03T00:30-04:00", "2024-11-03T01:30-04:00",
                                          "2024-11-03T23:30-05:00"]


def test_listing_with_neither_a_date_nor_a_client_shows_today_on_the_practices_clock(clinic: Clinic):
    for _attempt in range(3):  # unless New York's midnight falls between the booking and the listing
        today = clock.today(NEW_YORK)
        now = book(clinic, clinic.ada, f"{today:%Y-%m-%d} 12:00")
        tomorrow = book(clinic, clinic.ada, f"{today + dt.timedelta(days=1):%Y-%m-%d} 12:00")
        ids = [r["id"] for r in listed(clinic)]
        if clock.today(NEW_YORK) == today:
            break
    assert now in ids and tomorrow not in ids
    table = succeeded(caseload(clinic.db, "appointments", "list", "--as", "scheduler")).splitlines()
    assert table[0].split() == ["ID", "START", "CLIENT", "CLIENT_ID", "CLINICIAN", "SERVICE", "MINUTES", "FEE",
                                "ATTENDANCE"]
    assert any(f"{today:%Y-%m-%d} 12:00" in line and "Ada Lovelace" in line and "Scheduled" in line
               for line in table[1:])


def terminal_columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_the_table_lines_up_names_in_any_script_and_cuts_long_ones_visibly(clinic: Clinic):
    clients = ClientsController(clinic.db)
    names = [("伟", "王"), ("ليلى", "حداد"), ("Maximiliana-Josefina Alexandrina", "Featherstonehaugh-Worthington")]
    for hour, (first, last) in enumerate(names, start=9):
        book(clinic, clients.add_client(clinic.owner, first_name=first, last_name=last), f"2030-02-04 {hour}:00",
             clinician="clinician-all")
    lines = succeeded(caseload(clinic.db, "appointments", "list", "--date", "2030-02-04", "--as", "scheduler")
                      ).splitlines()
    assert len(lines) == 4
    # Each line's clinician column starts at the same terminal column, whatever the name's script.
    starts = {terminal_columns(line[:line.index(word)]) for line, word in zip(
        lines, ["CLINICIAN", "Dr. Alma Reyes", "Dr. Alma Reyes", "Dr. Alma Reyes"], strict=True)}
    assert len(starts) == 1, lines
    assert "王伟" in lines[1] and "ليلى حداد" in lines[2]
    assert "Maximiliana-Josefina Alexandrina Feathe…" in lines[3]


def test_an_own_clients_clinician_lists_only_their_clients_appointments(clinic: Clinic):
    book(clinic, clinic.ada, "2030-02-01 09:00")
    book(clinic, clinic.grace, "2030-02-01 10:00")
    assert [r["client_id"] for r in listed(clinic, "--date", "2030-02-01", who="clinician")] == [clinic.ada]
    assert [r["client_id"] for r in listed(clinic, "--date", "2030-02-01")] == [clinic.ada, clinic.grace]
    refused(caseload(clinic.db, "appointments", "list", "--client", str(clinic.grace), "--as", "clinician"))


# ------------------------------------------------------------------ billing documents, document

def bill(clinic: Clinic) -> tuple[int, int]:
    """Grace attended two sessions in March 2024, the second after the clocks changed, and the
    practice is billed through 2024 (Ada's two sessions of that March too)."""
    first = book(clinic, clinic.grace, "2024-03-04 10:00", attendance="attended", fee="150.00")
    second = book(clinic, clinic.grace, "2024-03-11 10:00", attendance="attended", service="90837")
    succeeded(caseload(clinic.db, "billing", "run", "--through", "2024-12-31", "--as", "biller"))
    return first, second


def test_billing_documents_as_json_have_exactly_the_documented_keys(any_clinic: Clinic):
    c = any_clinic
    bill(c)
    docs = as_json(caseload(c.db, "billing", "documents", "--client", str(c.grace), "--format", "json",
                            "--as", "biller"))
    assert [list(d) for d in docs] == [DOCUMENT_KEYS] * 3
    for doc in docs:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d", doc["created_at"]), doc
    assert sorted((d["kind"], d["service_dates"], d["period"], d["amount"], d["automatic"]) for d in docs) == [
        ("statement", ["2024-03-04", "2024-03-11"], "2024-03", "330.00", True),
        ("superbill", ["2024-03-04"], None, "150.00", True),
        ("superbill", ["2024-03-11"], None, "180.00", True),
    ]
    statements = as_json(caseload(c.db, "billing", "documents", "--kind", "statement", "--period", "2024-03",
                                  "--format", "json", "--as", "owner"))
    assert sorted(d["client_id"] for d in statements) == [c.ada, c.grace]
    assert as_json(caseload(c.db, "billing", "documents", "--format", "json", "--as", "clinician")) == [
        d for d in as_json(caseload(c.db, "billing", "documents", "--format", "json", "--as", "owner"))
        if d["client_id"] == c.ada]  # an own-clients clinician sees their clients' documents only
    assert as_json(caseload(c.db, "billing", "documents", "--period", "2024-04", "--format", "json",
                            "--as", "owner")) == []


def test_billing_documents_table_is_readable(clinic: Clinic):
    bill(clinic)
    lines = succeeded(caseload(clinic.db, "billing", "documents", "--client", str(clinic.grace),
                               "--as", "manager")).splitlines()
    assert lines[0].split() == ["ID", "KIND", "CLIENT", "CLIENT_ID", "PERIOD", "AMOUNT", "MADE", "CREATED"]
    body = "\n".join(lines[1:])
    assert len(lines) == 4
    assert "statement  Grace Hopper" in body and "2024-03 " in body and "330.00" in body
    assert "superbill  Grace Hopper" in body and "2024-03-11" in body and "automatically" in body


def test_billing_run_shows_its_progress_to_a_person_at_a_terminal_only(clinic: Clinic):
    book(clinic, clinic.grace, "2024-03-04 10:00", attendance="attended")
    leader, follower = pty.openpty()
    try:
        ran = subprocess.run([sys.executable, "-m", "desktop", "--database", url_of(clinic.db), "billing", "run",
                              "--through", "2024-12-31", "--as", "biller"], cwd=ROOT, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=follower, timeout=300,
                             env={**os.environ, "CASELOAD_PASSWORD": PASSWORD, "QT_QPA_PLATFORM": "offscreen"})
    finally:
        os.close(follower)
    shown = b""
    with contextlib.suppress(OSError):  # the terminal reports its end as an error on Linux
        while chunk := os.read(leader, 65536):
            shown += chunk
    os.close(leader)
    assert ran.returncode == 0
    assert ran.stdout.decode().startswith("Created 5 billing documents for 3 appointments of 2 clients;")
    assert "Billing: 2 of 2 clients…".encode() in shown, shown
    assert shown.endswith(b"\r\x1b[K")  # the progress line is wiped before the summary
    # Without a terminal (every other test here) stderr stays empty: see ``succeeded``.


def pdf_text(path: Path) -> str:
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is installed by .ci/run"
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_a_statement_is_written_as_a_pdf_with_the_clients_name_and_the_total(any_clinic: Clinic,
                                                                             tmp_path: Path):
    c = any_clinic
    bill(c)
    with c.db.reading() as s:
        statement = s.scalars(select(BillingDocument.id).where(BillingDocument.kind == "statement",
                                                               BillingDocument.client_id == c.grace)).one()
    out_file = tmp_path / "statement.pdf"
    out = succeeded(caseload(c.db, "billing", "document", str(statement), "--out", str(out_file),
                             "--as", "biller"))
    assert out == f"Wrote statement {statement} to {out_file}.\n"
    assert out_file.read_bytes().startswith(b"%PDF")
    assert out_file.stat().st_mode & 0o077 == 0  # health information: readable by its owner only
    text = pdf_text(out_file)
    for shown in ("Riverside Counselling", "Grace Hopper", "90834", "90837", "$330.00"):
        assert shown in text, (shown, text)
    opened = audit_trail(c.db, "billing.document.view")[-1]
    assert (opened.target_id, opened.actor_username, opened.details) == (
        c.grace, "biller", {"document_id": statement, "purpose": "pdf"})


def test_a_superbill_pdf_holds_the_diagnosis_codes(clinic: Clinic, tmp_path: Path):
    with clinic.db.transaction() as s:
        grace = s.get(Client, clinic.grace)
        assert grace is not None
        grace.diagnosis_codes = "F41.1, F32.0"
    bill(clinic)
    [superbill] = [d["id"] for d in as_json(caseload(clinic.db, "billing", "documents", "--kind", "superbill",
                                                     "--client", str(clinic.grace), "--format", "json",
                                                     "--as", "biller"))
                   if d["service_dates"] == ["2024-03-04"]]
    out_file = tmp_path / "superbill.pdf"
    succeeded(caseload(clinic.db, "billing", "document", str(superbill), "--out", str(out_file), "--as", "owner"))
    text = pdf_text(out_file)
    for shown in ("Superbill", "Grace Hopper", "F41.1, F32.0", "2024-03-04", "$150.00"):
        assert shown in text, (shown, text)


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize(("words", "code", "says"), [
    (["--start", "2030-02-30 10:00", "--service", "90834"], 1, "is not a start time"),
    (["--start", "tomorrow", "--service", "90834"], 1, "YYYY-MM-DD HH:MM"),
    (["--start", "2030-03-10 02:30", "--service", "90834"], 1, "does not exist in America/New_York"),
    (["--start", "2030-01-15 10:00", "--service", "99999"], 1, "offers no service '99999'"),
    (["--start", "2030-01-15 10:00", "--service", "90834", "--fee", "12345678901234567890"], 1, "The fee must"),
    (["--start", "2030-01-15 10:00", "--service", "90834", "--fee", "-5"], 1, "The fee must"),
    (["--start", "2030-01-15 10:00", "--service", "90834", "--fee", "NaN"], 1, "The fee must"),
    (["--start", "2030-01-15 10:00", "--service", "90834", "--minutes", "0"], 1, "Minutes must"),
    (["--start", "2030-01-15 10:00", "--service", "90834", "--clinician", "biller"], 1, "no active clinician"),
    (["--service", "90834"], 2, "--start"),
])
def test_a_booking_that_cannot_be_made_changes_nothing(clinic: Clinic, words: list[str], code: int, says: str):
    before = snapshot(clinic.db)
    line = refused(caseload(clinic.db, "appointments", "add", str(clinic.ada), *words, "--as", "scheduler"),
                   code=code)
    assert says in line, line
    assert snapshot(clinic.db) == before


def test_a_biller_cannot_book_an_appointment(any_clinic: Clinic):
    before = snapshot(any_clinic.db)
    assert "may not manage appointments" in refused(caseload(
        any_clinic.db, "appointments", "add", str(any_clinic.ada), "--start", "2030-01-15 10:00",
        "--service", "90834", "--as", "biller"))
    assert snapshot(any_clinic.db) == before
    denied = audit_trail(any_clinic.db, "appointment.book")
    assert [(e.target_id, e.outcome, e.actor_username) for e in denied] == [(any_clinic.ada, "denied", "biller")]


def test_an_own_clients_clinician_cannot_book_a_colleagues_client(clinic: Clinic):
    before = snapshot(clinic.db)
    line = refused(caseload(clinic.db, "appointments", "add", str(clinic.grace), "--start", "2030-01-15 10:00",
                            "--service", "90834", "--as", "clinician"))
    assert "Hopper" not in line
    assert snapshot(clinic.db) == before


def test_a_scheduler_cannot_see_billing_documents(any_clinic: Clinic, tmp_path: Path):
    bill(any_clinic)
    before = snapshot(any_clinic.db)
    assert "may not see billing documents" in refused(caseload(any_clinic.db, "billing", "documents",
                                                               "--as", "scheduler"))
    out_file = tmp_path / "doc.pdf"
    refused(caseload(any_clinic.db, "billing", "document", "1", "--out", str(out_file), "--as", "scheduler"))
    assert not out_file.exists()
    assert snapshot(any_clinic.db) == before


@pytest.mark.parametrize(("words", "code"), [
    (["appointments", "set", "{future}", "attended"], 1),  # it has not begun yet
    (["appointments", "set", "{future}", "present"], 2),
    (["appointments", "set", "9999", "cancelled"], 1),
    (["appointments", "set", "0", "cancelled"], 2),
    (["appointments", "list", "--date", "2030-02-30"], 2),
    (["appointments", "list", "--date", "2030-W05-1"], 2),
    (["appointments", "list", "--client", "Ada"], 2),
    (["appointments", "list", "--client", "9999"], 1),
    (["billing", "documents", "--period", "2030-13"], 2),
    (["billing", "documents", "--period", "2030-1"], 2),
    (["billing", "documents", "--kind", "invoice"], 2),
    (["billing", "documents", "--client", "9999"], 1),
    (["billing", "document", "9999", "--out", "never.pdf"], 1),
    (["billing", "document", "1"], 2),
])
def test_bad_words_are_one_line_and_change_nothing(clinic: Clinic, words: list[str], code: int):
    future = book(clinic, clinic.ada, "2030-01-15 10:00")
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, *(w.format(future=future) for w in words), "--as", "owner"), code=code)
    assert snapshot(clinic.db) == before
    assert not (ROOT / "never.pdf").exists()  # where the command ran


def test_an_appointment_on_a_billing_document_can_no_longer_be_changed(clinic: Clinic):
    first, _second = bill(clinic)
    before = snapshot(clinic.db)
    assert "already on a billing document" in refused(caseload(
        clinic.db, "appointments", "set", str(first), "cancelled", "--as", "scheduler"))
    assert snapshot(clinic.db) == before


def test_words_that_are_not_utf8_are_refused_before_anything_opens(clinic: Clinic):
    path = Path(clinic.db.engine.url.database or "")
    clinic.db.dispose()
    before = path.read_bytes()
    for words in (["appointments", "add", str(clinic.ada), "--start", "2030-01-15 10:00", "--service",
                   "9083\udcff", "--as", "scheduler"],
                  ["billing", "documents", "--as", "bill\udcffer"]):
        line = refused(caseload(clinic.db, *words), code=2)
        assert "not UTF-8" in line
    assert path.read_bytes() == before


@pytest.mark.parametrize("target", ["symlink", "folder"])
def test_a_pdf_is_never_written_through_a_link_or_over_a_folder(clinic: Clinic, tmp_path: Path, target: str):
    bill(clinic)
    tmp_path = tmp_path / "pdfs"
    tmp_path.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("someone else's file")
    out = tmp_path / "doc.pdf"
    if target == "symlink":
        out.symlink_to(precious)
    else:
        out.mkdir()
    line = refused(caseload(clinic.db, "billing", "document", "1", "--out", str(out), "--as", "biller"))
    assert ("symbolic link" if target == "symlink" else "is a folder") in line
    assert precious.read_text() == "someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.pdf", "precious.txt"]
    opened = audit_trail(clinic.db, "billing.document.view")
    assert [(e.outcome, e.actor_username) for e in opened] == [("denied", "biller")]


def test_a_pdf_file_name_with_a_nul_is_one_line(clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]):
    from desktop.cli.main import main

    bill(clinic)
    tmp_path = tmp_path / "pdfs"
    tmp_path.mkdir()
    monkeypatch.setenv("CASELOAD_PASSWORD", PASSWORD)
    code = main(["--database", url_of(clinic.db), "billing", "document", "1", "--as", "biller",
                 "--out", str(tmp_path / "a\x00b.pdf")])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert len(captured.err.splitlines()) == 1 and "NUL" in captured.err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ the demo practice

def test_the_demo_books_two_years_mostly_attended_with_inactive_periods(db: Database):
    succeeded(caseload(db, "demo", "--clients", "400", "--seed", "3", password=None))
    today = dt.date.today()
    with db.reading() as s:
        rows = s.execute(select(Appointment.start, Appointment.attendance, Appointment.service_code)).all()
    assert 4_000 < len(rows) < 12_000  # about 20 a client
    past = [r for r in rows if r.start.date() < today - dt.timedelta(days=1)]
    attended = sum(r.attendance is Attendance.ATTENDED for r in past) / len(past)
    assert 0.8 < attended < 0.95
    assert {r.attendance for r in past} == {Attendance.ATTENDED, Attendance.NO_SHOW, Attendance.LATE_CANCEL,
                                            Attendance.CANCELLED}
    assert {r.attendance for r in rows if r.start.date() > today + dt.timedelta(days=1)} == {Attendance.SCHEDULED}
    assert min(r.start.date() for r in rows) >= today - dt.timedelta(days=731)
    assert max(r.start.date() for r in rows) <= today + dt.timedelta(days=15)
    assert {r.service_code for r in rows} == {"90834", "90837", "90791", "90847"}
    # The billing rule's case: appointments while a client was inactive are held, not billed.
    out = succeeded(caseload(db, "billing", "run", "--as", "biller", password="demo"))
    held = int(re.search(r"(\d+) appointments from inactive periods", out).group(1))  # type: ignore[union-attr]
    assert held > 0
    with db.reading() as s:
        assert s.scalar(select(BillingDocument.id).limit(1)) is not None
        # Every active client's attended appointment before yesterday was billed: the run found
        # every client the demo left owing (their owed-since stamps).
        assert s.scalar(select(func.count()).select_from(Appointment).join(Client).where(
            Client.status == ClientStatus.ACTIVE, or_(Appointment.superbill_owed, Appointment.statement_owed),
            Appointment.start < dt.datetime.combine(today.replace(day=1) - dt.timedelta(days=2),
                                                    dt.time()))) == 0
    if db.is_sqlite:  # the bulk load put every index back
        with db.engine.connect() as conn:
            names = {r[0] for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'appointments'")}
            assert {"ix_appointments_start", "ix_appointments_client_id", "ix_appointments_superbill_owed",
                    "ix_appointments_statement_owed", "ix_appointments_manual_billing_only"} <= names
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert BillingController(db).run_automatic().documents_created == 0


def test_a_pdf_written_in_process_leaves_room_for_a_window_afterwards(clinic: Clinic, tmp_path: Path):
    """Scripts (and the test run itself) call ``main`` in-process and may open the window after.

    Qt allows one application per process; had the command line made the lighter
    drawing-only one, the first widget after it would abort the whole process.
    """
    bill(clinic)
    with clinic.db.reading() as s:
        document = s.scalars(select(BillingDocument.id).limit(1)).one()
    out_file = tmp_path / "doc.pdf"
    script = (
        "import sys\n"
        "from desktop.cli.main import main\n"
        f"code = main(['--database', {url_of(clinic.db)!r}, 'billing', 'document', '{document}', "
        f"'--out', {str(out_file)!r}, '--as', 'owner'])\n"
        "from PySide6.QtWidgets import QMessageBox\n"
        "box = QMessageBox(QMessageBox.Icon.Information, 'After the PDF', 'A window opens.')\n"
        "print(code, box.text())\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CASELOAD_")}
    environ.update(QT_QPA_PLATFORM="offscreen", CASELOAD_PASSWORD=PASSWORD)
    ran = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environ, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-1] == "0 A window opens."
    assert out_file.read_bytes().startswith(b"%PDF")
