"""Client status and the billing run, as the front desk and the biller live them.

Status (docs/rules.md, "Status"): a new client is Active; every change writes
one status-history row and one audit row in the same transaction; inactivation
leaves portal access alone unless asked. Billing (docs/rules.md, "Billing"): the run
skips clients who are inactive now, never bills automatically an appointment
that took place while the client was inactive (it is kept for billing by hand),
and resumes for a reactivated client.

A status change is put in the past by moving its ``changed_at`` in a
transaction of its own, keeping the clock the application recorded it with;
appointment times are the clinic's wall-clock times, as a scheduler types them.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from desktop.controllers import clients as clients_module
from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import InvalidInput, PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.domain.models import (
    Appointment,
    AuditEvent,
    BillingDocument,
    BillingItem,
    Client,
    ClientStatus,
    DocumentKind,
    InactiveReason,
    Outcome,
    StatusChange,
)
from desktop.storage.database import Database
from tests.controllers.support import audit_rows, last_audit_id, refused_and_unchanged, snapshot
from tests.helpers import add_appointment, count

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


def move_last_status_change(db: Database, client_id: int, by: dt.timedelta) -> None:
    """Pretend the client's latest status change happened ``by`` earlier."""
    with db.transaction() as s:
        change = s.scalars(select(StatusChange).where(StatusChange.client_id == client_id)
                           .order_by(StatusChange.id.desc()).limit(1)).one()
        change.changed_at = change.changed_at - by


def at_ten(days_ago: int) -> dt.datetime:
    """10:00 on the clinic's clock, ``days_ago`` days back."""
    return dt.datetime.combine(dt.date.today() - days_ago * DAY, dt.time(10, 0))


def documents(db: Database, client_id: int | None = None) -> list[BillingDocument]:
    with db.reading() as s:
        stmt = select(BillingDocument).order_by(BillingDocument.id)
        if client_id is not None:
            stmt = stmt.where(BillingDocument.client_id == client_id)
        docs = list(s.scalars(stmt))
        s.expunge_all()
        return docs


def billed(db: Database, kind: DocumentKind | None = None) -> set[int]:
    """Ids of appointments that some document (of ``kind``) covers."""
    with db.reading() as s:
        stmt = select(BillingItem.appointment_id)
        if kind is not None:
            stmt = stmt.where(BillingItem.kind == kind)
        return set(s.scalars(stmt))


def manual_only(db: Database, appointment_id: int) -> bool:
    with db.reading() as s:
        appt = s.get(Appointment, appointment_id)
        assert appt is not None
        return appt.manual_billing_only


def inactive_between(db: Database, actor: Actor, client_id: int, since_days: int,
                     until_days: int | None = None) -> None:
    """Make the client inactive ``since_days`` ago, and active again ``until_days`` ago."""
    clients = ClientsController(db)
    clients.set_status(actor, client_id, "inactive", reason="moved")
    move_last_status_change(db, client_id, since_days * DAY)
    if until_days is not None:
        clients.set_status(actor, client_id, "active")
        move_last_status_change(db, client_id, until_days * DAY)


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
    appt = add_appointment(db, client_id, at_ten(3))
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


def test_billing_creates_one_superbill_and_one_statement_per_client_for_attended_visits(
        db: Database, practice: dict[str, Actor]) -> None:
    owner, biller = practice["owner"], practice["biller"]
    nora = add(db, owner)
    omar = add(db, owner, "Omar", "Haddad")
    nora_visits = [add_appointment(db, nora, at_ten(20), fee="150.00"),
                   add_appointment(db, nora, at_ten(13), fee="120.50")]
    omar_visit = add_appointment(db, omar, at_ten(6), fee="90.00")

    report = BillingController(db).run_billing(biller)

    assert (report.documents_created, report.clients_billed, report.appointments_billed) == (4, 2, 3)
    assert report.by_kind == {"superbill": 2, "statement": 2}
    nora_docs = documents(db, nora)
    assert sorted(d.kind for d in nora_docs) == [DocumentKind.STATEMENT, DocumentKind.SUPERBILL]
    for doc in nora_docs:
        assert doc.amount == Decimal("270.50")
        assert (doc.period_start, doc.period_end) == (at_ten(20).date(), at_ten(13).date())
        assert doc.automatic is True
    assert [d.amount for d in documents(db, omar)] == [Decimal("90.00")] * 2
    for kind in DocumentKind:
        assert billed(db, kind) == {*nora_visits, omar_visit}
    [event] = [e for e in audit_rows(db) if e.action == "billing.run"]
    assert (event.outcome, event.actor_username, event.details["documents"]) == (
        Outcome.ALLOWED, "biller", 4)


def test_a_second_billing_run_bills_nothing_twice(db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    nora = add(db, owner)
    first = add_appointment(db, nora, at_ten(10))
    billing = BillingController(db)
    billing.run_billing(owner)
    before = snapshot(db)

    again = billing.run_billing(owner)

    assert (again.documents_created, again.appointments_billed) == (0, 0)
    assert snapshot(db) == before

    later = add_appointment(db, nora, at_ten(2))
    third = billing.run_billing(owner)
    assert third.documents_created == 2
    new_docs = documents(db, nora)[2:]
    assert {d.amount for d in new_docs} == {Decimal("150.00")}
    with db.reading() as s:
        covered = set(s.scalars(select(BillingItem.appointment_id)
                                .where(BillingItem.document_id.in_([d.id for d in new_docs]))))
    assert covered == {later} and first not in covered


def test_billing_ignores_no_shows(db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    nora = add(db, owner)
    omar = add(db, owner, "Omar", "Haddad")
    came = add_appointment(db, nora, at_ten(9))
    no_show = add_appointment(db, nora, at_ten(8), attended=False)
    add_appointment(db, omar, at_ten(7), attended=False)

    report = BillingController(db).run_billing(owner)

    assert report.clients_billed == 1
    assert billed(db) == {came}
    assert no_show not in billed(db)
    assert documents(db, omar) == []
    assert all(d.amount == Decimal("150.00") for d in documents(db, nora))


def test_billing_does_not_bill_appointments_after_the_run_date(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    nora = add(db, owner)
    past = add_appointment(db, nora, at_ten(10))
    add_appointment(db, nora, at_ten(2))

    BillingController(db).run_billing(owner, through=(dt.date.today() - 5 * DAY).isoformat())

    assert billed(db) == {past}


def test_billing_skips_a_client_who_is_inactive_now(db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    active = add(db, owner)
    gone = add(db, owner, "Gail", "Frost")
    add_appointment(db, active, at_ten(30))
    before_leaving = add_appointment(db, gone, at_ten(30))
    inactive_between(db, owner, gone, since_days=20)

    report = BillingController(db).run_billing(owner)

    assert report.inactive_clients_skipped == 1
    assert documents(db, gone) == []
    assert before_leaving not in billed(db)
    assert len(documents(db, active)) == 2


def test_an_appointment_while_inactive_is_never_billed_automatically_but_can_be_billed_by_hand(
        db: Database, practice: dict[str, Actor]) -> None:
    owner, biller = practice["owner"], practice["biller"]
    nora = add(db, owner)
    while_active = add_appointment(db, nora, at_ten(40))
    while_inactive = add_appointment(db, nora, at_ten(25))
    after_return = add_appointment(db, nora, at_ten(5))
    inactive_between(db, owner, nora, since_days=30, until_days=10)
    billing = BillingController(db)

    report = billing.run_billing(biller)

    assert billed(db, DocumentKind.SUPERBILL) == {while_active, after_return}
    assert billed(db, DocumentKind.STATEMENT) == {while_active, after_return}
    assert report.held_for_manual_billing == 1
    assert manual_only(db, while_inactive)
    assert not manual_only(db, while_active) and not manual_only(db, after_return)
    shown = ClientsController(db).get_client(owner, nora).appointments
    assert {a["id"]: a["manual_billing_only"] for a in shown}[while_inactive] is True

    billing.run_billing(biller)
    assert while_inactive not in billed(db)

    doc_id = billing.generate_document(biller, nora, [while_inactive], "superbill")
    [doc] = [d for d in documents(db, nora) if d.id == doc_id]
    assert (doc.kind, doc.automatic, doc.amount) == (DocumentKind.SUPERBILL, False, Decimal("150.00"))
    assert billed(db, DocumentKind.SUPERBILL) == {while_active, while_inactive, after_return}
    # Billing one kind by hand does not let the run pick up the other kind.
    billing.run_billing(biller)
    assert while_inactive not in billed(db, DocumentKind.STATEMENT)


def test_billing_resumes_for_a_reactivated_client(db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    nora = add(db, owner)
    billing = BillingController(db)
    inactive_between(db, owner, nora, since_days=30)
    while_inactive = add_appointment(db, nora, at_ten(20))
    assert billing.run_billing(owner).documents_created == 0
    assert not manual_only(db, while_inactive)  # untouched while the client is skipped

    ClientsController(db).set_status(owner, nora, "active")
    move_last_status_change(db, nora, 10 * DAY)
    after_return = add_appointment(db, nora, at_ten(3))
    report = billing.run_billing(owner)

    assert report.clients_billed == 1
    assert billed(db) == {after_return}
    assert manual_only(db, while_inactive)


def test_billing_follows_a_client_through_several_inactive_spells(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    clients = ClientsController(db)
    nora = add(db, owner)
    visits = {days: add_appointment(db, nora, at_ten(days)) for days in (50, 35, 25, 15, 5)}
    for status, days in (("inactive", 40), ("active", 30), ("inactive", 20), ("active", 10)):
        clients.set_status(owner, nora, status, reason="other" if status == "inactive" else None)
        move_last_status_change(db, nora, days * DAY)

    BillingController(db).run_billing(owner)

    assert billed(db) == {visits[50], visits[25], visits[5]}
    assert {d for d, a in visits.items() if manual_only(db, a)} == {35, 15}


@pytest.fixture
def clinic_clock() -> Iterator[object]:
    """Set the computer's time zone for one test, and put it back afterwards."""
    if not hasattr(time, "tzset"):
        pytest.skip("the time zone can only be switched on Unix")
    saved = os.environ.get("TZ")

    def use(tz: str) -> None:
        os.environ["TZ"] = tz
        time.tzset()

    yield use
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.mark.parametrize("tz", ["EST+5", "PKT-5"], ids=["west_of_utc", "east_of_utc"])
def test_the_inactive_spell_is_read_on_the_clinic_clock(
        db: Database, practice: dict[str, Actor], clinic_clock, tz: str) -> None:  # type: ignore[no-untyped-def]
    """An hour after the client was marked inactive is inactive, wherever the clinic is.

    Appointments are wall-clock times; a status change is stamped by the
    application. Five hours' offset between the two must not move a visit from
    one side of the change to the other.
    """
    clinic_clock(tz)
    owner = practice["owner"]
    clients = ClientsController(db)
    nora = add(db, owner)
    marked_at = dt.datetime.now().replace(second=0, microsecond=0)  # the clinic's clock
    clients.set_status(owner, nora, "inactive", reason="other")
    move_last_status_change(db, nora, 3 * DAY)
    hour_before = add_appointment(db, nora, marked_at - 3 * DAY - dt.timedelta(hours=1))
    hour_after = add_appointment(db, nora, marked_at - 3 * DAY + dt.timedelta(hours=1, minutes=1))
    clients.set_status(owner, nora, "active")
    move_last_status_change(db, nora, 2 * DAY)

    BillingController(db).run_billing(owner, through=dt.date.today() + DAY)

    assert billed(db) == {hour_before}
    assert manual_only(db, hour_after)


@pytest.mark.parametrize("username", ["clinician-all", "clinician", "scheduler"])
def test_roles_without_billing_rights_cannot_run_billing_and_nothing_changes(
        db: Database, practice: dict[str, Actor], username: str) -> None:
    owner = practice["owner"]
    nora = add(db, owner, clinician_id="clinician")
    appt = add_appointment(db, nora, at_ten(4))
    billing = BillingController(db)

    with refused_and_unchanged(db, username, PermissionDenied, "billing.run"):
        billing.run_billing(practice[username])
    with refused_and_unchanged(db, username, PermissionDenied, "billing.generate"):
        billing.generate_document(practice[username], nora, [appt], "statement")

    assert count(db, BillingDocument) == 0
    assert count(db, AuditEvent, action="billing.run", outcome=Outcome.ALLOWED) == 0


@pytest.mark.parametrize("username", ["owner", "manager", "biller"])
def test_owner_manager_and_biller_may_run_billing(
        db: Database, practice: dict[str, Actor], username: str) -> None:
    nora = add(db, practice["owner"])
    add_appointment(db, nora, at_ten(4))
    assert BillingController(db).run_billing(practice[username]).documents_created == 2
    assert count(db, BillingDocument, client_id=nora) == 2


def test_generating_a_document_twice_for_the_same_visit_is_refused(
        db: Database, practice: dict[str, Actor]) -> None:
    biller = practice["biller"]
    nora = add(db, practice["owner"])
    appt = add_appointment(db, nora, at_ten(4))
    billing = BillingController(db)
    billing.generate_document(biller, nora, [appt], "statement")

    with refused_and_unchanged(db, "biller", InvalidInput, "billing.generate"):
        billing.generate_document(biller, nora, [appt], "statement")


def test_a_malformed_billing_date_is_refused_before_anything_runs(
        db: Database, practice: dict[str, Actor]) -> None:
    nora = add(db, practice["owner"])
    add_appointment(db, nora, at_ten(4))
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        BillingController(db).run_billing(practice["biller"], through="2024-13-45")
    assert refused.value.field == "through"
    assert snapshot(db) == before
