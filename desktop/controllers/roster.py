"""The Clients and contacts list, held in memory and searched there.

Like calibre's cache, the hot fields of every visible client and contact sit in
compact parallel columns (one entry per *slot*), with a case-folded search key
per slot. Nothing here knows Qt: the list's model asks this object for the
ordered slots and renders only the visible rows.

What keeps a million clients quick, measured in ``benchmarks/list_filter.py``:

* Loading: the database joins each column into one string (``queries.joined_*``),
  so no Python tuple is made per row; names and dates are shared strings, and
  emails, phones and keys stay one UTF-8 text per column (``TextColumn``). The
  name order and the search index are made on threads while the rest is read,
  and the list is shown before the index is ready.
* Searching: the index (``search_index``) narrows a search to the rows that can
  match; only those keys are searched. A search most rows match lists the first
  screenful in display order at once and leaves the rest to a ``MatchJob`` that
  runs while the window is idle (docs/rules.md, "Lists"). Answers are remembered
  by their words, so a query that only grew searches the previous answer, and
  Backspace returns to an answer already known.
* Ordering: one cached order per column, made with numpy from the ranks of the
  few distinct values of a column rather than by sorting a million strings;
  status filters and searches pick their rows out of it with masks.

Changes made elsewhere arrive through ``refresh()``, which reads only rows
whose change number is above the last one seen (``storage.changes``), and the
id list only when the counts say something was deleted.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import dataclasses
import enum
import functools
import sys
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from desktop.controllers.base import check_standing
from desktop.controllers.clients import StatusFilter
from desktop.controllers.permissions import Actor
from desktop.controllers.search_index import SearchIndex
from desktop.controllers.text_column import TextColumn, holding
from desktop.domain.models import ClientStatus
from desktop.domain.search import fold, name_sort_key, query_tokens
from desktop.lazy import lazy_module
from desktop.storage import queries
from desktop.storage.changes import last_change
from desktop.storage.database import Database

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy", __name__, "np")  # the window paints first (desktop/lazy.py)


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


@functools.cache
def _shown_np(status: StatusFilter) -> np.ndarray:
    """``_SHOWN`` as a mask to index with states."""
    return np.frombuffer(_SHOWN[status], dtype=np.bool_)


# Empty values sort after every other (as the character that sorts last of the first 65,536).
LAST = "\uffff"
LAST_BYTES = LAST.encode("utf-8")
# Display orders kept per (status, column, direction): 4 bytes a row each.
BASES_KEPT = 6
# A search with at most this many candidate rows (search_index) is checked whole at once
# (about ten milliseconds: each check is a cache miss); with more, the window first finds
# a screenful by walking the display order (``Roster.search``), checking at most
# WALK_BUDGET candidates, a slice of WALK_SLICE rows at a time, and the rest is found
# JOB_SLICE candidates at a time while the window is idle.
CHECK_AT_ONCE = 20_000
WALK_SLICE = 4_096
WALK_BUDGET = 8_000
JOB_SLICE = 8_192
# Keys changed since the search index was built are checked directly; past this many the
# index is dropped until the next load, and every row is a candidate.
DIRTY_REBUILD = 50_000


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
    name_order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    # The search index, or the thread still building it (``Roster.fetch``).
    index: SearchIndex | _InBackground | None = None
    # Emails, phones and keys of clients then contacts (made from the columns if None).
    texts: tuple[TextColumn, TextColumn, TextColumn] | None = None


@dataclass(frozen=True)
class FirstScreen:
    """A list being read whose first rows are wanted before the rest (``Roster.fetch``): the
    first ``rows`` rows of the name order in ``descending`` order that ``status`` shows, with
    no search, handed to ``deliver`` (on a thread of the fetch's) as a RosterData of their own.
    ``deliver`` is called exactly once, before ``fetch`` returns or raises: with None when there
    are none to hand over (the first rows could not be found apart, or the read failed before
    they were); rows handed over may belong to a read that then fails."""

    status: StatusFilter
    descending: bool
    rows: int
    deliver: Callable[[RosterData | None], None]


@dataclass
class Answer:
    """What the list shows for a search: ``slots`` in display order, all of them when
    ``complete``; otherwise the first of them, about ``estimate`` in all, and ``job`` finds
    the rest."""

    slots: np.ndarray
    complete: bool
    estimate: int | None  # None: not known yet (the first screenful is still being found)
    job: MatchJob | None = None


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


def _int64s(*parts: Sequence[int] | np.ndarray) -> array:
    joined = array("q")
    joined.frombytes(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]).tobytes())
    return joined


def _split(joined: str, n: int, pool: dict | None = None) -> list[str] | None:  # type: ignore[type-arg]
    """One joined column (``queries.SEPARATOR``) as ``n`` strings, made one object per distinct
    value through ``pool``; None if it does not hold exactly ``n`` (a value held the separator)."""
    values = joined.split(queries.SEPARATOR)
    if len(values) != n:
        return None
    return values if pool is None else list(map(pool.setdefault, values, values))


def _whole(joined: str, n: int) -> str | None:
    """A joined column of ``n`` values kept joined (for a TextColumn), or None if it holds
    another number of them."""
    return joined if joined.count(queries.SEPARATOR) + 1 == n else None


def _text_column(clients: Sequence[str] | str, n_clients: int, contacts: Sequence[str] | str,
                 n_contacts: int) -> TextColumn:
    """One TextColumn of the clients' values then the contacts', each part joined or a list."""
    if isinstance(clients, str) and isinstance(contacts, str):
        parts = ([clients] if n_clients else []) + ([contacts] if n_contacts else [])
        column = TextColumn.joined(queries.SEPARATOR.join(parts), n_clients + n_contacts)
        if column is not None:
            return column

    def listed(values: Sequence[str] | str, n: int) -> list[str]:
        return (values.split(queries.SEPARATOR) if n else []) if isinstance(values, str) else list(values)

    return TextColumn(listed(clients, n_clients) + listed(contacts, n_contacts))


def _numbers(joined: str, n: int) -> np.ndarray | None:
    """A joined column of integers, or None if it does not hold ``n`` of them."""
    if joined.count(queries.SEPARATOR) + 1 != n:
        return None
    values = np.fromstring(joined, dtype=np.int64, sep=queries.SEPARATOR)
    return values if len(values) == n else None


def _ascending_ids(joined: str) -> np.ndarray | None:
    """The joined ids, if they are in ascending order (slots are found by bisecting them; the
    order a database joins values in is not promised, so it is checked)."""
    ids = _numbers(joined, joined.count(queries.SEPARATOR) + 1)
    if ids is None or (len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1]))):
        return None
    return ids


_STATE_CODES = bytes.maketrans(b"01", bytes([State.ACTIVE, State.INACTIVE]))


def _status_codes(joined: str) -> bytes:
    """A joined status column ("0" active, "1" inactive: ``queries.joined_client_names``) as one
    code a row; anything else shows as another byte, which the callers refuse."""
    return joined[::2].encode("ascii", "replace")


def release_free_memory() -> None:
    """Hand the heap freed by a big read back to the system (glibc only; elsewhere a no-op).

    Reading a million rows leaves hundreds of megabytes of freed but fragmented heap behind,
    in the arenas of the threads that read and parsed them; the list does not need it."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def _then_release(work):  # type: ignore[no-untyped-def]
    """``work()``, then its temporaries handed back (``release_free_memory``): for a thread whose
    work ends after the list is installed (the search index)."""
    try:
        return work()
    finally:
        release_free_memory()


class _InBackground:
    """``work()`` on a thread of its own; ``result()`` waits for it and returns or raises what it did."""

    def __init__(self, work, name: str = "search index") -> None:  # type: ignore[no-untyped-def]
        self._work = work
        self._value: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as error:  # noqa: BLE001  (raised again on the caller's thread)
            self._error = error
        self._work = None

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self):  # type: ignore[no-untyped-def]
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _client_keys(names: list[str] | None, search_keys: list[str] | None) -> list[str] | None:
    """``queries.joined_client_names`` and ``joined_client_search_keys`` as one list: ids, given
    names, family names, keys, versions, statuses. None if there are no clients; empty if the
    two reads found different clients (one was added or deleted between them)."""
    if names is None and search_keys is None:
        return None
    if names is None or search_keys is None or names[0] != search_keys[0]:
        return []
    ids, first, last, versions, statuses = names
    return [ids, first, last, search_keys[1], versions, statuses]


def _names_and_order(client_names: list[str] | None, contacts: ContactColumns,
                     pool: dict) -> tuple[tuple[list[str], list[str]] | None, np.ndarray]:  # type: ignore[type-arg]
    """From ``queries.joined_client_names`` and the contacts: the clients' given and family names
    (one object per distinct name, through ``pool``; None if a name held the separator) and
    every row's name order."""
    if client_names is None:
        names: tuple[list[str], list[str]] | None = ([], [])
    else:
        n_clients = client_names[0].count(queries.SEPARATOR) + 1
        first, last = _split(client_names[1], n_clients, pool), _split(client_names[2], n_clients, pool)
        names = (first, last) if first is not None and last is not None else None
    order = (_name_order(names[1] + contacts.last, names[0] + contacts.first) if names is not None
             else np.zeros(0, dtype=np.int32))
    return names, order


def _keys_and_index(handed: Future[TextColumn | None], held: list) -> SearchIndex | None:  # type: ignore[type-arg]
    """The keys' TextColumn, handed to the read through ``handed`` (None if it could not be
    made), then the search index of its bytes (None if a key held the separator: the list is
    then searched without it). ``held`` is [the clients' joined keys (``_client_keys``) or None,
    their number, the contacts' keys (joined, or a list), their number], emptied at once so
    that the keys' text is not kept while the index is built."""
    column = None
    try:
        client_keys, n_clients, contact_keys, n_contacts = held
        held.clear()
        column = _text_column(client_keys if n_clients else [], n_clients, contact_keys, n_contacts)
        del client_keys, contact_keys
        # (Taken before it is handed over: the window may change the column once it has it.)
        data, n = column.joined_bytes(), len(column)
    finally:
        handed.set_result(column)
    if not n or data is None:
        return SearchIndex.build([]) if not n else None
    try:
        return SearchIndex.from_joined(data, n)
    except ValueError:
        return None


def _after(first: _InBackground, work):  # type: ignore[no-untyped-def]
    """``work()`` once ``first`` is done, however it ended (its error is met by its own caller)."""
    with contextlib.suppress(Exception):
        first.result()
    return work()


def _client_columns(keys: list[str] | None, joined: list[str] | None, early: _InBackground,
                    pool: dict) -> ClientColumns | None:  # type: ignore[type-arg]
    """``_client_keys`` and ``queries.joined_client_columns`` as ClientColumns (None if they
    must be read row by row), with the names ``early`` (``_names_and_order``) split."""
    if keys is None or joined is None:
        if keys is None and joined is None:
            return ClientColumns([], [], [], [], [], [], [], b"", [], [], [])  # type: ignore[arg-type]
        return None
    if len(keys) != 6:
        return None
    ids_, preferred, dob, email, phone, clinician, versions = joined
    ids = _ascending_ids(ids_)
    if ids is None or keys[0] != ids_:
        return None
    n = len(ids)
    codes = _status_codes(keys[5])
    texts = (_split(preferred, n, pool), _split(dob, n, pool), _whole(email, n), _whole(phone, n),
             _whole(keys[3], n))
    numbers = (_numbers(clinician, n), _numbers(versions, n))
    if any(t is None for t in texts) or any(v is None for v in numbers) or len(codes) != n \
            or codes.strip(b"01"):
        return None
    clinicians = [c or None for c in numbers[0].tolist()]  # type: ignore[union-attr]
    # A row changed between the two reads has its names and key from before and the rest
    # from after: its version is made one no row has, so the next refresh reads it whole.
    read_first = _numbers(keys[4], n)
    if read_first is None:
        return None
    versions_ = np.where(read_first == numbers[1], numbers[1], -1)  # type: ignore[operator,arg-type]
    names = early.result()[0]  # made meanwhile on the other thread
    if names is None:
        return None
    first, last = names
    preferred_, dob_, email_, phone_, keys_ = texts
    return ClientColumns(ids, first, last, preferred_, dob_, email_, phone_,  # type: ignore[arg-type]
                         codes.translate(_STATE_CODES), clinicians, keys_, versions_)  # type: ignore[arg-type]


def _contact_columns(joined: list[str] | None, pool: dict) -> ContactColumns | None:  # type: ignore[type-arg]
    if joined is None:
        return ContactColumns([], [], [], [], [], [], [])
    ids_, first, last, email, phone, keys, versions = joined
    ids = _ascending_ids(ids_)
    if ids is None:
        return None
    n = len(ids)
    texts = (_split(first, n, pool), _split(last, n, pool), _whole(email, n), _whole(phone, n), _whole(keys, n))
    numbers = _numbers(versions, n)
    if any(t is None for t in texts) or numbers is None:
        return None
    first_, last_, email_, phone_, keys_ = texts
    return ContactColumns(ids, first_, last_, email_, phone_, keys_, numbers)  # type: ignore[arg-type]


class Roster:
    """Every client and contact the actor may see, searchable in memory."""

    def __init__(self, db: Database, actor: Actor) -> None:
        self.db = db
        self.actor = actor
        self._who = actor.visibility()
        self.installs = 0  # reads installed: slots of one name other rows in the next
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
        self.phone = TextColumn()
        self.email = TextColumn()
        self.clinician_ids: list[int | None] = []
        self.keys = TextColumn()
        # Slots [0, _n_clients) are clients and [_n_clients, _n_loaded) contacts,
        # each in ascending id order, so a slot is found by bisection; rows
        # that arrive later are appended and found through _extra.
        self._n_clients = 0
        self._n_loaded = 0
        self._extra: dict[tuple[int, int], int] = {}
        self._clinicians: dict[int, str] = {}
        self._watermark: int | None = None
        self._orders: dict[Column, np.ndarray] = {}
        self._positions: dict[Column, tuple[np.ndarray, np.ndarray]] = {}
        self._bases: dict[tuple[StatusFilter, Column, bool], np.ndarray] = {}
        self._matches: OrderedDict[tuple[str, ...], np.ndarray] = OrderedDict()
        self._index: SearchIndex | None = None
        self._dirty: set[int] = set()  # slots whose keys changed since the index was built
        self._index_coming: SearchIndex | _InBackground | None = None
        self._counts: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None
        # Bumped whenever cached orders become wrong, so orders computed on another
        # thread from older data are never adopted; keys_generation likewise for searches.
        self.generation = getattr(self, "generation", 0) + 1
        self.keys_generation = getattr(self, "keys_generation", 0) + 1

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def whole_practice(self) -> bool:
        """Whether this holds every client of the practice: read (not still loading), and
        for someone who sees them all."""
        return self._watermark is not None and not self._who.nobody and self._who.clinician_id is None

    def _forget_answers(self, *, orders: bool, keys: bool = True) -> None:
        if orders:
            self._orders.clear()
            self._positions.clear()
            self.generation += 1
        self._bases.clear()
        if keys:
            self._matches.clear()
            self.keys_generation += 1

    def fetch(self, first_screen: FirstScreen | None = None) -> RosterData:
        """Read everything the actor may see. Safe to call off the GUI thread.

        With ``first_screen``, the rows it asks for are read apart as soon as the name order
        is known and handed over while the rest is still being read (a million clients take
        seconds): the window paints them first."""
        _ = np.ndarray  # numpy imported (desktop/lazy.py) before the read holds the database
        if first_screen is None:
            return self._fetch(None, [])
        handed: list[bool] = []

        def hand_over(data: RosterData | None) -> None:
            if not handed:  # once, whatever happens (FirstScreen)
                handed.append(True)
                first_screen.deliver(data)

        helpers: list[_InBackground] = []
        try:
            return self._fetch(dataclasses.replace(first_screen, deliver=hand_over), helpers)
        finally:
            for helper in helpers:  # no session of this read outlives it, even when it failed
                with contextlib.suppress(Exception):
                    helper.result()
            hand_over(None)

    def _fetch(self, first_screen: FirstScreen | None, helpers: list[_InBackground]) -> RosterData:
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
            k = _contact_columns(queries.joined_contact_columns(s, who), pool)
            if k is None:  # a value holds the separator: row by row
                k = ContactColumns(*_columns(queries.contact_tuples(s, who), len(ContactColumns._fields),
                                             _SHARED_CONTACT_COLUMNS, pool))
            # The clients' keys first: their search index is built on another thread while the
            # database joins the other columns (which leaves the interpreter free meanwhile).
            # Each statement sees the database as it is when it runs: the watermark read above
            # makes the next refresh read again whatever changed in between, and a row added
            # or deleted in between shows as different ids, which are then read row by row.
            names = queries.joined_client_names(s, who)
            early = _InBackground(partial(_names_and_order, names, k, pool), "name order")
            showing = None if first_screen is None else _InBackground(
                partial(self._first_screen, first_screen, names, k.ids, early, clinicians), "first screen")
            if showing is not None:
                helpers.append(showing)
            keys = _client_keys(names, queries.joined_client_search_keys(s, who))
            del names
            # (After the name order: the first screen waits for that, and nothing for the index.)
            keys_column: Future[TextColumn | None] = Future()
            held = [keys[3] if keys else None, keys[0].count(queries.SEPARATOR) + 1 if keys else 0,
                    k.keys, len(k.ids)]
            indexing = _InBackground(partial(_then_release, partial(_after, early, partial(
                _keys_and_index, keys_column, held))))
            del held
            c = _client_columns(keys, queries.joined_client_columns(s, who), early, pool)
            del keys
            row_by_row = c is None
            if c is None:
                c = ClientColumns(*_columns(queries.client_tuples(s, who), len(ClientColumns._fields),
                                            _SHARED_CLIENT_COLUMNS, pool))
        del pool
        if showing is not None:
            showing.result()  # long done, as a rule: no session of this read outlives it
        if row_by_row:  # the names, order and index made early came from another read
            with contextlib.suppress(Exception):
                early.result()
                indexing.result()
            order = _name_order(c.last + k.last, c.first + k.first)
            indexing = _InBackground(partial(_then_release, partial(SearchIndex.build, list(c.keys) + list(k.keys))))
        else:
            order = early.result()[1]
        n_c, n_k = len(c.ids), len(k.ids)
        made = None if row_by_row else keys_column.result()  # (made with the index, from the same read)
        texts = (_text_column(c.email, n_c, k.email, n_k), _text_column(c.phone, n_c, k.phone, n_k),
                 made if made is not None and len(made) == n_c + n_k else _text_column(c.keys, n_c, k.keys, n_k))
        # The index is still being built: the list is shown without waiting for it.
        return RosterData(clinicians, c, k, watermark, order, indexing, texts)

    def _first_screen(self, wanted: FirstScreen, names: list[str] | None, contact_ids: Sequence[int],
                      early: _InBackground, clinicians: dict[int, str]) -> None:
        """``wanted``'s rows, from the clients' names read (``queries.joined_client_names``), the
        contacts' ids and the name order ``early`` makes, read whole in a session of their own.

        Only a help: anything unexpected (a name holding the separator, a failed read) and
        nothing is handed over; the whole list follows either way."""
        try:
            split_names, order = early.result()
            if split_names is None or not len(order):
                return
            n_clients = len(split_names[0])
            codes = _status_codes(names[4]) if names is not None else b""
            if len(codes) != n_clients or n_clients + len(contact_ids) != len(order):
                return
            states = np.frombuffer(codes.translate(_STATE_CODES) + bytes([State.CONTACT]) * len(contact_ids),
                                   dtype=np.uint8)
            ordered = order[::-1] if wanted.descending else order
            first = np.sort(ordered[_shown_np(wanted.status)[states[ordered]]][:wanted.rows])
            client_ids = (np.fromstring(names[0], dtype=np.int64, sep=queries.SEPARATOR) if names is not None
                          else np.zeros(0, dtype=np.int64))
            if len(client_ids) != n_clients or not len(first):
                return
            split = int(np.searchsorted(first, n_clients))
            chosen_clients = client_ids[first[:split]].tolist()
            chosen_contacts = [int(contact_ids[int(slot) - n_clients]) for slot in first[split:]]
            with self.db.reading() as s:
                c = ClientColumns(*_columns(queries.client_tuples(s, self._who, ids=chosen_clients),
                                            len(ClientColumns._fields)))
                k = ContactColumns(*_columns(queries.contact_tuples(s, self._who, ids=chosen_contacts),
                                             len(ContactColumns._fields)))
            wanted.deliver(RosterData(clinicians, c, k, watermark=0))
        except Exception:  # noqa: BLE001  (the whole list follows; a real fault is met there)
            pass

    def install(self, data: RosterData) -> None:
        """Replace what is held with ``data`` (column by column, no per-row calls)."""
        self._clear()
        self.installs += 1
        c, k = data.clients, data.contacts
        n_clients, n_contacts = len(c.ids), len(k.ids)
        self._clinicians = data.clinicians
        self.kind = bytearray([Kind.CLIENT]) * n_clients + bytearray([Kind.CONTACT]) * n_contacts
        states = c.status if isinstance(c.status, bytes) else bytes(_STATE_OF[v] for v in c.status)
        self.state = bytearray(states) + bytearray([State.CONTACT]) * n_contacts
        self.ids = _int64s(c.ids, k.ids)
        self.versions = _int64s(c.versions, k.versions)
        self.first = c.first + k.first
        self.last = c.last + k.last
        self.preferred = c.preferred + [""] * n_contacts
        self.dob = c.dob + [""] * n_contacts
        n_c, n_k = len(c.ids), len(k.ids)
        self.email, self.phone, self.keys = data.texts or (
            _text_column(c.email, n_c, k.email, n_k), _text_column(c.phone, n_c, k.phone, n_k),
            _text_column(c.keys, n_c, k.keys, n_k))
        self.clinician_ids = c.clinician_ids + [None] * n_contacts
        self._n_clients, self._n_loaded = n_clients, n_clients + n_contacts
        self._watermark = data.watermark
        if len(data.name_order) == len(self.ids):
            self._orders[Column.NAME] = data.name_order
        self._index_coming = data.index
        self._index_now()

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
            ids = np.frombuffer(self.ids, dtype=np.int64)
            kinds = np.frombuffer(self.kind, dtype=np.uint8)
            live = self._state_view() != State.GONE
            for kind, still in present.items():
                kept = np.fromiter(still, dtype=np.int64, count=len(still))
                gone = np.flatnonzero(live & (kinds == kind) & ~np.isin(ids, kept)).tolist()
                for slot in gone:
                    self._mark_gone(slot)
                if gone:
                    changes.add(Change.SORT_KEYS)
            del ids, kinds
        changes.discard(Change.NONE)
        if changes:
            self._forget_answers(orders=Change.SORT_KEYS in changes)
            if Change.SORT_KEYS not in changes:
                self._orders.pop(Column.STATUS, None)
                self._positions.pop(Column.STATUS, None)
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
        self._set_key(slot, key)
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
        self._set_key(slot, key)
        return Change.SORT_KEYS

    def _set_key(self, slot: int, key: str) -> None:
        if self.keys[slot] != key:
            self.keys[slot] = key
            if slot < self._n_loaded:  # the index (built or coming) holds its old key
                self._dirty.add(slot)

    def set_client_status(self, client_id: int, status: ClientStatus, version: int) -> None:
        """Record a status change this window made, without waiting for a refresh."""
        slot = self.slot_of(Kind.CLIENT, client_id)
        if slot is None:
            return
        self.state[slot] = _STATE_OF[status.value]
        self.versions[slot] = version
        self._orders.pop(Column.STATUS, None)
        self._positions.pop(Column.STATUS, None)
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
        """Active clients, inactive clients, contacts (counted again only after a change:
        every keystroke's status line asks, and a million rows take a few milliseconds)."""
        stamp = (self.generation, self.keys_generation, len(self.state))
        if self._counts is None or self._counts[0] != stamp:
            state = self.state
            self._counts = (stamp, (state.count(State.ACTIVE), state.count(State.INACTIVE),
                                    state.count(State.CONTACT)))
        return self._counts[1]

    # -------------------------------------------------------- filter and order

    def _state_view(self) -> np.ndarray:
        """The states as a numpy array sharing their memory (never kept: the bytearray grows)."""
        return np.frombuffer(self.state, dtype=np.uint8) if self.state else np.zeros(0, np.uint8)

    def _column_order(self, column: Column) -> np.ndarray:
        """All slots sorted by ``column`` ascending, ties in slot order.

        The order is that of ``_sort_keys`` (names by ``name_sort_key``, docs/rules.md,
        "Lists"), reached by ranking the few distinct values of a column (names, dates and
        clinicians repeat) and sorting the ranks with numpy, instead of sorting a million
        strings one comparison at a time.
        """
        # On a pool thread the GUI thread may add rows meanwhile (a refresh): every column is
        # cut to the rows there were at the start, copies are taken, and nothing is cached
        # here (``adopt_orders`` drops the result if anything changed).
        n = len(self.ids)
        if column is Column.NAME:
            return _name_order(self.last[:n], self.first[:n])
        if column in (Column.TYPE, Column.STATUS):
            name_order = self._orders.get(Column.NAME)
            if name_order is None or len(name_order) != n:
                name_order = _name_order(self.last[:n], self.first[:n])
            position = np.empty(n, dtype=np.int32)
            position[name_order] = np.arange(n, dtype=np.int32)
            # A copy (bytes), not a view: the bytearray may grow on the GUI thread meanwhile.
            prefix = np.frombuffer(bytes(self.kind if column is Column.TYPE else self.state), dtype=np.uint8)
            return np.lexsort((position, prefix[:n])).astype(np.int32)
        if column is Column.CLINICIAN:
            clinicians = {cid: fold(name) for cid, name in dict(self._clinicians).items()}
            ranks = _ranks(self.clinician_ids[:n], lambda c: clinicians.get(c, LAST) if c is not None else LAST)
            return np.argsort(ranks, kind="stable").astype(np.int32)
        if column is Column.DATE_OF_BIRTH:
            ranks = _ranks(self.dob[:n], lambda v: v or LAST)
            return np.argsort(ranks, kind="stable").astype(np.int32)
        values = self.phone if column is Column.PHONE else self.email
        return _unique_text_order(values, n)

    def _sort_keys(self, column: Column, slots: Sequence[int] | None = None) -> list[str]:
        """The sort keys of ``slots`` (all slots if None) for ``column``; empty values sort last.

        What every order means, one string per row; the orders themselves are computed
        without building these (``_column_order``), and the tests hold the two to each other.
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
            return [clinicians.get(c, LAST) if c is not None else LAST
                    for c in pick(self.clinician_ids)]
        values = {Column.DATE_OF_BIRTH: self.dob, Column.PHONE: self.phone,
                  Column.EMAIL: self.email}[column]
        return [v.casefold() if v else LAST for v in pick(values)]

    def has_order(self, column: Column) -> bool:
        """Whether ``column``'s order is made (a sort by it costs milliseconds, not seconds)."""
        cached = self._orders.get(column)
        return cached is not None and len(cached) == len(self.ids)

    def compute_orders(self, columns: Sequence[Column] = tuple(Column),
                       pause: Callable[[], None] | None = None) -> tuple[int, dict[Column, np.ndarray]]:
        """The orders of ``columns`` (every column) not yet made, for a pool thread to prepare
        ahead of a click, or while a click waits for one; ``pause()`` is called before each."""
        generation = self.generation
        orders = {}
        for column in columns:
            if pause is not None:
                pause()
            if not self.has_order(column):
                orders[column] = self._column_order(column)
        return generation, orders

    def adopt_orders(self, generation: int, orders: dict[Column, np.ndarray]) -> None:
        """Take orders from ``compute_orders`` if nothing changed meanwhile."""
        if generation != self.generation:
            return
        for column, order in orders.items():
            if len(order) == len(self.ids):
                self._orders.setdefault(column, order)

    def order(self, column: Column) -> np.ndarray:
        """All slots sorted by ``column`` ascending (cached until the data changes)."""
        cached = self._orders.get(column)
        if cached is None or len(cached) != len(self.ids):
            cached = self._column_order(column)
            self._orders[column] = cached
        return cached

    def _rank(self, column: Column) -> np.ndarray:
        """Where each slot stands in ``order(column)`` (its inverse; cached with it)."""
        order = self.order(column)
        cached = self._positions.get(column)
        if cached is None or cached[0] is not order:
            position = np.empty(len(order), dtype=np.int32)
            position[order] = np.arange(len(order), dtype=np.int32)
            cached = (order, position)
            self._positions[column] = cached
        return cached[1]

    def _base(self, status: StatusFilter, column: Column, descending: bool) -> np.ndarray:
        """Every slot the status filter shows, in display order (cached)."""
        cache_key = (status, column, descending)
        cached = self._bases.get(cache_key)
        if cached is not None:
            return cached
        order = self.order(column)
        if descending:
            order = order[::-1]
        if status is StatusFilter.ALL and State.GONE not in self.state:
            base = order
        else:
            base = order[_shown_np(status)[self._state_view()[order]]]
        if len(self._bases) >= BASES_KEPT:
            self._bases.pop(next(iter(self._bases)))
        self._bases[cache_key] = base
        return base

    def _project(self, matched: np.ndarray, status: StatusFilter, column: Column,
                 descending: bool) -> np.ndarray:
        """``matched`` (slots, any order) narrowed to the status filter, in display order."""
        rows = matched[_shown_np(status)[self._state_view()[matched]]]
        if len(rows) <= FEW_MATCHES * len(self.ids):
            ranked = rows[np.argsort(self._rank(column)[rows])]
            return ranked[::-1] if descending else ranked
        mask = np.zeros(len(self.ids), dtype=bool)
        mask[rows] = True
        base = self._base(status, column, descending)
        return base[mask[base]]

    # ------------------------------------------------------------------ search

    def _index_now(self) -> SearchIndex | None:
        coming = self._index_coming
        if isinstance(coming, _InBackground) and coming.done:
            try:
                coming = coming.result()
            except Exception:  # noqa: BLE001  (only a help: the list is searched without it)
                self._index_coming = coming = None
        if isinstance(coming, SearchIndex):
            self._index_coming = None
            if len(coming) == self._n_loaded:  # built from the rows installed
                self._index = coming
        if self._index is not None and len(self._dirty) > DIRTY_REBUILD:
            self._index = None  # too much has changed since it was built: every row is checked
        return self._index

    def _candidates(self, tokens: Sequence[str]) -> np.ndarray:
        """A mask over every slot: the rows that may hold every token (the index's, plus rows
        whose keys changed since it was built)."""
        n = len(self.ids)
        index = self._index_now()
        if index is None:
            return np.ones(n, dtype=bool)
        mask = np.ones(n, dtype=bool)
        mask[:len(index)] = index.candidates(tokens)
        if self._dirty:
            mask[np.fromiter(self._dirty, dtype=np.int64, count=len(self._dirty))] = True
        return mask

    def _superset(self, tokens: tuple[str, ...]) -> tuple[np.ndarray | None, list[str]]:
        """The smallest remembered answer that holds every answer to ``tokens`` (one whose every
        word lives inside a word typed now), and the words it was not searched for."""
        source: np.ndarray | None = None
        pending = list(tokens)
        for old_tokens, old in self._matches.items():
            if (source is None or len(old) < len(source)) and all(
                    any(o in t for t in tokens) for o in old_tokens):
                source = old
                pending = [t for t in tokens if t not in old_tokens]
        return source, pending

    def _remember(self, tokens: tuple[str, ...], found: np.ndarray) -> np.ndarray:
        self._matches[tokens] = found
        total = sum(len(a) for a in self._matches.values())
        limit = max(MATCH_CACHE_FLOOR, MATCH_CACHE_ROSTERS * len(self.ids))
        while total > limit and len(self._matches) > 1:
            total -= len(self._matches.popitem(last=False)[1])
        return found

    def _matching(self, tokens: tuple[str, ...]) -> np.ndarray:
        """Slots (ascending) whose key holds every token, found now; remembered by tokens."""
        found = self._matches.get(tokens)
        if found is not None:
            self._matches.move_to_end(tokens)
            return found
        job = self._job(tokens)
        while not job.step(job.count):
            pass
        return self._remember(tokens, job.result())

    def _job(self, tokens: tuple[str, ...]) -> MatchJob:
        source, pending = self._superset(tokens)
        if source is not None and not pending:
            return MatchJob(self, tokens, source, [])
        candidates = self._candidates(pending or list(tokens))
        if source is not None:
            return MatchJob(self, tokens, source[candidates[source]], pending)
        return MatchJob(self, tokens, None, list(tokens), mask=candidates)

    def adopt(self, job: MatchJob) -> bool:
        """Remember what a finished ``MatchJob`` found, if the keys are as they were when it began."""
        if job.keys_generation != self.keys_generation or not job.done:
            return False
        self._remember(job.tokens, job.result())
        return True

    def search(self, status: StatusFilter | str = StatusFilter.ACTIVE, query: str = "",
               column: Column = Column.NAME, descending: bool = False,
               need: int | None = None) -> Answer:
        """The rows to show for a status filter and what was typed, in display order
        (docs/rules.md, "Lists").

        With ``need``, an answer that would take long to find whole (a word most rows hold,
        such as the first letter typed) is found only as far as the first ``need`` rows in
        display order, which is all a screen shows, with an estimate of how many there are;
        ``Answer.job`` then finds the rest a slice at a time (``MatchJob.step``).
        """
        status = StatusFilter(status)
        tokens = tuple(query_tokens(query))
        if not tokens:
            base = self._base(status, column, descending)
            return Answer(base, True, len(base))
        found = self._matches.get(tokens)
        if found is None:
            job = self._job(tokens)
            if need is None or job.count <= CHECK_AT_ONCE:
                job.step(job.count)
                found = self._remember(tokens, job.result())
            else:
                return self._walk(job, self._base(status, column, descending), need, status)
        else:
            self._matches.move_to_end(tokens)
        rows = self._project(found, status, column, descending)
        return Answer(rows, True, len(rows))

    def _shown_count(self, mask: np.ndarray, status: StatusFilter) -> int:
        """How many of the slots in ``mask`` the status filter shows."""
        if status is StatusFilter.ALL and State.GONE not in self.state:
            return int(np.count_nonzero(mask))
        return int(np.count_nonzero(mask & _shown_np(status)[self._state_view()]))

    def _walk(self, job: MatchJob, base: np.ndarray, need: int, status: StatusFilter) -> Answer:
        """The first ``need`` matches in display order, found by walking ``base`` and checking
        only the job's candidates, with an estimate of how many there are in all. When matches
        are so rare among the candidates that the walk would check more than WALK_BUDGET, it
        stops with what it has (perhaps nothing yet, ``estimate`` None): the job finds the
        rest while the window is idle, rather than holding up the keystroke."""
        mask = job.mask
        found: list[int] = []
        checked = 0
        for start in range(0, len(base), WALK_SLICE):
            part = base[start:start + WALK_SLICE]
            slots = part[mask[part]].tolist()
            checked += len(slots)
            found += _holding(self.keys, slots, job.words)
            if len(found) >= need:
                # The share of candidates that held the words so far, of all candidates shown.
                # (Not of the rows walked: in name order, like names come together.)
                estimate = round(len(found) / checked * self._shown_count(mask, status))
                return Answer(np.array(found, dtype=np.int32), False, max(estimate, len(found)), job)
            if checked > WALK_BUDGET:
                return Answer(np.array(found, dtype=np.int32), False, None, job)
        return Answer(np.array(found, dtype=np.int32), True, len(found))

    def filter(self, status: StatusFilter | str = StatusFilter.ACTIVE, query: str = "",
               column: Column = Column.NAME, descending: bool = False) -> np.ndarray:
        """The slots matching the status filter and every typed word, in display order."""
        return self.search(status, query, column, descending).slots

    def shows(self, slot: int, status: StatusFilter | str, query: str) -> bool:
        """Whether ``slot`` is among the rows the status filter and ``query`` show."""
        key = self.keys[slot]
        return bool(_SHOWN[StatusFilter(status)][self.state[slot]]) and all(
            token in key for token in query_tokens(query))

    def clients_among(self, slots: np.ndarray) -> np.ndarray:
        """Those of ``slots`` that are clients (not contacts), in the same order."""
        return slots[np.frombuffer(self.kind, dtype=np.uint8)[slots] == Kind.CLIENT]

    def kinds_of(self, slots: np.ndarray) -> tuple[int, int]:
        """How many of ``slots`` are clients, and how many contacts."""
        if not len(slots):
            return 0, 0
        kinds = np.frombuffer(self.kind, dtype=np.uint8)[slots]
        clients = int(np.count_nonzero(kinds == Kind.CLIENT))
        return clients, len(slots) - clients


def _holding(keys: Sequence[str], slots: list[int], words: Sequence[str]) -> list[int]:
    """Those of ``slots`` whose key holds every one of ``words`` (a loop in C per word)."""
    for word in words:
        if not slots:
            break
        slots = holding(keys, slots, word)
    return slots


class MatchJob:
    """Finding every slot whose key holds ``tokens``, a slice of candidates at a time.

    ``candidates`` (ascending slots) are the rows the search index let through, or a
    remembered answer to fewer letters; only ``words`` remain to be checked in them.
    """

    def __init__(self, roster: Roster, tokens: tuple[str, ...], candidates: np.ndarray | None,
                 words: list[str], *, mask: np.ndarray | None = None) -> None:
        self.roster = roster
        self.tokens = tokens
        self._candidates = candidates
        self._mask = mask
        if candidates is None and mask is None:
            raise ValueError("a MatchJob needs its candidates, as slots or as a mask")
        self.count = len(candidates) if candidates is not None else int(np.count_nonzero(mask))  # type: ignore[arg-type]
        self.words = words
        self.keys_generation = roster.keys_generation
        self._next = 0
        self._found: list[np.ndarray] = []

    @property
    def candidates(self) -> np.ndarray:
        """The candidate slots, ascending (made from the mask when first needed)."""
        if self._candidates is None:
            self._candidates = np.flatnonzero(self._mask).astype(np.int32)  # type: ignore[arg-type]
        return self._candidates

    @property
    def mask(self) -> np.ndarray:
        """The candidates as a mask over every slot."""
        if self._mask is None:
            self._mask = np.zeros(len(self.roster.ids), dtype=bool)
            self._mask[self.candidates] = True
        return self._mask

    @property
    def done(self) -> bool:
        return self._next >= self.count

    def step(self, limit: int = JOB_SLICE) -> bool:
        """Check up to ``limit`` more candidates; True once all are checked. A job whose
        roster's keys changed meanwhile stops (``Roster.adopt`` then refuses it)."""
        if self.keys_generation != self.roster.keys_generation:
            self._next = len(self.candidates)
            return True
        keys = self.roster.keys
        while not self.done and limit > 0:
            take = min(limit, JOB_SLICE)
            part = self.candidates[self._next:self._next + take]
            if self.words:
                part = np.array(_holding(keys, part.tolist(), self.words), dtype=np.int32)
            self._found.append(part)
            self._next += take
            limit -= take
        return self.done

    def result(self) -> np.ndarray:
        return np.concatenate(self._found) if self._found else np.zeros(0, dtype=np.int32)


# Loops that run in C hold the interpreter for their whole length; on a pool thread they
# are cut into pieces this long, so the window's thread waits for the lock at most a few
# milliseconds while orders are prepared (benchmarks/list_filter.py, a million clients).
PIECE = 32_768


def _distinct(values: Sequence) -> set:  # type: ignore[type-arg]
    """The distinct ``values``, gathered a piece at a time: one ``set()`` of a million values
    holds the interpreter for tens of milliseconds, and the window's thread waits for it."""
    distinct: set = set()  # type: ignore[type-arg]
    for start in range(0, len(values), PIECE):
        distinct.update(values[start:start + PIECE])
    return distinct


def _ranks(values: Sequence, key) -> np.ndarray:  # type: ignore[no-untyped-def,type-arg]
    """Each value's rank by ``key`` (equal keys, equal ranks), with the key made once a distinct value."""
    keyed = {v: key(v) for v in _distinct(values)}
    rank_of_key = {k: i for i, k in enumerate(sorted(set(keyed.values())))}
    rank = {v: rank_of_key[k] for v, k in keyed.items()}
    ranks = np.empty(len(values), dtype=np.int32)
    for start in range(0, len(values), PIECE):
        piece = values[start:start + PIECE]
        ranks[start:start + len(piece)] = np.fromiter(map(rank.__getitem__, piece), dtype=np.int32,
                                                      count=len(piece))
    return ranks


def _rank_pairs(values: Sequence[str], one, other) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Each value's rank by ``one`` and by ``other``, like two ``_ranks`` but with one pass over
    the values: each distinct value is numbered, ranked both ways, and the numbers mapped."""
    distinct = list(_distinct(values))
    number = {v: i for i, v in enumerate(distinct)}
    numbers = np.empty(len(values), dtype=np.int32)
    for start in range(0, len(values), PIECE):
        piece = values[start:start + PIECE]
        numbers[start:start + len(piece)] = np.fromiter(map(number.__getitem__, piece), dtype=np.int32,
                                                        count=len(piece))
    ranked = []
    for key in (one, other):
        keys = [key(v) for v in distinct]
        rank_of_key = {k: i for i, k in enumerate(sorted(set(keys)))}
        ranked.append(np.fromiter(map(rank_of_key.__getitem__, keys), dtype=np.int32, count=len(keys))[numbers])
    return ranked[0], ranked[1]


def _name_order(last: Sequence[str], first: Sequence[str]) -> np.ndarray:
    """Slots in ``name_sort_key`` order: folded family name, folded given name, then their
    case-folded spellings, ties in slot order (the key compares those four in turn)."""
    if not last:
        return np.zeros(0, dtype=np.int32)
    first_folded, first_cased = _rank_pairs(first, fold, str.casefold)
    last_folded, last_cased = _rank_pairs(last, fold, str.casefold)
    return np.lexsort((first_cased, last_cased, first_folded, last_folded)).astype(np.int32)


UNIQUE_TEXT_WIDTH = 64


def _unique_text_order(values: Sequence[str], n: int) -> np.ndarray:
    """Slots ordered by ``v.casefold()``, empty values last, ties in slot order: by their UTF-8
    bytes (whose order is the code points'), sorted by numpy, which leaves the interpreter
    free meanwhile. Values longer than any sensible phone or email fall back to Python."""
    if isinstance(values, TextColumn):
        folded = [v or LAST_BYTES for v in values.casefolded(n)]
    else:
        folded = [v.casefold().encode("utf-8", "surrogatepass") if v else LAST_BYTES for v in values[:n]]
    # (Each step a piece at a time, its end included: freeing a million values at once holds
    # the interpreter as long as making them.)
    if max((max(map(len, folded[start:start + PIECE])) for start in range(0, n, PIECE)),
           default=0) > UNIQUE_TEXT_WIDTH:
        return np.array(sorted(range(n), key=folded.__getitem__), dtype=np.int32)
    array_ = np.empty(n, dtype=f"S{UNIQUE_TEXT_WIDTH}")
    for start in range(0, n, PIECE):
        array_[start:start + PIECE] = folded[start:start + PIECE]
    while folded:
        del folded[-PIECE:]
    return np.argsort(array_, kind="stable").astype(np.int32)
