"""From process start to a painted main window and a loaded Clients list, beside the naive way.

    python benchmarks/startup.py --clients 100000 [--db PATH] [--repeat 3] [--skip-naive]

Each measurement runs in a fresh Python process (this same file, started with
``--child ours|naive``), offscreen, with its own empty settings file. The
parent passes ``time.time()`` taken just before it starts the child in
``CASELOAD_BENCH_T0``; the child reports, as seconds since then:

* ``python``: the child's first line ran (interpreter start-up), and then
  the steps to the window (modules imported, application made, database
  opened, owner signed in, window built), printed as a breakdown;
* ``first_paint``: the first paint event of the main window (an event filter
  on the window catches ``QEvent.Paint``);
* ``loaded``: the list's rows are ready (ours: ``clients_page.loaded``);
* ``list_painted``: the first paint of the table with rows in it;

and ``rss_mb``, its VmRSS at that last moment.

*Ours* starts as ``desktop.ui.app.run`` does, minus the sign-in dialog (the
Account Owner is signed in programmatically): the real application object, the
real ``MainWindow`` shown at once, the list read on a pool thread. *Naive*
reads the same rows through the same ``Roster`` but then, before showing
anything, builds a ``QStandardItemModel`` (one item per cell, 7 columns) under a
``QSortFilterProxyModel`` in a ``QTableView`` below a search box, and drops the
roster. The first run of ours is a warm-up (it fills the OS file cache) and is
not counted; then ours and naive alternate, ``--repeat`` times each, and the
medians are reported.
"""

from __future__ import annotations

import time

_STARTED = time.time()  # the child's first moment; imports below are part of its start-up

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

T0_VARIABLE = "CASELOAD_BENCH_T0"
CHILD_TIMEOUT_S = 900
MARKS = ("python", "first_paint", "loaded", "list_painted")
# Steps on the way to the first paint, printed as a breakdown (seconds since process start).
STEPS = (("python", "Python running (interpreter start)"),
         ("imported", "PySide6 + Caseload modules imported"),
         ("application", "QApplication made"),
         ("database_open", "database opened (schema checked)"),
         ("signed_in", "owner signed in (argon2 verify)"),
         ("window_built", "window built (naive: + list read and model built)"))
FIRST_PAINT_TARGET_S = 1.2
RSS_TARGET_MB = 200


# ---------------------------------------------------------------------------- child

def child(mode: str, url: str, settings_path: str) -> None:
    """Start the app one way, print one JSON line of marks, and exit."""
    t0 = float(os.environ[T0_VARIABLE])
    marks: dict[str, float] = {"python": _STARTED - t0}

    def mark(name: str) -> None:
        marks.setdefault(name, time.time() - t0)

    import common
    from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
    from PySide6.QtWidgets import QLineEdit, QMainWindow, QTableView, QVBoxLayout, QWidget

    from desktop.controllers.roster import Roster
    from desktop.controllers.users import UsersController
    from desktop.storage.database import open_database
    from desktop.ui.app import make_application

    mark("imported")
    common.quiet_offscreen_plugin()
    app = make_application([sys.argv[0]])
    mark("application")
    db = open_database(url, create=True)
    mark("database_open")
    actor = UsersController(db).sign_in("owner", "demo")
    mark("signed_in")

    window: QMainWindow
    ours = None
    if mode == "ours":
        from desktop.controllers.practice import Practice
        from desktop.ui.main_window import MainWindow

        window = ours = MainWindow(Practice(db), actor, QSettings(settings_path, QSettings.Format.IniFormat))
        table = ours.clients_page.table
        ours.clients_page.loaded.connect(lambda: mark("loaded"))
        mark("window_built")
    else:
        roster = Roster(db, actor)
        roster.load()
        rows = common.naive_rows(roster)
        del roster
        _model, proxy = common.build_naive_model(rows)
        del rows
        window = QMainWindow()
        central = QWidget()
        search = QLineEdit()
        search.textChanged.connect(proxy.setFilterFixedString)
        table = QTableView()
        common.style_like_clients_table(table)
        table.setModel(proxy)
        table.setSortingEnabled(True)
        layout = QVBoxLayout(central)
        layout.addWidget(search)
        layout.addWidget(table, 1)
        window.setCentralWidget(central)
        window.resize(*common.WINDOW_SIZE)
        mark("window_built")
        mark("loaded")

    def finish() -> None:
        marks["rss_mb"] = common.rss_mb()
        print(json.dumps(marks), flush=True)
        os._exit(0)  # skip tearing down 100,000s of objects: not part of start-up

    class PaintWatch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                if watched is window:
                    mark("first_paint")
                elif "loaded" in marks and table.model().rowCount() > 0 and "list_painted" not in marks:
                    mark("list_painted")
                    QTimer.singleShot(0, finish)
            return False

    watch = PaintWatch()
    window.installEventFilter(watch)
    table.viewport().installEventFilter(watch)
    window.show()
    if ours is not None:
        ours.load()  # in the background, as desktop.ui.app.run does
    QTimer.singleShot(CHILD_TIMEOUT_S * 1000, finish)
    app.exec()


# ---------------------------------------------------------------------------- parent

def run_child(mode: str, url: str, settings_dir: Path) -> dict[str, float]:
    settings = settings_dir / f"{mode}-{time.monotonic_ns()}.ini"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    here = Path(__file__).resolve()
    env["PYTHONPATH"] = os.pathsep.join([str(here.parents[1]), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env[T0_VARIABLE] = repr(time.time())
    done = subprocess.run([sys.executable, str(here), "--child", mode, url, str(settings)],
                          env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S + 60)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the {mode} child failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    marks = json.loads(lines[-1])
    missing = [m for m in MARKS if m not in marks]
    if missing:
        raise SystemExit(f"the {mode} child timed out before: {', '.join(missing)}")
    return marks


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(*argv[1:4])
        return 0

    import common
    from common import Report, mb, median, ratio, secs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000, help="demo clients (default 100,000)")
    parser.add_argument("--db", type=Path, help="SQLite file to build or reuse "
                        "(default: caseload-bench-N.db in the temp folder)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind (default 3)")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive baseline")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.repeat < 1:
        parser.error("--clients and --repeat must be at least 1")
    args.db = args.db or common.default_database(args.clients)
    url = common.ensure_demo_database(args.db, args.clients)

    modes = ("ours",) if args.skip_naive else ("ours", "naive")
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="caseload-bench-") as tmp:
        print("Warm-up run (not counted) …", flush=True)
        run_child("ours", url, Path(tmp))
        for i in range(args.repeat):
            for mode in modes:
                marks = run_child(mode, url, Path(tmp))
                runs[mode].append(marks)
                print(f"  run {i + 1} {mode:5}: " + ", ".join(
                    f"{k} {marks[k]:.2f} s" for k in MARKS) + f", RSS {marks['rss_mb']:.0f} MB", flush=True)

    def med(mode: str, key: str) -> float | None:
        return median([r[key] for r in runs[mode]]) if mode in runs else None

    report = Report()
    skipped = "skipped"
    rows = (*((label, key, None) for key, label in STEPS),
            ("main window first painted", "first_paint", FIRST_PAINT_TARGET_S),
            ("list rows ready (ours: loaded signal)", "loaded", None),
            ("list painted with rows", "list_painted", None))
    for label, key, target in rows:
        ours, naive = med("ours", key), med("naive", key)
        report.add(label, secs(ours), secs(naive) if naive is not None else skipped, ratio(naive, ours),
                   f"≤ {target:.1f} s" if target else "—",
                   None if target is None or ours is None else ours <= target)
    ours_mb, naive_mb = med("ours", "rss_mb"), med("naive", "rss_mb")
    report.add("RSS once the list is painted", mb(ours_mb), mb(naive_mb) if naive_mb else skipped,
               ratio(naive_mb, ours_mb), f"≤ {RSS_TARGET_MB} MB",
               None if ours_mb is None else ours_mb <= RSS_TARGET_MB)

    print()
    print(f"Start-up — {args.clients:,} clients; {args.db}; medians of {args.repeat} fresh processes "
          f"each, seconds from process start; window {common.WINDOW_SIZE[0]}×{common.WINDOW_SIZE[1]} "
          f"offscreen; code {common.code_version()}")
    print()
    report.print()
    print("Ours shows the window first and reads the list on a pool thread; naive builds its whole "
          "model before showing anything, so its first paint comes with the list.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
