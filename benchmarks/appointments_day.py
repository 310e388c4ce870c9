"""How fast the Appointments page opens a day of a practice with ~2,000,000 appointments, beside the naive way.

    python benchmarks/appointments_day.py [--clients 100000] [--db PATH] [--repeat K] [--skip-naive]

A demo practice of ``--clients`` clients (``caseload demo``: two years of
appointments, about 20 a client, so about 2,000,000 at 100,000 clients) is built
in a SQLite file, or reused if the file already holds exactly that many clients
and their appointments. The real ``AppointmentsPage`` is opened offscreen as the
Account Owner, in the room the main window gives its pages at 1280×800, with
"All clinicians", on a weekday five weeks back: a day of about 5,000
appointments. Then, with ``time.perf_counter``, from the click to the table
having repainted its visible rows (``viewport().repaint()`` forced, as in
``list_filter.py``):

* **Next day, read ahead** (the page as it runs): after a day is shown the page
  reads the days either side of it on a worker thread while the person looks at
  it; the timed click on Next day finds the day ready. Between clicks the
  benchmark waits for the read-ahead, as a person's second of looking does.
* **Next day clicked again at once**: a second click straight after the first,
  before the day after that could be read ahead: timed until its rows are painted.
* **A day not read ahead** (a jump with the date picker, to a day no one has read
  yet): the page reads the day's first screenful on the spot (``FIRST_ROWS``, a
  limited query) and the whole day on a worker thread; timed until the first rows
  are painted (the 50 ms target: what the person sees), and until every
  appointment of the day is in the table. Meanwhile a 5 ms timer on the GUI
  thread records the longest gap between its ticks: how long the window could not
  answer a keystroke or a click.
* **Next day, read on the spot**: the same click with the page told that reads
  are quick (``sync_read_limit`` infinite), so the controller's ``day`` runs on
  the GUI thread inside the click: what a plain synchronous call costs.
* **controller only**: ``practice.appointments.day`` alone, no Qt.

The naive baseline, in the same process on the same days: the ORM way, an
``Appointment`` object per row with its client, clinician and service loaded
lazily one by one (``session.get``, as a lazy relationship would), turned into
one ``QStandardItem`` per cell in a ``QStandardItemModel`` shown by a
``QTableView`` of the same size. Its click is "read and rebuild, then repaint".
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import common  # noqa: E402  (also puts the repository on sys.path)
from common import Stalls, median, ms, percentile, ratio  # noqa: E402
from PySide6.QtCore import QDate, QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QHBoxLayout, QListWidget, QTableView, QWidget  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from desktop.controllers.practice import Practice  # noqa: E402
from desktop.controllers.users import UsersController  # noqa: E402
from desktop.domain import clock  # noqa: E402
from desktop.domain.models import Appointment, Client, PracticeSettings, PracticeUser, Service  # noqa: E402
from desktop.domain.search import display_name  # noqa: E402
from desktop.storage.database import Database, open_database  # noqa: E402
from desktop.ui.app import make_application  # noqa: E402
from desktop.ui.appointments_page import (  # noqa: E402
    COLUMNS,
    READ_AHEAD_AFTER_MS,
    AppointmentsPage,
    day_in_words,
)
from desktop.ui.operation import wait_for_background_jobs  # noqa: E402

TARGET_S = 0.050
PAGE_SIZE = (1280 - 170, 800 - 90)  # the main window less its navigation, menu, toolbar and status bar
DAYS_BACK = 35  # five weeks back: the demo's busiest stretch (its practice has grown to the present)
READ_TIMEOUT_S = 60
LOOK_MS = READ_AHEAD_AFTER_MS + 200  # a glance at a day: the page has started its read-ahead by then


def default_database(clients: int) -> Path:
    import tempfile

    # Not the list benchmarks' file: one built before appointments existed would be reused empty.
    return Path(tempfile.gettempdir()) / f"caseload-bench-appointments-{clients}.db"


def count_appointments(url: str) -> int:
    db = open_database(url)
    try:
        with db.reading() as s:
            return s.execute(select(func.count()).select_from(Appointment)).scalar_one()
    finally:
        db.dispose()


def settle(app: QApplication) -> None:
    for _ in range(3):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)


def weekday_back(days: int) -> dt.date:
    day = dt.date.today() - dt.timedelta(days=days)
    return day - dt.timedelta(days=day.weekday())  # a Monday: the next four clicks are weekdays


@dataclass
class Result:
    rows: list[int] = field(default_factory=list)
    read_ahead: list[float] = field(default_factory=list)
    again: list[float] = field(default_factory=list)
    jump: list[float] = field(default_factory=list)
    jump_stall: list[float] = field(default_factory=list)
    again_whole: list[float] = field(default_factory=list)
    jump_whole: list[float] = field(default_factory=list)
    on_the_spot: list[float] = field(default_factory=list)
    controller: list[float] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    naive_rows: list[int] = field(default_factory=list)


def open_page(app: QApplication, practice: Practice, actor) -> tuple[QWidget, AppointmentsPage]:  # type: ignore[no-untyped-def]
    frame = QWidget()
    frame.setWindowTitle("Appointments")
    layout = QHBoxLayout(frame)
    layout.setContentsMargins(0, 0, 0, 0)
    navigation = QListWidget()
    navigation.setFixedWidth(170)
    layout.addWidget(navigation)
    # The page reads days through the controller; the roster is only for the New dialog's typing.
    page = AppointmentsPage(practice, actor, practice.roster(actor))
    layout.addWidget(page, 1)
    frame.resize(1280, PAGE_SIZE[1])
    frame.show()
    settle(app)
    return frame, page


def wait_shown(app: QApplication, page: AppointmentsPage, day: dt.date, *, whole: bool = False) -> None:
    """Run the event loop (as the application does: in Qt, not polling from Python) until ``day`` is shown:
    its first screenful, or with ``whole`` every appointment of it."""
    def shown() -> bool:
        return (page.view is not None and page.view.day == day and page.table.isEnabled()
                and (page.view.complete or not whole))

    deadline = time.monotonic() + READ_TIMEOUT_S
    while not shown():
        loop = QEventLoop()
        page.dayShown.connect(loop.quit)
        QTimer.singleShot(READ_TIMEOUT_S * 1000, loop, loop.quit)
        loop.exec()
        page.dayShown.disconnect(loop.quit)
        if time.monotonic() > deadline and not shown():
            raise SystemExit(f"{day} was not shown within {READ_TIMEOUT_S} s")


def look_at_the_day() -> None:
    """A person's look at the day shown: the whole day arrives, the page starts reading the days
    either side (READ_AHEAD_AFTER_MS after that repaint), and those reads end."""
    wait_for_background_jobs(READ_TIMEOUT_S * 1000)
    QTest.qWait(LOOK_MS)
    wait_for_background_jobs(READ_TIMEOUT_S * 1000)


def go_to(app: QApplication, page: AppointmentsPage, day: dt.date) -> None:
    """Show ``day`` and let the page read ahead around it (untimed)."""
    page.show_day(day)
    wait_shown(app, page, day)
    look_at_the_day()
    settle(app)


def timed_click(app: QApplication, page: AppointmentsPage, button: Callable[[], object]) -> float:
    settle(app)
    started = time.perf_counter()
    button()
    page.table.viewport().repaint()
    return time.perf_counter() - started


def measure_ours(app: QApplication, practice: Practice, actor, page: AppointmentsPage,  # type: ignore[no-untyped-def]
                 first: dt.date, repeat: int, result: Result) -> None:
    click_next = lambda: QTest.mouseClick(page.next_button, Qt.MouseButton.LeftButton)  # noqa: E731

    # The page as it runs: the day after the one shown was read ahead while it was looked at.
    go_to(app, page, first)
    for _ in range(repeat):
        expected = page.day + dt.timedelta(days=1)
        seconds = timed_click(app, page, click_next)
        if page.view is None or page.view.day != expected or not page.table.isEnabled():
            raise SystemExit(f"Next day did not show {expected} at once: was it read ahead?")
        result.read_ahead.append(seconds)
        result.rows.append(len(page.view.rows))
        look_at_the_day()  # the next read-ahead, while looking

    # Next day twice in a row, the second click before its day could be read ahead.
    for _ in range(repeat):
        QTest.mouseClick(page.next_button, Qt.MouseButton.LeftButton)
        expected = page.day + dt.timedelta(days=1)
        started = time.perf_counter()
        QTest.mouseClick(page.next_button, Qt.MouseButton.LeftButton)
        wait_shown(app, page, expected)
        page.table.viewport().repaint()
        result.again.append(time.perf_counter() - started)
        wait_shown(app, page, expected, whole=True)
        page.table.viewport().repaint()
        result.again_whole.append(time.perf_counter() - started)
        look_at_the_day()

    # A jump the page did not read ahead: the date picker, weeks away each time.
    stalls = Stalls()
    for i in range(repeat):
        day = first - dt.timedelta(days=7 * (i + 2))
        settle(app)
        stalls.start()
        started = time.perf_counter()
        page.date_edit.setDate(QDate(day.year, day.month, day.day))
        wait_shown(app, page, day)
        page.table.viewport().repaint()
        result.jump.append(time.perf_counter() - started)
        wait_shown(app, page, day, whole=True)
        page.table.viewport().repaint()
        result.jump_whole.append(time.perf_counter() - started)
        result.jump_stall.append(stalls.stop())
        look_at_the_day()

    # The same click with the read on the spot (a plain synchronous controller call).
    page.sync_read_limit = float("inf")
    go_to(app, page, first + dt.timedelta(days=14))
    for _ in range(repeat):
        page.reload()  # forgets every day read: the click reads its day
        settle(app)
        expected = page.day + dt.timedelta(days=1)
        result.on_the_spot.append(timed_click(app, page, click_next))
        if page.view is None or page.view.day != expected:
            raise SystemExit("Next day did not show the next day")

    for i in range(repeat):
        day = first + dt.timedelta(days=i)
        started = time.perf_counter()
        practice.appointments.day(actor, day)
        result.controller.append(time.perf_counter() - started)


# ---------------------------------------------------------------------------- naive

class NaiveDay:
    """The ORM way: objects per row, related rows loaded lazily one by one, an item per cell."""

    def __init__(self, db: Database, size: tuple[int, int]) -> None:
        from PySide6.QtGui import QStandardItemModel

        self.db = db
        self.model = QStandardItemModel(0, len(COLUMNS))
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.view = QTableView()
        common.style_like_clients_table(self.view)
        self.view.setModel(self.model)
        self.view.resize(*size)
        self.view.show()

    def show_day(self, day: dt.date) -> int:
        from PySide6.QtGui import QStandardItem

        with self.db.reading() as s:
            tz = clock.zone(s.execute(select(PracticeSettings.time_zone)).scalar() or "")
            begin, end = clock.day_bounds(day, tz)
            appointments = s.scalars(select(Appointment).where(Appointment.start >= begin, Appointment.start < end)
                                     .order_by(Appointment.start, Appointment.id)).all()
            rows = []
            for appt in appointments:
                client = s.get(Client, appt.client_id)  # lazy, one at a time
                clinician = s.get(PracticeUser, appt.clinician_id) if appt.clinician_id else None
                service = s.scalars(select(Service).where(Service.code == appt.service_code)).first()
                start = clock.to_local(appt.start, tz)
                finish = start + dt.timedelta(minutes=appt.duration_minutes)
                rows.append([f"{start:%H:%M} – {finish:%H:%M}",
                             display_name(client.first_name, client.last_name) if client else "",
                             clinician.display_name if clinician else "",
                             f"{appt.service_code} {service.description if service else ''}",
                             str(appt.duration_minutes), appt.attendance.label])
        self.model.removeRows(0, self.model.rowCount())
        for row in rows:
            self.model.appendRow([QStandardItem(text) for text in row])
        return len(rows)


def measure_naive(app: QApplication, url: str, page: AppointmentsPage, first: dt.date, repeat: int,
                  result: Result) -> None:
    db = open_database(url)
    naive = NaiveDay(db, (page.table.width(), page.table.height()))
    try:
        naive.show_day(first - dt.timedelta(days=1))  # warm, as ours was
        settle(app)
        for i in range(repeat):
            day = first + dt.timedelta(days=i)
            settle(app)
            started = time.perf_counter()
            result.naive_rows.append(naive.show_day(day))
            naive.view.viewport().repaint()
            result.naive.append(time.perf_counter() - started)
    finally:
        naive.view.close()
        db.dispose()


# ---------------------------------------------------------------------------- report

def report(args: argparse.Namespace, result: Result, first: dt.date, appointments: int) -> None:
    r = common.Report()
    naive = median(result.naive) if result.naive else None

    def line(metric: str, values: list[float], *, target: bool = False, compare: bool = False) -> None:
        value = median(values)
        r.add(metric, ms(value), ms(naive) if compare and naive is not None else "—",
              ratio(naive, value) if compare and naive is not None else "—",
              f"≤ {ms(TARGET_S)}" if target else "—", value <= TARGET_S if target else None)

    r.section("Click → the day's appointments repainted (median)")
    line("Next day, read ahead (the page as it runs)", result.read_ahead, target=True, compare=True)
    r.add("  p90 / max", f"{ms(percentile(result.read_ahead, 90))} / {ms(max(result.read_ahead))}")
    line("Next day clicked again at once (not read ahead yet)", result.again, compare=True)
    line("  … until every appointment of it is in the table", result.again_whole, compare=True)
    line("a day not read ahead (date picker): its first screenful", result.jump, target=True, compare=True)
    line("  … until every appointment of it is in the table (off the GUI thread)", result.jump_whole,
         compare=True)
    r.add("  longest the window could not answer meanwhile", ms(median(result.jump_stall)),
          "—", "—", f"≤ {ms(TARGET_S)}", median(result.jump_stall) <= TARGET_S)
    r.add("    … the longest over every jump", ms(max(result.jump_stall)), "—", "—", f"≤ {ms(TARGET_S)}",
          max(result.jump_stall) <= TARGET_S)
    line("Next day, read on the spot (plain synchronous call)", result.on_the_spot, compare=True)
    r.section("Without Qt")
    line("controller's day() alone", result.controller)

    print()
    print(f"Appointments page — {args.clients:,} clients, {appointments:,} appointments; {args.db}")
    print(f"Days from {day_in_words(first)} (All clinicians), {median(result.rows):,.0f} appointments a day "
          f"(naive read {median(result.naive_rows) if result.naive_rows else 0:,.0f}); "
          f"page {PAGE_SIZE[0]}×{PAGE_SIZE[1]} offscreen; repeat {args.repeat}")
    print(f"Code {common.code_version()}; Python {sys.version.split()[0]}, "
          f"PySide6 {__import__('PySide6').__version__}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print()
    r.print()
    print("naive: an Appointment object per row, its client, clinician and service loaded one at a time "
          "(session.get), a QStandardItem per cell; timed as a click that reads and rebuilds, then repaints.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000, help="demo clients (default 100,000)")
    parser.add_argument("--db", type=Path, help="SQLite file to build or reuse "
                        "(default: caseload-bench-appointments-N.db in the temp folder)")
    parser.add_argument("--repeat", type=int, default=5, help="clicks of each kind (default 5)")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the ORM baseline")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.repeat < 1:
        parser.error("--clients and --repeat must be at least 1")
    args.db = args.db or default_database(args.clients)
    url = common.ensure_demo_database(args.db, args.clients)
    appointments = count_appointments(url)
    if appointments < args.clients * 10:
        raise SystemExit(f"{args.db} holds only {appointments:,} appointments (built by an older Caseload?); "
                         "remove it and run again.")

    common.quiet_offscreen_plugin()
    app = make_application([sys.argv[0]])
    db = open_database(url)
    practice = Practice(db)
    actor = UsersController(db).sign_in("owner", os.environ.get("CASELOAD_PASSWORD", "demo"))
    frame, page = open_page(app, practice, actor)
    first = weekday_back(DAYS_BACK)
    result = Result()
    print(f"Measuring ours from {first} …", flush=True)
    gc.collect()
    measure_ours(app, practice, actor, page, first, args.repeat, result)
    if not args.skip_naive:
        print("Measuring the naive way …", flush=True)
        measure_naive(app, url, page, first, args.repeat, result)
    report(args, result, first, appointments)
    frame.close()
    wait_for_background_jobs()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
