"""``caseload`` on the command line, run as a user's script would run it: a subprocess.

Each subcommand of SPEC §5 gets a happy path and refusals. A refusal must exit
non-zero, say one line on stderr starting ``caseload:``, print nothing on
stdout, and leave every table but the audit log exactly as it was (refusals
and sign-ins are audited on purpose). Most stories run on the SQLite file; the
ones a clinic relies on most (add, delete, list) also run on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from desktop import __version__
from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.errors import NotSignedIn, PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.controllers.users import UsersController
from desktop.domain.models import (
    Appointment,
    AuditEvent,
    Base,
    BillingDocument,
    Client,
    ClientContactLink,
    Contact,
    PracticeUser,
    Role,
    StatusChange,
)
from desktop.storage.database import Database
from tests.controllers.support import audit_rows, last_audit_id
from tests.helpers import PASSWORD, add_appointment, add_services, count, seed_users

ROOT = Path(__file__).resolve().parents[2]
LIST_KEYS = {"id", "first_name", "last_name", "date_of_birth", "email", "phone", "status", "clinician"}
SHOW_KEYS = LIST_KEYS | {"status_history", "portal", "contacts", "appointments", "billing_documents"}


# ------------------------------------------------------------------ running it

@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def url_of(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def caseload(db: Database | None, *args: str, password: str | None = PASSWORD,
             env: dict[str, str] | None = None) -> Ran:
    """Run ``caseload [--database URL] ARGS`` as a separate process, never at a terminal."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("CASELOAD_") and k != "PYTHONWARNINGS"}
    environ.update(QT_QPA_PLATFORM="offscreen", PYTHONIOENCODING="utf-8")
    if password is not None:
        environ["CASELOAD_PASSWORD"] = password
    environ.update(env or {})
    database = ["--database", url_of(db)] if db is not None else []
    proc = subprocess.run([sys.executable, "-m", "desktop", *database, *args], cwd=ROOT, env=environ,
                          stdin=subprocess.DEVNULL, capture_output=True, encoding="utf-8",
                          timeout=300)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def succeeded(ran: Ran) -> str:
    assert ran.code == 0, f"exit {ran.code}: {ran.err}"
    assert ran.err == "", ran.err
    return ran.out


def refused(ran: Ran, code: int = 1) -> str:
    """Assert the command was refused the documented way; returns the error line."""
    assert ran.code == code, f"exit {ran.code}, expected {code}: out={ran.out!r} err={ran.err!r}"
    lines = ran.err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{ran.err}"
    assert lines[0].startswith("caseload: "), lines[0]
    assert ran.out == "", ran.out
    return lines[0]


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table except the audit log, to prove a refusal changed nothing.

    When each user last signed in is left out too: signing in to be refused is a sign-in.
    """
    with db.reading() as s:
        return {t.name: [tuple(r) for r in s.execute(select(*(c for c in t.columns if c.name != "last_sign_in_at"))
                                                     .order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables if t.name not in ("audit_events", "audit_chain_head")}


@dataclass(frozen=True)
class Audited:
    target_id: int | None
    outcome: str
    actor_username: str | None
    details: dict[str, Any] | None


def audit_trail(db: Database, action: str) -> list[Audited]:
    """The audit events for ``action``, oldest first."""
    with db.reading() as s:
        return [Audited(e.target_id, e.outcome, e.actor_username, e.details)
                for e in s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id))]


def as_json(ran: Ran) -> Any:
    return json.loads(succeeded(ran))


# ------------------------------------------------------------------ the clinic

@dataclass
class Clinic:
    db: Database
    users: dict[str, Actor]
    ada: int  # active, assigned to the own-clients clinician, two appointments, a guardian
    grace: int  # active, assigned to the entire-practice clinician, an emergency contact
    alan: int  # inactive (moved), one appointment from before
    guardian: int  # Mary Lovelace, Ada's guardian
    guardian_again: int  # the same Mary entered again, linked to Grace

    @property
    def owner(self) -> Actor:
        return self.users["owner"]

    def client(self, client_id: int) -> dict[str, Any]:
        return ClientsController(self.db).get_client(self.owner, client_id).as_json()


def open_clinic(db: Database) -> Clinic:
    users = seed_users(db)
    owner = users["owner"]
    clients = ClientsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace", date_of_birth="1985-12-10",
                             email="ada@example.org", phone="555-010-1234", clinician_id="clinician")
    grace = clients.add_client(owner, first_name="Grace", last_name="Hopper",
                               date_of_birth="1976-12-09", clinician_id="clinician-all")
    alan = clients.add_client(owner, first_name="Alan", last_name="Turing", date_of_birth="1972-06-23")
    add_appointment(db, ada, dt.datetime(2024, 3, 4, 10, 0))
    add_appointment(db, ada, dt.datetime(2024, 3, 11, 10, 0), fee="180.00")
    add_appointment(db, alan, dt.datetime(2024, 3, 5, 9, 0))
    clients.set_status(owner, alan, "inactive", reason="moved")
    contacts = ContactsController(db)
    guardian = contacts.add_contact(owner, first_name="Mary", last_name="Lovelace", phone="555-010-9999")
    guardian_again = contacts.add_contact(owner, first_name="MARY", last_name="LOVELACE",
                                          email="mary@example.org")
    contacts.link(owner, ada, guardian, "Guardian")
    contacts.link(owner, grace, guardian_again, "Emergency contact")
    return Clinic(db, users, ada, grace, alan, guardian, guardian_again)


@pytest.fixture
def clinic(sqlite_db: Database) -> Clinic:
    """The small clinic on the SQLite file."""
    return open_clinic(sqlite_db)


@pytest.fixture
def any_clinic(db: Database) -> Clinic:
    """The small clinic on SQLite and on PostgreSQL."""
    return open_clinic(db)


# --------------------------------------------------------------- the program

def test_version_prints_the_version():
    assert succeeded(caseload(None, "--version")) == f"caseload {__version__}\n"


def test_an_unknown_option_is_one_line_not_a_page_of_usage():
    assert "--bogus" in refused(caseload(None, "--bogus"), code=2)


@pytest.mark.parametrize("url", ["not a url at all", "mysql://someone@host/practice"])
def test_an_unusable_database_url_is_refused_in_one_line(url: str):
    ran = subprocess.run([sys.executable, "-m", "desktop", "--database", url, "clients", "list"],
                         cwd=ROOT, capture_output=True, encoding="utf-8", stdin=subprocess.DEVNULL,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, timeout=300)
    refused(Ran(ran.returncode, ran.stdout, ran.stderr), code=2)


# --------------------------------------------------------------------- demo

def test_demo_fills_an_empty_database_and_every_demo_user_shares_the_password(sqlite_db: Database):
    out = succeeded(caseload(sqlite_db, "demo", "--clients", "30", "--seed", "7", password=None,
                             env={"CASELOAD_NEW_PASSWORD": "open sesame"}))
    assert "open sesame" not in out  # a password is never echoed
    assert "30 clients" in out
    assert count(sqlite_db, Client) == 30
    users = {u["username"]: u for u in UsersController(sqlite_db).list_users(
        UsersController(sqlite_db).sign_in("owner", "open sesame"))}
    expected = {"owner": ("account_owner", True), "manager": ("practice_manager", True),
                "clinician-all": ("clinician", True), "clinician": ("clinician", False),
                "biller": ("biller", False), "scheduler": ("scheduler", False)}
    for username, (role, entire) in expected.items():
        assert (users[username]["role"], users[username]["entire_practice_access"]) == (role, entire)
    assert UsersController(sqlite_db).sign_in("scheduler", "open sesame").role is Role.SCHEDULER
    with pytest.raises(NotSignedIn):
        UsersController(sqlite_db).sign_in("owner", "demo")


def test_demo_refuses_a_database_that_already_has_clients_and_changes_nothing(clinic: Clinic):
    before = snapshot(clinic.db)
    line = refused(caseload(clinic.db, "demo", "--clients", "30"))
    assert "already has clients" in line
    assert snapshot(clinic.db) == before


def test_demo_refuses_a_negative_number_of_clients(sqlite_db: Database):
    refused(caseload(sqlite_db, "demo", "--clients", "-5"), code=2)
    assert count(sqlite_db, PracticeUser) == 0
    assert count(sqlite_db, Client) == 0


# ------------------------------------------------------------- clients list

def test_list_json_shows_active_clients_with_the_documented_keys(any_clinic: Clinic):
    rows = as_json(caseload(any_clinic.db, "clients", "list", "--format", "json", "--as", "owner"))
    assert all(LIST_KEYS <= set(row) for row in rows)
    by_name = {(r["first_name"], r["last_name"]): r for r in rows}
    assert set(by_name) == {("Ada", "Lovelace"), ("Grace", "Hopper")}  # Alan is inactive
    ada = by_name["Ada", "Lovelace"]
    assert ada == {**ada, "id": any_clinic.ada, "date_of_birth": "1985-12-10",
                   "email": "ada@example.org", "phone": "555-010-1234", "status": "active",
                   "clinician": "Dr. Colin Park"}


def test_every_read_names_who_is_reading_on_either_database(db: Database):
    """Every look at a record names a person in the audit log, on the laptop's file too."""
    seed_users(db)
    for words in (("clients", "list"), ("clients", "show", "1"), ("clients", "duplicates"), ("audit",),
                  ("appointments", "list"), ("billing", "documents"), ("billing", "document", "1", "--out", "x.pdf")):
        assert "--as" in refused(caseload(db, *words, password=None), code=2)
    assert as_json(caseload(db, "clients", "list", "--format", "json", "--as", "scheduler")) == []


def test_list_filters_by_status_and_search_like_the_window(clinic: Clinic):
    inactive = as_json(caseload(clinic.db, "clients", "list", "--as", "owner", "--status", "inactive",
                                "--format", "json"))
    assert [(r["id"], r["status"]) for r in inactive] == [(clinic.alan, "inactive")]
    csv_out = succeeded(caseload(clinic.db, "clients", "list", "--as", "owner", "--status", "all",
                                 "--search", "1985-12-10", "--format", "csv"))
    assert csv_out.splitlines() == [
        "id,first_name,last_name,date_of_birth,email,phone,status,clinician",
        f"{clinic.ada},Ada,Lovelace,1985-12-10,ada@example.org,555-010-1234,active,Dr. Colin Park",
    ]


def test_clinician_listing_as_themselves_sees_only_their_own_clients(clinic: Clinic):
    rows = as_json(caseload(clinic.db, "clients", "list", "--status", "all", "--format", "json",
                            "--as", "clinician"))
    assert [r["id"] for r in rows] == [clinic.ada]


def test_listing_as_someone_with_the_wrong_password_shows_nothing(clinic: Clinic):
    line = refused(caseload(clinic.db, "clients", "list", "--as", "clinician", password="guess"))
    assert "Lovelace" not in line


def test_listing_with_an_unknown_status_is_a_one_line_usage_error(clinic: Clinic):
    refused(caseload(clinic.db, "clients", "list", "--as", "owner", "--status", "archived"), code=2)


# -------------------------------------------------------------- clients add

def test_owner_adds_a_client_and_only_the_new_id_is_printed(any_clinic: Clinic):
    out = succeeded(caseload(any_clinic.db, "clients", "add", "--first", "Zoë", "--last", "O'Brien",
                             "--dob", "2001-02-03", "--email", "zoe@example.org",
                             "--phone", "+1 (555) 010-7777", "--clinician", "clinician-all",
                             "--as", "owner"))
    assert re.fullmatch(r"\d+\n", out), out
    client = any_clinic.client(int(out))
    assert {k: client[k] for k in LIST_KEYS} == {
        "id": int(out), "first_name": "Zoë", "last_name": "O'Brien", "date_of_birth": "2001-02-03",
        "email": "zoe@example.org", "phone": "+1 (555) 010-7777", "status": "active",
        "clinician": "Dr. Alma Reyes"}
    assert [e.target_id for e in audit_trail(any_clinic.db, "client.add")][-1] == int(out)


def test_malformed_date_of_birth_is_refused_and_no_client_is_added(clinic: Clinic):
    before = snapshot(clinic.db)
    line = refused(caseload(clinic.db, "clients", "add", "--first", "Pat", "--last", "Doe",
                            "--dob", "1990-13-01", "--as", "owner"))
    assert "Date of birth" in line
    assert snapshot(clinic.db) == before


def test_scheduler_cannot_add_a_client(clinic: Clinic):
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, "clients", "add", "--first", "Pat", "--last", "Doe",
                     "--as", "scheduler"))
    assert snapshot(clinic.db) == before


def test_own_clients_clinician_cannot_add_a_client_for_a_colleague(clinic: Clinic):
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, "clients", "add", "--first", "Pat", "--last", "Doe",
                     "--clinician", "clinician-all", "--as", "clinician"))
    assert snapshot(clinic.db) == before


def test_wrong_password_adds_nothing(clinic: Clinic):
    before = snapshot(clinic.db)
    assert "Wrong username or password" in refused(caseload(
        clinic.db, "clients", "add", "--first", "Pat", "--last", "Doe", "--as", "owner",
        password="correct horse battery"))
    assert snapshot(clinic.db) == before


def test_no_password_and_no_terminal_is_refused_instead_of_waiting(clinic: Clinic):
    before = snapshot(clinic.db)
    line = refused(caseload(clinic.db, "clients", "add", "--first", "Pat", "--last", "Doe",
                            "--as", "owner", password=None), code=2)
    assert "CASELOAD_PASSWORD" in line
    assert snapshot(clinic.db) == before


def test_adding_without_a_last_name_is_a_one_line_usage_error(clinic: Clinic):
    before = snapshot(clinic.db)
    assert "--last" in refused(caseload(clinic.db, "clients", "add", "--first", "Pat",
                                        "--as", "owner"), code=2)
    assert snapshot(clinic.db) == before


# ------------------------------------------------------------- clients show

def test_show_json_has_the_full_record(clinic: Clinic):
    add_services(clinic.db, time_zone="America/New_York")
    ada = as_json(caseload(clinic.db, "clients", "show", "--as", "owner", str(clinic.ada), "--format", "json"))
    assert SHOW_KEYS <= set(ada)
    assert (ada["first_name"], ada["last_name"], ada["clinician"]) == ("Ada", "Lovelace", "Dr. Colin Park")
    # Stored at 10:00 UTC; shown on the practice's clock, before and after the clocks went forward.
    assert [(a["start"], a["attendance"]) for a in ada["appointments"]] == [
        ("2024-03-04T05:00-05:00", "attended"), ("2024-03-11T06:00-04:00", "attended")]
    assert [(c["contact_id"], c["relationship"]) for c in ada["contacts"]] == [(clinic.guardian, "Guardian")]
    assert ada["portal"] == {"portal_enabled": False, "messaging_enabled": False}
    assert ada["status_history"] == [] and ada["billing_documents"] == []


def test_show_includes_the_status_history_of_an_inactive_client(clinic: Clinic):
    alan = as_json(caseload(clinic.db, "clients", "show", "--as", "owner", str(clinic.alan), "--format", "json"))
    assert alan["status"] == "inactive"
    assert [(h["from"], h["to"], h["reason"], h["actor"]) for h in alan["status_history"]] == [
        ("active", "inactive", "moved", "owner")]


def test_showing_a_client_who_does_not_exist_is_refused(clinic: Clinic):
    assert "no client with id 9999" in refused(caseload(clinic.db, "clients", "show", "--as", "owner", "9999"))


def test_own_clients_clinician_cannot_see_a_colleagues_client(clinic: Clinic):
    line = refused(caseload(clinic.db, "clients", "show", str(clinic.grace), "--format", "json",
                            "--as", "clinician"))
    assert "Hopper" not in line


# ------------------------------------------------------- clients set-status

def test_manager_marks_a_client_inactive_and_can_undo_it(clinic: Clinic):
    succeeded(caseload(clinic.db, "clients", "set-status", str(clinic.grace), "inactive",
                       "--reason", "discharged", "--note", "Completed treatment", "--as", "manager"))
    grace = clinic.client(clinic.grace)
    assert (grace["status"], grace["inactive_reason"], grace["inactive_note"]) == (
        "inactive", "discharged", "Completed treatment")
    assert grace["contacts"] and grace["portal"] == {"portal_enabled": False, "messaging_enabled": False}

    succeeded(caseload(clinic.db, "clients", "set-status", str(clinic.grace), "active",
                       "--as", "manager"))
    grace = clinic.client(clinic.grace)
    assert (grace["status"], grace["inactive_reason"]) == ("active", None)
    assert [(h["to"], h["actor"]) for h in grace["status_history"]] == [
        ("inactive", "manager"), ("active", "manager")]


def test_biller_cannot_change_status_and_nothing_changes(clinic: Clinic):
    before = snapshot(clinic.db)
    assert "Biller" in refused(caseload(clinic.db, "clients", "set-status", str(clinic.ada),
                                        "inactive", "--reason", "moved", "--as", "biller"))
    assert snapshot(clinic.db) == before
    denied = audit_trail(clinic.db, "client.set_status")[-1]
    assert (denied.target_id, denied.outcome, denied.actor_username) == (clinic.ada, "denied", "biller")


def test_own_clients_clinician_cannot_change_a_colleagues_client(clinic: Clinic):
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, "clients", "set-status", str(clinic.grace), "inactive",
                     "--as", "clinician"))
    assert snapshot(clinic.db) == before


def test_duplicate_is_not_a_reason_set_status_accepts(clinic: Clinic):
    """A duplicate needs the kept profile linked, which only marking a duplicate records."""
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, "clients", "set-status", str(clinic.ada), "inactive",
                     "--reason", "duplicate", "--as", "owner"), code=2)
    assert snapshot(clinic.db) == before


# ----------------------------------------------------------- clients delete

def test_owner_deletes_a_client_and_every_record_of_theirs(any_clinic: Clinic):
    c, db = any_clinic, any_clinic.db
    out = succeeded(caseload(db, "clients", "delete", str(c.ada), "--confirm-name", "Ada Lovelace",
                             "--as", "owner"))
    if db.is_postgresql:  # never "permanently": the server's disk keeps the rows until reused
        assert f"Client {c.ada} was deleted from the practice with" in out and "permanently" not in out
        assert "Caseload had the server VACUUM those tables" in out  # as the tables' owner here
    else:
        assert f"Client {c.ada} was deleted permanently" in out
    assert count(db, Client, id=c.ada) == 0
    assert count(db, Appointment, client_id=c.ada) == 0
    assert count(db, ClientContactLink, client_id=c.ada) == 0
    assert count(db, StatusChange, client_id=c.ada) == 0
    # Everyone else is untouched; Mary is a person in her own right, only the link goes.
    assert count(db, Client) == 2 and count(db, Appointment, client_id=c.alan) == 1
    assert count(db, Contact, id=c.guardian) == 1
    deletion = audit_trail(db, "client.delete")[-1]
    assert (deletion.target_id, deletion.outcome, deletion.actor_username) == (c.ada, "allowed", "owner")
    assert deletion.details is not None and deletion.details["removed"]["appointments"] == 2
    with db.reading() as s:
        trail = json.dumps([[e.action, e.actor_username, e.details]
                            for e in s.scalars(select(AuditEvent))], default=str)
    assert "Lovelace" not in trail and "ada@example.org" not in trail


def test_scheduler_cannot_delete_and_nothing_changes(any_clinic: Clinic):
    c, db = any_clinic, any_clinic.db
    before = snapshot(db)
    assert "Scheduler" in refused(caseload(db, "clients", "delete", str(c.ada),
                                           "--confirm-name", "Ada Lovelace", "--as", "scheduler"))
    assert snapshot(db) == before
    denied = audit_trail(db, "client.delete")
    assert [(e.target_id, e.outcome, e.actor_username) for e in denied] == [
        (c.ada, "denied", "scheduler")]


@pytest.mark.parametrize("typed", ["ada lovelace", "Ada Lovelace ", "Lovelace Ada"])
def test_confirm_name_not_exactly_as_shown_deletes_nothing(clinic: Clinic, typed: str):
    before = snapshot(clinic.db)
    assert "Nothing was deleted" in refused(caseload(
        clinic.db, "clients", "delete", str(clinic.ada), "--confirm-name", typed, "--as", "owner"))
    assert snapshot(clinic.db) == before


def test_wrong_password_deletes_nothing(clinic: Clinic):
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, "clients", "delete", str(clinic.ada), "--confirm-name", "Ada Lovelace",
                     "--as", "owner", password="Correct Horse"))
    assert snapshot(clinic.db) == before


def test_own_clients_clinician_cannot_delete_even_their_own_client(clinic: Clinic):
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, "clients", "delete", str(clinic.ada), "--confirm-name", "Ada Lovelace",
                     "--as", "clinician"))
    assert snapshot(clinic.db) == before


def test_deleted_clients_name_is_not_left_in_the_database_file(clinic: Clinic):
    zq = ClientsController(clinic.db).add_client(
        clinic.owner, first_name="Zephyrine", last_name="Quillfeather", email="zq.private@example.net")
    add_appointment(clinic.db, zq, dt.datetime(2024, 5, 6, 14, 0))
    clinic.db.dispose()  # the test's own connections must not pin old pages in the WAL
    succeeded(caseload(clinic.db, "clients", "delete", str(zq), "--confirm-name",
                       "Zephyrine Quillfeather", "--as", "clinician-all"))
    path = Path(clinic.db.engine.url.database or "")
    on_disk = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert on_disk, "the database file should be there"
    for secret in (b"Quillfeather", b"quillfeather", b"zq.private"):
        assert secret not in on_disk


# ----------------------------------------------------------- clients export

@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_export_writes_the_full_record_readable_only_by_its_owner(clinic: Clinic, tmp_path: Path):
    from desktop.controllers.settings import SettingsController

    SettingsController(clinic.db).save(clinic.owner, 0, {"name": "Riverside Counselling", "npi": "1234567893"}, [])
    out_file = tmp_path / "ada.json"
    out_file.write_text("an older export")
    out_file.chmod(0o644)
    out = succeeded(caseload(clinic.db, "clients", "export", "--as", "owner", str(clinic.ada), "--out", str(out_file)))
    assert str(out_file) in out
    record = json.loads(out_file.read_text(encoding="utf-8"))
    assert SHOW_KEYS <= set(record)
    assert (record["id"], record["first_name"], len(record["appointments"])) == (clinic.ada, "Ada", 2)
    assert "exported_at" in record
    assert list(record)[0] == "practice"  # the practice first, as at the top of a paper record
    assert (record["practice"]["name"], record["practice"]["npi"]) == ("Riverside Counselling", "1234567893")
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert [e.target_id for e in audit_trail(clinic.db, "client.export")] == [clinic.ada]


def test_export_of_a_client_who_does_not_exist_writes_no_file(clinic: Clinic, tmp_path: Path):
    out_file = tmp_path / "nobody.json"
    refused(caseload(clinic.db, "clients", "export", "--as", "owner", "9999", "--out", str(out_file)))
    assert not out_file.exists()


def test_own_clients_clinician_cannot_export_a_colleagues_client(clinic: Clinic, tmp_path: Path):
    out_file = tmp_path / "grace.json"
    refused(caseload(clinic.db, "clients", "export", str(clinic.grace), "--out", str(out_file),
                     "--as", "clinician"))
    assert not out_file.exists()


def test_export_to_a_folder_that_does_not_exist_is_a_one_line_error(clinic: Clinic, tmp_path: Path):
    out_file = tmp_path / "missing" / "ada.json"
    mark = last_audit_id(clinic.db)
    assert "Could not write" in refused(caseload(clinic.db, "clients", "export", "--as", "owner",
                                                 str(clinic.ada), "--out", str(out_file)))
    assert not out_file.parent.exists()
    # The failed export is on record as not done, not as an export.
    assert [(e.action, e.outcome.value) for e in audit_rows(clinic.db, mark)
            if e.action != "user.sign_in"] == [("client.export", "denied")]


def test_export_never_follows_a_symbolic_link(clinic: Clinic, tmp_path: Path):
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("someone else's file")
    precious.chmod(0o644)
    link = tmp_path / "ada.json"
    link.symlink_to(precious)
    assert "symbolic link" in refused(caseload(clinic.db, "clients", "export", "--as", "owner",
                                               str(clinic.ada), "--out", str(link)))
    assert precious.read_text() == "someone else's file"
    assert stat.S_IMODE(precious.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ada.json", "precious.txt"]  # no leftovers


def test_export_with_a_nul_in_the_file_name_is_one_line(clinic: Clinic, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]):
    from desktop.cli.main import main

    monkeypatch.setenv("CASELOAD_PASSWORD", PASSWORD)
    code = main(["--database", url_of(clinic.db), "clients", "export", str(clinic.ada), "--as", "owner",
                 "--out", str(tmp_path / "a\x00b.json")])
    assert code == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "NUL" in err
    assert not [p for p in tmp_path.iterdir() if "json" in p.name]


# ------------------------------------------------------- clients duplicates

def test_duplicates_offers_a_profile_entered_twice_with_reasons(clinic: Clinic):
    again = ClientsController(clinic.db).add_client(clinic.owner, first_name="Grace", last_name="Hoper",
                                                    date_of_birth="1976-12-09")
    pairs = as_json(caseload(clinic.db, "clients", "duplicates", "--as", "owner", "--format", "json"))
    assert [(p["left_id"], p["right_id"]) for p in pairs] == [(clinic.grace, again)]
    assert "same date of birth" in pairs[0]["reasons"]
    assert pairs[0]["right_name"] == "Grace Hoper"


def test_duplicates_in_an_unknown_format_is_a_one_line_usage_error(clinic: Clinic):
    refused(caseload(clinic.db, "clients", "duplicates", "--as", "owner", "--format", "csv"), code=2)


# ----------------------------------------------------------- contacts merge

def test_manager_merges_a_contact_entered_twice_and_its_link_moves_to_the_survivor(clinic: Clinic):
    out = succeeded(caseload(clinic.db, "contacts", "merge", str(clinic.guardian),
                             str(clinic.guardian_again), "--as", "manager"))
    assert "merged" in out
    assert count(clinic.db, Contact, id=clinic.guardian_again) == 0
    with clinic.db.reading() as s:
        mary = s.get(Contact, clinic.guardian)
        assert mary is not None
        # Kept values win; an empty kept email is filled from the merged profile.
        assert (mary.first_name, mary.last_name, mary.phone, mary.email) == (
            "Mary", "Lovelace", "555-010-9999", "mary@example.org")
        links = set(s.execute(select(ClientContactLink.client_id, ClientContactLink.contact_id,
                                     ClientContactLink.relationship)).all())
    assert links == {(clinic.ada, clinic.guardian, "Guardian"),
                     (clinic.grace, clinic.guardian, "Emergency contact")}


def test_a_contact_cannot_be_merged_into_itself(clinic: Clinic):
    before = snapshot(clinic.db)
    assert "itself" in refused(caseload(clinic.db, "contacts", "merge", str(clinic.guardian),
                                        str(clinic.guardian), "--as", "owner"))
    assert snapshot(clinic.db) == before


def test_scheduler_cannot_merge_contacts(clinic: Clinic):
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, "contacts", "merge", str(clinic.guardian), str(clinic.guardian_again),
                     "--as", "scheduler"))
    assert snapshot(clinic.db) == before


def test_merging_a_field_contacts_do_not_have_is_refused(clinic: Clinic):
    before = snapshot(clinic.db)
    refused(caseload(clinic.db, "contacts", "merge", str(clinic.guardian), str(clinic.guardian_again),
                     "--take", "date_of_birth", "--as", "owner"))
    assert snapshot(clinic.db) == before


# -------------------------------------------------------------- billing run

def test_biller_runs_billing_and_only_active_clients_are_billed(clinic: Clinic):
    out = succeeded(caseload(clinic.db, "billing", "run", "--through", "2024-12-31", "--as", "biller"))
    # A superbill for each attended appointment and March's statement for both.
    assert "Created 3 billing documents for 2 appointments of 1 clients" in out
    assert "skipped 1 inactive clients" in out
    with clinic.db.reading() as s:
        documents = s.execute(select(BillingDocument.client_id, BillingDocument.kind,
                                     BillingDocument.amount)).all()
    assert sorted((cid, kind.value, str(amount)) for cid, kind, amount in documents) == [
        (clinic.ada, "statement", "330.00"), (clinic.ada, "superbill", "150.00"),
        (clinic.ada, "superbill", "180.00")]


def test_clinician_cannot_run_billing_and_no_document_is_created(clinic: Clinic):
    before = snapshot(clinic.db)
    assert "may not run billing" in refused(caseload(clinic.db, "billing", "run",
                                                     "--as", "clinician-all"))
    assert snapshot(clinic.db) == before


def test_billing_through_a_day_that_does_not_exist_is_refused(clinic: Clinic):
    before = snapshot(clinic.db)
    assert "2024-02-30" in refused(caseload(clinic.db, "billing", "run", "--through", "2024-02-30",
                                            "--as", "biller"))
    assert snapshot(clinic.db) == before


# ---------------------------------------------------------------- users add

def test_owner_adds_a_user_who_can_then_sign_in(clinic: Clinic):
    out = succeeded(caseload(clinic.db, "users", "add", "rita", "--role", "clinician",
                             "--entire-practice", "--display-name", "Dr. Rita Levi", "--as", "owner",
                             env={"CASELOAD_NEW_PASSWORD": "rita's secret"}))
    assert re.fullmatch(r"\d+\n", out), out
    rita = UsersController(clinic.db).sign_in("rita", "rita's secret")
    assert (rita.user_id, rita.display_name, rita.role, rita.entire_practice_access) == (
        int(out), "Dr. Rita Levi", Role.CLINICIAN, True)


def test_manager_cannot_add_users_and_no_user_is_created(clinic: Clinic):
    """Refused as a manager, not asked first for a password the new user will never get."""
    before = snapshot(clinic.db)
    assert "may not manage users" in refused(caseload(
        clinic.db, "users", "add", "rita", "--role", "account_owner", "--as", "manager"))
    assert snapshot(clinic.db) == before
    assert [(e.outcome, e.actor_username) for e in audit_trail(clinic.db, "user.add")] == [
        ("denied", "manager")]


def test_adding_a_user_whose_name_is_taken_is_refused(clinic: Clinic):
    before = snapshot(clinic.db)
    assert "already a user" in refused(caseload(
        clinic.db, "users", "add", "biller", "--role", "account_owner", "--as", "owner",
        env={"CASELOAD_NEW_PASSWORD": "takeover"}))
    assert snapshot(clinic.db) == before
    with pytest.raises(NotSignedIn):
        UsersController(clinic.db).sign_in("biller", "takeover")


def test_users_list_as_json_shows_roles_status_and_sign_ins(any_clinic: Clinic):
    UsersController(any_clinic.db).deactivate(any_clinic.owner, "scheduler")
    rows = {r["username"]: r for r in as_json(caseload(any_clinic.db, "users", "list", "--format", "json",
                                                        "--as", "owner"))}
    assert set(rows) == set(any_clinic.users)
    assert rows["scheduler"] == {"username": "scheduler", "display_name": rows["scheduler"]["display_name"],
                                 "role": "scheduler", "entire_practice": False, "active": False,
                                 "last_sign_in": None}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows["owner"]["last_sign_in"])  # this run signed in
    assert "may not manage users" in refused(caseload(any_clinic.db, "users", "list", "--as", "manager"))


def test_a_deactivated_user_is_refused_at_the_command_line_and_reactivated(clinic: Clinic):
    assert "can no longer sign in" in succeeded(caseload(clinic.db, "users", "deactivate", "biller",
                                                         "--as", "owner"))
    before = snapshot(clinic.db)
    assert "Wrong username or password" in refused(caseload(clinic.db, "billing", "run", "--as", "biller"))
    assert snapshot(clinic.db) == before
    succeeded(caseload(clinic.db, "users", "reactivate", "biller", "--as", "owner"))
    ran = caseload(clinic.db, "billing", "run", "--as", "biller")
    assert ran.code == 0
    # The attempt refused while deactivated is told at the next sign-in.
    assert ran.err == "caseload: 1 failed sign-in attempt since you last signed in.\n"


def test_the_last_account_owner_cannot_be_deactivated_from_the_command_line(clinic: Clinic):
    before = snapshot(clinic.db)
    assert "own account" in refused(caseload(clinic.db, "users", "deactivate", "owner", "--as", "owner"))
    assert snapshot(clinic.db) == before


def test_a_reset_password_is_changed_before_anything_else(clinic: Clinic):
    first, own = "handed over 2026", "mine and only mine"
    assert "next sign in" in succeeded(caseload(clinic.db, "users", "reset-password", "biller", "--as", "owner",
                                                env={"CASELOAD_NEW_PASSWORD": first}))
    assert "Change your password first" in refused(caseload(clinic.db, "billing", "run", "--as", "biller",
                                                            password=first))
    assert "most common" in refused(caseload(clinic.db, "users", "change-password", "--as", "biller",
                                             password=first, env={"CASELOAD_NEW_PASSWORD": "password123"}))
    before = snapshot(clinic.db)
    assert "Wrong username or password" in refused(caseload(
        clinic.db, "users", "change-password", "--as", "biller", password="not the one given",
        env={"CASELOAD_NEW_PASSWORD": own}))
    assert snapshot(clinic.db) == before
    changed = caseload(clinic.db, "users", "change-password", "--as", "biller", password=first,
                       env={"CASELOAD_NEW_PASSWORD": own})
    # The wrong current password above counts as a failed sign-in, and is told now.
    assert changed.code == 0 and "Your password was changed" in changed.out
    assert changed.err == "caseload: 1 failed sign-in attempt since you last signed in.\n"
    succeeded(caseload(clinic.db, "billing", "run", "--as", "biller", password=own))


def test_a_password_is_never_taken_from_the_command_line(clinic: Clinic):
    assert "--new-password" in refused(caseload(clinic.db, "users", "reset-password", "biller",
                                                "--new-password", "in plain sight 1", "--as", "owner"), code=2)


def test_adding_a_likely_duplicate_is_refused_with_exit_3_unless_allowed(any_clinic: Clinic):
    before = snapshot(any_clinic.db)
    line = refused(caseload(any_clinic.db, "clients", "add", "--first", "Ada", "--last", "Lovelase",
                            "--dob", "1985-12-10", "--as", "owner"), code=3)
    assert f"client {any_clinic.ada} " in line and "--allow-duplicate" in line
    assert snapshot(any_clinic.db) == before
    out = succeeded(caseload(any_clinic.db, "clients", "add", "--first", "Ada", "--last", "Lovelase",
                             "--dob", "1985-12-10", "--allow-duplicate", "--as", "owner"))
    added = audit_trail(any_clinic.db, "client.add")[-1]
    assert (added.target_id, added.details) == (int(out), {"possible_duplicates": [any_clinic.ada]})


# -------------------------------------------------------------------- audit

def test_audit_shows_a_refused_and_a_done_deletion_without_the_clients_name(clinic: Clinic):
    clients = ClientsController(clinic.db)
    with pytest.raises(PermissionDenied):
        clients.delete_client(clinic.users["biller"], clinic.ada, "Ada Lovelace")
    clients.delete_client(clinic.users["clinician-all"], clinic.ada, "Ada Lovelace")
    ran = caseload(clinic.db, "audit", "--as", "owner", "--client", str(clinic.ada), "--format", "json")
    events = as_json(ran)
    deletions = [(e["actor"], e["outcome"]) for e in events if e["action"] == "client.delete"]
    assert deletions == [("clinician-all", "allowed"), ("biller", "denied")]  # newest first
    assert {e["target_id"] for e in events} == {clinic.ada}
    assert "Lovelace" not in ran.out and "ada@example.org" not in ran.out


def test_audit_for_a_client_id_that_is_not_a_number_is_a_one_line_usage_error(clinic: Clinic):
    refused(caseload(clinic.db, "audit", "--as", "owner", "--client", "Ada"), code=2)


def test_a_missing_window_library_is_named_with_the_package_to_install(tmp_path: Path) -> None:
    """Without libxcb-cursor0 Qt aborts with exit 134; Caseload says what to install instead."""
    shim = tmp_path / "sitecustomize.py"
    shim.write_text(
        "import ctypes\n"
        "real = ctypes.CDLL.__init__\n"
        "def fake(self, name, *a, **k):\n"
        "    if name and 'xcb-cursor' in str(name):\n"
        "        raise OSError(name + ': cannot open shared object file')\n"
        "    real(self, name, *a, **k)\n"
        "ctypes.CDLL.__init__ = fake\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELOAD_")}
    env.update(QT_QPA_PLATFORM="xcb", PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    ran = subprocess.run([sys.executable, "-m", "desktop"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2, ran
    lines = ran.stderr.splitlines()
    assert len(lines) == 1 and "sudo apt install libxcb-cursor0" in lines[0], ran.stderr


def test_a_contact_is_merged_into_the_client_it_turns_out_to_be(clinic: Clinic):
    contact = ContactsController(clinic.db).add_contact(clinic.owner, first_name="Ada", last_name="Lovelace",
                                                        email="ada.new@example.org")
    out = succeeded(caseload(clinic.db, "contacts", "merge-into-client", str(contact), str(clinic.ada),
                             "--take", "email", "--as", "owner"))
    assert f"merged into client {clinic.ada}" in out
    assert count(clinic.db, Contact, id=contact) == 0
    with clinic.db.reading() as s:
        assert s.get(Client, clinic.ada).email == "ada.new@example.org"
    refused(caseload(clinic.db, "contacts", "merge-into-client", str(contact), str(clinic.ada),
                     "--as", "owner"))  # gone already: one line, non-zero


def test_the_self_test_passes_from_a_source_install() -> None:
    ran = subprocess.run([sys.executable, "-m", "desktop", "--self-test"], cwd=ROOT,
                         env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "self-test passed" in ran.stdout
