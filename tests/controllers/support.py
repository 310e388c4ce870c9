"""What the controller tests share: whole-database snapshots, the audit trail, and times
and documents for the appointment and billing tests.

A refusal must change nothing and leave exactly one DENIED audit row; these
helpers let every test say that in one line, over every table there is, so a
table added later is covered without anyone remembering it here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Table, select

from desktop.controllers.clients import ClientsController
from desktop.controllers.permissions import Actor
from desktop.domain import clock
from desktop.domain.models import (
    Appointment,
    AuditChainHead,
    AuditEvent,
    Base,
    BillingDocument,
    BillingItem,
    DocumentKind,
    Outcome,
    StatusChange,
)
from desktop.storage.database import Database

Snapshot = dict[str, list[tuple[Any, ...]]]


def _ordered(table: Table):  # type: ignore[no-untyped-def]
    return select(table).order_by(*table.primary_key.columns)


def snapshot(db: Database, *, with_audit: bool = False) -> Snapshot:
    """Every row of every table (the audit log only if asked), in key order."""
    with db.reading() as s:
        return {
            t.name: [tuple(r) for r in s.execute(_ordered(t))]
            for t in Base.metadata.sorted_tables
            if with_audit or t.name not in (AuditEvent.__tablename__, AuditChainHead.__tablename__)
        }


@dataclass(frozen=True)
class AuditRow:
    id: int
    actor_username: str | None
    action: str
    target_kind: str | None
    target_id: int | None
    outcome: Outcome
    details: Any


def audit_rows(db: Database, after_id: int = 0) -> list[AuditRow]:
    with db.reading() as s:
        return [
            AuditRow(e.id, e.actor_username, e.action, e.target_kind, e.target_id, e.outcome,
                     e.details)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.id > after_id)
                               .order_by(AuditEvent.id))
        ]


def last_audit_id(db: Database) -> int:
    rows = audit_rows(db)
    return rows[-1].id if rows else 0


@contextlib.contextmanager
def refused_and_unchanged(db: Database, username: str, error: type[BaseException],
                          action: str | None = None) -> Iterator[pytest.ExceptionInfo[Any]]:
    """The block must raise ``error``, change no row, and audit one DENIED attempt."""
    before = snapshot(db)
    mark = last_audit_id(db)
    with pytest.raises(error) as info:
        yield info
    assert snapshot(db) == before, "a refused operation changed data"
    new = audit_rows(db, mark)
    assert len(new) == 1, f"expected one audit row for the refusal, got {new}"
    assert new[0].outcome is Outcome.DENIED
    assert new[0].actor_username == username
    if action is not None:
        assert new[0].action == action


# ------------------------------------------------------------ appointments and billing
#
# Appointment starts are stored in UTC and a practice's days and months are on its own
# clock (docs/rules.md, "Appointments", "Billing"). Tests name times as a person at the
# practice would ("2026-03-10 23:30" in New York) and store them converted.

NEW_YORK = "America/New_York"


def utc(local: str, zone_name: str = NEW_YORK) -> dt.datetime:
    """``local`` ("YYYY-MM-DD HH:MM" on the clock of ``zone_name``) as stored: naive UTC."""
    return clock.to_utc(dt.datetime.fromisoformat(local), ZoneInfo(zone_name))


def set_status_at(db: Database, actor: Actor, client_id: int, status: str, at: dt.datetime) -> None:
    """Change the client's status as a person would, then put that change at ``at`` (UTC)."""
    ClientsController(db).set_status(actor, client_id, status,
                                     reason="moved" if status == "inactive" else None)
    with db.transaction() as s:
        change = s.scalars(select(StatusChange).where(StatusChange.client_id == client_id)
                           .order_by(StatusChange.id.desc()).limit(1)).one()
        change.changed_at = at


def stored_documents(db: Database, client_id: int | None = None,
                     kind: DocumentKind | None = None) -> list[BillingDocument]:
    with db.reading() as s:
        stmt = select(BillingDocument).order_by(BillingDocument.id)
        if client_id is not None:
            stmt = stmt.where(BillingDocument.client_id == client_id)
        if kind is not None:
            stmt = stmt.where(BillingDocument.kind == kind)
        docs = list(s.scalars(stmt))
        s.expunge_all()  # keep the loaded values after the read-only session rolls back
        return docs


def billed(db: Database, kind: DocumentKind | None = None) -> set[int]:
    """Ids of the appointments some document (of ``kind``) covers."""
    with db.reading() as s:
        stmt = select(BillingItem.appointment_id)
        if kind is not None:
            stmt = stmt.where(BillingItem.kind == kind)
        return set(s.scalars(stmt))


def covered_by(db: Database, document_id: int) -> set[int]:
    with db.reading() as s:
        return set(s.scalars(select(BillingItem.appointment_id).where(BillingItem.document_id == document_id)))


def stored_appointment(db: Database, appointment_id: int) -> Appointment:
    with db.reading() as s:
        appt = s.get(Appointment, appointment_id)
        assert appt is not None
        s.expunge_all()
        return appt


def as_superuser(db: Database, *statements: str) -> None:
    """Run ``statements`` as whoever owns the database, past its triggers."""
    if db.is_sqlite:
        path = db.engine.url.database
        assert path
        conn = sqlite3.connect(path)
        try:
            conn.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
            for statement in statements:
                conn.exec_driver_sql(statement)
