"""What every controller shares: one transaction per operation, and the audit trail.

``Controller.operation`` opens the unit of work. If the block raises a refusal
(``PermissionDenied``, ``ConfirmationMismatch``, ``StaleVersion``,
``InvalidInput``) the work is rolled back and the refusal is written to the
audit log in a transaction of its own, so a denied attempt leaves a trace but
no change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from desktop.controllers.errors import (
    ConfirmationMismatch,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StaleVersion,
)
from desktop.controllers.permissions import Action, Actor
from desktop.domain.models import AuditEvent, Client, Contact, Outcome
from desktop.storage.database import Database

_AUDITED_REFUSALS = (PermissionDenied, ConfirmationMismatch, StaleVersion, InvalidInput)


def audit(
    session: Session,
    actor: Actor | None,
    action: str,
    target_kind: str | None = None,
    target_id: int | None = None,
    outcome: Outcome = Outcome.ALLOWED,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            # The command line's read-only view has no user row behind it (id 0).
            actor_id=actor.user_id if actor and actor.user_id > 0 else None,
            actor_username=actor.username if actor else None,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            outcome=outcome,
            details=details,
        )
    )


def require(actor: Actor, action: Action, *, clinician_id: int | None = None,
            any_client: bool = False) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may do ``action`` here."""
    if actor.can(action, clinician_id, any_client=any_client):
        return
    if actor.scope(action).name == "ASSIGNED":
        raise PermissionDenied(
            f"As {actor.profile.value.lower()}, {actor.display_name} may {action.value} "
            "only for clients assigned to them."
        )
    raise PermissionDenied(f"The {actor.profile.value} role may not {action.value}.")


def check_version(record: Client | Contact, expected_version: int | None) -> None:
    """Refuse if the record was saved since the caller loaded ``expected_version``."""
    if expected_version is not None and record.version != expected_version:
        raise StaleVersion(
            "Someone else saved this profile after you opened it (your copy is version "
            f"{expected_version}, the saved one is version {record.version}). "
            "Reload to see their changes; nothing of yours was saved.",
            current_version=record.version,
        )


def flush_versioned(s: Session) -> None:
    """Flush, turning a lost race on the version counter into ``StaleVersion``."""
    try:
        s.flush()
    except StaleDataError:
        raise StaleVersion(
            "Someone else saved this profile at the same moment. Reload and try again; "
            "nothing of yours was saved.") from None


class Controller:
    def __init__(self, db: Database) -> None:
        self.db = db

    def load_client(self, s: Session, client_id: int, *, for_update: bool = False) -> Client:
        """The client, row-locked on PostgreSQL when about to change; ``NotFound`` if gone."""
        if not isinstance(client_id, int) or isinstance(client_id, bool):
            raise InvalidInput(f"{client_id!r} is not a client id.")
        stmt = select(Client).where(Client.id == client_id)
        if for_update and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        client = s.scalars(stmt).one_or_none()
        if client is None:
            raise NotFound(f"There is no client with id {client_id}; it may have been deleted.")
        return client

    @contextlib.contextmanager
    def operation(self, actor: Actor | None, action: str, target_kind: str | None = None,
                  target_id: int | None = None, *, read_only: bool = False) -> Iterator[Session]:
        try:
            unit = self.db.reading() if read_only else self.db.transaction()
            with unit as session:
                yield session
        except _AUDITED_REFUSALS as refusal:
            with self.db.transaction() as session:
                audit(session, actor, action, target_kind, target_id, Outcome.DENIED,
                      {"refusal": type(refusal).__name__})
            raise
