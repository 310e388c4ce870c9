"""The connection to a practice server, as the window needs it: how it is protected, and which
changes were cut off with their outcome unknown.

When a commit's connection dies and the server cannot be asked whether it committed, the gate
(``desktop.controllers.base``) raises ``OutcomeUnknown`` with the operation's id and notes the
operation here. Once the server answers again, ``resolve_unknown_outcomes`` asks it about each
(``Database.operation_saved``: the audit rows carry the id, and they commit with the change or
not at all) and says, for a person, "Saved: …" or "Not saved: … — do it again". It works the
same without a window (tests, and any caller that keeps the practice open).

The notes belong to the practice's database and to the person whose change it was: someone
signing in afterwards on the same workstation is not told about another person's change.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.controllers.errors import OutcomeUnknown
from desktop.controllers.permissions import Actor
from desktop.storage.database import ConnectionSecurity, Database, connection_security
from desktop.storage.watch import Link, PerDatabase

if TYPE_CHECKING:
    from desktop.controllers.practice import Practice

__all__ = ["ConnectionSecurity", "Link", "Resolution", "Unresolved", "describe", "note_unknown", "resolve_unknown_outcomes",
           "security", "unresolved"]

# What each change the gate runs is, in a few words, for "Saved: …" and "Not saved: …".
ACTION_WORDS: dict[str, str] = {
    "client.add": "the new client",
    "client.edit": "the changes to a client's profile",
    "client.set_status": "a client's status change",
    "client.portal": "a change to a client's portal access",
    "client.delete": "a client's deletion",
    "client.mark_duplicate": "marking a client as a duplicate",
    "client.undo_mark_duplicate": "undoing a duplicate marking",
    "client.not_duplicate": "marking two clients as not duplicates",
    "contact.add": "the new contact",
    "contact.edit": "the changes to a contact",
    "contact.link": "linking a contact to a client",
    "contact.unlink": "unlinking a contact from a client",
    "contact.merge": "merging two contacts",
    "contact.merge_into_client": "merging a contact into a client's profile",
    "contact.not_a_client": "marking a contact as not a client",
    "contact.not_duplicate": "marking two contacts as not duplicates",
    "appointment.book": "the new appointment",
    "appointment.edit": "the changes to an appointment",
    "appointment.attendance": "an appointment's attendance",
    "billing.generate": "generating a billing document",
    "settings.save": "the practice settings",
    "user.add": "the new user",
    "user.change_password": "your new password",
    "user.reset_password": "a user's password reset",
    "user.change_role": "a user's role change",
    "user.deactivate": "a user's deactivation",
    "user.reactivate": "a user's reactivation",
}


def describe(action: str) -> str:
    """``action`` ("client.edit") in a few words ("the changes to a client's profile")."""
    return ACTION_WORDS.get(action, "a change")


@dataclass(frozen=True)
class Unresolved:
    """One change whose outcome is not known yet."""

    operation_id: str
    what: str  # describe(action)
    user_id: int | None  # whose change it was (None: before anyone signed in)
    target_kind: str | None  # "client", "contact", "user"… or None
    target_id: int | None
    at: dt.datetime  # when it was attempted (local time)


@dataclass(frozen=True)
class Resolution:
    """What the server said about an unresolved change: ``saved`` True or False."""

    change: Unresolved
    saved: bool
    named: str = ""  # the record it concerned, by name, if the caller knows it

    @property
    def sentence(self) -> str:
        what = f"{self.change.what} ({self.named})" if self.named else self.change.what
        return f"Saved: {what}." if self.saved else f"Not saved: {what} — do it again."


class _Notes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Unresolved] = []


_notes = PerDatabase(_Notes).of


def note_unknown(db: Database, error: OutcomeUnknown, user_id: int | None) -> None:
    """Remember a change the gate could not find the outcome of (``OutcomeUnknown``)."""
    if not error.operation_id:
        return
    notes = _notes(db)
    with notes.lock:
        notes.items.append(Unresolved(error.operation_id, error.what, user_id, error.target_kind,
                                      error.target_id, dt.datetime.now().astimezone()))


def _of(actor: Actor | None) -> int | None:
    return actor.user_id if actor is not None else None


def unresolved(practice: Practice, actor: Actor | None) -> list[Unresolved]:
    """The changes of ``actor``'s (and of nobody's: before signing in) not resolved yet, oldest first."""
    notes = _notes(practice.db)
    with notes.lock:
        return [u for u in notes.items if u.user_id in (None, _of(actor))]


def resolve_unknown_outcomes(practice: Practice, actor: Actor | None) -> list[Resolution]:
    """Ask the server about each of ``actor``'s unresolved changes; those it answered are resolved
    (and forgotten here), those it still cannot be asked about stay. Safe off the GUI thread."""
    found: list[Resolution] = []
    for change in unresolved(practice, actor):
        saved = practice.db.operation_saved(change.operation_id, attempts=1)
        if saved is None:
            continue  # the server is still out of reach: asked again later
        found.append(Resolution(change, saved))
        notes = _notes(practice.db)
        with notes.lock:
            notes.items = [u for u in notes.items if u.operation_id != change.operation_id]
    return found


def security(practice: Practice) -> ConnectionSecurity:
    """How the connection to the practice's data is protected (asks the server: off the GUI thread).

    Raises ``DatabaseUnavailable`` if the server cannot be asked."""
    return connection_security(practice.db)
