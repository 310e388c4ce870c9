"""What the list benchmarks share: the demo database (plain, and an encrypted copy of it),
memory readings, the naive list, the table.

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

    An encrypted cached practice (``encrypted_copy``) is opened with the owner's demo
    password to checkpoint and count it, and its key file is copied beside the copy.
    """
    import shutil

    from desktop.controllers.practice import open_practice
    from desktop.domain.models import BillingDocument
    from desktop.storage.keyfile import key_file_path

    source = Path(url.removeprefix("sqlite:///"))
    practice = open_practice(url)
    try:
        if practice.encrypted:
            practice.access.sign_in(DEMO_OWNER, DEMO_PASSWORD)
        db = practice.db
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        with db.reading() as s:
            documents = s.execute(select(func.count()).select_from(BillingDocument)).scalar_one()
        encrypted = practice.encrypted
    finally:
        practice.close()
    target = folder / source.name
    shutil.copyfile(source, target)
    if encrypted:
        shutil.copyfile(key_file_path(source), key_file_path(target))
    return f"sqlite:///{target}", documents


# ---------------------------------------------------------------- the encrypted copy

DEMO_OWNER, DEMO_PASSWORD = "owner", "demo"  # the demo's Account Owner (build_demo_practice)


def encrypted_path(plain_path: Path) -> Path:
    """Where the encrypted copy of a cached plain demo lives: ``caseload-bench-N-encrypted.db``."""
    return plain_path.with_name(f"{plain_path.stem}-encrypted{plain_path.suffix}")


def _demo_fingerprint(url: str) -> list[object]:
    """What tells one built demo from another, and stays the same when benchmarks sign in to it
    (which writes audit rows, so the file's modification time says nothing): its clients' count,
    highest id and the first and last clients' names and birth dates (the demo dates them from
    the day it is built)."""
    from sqlalchemy import text

    db = open_database(url)
    try:
        with db.reading() as s:
            count, highest, lowest = s.execute(text("SELECT count(*), max(id), min(id) FROM clients")).one()
            ends = [list(row) for row in s.execute(text(
                "SELECT id, first_name, last_name, date_of_birth FROM clients WHERE id IN (:a, :b) ORDER BY id"),
                {"a": lowest, "b": highest})]
    finally:
        db.dispose()
    return [count, highest, ends]


def _owner_slot_is_full_cost(keys_path: Path, database: Path) -> bool:
    """Whether the owner's slot in the key file is made under the password with this version's
    Argon2id parameters (as after a real user's first sign-in), not from a stored hash."""
    from desktop.storage.keyfile import USER_KDF, KeyFile

    try:
        slot = KeyFile.read(keys_path, database=database).user_slot(DEMO_OWNER)
    except Exception:  # a damaged or foreign key file: build the copy again
        return False
    return slot is not None and not slot.rehash and slot.params == USER_KDF


def encrypted_copy(plain_path: Path) -> str:
    """The URL of an encrypted copy of the cached plain demo at ``plain_path`` (with its key file),
    built beside it as ``caseload-bench-N-encrypted.db`` + ``.keys``, or reused.

    Built as a person would: the plain file is checkpointed and copied, the copy opened and
    encrypted by its Account Owner (``Practice.access.encrypt``, SQLCipher 4; every user
    gets a slot from their stored password hash), then the owner signs in once more, which
    remakes their slot with the full-cost Argon2id (``keyfile.USER_KDF``), as a real user's
    first sign-in after encrypting does.

    Reused while a stamp beside it (``…-encrypted.source``) records the same demo (see
    ``_demo_fingerprint``: not the modification time, which every sign-in to the plain file
    changes) and the owner's slot has this version's parameters; built again otherwise.
    """
    import json
    import shutil

    from desktop.controllers.practice import open_practice
    from desktop.storage.keyfile import USER_KDF, key_file_path
    from desktop.storage.practice_file import SIDE_FILES

    plain_url = f"sqlite:///{plain_path.resolve()}"
    target = encrypted_path(plain_path.resolve())
    keys = key_file_path(target)
    stamp = target.with_name(target.stem + ".source")
    wanted = {"plain": str(plain_path.resolve()), "demo": _demo_fingerprint(plain_url),
              "user_kdf": [USER_KDF.time_cost, USER_KDF.memory_kib, USER_KDF.parallelism]}
    url = f"sqlite:///{target}"
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if recorded == wanted and target.exists() and keys.exists() and _owner_slot_is_full_cost(keys, target):
        print(f"Reusing {target} (encrypted copy, key file {keys.name}).", flush=True)
        return url

    print(f"Building the encrypted copy {target} …", flush=True)
    started = time.perf_counter()
    for leftover in (stamp, target, keys, target.with_name(target.stem + ".signin"),
                     *(target.with_name(target.name + side) for side in SIDE_FILES)):
        leftover.unlink(missing_ok=True)
    db = open_database(plain_url)
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    shutil.copyfile(plain_path, target)
    practice = open_practice(url)
    try:
        owner = practice.access.sign_in(DEMO_OWNER, DEMO_PASSWORD).actor
        practice.access.encrypt(owner)  # the recovery key it returns is not needed here
    finally:
        practice.close()
    practice = open_practice(url)
    try:
        practice.access.sign_in(DEMO_OWNER, DEMO_PASSWORD)  # remakes the owner's slot at full cost
        with practice.db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        practice.close()
    if not _owner_slot_is_full_cost(keys, target):
        raise SystemExit(f"the owner's slot in {keys} was not remade with keyfile.USER_KDF; "
                         "cannot measure a real user's sign-in")
    stamp.write_text(json.dumps(wanted), encoding="utf-8")  # last: a build cut short is built again
    print(f"  built in {time.perf_counter() - started:.1f} s.", flush=True)
    return url


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


def load_note() -> str:
    """The machine's load averages and cores, to read the timings by (others may be working on it)."""
    import os

    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} cores"


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

class Stalls:
    """Records the longest gap between ticks of a 5 ms timer on the GUI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.longest_ms = 0

    def start(self) -> None:
        self.longest_ms = 0
        self.clock.start()
        self.timer.start()

    def _tick(self) -> None:
        self.longest_ms = max(self.longest_ms, self.clock.restart())

    def stop(self) -> float:
        self.timer.stop()
        self.longest_ms = max(self.longest_ms, self.clock.elapsed())
        return self.longest_ms / 1000


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


def ratio(naive: float | None, ours: float | None, digits: int = 1) -> str:
    if naive is None or ours is None or ours <= 0:
        return "—"
    return f"{naive / ours:,.{digits}f}×"


class Report:
    """A plain-text table: metric, ours, naive, naive/ours, target, met (or other ``head``ings)."""

    HEAD = ("metric", "ours", "naive", "naive/ours", "target", "met")
    # The encrypted-against-plain tables of startup.py and list_filter.py.
    ENCRYPTED_HEAD = ("metric", "plain", "encrypted", "encrypted/plain", "target", "met")

    def __init__(self, head: tuple[str, ...] = HEAD) -> None:
        self.head = head
        self.rows: list[tuple[str, ...]] = []

    def add(self, metric: str, ours: str, naive: str = "—", ratio_text: str = "—",
            target: str = "—", met: bool | None = None) -> None:
        verdict = "" if met is None else ("yes" if met else "NO")
        self.rows.append((metric, ours, naive, ratio_text, target, verdict))

    def section(self, title: str) -> None:
        self.rows.append((title,))

    def print(self) -> None:
        full = [r for r in self.rows if len(r) > 1]
        widths = [max(len(str(r[i])) for r in [self.head, *full]) for i in range(len(self.head))]
        line = "  ".join("-" * w for w in widths)

        def fmt(row: tuple[str, ...]) -> str:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            return "  ".join(cells).rstrip()

        print(fmt(self.head))
        print(line)
        for row in self.rows:
            print(row[0] if len(row) == 1 else fmt(row))
        print(line)
