"""The Clients and contacts list, held in memory and searched there.

Like calibre's cache, the hot fields of every visible client and contact sit in
compact parallel columns (one entry per *slot*), with a case-folded search key
per slot. Nothing here knows Qt: the list's model asks this object for the
ordered slots and renders only the visible rows.

What keeps a keystroke cheap, measured in ``benchmarks/list_filter.py``:

* Searching scans the keys in slot order (memory order, several times faster
  than in display order) and remembers recent answers by their words, so a
  query that only grew scans the previous answer, and Backspace returns to an
  answer already known.
* Display order comes from one cached order per column and status. A few
  matches are sorted directly; many are picked out of the cached order with a
  byte mask.
* Slot lists are ``array('i')`` (4 bytes a row, not a Python int each), and
  repeated strings (names, dates, clinicians) are shared, which keeps a
  million clients under a gigabyte.

Changes made elsewhere arrive through ``refresh()``, which reads only rows
whose change number is above the last one seen (``storage.changes``), and the
id list only when the counts say something was deleted.
"""

from __future__ import annotations

import bisect
import enum
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from desktop.controllers.base import check_standing
from desktop.controllers.clients import StatusFilter
from desktop.controllers.permissions import Actor
from desktop.domain.models import ClientStatus
from desktop.domain.search import fold, name_sort_key, query_tokens
from desktop.storage import queries
from desktop.storage.changes import last_change
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


class Kind(enum.IntEnum):
    """What a slot holds (kept in a byte array)."""

    CLIENT = 0
    CONTACT = 1


class State(enum.IntEnum):
    """A slot's state (kept in a byte array): a client's status, a contact, or removed."""

    ACTIVE = 0
    INACTIVE = 1
    CONTACT = 2
    GONE = 3


class Change(enum.Enum):
    """What storing a row changed, for deciding which cached orders still hold."""

    NONE = "unchanged"
    STATUS = "status only"
    SORT_KEYS = "sort keys"


_STATE_OF = {ClientStatus.ACTIVE.value: State.ACTIVE, ClientStatus.INACTIVE.value: State.INACTIVE}
# Which states each status filter shows (indexed by state); contacts have no
# status and show with Active and All.
_SHOWN = {StatusFilter.ACTIVE: b"\x01\x00\x01\x00", StatusFilter.INACTIVE: b"\x00\x01\x00\x00",
          StatusFilter.ALL: b"\x01\x01\x01\x00"}
# Remembered search answers hold at most this many times the roster's rows in all
# (a few screens of typing and Backspace), and never less than the floor.
MATCH_CACHE_ROSTERS = 3
MATCH_CACHE_FLOOR = 200_000
# Below this share of all rows, matches are sorted directly instead of masked.
FEW_MATCHES = 0.05


class ClientColumns(NamedTuple):
    """Client rows as read by ``queries.client_tuples``, column by column."""

    ids: list[int]
    first: list[str]
    last: list[str]
    preferred: list[str]
    dob: list[str]
    email: list[str]
    phone: list[str]
    status: list[str]
    clinician_ids: list[int | None]
    keys: list[str]
    versions: list[int]


_SHARED_CLIENT_COLUMNS = tuple(ClientColumns._fields.index(f) for f in ("first", "last", "preferred", "dob", "status"))


class ContactColumns(NamedTuple):
    """Contact rows as read by ``queries.contact_tuples``, column by column."""

    ids: list[int]
    first: list[str]
    last: list[str]
    email: list[str]
    phone: list[str]
    keys: list[str]
    versions: list[int]


_SHARED_CONTACT_COLUMNS = tuple(ContactColumns._fields.index(f) for f in ("first", "last"))


@dataclass
class RosterData:
    """Columns read by ``Roster.fetch`` (on any thread), ready for ``install`` on the GUI thread."""

    clinicians: dict[int, str]
    clients: ClientColumns
    contacts: ContactColumns
    watermark: int
    name_order: array = field(default_factory=lambda: array("i"))


def _columns(cursor_rows, width: int, shared: Sequence[int] = (), pool: dict | None = None,
             chunk: int = 20_000) -> list[list]:  # type: ignore[no-untyped-def]
    """Rows to columns, a chunk at a time, so the row objects never all exist at once.

    The values of the ``shared`` columns (names, dates: they repeat a lot) are
    made one object per distinct string through ``pool`` as each chunk arrives,
    so the driver's duplicate copies are freed chunk by chunk and their memory
    is reused by the next chunk, instead of leaving 100,000 holes at the end
    that keep the process's memory high after the load.
    """
    columns: list[list] = [[] for _ in range(width)]
    get = (pool if pool is not None else {}).setdefault
    while True:
        rows = cursor_rows.fetchmany(chunk)
        if not rows:
            return columns
        for index, (column, values) in enumerate(zip(columns, zip(*rows))):
            if index in shared:
                column.extend([get(v, v) for v in values])
            else:
                column.extend(values)
        del rows


class Roster:
    """Every client and contact the actor may see, searchable in memory."""

    def __init__(self, db: Database, actor: Actor) -> None:
        self.db = db
        self.actor = actor
        self._who = actor.visibility()
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
        # Slots [0, _n_clients) are clients and [_n_clients, _n_loaded) contacts,
        # each in ascending id order, so a slot is found by bisection; rows
        # that arrive later are appended and found through _extra.
        self._n_clients = 0
        self._n_loaded = 0
        self._extra: dict[tuple[int, int], int] = {}
        self._clinicians: dict[int, str] = {}
        self._watermark: int | None = None
        self._orders: dict[Column, array] = {}
        self._bases: dict[tuple[StatusFilter, Column, bool], array] = {}
        self._matches: OrderedDict[tuple[str, ...], array] = OrderedDict()
        # Bumped whenever cached orders become wrong, so orders computed on another
        # thread from older data are never adopted.
        self.generation = getattr(self, "generation", 0) + 1

    def __len__(self) -> int:
        return len(self.ids)

    def _forget_answers(self, *, orders: bool) -> None:
        if orders:
            self._orders.clear()
            self.generation += 1
        self._bases.clear()
        self._matches.clear()

    def fetch(self) -> RosterData:
        """Read everything the actor may see. Safe to call off the GUI thread."""
        who = self._who
        pool: dict = {}
        with self.db.reading() as s:
            # The list is read outside the gate (it is no single operation), but by the same
            # rule: a deactivated user, or one whose role changed, is refused (docs/rules.md).
            check_standing(s, self.actor, "client.list")
            # The watermark is read first: a change committed while the rows are
            # read is then picked up again by the next refresh, never missed.
            watermark = last_change(s)
            clinicians = queries.clinician_names(s)
            c = ClientColumns(*_columns(queries.client_tuples(s, who), len(ClientColumns._fields),
                                        _SHARED_CLIENT_COLUMNS, pool))
            k = ContactColumns(*_columns(queries.contact_tuples(s, who), len(ContactColumns._fields),
                                         _SHARED_CONTACT_COLUMNS, pool))
        del pool
        names = list(map(name_sort_key, c.last + k.last, c.first + k.first))
        order = array("i", sorted(range(len(names)), key=names.__getitem__))
        return RosterData(clinicians, c, k, watermark, order)

    def install(self, data: RosterData) -> None:
        """Replace what is held with ``data`` (column by column, no per-row calls)."""
        self._clear()
        c, k = data.clients, data.contacts
        n_clients, n_contacts = len(c.ids), len(k.ids)
        self._clinicians = data.clinicians
        self.kind = bytearray([Kind.CLIENT]) * n_clients + bytearray([Kind.CONTACT]) * n_contacts
        self.state = bytearray(_STATE_OF[v] for v in c.status) + bytearray([State.CONTACT]) * n_contacts
        self.ids = array("q", c.ids + k.ids)
        self.versions = array("q", c.versions + k.versions)
        self.first = c.first + k.first
        self.last = c.last + k.last
        self.preferred = c.preferred + [""] * n_contacts
        self.dob = c.dob + [""] * n_contacts
        self.email = c.email + k.email
        self.phone = c.phone + k.phone
        self.clinician_ids = c.clinician_ids + [None] * n_contacts
        self.keys = c.keys + k.keys
        self._n_clients, self._n_loaded = n_clients, n_clients + n_contacts
        self._watermark = data.watermark
        if len(data.name_order) == len(self.ids):
            self._orders[Column.NAME] = data.name_order

    def load(self) -> None:
        self.install(self.fetch())

    def refresh(self) -> bool:
        """Take in what changed in the database since the last look; True if anything did."""
        if self._watermark is None:
            self.load()
            return True
        since = self._watermark
        changes: set[Change] = set()
        who = self._who
        with self.db.reading() as s:
            check_standing(s, self.actor, "client.list")
            # Read first: a change committed while the rows are read is seen again next time.
            self._watermark = last_change(s)
            self._clinicians = queries.clinician_names(s)
            for row in queries.client_tuples(s, who, changed_after=since):
                changes.add(self._put_client(row))
            for row in queries.contact_tuples(s, who, changed_after=since):
                changes.add(self._put_contact(row))
            # Every insert and update was just seen through its change number, so if the
            # database holds fewer rows than are listed, something was deleted (or
            # left this user's scope): only then is the full id list worth reading.
            live_clients = self.state.count(State.ACTIVE) + self.state.count(State.INACTIVE)
            present: dict[int, set[int]] = {}
            if queries.client_count(s, who) != live_clients:
                present[Kind.CLIENT] = queries.client_ids(s, who)
            if queries.contact_count(s, who) != self.state.count(State.CONTACT):
                present[Kind.CONTACT] = queries.contact_ids(s, who)
        if present:
            for slot in range(len(self.ids)):
                kind = self.kind[slot]
                if kind in present and self.state[slot] != State.GONE and self.ids[slot] not in present[kind]:
                    self._mark_gone(slot)
                    changes.add(Change.SORT_KEYS)
        changes.discard(Change.NONE)
        if changes:
            self._forget_answers(orders=Change.SORT_KEYS in changes)
            if Change.SORT_KEYS not in changes:
                self._orders.pop(Column.STATUS, None)
                self.generation += 1
        return bool(changes)

    def _mark_gone(self, slot: int) -> None:
        self.state[slot] = State.GONE
        self.keys[slot] = ""  # matches no search word again

    def slot_of(self, kind: int, record_id: int) -> int | None:
        low, high = (0, self._n_clients) if kind == Kind.CLIENT else (self._n_clients, self._n_loaded)
        i = bisect.bisect_left(self.ids, record_id, low, high)
        if i < high and self.ids[i] == record_id:
            return i
        return self._extra.get((kind, record_id))

    def _slot(self, kind: int, record_id: int) -> tuple[int, bool]:
        slot = self.slot_of(kind, record_id)
        if slot is not None:
            return slot, False
        slot = len(self.ids)
        self._extra[(kind, record_id)] = slot
        self.kind.append(kind)
        self.state.append(State.GONE)
        self.ids.append(record_id)
        self.versions.append(0)
        for column in (self.first, self.last, self.preferred, self.dob, self.phone, self.email, self.keys):
            column.append("")
        self.clinician_ids.append(None)
        return slot, True

    def _put_client(self, row: Sequence) -> Change:
        """Store one client row; says whether nothing, only the status, or sort keys changed."""
        cid, first, last, preferred, dob, email, phone, status, clinician_id, key, version = row
        slot, new = self._slot(Kind.CLIENT, cid)
        if not new and self.versions[slot] == version and self.state[slot] != State.GONE:
            return Change.NONE
        resorts = new or self.state[slot] == State.GONE or (
            self.first[slot], self.last[slot], self.dob[slot], self.email[slot], self.phone[slot],
            self.clinician_ids[slot]) != (first, last, dob, email, phone, clinician_id)
        self.state[slot] = _STATE_OF[status]
        self.versions[slot] = version
        self.first[slot], self.last[slot] = first, last
        self.preferred[slot], self.dob[slot] = preferred, dob
        self.email[slot], self.phone[slot] = email, phone
        self.clinician_ids[slot] = clinician_id
        self.keys[slot] = key
        return Change.SORT_KEYS if resorts else Change.STATUS

    def _put_contact(self, row: Sequence) -> Change:
        kid, first, last, email, phone, key, version = row
        slot, new = self._slot(Kind.CONTACT, kid)
        if not new and self.versions[slot] == version and self.state[slot] != State.GONE:
            return Change.NONE
        self.state[slot] = State.CONTACT
        self.versions[slot] = version
        self.first[slot], self.last[slot] = first, last
        self.email[slot], self.phone[slot] = email, phone
        self.keys[slot] = key
        return Change.SORT_KEYS

    def set_client_status(self, client_id: int, status: ClientStatus, version: int) -> None:
        """Record a status change this window made, without waiting for a refresh."""
        slot = self.slot_of(Kind.CLIENT, client_id)
        if slot is None:
            return
        self.state[slot] = _STATE_OF[status.value]
        self.versions[slot] = version
        self._orders.pop(Column.STATUS, None)
        self.generation += 1
        self._bases.clear()

    # ------------------------------------------------------------------ reading

    def is_client(self, slot: int) -> bool:
        return self.kind[slot] == Kind.CLIENT

    def status(self, slot: int) -> ClientStatus | None:
        state = self.state[slot]
        return (ClientStatus.ACTIVE if state == State.ACTIVE
                else ClientStatus.INACTIVE if state == State.INACTIVE else None)

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
            return "Client" if self.kind[slot] == Kind.CLIENT else "Contact"
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

    def counts(self) -> tuple[int, int, int]:
        """Active clients, inactive clients, contacts."""
        return self.state.count(State.ACTIVE), self.state.count(State.INACTIVE), self.state.count(State.CONTACT)

    # -------------------------------------------------------- filter and order

    def _sort_keys(self, column: Column, slots: Sequence[int] | None = None) -> list[str]:
        """The sort keys of ``slots`` (all slots if None) for ``column``; empty values sort last.

        Names sort by ``name_sort_key`` (docs/rules.md, "Lists"), the command line's order too.
        """
        def pick(values: Sequence) -> Sequence:  # type: ignore[type-arg]
            return values if slots is None else [values[i] for i in slots]

        if column in (Column.NAME, Column.TYPE, Column.STATUS):
            names = list(map(name_sort_key, pick(self.last), pick(self.first)))
            if column is Column.NAME:
                return names
            prefixes = pick(self.kind if column is Column.TYPE else self.state)
            return [f"{p}{n}" for p, n in zip(prefixes, names)]
        if column is Column.CLINICIAN:
            clinicians = {cid: fold(n) for cid, n in self._clinicians.items()}
            return [clinicians.get(c, "\uffff") if c is not None else "\uffff"
                    for c in pick(self.clinician_ids)]
        values = {Column.DATE_OF_BIRTH: self.dob, Column.PHONE: self.phone,
                  Column.EMAIL: self.email}[column]
        return [v.casefold() if v else "\uffff" for v in pick(values)]

    def compute_orders(self) -> tuple[int, dict[Column, array]]:
        """Every column's order not yet cached, for a pool thread to prepare ahead of a click."""
        generation = self.generation
        orders = {}
        for column in Column:
            if column not in self._orders:
                keys = self._sort_keys(column)
                orders[column] = array("i", sorted(range(len(keys)), key=keys.__getitem__))
        return generation, orders

    def adopt_orders(self, generation: int, orders: dict[Column, array]) -> None:
        """Take orders from ``compute_orders`` if nothing changed meanwhile."""
        if generation != self.generation:
            return
        for column, order in orders.items():
            if len(order) == len(self.ids):
                self._orders.setdefault(column, order)

    def order(self, column: Column) -> array:
        """All slots sorted by ``column`` ascending (cached until the data changes)."""
        cached = self._orders.get(column)
        if cached is None or len(cached) != len(self.ids):
            keys = self._sort_keys(column)
            cached = array("i", sorted(range(len(keys)), key=keys.__getitem__))
            self._orders[column] = cached
        return cached

    def _base(self, status: StatusFilter, column: Column, descending: bool) -> array:
        """Every slot the status filter shows, in display order (cached)."""
        cache_key = (status, column, descending)
        cached = self._bases.get(cache_key)
        if cached is not None:
            return cached
        order = self.order(column)
        if descending:
            order = order[::-1]
        shown, state = _SHOWN[status], self.state
        if status is StatusFilter.ALL and State.GONE not in state:
            base = order
        else:
            base = array("i", [i for i in order if shown[state[i]]])
        self._bases[cache_key] = base
        return base

    def _matching(self, tokens: tuple[str, ...]) -> array:
        """Slots (in slot order) whose key holds every token; remembered by tokens."""
        found = self._matches.get(tokens)
        if found is not None:
            self._matches.move_to_end(tokens)
            return found
        source: Sequence[int] | None = None
        pending = list(tokens)
        # The smallest remembered answer whose every word lives inside a word typed
        # now is a superset of this answer: scan only it, for the words it lacks.
        for old_tokens, old in self._matches.items():
            if (source is None or len(old) < len(source)) and all(
                    any(o in t for t in tokens) for o in old_tokens):
                source = old
                pending = [t for t in tokens if t not in old_tokens]
        keys = self.keys
        if source is None:
            first = pending.pop(0)
            result = [i for i, key in enumerate(keys) if first in key]
        else:
            result = list(source)
        for token in pending:
            result = [i for i in result if token in keys[i]]
        found = array("i", result)
        self._matches[tokens] = found
        total = sum(len(a) for a in self._matches.values())
        limit = max(MATCH_CACHE_FLOOR, MATCH_CACHE_ROSTERS * len(self.ids))
        while total > limit and len(self._matches) > 1:
            total -= len(self._matches.popitem(last=False)[1])
        return found

    def filter(self, status: StatusFilter | str = StatusFilter.ACTIVE, query: str = "",
               column: Column = Column.NAME, descending: bool = False) -> array:
        """The slots matching the status filter and every typed word, in display order."""
        status = StatusFilter(status)
        tokens = tuple(query_tokens(query))
        if not tokens:
            return self._base(status, column, descending)
        matched = self._matching(tokens)
        shown, state = _SHOWN[status], self.state
        if len(matched) <= FEW_MATCHES * len(self.ids):
            rows = [i for i in matched if shown[state[i]]]
            keys = self._sort_keys(column, rows)
            ranked = sorted(range(len(rows)), key=keys.__getitem__, reverse=descending)
            return array("i", [rows[r] for r in ranked])
        mask = bytearray(len(self.ids))
        for i in matched:
            mask[i] = 1
        return array("i", [i for i in self._base(status, column, descending) if mask[i]])
