"""The practice's audit log: read a page of it, export it, verify it, anchor it (docs/rules.md, "Audit").

The Account Owner and the Practice Manager read the log (the permission table's
"read the practice audit log"); everyone else is refused, and the refusal is
audited like any other. The window and ``caseload audit`` call the same methods
and so show the same entries, newest first, in the same words.

Entries are read a page at a time, newest first, by position (``seq``): the
window asks for the next page as it scrolls, never for the whole log.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from desktop.controllers import conflicts
from desktop.controllers.base import (
    LARGEST_ID,
    Controller,
    audit,
    check_id,
    reads,
    stored_id,
    writes,
)
from desktop.controllers.errors import CaseloadError, InvalidInput, NotFound
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.settings import SettingsController
from desktop.domain import clock
from desktop.domain.models import AuditEvent, Client, Outcome, PracticeUser
from desktop.domain.search import display_name, like_pattern, query_tokens
from desktop.storage import audit_chain
from desktop.storage.anchors import AnchorBook
from desktop.storage.audit_chain import Anchor, Verdict
from desktop.storage.database import Database

if TYPE_CHECKING:
    from desktop.controllers.roster import Roster

T = TypeVar("T")
PAGE = 200
MAX_CLIENT_MATCHES = 500
MAX_FILTER_TEXT = 200

# What each action is, as a person says it: (what was tried, as in "Refused: delete client";
# what was done, as in "Deleted client"). Actions not listed are worded from their name.
ACTIONS: dict[str, tuple[str, str]] = {
    "appointment.attendance": ("record attendance", "Recorded attendance"),
    "appointment.book": ("book an appointment", "Booked an appointment"),
    "appointment.edit": ("change an appointment", "Changed an appointment"),
    "appointments.check": ("check an appointment", "Checked an appointment"),
    "appointments.client": ("see a client's appointments", "Saw a client's appointments"),
    "appointments.day": ("see the day's appointments", "Saw the day's appointments"),
    "appointments.list": ("see appointments", "Saw appointments"),
    "audit.anchor": ("take the audit log's anchor", "Took the audit log's anchor"),
    "audit.export": ("export the audit log", "Exported the audit log"),
    "audit.open": ("open the audit log", "Opened the audit log"),
    "audit.read": ("read the audit log", "Read the audit log"),
    "audit.verify": ("verify the audit log", "Verified the audit log"),
    "audit.who_viewed": ("see who viewed a record", "Saw who viewed a record"),
    "billing.automatic": ("run automatic billing", "Ran automatic billing"),
    "billing.document.view": ("open a billing document", "Opened a billing document"),
    "billing.documents": ("see billing documents", "Saw billing documents"),
    "billing.generate": ("make a billing document", "Made a billing document"),
    "billing.manual": ("bill by hand", "Billed by hand"),
    "billing.run": ("run billing", "Ran billing"),
    "client.add": ("add a client", "Added client"),
    "client.delete": ("delete client", "Deleted client"),
    "client.delete_preview": ("consider deleting a client", "Considered deleting client"),
    "client.edit": ("edit profile", "Edited profile"),
    "client.export": ("export the record", "Exported the record"),
    "client.export_list": ("export the client list", "Exported the client list"),
    "client.find_duplicates": ("look for duplicates", "Looked for duplicates"),
    "client.intake_check": ("check for duplicates at intake", "Checked for duplicates at intake"),
    "client.list": ("see the client list", "Saw the client list"),
    "client.mark_duplicate": ("mark as a duplicate", "Marked as a duplicate"),
    "client.not_duplicate": ("mark as not a duplicate", "Marked as not a duplicate"),
    "client.overwrite": ("overwrite someone else's change", "Overwrote someone else's change"),
    "client.portal": ("change portal access", "Changed portal access"),
    "client.portal_read": ("see portal access", "Saw portal access"),
    "client.set_status": ("change status", "Changed status"),
    "client.undo_mark_duplicate": ("undo a duplicate mark", "Undid a duplicate mark"),
    "client.view": ("view profile", "Viewed profile"),
    "contact.add": ("add a contact", "Added a contact"),
    "contact.edit": ("edit a contact", "Edited a contact"),
    "contact.link": ("link a contact", "Linked a contact"),
    "contact.merge": ("merge contacts", "Merged contacts"),
    "contact.merge_into_client": ("merge a contact into a client", "Merged a contact into the client"),
    "contact.not_a_client": ("mark a contact as not this client", "Marked a contact as not this client"),
    "contact.not_duplicate": ("mark contacts as not duplicates", "Marked contacts as not duplicates"),
    "contact.unlink": ("unlink a contact", "Unlinked a contact"),
    "contact.view": ("view a contact", "Viewed a contact"),
    "practice.backup": ("back up the practice", "Backed up the practice"),
    "practice.demo": ("make the demo practice", "Made the demo practice"),
    "practice.encrypt": ("encrypt the practice file", "Encrypted the practice file"),
    "practice.recovery_key": ("make a new recovery key", "Made a new recovery key"),
    "settings.read": ("see the practice settings", "Saw the practice settings"),
    "settings.save": ("change the practice settings", "Changed the practice settings"),
    "user.add": ("add a user", "Added a user"),
    "user.change_password": ("change a password", "Changed their password"),
    "user.change_role": ("change a role", "Changed a role"),
    "user.create_owner": ("create the Account Owner", "Created the Account Owner"),
    "user.deactivate": ("deactivate a user", "Deactivated a user"),
    "user.list": ("see the users", "Saw the users"),
    "user.manage_list": ("manage users", "Managed users"),
    "user.reactivate": ("reactivate a user", "Reactivated a user"),
    "user.recover": ("recover the Account Owner's password", "Recovered the Account Owner's password"),
    "user.reset_password": ("reset a password", "Reset a password"),
    "user.sign_in": ("sign in", "Signed in"),
}

# The Audit log window's "Kind" filter: a name, and the actions it covers.
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "views": ("Looked at a record", ("client.view", "contact.view", "client.export", "billing.document.view")),
    "status": ("Status changes", ("client.set_status",)),
    "deletions": ("Deletions", ("client.delete",)),
    "records": ("Client and contact changes", (
        "client.add", "client.edit", "client.overwrite", "client.mark_duplicate", "client.undo_mark_duplicate",
        "client.not_duplicate", "client.portal", "contact.add", "contact.edit", "contact.link",
        "contact.unlink", "contact.merge", "contact.merge_into_client", "contact.not_a_client",
        "contact.not_duplicate")),
    "appointments": ("Appointments", ("appointment.book", "appointment.edit", "appointment.attendance")),
    "billing": ("Billing", ("billing.generate", "billing.automatic", "billing.run", "billing.manual")),
    "exports": ("Exports and backups", ("client.export", "client.export_list", "audit.export", "practice.backup")),
    "sign_ins": ("Sign-ins and passwords", ("user.sign_in", "user.change_password", "user.recover",
                                            "user.reset_password")),
    "users": ("Users and settings", ("user.add", "user.deactivate", "user.reactivate", "user.change_role",
                                     "user.create_owner", "settings.save", "practice.encrypt",
                                     "practice.recovery_key")),
    "audit": ("The audit log itself", ("audit.open", "audit.export", "audit.verify", "audit.anchor",
                                       "audit.read", "audit.who_viewed")),
}
# A look at one client's record: what "Who viewed this record" lists.
VIEWS = ("client.view", "client.export", "billing.document.view")


def describe(action: str, outcome: str, details: Any = None) -> str:
    """An entry's action in plain words: "Changed status to Inactive", "Refused: delete client"."""
    tried, done = ACTIONS.get(action) or _worded(action)
    if outcome != Outcome.ALLOWED.value:
        return f"Refused: {tried}"
    if action == "client.set_status" and isinstance(details, dict) and isinstance(details.get("to"), str):
        return f"Changed status to {details['to'].title()}"
    if action == "client.overwrite" and isinstance(details, dict) and isinstance(details.get("fields"), list):
        # Field names only (docs/rules.md, "Audit"): "Overwrote someone else's change to Email, Phone".
        names = [conflicts.LABELS.get(f, str(f)) for f in details["fields"]]
        return f"{done} to {', '.join(names)}" if names else done
    if action == "billing.document.view" and isinstance(details, dict) and details.get("purpose") in (
            "pdf", "print"):
        return "Saved a billing document as PDF" if details["purpose"] == "pdf" else "Printed a billing document"
    return done


def anchor_when(anchor: Anchor) -> str:
    """An anchor as a sentence names it: the date it was kept, or that it was typed in."""
    return audit_chain.anchor_when(anchor)


def verdict_text(verdict: Verdict) -> str:
    """What a verification found, in one line (and what else it has to say after it)."""
    extra = f" {verdict.note}" if verdict.note else ""
    if verdict.intact:
        if verdict.anchor is None:
            return (f"{verdict.entries:,} entries, intact. No anchor has been kept on this computer yet "
                    f"to check them against.{extra}")
        return f"{verdict.entries:,} entries, intact, matches the anchor of {anchor_when(verdict.anchor)}.{extra}"
    return f"Audit log entry {verdict.first_bad}: {verdict.reason} ({verdict.explanation}).{extra}"


def _worded(action: str) -> tuple[str, str]:
    words = re.sub(r"[._]+", " ", action).strip() or "an action"
    return words, words[:1].upper() + words[1:]


@dataclass(frozen=True)
class AuditFilter:
    """What the Audit log shows; every part optional. Dates are the practice's own days."""

    user_id: int | None = None
    username: str | None = None  # the command line's --user, resolved to the user
    client: str = ""  # a client's number ("#12" or "12") or some of their name
    # The clients ``client`` names, already found by the window in the list it holds
    # (``clients_named``): the database's search of every client's name is then not made.
    client_ids: tuple[int, ...] | None = None
    kind: str | None = None  # a key of KINDS, or "other"
    outcome: Outcome | None = None
    since: dt.date | None = None
    until: dt.date | None = None


@dataclass(frozen=True)
class LogEntry:
    """One audit entry as the window and the command line show it."""

    seq: int
    at: dt.datetime  # UTC
    local: str  # in the practice's time zone, "2026-11-26 14:05:09"
    user: str  # the display name, or who it was when nobody was signed in
    username: str | None
    action: str
    what: str
    client_id: int | None
    client: str  # the client's name, "deleted client #12", or "" for other records
    outcome: str  # "allowed" or "denied"
    target_kind: str | None = None  # what the entry is about: "client", "contact", "user"…
    target_id: int | None = None
    details: Any = field(default=None, compare=False)

    def as_json(self) -> dict[str, Any]:
        """For ``caseload audit --format json``; ``actor`` is the username (as before 0008's window)."""
        return {"seq": self.seq, "at": self.at.isoformat(timespec="seconds") + "Z", "local": self.local,
                "user": self.user, "actor": self.username, "action": self.action, "what": self.what,
                "target_kind": self.target_kind, "target_id": self.target_id, "client_id": self.client_id,
                "client": self.client, "outcome": self.outcome, "details": self.details}


CSV_TITLES = ["Entry", "Time", "User", "Action", "Client", "Outcome"]


def csv_row(entry: LogEntry) -> list[str]:
    """An entry as a CSV row; text a spreadsheet would run as a formula gets an apostrophe."""
    return [str(entry.seq), entry.local, _cell(entry.user), entry.what, _cell(entry.client),
            outcome_words(entry.outcome)]


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def outcome_words(outcome: str) -> str:
    return "Allowed" if outcome == Outcome.ALLOWED.value else "Refused"


@dataclass(frozen=True)
class Head:
    """The chain head now: to keep elsewhere, and to check the log against later."""

    seq: int
    hash: bytes
    taken: dt.datetime  # UTC
    kept: bool = False  # also recorded in this computer's anchors

    @property
    def anchor(self) -> Anchor:
        return Anchor(self.seq, self.hash, self.taken)

    @property
    def text(self) -> str:
        """One line to copy: ``12345:<64 hex digits>`` (``caseload audit verify --anchor`` reads it)."""
        return f"{self.seq}:{self.hash.hex()}"


ANCHOR_TEXT = re.compile(r"\s*(?:entry\s*)?#?(\d{1,19})\s*[:\s]\s*(?:sha-?256:)?\s*([0-9a-fA-F]{64})\s*")


def parse_anchor(text: str) -> Anchor:
    """An anchor typed back in (``12345:3f2a…``, as ``Head.text`` prints it); ``InvalidInput`` if not one."""
    if not isinstance(text, str) or len(text) > 300:
        raise InvalidInput("That is not an anchor: give it as the entry number, a colon and the 64-digit hash.")
    found = ANCHOR_TEXT.fullmatch(text)
    if found is None:
        raise InvalidInput("That is not an anchor: give it as the entry number, a colon and the 64-digit hash.")
    return Anchor(int(found.group(1)), bytes.fromhex(found.group(2)), None, "typed in")


class AuditLogController(Controller):
    def __init__(self, db: Database, book: AnchorBook) -> None:
        super().__init__(db)
        self.book = book  # the anchors this computer's user kept for this practice

    # ---------------------------------------------------------------- reading

    @reads("audit.read", Action.READ_AUDIT_LOG)
    def entries(self, s: Session, actor: Actor, where: AuditFilter | None = None, *,
                before: int | None = None, limit: int = PAGE) -> list[LogEntry]:
        """The newest ``limit`` entries that ``where`` lets through, older than entry ``before``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidInput("Ask for between 1 and 10,000 entries at a time.")
        if before is not None:
            check_id(before, "audit entry")
        return self._page(s, self._filtered(s, where or AuditFilter()), before, limit)

    def _page(self, s: Session, chosen: Select[Any], before: int | None, limit: int) -> list[LogEntry]:
        # The entries' numbers first, from an index that holds them (by client, user, action or
        # outcome, each with seq): the newest ``limit`` of even tens of thousands of a few
        # clients' entries, without reading those rows. Then only those rows, with their names.
        if before is not None:
            chosen = chosen.where(AuditEvent.seq < before)
        numbers = chosen.order_by(AuditEvent.seq.desc()).limit(limit).subquery()
        return self._entries(s, self._select().where(AuditEvent.seq.in_(select(numbers.c.seq)))
                             .order_by(AuditEvent.seq.desc()))

    @writes("audit.open", Action.READ_AUDIT_LOG)
    def opened(self, s: Session, actor: Actor) -> None:
        """Record that ``actor`` opened the Audit log window (the pages it reads are not each audited)."""
        audit(s, actor, "audit.open", "practice", 1)

    @reads("audit.export", Action.READ_AUDIT_LOG)
    def export(self, s: Session, actor: Actor, where: AuditFilter | None,
               deliver: Callable[[Iterator[LogEntry]], T]) -> T:
        """Hand every entry ``where`` lets through, newest first, to ``deliver`` (which writes the
        file). The export is audited first, in a transaction of its own: a database too busy to
        record it refuses before anything leaves the practice, and a long export holds no write
        lock (on SQLite it would stop every other workstation's changes meanwhile)."""
        chosen = where or AuditFilter()
        stmt = self._filtered(s, chosen)
        self._exporting(actor, chosen != AuditFilter())
        return deliver(self._stream(s, stmt))

    @writes("audit.export", Action.READ_AUDIT_LOG)
    def _exporting(self, s: Session, actor: Actor, filtered: bool) -> None:
        audit(s, actor, "audit.export", None, None, details={"filtered": filtered})

    def _stream(self, s: Session, chosen: Select[Any]) -> Iterator[LogEntry]:
        before: int | None = None
        while True:
            entries = self._page(s, chosen, before, 2_000)
            yield from entries
            if len(entries) < 2_000:
                return
            before = entries[-1].seq

    @reads("audit.who_viewed", Action.READ_AUDIT_LOG, target="client:client_id")
    def who_viewed(self, s: Session, actor: Actor, client_id: int, limit: int = 500) -> list[LogEntry]:
        """Every look at one client's record (profile opened, export, a billing document opened),
        newest first: who, when and how. Refused looks are listed too."""
        stored_id(client_id, "client")
        stmt = (self._select().where(AuditEvent.target_kind == "client", AuditEvent.target_id == client_id,
                                     AuditEvent.action.in_(VIEWS))
                .order_by(AuditEvent.seq.desc()).limit(limit))
        return self._entries(s, stmt)

    @reads("audit.read", Action.READ_AUDIT_LOG)
    def users(self, s: Session, actor: Actor) -> list[tuple[int, str]]:
        """The users the log can be filtered by (every one, deactivated too): (id, display name)."""
        rows = s.execute(select(PracticeUser.id, PracticeUser.display_name, PracticeUser.username)
                         .order_by(func.lower(PracticeUser.display_name), PracticeUser.id))
        return [(r.id, r.display_name or r.username) for r in rows]

    # ------------------------------------------------------------- the chain

    @reads("audit.verify", Action.READ_AUDIT_LOG)
    def verify(self, s: Session, actor: Actor, anchors: Sequence[Anchor] = (),
               progress: Callable[[int, int], bool | None] | None = None) -> Verdict:
        """Recompute the whole chain and check it against every anchor this computer kept and
        ``anchors`` (typed in); the result is audited.

        Reads in a read transaction (other workstations go on working), then
        records that the log was verified and how it went, in a transaction of
        its own. ``progress(done, total)`` may return True to stop (``InterruptedError``).
        """
        kept = self.book.anchors()
        with audit_chain.one_snapshot(self.db.engine) as conn:
            verdict = audit_chain.verify(conn, [*kept, *anchors], progress)
        notes = [verdict.note, self.book.problem or ""]
        try:
            self._verified(actor, verdict)
        except CaseloadError as exc:  # the screen locked, the server went away: the finding stands
            notes.append(f"This check could not be recorded in the audit log ({exc})")
        note = " ".join(n.strip().rstrip(".") + "." for n in notes if n)
        return replace(verdict, note=note) if note != verdict.note else verdict

    @writes("audit.verify", Action.READ_AUDIT_LOG)
    def _verified(self, s: Session, actor: Actor, verdict: Verdict) -> None:
        audit(s, actor, "audit.verify", None, None, details={
            "entries": verdict.entries, "intact": verdict.intact, "first_bad": verdict.first_bad,
            "reason": verdict.reason})

    @reads("audit.anchor", Action.READ_AUDIT_LOG)
    def anchor(self, s: Session, actor: Actor) -> Head:
        """The chain head now (entry number and hash), to print and keep elsewhere; also kept
        on this computer (``Head.kept`` says whether that worked)."""
        return self._head(s, keep=True)

    @reads("audit.keep_anchor", Action.SEE_CLIENTS)
    def keep_anchor(self, s: Session, actor: Actor) -> bool:
        """Keep the chain head on this computer (the window does, hourly and when it closes,
        whoever is signed in: it shows nobody anything). False if it could not be written."""
        return self._head(s, keep=True).kept

    def _head(self, s: Session, *, keep: bool) -> Head:
        conn = s.connection()
        found = audit_chain.head(conn)
        if found is None:
            raise NotFound("The audit log has no chain head; verify it to see what is wrong.")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        kept = False
        if keep:
            try:
                self.book.record(found[0], found[1], now, audit_chain.first_hash(conn))
                kept = True
            except OSError:
                kept = False
        return Head(found[0], found[1], now, kept)

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _select() -> Select[Any]:
        return (select(AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.actor_id, AuditEvent.actor_username,
                       AuditEvent.action, AuditEvent.target_kind, AuditEvent.target_id, AuditEvent.outcome,
                       AuditEvent.details, PracticeUser.display_name, Client.first_name, Client.last_name)
                .outerjoin(PracticeUser, PracticeUser.id == AuditEvent.actor_id)
                .outerjoin(Client, and_(AuditEvent.target_kind == "client", Client.id == AuditEvent.target_id)))

    def _filtered(self, s: Session, where: AuditFilter) -> Select[Any]:
        """The numbers of the entries ``where`` lets through (unordered)."""
        if not isinstance(where, AuditFilter):
            raise InvalidInput("That is not an audit log filter.")
        stmt = select(AuditEvent.seq)
        if where.user_id is not None:
            stmt = stmt.where(AuditEvent.actor_id == stored_id(where.user_id, "user"))
        if where.username is not None:
            name = _clean_text(where.username, "user name")
            user_id = s.scalar(select(PracticeUser.id).where(PracticeUser.username == name))
            if user_id is None:
                raise InvalidInput(f"There is no user {name!r}.")
            stmt = stmt.where(AuditEvent.actor_id == user_id)
        if where.client_ids is not None:
            if len(where.client_ids) > MAX_CLIENT_MATCHES:
                raise InvalidInput(_too_many(where.client or "those numbers"))
            ids = [stored_id(i, "client") for i in where.client_ids] or [0]  # none match: no entry does
            stmt = stmt.where(AuditEvent.target_kind == "client", AuditEvent.target_id.in_(ids))
        elif where.client:
            stmt = stmt.where(AuditEvent.target_kind == "client",
                              AuditEvent.target_id.in_(self._client_ids(s, where.client)))
        if where.kind:
            if where.kind == "other":
                known = sorted({a for _name, actions in KINDS.values() for a in actions})
                stmt = stmt.where(AuditEvent.action.not_in(known))
            elif where.kind in KINDS:
                stmt = stmt.where(AuditEvent.action.in_(KINDS[where.kind][1]))
            else:
                raise InvalidInput(f"There is no kind of action {where.kind!r}.")
        if where.outcome is not None:
            if not isinstance(where.outcome, Outcome):
                raise InvalidInput("Choose allowed or refused.")
            stmt = stmt.where(AuditEvent.outcome == where.outcome)
        if where.since or where.until:
            tz = clock.zone(SettingsController._read(s).time_zone)
            for day in (where.since, where.until):
                if day is not None and (not isinstance(day, dt.date) or isinstance(day, dt.datetime)):
                    raise InvalidInput("Give dates as YYYY-MM-DD.")
            if where.since and where.until and where.since > where.until:
                raise InvalidInput("The first date is after the last one.")
            if where.since:
                stmt = stmt.where(AuditEvent.occurred_at >= clock.day_bounds(where.since, tz)[0])
            if where.until:
                stmt = stmt.where(AuditEvent.occurred_at < clock.day_bounds(where.until, tz)[1])
        return stmt

    @staticmethod
    def _client_ids(s: Session, text: str) -> list[int]:
        typed = _clean_text(text, "client")
        number = re.fullmatch(r"#?\s*(\d{1,10})", typed)
        if number:
            wanted = check_id(int(number.group(1)), "client")
            return [wanted] if wanted <= LARGEST_ID else [0]  # larger than any id: nothing matches
        tokens = query_tokens(typed)
        if not tokens:
            raise InvalidInput("Type some of the client's name, or their number as #12.")
        stmt = select(Client.id)
        for token in tokens:
            stmt = stmt.where(Client.search_key.like(like_pattern(token), escape="\\"))
        ids = list(s.scalars(stmt.limit(MAX_CLIENT_MATCHES + 1)))
        if len(ids) > MAX_CLIENT_MATCHES:
            raise InvalidInput(_too_many(typed))
        return ids or [0]  # no client matches: no entry does either

    @staticmethod
    def _entries(s: Session, stmt: Select[Any]) -> list[LogEntry]:
        tz = clock.zone(SettingsController._read(s).time_zone)
        found = []
        for r in s.execute(stmt):
            outcome = r.outcome.value if isinstance(r.outcome, Outcome) else str(r.outcome)
            client = ""
            if r.target_kind == "client" and r.target_id is not None:
                client = (display_name(r.first_name, r.last_name) if r.first_name is not None
                          else f"deleted client #{r.target_id}")
            found.append(LogEntry(
                r.seq, r.occurred_at, clock.to_local(r.occurred_at, tz).strftime("%Y-%m-%d %H:%M:%S"),
                _who(r.display_name, r.actor_username, r.action), r.actor_username, r.action,
                describe(r.action, outcome, r.details),
                r.target_id if r.target_kind == "client" else None, client, outcome, r.target_kind, r.target_id,
                r.details))
        return found


def _too_many(typed: str) -> str:
    return (f"More than {MAX_CLIENT_MATCHES} clients match {typed!r}; "
            "type more of the name, or the client's number as #12.")


def clients_named(roster: Roster, where: AuditFilter) -> AuditFilter:
    """``where`` with the clients its ``client`` text names found in ``roster``, the list the
    window already holds, as the database's search would find them (every typed word in the
    client's search key; docs/rules.md, "Lists"): a million clients' names are searched in
    memory in milliseconds, where the database reads every one. Unchanged when there is
    nothing to find that way (a number, no text) or the roster cannot answer for the whole
    practice (still loading, or one clinician's clients), or a word so common the list has not
    finished finding it; the controller's search does it then. The list is as fresh as the
    window's (others' changes arrive within a second or two).
    """
    if not where.client.strip():
        return where
    typed = _clean_text(where.client, "client")
    if re.fullmatch(r"#?\s*\d{1,10}", typed) or not roster.whole_practice or not query_tokens(typed):
        return where
    answer = roster.search("all", typed, need=MAX_CLIENT_MATCHES + 1)  # (StatusFilter.ALL)
    if not answer.complete:
        # A word very many rows hold (contacts too, which the log does not name): how many
        # clients it names is not known yet; the database's search counts them.
        return where
    clients = roster.clients_among(answer.slots)
    if len(clients) > MAX_CLIENT_MATCHES:
        raise InvalidInput(_too_many(typed))
    ids = roster.ids
    return replace(where, client_ids=tuple(sorted(ids[int(slot)] for slot in clients)))


def _who(display: str | None, username: str | None, action: str) -> str:
    if display:
        return display
    if username:
        return username
    if action == "billing.automatic":
        return "Automatic billing"
    if action == "user.sign_in":
        return "(not signed in)"
    return "Caseload"


def _clean_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"That is not a {what}.")
    if any(not (ch.isprintable() or ch == " ") for ch in value):
        raise InvalidInput(f"That {what} holds characters that cannot be typed (invisible or control ones).")
    text = value.strip()
    if not text:
        raise InvalidInput(f"Type a {what}.")
    if len(text) > MAX_FILTER_TEXT:
        raise InvalidInput(f"That {what} is longer than {MAX_FILTER_TEXT} characters.")
    return text
