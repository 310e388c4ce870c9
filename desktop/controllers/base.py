"""The one gate every controller operation passes, and the audit trail it writes.

Every public controller method is declared once, as a read, a view or a write
(calibre's ``db/cache.py`` declares its API the same way)::

    @writes("client.edit", Action.EDIT_CLIENT, target="client_id")
    def edit_client(self, s: Session, actor: Actor, client_id: int, ...) -> int:

The decorator's wrapper is what callers see: ``edit_client(actor, client_id, ...)``.
It opens the unit of work (a read-only session for reads, one transaction for
views and writes) and hands the session to the body, checks that the actor's
role may do ``permission`` at all, and afterwards:

* a **view** (one client's record looked at: profile, export, ``clients show``)
  writes an ALLOWED audit row in its transaction;
* a **write**'s body records what it changed, in its own transaction;
* every **refusal** (``PermissionDenied``, ``ConfirmationMismatch``,
  ``StaleVersion``, ``InvalidInput``, ``NotFound``) rolls the work back and is
  written as DENIED in a transaction of its own, reads included;
* storage failures arrive as ``CaseloadError`` subclasses with one-line
  messages (``Database.transaction`` maps them), never as SQLAlchemy errors;
* on a practice server, a connection that cannot be made or was lost is
  ``ServerUnreachable`` (nothing was done), refused at once while this process's
  change watcher finds the server not answering (``desktop.storage.watch``); a
  commit cut off with its outcome unknown is ``OutcomeUnknown`` carrying the
  operation's id, noted for the window to look up when the server is back
  (``desktop.controllers.connection``).

The per-client part of a permission (an own-clients clinician and someone
else's client) needs the record, so the body checks it with ``require``.
``tests/controllers/test_gate.py`` fails if a public method is not declared.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from desktop.controllers.connection import describe, note_unknown
from desktop.controllers.errors import (
    CaseloadError,
    CommitLost,
    ConfirmationMismatch,
    DatabaseUnavailable,
    FileNotWritten,
    InvalidInput,
    NotFound,
    NotSignedIn,
    OutcomeUnknown,
    PermissionDenied,
    ServerUnreachable,
    StaleVersion,
)
from desktop.controllers.permissions import Action, Actor, Scope
from desktop.domain.models import (
    AuditEvent,
    Client,
    Contact,
    Outcome,
    PracticeSettings,
    PracticeUser,
)
from desktop.storage.audit_chain import add_queued, enqueue
from desktop.storage.database import Database
from desktop.storage.watch import lost_connection, report_unreachable, server_unreachable

AUDITED_REFUSALS: tuple[type[CaseloadError], ...] = (
    PermissionDenied, ConfirmationMismatch, StaleVersion, InvalidInput, NotFound, NotSignedIn,
    FileNotWritten)
MAX_ID = 2**63 - 1  # the largest number an id may be typed as
# The largest id a row can have: ids are INTEGER columns, 32 bits on PostgreSQL, which refuses
# to compare one with a larger number ("integer out of range") instead of finding nothing.
LARGEST_ID = 2**31 - 1

Kind = Literal["read", "view", "write", "open", "practice"]
P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound="Controller")


def audit(
    session: Session,
    actor: Actor | None,
    action: str,
    target_kind: str | None = None,
    target_id: int | None = None,
    outcome: Outcome = Outcome.ALLOWED,
    details: dict[str, Any] | None = None,
    *,
    now: bool = False,
) -> None:
    """Record what ``actor`` did; the row is written last, just before the commit, which
    chains it (``desktop.storage.audit_chain``).

    ``now``: before a file leaves the practice. On SQLite the row is written at once, which
    takes the file's write lock, so a database too busy to record the export refuses before
    anything is written. On PostgreSQL it still waits for the commit: written now, it would
    hold the chain head, and with it every workstation's audited work, while the file is
    written or printed; and a row written early is no surer than one written at the commit
    (the commit can fail either way)."""
    enqueue(
        session,
        AuditEvent(
            operation_id=session.info.get("operation_id"),
            actor_id=actor.user_id if actor and actor.user_id > 0 else None,
            actor_username=actor.username if actor else None,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            outcome=outcome,
            details=details,
        )
    )
    if now:
        write_audit_first(session)


def write_audit_first(session: Session) -> None:
    """On SQLite, write the queued audit rows now, taking the write lock (see ``audit``'s ``now``)."""
    if session.get_bind().dialect.name == "sqlite":
        add_queued(session)
        session.flush()


def refusal_text(actor: Actor, action: Action) -> str:
    if actor.scope(action) is Scope.ASSIGNED:
        return (f"As {actor.profile.value.lower()}, {actor.display_name} may {action.value} "
                "only for clients assigned to them.")
    return f"The {actor.profile.value} role may not {action.value}."


def require(actor: Actor, action: Action, *, clinician_id: int | None = None,
            any_client: bool = False) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may do ``action`` here."""
    if not actor.can(action, clinician_id, any_client=any_client):
        raise PermissionDenied(refusal_text(actor, action))


def check_id(value: Any, what: str) -> int:
    """A record id as typed anywhere: a whole number from 1 to 2⁶³−1, else ``InvalidInput``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidInput(f"{value!r} is not a {what} id.")
    return value


def check_version(record: Client | Contact | PracticeSettings, expected_version: int | None) -> None:
    """Refuse if the record was saved since the caller loaded ``expected_version``."""
    if expected_version is not None and record.version != expected_version:
        what = "the practice settings" if isinstance(record, PracticeSettings) else "this profile"
        raise StaleVersion(
            f"Someone else saved {what} after you opened {'them' if what.endswith('s') else 'it'}. "
            "Reload to see their changes; nothing of yours was saved.",
            current_version=record.version,
        )


def stored_id(value: Any, what: str) -> int:
    """``check_id``, and ``NotFound`` for a number larger than any row's id can be."""
    number = check_id(value, what)
    if number > LARGEST_ID:
        missing = NotFound(f"There is no {what} {number}.")
        # The audit row's target column is an INTEGER too: the refusal is recorded without it.
        missing.audit_target_id = None  # type: ignore[attr-defined]
        raise missing
    return number


SAVED_AT_THE_SAME_MOMENT = ("Someone else saved this profile at the same moment. Reload and try again; "
                            "nothing of yours was saved.")


def flush_versioned(s: Session) -> None:
    """Flush, turning a lost race on the version counter into ``StaleVersion``."""
    try:
        s.flush()
    except StaleDataError:
        raise StaleVersion(SAVED_AT_THE_SAME_MOMENT) from None


def _declare(kind: Kind, action: str, permission: Action | None, target: str | None
             ) -> Callable[[Callable[Concatenate[C, Session, Actor, P], R]], Callable[Concatenate[C, Actor, P], R]]:
    target_kind, _, target_arg = (target or "").partition(":")

    def decorate(body: Callable[Concatenate[C, Session, Actor, P], R]) -> Callable[Concatenate[C, Actor, P], R]:
        signature = inspect.signature(body)
        params = list(signature.parameters.values())
        public = signature.replace(parameters=[params[0], *params[2:]])  # without the session

        @functools.wraps(body)
        def gate(self: C, actor: Actor, *args: P.args, **kwargs: P.kwargs) -> R:
            target_id = None
            if target_arg:
                value = public.bind_partial(self, actor, *args, **kwargs).arguments.get(target_arg)
                target_id = value if isinstance(value, int) and 0 < value <= LARGEST_ID else None
            return self._run(kind, actor, action, permission, target_kind or None, target_id,
                             lambda s: body(self, s, actor, *args, **kwargs))

        gate.__signature__ = public  # type: ignore[attr-defined]
        gate.operation = (kind, action, permission)  # type: ignore[attr-defined]
        return gate

    return decorate


def reads(action: str, permission: Action, *, target: str | None = None):  # type: ignore[no-untyped-def]
    """A read: read-only session; refusals audited. ``target``: "kind:argument_name"."""
    return _declare("read", action, permission, target)


def views(action: str, permission: Action, *, target: str):  # type: ignore[no-untyped-def]
    """A look at one record: audited as ALLOWED with the target, refusals as DENIED."""
    return _declare("view", action, permission, target)


def writes(action: str, permission: Action, *, target: str | None = None):  # type: ignore[no-untyped-def]
    """A change: one transaction; the body audits what changed; refusals audited."""
    return _declare("write", action, permission, target)


def before_sign_in(action: str) -> Callable[[Callable[Concatenate[C, Session, P], R]], Callable[Concatenate[C, P], R]]:
    """An operation with nobody signed in yet (signing in, the first Account Owner)."""

    def decorate(body: Callable[Concatenate[C, Session, P], R]) -> Callable[Concatenate[C, P], R]:
        signature = inspect.signature(body)
        params = list(signature.parameters.values())

        @functools.wraps(body)
        def gate(self: C, *args: P.args, **kwargs: P.kwargs) -> R:
            return self._run("open", None, action, None, None, None, lambda s: body(self, s, *args, **kwargs))

        gate.__signature__ = signature.replace(parameters=[params[0], *params[2:]])  # type: ignore[attr-defined]
        gate.operation = ("open", action, None)  # type: ignore[attr-defined]
        return gate

    return decorate


def as_practice(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """An operation the practice itself runs, with nobody's role (the automatic billing run).

    Its body opens the transactions it needs and audits its changes under the
    practice's own name; nothing a person asks for goes through here.
    """

    def decorate(body: Callable[P, R]) -> Callable[P, R]:
        body.operation = ("practice", action, None)  # type: ignore[attr-defined]
        return body

    return decorate


class Controller:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _run(self, kind: Kind, actor: Actor | None, action: str, permission: Action | None,
             target_kind: str | None, target_id: int | None, body: Callable[[Session], R]) -> R:
        if self.db.is_postgresql and server_unreachable(self.db) is not None:
            # The window's change watcher finds the server not answering: refuse at once rather
            # than wait for a connect timeout on the window's thread (it says when it is back).
            raise ServerUnreachable(UNREACHABLE, nothing_saved=kind == "write")
        try:
            if permission is not None:
                if not isinstance(actor, Actor):
                    raise PermissionDenied("Sign in first.")
                require(actor, permission, any_client=True)
            operation_id = uuid.uuid4().hex
            unit = self.db.reading() if kind == "read" else self.db.transaction()
            try:
                with unit as session:
                    session.info["operation_id"] = operation_id
                    if permission is not None:
                        check_standing(session, actor, action)  # type: ignore[arg-type]
                    result = body(session)
                    if kind == "view":
                        audit(session, actor, action, target_kind, target_id)
            except StaleDataError:
                # A lost race on a version counter met by a flush before ``flush_versioned`` (a
                # query flushes what is pending) or at the commit: rolled back, and said as one.
                raise StaleVersion(SAVED_AT_THE_SAME_MOMENT) from None
            return result
        except CommitLost as lost:
            # The connection died during the commit: ask the server whether it happened.
            saved = self.db.operation_saved(operation_id, attempts=self.db.outcome_lookups)
            if saved:
                return result
            if saved is False:
                raise DatabaseUnavailable(
                    f"The connection to the database was lost before the change was saved ({lost}). "
                    "Nothing was changed; try again.") from lost
            # A change is noted, to be looked up by its id once the server answers; a look, or
            # signing in, leaves nothing for the person to do again.
            change = kind == "write"
            unknown = OutcomeUnknown(
                f"The connection to the database was lost while saving ({lost}), and the server "
                "cannot be reached to find out whether the change was saved. Check before trying "
                "again.", operation_id=operation_id if change else None, what=describe(action),
                target_kind=target_kind or None, target_id=target_id)
            if change:
                note_unknown(self.db, unknown, actor.user_id if isinstance(actor, Actor) else None)
            raise unknown from lost
        except DatabaseUnavailable as unavailable:
            if not self.db.is_postgresql or isinstance(unavailable, ServerUnreachable) \
                    or not lost_connection(unavailable):
                raise
            report_unreachable(self.db)  # the watcher looks at once, and the banner follows
            raise ServerUnreachable(UNREACHABLE, nothing_saved=kind == "write") from unavailable
        except AUDITED_REFUSALS as refusal:
            details = {"refusal": type(refusal).__name__, **getattr(refusal, "audit_details", {})}
            with self.db.transaction() as session:
                audit(session, actor if isinstance(actor, Actor) else None, action, target_kind,
                      getattr(refusal, "audit_target_id", target_id), Outcome.DENIED, details)
            raise

    def _load_client(self, s: Session, client_id: int, *, for_update: bool = False) -> Client:
        """The client, row-locked on PostgreSQL when about to change; ``NotFound`` if gone."""
        stored_id(client_id, "client")
        stmt = select(Client).where(Client.id == client_id)
        if for_update and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        client = s.scalars(stmt).one_or_none()
        if client is None:
            raise NotFound(f"There is no client with id {client_id}; it may have been deleted.")
        return client


UNREACHABLE = ("The practice server could not be reached. Nothing was changed; try again when the "
               "connection is back.")


CHANGE_PASSWORD = "user.change_password"


def check_standing(s: Session, actor: Actor, action: str) -> None:
    """The signed-in user is still active, still has the role they signed in with, and has
    no password to change first (docs/rules.md, "Users and passwords")."""
    row = s.execute(select(PracticeUser.active, PracticeUser.role, PracticeUser.entire_practice_access,
                           PracticeUser.must_change_password).where(PracticeUser.id == actor.user_id)).first()
    if row is None or not row.active:
        raise NotSignedIn("Your account has been deactivated; ask the Account Owner.",
                          user_id=actor.user_id, username_known=True)
    if (row.role, row.entire_practice_access) != (actor.role, actor.entire_practice_access):
        raise NotSignedIn("Your role has changed since you signed in; sign in again.",
                          user_id=actor.user_id, username_known=True)
    if row.must_change_password and action != CHANGE_PASSWORD:
        raise PermissionDenied("Change your password first: the one you have was chosen by someone else.")


def operations(controller: type) -> dict[str, tuple[Kind, str, Action | None]]:
    """Every declared operation of a controller class, by method name (for tests and docs)."""
    return {name: member.operation for name, member in inspect.getmembers(controller)
            if callable(member) and hasattr(member, "operation")}
