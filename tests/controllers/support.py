"""What the controller tests share: whole-database snapshots and the audit trail.

A refusal must change nothing and leave exactly one DENIED audit row; these
helpers let every test say that in one line, over every table there is, so a
table added later is covered without anyone remembering it here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Table, select

from desktop.domain.models import AuditEvent, Base, Outcome
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
            if with_audit or t.name != AuditEvent.__tablename__
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
