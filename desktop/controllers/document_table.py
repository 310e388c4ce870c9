"""A period's billing documents as columns of numbers, for the Billing page.

A month of a practice of a million clients holds over a million superbills and
statements. As one ``DocumentRow`` each (a ``Decimal``, two dates, an aware
datetime and a name) that took 84 s to read and 1.9 GB to hold. Here every
column is one numpy array: eight numbers a document, about 40 bytes, and each
client's name is kept once however many documents they have. A ``DocumentRow``
is made only for a row someone looks at (``row``).

Sorting a column is one stable numpy sort of integer keys (the client's name by
its rank among the names); the name filter finds the typed text in one joined
text of the case-folded names, a vectorised byte comparison, and maps the hits
to documents through each document's client. The rules are those the page had
before (docs/rules.md, "Billing"): the client column sorts and filters by the
case-folded display name, and rows with equal keys keep the base order, oldest
period first, then by number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from enum import IntEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from desktop.controllers.text_column import TextColumn
from desktop.domain.models import DocumentKind
from desktop.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy", __name__, "np")

SUPERBILL, STATEMENT = 1, 0  # ``kinds``: statements sort before superbills, as their names do
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY_ZERO = dt.date(1970, 1, 1).toordinal()
_DAYS_OFFSET = 2**21  # added to days since 1970 (0001-01-01 to 9999-12-31) to make them 0 to 2**23
_SEP = b"\x1f"  # after every name in the joined text; no typed text holds it
PIECE = 32_768  # names handled by one call in C (which holds the interpreter meanwhile)
MANY_HITS = 20_000  # places the typed text was found, above which ``named`` marks bytes
RANKED_WIDTH = 200  # bytes: names as long (two fields of 100 characters) are ranked by Python


class Key(IntEnum):
    """What the page's columns sort by, in the page's column order."""

    NUMBER = 0
    KIND = 1
    CLIENT = 2
    PERIOD = 3
    CREATED = 4
    MADE = 5
    AMOUNT = 6


TWO_VALUED = (Key.KIND, Key.MADE)  # columns of two values (0 and 1): their orders are not kept


class DocumentTable:
    """Documents, one per index, in the base order (oldest period first, then by number).

    Built by ``build`` from the database's columns, on the thread that read them. Read-only
    afterwards, except for the sort orders, which are made when first asked for and kept.
    """

    def __init__(self, ids: np.ndarray, kinds: np.ndarray, clients: np.ndarray, starts: np.ndarray,
                 ends: np.ndarray, cents: np.ndarray, automatic: np.ndarray, created: np.ndarray,
                 client_ids: np.ndarray, names: Sequence[str], tz: ZoneInfo) -> None:
        self.ids = ids  # int32, or int64 if a number needs it (``_narrowest``)
        self.kinds = kinds  # uint8: SUPERBILL or STATEMENT
        self.clients = clients  # int32: the document's client, an index into ``client_ids``
        self.starts = starts  # the period's first day, days since 1970-01-01: int16 (1880-2059) or wider
        self.ends = ends  # its last day
        self.cents = cents  # the amount in cents: int32, or int64 if one needs it
        self.automatic = automatic  # bool
        self.created = created  # int64: microseconds since 1970, UTC
        self.client_ids = client_ids  # int64, ascending
        self.names = TextColumn(names)  # each client's display name, joined (a third of the memory)
        self.tz = tz
        folded = [client_key(name) for name in names]
        lengths = np.fromiter(map(len, folded), dtype=np.int64, count=len(folded)) + 1
        self._folded = np.frombuffer(_SEP.join(folded) + _SEP if folded else b"", dtype=np.uint8)
        self._name_starts = np.zeros(len(folded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self._name_starts[1:])
        self._name_ranks = _ranks(folded)  # the Client column's key
        del folded
        self._orders: dict[Key, np.ndarray] = {}
        self._descending: tuple[Key, np.ndarray] | None = None
        self._totals: tuple[int, int, int] | None = None
        self._byte_counts: np.ndarray | None = None  # how often each byte is in the names

    # ------------------------------------------------------------------ making

    @classmethod
    def empty(cls, tz: ZoneInfo) -> DocumentTable:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none.astype(np.uint8), none.astype(np.int32), none.astype(np.int32),
                   none.astype(np.int32), none, none.astype(bool), none, none, [], tz)

    @classmethod
    def build(cls, documents: Iterable[Sequence[Sequence[int]]],
              names: Callable[[list[int]], Iterable[tuple[int, str]]],
              tz: ZoneInfo, only: Sequence[int] | None = None) -> DocumentTable:
        """From batches of rows of eight integers each: id, 1 for a superbill (0 for a
        statement), client id, the period's first and last day (days since 1970-01-01),
        cents, 1 if automatic, and when it was made (microseconds since 1970, UTC); and
        ``names``, which gives the (id, display name) of the clients whose ids (ascending) it
        is given. ``only``: keep just these documents.

        Each batch becomes one array in one call in C: a row of plain integers is cheap to
        convert, where dates as text, or the database library's own row objects, cost
        several times the read."""
        parts: list[np.ndarray] = []
        for batch in documents:
            if len(batch):
                parts.append(np.array(batch, dtype=np.int64).reshape(-1, 8))
        if not parts:
            return cls.empty(tz)
        whole = np.concatenate(parts) if len(parts) > 1 else parts[0]
        del parts
        # Oldest period first, then by number. The rows mostly come in the numbers' order (SQLite
        # visits a period's documents so); then a stable sort by the first day alone is enough.
        numbers = whole[:, 0]
        if np.all(numbers[1:] > numbers[:-1]):
            base = np.argsort(whole[:, 3], kind="stable")
        else:
            base = np.lexsort((numbers, whole[:, 3]))
        del numbers
        if only is not None:
            base = base[np.isin(whole[base, 0], np.asarray(only, dtype=np.int64))]
        whole = whole[base]
        del base
        ids, cents = _narrowest(whole[:, 0]), _narrowest(whole[:, 5])
        client_of, created = whole[:, 2].copy(), whole[:, 7].copy()
        kinds, automatic = whole[:, 1].astype(np.uint8), whole[:, 6].astype(bool)
        starts, ends = _narrowest(whole[:, 3], np.int16), _narrowest(whole[:, 4], np.int16)
        del whole
        client_ids, clients = _numbered(client_of)
        # The clients' names, asked for in id order, as ``client_ids`` is. (A client deleted
        # between the two reads has no name: shown as its number.)
        asked = client_ids.tolist()
        place = {cid: i for i, cid in enumerate(asked)}
        shown = [f"#{cid}" for cid in asked]
        for cid, name in names(asked):
            shown[place[cid]] = name
        del place
        return cls(ids, kinds, clients, starts, ends, cents, automatic, created, client_ids, shown, tz)

    # ----------------------------------------------------------------- reading

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, index: int) -> Any:
        """Document ``index`` as the controller's ``DocumentRow``."""
        from desktop.controllers.billing import DocumentRow  # (billing imports this module)

        created = _EPOCH + dt.timedelta(microseconds=int(self.created[index]))
        return DocumentRow(
            int(self.ids[index]),
            DocumentKind.SUPERBILL if self.kinds[index] == SUPERBILL else DocumentKind.STATEMENT,
            int(self.client_ids[self.clients[index]]), self.names[self.clients[index]],
            _date(self.starts[index]), _date(self.ends[index]), Decimal(int(self.cents[index])) / 100,
            bool(self.automatic[index]), created.astimezone(self.tz))

    def index_of(self, document_id: int) -> int | None:
        found = np.flatnonzero(self.ids == document_id)
        return int(found[0]) if len(found) else None

    def prepare_orders(self) -> None:
        """Make every column's order now (on the reading thread), so that a click on a header
        costs the window only the reversal below: a stable sort of a million keys takes about
        a tenth of a second. (Kind and Made, of two values each, are ordered on the spot.)"""
        for key in Key:
            if key not in TWO_VALUED:
                self.order(key)

    def order(self, key: Key, descending: bool = False) -> np.ndarray:
        """Every index sorted by ``key``; rows with equal keys in the base order either way."""
        ascending = self._orders.get(key)
        if ascending is None and key in TWO_VALUED:
            # Made when asked, not kept: a pass over the column (milliseconds), where a kept order
            # would hold four bytes a document.
            zero = self._key(key) == 0
            ascending = np.concatenate((np.flatnonzero(zero), np.flatnonzero(~zero))).astype(np.int32)
        elif ascending is None:
            ascending = self._orders[key] = np.argsort(self._key(key), kind="stable").astype(np.int32)
        if not descending:
            return ascending
        if self._descending is not None and self._descending[0] is key:
            return self._descending[1]
        # The ascending order's runs of equal keys, last run first, each run as it was.
        n = len(ascending)
        keys = self._key(key)[ascending]
        run_starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if n else ascending
        run_ends = np.append(run_starts[1:], n)
        run = np.repeat(np.arange(len(run_starts)), run_ends - run_starts)
        placed = np.empty(n, dtype=np.int32)
        placed[(n - run_ends[run]) + (np.arange(n) - run_starts[run])] = ascending
        self._descending = (key, placed)  # (one kept: each is as large as the table's ids)
        return placed

    def _key(self, key: Key) -> np.ndarray:
        if key is Key.NUMBER:
            return self.ids
        if key is Key.KIND:
            return self.kinds
        if key is Key.CLIENT:
            return self._name_ranks[self.clients]
        if key is Key.PERIOD:  # (days made positive first: a period before 1970 has negative ones)
            return ((self.starts.astype(np.int64) + _DAYS_OFFSET) << 23) | (self.ends.astype(np.int64) + _DAYS_OFFSET)
        if key is Key.CREATED:
            return self.created
        if key is Key.MADE:
            return self.automatic.astype(np.uint8)
        return self.cents

    def named(self, text: str) -> np.ndarray:
        """Which documents' client has ``text`` (case-folded) in their display name: a mask."""
        needle = client_key(text)
        if not needle:
            return np.ones(len(self), dtype=bool)
        clients = np.zeros(len(self.names), dtype=bool)
        hay = self._folded
        if _SEP not in needle and len(hay) >= len(needle):
            # Where the text could start, found by its rarest byte (fewest places to check after).
            counts = self._byte_counts
            if counts is None:
                counts = self._byte_counts = np.bincount(hay, minlength=256)
            rarest = min(range(len(needle)), key=lambda i: counts[needle[i]])
            at = np.flatnonzero(hay[rarest:len(hay) - len(needle) + 1 + rarest] == needle[rarest])
            for offset, byte in enumerate(needle):
                if offset != rarest:
                    at = at[hay[at + offset] == byte]
            if len(at) < MANY_HITS:
                clients[np.searchsorted(self._name_starts, at, side="right") - 1] = True
            elif len(clients):  # (a letter most names hold: marking the bytes is cheaper than looking each up)
                hit = np.zeros(len(hay), dtype=bool)
                hit[at] = True
                clients = np.logical_or.reduceat(hit, self._name_starts[:-1])
        return clients[self.clients]

    def of_kind(self, kind: DocumentKind) -> np.ndarray:
        return self.kinds == (SUPERBILL if kind is DocumentKind.SUPERBILL else STATEMENT)

    def counts(self, keep: np.ndarray | None = None) -> tuple[int, int, Decimal]:
        """Superbills, statements and their total amount among the documents ``keep`` (a mask)
        lets through, or all of them. (Counted through the mask: picking a million documents
        out by their indexes first would cost a keystroke three times as much.)"""
        if keep is None:
            if self._totals is None:
                superbills = int(np.count_nonzero(self.kinds == SUPERBILL))
                self._totals = (superbills, len(self) - superbills, int(self.cents.sum(dtype=np.int64)))
            superbills, statements, cents = self._totals
        else:
            shown = int(np.count_nonzero(keep))
            superbills = int(np.count_nonzero(keep & (self.kinds == SUPERBILL)))
            statements = shown - superbills
            cents = int(np.sum(self.cents, where=keep, dtype=np.int64))
        return superbills, statements, Decimal(cents) / 100


def client_key(name: str) -> bytes:
    """What the Client column sorts by (in byte order) and its filter looks in: the display
    name case-folded, as UTF-8 (whose byte order is the code points')."""
    return name.casefold().encode("utf-8", "surrogatepass")


def _narrowest(column: np.ndarray, narrow: Any = None) -> np.ndarray:
    """A copy of an int64 column in the narrowest of ``narrow`` (if given), int32 and int64 that
    holds every value: a million documents' column of four bytes instead of eight is 4 MB less."""
    low, high = (int(column.min()), int(column.max())) if len(column) else (0, 0)
    for kind in (narrow, np.int32):
        if kind is not None and np.iinfo(kind).min <= low and high <= np.iinfo(kind).max:
            return column.astype(kind)
    return column.copy()


def _numbered(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``values`` ascending, and each value's place among them (int32). Client
    numbers are dense: marked in an array as long as their span, where a sort of a million
    would take a tenth of a second more."""
    if not len(values):
        return values, values.astype(np.int32)
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span > 4 * len(values) + 4096:
        distinct = np.unique(values)
        return distinct, np.searchsorted(distinct, values).astype(np.int32)
    offsets = values - low
    present = np.zeros(span, dtype=bool)
    present[offsets] = True
    place = np.cumsum(present, dtype=np.int32) - 1
    return np.flatnonzero(present).astype(np.int64) + low, place[offsets]


def _ranks(values: list[bytes]) -> np.ndarray:
    """Each value's rank in byte order (equal values, equal ranks; UTF-8's byte order is the
    code points'). Sorted by numpy, which leaves the interpreter, and so the window, free
    meanwhile: ``sorted`` of a million names would hold it for a second. The fixed-width
    array is filled a piece at a time for the same reason; names wider than any real one
    are ranked by Python."""
    width = max((max(map(len, values[i:i + PIECE])) for i in range(0, len(values), PIECE)), default=1)
    if width > RANKED_WIDTH:
        rank_of = {name: rank for rank, name in enumerate(sorted(set(values)))}
        return np.fromiter(map(rank_of.__getitem__, values), dtype=np.int32, count=len(values))
    fixed = np.empty(len(values), dtype=f"S{max(width, 1)}")
    for start in range(0, len(values), PIECE):
        fixed[start:start + PIECE] = values[start:start + PIECE]
    # (No value ends in a NUL byte, which the fixed width would drop: names hold none.)
    return np.unique(fixed, return_inverse=True)[1].astype(np.int32).reshape(-1)


def _date(days: Any) -> dt.date:
    return dt.date.fromordinal(_DAY_ZERO + int(days))
