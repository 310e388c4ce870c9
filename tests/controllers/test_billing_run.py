"""The automatic billing run and the documents it makes, as the practice lives them.

docs/rules.md, "Billing": every open Caseload runs billing as the practice
(audited as "automatic billing"); it makes a superbill for each attended
appointment and a statement per client for each month that has ended, on the
practice's clock, through the end of yesterday. A client's visits while they
were inactive wait in Needs manual billing. However many workstations run at
once, nothing is made twice: the database refuses a second automatic document
for the same thing, and the runs take a practice-wide lock. Two real processes
prove it here on SQLite and on PostgreSQL.

Appointments are booked and marked through the appointments controller, as the
front desk would, at times on the practice's clock (New York unless a test says
otherwise).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import false, func, insert, or_, select, text
from sqlalchemy.exc import IntegrityError

from desktop.controllers.appointments import (
    AppointmentsController,
    refresh_all_owed_since,
    refresh_owed_since,
)
from desktop.controllers.billing import BillingController, DocumentRow
from desktop.controllers.clients import ClientsController
from desktop.controllers.document_table import DocumentTable, Key
from desktop.controllers.errors import FileNotWritten, InvalidInput, NotFound, PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.domain import clock
from desktop.domain.models import (
    Appointment,
    Attendance,
    BillingDocument,
    BillingItem,
    Client,
    ClientStatus,
    DocumentKind,
    Outcome,
)
from desktop.storage.database import Database
from tests.controllers.support import (
    NEW_YORK,
    audit_rows,
    billed,
    covered_by,
    last_audit_id,
    refused_and_unchanged,
    set_status_at,
    snapshot,
    stored_appointment,
    stored_documents,
    utc,
)
from tests.helpers import add_appointment, add_services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(db: Database, practice: dict[str, Actor]) -> dict[str, Any]:
    """A New York practice: Ines is the own-clients clinician's client, Tobias the
    entire-practice clinician's."""
    add_services(db, time_zone=NEW_YORK)
    owner = practice["owner"]
    clients = ClientsController(db)
    return {
        **practice,
        "ines": clients.add_client(owner, first_name="Ines", last_name="Harrow", clinician_id="clinician",
                                   date_of_birth="1984-02-29", address="12 Elm St\nSpringfield",
                                   diagnosis_codes="f41.1 F32.0"),
        "tobias": clients.add_client(owner, first_name="Tobias", last_name="Wren",
                                     clinician_id="clinician-all"),
    }


def attended(db: Database, world: dict[str, Any], client: str, local: str, service: str = "90834") -> int:
    """Book a past appointment as the scheduler and mark it attended, as the front desk does."""
    booked = AppointmentsController(db).book(world["scheduler"], world[client], local, service_code=service)
    AppointmentsController(db).set_attendance(world["scheduler"], booked, "attended")
    return booked


def run(db: Database, through: str | None = None) -> dict[str, int]:
    return BillingController(db).run_automatic(through=through).by_kind


# ------------------------------------------------------------------ active, inactive, active again


def test_an_attended_appointment_of_an_active_client_gets_a_superbill(db: Database, world: dict[str, Any]) -> None:
    came = attended(db, world, "ines", "2026-03-10 10:00")
    mark = last_audit_id(db)

    report = BillingController(db).run_automatic(through="2026-03-10")

    assert (report.by_kind, report.appointments_billed, report.clients_billed) == ({"superbill": 1}, 1, 1)
    [superbill] = stored_documents(db, world["ines"])
    assert (superbill.kind, superbill.automatic, superbill.amount, superbill.period_start) == (
        DocumentKind.SUPERBILL, True, Decimal("140.00"), dt.date(2026, 3, 10))
    assert covered_by(db, superbill.id) == {came}
    [event] = audit_rows(db, mark)
    assert (event.actor_username, event.action, event.outcome, event.target_kind) == (
        "automatic billing", "billing.automatic", Outcome.ALLOWED, "practice")
    assert event.details["documents"] == 1
    assert stored_appointment(db, came).superbill_owed is False


def test_the_same_appointment_while_inactive_gets_none_and_waits_for_billing_by_hand(
        db: Database, world: dict[str, Any]) -> None:
    owner, biller = world["owner"], world["biller"]
    set_status_at(db, owner, world["ines"], "inactive", utc("2026-03-01 09:00"))
    came = attended(db, world, "ines", "2026-03-10 10:00")
    billing = BillingController(db)
    assert billing.needs_manual_billing(biller) == []  # not yet: she is still inactive, so skipped

    set_status_at(db, owner, world["ines"], "active", utc("2026-04-01 09:00"))
    report = billing.run_automatic(through="2026-04-30")

    assert report.documents_created == 0 and report.held_for_manual_billing == 1
    assert stored_documents(db, world["ines"]) == []
    [waiting] = billing.needs_manual_billing(biller)
    assert (waiting.id, waiting.client_name, waiting.attendance, waiting.fee) == (
        came, "Ines Harrow", Attendance.ATTENDED, Decimal("140.00"))
    assert run(db, "2026-05-31") == {}  # never automatically, however often it runs

    mark = last_audit_id(db)
    [doc_id] = billing.generate_superbills(biller, [came])

    [superbill] = stored_documents(db, world["ines"])
    assert (superbill.id, superbill.kind, superbill.automatic, superbill.automatic_key) == (
        doc_id, DocumentKind.SUPERBILL, False, None)
    assert billing.needs_manual_billing(biller) == []
    [event] = audit_rows(db, mark)
    assert (event.actor_username, event.action, event.target_id, event.details["documents"]) == (
        "biller", "billing.generate", world["ines"], [doc_id])


def test_reactivating_resumes_automatic_generation_for_later_appointments_only(
        db: Database, world: dict[str, Any]) -> None:
    owner = world["owner"]
    before = attended(db, world, "ines", "2026-02-10 10:00")
    set_status_at(db, owner, world["ines"], "inactive", utc("2026-03-01 09:00"))
    during = attended(db, world, "ines", "2026-03-10 10:00")
    assert run(db, "2026-03-31") == {}  # inactive now: skipped entirely
    set_status_at(db, owner, world["ines"], "active", utc("2026-04-01 09:00"))
    after = attended(db, world, "ines", "2026-04-10 10:00")

    assert run(db, "2026-04-30") == {"superbill": 2, "statement": 2}

    assert billed(db, DocumentKind.SUPERBILL) == billed(db, DocumentKind.STATEMENT) == {before, after}
    assert stored_appointment(db, during).manual_billing_only
    assert [r.id for r in BillingController(db).needs_manual_billing(world["owner"])] == [during]


def test_a_held_appointment_moved_to_its_right_time_is_decided_again_by_the_next_run(
        db: Database, world: dict[str, Any]) -> None:
    """Typed on the wrong day, inside the client's inactive spell: corrected, it is billed
    automatically if it now falls in active time, and held again if it does not."""
    owner, scheduler = world["owner"], world["scheduler"]
    set_status_at(db, owner, world["ines"], "inactive", utc("2026-03-01 09:00"))
    set_status_at(db, owner, world["ines"], "active", utc("2026-04-01 09:00"))
    wrong_day = attended(db, world, "ines", "2026-03-10 10:00")
    still_wrong = attended(db, world, "ines", "2026-03-11 10:00")
    assert BillingController(db).run_automatic(through="2026-04-30").held_for_manual_billing == 2
    edit = AppointmentsController(db).edit

    edit(scheduler, wrong_day, 2, start="2026-04-10 10:00", minutes=45, service_code="90834", fee="140",
         clinician_id="clinician", attendance="attended")
    edit(scheduler, still_wrong, 2, start="2026-03-12 10:00", minutes=45, service_code="90834", fee="140",
         clinician_id="clinician", attendance="attended")
    report = BillingController(db).run_automatic(through="2026-04-30")

    assert (report.by_kind, report.held_for_manual_billing) == ({"superbill": 1, "statement": 1}, 1)
    assert billed(db) == {wrong_day}
    assert [r.id for r in BillingController(db).needs_manual_billing(owner)] == [still_wrong]


def _stamps_agree_with_the_owed_flags(db: Database) -> dict[int, tuple[Any, Any]]:
    """Every client's owed-since stamps, checked against their appointments' owed flags."""
    with db.reading() as s:
        stamps = {cid: (superbill, statement) for cid, superbill, statement in s.execute(
            select(Client.id, Client.owes_superbill_since, Client.owes_statement_since))}
        for cid in stamps:
            truth = tuple(s.scalar(select(func.min(Appointment.start)).where(Appointment.client_id == cid, flag))
                          for flag in (Appointment.superbill_owed, Appointment.statement_owed))
            assert stamps[cid] == truth, (cid, stamps[cid], truth)
    return stamps


def test_what_each_client_owes_since_follows_every_change_that_makes_or_settles_a_debt(
        db: Database, world: dict[str, Any]) -> None:
    """The run starts from the clients' owed-since stamps (docs/rules.md, "Billing"): booking,
    marking, editing, billing automatically and billing by hand each keep them true, or a debt
    would never be billed."""
    scheduler, owner, ines = world["scheduler"], world["owner"], world["ines"]
    appointments = AppointmentsController(db)
    march = attended(db, world, "ines", "2026-03-10 10:00")
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-03-10 10:00"),) * 2
    earlier = appointments.book(scheduler, ines, "2026-02-03 09:00", service_code="90834", attendance="attended")
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-02-03 09:00"),) * 2
    appointments.set_attendance(scheduler, earlier, "no-show")  # owes nothing now
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-03-10 10:00"),) * 2
    appointments.edit(scheduler, march, 2, start="2026-03-20 10:00", minutes=45, service_code="90834", fee="140",
                      clinician_id="clinician", attendance="attended")
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-03-20 10:00"),) * 2

    # Through 21 March: the superbill is made; the statement waits for March to end.
    assert run(db, "2026-03-21") == {"superbill": 1}
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (None, utc("2026-03-20 10:00"))
    assert run(db, "2026-03-31") == {"statement": 1}
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (None, None)

    # Held while inactive, then billed by hand.
    set_status_at(db, owner, ines, "inactive", utc("2026-04-01 09:00"))
    away = attended(db, world, "ines", "2026-04-08 10:00")
    report = BillingController(db).run_automatic(through="2026-04-30")
    assert (report.documents_created, report.inactive_clients_skipped) == (0, 1)
    set_status_at(db, owner, ines, "active", utc("2026-05-01 09:00"))
    assert BillingController(db).run_automatic(through="2026-05-31").held_for_manual_billing == 1
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (None, None)
    BillingController(db).generate_superbills(world["biller"], [away])
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (None, None)
    assert stored_appointment(db, away).manual_billing_only
    # A statement made by hand for a visit the run has not reached (its month is not over).
    late = attended(db, world, "ines", "2026-05-12 10:00")
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-05-12 10:00"),) * 2
    BillingController(db).generate_document(world["biller"], ines, [late], "statement")
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-05-12 10:00"), None)


def test_billing_a_client_moves_their_stamps_but_is_not_a_change_to_the_client(
        db: Database, world: dict[str, Any]) -> None:
    """The stamps are bookkeeping: other workstations find edited clients by ``updated_at`` and
    the change number, and a run that made every billed client look edited would have every
    list read them all again."""
    ines = world["ines"]
    attended(db, world, "ines", "2026-03-10 10:00")

    def client_state() -> tuple[Any, ...]:
        with db.reading() as s:
            return tuple(s.execute(select(Client.updated_at, Client.change_seq, Client.version)
                                   .where(Client.id == ines)).one())

    before = client_state()
    assert run(db, "2026-03-31") == {"superbill": 1, "statement": 1}
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (None, None)
    assert client_state() == before
    # Stamps already right are not written again (each write rewrites the row and its indexes).
    with db.transaction() as s:
        assert refresh_owed_since(s.connection(), [ines]) == 0
    attended(db, world, "ines", "2026-04-02 10:00")
    with db.transaction() as s:  # (as a writer that does not keep them would leave them)
        s.connection().exec_driver_sql(f"UPDATE clients SET owes_superbill_since = NULL WHERE id = {ines}")
        assert refresh_owed_since(s.connection(), [ines]) == 1
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-04-02 10:00"),) * 2


def test_a_debt_written_behind_the_controllers_backs_is_stamped_by_the_database(
        db: Database, world: dict[str, Any]) -> None:
    """An older Caseload, or a repair by hand, writes appointments without knowing the stamps:
    the database's trigger brings the client's stamp forward, so the run still bills them."""
    ines = world["ines"]
    with db.engine.begin() as conn:
        came = conn.execute(insert(Appointment).values(
            client_id=ines, start=utc("2026-03-10 10:00"), duration_minutes=45, service_code="90834",
            fee=Decimal("140"), attendance=Attendance.ATTENDED, manual_billing_only=False, superbill_owed=True,
            statement_owed=True).returning(Appointment.id)).scalar_one()
        earlier = conn.execute(insert(Appointment).values(
            client_id=ines, start=utc("2026-03-20 10:00"), duration_minutes=45, service_code="90834",
            fee=Decimal("140"), attendance=Attendance.NO_SHOW, manual_billing_only=False, superbill_owed=False,
            statement_owed=False).returning(Appointment.id)).scalar_one()
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-03-10 10:00"),) * 2
    with db.engine.begin() as conn:  # corrected by hand: attended after all, and a week earlier
        conn.execute(Appointment.__table__.update().where(Appointment.id == earlier).values(
            start=utc("2026-03-03 10:00"), attendance=Attendance.ATTENDED, superbill_owed=True,
            statement_owed=True))
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (utc("2026-03-03 10:00"),) * 2
    assert run(db, "2026-03-31") == {"superbill": 2, "statement": 1}
    assert billed(db) == {came, earlier}
    # A debt settled behind the controllers' backs leaves the stamp too early: the next run,
    # finding nothing due for that client, makes it true again.
    later = add_appointment(db, ines, utc("2026-04-02 10:00"))
    with db.engine.begin() as conn:
        conn.execute(Appointment.__table__.update().where(Appointment.id == later).values(
            superbill_owed=False, statement_owed=False))
    with db.reading() as s:
        assert s.scalar(select(Client.owes_superbill_since).where(Client.id == ines)) == utc("2026-04-02 10:00")
    assert run(db, "2026-04-30") == {}
    assert _stamps_agree_with_the_owed_flags(db)[ines] == (None, None)


# ------------------------------------------------------------------ statements at month edges


def test_a_visit_at_2330_on_the_31st_in_new_york_is_on_that_months_statement(
        db: Database, world: dict[str, Any]) -> None:
    """23:30 on 31 March in New York is 03:30 on 1 April in UTC; the practice's month wins."""
    late = attended(db, world, "ines", "2026-03-31 23:30")
    early = attended(db, world, "ines", "2026-04-01 00:30")
    assert stored_appointment(db, late).start == dt.datetime(2026, 4, 1, 3, 30)

    assert run(db, "2026-03-31") == {"superbill": 1, "statement": 1}  # as run on 1 April

    [march] = stored_documents(db, world["ines"], DocumentKind.STATEMENT)
    assert (march.period_start, march.period_end, march.automatic_key) == (
        dt.date(2026, 3, 1), dt.date(2026, 3, 31), f"statement:{world['ines']}:2026-03")
    assert covered_by(db, march.id) == {late}
    [superbill] = stored_documents(db, world["ines"], DocumentKind.SUPERBILL)
    assert superbill.period_start == dt.date(2026, 3, 31)
    assert run(db, "2026-04-30") == {"superbill": 1, "statement": 1}
    assert billed(db, DocumentKind.STATEMENT) == {late, early}


def test_a_run_on_the_first_makes_last_months_statement_and_a_run_on_the_31st_does_not(
        db: Database, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    attended(db, world, "ines", "2026-10-05 10:00")
    attended(db, world, "ines", "2026-10-30 16:00")
    today = {"date": dt.date(2026, 10, 31)}
    monkeypatch.setattr(clock, "today", lambda tz: today["date"])

    assert run(db) == {"superbill": 2}  # on the 31st: October has not ended
    assert stored_documents(db, kind=DocumentKind.STATEMENT) == []

    today["date"] = dt.date(2026, 11, 1)
    assert run(db) == {"statement": 1}
    [october] = stored_documents(db, kind=DocumentKind.STATEMENT)
    assert (october.period_start, october.amount) == (dt.date(2026, 10, 1), Decimal("280.00"))


@pytest.mark.parametrize("zone_name, local, month", [
    ("Pacific/Auckland", "2026-03-01 08:00", 3),  # 2026-02-28 19:00 UTC: March in Auckland
    ("America/Los_Angeles", "2026-02-28 20:00", 2),  # 2026-03-01 04:00 UTC: February in Los Angeles
])
def test_the_month_of_a_visit_is_the_practices_month(db: Database, practice: dict[str, Actor], zone_name: str,
                                                     local: str, month: int) -> None:
    add_services(db, time_zone=zone_name)
    client = ClientsController(db).add_client(practice["owner"], first_name="Ada", last_name="Byron")
    appt = add_appointment(db, client, utc(local, zone_name))

    BillingController(db).run_automatic(through="2026-03-31")

    [statement] = stored_documents(db, client, DocumentKind.STATEMENT)
    assert statement.period_start == dt.date(2026, month, 1)
    assert covered_by(db, statement.id) == {appt}


def test_the_autumn_change_day_is_billed_whole_and_only_once(db: Database, world: dict[str, Any]) -> None:
    """1 November 2026 in New York has 25 hours (01:00-02:00 twice); a run through that day
    bills up to its last minute, October's statement takes 23:30 on the 31st (already
    1 November in UTC) and not 00:30 on the 1st."""
    last_of_october = attended(db, world, "ines", "2026-10-31 23:30")
    first_minutes = attended(db, world, "ines", "2026-11-01 00:30")
    repeated_hour = add_appointment(db, world["ines"], dt.datetime(2026, 11, 1, 6, 30))  # 01:30 EST, the 2nd
    last_minutes = attended(db, world, "ines", "2026-11-01 23:30")  # 04:30 UTC on the 2nd
    next_day = attended(db, world, "ines", "2026-11-02 00:10")

    assert run(db, "2026-11-01") == {"superbill": 4, "statement": 1}

    assert billed(db, DocumentKind.SUPERBILL) == {last_of_october, first_minutes, repeated_hour, last_minutes}
    assert billed(db, DocumentKind.STATEMENT) == {last_of_october}
    days = {d.period_start for d in stored_documents(db, kind=DocumentKind.SUPERBILL)}
    assert days == {dt.date(2026, 10, 31), dt.date(2026, 11, 1)}
    assert stored_appointment(db, next_day).superbill_owed


def test_the_spring_change_day_ends_at_its_own_midnight(db: Database, world: dict[str, Any]) -> None:
    """8 March 2026 in New York has 23 hours: 23:59 that night is 03:59 UTC on the 9th."""
    before = attended(db, world, "ines", "2026-03-07 23:59")
    change_day = [attended(db, world, "ines", f"2026-03-08 {t}") for t in ("00:00", "03:00", "23:59")]

    assert run(db, "2026-03-07") == {"superbill": 1}
    assert run(db, "2026-03-08") == {"superbill": 3}
    assert billed(db) == {before, *change_day}


# ------------------------------------------------------------------ the run itself


def test_a_second_run_with_nothing_due_makes_nothing_and_writes_no_audit_row(
        db: Database, world: dict[str, Any]) -> None:
    attended(db, world, "ines", "2026-03-10 10:00")
    attended(db, world, "tobias", "2026-04-10 10:00")
    BillingController(db).run_automatic()
    before = snapshot(db, with_audit=True)

    again = BillingController(db).run_automatic()

    assert (again.documents_created, again.appointments_billed, again.by_kind) == (0, 0, {})
    assert snapshot(db, with_audit=True) == before


def test_the_run_reports_its_progress_by_clients(db: Database, world: dict[str, Any]) -> None:
    attended(db, world, "ines", "2026-03-10 10:00")
    attended(db, world, "tobias", "2026-03-11 10:00")
    seen: list[tuple[int, int]] = []

    BillingController(db).run_automatic(progress=lambda done, total: seen.append((done, total)))

    assert seen[0] == (0, 2) and seen[-1] == (2, 2)


def test_a_big_run_is_cut_into_short_transactions_by_what_is_owed(
        db: Database, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each transaction holds SQLite's write lock; a first run over years of visits must not
    hold it for long, so it is cut by the documents owed, not only by clients."""
    from desktop.controllers import billing

    for day in (9, 10, 11):
        attended(db, world, "ines", f"2026-03-{day} 10:00")  # 3 superbills and 3 statement lines owed
    attended(db, world, "tobias", "2026-03-10 10:00")
    monkeypatch.setattr(billing, "CHUNK_OWED", 6)
    seen: list[tuple[int, int]] = []
    mark = last_audit_id(db)

    report = BillingController(db).run_automatic(progress=lambda done, total: seen.append((done, total)))

    assert seen == [(0, 2), (1, 2), (2, 2)]
    assert [e.details["documents"] for e in audit_rows(db, mark)] == [4, 2]
    assert report.by_kind == {"superbill": 4, "statement": 2}


def test_a_client_inactive_now_is_skipped_and_counted(db: Database, world: dict[str, Any]) -> None:
    kept = attended(db, world, "tobias", "2026-03-10 10:00")
    ClientsController(db).set_status(world["owner"], world["tobias"], "inactive", reason="moved")

    report = BillingController(db).run_automatic()

    assert (report.documents_created, report.inactive_clients_skipped) == (0, 1)
    assert stored_appointment(db, kept).superbill_owed  # billed once Tobias is active again


# ------------------------------------------------------------------ documents: the list


@pytest.fixture
def billed_world(world: dict[str, Any], db: Database) -> dict[str, Any]:
    """Ines: March (two visits) and April; Tobias: April. All billed by the run."""
    world["visits"] = {
        "ines-mar-1": attended(db, world, "ines", "2026-03-10 10:00"),
        "ines-mar-2": attended(db, world, "ines", "2026-03-24 15:00", service="90837"),
        "ines-apr": attended(db, world, "ines", "2026-04-02 10:00"),
        "tobias-apr": attended(db, world, "tobias", "2026-04-03 10:00"),
    }
    BillingController(db).run_automatic(through="2026-04-30")
    return world


def test_the_documents_list_filters_by_month_kind_and_client(db: Database, billed_world: dict[str, Any]) -> None:
    w, documents = billed_world, BillingController(db).documents
    biller = w["biller"]

    every = documents(biller)
    assert len(every) == 4 + 3
    assert [d.period_start for d in every] == sorted((d.period_start for d in every), reverse=True)
    march = documents(biller, month="2026-03")
    assert sorted((d.kind.value, d.period) for d in march) == [
        ("statement", "2026-03"), ("superbill", "2026-03-10"), ("superbill", "2026-03-24")]
    assert {d.kind for d in documents(biller, kind="statement")} == {DocumentKind.STATEMENT}
    assert len(documents(biller, kind=DocumentKind.SUPERBILL)) == 4
    assert {d.client_id for d in documents(biller, client_id=w["tobias"])} == {w["tobias"]}
    [april_statement] = documents(biller, month=dt.date(2026, 4, 9), kind="statement", client_id=w["ines"])
    assert (april_statement.amount, april_statement.client_name) == (Decimal("140.00"), "Ines Harrow")
    assert documents(biller, month="2026-05") == []


def _table_rows(table: DocumentTable) -> list[DocumentRow]:
    return [table.row(i) for i in range(len(table))]


@pytest.mark.parametrize("filters", [{}, {"month": "2026-03"}, {"month": "2026-04", "kind": "statement"},
                                     {"kind": DocumentKind.SUPERBILL}, {"month": "2026-05"}])
def test_the_billing_pages_columns_hold_what_the_documents_list_holds(
        db: Database, billed_world: dict[str, Any], filters: dict[str, Any]) -> None:
    """The Billing page reads ``document_table``; the command line reads ``documents``."""
    billing, biller = BillingController(db), billed_world["biller"]
    listed = billing.documents(biller, **filters)
    table = billing.document_table(biller, **filters)
    # The same documents, each the same to the cent and the minute, oldest period first.
    assert _table_rows(table) == sorted(listed, key=lambda d: (d.period_start, d.id))
    assert all(str(row.created_at.tzinfo) == NEW_YORK for row in _table_rows(table))


def test_the_billing_pages_columns_sort_as_the_page_always_sorted(db: Database, billed_world: dict[str, Any]) -> None:
    w = billed_world
    ClientsController(db).add_client(w["owner"], first_name="ines", last_name="Harrow")  # equal, folded
    attended(db, w, "tobias", "2026-03-10 10:00")
    BillingController(db).run_automatic(through="2026-04-30")
    table = BillingController(db).document_table(w["owner"])
    rows = _table_rows(table)
    keys = {Key.NUMBER: lambda r: r.id, Key.KIND: lambda r: r.kind.value,
            Key.CLIENT: lambda r: r.client_name.casefold(),
            Key.PERIOD: lambda r: (r.period_start, r.period_end), Key.CREATED: lambda r: r.created_at,
            Key.MADE: lambda r: r.automatic, Key.AMOUNT: lambda r: r.amount}
    for key, of in keys.items():
        for descending in (False, True):
            # Python's sort is stable both ways: equal keys stay in the base order.
            expected = sorted(range(len(rows)), key=lambda i: of(rows[i]), reverse=descending)  # noqa: B023
            assert table.order(key, descending).tolist() == expected, (key, descending)


def test_a_large_periods_first_rows_are_the_whole_periods_first_rows_in_the_client_order(
        db: Database, billed_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A large month's first rows, shown while the rest is read (docs/rules.md, "Billing"), are
    every document of the clients whose names come first, as the whole month lists them."""
    w = billed_world
    clients = ClientsController(db)
    for first, last in (("Ünal", "Kaya"), ("abe", "zed"), ("Carla", "Díaz"), ("Abe", "Zed")):
        cid = clients.add_client(w["owner"], first_name=first, last_name=last)
        add_appointment(db, cid, utc("2026-04-06 14:00"), fee="90.00")
    BillingController(db).run_automatic(through="2026-04-30")
    monkeypatch.setattr("desktop.controllers.billing.FIRST_SCREEN_FROM", 5)
    monkeypatch.setattr("desktop.controllers.billing.FIRST_CLIENTS", 1)
    billing, firsts = BillingController(db), []
    whole = billing.document_table(w["biller"], month="2026-04", first=firsts.append)
    [first] = firsts
    head = [first.row(int(i)) for i in first.order(Key.CLIENT)]
    assert head == [whole.row(int(i)) for i in whole.order(Key.CLIENT)][:len(head)]
    # The first name, and the one equal to it case-folded: each a superbill and April's statement.
    assert sorted((r.client_name, r.kind.value) for r in head) == [
        ("Abe Zed", "statement"), ("Abe Zed", "superbill"), ("abe zed", "statement"), ("abe zed", "superbill")]
    assert len(whole) == 12
    firsts.clear()
    assert len(billing.document_table(w["biller"], month="2026-03", first=firsts.append)) == 3
    assert firsts == []  # a small month is read whole at once
    monkeypatch.setattr("desktop.controllers.billing.FIRST_SCREEN_FROM", 1)
    mine = billing.document_table(w["clinician"], month="2026-04", first=firsts.append)
    assert {firsts[0].row(i).client_id for i in range(len(firsts[0]))} == {w["ines"]} == \
        {mine.row(i).client_id for i in range(len(mine))}  # the clinician's own clients' documents only


def test_a_large_period_whose_clients_cannot_be_named_gets_no_first_rows_but_is_read_whole(
        db: Database, billed_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients gone between the two statements (deleted elsewhere): shown by number, not a first
    screen of nothing."""
    monkeypatch.setattr("desktop.controllers.billing.FIRST_SCREEN_FROM", 1)
    monkeypatch.setattr("desktop.controllers.billing.visible_clients", lambda stmt, who: stmt.where(false()))
    firsts: list[DocumentTable] = []
    whole = BillingController(db).document_table(billed_world["biller"], month="2026-04", first=firsts.append)
    assert firsts == []
    assert sorted(r.client_name for r in _table_rows(whole)) == sorted(
        f"#{billed_world[who]}" for who in ("ines", "ines", "tobias", "tobias"))


def test_an_amount_too_large_for_four_bytes_of_cents_reads_back_whole(
        db: Database, billed_world: dict[str, Any]) -> None:
    billing, owner = BillingController(db), billed_world["owner"]
    with db.transaction() as s:
        document = s.scalars(select(BillingDocument).order_by(BillingDocument.id)).first()
        assert document is not None
        document.amount, large = Decimal("98765432.10"), document.id
    table = billing.document_table(owner)
    assert [r.amount for r in _table_rows(table) if r.id == large] == [Decimal("98765432.10")]
    assert table.order(Key.AMOUNT, True)[0] == table.index_of(large)
    assert table.counts()[2] == sum((r.amount for r in billing.documents(owner)), Decimal(0))


@pytest.mark.parametrize("stored, made", [
    ("2026-04-30 14:05:09", dt.datetime(2026, 4, 30, 14, 5, 9)),  # as an earlier release wrote it
    ("2026-04-30 14:05:09.5", dt.datetime(2026, 4, 30, 14, 5, 9, 500000)),
    ("1969-12-31 23:59:59.000001", dt.datetime(1969, 12, 31, 23, 59, 59, 1))])
def test_when_a_document_was_made_reads_back_to_the_microsecond_however_it_was_stored(
        db: Database, billed_world: dict[str, Any], stored: str, made: dt.datetime) -> None:
    billing, owner = BillingController(db), billed_world["owner"]
    first = billing.documents(owner)[-1]
    with db.transaction() as s:
        s.execute(text("UPDATE billing_documents SET created_at = :made, period_start = '1969-12-31' "
                       "WHERE id = :id"), {"made": stored, "id": first.id})
    [row] = [r for r in _table_rows(billing.document_table(owner)) if r.id == first.id]
    assert row.created_at == made.replace(tzinfo=dt.UTC) and row.period_start == dt.date(1969, 12, 31)


def test_the_billing_pages_name_filter_finds_what_is_typed_in_any_case_or_script(
        db: Database, billed_world: dict[str, Any]) -> None:
    w = billed_world
    clients = ClientsController(db)
    for first, last in (("Zoë", "Ångström"), ("小龍", "李"), ("ليلى", "حداد")):
        cid = clients.add_client(w["owner"], first_name=first, last_name=last)
        add_appointment(db, cid, utc("2026-04-06 14:00"), fee="90.00")
    BillingController(db).run_automatic(through="2026-04-30")
    table = BillingController(db).document_table(w["biller"], month="2026-04")
    names = [table.row(i).client_name for i in range(len(table))]
    for typed in ("ines", "INES HAR", "s h", "ÅNG", "zoë", "李小", "ليلى", "حد", "nobody", "\x1f", "e"):
        assert [n for n, hit in zip(names, table.named(typed), strict=True) if hit] == \
            [n for n in names if typed.casefold() in n.casefold()], typed


def test_the_billing_pages_columns_show_only_what_the_person_may_see(
        db: Database, billed_world: dict[str, Any]) -> None:
    w, billing = billed_world, BillingController(db)
    assert {r.client_id for r in _table_rows(billing.document_table(w["clinician"]))} == {w["ines"]}
    everyone = _table_rows(billing.document_table(w["owner"]))
    chosen = [everyone[0].id, everyone[-1].id]
    assert [r.id for r in _table_rows(billing.document_table(w["owner"], ids=chosen))] == chosen
    assert len(billing.document_table(w["owner"], ids=[])) == 0
    with refused_and_unchanged(db, "scheduler", PermissionDenied, "billing.documents"):
        billing.document_table(w["scheduler"])
    with refused_and_unchanged(db, "biller", InvalidInput, "billing.documents"):
        billing.document_table(w["biller"], month="2026-13")


def test_a_documents_dates_of_service_and_its_json(db: Database, billed_world: dict[str, Any]) -> None:
    w = billed_world
    [march] = BillingController(db).documents(w["owner"], month="2026-03", kind="statement", with_dates=True)

    assert march.service_dates == (dt.date(2026, 3, 10), dt.date(2026, 3, 24))
    data = march.as_json()
    assert {k: data[k] for k in ("kind", "client_id", "service_dates", "period", "amount", "automatic")} == {
        "kind": "statement", "client_id": w["ines"], "service_dates": ["2026-03-10", "2026-03-24"],
        "period": "2026-03", "amount": "320.00", "automatic": True}
    assert march.created_at.tzinfo is not None and str(march.created_at.tzinfo) == NEW_YORK


def test_an_own_clients_clinician_sees_only_their_clients_documents(
        db: Database, billed_world: dict[str, Any]) -> None:
    w, documents = billed_world, BillingController(db).documents
    assert {d.client_id for d in documents(w["clinician"])} == {w["ines"]}
    assert {d.client_id for d in documents(w["clinician-all"])} == {w["ines"], w["tobias"]}
    with refused_and_unchanged(db, "clinician", PermissionDenied, "billing.documents"):
        documents(w["clinician"], client_id=w["tobias"])
    tobias_doc = documents(w["owner"], client_id=w["tobias"])[0].id
    with refused_and_unchanged(db, "clinician", PermissionDenied, "billing.document.view"):
        BillingController(db).document(w["clinician"], tobias_doc)


def test_the_scheduler_cannot_open_billing(db: Database, billed_world: dict[str, Any]) -> None:
    w = billed_world
    doc = BillingController(db).documents(w["owner"])[0].id
    with refused_and_unchanged(db, "scheduler", PermissionDenied, "billing.documents"):
        BillingController(db).documents(w["scheduler"])
    with refused_and_unchanged(db, "scheduler", PermissionDenied, "billing.document.view"):
        BillingController(db).document(w["scheduler"], doc)


@pytest.mark.parametrize("filters, field", [({"month": "March"}, "month"), ({"month": "2026-13"}, "month"),
                                            ({"kind": "invoice"}, "kind")])
def test_a_filter_that_makes_no_sense_is_refused(db: Database, billed_world: dict[str, Any],
                                                 filters: dict[str, str], field: str) -> None:
    with refused_and_unchanged(db, "biller", InvalidInput, "billing.documents") as refused:
        BillingController(db).documents(billed_world["biller"], **filters)
    assert refused.value.field == field


# ------------------------------------------------------------------ documents: one opened


def test_opening_a_superbill_shows_practice_client_diagnoses_lines_and_total_and_is_audited(
        db: Database, billed_world: dict[str, Any]) -> None:
    w = billed_world
    visit = w["visits"]["ines-mar-2"]
    [superbill] = [d for d in BillingController(db).documents(w["biller"], kind="superbill", client_id=w["ines"])
                   if d.period_start == dt.date(2026, 3, 24)]
    mark = last_audit_id(db)

    view = BillingController(db).document(w["biller"], superbill.id, purpose="pdf")

    assert (view.practice.name, view.practice.address, view.practice.phone, view.practice.tax_id,
            view.practice.npi) == ("Riverside Counselling", "1 Main St\nSpringfield", "555 0100", "12-3456789",
                                   "1234567893")
    assert (view.client_name, view.client_date_of_birth, view.client_address) == (
        "Ines Harrow", dt.date(1984, 2, 29), "12 Elm St\nSpringfield")
    assert view.diagnosis_codes == "F41.1, F32.0"
    assert [(line.date, line.code, line.description, line.minutes, line.fee) for line in view.lines] == [
        (dt.date(2026, 3, 24), "90837", "Psychotherapy, 60 minutes", 60, Decimal("180.00"))]
    assert view.total == Decimal("180.00") and view.kind is DocumentKind.SUPERBILL
    assert view.title == f"Superbill {superbill.id}"
    [event] = audit_rows(db, mark)
    assert (event.actor_username, event.action, event.target_kind, event.target_id, event.outcome) == (
        "biller", "billing.document.view", "client", w["ines"], Outcome.ALLOWED)
    assert event.details == {"document_id": superbill.id, "purpose": "pdf"}
    assert covered_by(db, superbill.id) == {visit}


def test_a_statement_lists_its_months_services_and_their_total(db: Database, billed_world: dict[str, Any]) -> None:
    w = billed_world
    [statement] = BillingController(db).documents(w["owner"], month="2026-03", kind="statement")

    view = BillingController(db).document(w["owner"], statement.id)

    assert [(line.date, line.code, line.fee) for line in view.lines] == [
        (dt.date(2026, 3, 10), "90834", Decimal("140.00")), (dt.date(2026, 3, 24), "90837", Decimal("180.00"))]
    assert view.total == sum(line.fee for line in view.lines) == Decimal("320.00")
    assert (view.period_start, view.period_end) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert view.title == f"Statement {statement.id} — March 2026"


def test_a_delivery_that_fails_is_audited_as_refused(db: Database, billed_world: dict[str, Any]) -> None:
    w = billed_world
    doc = BillingController(db).documents(w["owner"])[0].id

    def disk_full(view: object) -> None:
        raise FileNotWritten("The PDF could not be written: the disk is full.")

    with refused_and_unchanged(db, "owner", FileNotWritten, "billing.document.view"):
        BillingController(db).document(w["owner"], doc, purpose="pdf", deliver=disk_full)
    delivered: list[object] = []
    BillingController(db).document(w["owner"], doc, purpose="print", deliver=delivered.append)
    assert len(delivered) == 1


@pytest.mark.parametrize("document_id, purpose, error", [
    (10**9, "view", NotFound), (2**40, "view", NotFound), (2**64, "view", InvalidInput), (0, "view", InvalidInput),
    (1, "email", InvalidInput)])
def test_opening_a_document_that_is_not_there_is_refused(db: Database, billed_world: dict[str, Any],
                                                         document_id: int, purpose: str,
                                                         error: type[Exception]) -> None:
    with refused_and_unchanged(db, "biller", error, "billing.document.view"):
        BillingController(db).document(billed_world["biller"], document_id, purpose=purpose)


@pytest.mark.parametrize("change", ["edit", "attendance"])
def test_a_change_waits_for_a_billing_run_in_progress_and_is_then_refused(
        db: Database, world: dict[str, Any], change: str) -> None:
    """A run reads the appointment's fee, then prints it on a document. A change saved in
    between would leave the document printing a figure the appointment no longer has."""
    came = attended(db, world, "ines", "2026-03-10 10:00")
    refused: list[BaseException] = []

    def change_it() -> None:
        try:
            if change == "edit":
                AppointmentsController(db).edit(world["scheduler"], came, 2, start="2026-03-10 10:00", minutes=45,
                                                service_code="90834", fee="99.00", clinician_id="clinician",
                                                attendance="attended")
            else:
                AppointmentsController(db).set_attendance(world["scheduler"], came, "no-show")
        except InvalidInput as exc:
            refused.append(exc)

    worker = threading.Thread(target=change_it)
    with db.transaction() as s:  # a run, as far as it got when the person saves
        db.take_write_lock(s, "billing")
        fee = s.get(Appointment, came).fee
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive(), "the change did not wait for the run"
        doc = BillingDocument(client_id=world["ines"], kind=DocumentKind.SUPERBILL, period_start=dt.date(2026, 3, 10),
                              period_end=dt.date(2026, 3, 10), amount=fee, automatic=True,
                              automatic_key=f"superbill:{came}")
        s.add(doc)
        s.flush()
        s.add(BillingItem(client_id=world["ines"], document_id=doc.id, appointment_id=came,
                          kind=DocumentKind.SUPERBILL))
    worker.join(timeout=30)

    assert [type(e) for e in refused] == [InvalidInput]
    appt = stored_appointment(db, came)
    assert (appt.fee, appt.attendance) == (fee, Attendance.ATTENDED)


# ------------------------------------------------------------------ never twice: the database


def _a_document(s: Any, client_id: int, key: str | None) -> int:
    return s.execute(insert(BillingDocument).values(
        client_id=client_id, kind=DocumentKind.SUPERBILL, period_start=dt.date(2026, 3, 10),
        period_end=dt.date(2026, 3, 10), amount=Decimal("140.00"), automatic=key is not None,
        created_at=dt.datetime(2026, 3, 11), automatic_key=key).returning(BillingDocument.id)).scalar_one()


def test_the_database_itself_refuses_a_second_automatic_document_for_the_same_thing(
        db: Database, world: dict[str, Any]) -> None:
    """Idempotence does not rest on the lock alone: a run that skipped it could not succeed."""
    came = attended(db, world, "ines", "2026-03-10 10:00")
    run(db, "2026-03-10")
    before = snapshot(db)

    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        _a_document(conn, world["ines"], f"superbill:{came}")
    [made] = stored_documents(db, world["ines"])
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        doc = _a_document(conn, world["ines"], None)  # by hand, no key: the item is what clashes
        conn.execute(insert(BillingItem).values(client_id=world["ines"], document_id=doc, appointment_id=came,
                                                kind=DocumentKind.SUPERBILL))
    assert snapshot(db) == before
    assert made.automatic_key == f"superbill:{came}"
    # Documents made by hand have no key, and any number of them may have none.
    with db.engine.begin() as conn:
        _a_document(conn, world["ines"], None)
        _a_document(conn, world["ines"], None)


def test_a_run_that_meets_a_superbill_made_by_hand_at_that_moment_tries_again_and_makes_nothing_twice(
        db: Database, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the run reading what is owed and writing it, a superbill of the same
    appointment is saved (by hand, or by an older Caseload that took no lock): the database
    refuses the run's copy, and the run does that part again from what is now there."""
    came = attended(db, world, "ines", "2026-03-10 10:00")
    original = BillingController._insert_documents
    calls: list[DocumentKind] = []

    def meanwhile(s: Any, kind: DocumentKind, documents: Any, now: dt.datetime, **kw: Any) -> list[int]:
        calls.append(kind)
        if len(calls) == 1:
            def by_hand(conn: Any) -> None:
                doc = _a_document(conn, world["ines"], None)
                conn.execute(insert(BillingItem).values(client_id=world["ines"], document_id=doc,
                                                        appointment_id=came, kind=DocumentKind.SUPERBILL))
                conn.execute(Appointment.__table__.update().where(Appointment.id == came)
                             .values(superbill_owed=False))
            if db.is_postgresql:  # another workstation, committed while the run is under way
                with db.engine.begin() as other:
                    by_hand(other)
            else:  # SQLite lets nobody else write meanwhile: the clash comes from inside
                by_hand(s.connection())
        return original(s, kind, documents, now, **kw)

    monkeypatch.setattr(BillingController, "_insert_documents", staticmethod(meanwhile))
    report = BillingController(db).run_automatic(through="2026-03-31")

    assert calls[:2] == [DocumentKind.SUPERBILL, DocumentKind.SUPERBILL]  # the first attempt was refused
    with db.reading() as s:
        kinds = sorted(s.scalars(select(BillingItem.kind).where(BillingItem.appointment_id == came)))
    assert kinds == [DocumentKind.STATEMENT, DocumentKind.SUPERBILL]
    assert report.by_kind.get("statement") == 1


# ------------------------------------------------------------------ never twice: two processes at once

CLIENTS = 300
VISITS_PER_CLIENT = 9  # January to September 2026, one a month
INACTIVE_EVERY = 10  # every tenth client is inactive now: skipped by both runs
THROUGH = "2026-09-30"

RUNNER = r"""
import json, os, sys, time
from pathlib import Path
from desktop.controllers import billing
from desktop.storage.database import open_database

url, folder, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
billing.CHUNK_CLIENTS = 25  # many short transactions, so the two runs interleave chunk by chunk
db = open_database(url)
(folder / f"ready-{name}").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
began = time.time()
report = billing.BillingController(db).run_automatic(through=sys.argv[4])
ended = time.time()
db.dispose()
print(json.dumps({"began": began, "ended": ended, "documents": report.documents_created,
                  "by_kind": report.by_kind, "appointments": report.appointments_billed}))
"""


def _busy_practice(db: Database) -> tuple[set[int], set[int]]:
    """Hundreds of clients with months of attended visits, all owed; returns (active, inactive) ids."""
    with db.transaction() as s:
        s.execute(insert(Client), [
            {"first_name": f"Client{i}", "last_name": "Busy", "search_key": f"busy client{i}",
             "status": ClientStatus.INACTIVE if i % INACTIVE_EVERY == 0 else ClientStatus.ACTIVE}
            for i in range(CLIENTS)])
        clients = s.execute(select(Client.id, Client.status)).all()
        s.execute(insert(Appointment), [
            {"client_id": cid, "start": dt.datetime(2026, month, 1 + cid % 27, 14, 0), "duration_minutes": 45,
             "service_code": "90834", "fee": Decimal("140.00"), "attendance": Attendance.ATTENDED,
             "manual_billing_only": False, "superbill_owed": True, "statement_owed": True}
            for cid, _status in clients for month in range(1, VISITS_PER_CLIENT + 1)])
        refresh_all_owed_since(s.connection())
    return ({cid for cid, st in clients if st is ClientStatus.ACTIVE},
            {cid for cid, st in clients if st is ClientStatus.INACTIVE})


def test_two_processes_running_billing_at_the_same_moment_make_every_document_once(
        db: Database, practice: dict[str, Actor], tmp_path: Path) -> None:
    add_services(db, time_zone=NEW_YORK)
    active, inactive = _busy_practice(db)
    db.dispose()  # the two runs are the only ones using the database

    runners = [subprocess.Popen([sys.executable, "-c", RUNNER, db.engine.url.render_as_string(hide_password=False),
                                 str(tmp_path), name, THROUGH], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for name in ("left", "right")]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{n}").exists() for n in ("left", "right")):
        assert all(r.poll() is None for r in runners), [r.communicate() for r in runners]
        assert time.monotonic() < deadline, "the runs did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outputs = []
    for runner in runners:
        out, err = runner.communicate(timeout=300)
        assert runner.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))

    left, right = outputs
    assert left["began"] < right["ended"] and right["began"] < left["ended"], "the two runs did not overlap"
    with db.reading() as s:
        docs = s.execute(select(BillingDocument.kind, BillingDocument.client_id, BillingDocument.period_start,
                                BillingDocument.automatic_key)).all()
        items = s.execute(select(BillingItem.appointment_id, BillingItem.kind)).all()
        appts = dict(s.execute(select(Appointment.id, Appointment.client_id)).all())
        owed = s.scalar(select(func.count()).select_from(Appointment).where(
            Appointment.client_id.in_(active), or_(Appointment.superbill_owed, Appointment.statement_owed)))
    keys = [d.automatic_key for d in docs]
    assert len(keys) == len(set(keys)) and None not in keys
    superbilled = [a for a, kind in items if kind is DocumentKind.SUPERBILL]
    stated = [a for a, kind in items if kind is DocumentKind.STATEMENT]
    mine = {a for a, cid in appts.items() if cid in active}
    assert sorted(superbilled) == sorted(mine)  # every one of them exactly once, and nothing else
    assert sorted(stated) == sorted(mine)
    assert not {a for a, cid in appts.items() if cid in inactive} & set(superbilled + stated)
    months = [(d.client_id, d.period_start) for d in docs if d.kind is DocumentKind.STATEMENT]
    assert len(months) == len(set(months)) == len(active) * VISITS_PER_CLIENT
    assert owed == 0
    assert left["documents"] + right["documents"] == len(docs) == 2 * len(mine)
    assert left["appointments"] + right["appointments"] == len(mine)
