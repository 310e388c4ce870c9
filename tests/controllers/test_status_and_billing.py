"""Client status and the billing run, as the front desk and the biller live them.

Status (docs/rules.md, "Status"): a new client is Active; every change writes
one status-history row and one audit row in the same transaction; inactivation
leaves portal access alone unless asked. Billing (docs/rules.md, "Billing"): the
run makes a superbill for each attended appointment and a statement per client
for each month that has ended, through the end of yesterday on the practice's
clock; it skips clients who are inactive now, never bills automatically an
appointment that took place while the client was inactive (it waits in Needs
manual billing), and resumes for a reactivated client.

Appointment starts are stored in UTC and status changes are stamped in UTC, so
whether a visit fell in an inactive spell is decided in UTC whatever the
practice's time zone; a status change is put in the past by moving its
``changed_at`` in a transaction of its own. The practice here is in New York
(Practice settings), and its visits are named on that clock.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from desktop.controllers import clients as clients_module
from desktop.controllers.appointments import AppointmentsController
from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import InvalidInput, PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.domain import clock
from desktop.domain.models import (
    Appointment,
    AuditEvent,
    BillingDocument,
    Client,
    ClientStatus,
    DocumentKind,
    InactiveReason,
    Outcome,
    StatusChange,
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
from tests.helpers import add_appointment, add_services, count

DAY = dt.timedelta(days=1)


# ------------------------------------------------------------------ helpers


def add(db: Database, actor: Actor, first: str = "Nora", last: str = "Quinn", **values) -> int:  # type: ignore[no-untyped-def]
    return ClientsController(db).add_client(actor, first_name=first, last_name=last, **values)


def history(db: Database, client_id: int) -> list[StatusChange]:
    with db.reading() as s:
        rows = list(s.scalars(select(StatusChange).where(StatusChange.client_id == client_id)
                              .order_by(StatusChange.id)))
        s.expunge_all()  # keep the loaded values after the read-only session rolls back
        return rows


def client_row(db: Database, client_id: int) -> Client:
    with db.reading() as s:
        client = s.get(Client, client_id)
        assert client is not None
        s.expunge_all()
        return client


def visit(db: Database, client_id: int, local: str, fee: str = "150.00", *, attended: bool = True) -> int:
    """An appointment that took place at ``local`` on the New York practice's clock."""
    return add_appointment(db, client_id, utc(local), fee=fee, attended=attended)


def manual_only(db: Database, appointment_id: int) -> bool:
    return stored_appointment(db, appointment_id).manual_billing_only


@pytest.fixture
def new_york(db: Database, practice: dict[str, Actor]) -> dict[str, Actor]:
    """The demo users in a practice whose clock is New York's, with its services."""
    add_services(db, time_zone=NEW_YORK)
    return practice


# ------------------------------------------------------------------- status


def test_a_new_client_is_active_with_no_status_history(db: Database, practice: dict[str, Actor]) -> None:
    client_id = add(db, practice["owner"])

    detail = ClientsController(db).get_client(practice["owner"], client_id)
    assert detail.row.status is ClientStatus.ACTIVE
    assert detail.inactive_reason is None
    assert detail.status_history == []
    assert [r.id for r in ClientsController(db).list_clients(practice["owner"])] == [client_id]


def test_marking_inactive_records_history_and_audit_and_keeps_every_record(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    client_id = add(db, owner, email="nora@example.org", phone="555 010 2000")
    appt = visit(db, client_id, "2026-03-10 10:00")
    mark = last_audit_id(db)

    version = ClientsController(db).set_status(owner, client_id, "inactive", reason="discharged",
                                               note="Completed treatment")

    client = client_row(db, client_id)
    assert (client.status, client.inactive_reason, client.inactive_note) == (
        ClientStatus.INACTIVE, InactiveReason.DISCHARGED, "Completed treatment")
    assert version == client.version == 2
    assert (client.email, client.phone) == ("nora@example.org", "555 010 2000")
    assert count(db, Appointment, id=appt) == 1
    [change] = history(db, client_id)
    assert (change.from_status, change.to_status, change.reason, change.note, change.actor_id) == (
        ClientStatus.ACTIVE, ClientStatus.INACTIVE, InactiveReason.DISCHARGED,
        "Completed treatment", owner.user_id)
    [event] = audit_rows(db, mark)
    assert (event.action, event.target_id, event.outcome, event.actor_username) == (
        "client.set_status", client_id, Outcome.ALLOWED, "owner")
    assert event.details["to"] == "inactive"
    assert "Completed treatment" not in str(event.details)
    shown = ClientsController(db).get_client(owner, client_id).status_history
    assert [(h["from"], h["to"], h["reason"], h["actor"]) for h in shown] == [
        ("active", "inactive", "discharged", "owner")]


def test_a_failure_while_recording_a_status_change_leaves_the_client_as_it_was(
        db: Database, practice: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    """History, audit and status are one transaction: a crash between them keeps none."""
    owner = practice["owner"]
    client_id = add(db, owner)
    before = snapshot(db, with_audit=True)

    def audit_breaks(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full while writing the audit row")

    monkeypatch.setattr(clients_module, "audit", audit_breaks)
    with pytest.raises(RuntimeError):
        ClientsController(db).set_status(owner, client_id, "inactive", reason="moved")

    assert snapshot(db, with_audit=True) == before
    assert client_row(db, client_id).status is ClientStatus.ACTIVE
    assert history(db, client_id) == []


def test_reactivating_writes_a_second_history_row_and_clears_reason_and_note(
        db: Database, practice: dict[str, Actor]) -> None:
    manager = practice["manager"]
    clients = ClientsController(db)
    client_id = add(db, practice["owner"])
    clients.set_status(manager, client_id, "inactive", reason="moved", note="Moved to Leeds")
    mark = last_audit_id(db)

    clients.set_status(manager, client_id, "active")

    client = client_row(db, client_id)
    assert (client.status, client.inactive_reason, client.inactive_note) == (
        ClientStatus.ACTIVE, None, None)
    changes = history(db, client_id)
    assert [(c.from_status, c.to_status) for c in changes] == [
        (ClientStatus.ACTIVE, ClientStatus.INACTIVE), (ClientStatus.INACTIVE, ClientStatus.ACTIVE)]
    assert changes[1].reason is None and changes[1].note is None
    [event] = audit_rows(db, mark)
    assert (event.action, event.outcome, event.details["to"]) == (
        "client.set_status", Outcome.ALLOWED, "active")
    assert [r.id for r in clients.list_clients(manager)] == [client_id]


def test_choosing_the_status_a_client_already_has_adds_no_history(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    client_id = add(db, owner)
    ClientsController(db).set_status(owner, client_id, "active")
    assert history(db, client_id) == []
    assert client_row(db, client_id).version == 1


def test_marking_inactive_keeps_portal_access_on(db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    clients = ClientsController(db)
    client_id = add(db, owner)
    clients.set_portal_access(owner, client_id, portal=True, messaging=True)

    clients.set_status(owner, client_id, "inactive", reason="discharged")

    assert clients.get_client(owner, client_id).portal == {
        "portal_enabled": True, "messaging_enabled": True}


def test_marking_inactive_can_switch_portal_access_off_when_asked(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    clients = ClientsController(db)
    client_id = add(db, owner)
    clients.set_portal_access(owner, client_id, portal=True, messaging=True)
    mark = last_audit_id(db)

    clients.set_status(owner, client_id, "inactive", reason="discharged", disable_portal=True)

    assert sorted(e.action for e in audit_rows(db, mark)) == ["client.portal", "client.set_status"]
    assert clients.get_client(owner, client_id).portal == {
        "portal_enabled": False, "messaging_enabled": False}
    clients.set_status(owner, client_id, "active")
    # Coming back does not switch the portal on again by itself.
    assert clients.get_client(owner, client_id).portal["portal_enabled"] is False


@pytest.mark.parametrize("status, reason", [("archived", None), ("inactive", "bored")])
def test_an_unknown_status_or_reason_is_refused_and_nothing_changes(
        db: Database, practice: dict[str, Actor], status: str, reason: str | None) -> None:
    client_id = add(db, practice["owner"])
    with refused_and_unchanged(db, "owner", InvalidInput, "client.set_status") as refused:
        ClientsController(db).set_status(practice["owner"], client_id, status, reason=reason)
    assert refused.value.field in ("status", "reason")


def test_the_scheduler_cannot_change_status_and_nothing_changes(
        db: Database, practice: dict[str, Actor]) -> None:
    client_id = add(db, practice["owner"])
    with refused_and_unchanged(db, "scheduler", PermissionDenied, "client.set_status"):
        ClientsController(db).set_status(practice["scheduler"], client_id, "inactive")
    assert client_row(db, client_id).status is ClientStatus.ACTIVE



# ------------------------------------------------------------------ billing


def test_billing_makes_a_superbill_per_attended_visit_and_a_statement_per_client_and_month(
        db: Database, new_york: dict[str, Actor]) -> None:
    owner, biller = new_york["owner"], new_york["biller"]
    nora = add(db, owner)
    omar = add(db, owner, "Omar", "Haddad")
    nora_march = [visit(db, nora, "2026-03-10 10:00", "150.00"), visit(db, nora, "2026-03-24 10:00", "120.50")]
    nora_april = visit(db, nora, "2026-04-02 10:00", "90.00")
    omar_march = visit(db, omar, "2026-03-15 16:00", "90.00")
    mark = last_audit_id(db)

    report = BillingController(db).run_billing(biller)

    assert report.by_kind == {"superbill": 4, "statement": 3}
    assert (report.documents_created, report.clients_billed, report.appointments_billed) == (7, 2, 4)
    superbills = stored_documents(db, kind=DocumentKind.SUPERBILL)
    assert sorted((d.client_id, d.period_start, d.period_end, d.amount) for d in superbills) == sorted([
        (nora, dt.date(2026, 3, 10), dt.date(2026, 3, 10), Decimal("150.00")),
        (nora, dt.date(2026, 3, 24), dt.date(2026, 3, 24), Decimal("120.50")),
        (nora, dt.date(2026, 4, 2), dt.date(2026, 4, 2), Decimal("90.00")),
        (omar, dt.date(2026, 3, 15), dt.date(2026, 3, 15), Decimal("90.00"))])
    for doc in superbills:
        [appt] = covered_by(db, doc.id)
        assert doc.automatic and doc.automatic_key == f"superbill:{appt}"
    statements = {(d.client_id, d.period_start): d for d in stored_documents(db, kind=DocumentKind.STATEMENT)}
    assert set(statements) == {(nora, dt.date(2026, 3, 1)), (nora, dt.date(2026, 4, 1)),
                               (omar, dt.date(2026, 3, 1))}
    march = statements[nora, dt.date(2026, 3, 1)]
    assert (march.period_end, march.amount, march.automatic_key) == (
        dt.date(2026, 3, 31), Decimal("270.50"), f"statement:{nora}:2026-03")
    assert covered_by(db, march.id) == set(nora_march)
    assert covered_by(db, statements[nora, dt.date(2026, 4, 1)].id) == {nora_april}
    assert covered_by(db, statements[omar, dt.date(2026, 3, 1)].id) == {omar_march}
    for kind in DocumentKind:
        assert billed(db, kind) == {*nora_march, nora_april, omar_march}
    runs = [e for e in audit_rows(db, mark) if e.action == "billing.run"]
    assert {(e.outcome, e.actor_username, e.target_kind) for e in runs} == {(Outcome.ALLOWED, "biller", "practice")}
    assert sum(e.details["documents"] for e in runs) == 7


def test_a_second_run_bills_nothing_twice_and_a_late_entry_goes_on_the_next_statement(
        db: Database, new_york: dict[str, Actor]) -> None:
    owner = new_york["owner"]
    nora = add(db, owner)
    first = visit(db, nora, "2026-03-10 10:00")
    billing = BillingController(db)
    billing.run_billing(owner, through="2026-03-31")
    before = snapshot(db)

    again = billing.run_billing(owner, through="2026-03-31")

    assert (again.documents_created, again.appointments_billed) == (0, 0)
    assert snapshot(db) == before

    # Recorded after March's statement was made: its superbill now, its charge on April's statement.
    late = visit(db, nora, "2026-03-20 10:00", "100.00")
    april = visit(db, nora, "2026-04-08 10:00", "200.00")
    third = billing.run_billing(owner, through="2026-04-30")

    assert third.by_kind == {"superbill": 2, "statement": 1}
    [statement] = [d for d in stored_documents(db, nora, DocumentKind.STATEMENT) if d.period_start.month == 4]
    assert (statement.amount, covered_by(db, statement.id)) == (Decimal("300.00"), {late, april})
    assert billed(db, DocumentKind.SUPERBILL) == {first, late, april}
    assert len(stored_documents(db, nora)) == 5


def test_only_attended_appointments_are_billed(db: Database, new_york: dict[str, Actor]) -> None:
    owner = new_york["owner"]
    nora = add(db, owner)
    omar = add(db, owner, "Omar", "Haddad")
    book = AppointmentsController(db).book
    came = book(owner, nora, "2026-03-09 10:00", service_code="90834", attendance="attended")
    others = [book(owner, nora, f"2026-03-{day} 10:00", service_code="90834", attendance=state)
              for day, state in (("10", "no-show"), ("11", "late-cancel"), ("12", "cancelled"),
                                 ("13", "scheduled"))]
    visit(db, omar, "2026-03-10 10:00", attended=False)

    report = BillingController(db).run_billing(owner)

    assert (report.clients_billed, report.by_kind) == (1, {"superbill": 1, "statement": 1})
    assert billed(db) == {came}
    assert not set(others) & billed(db)
    assert stored_documents(db, omar) == []
    assert {d.amount for d in stored_documents(db, nora)} == {Decimal("140.00")}  # the service's fee


def test_the_run_bills_through_the_end_of_yesterday_on_the_practices_clock(
        db: Database, new_york: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run on 15 June in New York: 23:59 on the 14th is billed, midnight on the 15th is not,
    although both are the 15th in UTC."""
    owner = new_york["owner"]
    nora = add(db, owner)
    yesterday = visit(db, nora, "2026-06-14 23:59")
    today = visit(db, nora, "2026-06-15 00:00")

    def today_in(tz):  # type: ignore[no-untyped-def]
        assert tz.key == NEW_YORK, "the run must read the practice's clock"
        return dt.date(2026, 6, 15)

    monkeypatch.setattr(clock, "today", today_in)
    report = BillingController(db).run_billing(owner)

    assert report.through == dt.date(2026, 6, 14)
    assert billed(db) == {yesterday}
    assert report.by_kind == {"superbill": 1}  # June has not ended: no statement yet
    assert stored_appointment(db, today).superbill_owed


def test_a_run_through_a_date_leaves_later_appointments_owed(db: Database, new_york: dict[str, Actor]) -> None:
    owner = new_york["owner"]
    nora = add(db, owner)
    past = visit(db, nora, "2026-03-10 10:00")
    later = visit(db, nora, "2026-03-20 10:00")

    report = BillingController(db).run_billing(owner, through="2026-03-15")

    assert report.through == dt.date(2026, 3, 15)
    assert billed(db) == {past}
    assert report.by_kind == {"superbill": 1}  # March has not ended by the 15th
    assert BillingController(db).run_billing(owner, through="2026-03-31").by_kind == {
        "superbill": 1, "statement": 1}
    assert billed(db, DocumentKind.STATEMENT) == {past, later}


def test_billing_skips_a_client_who_is_inactive_now_and_bills_their_active_time_once_back(
        db: Database, new_york: dict[str, Actor]) -> None:
    owner = new_york["owner"]
    active = add(db, owner)
    gone = add(db, owner, "Gail", "Frost")
    visit(db, active, "2026-03-10 10:00")
    before_leaving = visit(db, gone, "2026-03-10 10:00")
    set_status_at(db, owner, gone, "inactive", utc("2026-04-01 09:00"))
    billing = BillingController(db)

    report = billing.run_billing(owner)

    assert report.inactive_clients_skipped == 1
    assert stored_documents(db, gone) == []
    assert len(stored_documents(db, active)) == 2
    assert not manual_only(db, before_leaving)  # left alone while she is skipped

    set_status_at(db, owner, gone, "active", utc("2026-05-01 09:00"))
    back = billing.run_billing(owner)

    assert (back.clients_billed, back.by_kind) == (1, {"superbill": 1, "statement": 1})
    assert before_leaving in billed(db, DocumentKind.SUPERBILL)


def test_an_appointment_while_inactive_is_never_billed_automatically_but_can_be_billed_by_hand(
        db: Database, new_york: dict[str, Actor]) -> None:
    owner, biller = new_york["owner"], new_york["biller"]
    nora = add(db, owner)
    while_active = visit(db, nora, "2026-02-10 10:00")
    while_inactive = visit(db, nora, "2026-03-10 10:00")
    after_return = visit(db, nora, "2026-04-10 10:00")
    set_status_at(db, owner, nora, "inactive", utc("2026-03-01 09:00"))
    set_status_at(db, owner, nora, "active", utc("2026-04-01 09:00"))
    billing = BillingController(db)

    report = billing.run_billing(biller)

    assert billed(db, DocumentKind.SUPERBILL) == {while_active, after_return}
    assert billed(db, DocumentKind.STATEMENT) == {while_active, after_return}
    assert report.held_for_manual_billing == 1
    assert manual_only(db, while_inactive)
    assert not manual_only(db, while_active) and not manual_only(db, after_return)
    shown = ClientsController(db).get_client(owner, nora).appointments
    assert {a["id"]: a["manual_billing_only"] for a in shown}[while_inactive] is True
    [waiting] = billing.needs_manual_billing(biller)
    assert (waiting.id, waiting.client_id, waiting.manual_billing_only) == (while_inactive, nora, True)

    billing.run_billing(biller)
    assert while_inactive not in billed(db)

    [doc_id] = billing.generate_superbills(biller, [while_inactive])
    [doc] = [d for d in stored_documents(db, nora) if d.id == doc_id]
    assert (doc.kind, doc.automatic, doc.automatic_key, doc.amount) == (
        DocumentKind.SUPERBILL, False, None, Decimal("150.00"))
    assert billed(db, DocumentKind.SUPERBILL) == {while_active, while_inactive, after_return}
    assert billing.needs_manual_billing(biller) == []
    # Billing one kind by hand does not let the run pick up the other kind.
    billing.run_billing(biller)
    assert while_inactive not in billed(db, DocumentKind.STATEMENT)


def test_billing_resumes_for_a_reactivated_client_for_later_appointments_only(
        db: Database, new_york: dict[str, Actor]) -> None:
    owner = new_york["owner"]
    nora = add(db, owner)
    billing = BillingController(db)
    set_status_at(db, owner, nora, "inactive", utc("2026-03-01 09:00"))
    while_inactive = visit(db, nora, "2026-03-10 10:00")
    assert billing.run_billing(owner).documents_created == 0
    assert not manual_only(db, while_inactive)  # untouched while the client is skipped

    set_status_at(db, owner, nora, "active", utc("2026-04-01 09:00"))
    after_return = visit(db, nora, "2026-04-10 10:00")
    report = billing.run_billing(owner)

    assert report.clients_billed == 1
    assert billed(db) == {after_return}
    assert manual_only(db, while_inactive)


def test_billing_follows_a_client_through_several_inactive_spells(
        db: Database, new_york: dict[str, Actor]) -> None:
    owner = new_york["owner"]
    nora = add(db, owner)
    visits = {month: visit(db, nora, f"2026-{month:02d}-10 10:00") for month in (1, 2, 3, 4, 5)}
    for status, month in (("inactive", 2), ("active", 3), ("inactive", 4), ("active", 5)):
        set_status_at(db, owner, nora, status, utc(f"2026-{month:02d}-01 09:00"))

    report = BillingController(db).run_billing(owner)

    assert billed(db) == {visits[1], visits[3], visits[5]}
    assert {m for m, a in visits.items() if manual_only(db, a)} == {2, 4}
    assert report.held_for_manual_billing == 2
    assert [d.period_start.month for d in stored_documents(db, nora, DocumentKind.STATEMENT)] == [1, 3, 5]


@pytest.mark.parametrize("zone_name", ["America/New_York", "Asia/Karachi", "Pacific/Auckland", "UTC"])
def test_whether_a_visit_fell_in_an_inactive_spell_is_decided_in_utc_whatever_the_practices_zone(
        db: Database, practice: dict[str, Actor], zone_name: str) -> None:
    """An hour before the client was marked inactive is billed, an hour after is not,
    wherever the practice is: both times are UTC, and no offset may move a visit from
    one side of the change to the other."""
    add_services(db, time_zone=zone_name)
    owner = practice["owner"]
    nora = add(db, owner)
    marked_at = dt.datetime(2026, 3, 10, 15, 0)  # UTC
    hour_before = add_appointment(db, nora, marked_at - dt.timedelta(hours=1))
    hour_after = add_appointment(db, nora, marked_at + dt.timedelta(hours=1, minutes=1))
    set_status_at(db, owner, nora, "inactive", marked_at)
    set_status_at(db, owner, nora, "active", marked_at + 2 * DAY)

    BillingController(db).run_billing(owner)

    assert billed(db) == {hour_before}
    assert manual_only(db, hour_after)


@pytest.mark.parametrize("zone_name, day_of_service", [
    ("America/New_York", dt.date(2026, 3, 10)), ("Asia/Karachi", dt.date(2026, 3, 11))])
def test_a_superbills_date_of_service_is_the_practices_date(
        db: Database, practice: dict[str, Actor], zone_name: str, day_of_service: dt.date) -> None:
    add_services(db, time_zone=zone_name)
    nora = add(db, practice["owner"])
    add_appointment(db, nora, dt.datetime(2026, 3, 11, 3, 30))  # 22:30 on the 10th in New York

    BillingController(db).run_billing(practice["owner"])

    [superbill] = stored_documents(db, nora, DocumentKind.SUPERBILL)
    assert superbill.period_start == superbill.period_end == day_of_service


@pytest.mark.parametrize("username", ["clinician-all", "clinician", "scheduler"])
def test_roles_without_billing_rights_cannot_run_or_generate_and_nothing_changes(
        db: Database, new_york: dict[str, Actor], username: str) -> None:
    nora = add(db, new_york["owner"], clinician_id="clinician")
    appt = visit(db, nora, "2026-03-10 10:00")
    billing = BillingController(db)
    actor = new_york[username]

    with refused_and_unchanged(db, username, PermissionDenied, "billing.run"):
        billing.run_billing(actor)
    with refused_and_unchanged(db, username, PermissionDenied, "billing.generate"):
        billing.generate_document(actor, nora, [appt], "statement")
    with refused_and_unchanged(db, username, PermissionDenied, "billing.generate"):
        billing.generate_superbills(actor, [appt])
    with refused_and_unchanged(db, username, PermissionDenied, "billing.manual"):
        billing.needs_manual_billing(actor)

    assert count(db, BillingDocument) == 0
    assert count(db, AuditEvent, action="billing.run", outcome=Outcome.ALLOWED) == 0


@pytest.mark.parametrize("username", ["owner", "manager", "biller"])
def test_owner_manager_and_biller_may_run_billing(
        db: Database, new_york: dict[str, Actor], username: str) -> None:
    nora = add(db, new_york["owner"])
    visit(db, nora, "2026-03-10 10:00")
    assert BillingController(db).run_billing(new_york[username]).by_kind == {"superbill": 1, "statement": 1}
    assert count(db, BillingDocument, client_id=nora) == 2


def test_generating_a_document_twice_for_the_same_visit_is_refused(
        db: Database, new_york: dict[str, Actor]) -> None:
    biller = new_york["biller"]
    nora = add(db, new_york["owner"])
    appt = visit(db, nora, "2026-03-10 10:00")
    billing = BillingController(db)
    billing.generate_document(biller, nora, [appt], "statement")
    billing.generate_superbills(biller, [appt])

    with refused_and_unchanged(db, "biller", InvalidInput, "billing.generate"):
        billing.generate_document(biller, nora, [appt], "statement")
    with refused_and_unchanged(db, "biller", InvalidInput, "billing.generate"):
        billing.generate_superbills(biller, [appt])
    # The run finds both kinds made and makes neither again.
    assert BillingController(db).run_billing(biller).documents_created == 0


def test_billing_by_hand_refuses_what_did_not_take_place_and_nothing_changes(
        db: Database, new_york: dict[str, Actor]) -> None:
    biller = new_york["biller"]
    nora = add(db, new_york["owner"])
    no_show = visit(db, nora, "2026-03-10 10:00", attended=False)
    billing = BillingController(db)
    with refused_and_unchanged(db, "biller", InvalidInput, "billing.generate") as refused:
        billing.generate_superbills(biller, [no_show])
    assert "no-show" in str(refused.value)
    with refused_and_unchanged(db, "biller", InvalidInput, "billing.generate"):
        billing.generate_superbills(biller, [])


@pytest.mark.parametrize("through", ["2024-13-45", "yesterday", "31/03/2026"])
def test_a_malformed_billing_date_is_refused_before_anything_runs(
        db: Database, new_york: dict[str, Actor], through: str) -> None:
    nora = add(db, new_york["owner"])
    visit(db, nora, "2026-03-10 10:00")
    billing = BillingController(db)
    with refused_and_unchanged(db, "biller", InvalidInput, "billing.run") as refused:
        billing.run_billing(new_york["biller"], through=through)
    assert refused.value.field == "through"

    before = snapshot(db, with_audit=True)
    with pytest.raises(InvalidInput):
        billing.run_automatic(through=through)
    assert snapshot(db, with_audit=True) == before
