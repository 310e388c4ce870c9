"""The billing run: superbills and statements for attended appointments.

The rule (docs/rules.md, "Billing"): a run skips every client who is inactive when it
runs, and never bills automatically an appointment that took place while the
client was inactive; such an appointment is marked ``manual_billing_only`` and
stays available for ``generate_document``. Appointments from periods when the
client was active are billed as soon as a run finds the client active.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from desktop.controllers.base import Controller, audit, writes
from desktop.controllers.errors import InvalidInput
from desktop.controllers.permissions import Action, Actor
from desktop.domain.models import (
    Appointment,
    BillingDocument,
    BillingItem,
    Client,
    ClientStatus,
    DocumentKind,
    StatusChange,
)


@dataclass
class BillingRunReport:
    documents_created: int = 0
    appointments_billed: int = 0
    clients_billed: int = 0
    inactive_clients_skipped: int = 0
    held_for_manual_billing: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class StatusTimeline:
    """A client's status at any moment, from their status changes."""

    def __init__(self, current: ClientStatus, changes: Sequence[tuple[dt.datetime, ClientStatus, ClientStatus]]):
        self._times = [c[0] for c in changes]
        self._after = [c[2] for c in changes]
        self._before_first = changes[0][1] if changes else current

    def status_at(self, moment: dt.datetime) -> ClientStatus:
        i = bisect.bisect_right(self._times, moment)
        return self._after[i - 1] if i else self._before_first


def _parse_through(through: dt.date | str | None) -> dt.datetime:
    if through is None or through == "":
        day = dt.date.today()
    elif isinstance(through, dt.date):
        day = through
    else:
        try:
            day = dt.date.fromisoformat(str(through).strip())
        except ValueError:
            raise InvalidInput(f"{through!r} is not a date; use YYYY-MM-DD.", field="through") from None
    return dt.datetime.combine(day, dt.time.max)


def _wall_clock(stamp: dt.datetime) -> dt.datetime:
    """A status change's UTC stamp on the clinic's wall clock, the clock appointments use.

    Compared as stored, a visit an hour after inactivation in a clinic west of
    UTC would count as before it, and be billed automatically.
    """
    return stamp.replace(tzinfo=dt.UTC).astimezone().replace(tzinfo=None)


class BillingController(Controller):
    @writes("billing.run", Action.RUN_BILLING)
    def run_billing(self, s: Session, actor: Actor, through: dt.date | str | None = None) -> BillingRunReport:
        """Create the documents the automatic run owes, up to the end of ``through``."""
        end = _parse_through(through)
        report = BillingRunReport()
        statuses = dict(s.execute(select(Client.id, Client.status)).all())
        timelines = self._timelines(s, statuses)
        per_client: dict[int, dict[DocumentKind, list[Appointment]]] = defaultdict(lambda: defaultdict(list))
        held: list[int] = []
        skipped: set[int] = set()
        for kind in DocumentKind:
            owed = s.scalars(
                select(Appointment).where(
                    Appointment.attended.is_(True),
                    Appointment.start <= end,
                    ~exists().where(BillingItem.appointment_id == Appointment.id,
                                    BillingItem.kind == kind),
                ).order_by(Appointment.client_id, Appointment.start)
            )
            for appt in owed:
                if statuses.get(appt.client_id) is not ClientStatus.ACTIVE:
                    skipped.add(appt.client_id)
                    continue
                if appt.manual_billing_only:
                    continue
                timeline = timelines.get(appt.client_id)
                if timeline and timeline.status_at(appt.start) is ClientStatus.INACTIVE:
                    held.append(appt.id)
                    continue
                per_client[appt.client_id][kind].append(appt)
        if held:
            s.execute(update(Appointment).where(Appointment.id.in_(set(held)))
                      .values(manual_billing_only=True))
        billed: set[int] = set()
        for client_id, kinds in per_client.items():
            for kind, appts in kinds.items():
                self._create_document(s, client_id, kind, appts, automatic=True)
                report.documents_created += 1
                report.by_kind[kind.value] = report.by_kind.get(kind.value, 0) + 1
                billed.update(a.id for a in appts)
        report.appointments_billed = len(billed)
        report.clients_billed = len(per_client)
        report.inactive_clients_skipped = len(skipped)
        report.held_for_manual_billing = len(set(held))
        audit(s, actor, "billing.run", "practice", None, details={
            "through": end.date().isoformat(), "documents": report.documents_created,
            "appointments": report.appointments_billed,
            "inactive_clients_skipped": report.inactive_clients_skipped,
            "held_for_manual_billing": report.held_for_manual_billing})
        return report

    @staticmethod
    def _timelines(s: Session, statuses: dict[int, ClientStatus]) -> dict[int, StatusTimeline]:
        changes: dict[int, list[tuple[dt.datetime, ClientStatus, ClientStatus]]] = defaultdict(list)
        for client_id, at, before, after in s.execute(
                select(StatusChange.client_id, StatusChange.changed_at, StatusChange.from_status,
                       StatusChange.to_status).order_by(StatusChange.changed_at, StatusChange.id)):
            changes[client_id].append((_wall_clock(at), before, after))
        return {cid: StatusTimeline(statuses[cid], ch) for cid, ch in changes.items() if cid in statuses}

    @staticmethod
    def _create_document(s: Session, client_id: int, kind: DocumentKind,
                         appts: Sequence[Appointment], *, automatic: bool) -> BillingDocument:
        doc = BillingDocument(
            client_id=client_id, kind=kind,
            period_start=min(a.start for a in appts).date(),
            period_end=max(a.start for a in appts).date(),
            amount=sum((Decimal(a.fee) for a in appts), Decimal("0")),
            automatic=automatic,
        )
        s.add(doc)
        s.flush()
        s.add_all(BillingItem(client_id=client_id, document_id=doc.id, appointment_id=a.id, kind=kind)
                  for a in appts)
        return doc

    @writes("billing.generate", Action.GENERATE_DOCUMENTS, target="client:client_id")
    def generate_document(self, s: Session, actor: Actor, client_id: int, appointment_ids: Sequence[int],
                          kind: DocumentKind | str) -> int:
        """By hand: bill chosen appointments, including those held while inactive."""
        try:
            kind = DocumentKind(kind)
        except ValueError:
            raise InvalidInput(f"{kind!r} is not a document kind.", field="kind") from None
        self._load_client(s, client_id)
        appts = list(s.scalars(select(Appointment).where(
            Appointment.id.in_(list(appointment_ids)), Appointment.client_id == client_id)))
        if not appts or len(appts) != len(set(appointment_ids)):
            raise InvalidInput("Choose one or more of this client's appointments.")
        already = s.scalars(select(BillingItem.appointment_id).where(
            BillingItem.appointment_id.in_([a.id for a in appts]), BillingItem.kind == kind)).all()
        if already:
            raise InvalidInput(f"{len(already)} of these appointments already have a {kind.value}.")
        doc = self._create_document(s, client_id, kind, appts, automatic=False)
        audit(s, actor, "billing.generate", "client", client_id,
              details={"document_id": doc.id, "kind": kind.value, "appointments": len(appts)})
        return doc.id
