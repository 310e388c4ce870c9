"""How long the demo practice takes to build, and the automatic billing run to go through it,
beside the naive way, in one process.

    python benchmarks/billing_run.py [--clients 100000] [--repeat K] [--skip-naive] [--skip-demo]
                                     [--db PATH]

The issue's targets, at 100,000 clients (about two million appointments), on SQLite:

(a) ``caseload demo --clients 100000``: under 90 s. Timed as a person runs it (a
    separate process, from start to exit), into a new file each time; the first
    one built is kept as the benchmark's practice (``--db``, by default
    /tmp/caseload-bench-100000-appts.db) and reused by later runs of this script.
    Ours is also timed in this process (``build_demo_practice``), beside the naive
    way: the same rows written as SQLAlchemy executemany of dictionaries into the
    table with its five indexes kept up to date row by row (what the demo did
    before).
(b) The first full automatic run (``practice.billing.run_automatic()``, the one
    a new practice's first Caseload makes): at most 60 s. Each time on a fresh
    copy of the demo practice (the copy is not timed).
(c) A run when nothing is due (every later run, hourly on every workstation):
    at most 1 s. Ours: run again and again on the copy (b) billed.

The naive way of billing, in the same process, on a fresh copy for (b) and on
(b)'s billed copy for (c): the obvious ORM code. In one transaction, for each
kind of document, load as ORM objects every attended appointment of an active
client, not held for manual billing and before the cut-off, that has no item of
that kind (``NOT EXISTS`` over billing items: an anti-join over every
appointment); hold those from a time the client was inactive; then add each
document as an ORM object and flush it for its id, and its items after it. It
makes the same documents as ours on a first run (checked: the counts are
printed side by side).

Medians over ``--repeat`` runs of ours (the naive way runs once: it takes
minutes); ratio = naive / ours.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import common  # noqa: E402  (also puts the repository on sys.path)
from common import ratio, secs  # noqa: E402
from sqlalchemy import exists, func, insert, select  # noqa: E402

from desktop.controllers import demo  # noqa: E402
from desktop.controllers.billing import StatusTimeline, _month_end  # noqa: E402
from desktop.controllers.practice import open_practice  # noqa: E402
from desktop.controllers.settings import SettingsController  # noqa: E402
from desktop.domain import clock  # noqa: E402
from desktop.domain.models import (  # noqa: E402
    Appointment,
    Attendance,
    BillingDocument,
    BillingItem,
    Client,
    ClientStatus,
    DocumentKind,
    StatusChange,
    utcnow,
)
from desktop.storage.database import Database, open_database  # noqa: E402

DEMO_TARGET_S = 90.0
FIRST_RUN_TARGET_S = 60.0
NOTHING_DUE_TARGET_S = 1.0
NOTHING_DUE_REPEAT = 5


def default_database(clients: int) -> Path:
    return Path(tempfile.gettempdir()) / f"caseload-bench-{clients}-appts.db"


def remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def copy_practice(source: Path, target: Path) -> Path:
    """A fresh copy of the benchmark's practice (its file only: it is kept checkpointed)."""
    remove(target)
    shutil.copyfile(source, target)
    return target


def clients_in(path: Path) -> int:
    db = open_database(f"sqlite:///{path}")
    try:
        with db.reading() as s:
            return s.execute(select(func.count()).select_from(Client)).scalar_one()
    finally:
        db.dispose()


def checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, so that copying the file alone copies everything."""
    db = open_database(f"sqlite:///{path}")
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()


def say(text: str) -> None:
    print(text, flush=True)


# ----------------------------------------------------------------------------- (a) the demo

def demo_on_the_command_line(path: Path, clients: int) -> float:
    """``caseload demo --clients N`` into a new file, as a person runs it: seconds to exit."""
    remove(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELOAD_")}
    started = time.perf_counter()
    ran = subprocess.run([sys.executable, "-m", "desktop", "--database", f"sqlite:///{path}", "demo",
                          "--clients", str(clients)], cwd=common.REPO, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    took = time.perf_counter() - started
    if ran.returncode != 0:
        raise SystemExit(f"caseload demo failed ({ran.returncode}): {ran.stderr.strip()}")
    say(f"  {ran.stdout.strip()[:140]}")
    return took


class NaiveInsert(demo._BulkInsert):
    """The demo's rows written as SQLAlchemy executemany of dictionaries, as before."""

    def __init__(self, conn: Any, table: Any, columns: tuple[str, ...], *, batch: int = 20_000) -> None:
        super().__init__(conn, table, columns, batch=batch)
        self.raw = False  # values stay Python values; SQLAlchemy converts each row's

    def flush(self) -> None:
        if self.rows:
            self.conn.execute(insert(self.table), [dict(zip(self.columns, r, strict=True)) for r in self.rows])
            self.written += len(self.rows)
            self.rows = []


def demo_in_process(path: Path, clients: int, *, naive: bool) -> float:
    """``build_demo_practice`` into a new file; naive: rows as dictionaries, indexes kept up to date."""
    remove(path)
    db = open_database(f"sqlite:///{path}", create=True)
    saved = demo._BulkInsert, demo._without_indexes
    if naive:
        demo._BulkInsert = NaiveInsert  # type: ignore[misc]
        demo._without_indexes = lambda conn, table: []
    try:
        started = time.perf_counter()
        demo.build_demo_practice(db, clients=clients, seed=1)
        return time.perf_counter() - started
    finally:
        demo._BulkInsert, demo._without_indexes = saved  # type: ignore[misc]
        db.dispose()


# ----------------------------------------------------------------------------- the naive billing run

def naive_run(db: Database) -> dict[str, int]:
    """Bill what is due the obvious way (see the module's docstring); returns documents made by kind."""
    made: dict[str, int] = defaultdict(int)
    with db.transaction() as s:
        tz = SettingsController._read(s).zone
        last_day = clock.today(tz) - dt.timedelta(days=1)
        open_month = (last_day + dt.timedelta(days=1)).replace(day=1)
        before = {DocumentKind.SUPERBILL: clock.start_of_day(last_day + dt.timedelta(days=1), tz),
                  DocumentKind.STATEMENT: clock.start_of_day(open_month, tz)}
        changes: dict[int, list[Any]] = defaultdict(list)
        for change in s.scalars(select(StatusChange).order_by(StatusChange.changed_at, StatusChange.id)):
            changes[change.client_id].append((change.changed_at, change.from_status, change.to_status))
        timelines = {cid: StatusTimeline(ch[-1][2], ch) for cid, ch in changes.items()}
        now = utcnow()
        for kind in (DocumentKind.SUPERBILL, DocumentKind.STATEMENT):
            billed = exists().where(BillingItem.appointment_id == Appointment.id, BillingItem.kind == kind)
            due = s.scalars(
                select(Appointment).join(Client, Client.id == Appointment.client_id)
                .where(Client.status == ClientStatus.ACTIVE, Appointment.attendance == Attendance.ATTENDED,
                       Appointment.manual_billing_only.is_(False), Appointment.start < before[kind], ~billed)
                .order_by(Appointment.client_id, Appointment.start, Appointment.id)).all()
            documents: dict[tuple[int, dt.date, str], list[Appointment]] = defaultdict(list)
            for appt in due:
                timeline = timelines.get(appt.client_id)
                if timeline is not None and timeline.status_at(appt.start) is ClientStatus.INACTIVE:
                    appt.manual_billing_only = True
                    continue
                day = clock.to_local(appt.start, tz).date()
                if kind is DocumentKind.SUPERBILL:
                    documents[appt.client_id, day, f"superbill:{appt.id}"].append(appt)
                else:
                    month = day.replace(day=1)
                    documents[appt.client_id, month, f"statement:{appt.client_id}:{month:%Y-%m}"].append(appt)
            for (client_id, first, key), appts in documents.items():
                last = first if kind is DocumentKind.SUPERBILL else _month_end(first)
                doc = BillingDocument(client_id=client_id, kind=kind, period_start=first, period_end=last,
                                      amount=sum((Decimal(a.fee) for a in appts), Decimal("0")), automatic=True,
                                      created_at=now, automatic_key=key)
                s.add(doc)
                s.flush()  # for its id
                s.add_all(BillingItem(client_id=client_id, document_id=doc.id, appointment_id=a.id, kind=kind)
                          for a in appts)
                made[kind.value] += 1
    return dict(made)


# ----------------------------------------------------------------------------- measuring

def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``work`` takes, each timing from the same start: what earlier measurements left
    behind (demo practices built in this process, a naive run's objects) collected first and
    set aside, so that neither way pays for the other's garbage."""
    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        result = work()
        return time.perf_counter() - started, result
    finally:
        gc.unfreeze()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="the cached demo practice (default: /tmp/caseload-bench-N-appts.db)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of ours for the demo and the first run")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive ways (minutes each)")
    parser.add_argument("--skip-demo", action="store_true", help="reuse the cached demo practice, untimed")
    args = parser.parse_args()
    cached = args.db or default_database(args.clients)
    scratch = Path(tempfile.gettempdir()) / f"caseload-bench-{args.clients}-scratch.db"
    report = common.Report()
    say(f"Caseload {common.code_version()}, {args.clients:,} clients, SQLite; cached practice {cached}")

    # (a) the demo
    if cached.exists() and clients_in(cached) != args.clients:
        raise SystemExit(f"{cached} holds another practice; pass another --db or remove that file.")
    if not args.skip_demo or not cached.exists():
        cli_times, ours_in, naive_in = [], [], None
        for i in range(max(args.repeat, 1)):
            say(f"(a) caseload demo --clients {args.clients}, run {i + 1} …")
            cli_times.append(demo_on_the_command_line(scratch, args.clients))
            if not cached.exists():
                checkpoint(scratch)
                shutil.move(scratch, cached)
                remove(scratch)
        if not args.skip_demo:
            for i in range(max(args.repeat, 1)):
                say(f"(a) build_demo_practice in this process, ours, run {i + 1} …")
                ours_in.append(demo_in_process(scratch, args.clients, naive=False))
            if not args.skip_naive:
                say("(a) build_demo_practice in this process, the naive inserts …")
                naive_in = demo_in_process(scratch, args.clients, naive=True)
            remove(scratch)
        cli = statistics.median(cli_times)
        report.section(f"(a) the demo practice, {args.clients:,} clients")
        report.add("caseload demo (a process, start to exit)", secs(cli), target=f"< {DEMO_TARGET_S:.0f} s",
                   met=cli < DEMO_TARGET_S)
        if ours_in:
            ours = statistics.median(ours_in)
            report.add("build_demo_practice (in this process)", secs(ours), secs(naive_in),
                       ratio(naive_in, ours))
    db = open_database(f"sqlite:///{cached}")
    with db.reading() as s:
        appointments = s.execute(select(func.count()).select_from(Appointment)).scalar_one()
    db.dispose()
    say(f"The practice: {args.clients:,} clients, {appointments:,} appointments.")

    # (b) the first full run
    first_times, made = [], None
    for i in range(max(args.repeat, 1)):
        copy_practice(cached, scratch)
        practice = open_practice(f"sqlite:///{scratch}")
        say(f"(b) first automatic run, ours, run {i + 1} …")
        took, result = timed(practice.billing.run_automatic)
        first_times.append(took)
        made = result
        say(f"  {took:.1f} s: {result.documents_created:,} documents {dict(result.by_kind)}, "
            f"{result.held_for_manual_billing:,} held for manual billing")
        practice.close()
    naive_first = naive_made = None
    if not args.skip_naive:
        naive_file = Path(f"{scratch}.naive")
        copy_practice(cached, naive_file)
        db = open_database(f"sqlite:///{naive_file}")
        say("(b) first run, the naive way (minutes) …")
        naive_first, naive_made = timed(lambda: naive_run(db))
        db.dispose()
        remove(naive_file)
        say(f"  {naive_first:.1f} s: {sum(naive_made.values()):,} documents {naive_made}")
    ours_first = statistics.median(first_times)
    report.section("(b) the first full automatic run")
    report.add("run_automatic(), first", secs(ours_first), secs(naive_first), ratio(naive_first, ours_first),
               target=f"≤ {FIRST_RUN_TARGET_S:.0f} s", met=ours_first <= FIRST_RUN_TARGET_S)
    if made is not None:
        naive_count = f"{sum(naive_made.values()):,}" if naive_made else "—"
        report.add("  documents made", f"{made.documents_created:,}", naive_count)

    # (c) nothing due: on the copy ours billed in (b)
    practice = open_practice(f"sqlite:///{scratch}")
    again = []
    for _ in range(NOTHING_DUE_REPEAT):
        took, result = timed(practice.billing.run_automatic)
        assert result.documents_created == 0, result
        again.append(took)
    practice.close()
    naive_again = None
    if not args.skip_naive:
        db = open_database(f"sqlite:///{scratch}")
        times = []
        for _ in range(NOTHING_DUE_REPEAT):
            took, result = timed(lambda: naive_run(db))
            assert not result, result
            times.append(took)
        db.dispose()
        naive_again = statistics.median(times)
    ours_again = statistics.median(again)
    report.section(f"(c) a run when nothing is due (median of {NOTHING_DUE_REPEAT})")
    report.add("run_automatic(), nothing due", secs(ours_again), secs(naive_again), ratio(naive_again, ours_again),
               target=f"≤ {NOTHING_DUE_TARGET_S:.0f} s", met=ours_again <= NOTHING_DUE_TARGET_S)
    remove(scratch)
    print()
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
