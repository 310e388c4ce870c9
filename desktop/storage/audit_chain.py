"""The audit log as a hash chain: appending to it, and checking it (docs/rules.md, "Audit").

Every audit row has a position ``seq`` (1, 2, 3… with no gaps), the hash of the
row before it (``prev_hash``; 32 zero bytes before the first) and its own hash::

    row_hash = SHA-256(prev_hash ‖ canonical(seq, time, actor, action, target, outcome, details, operation))

``canonical`` is a JSON array with sorted keys and no spaces, so the same fields
always give the same bytes on SQLite and on PostgreSQL.

**Appending.** The controllers' ``audit()`` queues rows on the session, and
the transaction writes them last, just before it commits (``add_queued``; a
row added to a session directly is chained by its flush instead). ``append``
locks the one-row ``audit_chain_head`` (PostgreSQL ``SELECT … FOR UPDATE``; on
SQLite a write to it takes the file's write lock first), numbers the rows
after the head, and moves the head, all in the writer's own transaction.
Appends are therefore serialized across workstations, the chain never forks,
and a rolled-back operation leaves no gap (its numbers were never committed).
Every writer holds the head until it commits, so it is taken last and held
for two statements.

**Checking.** ``verify`` reads the rows in ``seq`` order and recomputes every
hash, then compares the end with the head row and with every anchor (a
position and hash kept outside the database, ``desktop.storage.anchors``). It
names the first entry that fails and how: *changed* (its fields no longer give
its hash), *missing* (a number is skipped, or the log ends before the head),
*inserted* (a row that is not linked into the chain), *out of order* (two
entries exchanged), or *shorter than the anchor* (a log cut back and rebuilt,
which only a copy of the head kept elsewhere can reveal).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, event, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import instance_state

from desktop.domain.models import AuditChainHead, AuditEvent, Outcome, utcnow

GENESIS = bytes(32)
PENDING = "audit_pending"
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
try:
    # The same encoder without its per-call set-up and its check for cycles (an audit row's
    # fields have none): about a microsecond less per entry, a fifth of the check's time.
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    _chunks = c_make_encoder(None, None, encode_basestring, None, ":", ",", True, False, True)

    def _canonical(fields: list[Any]) -> str:
        return "".join(_chunks(fields, 0))
except (ImportError, TypeError):  # pragma: no cover - a Python without the C encoder

    def _canonical(fields: list[Any]) -> str:
        return _encode(fields)


def moment_text(moment: dt.datetime) -> str:
    """A stored moment as the chain hashes it (SQLite's own text for it, to the microsecond)."""
    return moment.isoformat(sep=" ", timespec="microseconds")


def entry_hash(prev_hash: bytes, seq: int, occurred_at: dt.datetime | str, actor_id: int | None,
               actor_username: str | None, action: str, target_kind: str | None, target_id: int | None,
               outcome: str, details: Any, operation_id: str | None) -> bytes:
    """The hash of one entry, given the hash of the entry before it (``occurred_at`` as a
    datetime, or as ``moment_text`` gives it)."""
    moment = occurred_at if isinstance(occurred_at, str) else moment_text(occurred_at)
    fields = [seq, moment, actor_id, actor_username, action, target_kind, target_id, outcome, details,
              operation_id]
    return hashlib.sha256(prev_hash + _canonical(fields).encode()).digest()


def normalized_details(details: Any) -> Any:
    """``details`` as it reads back from the database (tuples as lists, keys as text)."""
    return None if details is None else json.loads(_encode(details))


# ---------------------------------------------------------------------- appending


def enqueue(session: Session, entry: AuditEvent) -> None:
    """Hold an audit row until the transaction's last flush (``add_queued``)."""
    session.info.setdefault(PENDING, []).append(entry)


def add_queued(session: Session) -> None:
    """Write the rows ``enqueue`` held, chained, in this transaction (``append``)."""
    pending = session.info.pop(PENDING, None)
    if pending:
        append(session.connection(), pending, insert_rows=True)


def chain_audit_rows(sessions: sessionmaker[Session]) -> None:
    """Have these sessions chain every audit row they insert, and never drop a queued one."""
    event.listen(sessions, "before_flush", _before_flush)
    event.listen(sessions, "before_commit", add_queued)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    new = [o for o in session.new if isinstance(o, AuditEvent) and o.seq is None]
    if new:
        new.sort(key=lambda o: instance_state(o).insert_order or 0)
        append(session.connection(), new)


def append(conn: Connection, entries: Sequence[AuditEvent], *, insert_rows: bool = False) -> None:
    """Number and hash ``entries`` after the chain head, and move the head (same transaction).

    ``insert_rows``: write them too (else the session's flush does, as for rows added to it).
    Every writer waits here for the one before to commit, so the head is held for as few
    round trips as can be: on PostgreSQL the lock, then the rows and the new head in one
    statement.
    """
    head_row = cast(Table, AuditChainHead.__table__)
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:
        head = conn.execute(select(head_row.c.seq, head_row.c.hash)
                            .where(head_row.c.id == 1).with_for_update()).first()
    else:
        # A write first: it takes the file's write lock before the head is read.
        conn.execute(update(head_row).where(head_row.c.id == 1).values(seq=head_row.c.seq))
        head = conn.execute(select(head_row.c.seq, head_row.c.hash).where(head_row.c.id == 1)).first()
    if head is None:
        # A head row gone missing (a database emptied by hand): start it from the last entry.
        last = conn.execute(select(AuditEvent.seq, AuditEvent.row_hash).where(AuditEvent.seq.is_not(None))
                            .order_by(AuditEvent.seq.desc()).limit(1)).first()
        seq, prev = (int(last[0]), bytes(last[1])) if last else (0, GENESIS)
        conn.execute(insert(head_row).values(id=1, seq=seq, hash=prev))
    else:
        seq, prev = int(head[0]), bytes(head[1])
    rows = []
    for entry in entries:
        seq += 1
        if entry.occurred_at is None:
            entry.occurred_at = utcnow()
        entry.details = normalized_details(entry.details)
        outcome = entry.outcome.value if isinstance(entry.outcome, Outcome) else str(entry.outcome)
        entry.seq, entry.prev_hash = seq, prev
        prev = entry.row_hash = entry_hash(
            prev, seq, entry.occurred_at, entry.actor_id, entry.actor_username, entry.action,
            entry.target_kind, entry.target_id, outcome, entry.details, entry.operation_id)
        rows.append({"seq": seq, "prev_hash": entry.prev_hash, "row_hash": entry.row_hash,
                     "occurred_at": entry.occurred_at, "actor_id": entry.actor_id,
                     "actor_username": entry.actor_username, "action": entry.action,
                     "target_kind": entry.target_kind, "target_id": entry.target_id, "outcome": entry.outcome,
                     "details": entry.details, "operation_id": entry.operation_id})
    move = update(head_row).where(head_row.c.id == 1).values(seq=seq, hash=prev)
    events = cast(Table, AuditEvent.__table__)
    if insert_rows and postgresql:
        conn.execute(move.add_cte(insert(events).values(rows).returning(events.c.id).cte("written")))
        return
    if insert_rows:
        conn.execute(insert(events), rows)
    conn.execute(move)


def head(conn: Connection) -> tuple[int, bytes] | None:
    """The chain head as stored: (seq, hash), or None if its row is missing."""
    head_row = cast(Table, AuditChainHead.__table__)
    row = conn.execute(select(head_row.c.seq, head_row.c.hash).where(head_row.c.id == 1)).first()
    return (int(row[0]), bytes(row[1])) if row else None


def first_hash(conn: Connection) -> bytes | None:
    """The hash of the log's first entry: which log this is (None while it is empty)."""
    found = conn.execute(select(AuditEvent.row_hash).where(AuditEvent.seq == 1)).scalar()
    return bytes(found) if found is not None else None


@contextlib.contextmanager
def one_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see the database at one moment, for ``verify``: without
    it, an entry committed by another workstation between reading the head and the rows
    would look like one added behind the head's back."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN")  # ended by the rollback when the connection goes back
            yield conn


# ---------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Anchor:
    """A chain head kept outside the database: entry ``seq`` had hash ``hash`` at ``taken``."""

    seq: int
    hash: bytes
    taken: dt.datetime | None = None  # UTC; None for one typed in without a date
    where: str = ""  # where it was kept ("this computer", "typed in")
    first: bytes | None = None  # the hash of the log's first entry then: which log it belongs to


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found. ``first_bad`` and ``reason`` are None when the log is intact.

    ``entries``: how many entries are known intact: all of them, or those before ``first_bad``
    (only up to the last anchor matched when an anchor shows the log was rewritten).
    """

    entries: int
    first_bad: int | None = None
    reason: str | None = None
    explanation: str = ""
    anchor: Anchor | None = None  # the newest anchor the log matched (intact), or the one it fell short of
    note: str = ""  # something else to say: anchors of another log here, anchors that could not be read

    @property
    def intact(self) -> bool:
        return self.first_bad is None


CHANGED, MISSING, INSERTED, OUT_OF_ORDER, SHORTER = (
    "changed", "missing", "inserted", "out of order", "shorter than the anchor")
BATCH = 10_000
_SELECT = ("SELECT id, seq, prev_hash, row_hash, {moment}, actor_id, actor_username, action, target_kind, "
           "target_id, outcome, {details}, operation_id FROM audit_events ORDER BY seq")


class Entry(NamedTuple):
    """One stored row as the check reads it: the moment as text, the details parsed."""

    id: int
    seq: int | None
    prev_hash: Any
    row_hash: Any
    occurred_at: str
    actor_id: int | None
    actor_username: str | None
    action: str
    target_kind: str | None
    target_id: int | None
    outcome: str
    details: Any
    operation_id: str | None


def _raw_rows(conn: Connection) -> Iterator[tuple[Any, ...]]:
    """Every row in ``seq`` order, as the database stores it.

    Straight from the driver's cursor (a server-side one on PostgreSQL), a third
    faster than through SQLAlchemy's result rows, which the check does not need;
    and fetched on a thread of its own, so the database's work overlaps the
    hashing (PostgreSQL's on the other core). Close the generator to stop early.
    """
    raw = conn.connection.dbapi_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        sql = _SELECT.format(moment="to_char(occurred_at, 'YYYY-MM-DD HH24:MI:SS.US')", details="details::text")
        cursor = raw.cursor(name="caseload_audit_verify")  # type: ignore[call-arg]
    else:
        sql = _SELECT.format(moment="occurred_at", details="details")
        cursor = raw.cursor()
    driver_error = conn.dialect.loaded_dbapi.Error
    batches: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=3)
    stop = threading.Event()

    def fetch() -> None:
        try:
            cursor.execute(sql)
            while not stop.is_set():
                batch = cursor.fetchmany(BATCH)
                _put(batches, batch or None, stop)
                if not batch:
                    return
        except driver_error as exc:  # as SQLAlchemy would raise it, for the one-sentence messages
            _put(batches, DBAPIError.instance(sql, None, exc, driver_error), stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, raised there
            _put(batches, exc, stop)

    fetcher = threading.Thread(target=fetch, name="audit-verify-fetch", daemon=True)
    fetcher.start()
    try:
        while (batch := batches.get()) is not None:
            if isinstance(batch, BaseException):
                raise batch
            yield from batch
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                batches.get_nowait()
        fetcher.join()
        with contextlib.suppress(Exception):
            cursor.close()


def _put(batches: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(queue.Full):
            batches.put(item, timeout=0.1)
            return


def _parsed(details: Any) -> Any:
    return None if details is None or details == "null" else json.loads(details)


def _entry(raw: tuple[Any, ...]) -> Entry:
    fields = list(raw)
    try:
        fields[11] = _parsed(fields[11])
    except (ValueError, RecursionError):
        pass  # not JSON any more: it cannot give its hash
    return Entry(*fields)


def _recompute(row: Entry, seq: int | None = None, prev: Any = None) -> bytes | None:
    try:
        return entry_hash(bytes(row.prev_hash if prev is None else prev), int(row.seq if seq is None else seq),  # type: ignore[arg-type]
                          str(row.occurred_at), row.actor_id, row.actor_username, row.action, row.target_kind,
                          row.target_id, row.outcome, row.details, row.operation_id)
    except (TypeError, ValueError, RecursionError):  # a field set to something of the wrong kind
        return None


def _intact(row: Entry) -> bool:
    return row.seq is not None and row.prev_hash is not None and _recompute(row) == row.row_hash


def verify(conn: Connection, anchors: Sequence[Anchor] = (),
           progress: Callable[[int, int], bool | None] | None = None) -> Verdict:
    """Recompute the whole chain and compare it with the head row and with ``anchors``.

    ``progress(done, total)`` is called every few thousand entries; if it returns
    True the check stops and raises ``InterruptedError``. Reads at about 200,000
    entries a second, the hot loop kept to plain tuples for that.
    """
    total = int(conn.execute(select(func.count()).select_from(AuditEvent)).scalar() or 0)
    stored_head = head(conn)
    first = first_hash(conn)
    ours = [a for a in anchors if a.first is None or first is None or a.first == first]
    foreign = len(anchors) - len(ours)
    by_seq: dict[int, Anchor] = {}
    for anchor in sorted(ours, key=lambda a: a.taken or dt.datetime.min):
        by_seq[anchor.seq] = anchor  # the newest record of each position
    expected = 1
    with contextlib.closing(_raw_rows(conn)) as rows:  # type: ignore[type-var]
        verdict = _check(rows, expected, by_seq, stored_head, total, progress)
    if foreign:
        verdict = replace(verdict, note=(
            f"{foreign:,} anchor{'s' if foreign != 1 else ''} kept at this place belong{'s' if foreign == 1 else ''} "
            "to a log with another first entry: a practice made anew here, or a log rewritten from its very "
            "first entry. They were not compared."))
    return verdict


def _check(rows: Iterator[tuple[Any, ...]], expected: int, by_seq: dict[int, Anchor],
           stored_head: tuple[int, bytes] | None, total: int,
           progress: Callable[[int, int], bool | None] | None) -> Verdict:
    prev, before_prev, last_id = GENESIS, GENESIS, 0
    vouched = 0  # the last entry an anchor vouched for
    sha256, canonical, step = hashlib.sha256, _canonical, 5_000
    for raw in rows:
        row_id, seq, prev_hash, row_hash, moment, actor_id, username, action, kind, target, outcome, \
            details, operation = raw
        try:
            fields = [seq, moment, actor_id, username, action, kind, target, outcome,
                      None if details is None or details == "null" else json.loads(details), operation]
            good = (seq == expected and prev_hash == prev and row_id > last_id
                    and sha256(prev + canonical(fields).encode()).digest() == row_hash)
        except (TypeError, ValueError, RecursionError):
            good = False
        if not good:
            if seq == expected and prev_hash == prev and row_id <= last_id and _intact(_entry(raw)):
                return Verdict(expected - 2, expected - 1, OUT_OF_ORDER,
                               f"entries {expected - 1} and {expected} are stored out of order")
            following = next(rows, None)
            return _classify(_entry(raw), _entry(following) if following else None, expected, prev,
                             before_prev, stored_head)
        anchor = by_seq.get(seq)
        if anchor is not None:
            if anchor.hash != row_hash:
                # Rewritten somewhere after the last anchor it matched: only up to there is it known.
                return Verdict(vouched, seq, CHANGED,
                               f"entry {seq} does not match the anchor of {anchor_when(anchor)}: the log was "
                               f"rewritten after entry {vouched} and at or before this one", anchor)
            vouched = seq
        before_prev, prev, last_id = prev, bytes(row_hash), row_id
        if progress is not None and expected % step == 0 and progress(expected, total):
            raise InterruptedError("The check was stopped.")
        expected += 1
    last = expected - 1
    if stored_head is None and last:
        return Verdict(last, last + 1, MISSING, f"the chain head is gone: whether entries after {last} "
                       "were removed cannot be told")
    if stored_head is not None:
        head_seq, head_hash = stored_head
        if head_seq > last:
            return Verdict(last, last + 1, MISSING,
                           f"the log ends at entry {last}, but the chain head says {head_seq}: "
                           "the entries after it were removed")
        if head_seq < last:
            return Verdict(head_seq, head_seq + 1, INSERTED,
                           f"entries {head_seq + 1} to {last} were added after the chain head")
        if last and head_hash != prev:
            return Verdict(last - 1, last, CHANGED, f"entry {last} does not match the chain head")
    longest = max(by_seq.values(), key=lambda a: a.seq, default=None)
    if longest is not None and longest.seq > last:
        return Verdict(last, last + 1, SHORTER,
                       f"the log ends at entry {last}, but the anchor of {anchor_when(longest)} "
                       f"recorded entry {longest.seq}: entries were removed, or an older copy restored", longest)
    matched = max((a for a in by_seq.values() if a.seq <= last), default=None,
                  key=lambda a: (a.taken or dt.datetime.min, a.seq))
    if progress is not None:
        progress(last, max(total, last))
    return Verdict(last, anchor=matched)


def anchor_when(anchor: Anchor) -> str:
    """An anchor as a sentence names it: its date, or that it was typed in."""
    if anchor.taken is None:
        return f"entry {anchor.seq} ({anchor.where or 'typed in'})"
    return anchor.taken.replace(tzinfo=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _classify(row: Entry, following: Entry | None, expected: int, prev: bytes, before_prev: bytes,
              stored_head: tuple[int, bytes] | None) -> Verdict:
    """Name the first entry that breaks the chain, and how."""
    done = expected - 1
    seq = row.seq

    def verdict(at: int, reason: str, why: str) -> Verdict:
        return Verdict(min(done, at - 1), at, reason, why)

    if seq is None or not isinstance(seq, int):
        return verdict(expected, INSERTED, f"an entry with no number stands at entry {expected}")
    if seq < expected:
        return verdict(seq, INSERTED, f"a second entry is numbered {seq}")
    if seq > expected:
        return verdict(expected, MISSING, f"entry {expected} is missing (the next is {seq})")
    if following is not None and _swapped(row, following, prev):
        return verdict(seq, OUT_OF_ORDER, f"entries {seq} and {seq + 1} were exchanged")
    linked = row.prev_hash == prev
    if linked and not _intact(row):
        if following is not None and following.prev_hash == prev:
            return verdict(seq, INSERTED, f"entry {seq} is not linked into the chain")
        if stored_head is not None and seq > stored_head[0]:
            return verdict(seq, INSERTED, f"entry {seq} was added after the chain head")
        return verdict(seq, CHANGED, f"entry {seq} no longer matches its hash")
    if linked:  # whole and linked, but stored before the entry it follows
        return verdict(seq, OUT_OF_ORDER, f"entries {seq} and {seq + 1} are stored out of order")
    if expected > 1 and row.prev_hash == before_prev:
        return verdict(seq - 1, INSERTED, f"entry {seq - 1} is not linked into the chain")
    if following is not None and following.prev_hash == prev:
        return verdict(seq, INSERTED, f"entry {seq} is not linked into the chain")
    if _intact(row):
        # Whole itself, but linked to a hash the entry before no longer has: that one was
        # changed and its hash recomputed.
        return verdict(seq - 1, CHANGED, f"entry {seq - 1} was changed and its hash recomputed")
    for skipped in range(1, 4):  # entries removed and the later ones renumbered
        if _recompute(row, seq=seq + skipped) == row.row_hash:
            return verdict(expected, MISSING, f"entry {expected} is missing (the rest were renumbered)")
    return verdict(seq, CHANGED, f"entry {seq} no longer matches its hash")


def _swapped(row: Entry, following: Entry, prev: bytes) -> bool:
    """Whether ``row`` and ``following`` are two consecutive entries in each other's places."""
    if row.seq is None or following.seq != row.seq + 1:
        return False
    # Their numbers exchanged: the second in place links to the entry before the pair, and
    # the first in place links to the second.
    if following.prev_hash == prev and row.prev_hash == following.row_hash and not _intact(following):
        return True
    # Their fields exchanged and the chain columns left: each one's fields give the other's hash.
    return (_recompute(row, seq=following.seq, prev=following.prev_hash) == following.row_hash
            and _recompute(following, seq=row.seq, prev=row.prev_hash) == row.row_hash)
