"""What both list benchmarks share: the demo database, memory readings, the naive list, the table.

The *naive* list is the way STYLE.md warns against, built here so every run
times it beside ours on the same rows: one ``QStandardItem`` per cell for the
same seven columns, under a ``QSortFilterProxyModel`` that filters every column
by a fixed, case-insensitive string. Its rows are every client (of any Client
status) and every contact, in Name order, with exactly the texts our list
shows, read through the same ``Roster`` so that only the model differs.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without ``pip install -e .``
    sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from desktop.controllers.clients import StatusFilter  # noqa: E402
from desktop.controllers.roster import Column, Roster  # noqa: E402
from desktop.domain.models import Client  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402

WINDOW_SIZE = (1280, 800)
ROW_HEIGHT = 26  # the same fixed row height as ClientsPage
COLUMN_WIDTHS = (260, 80, 110, 110, 140, 280)  # as ClientsPage; the last column stretches


def default_database(clients: int) -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / f"caseload-bench-{clients}.db"


def ensure_demo_database(path: Path, clients: int, seed: int = 1) -> str:
    """The URL of a demo practice with exactly ``clients`` clients at ``path``, built if missing.

    A file holding a different number of clients is refused rather than
    overwritten: it may be someone's data.
    """
    from desktop.controllers.demo import build_demo_practice

    url = f"sqlite:///{path.resolve()}"
    db = open_database(url, create=True)
    try:
        with db.reading() as s:
            have = s.execute(select(func.count()).select_from(Client)).scalar_one()
        if have == clients:
            print(f"Reusing {path} ({have:,} clients).", flush=True)
            return url
        if have:
            raise SystemExit(f"{path} holds {have:,} clients, not {clients:,}; "
                             "pass another --db or remove that file.")
        print(f"Building a demo practice of {clients:,} clients in {path} …", flush=True)
        started = time.perf_counter()
        build_demo_practice(db, clients=clients, seed=seed)
        print(f"  built in {time.perf_counter() - started:.1f} s.", flush=True)
        return url
    finally:
        db.dispose()


def working_copy(url: str, folder: Path) -> tuple[str, int]:
    """A copy of the cached practice in ``folder`` for the window to work on, and how many
    billing documents it already has.

    The window bills its practice 1.5 s after the list is shown. On the copy of a demo
    that was never billed, that is the first full automatic run (two million
    appointments at 100,000 clients), so the list is measured while it goes: the worst
    case a person meets, and the same on every run of the benchmark, because the cached
    file itself is never billed.
    """
    import shutil

    from desktop.domain.models import BillingDocument

    source = Path(url.removeprefix("sqlite:///"))
    db = open_database(url)
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        with db.reading() as s:
            documents = s.execute(select(func.count()).select_from(BillingDocument)).scalar_one()
    finally:
        db.dispose()
    target = folder / source.name
    shutil.copyfile(source, target)
    return f"sqlite:///{target}", documents


def code_version() -> str:
    """The commit under test, marked when the work tree differs from it ("unknown" outside git)."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "desktop"],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} + uncommitted changes in desktop/" if dirty else commit


def rss_mb() -> float:
    """Resident memory of this process (VmRSS), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def naive_rows(roster: Roster) -> list[list[str]]:
    """Every row the roster holds (Client status All), in Name order, as display texts."""
    slots = roster.filter(StatusFilter.ALL, "", Column.NAME)
    columns = list(Column)
    return [[roster.text(slot, column) for column in columns] for slot in slots]


def build_naive_model(rows: Sequence[Sequence[str]]):  # type: ignore[no-untyped-def]
    """A ``QStandardItemModel`` with one item per cell, under a filtering proxy."""
    from PySide6.QtCore import QSortFilterProxyModel, Qt
    from PySide6.QtGui import QStandardItem, QStandardItemModel

    model = QStandardItemModel(0, len(Column))
    model.setHorizontalHeaderLabels([c.title for c in Column])
    for row in rows:
        model.appendRow([QStandardItem(text) for text in row])
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setFilterKeyColumn(-1)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    return model, proxy


def style_like_clients_table(view) -> None:  # type: ignore[no-untyped-def]
    """Give a plain QTableView the same look and geometry rules as the Clients table."""
    from PySide6.QtWidgets import QAbstractItemView, QHeaderView

    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    vertical = view.verticalHeader()
    vertical.setVisible(False)
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(ROW_HEIGHT)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    header.setHighlightSections(False)
    for column, width in enumerate(COLUMN_WIDTHS):
        header.resizeSection(column, width)


def quiet_offscreen_plugin() -> None:
    """Drop the offscreen platform's "does not support propagateSizeHints()" line; keep the rest."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(_kind, _context, message: str) -> None:  # type: ignore[no-untyped-def]
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


# ---------------------------------------------------------------- statistics and printing

def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    value = seconds * 1000
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def secs(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


def mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MB"


def ratio(naive: float | None, ours: float | None) -> str:
    if naive is None or ours is None or ours <= 0:
        return "—"
    return f"{naive / ours:,.1f}×"


class Report:
    """A plain-text table: metric, ours, naive, naive/ours, target, met."""

    HEAD = ("metric", "ours", "naive", "naive/ours", "target", "met")

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, metric: str, ours: str, naive: str = "—", ratio_text: str = "—",
            target: str = "—", met: bool | None = None) -> None:
        verdict = "" if met is None else ("yes" if met else "NO")
        self.rows.append((metric, ours, naive, ratio_text, target, verdict))

    def section(self, title: str) -> None:
        self.rows.append((title,))

    def print(self) -> None:
        full = [r for r in self.rows if len(r) > 1]
        widths = [max(len(str(r[i])) for r in [self.HEAD, *full]) for i in range(len(self.HEAD))]
        line = "  ".join("-" * w for w in widths)

        def fmt(row: tuple[str, ...]) -> str:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            return "  ".join(cells).rstrip()

        print(fmt(self.HEAD))
        print(line)
        for row in self.rows:
            print(row[0] if len(row) == 1 else fmt(row))
        print(line)
