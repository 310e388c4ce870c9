"""``caseload audit``, ``audit verify`` and ``audit anchor``: who may, what they print, how they exit."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from desktop.cli.main import EXIT_TAMPERED, main
from desktop.controllers.audit_log import AuditLogController
from desktop.controllers.clients import ClientsController
from desktop.domain.models import Outcome
from desktop.storage.anchors import AnchorBook
from desktop.storage.database import Database
from tests.cli.test_cli import caseload
from tests.controllers.support import as_superuser, audit_rows, last_audit_id
from tests.helpers import PASSWORD, seed_users


def run(db: Database, *argv: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("CASELOAD_PASSWORD", PASSWORD)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(["--database", db.engine.url.render_as_string(hide_password=False), *argv])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def world(sqlite_db: Database) -> dict[str, Any]:
    actors = seed_users(sqlite_db)
    clients = ClientsController(sqlite_db)
    ada = clients.add_client(actors["owner"], first_name="Ada", last_name="Lovelace")
    mei = clients.add_client(actors["owner"], first_name="Mei", last_name="Tanaka")
    clients.set_status(actors["manager"], ada, "inactive", reason="moved")
    return {"db": sqlite_db, "actors": actors, "ada": ada, "mei": mei}


@pytest.mark.parametrize("username, allowed", [
    ("owner", True), ("manager", True), ("clinician-all", False), ("clinician", False), ("biller", False),
    ("scheduler", False)])
@pytest.mark.parametrize("argv", [["audit"], ["audit", "verify"], ["audit", "anchor"],
                                  ["audit", "--client", "1", "--format", "csv"]],
                         ids=["list", "verify", "anchor", "csv"])
def test_only_the_owner_and_managers_read_verify_or_anchor_the_log(world, monkeypatch, username, allowed, argv):  # type: ignore[no-untyped-def]
    db = world["db"]
    mark = last_audit_id(db)
    code, out, err = run(db, *argv, "--as", username, monkeypatch=monkeypatch)
    if allowed:
        assert code == 0, err
        assert out
    else:
        assert (code, out) == (1, "")
        assert err.startswith("caseload: ") and len(err.splitlines()) == 1
        assert "may not read the practice audit log" in err
        refused = [row for row in audit_rows(db, mark) if row.outcome is Outcome.DENIED]
        assert [row.actor_username for row in refused] == [username]


def test_the_table_shows_the_newest_entries_in_plain_words(world, monkeypatch):  # type: ignore[no-untyped-def]
    code, out, _err = run(world["db"], "audit", "--client", str(world["ada"]), "--as", "owner",
                          monkeypatch=monkeypatch)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SEQ", "TIME", "USER", "WHAT", "CLIENT", "OUTCOME"]
    assert "Changed status to Inactive" in lines[1] and "Ada Lovelace" in lines[1]
    assert "Added client" in lines[-1]


def test_json_and_csv_hold_what_the_filters_let_through(world, monkeypatch):  # type: ignore[no-untyped-def]
    db = world["db"]
    code, out, _err = run(db, "audit", "--user", "manager", "--format", "json", "--as", "owner",
                          monkeypatch=monkeypatch)
    assert code == 0
    entries = json.loads(out)
    assert [(e["actor"], e["what"], e["client"]) for e in entries] == [
        ("manager", "Changed status to Inactive", "Ada Lovelace")]
    code, out, _err = run(db, "audit", "--since", "2000-01-01", "--until", "2000-12-31", "--format", "csv",
                          "--as", "owner", monkeypatch=monkeypatch)
    assert code == 0 and list(csv.reader(io.StringIO(out))) == [
        ["Entry", "Time", "User", "Action", "Client", "Outcome"]]
    code, _out, err = run(db, "audit", "--user", "nobody", "--as", "owner", monkeypatch=monkeypatch)
    assert code == 1 and err == "caseload: There is no user 'nobody'.\n"


def test_verify_exits_0_when_intact_and_4_naming_the_first_bad_entry(world, monkeypatch):  # type: ignore[no-untyped-def]
    db = world["db"]
    code, out, _err = run(db, "audit", "verify", "--as", "owner", monkeypatch=monkeypatch)
    assert code == 0 and "intact" in out
    as_superuser(db, "UPDATE audit_events SET target_id = 99 WHERE seq = 3")
    ran = caseload(db, "audit", "verify", "--as", "owner")  # as a script would: a process of its own
    assert ran.code == EXIT_TAMPERED, ran
    assert ran.out.splitlines() == [ran.out.strip()] and ran.out.startswith("Audit log entry 3: changed")
    assert ran.err == ""


def _cut_back_to(db: Database, keep: int) -> None:
    """Entries after ``keep`` deleted and the head set to match: a chain whole in itself."""
    as_superuser(db, f"DELETE FROM audit_events WHERE seq > {keep}",
                 f"UPDATE audit_chain_head SET seq = {keep}, hash = (SELECT row_hash FROM audit_events "
                 f"WHERE seq = {keep})")


def test_an_anchor_printed_and_typed_back_catches_a_log_cut_short(world, monkeypatch):  # type: ignore[no-untyped-def]
    db = world["db"]
    code, out, _err = run(db, "audit", "anchor", "--as", "owner", monkeypatch=monkeypatch)
    assert code == 0
    [anchor] = [line.removeprefix("Anchor: ") for line in out.splitlines() if line.startswith("Anchor: ")]
    keep = int(anchor.split(":")[0]) - 3
    # Signing in to verify adds an entry to the cut log: the first one missing is the one after.
    _cut_back_to(db, keep)
    code, out, _err = run(db, "audit", "verify", "--as", "owner", monkeypatch=monkeypatch)
    assert code == EXIT_TAMPERED and out.startswith(f"Audit log entry {keep + 2}: shorter than the anchor")
    # The anchor kept on paper catches it just the same on a computer that kept none.
    _cut_back_to(db, keep)
    AnchorBook(str(Path(db.engine.url.database or "").resolve())).path.unlink()
    code, out, _err = run(db, "audit", "verify", "--as", "owner", monkeypatch=monkeypatch)
    assert code == 0  # nothing to compare with
    _cut_back_to(db, keep)
    code, out, _err = run(db, "audit", "verify", "--anchor", anchor, "--as", "owner", monkeypatch=monkeypatch)
    assert code == EXIT_TAMPERED and out.startswith(f"Audit log entry {keep + 2}: shorter than the anchor")


def test_clients_show_is_listed_as_a_look_with_the_viewers_name(world, monkeypatch):  # type: ignore[no-untyped-def]
    db, actors = world["db"], world["actors"]
    code, _out, _err = run(db, "clients", "show", str(world["mei"]), "--as", "clinician-all", monkeypatch=monkeypatch)
    assert code == 0
    seen = AuditLogController(db, AnchorBook(db.url, Path('/nonexistent'))).who_viewed(actors["owner"], world["mei"])
    assert [(e.user, e.what) for e in seen] == [(actors["clinician-all"].display_name, "Viewed profile")]
