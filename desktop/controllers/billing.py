"""Billing: the automatic run, the documents, and billing by hand (docs/rules.md, "Billing").

The automatic run makes a **superbill** for every attended appointment and a
monthly **statement** per client for the charges of each month that has ended,
through the end of the day before the run (on the practice's clock). It skips
clients who are inactive when it runs, and never bills automatically an
appointment that took place while its client was inactive: that one is marked
``manual_billing_only`` and waits in the Needs manual billing list.

Every Caseload that is open runs it (at start and then hourly), as the practice
rather than as whoever is signed in. Runs on several workstations at once
cannot make a document twice: an automatic document's ``automatic_key`` is
unique, an appointment is on at most one document of each kind (both database
constraints), and runs take the billing lock before they read, so the second
finds the first's work done. A run works through the clients in chunks, each
its own short transaction, so a first run over years of appointments never
holds the practice's write lock for long and can report its progress.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
import gc
import heapq
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    Table,
    and_,
    case,
    cast,
    extract,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from desktop.controllers.appointments import (
    OWED_SINCE_BATCH,
    AppointmentRow,
    AppointmentsController,
    refresh_owed_since,
)
from desktop.controllers.base import (
    Controller,
    as_practice,
    audit,
    reads,
    require,
    stored_id,
    write_audit_first,
    writes,
)
from desktop.controllers.document_table import DocumentTable, client_key
from desktop.controllers.errors import CaseloadError, InvalidInput, NotFound
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.settings import Settings, SettingsController
from desktop.domain import clock
from desktop.domain.models import (
    Appointment,
    Attendance,
    BillingDocument,
    BillingItem,
    Client,
    ClientStatus,
    DocumentKind,
    PracticeUser,
    Role,
    Service,
    StatusChange,
    utcnow,
)
from desktop.domain.search import display_name
from desktop.storage.errors import DatabaseRefused
from desktop.storage.queries import visible_client_ids, visible_clients

APPOINTMENTS: Table = Appointment.__table__  # type: ignore[assignment]
DOCUMENTS: Table = BillingDocument.__table__  # type: ignore[assignment]
ITEMS: Table = BillingItem.__table__  # type: ignore[assignment]
AUTOMATIC = Actor(user_id=0, username="automatic billing", display_name="Automatic billing",
                  role=Role.ACCOUNT_OWNER)
# A run's transaction covers at most this many clients, and about this many owed documents'
# worth of appointments: on SQLite that holds the file's write lock well under a second,
# so a person saving meanwhile (or a second run) waits briefly instead of timing out.
CHUNK_CLIENTS = 2_000
CHUNK_OWED = 16_000
IN_LIMIT = 500
TABLE_BATCH = 4_096  # documents read into the Billing page's arrays at a time: each batch holds the interpreter
# A period of this many documents or more has its first screen read first (``document_table``),
# from the documents of this many clients, those whose names come first. Below it a period is
# read whole in a second or two (a month of 100,000 clients' practice: 0.6 s), sooner than its
# clients' names and then its first screen could be (they cost about half the whole read again).
FIRST_SCREEN_FROM = 300_000
FIRST_CLIENTS = 200
Progress = Callable[[int, int], None]  # (clients done, clients in all)
T = TypeVar("T")


@dataclass
class BillingRunReport:
    documents_created: int = 0
    appointments_billed: int = 0
    clients_billed: int = 0
    inactive_clients_skipped: int = 0
    held_for_manual_billing: int = 0
    through: dt.date | None = None
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, kind: DocumentKind, count: int) -> None:
        if not count:
            return  # by_kind names only what was made
        self.documents_created += count
        self.by_kind[kind.value] = self.by_kind.get(kind.value, 0) + count


@dataclass(frozen=True)
class DocumentRow:
    id: int
    kind: DocumentKind
    client_id: int
    client_name: str
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    automatic: bool
    created_at: dt.datetime  # aware, on the practice's clock
    service_dates: tuple[dt.date, ...] = ()

    @property
    def period(self) -> str:
        """"2026-10" for a statement; the date(s) of service for a superbill."""
        if self.kind is DocumentKind.STATEMENT:
            return f"{self.period_start:%Y-%m}"
        if self.period_start == self.period_end:
            return self.period_start.isoformat()
        return f"{self.period_start.isoformat()} – {self.period_end.isoformat()}"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind.value, "client_id": self.client_id,
                "service_dates": [d.isoformat() for d in self.service_dates],
                "period": f"{self.period_start:%Y-%m}" if self.kind is DocumentKind.STATEMENT else None,
                "amount": str(self.amount), "automatic": self.automatic,
                "created_at": self.created_at.isoformat(timespec="seconds")}


@dataclass(frozen=True)
class DocumentLine:
    date: dt.date
    code: str
    description: str
    minutes: int
    fee: Decimal
    clinician: str = ""  # who saw the client (the rendering provider); "" if nobody is recorded


@dataclass(frozen=True)
class DocumentView:
    """Everything a superbill or statement shows, for the window, the PDF and the printer."""

    id: int
    kind: DocumentKind
    practice: Settings
    client_name: str
    client_date_of_birth: dt.date | None
    client_address: str
    diagnosis_codes: str
    period_start: dt.date
    period_end: dt.date
    lines: tuple[DocumentLine, ...]
    total: Decimal
    automatic: bool
    created_at: dt.datetime

    @property
    def title(self) -> str:
        if self.kind is DocumentKind.STATEMENT:
            return f"Statement {self.id} — {self.period_start:%B %Y}"
        return f"Superbill {self.id}"


class StatusTimeline:
    """A client's status at any moment, from their status changes (all in UTC)."""

    def __init__(self, current: ClientStatus, changes: Sequence[tuple[dt.datetime, ClientStatus, ClientStatus]]):
        self._times = [c[0] for c in changes]
        self._after = [c[2] for c in changes]
        self._before_first = changes[0][1] if changes else current

    def status_at(self, moment: dt.datetime) -> ClientStatus:
        i = bisect.bisect_right(self._times, moment)
        return self._after[i - 1] if i else self._before_first


def _parse_through(through: dt.date | str | None, tz: ZoneInfo) -> dt.date:
    """The last day to bill: the one given, else yesterday on the practice's clock."""
    if through is None or through == "":
        return clock.today(tz) - dt.timedelta(days=1)
    if isinstance(through, dt.datetime):
        return through.date()
    if isinstance(through, dt.date):
        return through
    try:
        return dt.date.fromisoformat(str(through).strip())
    except ValueError:
        raise InvalidInput(f"{str(through)[:40]!r} is not a date; use YYYY-MM-DD.", field="through") from None


@functools.cache
def _month_end(first: dt.date) -> dt.date:
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def _chunks(values: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _client_chunks(owing: dict[int, int]) -> Iterable[list[int]]:
    """The clients in id order, cut into chunks of at most ``CHUNK_CLIENTS`` clients and, but
    for a single client owing more, ``CHUNK_OWED`` owed documents."""
    chunk: list[int] = []
    weight = 0
    for client_id in sorted(owing):
        if chunk and (len(chunk) >= CHUNK_CLIENTS or weight + owing[client_id] > CHUNK_OWED):
            yield chunk
            chunk, weight = [], 0
        chunk.append(client_id)
        weight += owing[client_id]
    if chunk:
        yield chunk


DOCUMENT_COLUMNS = ("id", "client_id", "kind", "period_start", "period_end", "amount", "automatic", "created_at",
                    "automatic_key")
ITEM_COLUMNS = ("client_id", "document_id", "appointment_id", "kind")


def _bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert many rows (tuples in ``columns`` order) at the speed each database allows: a first
    run inserts millions.

    SQLite: the driver's own executemany, each value converted as SQLAlchemy converts it
    (its per-row bookkeeping was a third of the time). PostgreSQL: COPY (an executemany
    there is a round trip per row)."""
    if not rows:
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if dialect.name == "postgresql":
        # COPY, in this transaction: psycopg converts each value from its Python type.
        statement = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        driver = dialect.loaded_dbapi
        try:
            with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
        except driver.Error as exc:
            # As SQLAlchemy would have raised it, so a clash arrives as ``DatabaseRefused``.
            raise DBAPIError.instance(statement, None, exc, driver.Error) from exc
        return
    converters = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join(['?'] * len(columns))})"
    if any(converters):
        values = [list(row) for row in rows]
        for i, convert in enumerate(converters):  # column by column: a call only where one is needed
            if convert is not None:
                done: dict[Any, Any] = {}  # dates, stamps, kinds and fees repeat: each converted once
                for value in values:
                    raw = value[i]
                    found = done.get(raw, done)
                    if found is done:
                        found = done[raw] = convert(raw)
                    value[i] = found
        rows = values
    _driver_many(conn, sql, rows)


def _driver_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """The driver's executemany, in this transaction, errors raised as SQLAlchemy raises them
    (so a clash arrives as ``DatabaseRefused``); SQLAlchemy's own wants every row a tuple."""
    driver = conn.dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    except driver.Error as exc:
        raise DBAPIError.instance(sql, None, exc, driver.Error) from exc
    finally:
        cursor.close()


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector held off while a chunk allocates its million small objects (it
    would walk every live object again and again: a sixth of a first run), then let go as it
    was. A window already holds it off and collects on its own thread (``ui.app``): unchanged."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _update_by_id(conn: Connection, table: Table, ids: Sequence[int], values: dict[str, bool]) -> None:
    """Set the same ``values`` on the rows with these ids, in one statement.

    The ids travel as one value (a JSON array on SQLite, an array on PostgreSQL): ``IN``
    lists of bound values were compiled and sorted batch by batch, and one statement per id
    (executemany) was four times slower still."""
    if not ids:
        return
    quote = conn.dialect.identifier_preparer.quote
    if conn.dialect.name == "postgresql":
        assignments = ", ".join(f"{quote(column)} = %s" for column in values)
        conn.exec_driver_sql(f"UPDATE {quote(table.name)} SET {assignments} WHERE id = ANY(%s)",
                             (*values.values(), list(ids)))
        return
    assignments = ", ".join(f"{quote(column)} = ?" for column in values)
    conn.exec_driver_sql(f"UPDATE {quote(table.name)} SET {assignments} "
                         "WHERE id IN (SELECT value FROM json_each(?))",
                         (*(int(v) for v in values.values()), json.dumps(list(ids))))


def _new_ids(conn: Connection, table: Table, count: int) -> Sequence[int]:
    """Ids for ``count`` new rows of ``table``, so that rows and the rows that point at them are
    written in bulk without reading any id back.

    PostgreSQL: from the table's sequence, safe with any number of writers. SQLite: the ones
    it would give itself (the largest so far, plus one), which is safe because the caller
    holds the write lock (``Database.take_write_lock``) until it commits."""
    if conn.dialect.name == "postgresql":
        return list(conn.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, {int(count)})"
        ).scalars())
    largest = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table.name}").scalar_one()
    return range(largest + 1, largest + 1 + count)


@dataclass(frozen=True)
class _Cutoffs:
    tz: ZoneInfo
    last_day: dt.date
    superbills_before: dt.datetime  # UTC: the end of the last day
    statements_before: dt.datetime  # UTC: the start of the first month that has not ended
    last_closed_month: dt.date  # its first day
    # Start (UTC) -> the practice's date and that month's first day. Sessions start at the
    # same few times of day, so two million appointments have some thousands of starts.
    _days: dict[dt.datetime, tuple[dt.date, dt.date]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, last_day: dt.date, tz: ZoneInfo) -> _Cutoffs:
        open_month = (last_day + dt.timedelta(days=1)).replace(day=1)
        closed = (open_month - dt.timedelta(days=1)).replace(day=1)
        return cls(tz, last_day, clock.start_of_day(last_day + dt.timedelta(days=1), tz),
                   clock.start_of_day(open_month, tz), closed)

    def day_and_month(self, start: dt.datetime) -> tuple[dt.date, dt.date]:
        found = self._days.get(start)
        if found is None:
            day = clock.to_local(start, self.tz).date()
            found = self._days[start] = (day, day.replace(day=1))
        return found

    def due(self) -> list[Any]:
        # "= true" word for word as the partial indexes' condition, so the planner uses them.
        return [and_(Appointment.superbill_owed == true(), Appointment.start < self.superbills_before),
                and_(Appointment.statement_owed == true(), Appointment.start < self.statements_before)]

    def due_of_clients(self, client_ids: Sequence[int]) -> Any:
        """``due`` for these clients, looked up by the client index. The flags are read through
        an expression, which no index serves: on the flags' indexes SQLite's planner would walk
        every owed appointment of the practice for each chunk of clients (100 times slower)."""
        owes_superbill = func.coalesce(Appointment.superbill_owed, false()).is_(True)
        owes_statement = func.coalesce(Appointment.statement_owed, false()).is_(True)
        return and_(Appointment.client_id.in_(client_ids),
                    or_(and_(owes_superbill, Appointment.start < self.superbills_before),
                        and_(owes_statement, Appointment.start < self.statements_before)))


class BillingController(Controller):
    # ------------------------------------------------------------- the automatic run

    @as_practice("billing.automatic")
    def run_automatic(self, through: dt.date | str | None = None, progress: Progress | None = None
                      ) -> BillingRunReport:
        """The run every open Caseload makes: as the practice, audited as "automatic billing"."""
        return self._run_billing(AUTOMATIC, "billing.automatic", through, progress)

    @reads("billing.run", Action.RUN_BILLING)
    def run_billing(self, s: Session, actor: Actor, through: dt.date | str | None = None,
                    progress: Progress | None = None) -> BillingRunReport:
        """The same run, asked for by a person (``caseload billing run``), audited as theirs."""
        s.rollback()  # the run works in transactions of its own
        return self._run_billing(actor, "billing.run", through, progress)

    def _run_billing(self, actor: Actor, action: str, through: dt.date | str | None,
                     progress: Progress | None) -> BillingRunReport:
        with self.db.reading() as s:
            tz = SettingsController._read(s).zone
            cut = _Cutoffs.of(_parse_through(through, tz), tz)
            owing, skipped, stale = self._clients_owed(s, cut)
        if stale:  # stamps left too early (a debt settled by a writer that does not keep them): made true
            with self.db.transaction() as s:
                self.db.take_write_lock(s, "billing")
                refresh_owed_since(s.connection(), stale)
        report = BillingRunReport(through=cut.last_day, inactive_clients_skipped=skipped)
        total, done = len(owing), 0
        if progress is not None:
            progress(0, total)
        for chunk in _client_chunks(owing):
            for attempt in range(2):
                try:
                    with self.db.transaction(bulk=True) as s, _no_cycle_collection():
                        self.db.take_write_lock(s, "billing")
                        part = self._bill_chunk(s, chunk, cut)
                        if part.documents_created or part.held_for_manual_billing:
                            audit(s, actor, action, "practice", None, details={
                                "through": cut.last_day.isoformat(), "documents": part.documents_created,
                                "appointments": part.appointments_billed,
                                "held_for_manual_billing": part.held_for_manual_billing})
                    break
                except DatabaseRefused:
                    # A document made by hand at the same moment took an appointment first: once more.
                    if attempt:
                        raise
            report.documents_created += part.documents_created
            for kind, count in part.by_kind.items():
                report.by_kind[kind] = report.by_kind.get(kind, 0) + count
            report.appointments_billed += part.appointments_billed
            report.clients_billed += part.clients_billed
            report.held_for_manual_billing += part.held_for_manual_billing
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        if report.documents_created or report.held_for_manual_billing:
            with contextlib.suppress(CaseloadError):  # the run is saved; the log is copied later if not now
                self.db.checkpoint_log()  # what the chunks left in the log, here rather than at the next commit
        elif action == "billing.run":
            with self.db.transaction() as s:
                audit(s, actor, action, "practice", None,
                      details={"through": cut.last_day.isoformat(), "documents": 0})
        return report

    @staticmethod
    def _clients_owed(s: Session, cut: _Cutoffs) -> tuple[dict[int, int], int, list[int]]:
        """Active clients with something due (and how many documents' worth), how many
        inactive ones are skipped, and the active ones whose stamps said so wrongly.

        Found from the clients' owed-since stamps (``refresh_owed_since``): with nothing due
        that is two empty ranges of their indexes, however many appointments inactive clients
        still owe. The documents' worth is then counted for the clients found, a batch at a time.
        """
        def due(status: ClientStatus) -> Any:
            return and_(Client.status == status, or_(Client.owes_superbill_since < cut.superbills_before,
                                                     Client.owes_statement_since < cut.statements_before))

        conn = s.connection()
        skipped = conn.execute(select(func.count()).select_from(Client).where(due(ClientStatus.INACTIVE))).scalar()
        active = sorted(conn.execute(select(Client.id).where(due(ClientStatus.ACTIVE))).scalars())
        owing: dict[int, int] = {}
        for batch in _chunks(active, OWED_SINCE_BATCH):
            for condition in cut.due():
                for client_id, count in conn.execute(
                        select(Appointment.client_id, func.count())
                        .where(Appointment.client_id.in_(batch), condition).group_by(Appointment.client_id)):
                    owing[client_id] = owing.get(client_id, 0) + count
        return owing, int(skipped or 0), [c for c in active if c not in owing]

    def _bill_chunk(self, s: Session, client_ids: Sequence[int], cut: _Cutoffs) -> BillingRunReport:
        part = BillingRunReport()
        active = set(s.scalars(select(Client.id).where(Client.id.in_(client_ids),
                                                       Client.status == ClientStatus.ACTIVE)))
        timelines = self._timelines(s, client_ids)
        superbills: list[Any] = []
        statements: dict[int, dict[dt.date, list[Any]]] = defaultdict(lambda: defaultdict(list))
        held: list[int] = []
        rows = s.connection().execute(select(Appointment.id, Appointment.client_id, Appointment.start, Appointment.fee,
                                Appointment.superbill_owed, Appointment.statement_owed)
                         .where(cut.due_of_clients(client_ids))
                         .order_by(Appointment.client_id, Appointment.start, Appointment.id)).all()
        for row in rows:
            if row.client_id not in active:
                continue  # made inactive since the run began: skipped until active again
            timeline = timelines.get(row.client_id)
            if timeline is not None and timeline.status_at(row.start) is ClientStatus.INACTIVE:
                held.append(row.id)
                continue
            day, month = cut.day_and_month(row.start)  # the practice's date of service
            if row.superbill_owed and row.start < cut.superbills_before:
                superbills.append((row, day))
            if row.statement_owed and row.start < cut.statements_before:
                statements[row.client_id][month].append(row)
        now = utcnow()
        billed_clients: set[int] = set()
        superbilled = self._insert_documents(s, DocumentKind.SUPERBILL, [
            (r.client_id, day, day, [r], f"superbill:{r.id}") for r, day in superbills], now)
        part.add(DocumentKind.SUPERBILL, len(superbills))
        billed_clients.update(r.client_id for r, _day in superbills)
        stated: list[int] = []
        wanted: list[tuple[int, dt.date, dt.date, list[Any], str]] = []
        if statements:
            made = set(s.scalars(select(BillingDocument.automatic_key).where(
                BillingDocument.client_id.in_(list(statements)), BillingDocument.kind == DocumentKind.STATEMENT,
                BillingDocument.automatic_key.is_not(None))))
            for client_id, months in statements.items():
                carry: list[Any] = []
                for month in sorted(set(months) | {cut.last_closed_month}):
                    bucket = carry + months.get(month, [])
                    key = f"statement:{client_id}:{month:%Y-%m}"
                    if not bucket:
                        continue
                    if key in made:
                        carry = bucket  # that month's statement exists: the charge goes on a later one
                        continue
                    wanted.append((client_id, month, _month_end(month), bucket, key))
                    carry = []
            self._insert_documents(s, DocumentKind.STATEMENT, wanted, now)
            part.add(DocumentKind.STATEMENT, len(wanted))
            billed_clients.update(w[0] for w in wanted)
            stated = [r.id for w in wanted for r in w[3]]
        conn = s.connection()
        # One update per appointment (each rewrites the row and its indexes): both flags at once
        # for those that got both documents.
        both = set(superbilled) & set(stated)
        for ids, values in ((sorted(both), {"superbill_owed": False, "statement_owed": False}),
                            ([i for i in superbilled if i not in both], {"superbill_owed": False}),
                            ([i for i in stated if i not in both], {"statement_owed": False}),
                            (held, {"manual_billing_only": True, "superbill_owed": False,
                                    "statement_owed": False})):
            _update_by_id(conn, APPOINTMENTS, ids, values)
        refresh_owed_since(conn, client_ids)
        part.appointments_billed = len(set(superbilled) | set(stated))
        part.clients_billed = len(billed_clients)
        part.held_for_manual_billing = len(held)
        return part

    @staticmethod
    def _insert_documents(s: Session, kind: DocumentKind,
                          documents: Sequence[tuple[int, dt.date, dt.date, list[Any], str | None]],
                          now: dt.datetime, *, automatic: bool = True) -> list[int]:
        """Insert documents and their items in bulk; returns the appointment ids they cover.

        The documents' ids are chosen first (``_new_ids``; every caller holds the billing lock),
        so nothing is read back: asked to return ids in order, SQLAlchemy inserts one row per
        statement on SQLite, ten times slower, and looking them up by key cost a fifth of a run."""
        if not documents:
            return []
        conn = s.connection()
        ids = _new_ids(conn, DOCUMENTS, len(documents))
        zero, name = Decimal("0"), kind.value
        _bulk_insert(conn, DOCUMENTS, DOCUMENT_COLUMNS, [
            (doc_id, client_id, name, first, last, rows[0].fee if len(rows) == 1 else sum((r.fee for r in rows), zero),
             automatic, now, key)
            for doc_id, (client_id, first, last, rows, key) in zip(ids, documents, strict=True)])
        items = [(client_id, doc_id, r.id, name)
                 for doc_id, (client_id, _f, _l, rows, _k) in zip(ids, documents, strict=True) for r in rows]
        _bulk_insert(conn, ITEMS, ITEM_COLUMNS, items)
        return [item[2] for item in items]

    @staticmethod
    def _timelines(s: Session, client_ids: Sequence[int]) -> dict[int, StatusTimeline]:
        changes: dict[int, list[tuple[dt.datetime, ClientStatus, ClientStatus]]] = defaultdict(list)
        for client_id, at, before, after in s.execute(
                select(StatusChange.client_id, StatusChange.changed_at, StatusChange.from_status,
                       StatusChange.to_status).where(StatusChange.client_id.in_(client_ids))
                .order_by(StatusChange.changed_at, StatusChange.id)):
            changes[client_id].append((at, before, after))
        return {cid: StatusTimeline(ch[-1][2], ch) for cid, ch in changes.items()}

    # ------------------------------------------------------------- documents

    @reads("billing.documents", Action.SEE_BILLING)
    def documents(self, s: Session, actor: Actor, *, month: str | dt.date | None = None,
                  kind: DocumentKind | str | None = None, client_id: int | None = None,
                  with_dates: bool = False) -> list[DocumentRow]:
        """Superbills and statements ``actor`` may see, newest period first.

        ``month`` ("YYYY-MM"): documents whose period touches it. ``with_dates``: each
        document's dates of service too (one more query).
        """
        tz = SettingsController._read(s).zone
        where = self._document_filters(s, actor, month, kind, client_id)
        stmt = visible_clients(
            select(BillingDocument.id, BillingDocument.kind, BillingDocument.client_id, Client.first_name,
                   Client.last_name, BillingDocument.period_start, BillingDocument.period_end,
                   BillingDocument.amount, BillingDocument.automatic, BillingDocument.created_at)
            .join(Client, Client.id == BillingDocument.client_id).where(*where)
            .order_by(BillingDocument.period_start.desc(), BillingDocument.id.desc()),
            actor.visibility(Action.SEE_BILLING))
        found = s.connection().execute(stmt).all()  # Core: a month at 100,000 clients is 100,000+ rows
        dates: dict[int, list[dt.date]] = defaultdict(list)
        if with_dates and found:
            ids = [r.id for r in found]
            for batch in _chunks(ids, IN_LIMIT * 10):
                for doc_id, start in s.execute(
                        select(BillingItem.document_id, Appointment.start)
                        .join(Appointment, Appointment.id == BillingItem.appointment_id)
                        .where(BillingItem.document_id.in_(batch)).order_by(Appointment.start)):
                    dates[doc_id].append(clock.to_local(start, tz).date())
        # Names, kinds and stamps repeat (a client's documents; a run's one moment): each made once.
        names: dict[tuple[str, str], str] = {}
        stamps: dict[dt.datetime, dt.datetime] = {}
        kinds = {k.value: k for k in DocumentKind} | {k: k for k in DocumentKind}
        rows = []
        for r in found:
            name = names.get((r.first_name, r.last_name))
            if name is None:
                name = names[r.first_name, r.last_name] = display_name(r.first_name, r.last_name)
            stamp = stamps.get(r.created_at)
            if stamp is None:
                stamp = stamps[r.created_at] = r.created_at.replace(tzinfo=dt.UTC).astimezone(tz)
            rows.append(DocumentRow(r.id, kinds[r.kind], r.client_id, name, r.period_start, r.period_end,
                                    Decimal(r.amount), bool(r.automatic), stamp,
                                    tuple(sorted(set(dates[r.id]))) if r.id in dates else ()))
        return rows

    @reads("billing.documents", Action.SEE_BILLING)
    def document_table(self, s: Session, actor: Actor, *, month: str | dt.date | None = None,
                       kind: DocumentKind | str | None = None, ids: Sequence[int] | None = None,
                       progress: Callable[[int], object] | None = None,
                       first: Callable[[DocumentTable], object] | None = None) -> DocumentTable:
        """What ``documents`` lists (``ids``: just these documents), as columns for the Billing page.

        A month of a million-client practice is over a million documents; they are read in
        batches of plain values straight into arrays (``DocumentTable``), and each client's
        name once. ``progress`` is told how many documents have been read so far, batch by batch
        (from this thread: it must only note the number).

        ``first``, when the period holds many documents (``FIRST_SCREEN_FROM``), is given its
        first documents in the client's order before the rest are read (docs/rules.md,
        "Billing"): every document of the ``FIRST_CLIENTS`` clients whose names come first, the
        first rows of the whole table in that order. It is called on this thread.
        """
        tz = SettingsController._read(s).zone
        where = self._document_filters(s, actor, month, kind, None)
        chosen: list[int] = []
        if ids is not None:
            chosen = sorted({stored_id(i, "billing document") for i in ids})
            if not chosen:
                return DocumentTable.empty(tz)
            # (Past some thousands, the numbers' span, and the others dropped after the read.)
            where.append(BillingDocument.id.in_(chosen) if len(chosen) <= IN_LIMIT * 20
                         else BillingDocument.id.between(chosen[0], chosen[-1]))
        who = actor.visibility(Action.SEE_BILLING)
        if who.nobody or who.clinician_id is not None:
            where.append(BillingDocument.client_id.in_(visible_client_ids(who)))
        conn = s.connection()
        named = visible_clients(select(Client.id, Client.first_name, Client.last_name), who)
        # The numbers from the index first, then the rows: SQLite visits them in the numbers'
        # order. A month's documents lie all over the table (a run bills client by client),
        # and read in the index's order each is a jump (7 s instead of 5 for a million).
        period = BillingDocument.id.in_(select(BillingDocument.id).where(*where))
        known: dict[int, str] = {}
        if first is not None and ids is None and conn.execute(select(func.count()).select_from(
                select(BillingDocument.id).where(*where).limit(FIRST_SCREEN_FROM).subquery())).scalar_one() \
                >= FIRST_SCREEN_FROM:
            # The period's clients and their names first (the rest of the read uses them too). For the
            # whole practice, the clients' numbers come from the period's index alone
            # (``ix_billing_documents_period``); a clinician's few clients lead from their own index.
            for cid, first_name, last_name in conn.execution_options(yield_per=TABLE_BATCH).execute(
                    named.where(Client.id.in_(select(BillingDocument.client_id).where(*where)))):
                known[cid] = display_name(first_name or "", last_name or "")
            head = self._first_screen(conn, where, known, tz)
            if len(head):  # (none when no client of the period can be named: then the whole, as it comes)
                first(head)

        read = conn.execution_options(yield_per=TABLE_BATCH).execute(
            self._document_columns().where(period)).partitions(TABLE_BATCH)

        def batches() -> Iterator[list[tuple[int, ...]]]:
            done = 0
            for batch in read:
                done += len(batch)
                if progress is not None:
                    progress(done)
                yield list(map(tuple, batch))  # (numpy reads plain tuples in C, the library's rows in Python)

        def names(client_ids: list[int]) -> Iterator[tuple[int, str]]:
            if known:
                yield from ((cid, known[cid]) for cid in client_ids if cid in known)
                client_ids = [cid for cid in client_ids if cid not in known]  # (billed since: seldom any)
            if client_ids and len(client_ids) * 3 >= client_ids[-1] - client_ids[0]:
                # Most clients of a stretch of numbers (a month of a large practice): the stretch
                # read whole, cheaper than naming half a million numbers in the statement.
                wanted = set(client_ids)
                for cid, first_name, last_name in conn.execution_options(yield_per=TABLE_BATCH).execute(
                        named.where(Client.id.between(client_ids[0], client_ids[-1]))):
                    if cid in wanted:
                        yield cid, display_name(first_name or "", last_name or "")
                return
            for batch in _chunks(client_ids, TABLE_BATCH):
                for cid, first_name, last_name in conn.execute(named.where(Client.id.in_(batch))):
                    yield cid, display_name(first_name or "", last_name or "")

        return DocumentTable.build(batches(), names, tz, only=chosen if ids is not None else None)

    def _first_screen(self, conn: Connection, where: list[Any], names: dict[int, str],
                      tz: ZoneInfo) -> DocumentTable:
        """Every document (of those ``where`` picks) of the ``FIRST_CLIENTS`` clients whose names
        come first in the Client column's order (``document_table.client_key``),
        and of any client sharing the last of those names."""
        folded = {cid: client_key(name) for cid, name in names.items()}
        if len(folded) > FIRST_CLIENTS:
            last = heapq.nsmallest(FIRST_CLIENTS, folded.values())[-1]
            picked = sorted(cid for cid, key in folded.items() if key <= last)
        else:
            picked = sorted(folded)
        del folded
        rows: list[tuple[int, ...]] = []
        for batch in _chunks(picked, IN_LIMIT):
            rows += map(tuple, conn.execute(
                self._document_columns().where(BillingDocument.client_id.in_(batch), *where)))
        return DocumentTable.build([rows], lambda asked: ((cid, names[cid]) for cid in asked), tz)

    def _document_columns(self) -> Select[Any]:
        """A document as ``DocumentTable.build`` takes it: every value an integer, made by the
        database (dates as days since 1970, the time it was made as microseconds since 1970)."""
        return select(BillingDocument.id, case((BillingDocument.kind == DocumentKind.SUPERBILL, 1), else_=0),
                      BillingDocument.client_id, self._days(BillingDocument.period_start),
                      self._days(BillingDocument.period_end),
                      cast(func.round(BillingDocument.amount * 100), BigInteger),
                      case((BillingDocument.automatic == true(), 1), else_=0),
                      self._microseconds(BillingDocument.created_at))

    def _days(self, column: Any) -> Any:
        """A date column as days since 1970-01-01, computed by the database."""
        if self.db.is_sqlite:  # (julianday of a day's midnight is exact: n + 0.5)
            return cast(func.julianday(column) - 2440587.5, BigInteger)
        return cast(column - dt.date(1970, 1, 1), BigInteger)

    def _microseconds(self, column: Any) -> Any:
        """A UTC timestamp column as microseconds since 1970, computed by the database."""
        if self.db.is_sqlite:  # stored as text, "YYYY-MM-DD HH:MM:SS.ffffff" (the fraction may be absent)
            fraction = func.substr(func.substr(column, 21).concat("000000"), 1, 6)
            return cast(func.strftime("%s", column), BigInteger) * 1_000_000 + cast(fraction, BigInteger)
        return cast(extract("epoch", column) * 1_000_000, BigInteger)  # (numeric: exact)

    def _document_filters(self, s: Session, actor: Actor, month: str | dt.date | None,
                          kind: DocumentKind | str | None, client_id: int | None) -> list[Any]:
        """The conditions ``documents`` and ``document_table`` share (checked, and refused in a
        sentence)."""
        where: list[Any] = []
        if month not in (None, ""):
            first = self._month(month)  # type: ignore[arg-type]
            where += [BillingDocument.period_start <= _month_end(first), BillingDocument.period_end >= first]
        if kind not in (None, ""):
            try:
                where.append(BillingDocument.kind == DocumentKind(str(kind).strip().lower()))
            except ValueError:
                raise InvalidInput(f"{str(kind)[:20]!r} is not a kind of document; use superbill or "
                                   "statement.", field="kind") from None
        if client_id is not None:
            client = self._load_client(s, client_id)
            require(actor, Action.SEE_BILLING, clinician_id=client.clinician_id)
            where.append(BillingDocument.client_id == client_id)
        return where

    @staticmethod
    def _month(value: str | dt.date) -> dt.date:
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return value.replace(day=1)
        try:
            return dt.datetime.strptime(str(value).strip(), "%Y-%m").date()
        except ValueError:
            raise InvalidInput(f"{str(value)[:20]!r} is not a month; use YYYY-MM.", field="month") from None

    @writes("billing.document.view", Action.SEE_BILLING)
    def document(self, s: Session, actor: Actor, document_id: int, *, purpose: str = "view",
                 deliver: Callable[[DocumentView], object] | None = None) -> DocumentView:
        """One document with everything it shows; looking at it is audited on its client.

        ``purpose`` ("view", "pdf", "print") is recorded. ``deliver`` (writing the PDF,
        printing) runs inside the operation, as a client's export does (on SQLite after the audit
        row is written): a delivery that fails is audited as refused and changes nothing.
        """
        if purpose not in ("view", "pdf", "print"):
            raise InvalidInput(f"{str(purpose)[:20]!r} is not a way to open a document.", field="purpose")
        stored_id(document_id, "billing document")
        doc = s.get(BillingDocument, document_id)
        if doc is None:
            raise NotFound(f"There is no billing document {document_id}; it may have been deleted "
                           "with its client.")
        client = self._load_client(s, doc.client_id)
        require(actor, Action.SEE_BILLING, clinician_id=client.clinician_id)
        settings = SettingsController._read(s)
        tz = settings.zone
        lines = tuple(
            DocumentLine(clock.to_local(start, tz).date(), code, about or "", minutes, fee, clinician or "")
            for start, code, about, minutes, fee, clinician in s.execute(
                select(Appointment.start, Appointment.service_code, Service.description,
                       Appointment.duration_minutes, Appointment.fee, PracticeUser.display_name)
                .join(BillingItem, BillingItem.appointment_id == Appointment.id)
                .outerjoin(Service, Service.code == Appointment.service_code)
                .outerjoin(PracticeUser, PracticeUser.id == Appointment.clinician_id)
                .where(BillingItem.document_id == doc.id).order_by(Appointment.start, Appointment.id)))
        audit(s, actor, "billing.document.view", "client", client.id,
              details={"document_id": doc.id, "purpose": purpose})
        view = DocumentView(
            doc.id, doc.kind, settings, display_name(client.first_name, client.last_name), client.date_of_birth,
            client.address or "", client.diagnosis_codes or "", doc.period_start, doc.period_end, lines,
            Decimal(doc.amount), doc.automatic, doc.created_at.replace(tzinfo=dt.UTC).astimezone(tz))
        if deliver is not None:
            write_audit_first(s)  # on SQLite the audit row and the write lock come first
            deliver(view)
        return view

    # ------------------------------------------------------------- by hand

    @reads("billing.manual", Action.GENERATE_DOCUMENTS)
    def needs_manual_billing(self, s: Session, actor: Actor) -> list[AppointmentRow]:
        """Attended appointments from a client's inactive time that have no superbill yet."""
        return AppointmentsController._rows(
            s, actor, SettingsController._read(s).zone,
            [Appointment.manual_billing_only.is_(True), Appointment.attendance == Attendance.ATTENDED,
             ~select(BillingItem.id).where(BillingItem.appointment_id == Appointment.id,
                                           BillingItem.kind == DocumentKind.SUPERBILL).exists()],
            visible=False)

    @writes("billing.generate", Action.GENERATE_DOCUMENTS)
    def generate_superbills(self, s: Session, actor: Actor, appointment_ids: Sequence[int]) -> list[int]:
        """By hand: a superbill per client for the chosen appointments; returns the documents' ids."""
        chosen = sorted({stored_id(i, "appointment") for i in appointment_ids})
        if not chosen:
            raise InvalidInput("Choose one or more appointments.")
        self.db.take_write_lock(s, "billing")
        return self._generate(s, actor, chosen, DocumentKind.SUPERBILL)

    @writes("billing.generate", Action.GENERATE_DOCUMENTS, target="client:client_id")
    def generate_document(self, s: Session, actor: Actor, client_id: int, appointment_ids: Sequence[int],
                          kind: DocumentKind | str) -> int:
        """By hand: one document of ``kind`` for chosen appointments of one client."""
        try:
            kind = DocumentKind(kind)
        except ValueError:
            raise InvalidInput(f"{str(kind)[:20]!r} is not a document kind.", field="kind") from None
        self.db.take_write_lock(s, "billing")
        self._load_client(s, client_id)
        chosen = sorted({stored_id(i, "appointment") for i in appointment_ids})
        found = set(s.scalars(select(Appointment.id).where(Appointment.id.in_(chosen),
                                                          Appointment.client_id == client_id)))
        if not chosen or found != set(chosen):
            raise InvalidInput("Choose one or more of this client's appointments.")
        return self._generate(s, actor, chosen, kind)[0]

    def _generate(self, s: Session, actor: Actor, chosen: Sequence[int], kind: DocumentKind) -> list[int]:
        tz = SettingsController._read(s).zone
        rows = s.connection().execute(select(Appointment.id, Appointment.client_id, Appointment.start, Appointment.fee,
                                Appointment.attendance, Client.clinician_id)
                         .join(Client, Client.id == Appointment.client_id)
                         .where(Appointment.id.in_(chosen))).all()
        if len(rows) != len(chosen):
            raise NotFound("One of these appointments no longer exists; it may have been deleted with its client.")
        for row in rows:
            require(actor, Action.GENERATE_DOCUMENTS, clinician_id=row.clinician_id)
            if row.attendance is not Attendance.ATTENDED:
                raise InvalidInput("Only attended appointments are billed; "
                                   f"one of these is marked {Attendance(row.attendance).label.lower()}.")
        already = s.scalar(select(func.count()).select_from(BillingItem).where(
            BillingItem.appointment_id.in_(chosen), BillingItem.kind == kind))
        if already:
            raise InvalidInput(f"{already} of these appointments already have a {kind.value}; nothing was made.")
        by_client: dict[int, list[Any]] = defaultdict(list)
        for row in sorted(rows, key=lambda r: (r.client_id, r.start)):
            by_client[row.client_id].append(row)
        documents = []
        for client_id, appts in by_client.items():
            days = [clock.to_local(a.start, tz).date() for a in appts]
            documents.append((client_id, min(days), max(days), appts, None))
        now = utcnow()
        self._insert_documents(s, kind, documents, now, automatic=False)
        column = "superbill_owed" if kind is DocumentKind.SUPERBILL else "statement_owed"
        table = APPOINTMENTS
        s.connection().execute(update(table).where(table.c.id.in_(chosen)).values({column: False}))
        refresh_owed_since(s.connection(), list(by_client))
        made = list(s.scalars(select(BillingDocument.id).join(BillingItem, BillingItem.document_id == BillingDocument.id)
                              .where(BillingItem.appointment_id.in_(chosen), BillingItem.kind == kind)
                              .distinct().order_by(BillingDocument.id)))
        for client_id, appts in by_client.items():
            audit(s, actor, "billing.generate", "client", client_id,
                  details={"kind": kind.value, "appointments": len(appts), "documents": made})
        return made
