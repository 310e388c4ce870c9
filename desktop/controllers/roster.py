"""The Clients and contacts list, held in memory and searched there.

Like calibre's cache, the hot fields of every visible client and contact sit in
compact parallel lists (one entry per *slot*), with a case-folded search key
per slot. Filtering scans those keys in Python, narrowing the previous result
when the query only grew; sorting keeps one cached order per column, so a
filter result comes out already sorted. Nothing here knows Qt: the list's
model asks this object for the ordered slots and renders only visible rows.

Changes made elsewhere arrive through ``refresh()``, which reads only rows
updated since the last look (plus the id list, to notice deletions).
"""

from __future__ import annotations

import datetime as dt
import enum
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from desktop.controllers.clients import StatusFilter
from desktop.controllers.permissions import Action, Actor, Scope
from desktop.domain.models import ClientStatus
from desktop.domain.search import query_tokens
from desktop.storage import queries
from desktop.storage.database import Database


class Column(enum.IntEnum):
    NAME = 0
    TYPE = 1
    STATUS = 2
    DATE_OF_BIRTH = 3
    PHONE = 4
    EMAIL = 5
    CLINICIAN = 6

    @property
    def title(self) -> str:
        return ("Name", "Type", "Status", "Date of birth", "Phone", "Email", "Clinician")[self]


# Per-slot state codes, kept in a byte array.
ACTIVE, INACTIVE, CONTACT, GONE = 0, 1, 2, 3
_STATE_OF = {ClientStatus.ACTIVE.value: ACTIVE, ClientStatus.INACTIVE.value: INACTIVE}
CLIENT, CONTACT_KIND = 0, 1
LOOK_BACK = dt.timedelta(minutes=5)
# What a stored row changed, for deciding which cached sort orders still hold.
_UNCHANGED, _RESTATED, _SORTED = "unchanged", "status only", "sort keys"
# Allowed states for each status filter; contacts have no status and show with Active and All.
_STATES = {StatusFilter.ACTIVE: (ACTIVE, CONTACT), StatusFilter.INACTIVE: (INACTIVE,),
           StatusFilter.ALL: (ACTIVE, INACTIVE, CONTACT)}


@dataclass(frozen=True)
class RosterData:
    """What ``Roster.fetch`` read, ready for ``install`` on the GUI thread."""

    clinicians: dict[int, str]
    clients: list[Sequence]
    contacts: list[Sequence]
    watermark: dt.datetime | None


@dataclass(frozen=True)
class Counts:
    active: int
    inactive: int
    contacts: int


class Roster:
    """Every client and contact the actor may see, searchable in memory."""

    def __init__(self, db: Database, actor: Actor) -> None:
        self.db = db
        self.actor = actor
        self._clinician_scope = (actor.user_id if actor.scope(Action.SEE_CLIENTS) is Scope.ASSIGNED
                                 else None)
        self._clear()

    # ------------------------------------------------------------------ storage

    def _clear(self) -> None:
        self.kind = bytearray()
        self.state = bytearray()
        self.ids = array("q")
        self.versions = array("q")
        self.first: list[str] = []
        self.last: list[str] = []
        self.preferred: list[str] = []
        self.dob: list[str] = []
        self.phone: list[str] = []
        self.email: list[str] = []
        self.clinician_ids: list[int | None] = []
        self.keys: list[str] = []
        self._slot_of: dict[tuple[int, int], int] = {}
        self._clinicians: dict[int, str] = {}
        self._watermark: dt.datetime | None = None
        self._orders: dict[Column, list[int]] = {}
        self._last: tuple[StatusFilter, Column, bool, list[str], list[int]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def fetch(self) -> RosterData:
        """Read everything the actor may see. Safe to call off the GUI thread."""
        with self.db.reading() as s:
            # The watermark is read first: a change committed while the rows are
            # read is then picked up again by the next refresh, never missed.
            watermark = queries.last_update(s)
            clinicians = queries.clinician_names(s)
            clients = list(queries.client_tuples(s, clinician_id=self._clinician_scope))
            contacts = list(queries.contact_tuples(s, clinician_id=self._clinician_scope))
        return RosterData(clinicians, clients, contacts, watermark)

    def install(self, data: RosterData) -> None:
        """Replace what is held with ``data`` (column by column, no per-row calls)."""
        self._clear()
        self._clinicians = data.clinicians
        n_clients, n_contacts = len(data.clients), len(data.contacts)
        c = list(zip(*data.clients)) if n_clients else [()] * 11
        k = list(zip(*data.contacts)) if n_contacts else [()] * 7
        self.kind = bytearray(n_clients) + bytearray(b"\x01" * n_contacts)
        self.state = bytearray(_STATE_OF[v] for v in c[7]) + bytearray(b"\x02" * n_contacts)
        self.ids = array("q", c[0] + k[0])
        self.versions = array("q", c[10] + k[6])
        self.first = list(c[1] + k[1])
        self.last = list(c[2] + k[2])
        self.preferred = list(c[3]) + [""] * n_contacts
        self.dob = list(c[4]) + [""] * n_contacts
        self.email = list(c[5] + k[3])
        self.phone = list(c[6] + k[4])
        self.clinician_ids = list(c[8]) + [None] * n_contacts
        self.keys = list(c[9] + k[5])
        self._slot_of = {(CLIENT, i): slot for slot, i in enumerate(c[0])}
        self._slot_of.update({(CONTACT_KIND, i): n_clients + slot for slot, i in enumerate(k[0])})
        self._watermark = data.watermark or dt.datetime(1970, 1, 1)

    def load(self) -> None:
        self.install(self.fetch())

    def refresh(self) -> bool:
        """Take in what changed in the database since the last look; True if anything did."""
        if self._watermark is None:
            self.load()
            return True
        # A transaction stamps updated_at when it writes but is seen only when it
        # commits, so look back a while: re-reading a few rows is cheap, missing one is not.
        since = self._watermark - LOOK_BACK
        changes: set[str] = set()
        scope = self._clinician_scope
        with self.db.reading() as s:
            self._watermark = queries.last_update(s) or self._watermark
            self._clinicians = queries.clinician_names(s)
            for row in queries.client_tuples(s, clinician_id=scope, changed_since=since):
                changes.add(self._put_client(row))
            for row in queries.contact_tuples(s, clinician_id=scope, changed_since=since):
                changes.add(self._put_contact(row))
            # Every insert and update was just seen through updated_at, so if the
            # database holds fewer rows than are listed, something was deleted (or
            # left this user's scope): only then is the full id list worth reading.
            live_clients = self.state.count(ACTIVE) + self.state.count(INACTIVE)
            present: dict[int, set[int]] = {}
            if queries.client_count(s, clinician_id=scope) != live_clients:
                present[CLIENT] = queries.client_ids(s, clinician_id=scope)
            if queries.contact_count(s, clinician_id=scope) != self.state.count(CONTACT):
                present[CONTACT_KIND] = queries.contact_ids(s, clinician_id=scope)
        if present:
            for (kind, record_id), slot in self._slot_of.items():
                if kind in present and self.state[slot] != GONE and record_id not in present[kind]:
                    self.state[slot] = GONE
                    changes.add(_SORTED)
        changes.discard(_UNCHANGED)
        if _SORTED in changes:
            self._orders.clear()
        elif changes:
            self._orders.pop(Column.STATUS, None)
        if changes:
            self._last = None
        return bool(changes)

    def _slot(self, kind: int, record_id: int) -> tuple[int, bool]:
        slot = self._slot_of.get((kind, record_id))
        if slot is not None:
            return slot, False
        slot = len(self.ids)
        self._slot_of[(kind, record_id)] = slot
        self.kind.append(kind)
        self.state.append(GONE)
        self.ids.append(record_id)
        self.versions.append(0)
        for column in (self.first, self.last, self.preferred, self.dob, self.phone, self.email, self.keys):
            column.append("")
        self.clinician_ids.append(None)
        return slot, True

    def _put_client(self, row: Sequence) -> str:
        """Store one client row; says whether nothing, only the status, or sort keys changed."""
        cid, first, last, preferred, dob, email, phone, status, clinician_id, key, version = row
        slot, new = self._slot(CLIENT, cid)
        if not new and self.versions[slot] == version and self.state[slot] != GONE:
            return _UNCHANGED
        resorts = new or self.state[slot] == GONE or (
            self.first[slot], self.last[slot], self.dob[slot], self.email[slot], self.phone[slot],
            self.clinician_ids[slot]) != (first, last, dob, email, phone, clinician_id)
        self.state[slot] = _STATE_OF[status]
        self.versions[slot] = version
        self.first[slot], self.last[slot] = first, last
        self.preferred[slot], self.dob[slot] = preferred, dob
        self.email[slot], self.phone[slot] = email, phone
        self.clinician_ids[slot] = clinician_id
        self.keys[slot] = key
        return _SORTED if resorts else _RESTATED

    def _put_contact(self, row: Sequence) -> str:
        kid, first, last, email, phone, key, version = row
        slot, new = self._slot(CONTACT_KIND, kid)
        if not new and self.versions[slot] == version and self.state[slot] != GONE:
            return _UNCHANGED
        self.state[slot] = CONTACT
        self.versions[slot] = version
        self.first[slot], self.last[slot] = first, last
        self.email[slot], self.phone[slot] = email, phone
        self.keys[slot] = key
        return _SORTED

    def set_client_status(self, client_id: int, status: ClientStatus, version: int) -> None:
        """Record a status change this window made, without waiting for a refresh."""
        slot = self._slot_of.get((CLIENT, client_id))
        if slot is None:
            return
        self.state[slot] = _STATE_OF[status.value]
        self.versions[slot] = version
        self._orders.pop(Column.STATUS, None)
        self._last = None

    # ------------------------------------------------------------------ reading

    def slot_of(self, kind: int, record_id: int) -> int | None:
        return self._slot_of.get((kind, record_id))

    def is_client(self, slot: int) -> bool:
        return self.kind[slot] == CLIENT

    def status(self, slot: int) -> ClientStatus | None:
        state = self.state[slot]
        return ClientStatus.ACTIVE if state == ACTIVE else ClientStatus.INACTIVE if state == INACTIVE else None

    def name(self, slot: int) -> str:
        preferred = self.preferred[slot]
        base = f"{self.last[slot]}, {self.first[slot]}"
        return f"{base} ({preferred})" if preferred else base

    def clinician(self, slot: int) -> str:
        cid = self.clinician_ids[slot]
        return self._clinicians.get(cid, "") if cid is not None else ""

    def text(self, slot: int, column: Column) -> str:
        if column is Column.NAME:
            return self.name(slot)
        if column is Column.TYPE:
            return "Client" if self.kind[slot] == CLIENT else "Contact"
        if column is Column.STATUS:
            status = self.status(slot)
            return status.value.title() if status else ""
        if column is Column.DATE_OF_BIRTH:
            return self.dob[slot]
        if column is Column.PHONE:
            return self.phone[slot]
        if column is Column.EMAIL:
            return self.email[slot]
        return self.clinician(slot)

    def counts(self) -> Counts:
        return Counts(self.state.count(ACTIVE), self.state.count(INACTIVE), self.state.count(CONTACT))

    # -------------------------------------------------------- filter and order

    def _sort_keys(self, column: Column) -> list:
        """One comparable value per slot; plain strings where possible, as they sort fastest."""
        if column is Column.NAME:
            return [f"{last}\x00{first}".casefold() for last, first in zip(self.last, self.first)]
        if column is Column.TYPE:
            return [f"{k}{last}".casefold() for k, last in zip(self.kind, self.last)]
        if column is Column.STATUS:
            return [f"{st}{last}".casefold() for st, last in zip(self.state, self.last)]
        if column is Column.CLINICIAN:
            names = {cid: n.casefold() for cid, n in self._clinicians.items()}
            return [names.get(cid, "\uffff") if cid is not None else "\uffff"
                    for cid in self.clinician_ids]
        values = {Column.DATE_OF_BIRTH: self.dob, Column.PHONE: self.phone,
                  Column.EMAIL: self.email}[column]
        # Empty values sort last in ascending order.
        return [v.casefold() if v else "\uffff" for v in values]

    def order(self, column: Column) -> list[int]:
        """All slots sorted by ``column`` ascending (cached until the data changes)."""
        cached = self._orders.get(column)
        if cached is None or len(cached) != len(self.ids):
            cached = sorted(range(len(self.ids)), key=self._sort_keys(column).__getitem__)
            self._orders[column] = cached
        return cached

    def filter(self, status: StatusFilter | str = StatusFilter.ACTIVE, query: str = "",
               column: Column = Column.NAME, descending: bool = False) -> list[int]:
        """The slots matching the status filter and every typed token, in display order."""
        status = StatusFilter(status)
        tokens = query_tokens(query)
        last = self._last
        if (last is not None and last[0] is status and last[1] is column and last[2] == descending
                and all(any(old in new for new in tokens) for old in last[3])):
            # The query only grew (every old token lives inside a new one): the
            # answer is a subset of the previous one, so scan only that.
            base = last[4]
            pending = [t for t in tokens if t not in last[3]]
        else:
            base = self._base(status, column, descending)
            pending = tokens
        result = base
        keys = self.keys
        for token in pending:
            result = [i for i in result if token in keys[i]]
        if result is base:
            result = list(base)
        self._last = (status, column, descending, tokens, result)
        return result

    def _base(self, status: StatusFilter, column: Column, descending: bool) -> list[int]:
        order = self.order(column)
        if descending:
            order = order[::-1]
        allowed = _STATES[status]
        state = self.state
        if len(allowed) == 3:
            return [i for i in order if state[i] != GONE]
        if len(allowed) == 2:
            a, b = allowed
            return [i for i in order if state[i] == a or state[i] == b]
        only = allowed[0]
        return [i for i in order if state[i] == only]
