"""How fast the duplicate finder is, and whether it finds what the demo planted.

    python benchmarks/duplicates.py --clients 100000 [--db PATH]

Builds (or reuses) a demo practice, runs the real finder the way the window
does (``DuplicatesController.find_client_duplicates``: read the rows, block by
date of birth / email / phone, score with rapidfuzz), and reports the time and
the recall of the planted duplicates (typos, swapped names, nicknames, case).

The baseline, in the same process, is the naive way: score every pair of
clients with the same scoring function. That is quadratic, so it is timed on a
sample and scaled by (n/sample)² — the printed ratio compares like with like.

It also times the intake check the New client dialog runs before saving
(``likely_client_duplicates_of``: indexed look-ups by birth date, email and
phone, then scoring) for one side of each planted duplicate typed in as a new
client, against the naive way of reading every client and scoring each.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from desktop.controllers.demo import build_demo_practice  # noqa: E402
from desktop.controllers.duplicates import DuplicatesController, Person, score_pair  # noqa: E402
from desktop.controllers.users import UsersController  # noqa: E402
from desktop.domain.models import Client  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", type=Path, help="demo database to build or reuse")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2000, help="clients in the naive all-pairs run")
    parser.add_argument("--intake", type=int, default=50, help="new clients typed in for the intake check")
    args = parser.parse_args()

    path = args.db or Path(tempfile.gettempdir()) / f"caseload-dups-{args.clients}-{args.seed}.db"
    fresh = not path.exists()
    db = open_database(f"sqlite:///{path}", create=True)
    if fresh:
        started = time.perf_counter()
        report = build_demo_practice(db, clients=args.clients, seed=args.seed, password="demo")
        print(f"built demo practice of {args.clients:,} clients in {time.perf_counter() - started:.1f} s")
    else:
        # Rebuild the planted list the same way, deterministically, in a scratch database.
        scratch = Path(tempfile.mkdtemp()) / "replant.db"
        report = build_demo_practice(open_database(f"sqlite:///{scratch}", create=True), clients=args.clients,
                                     seed=args.seed, password="demo")
        os.remove(scratch)
    owner = UsersController(db).sign_in("owner", "demo")
    finder = DuplicatesController(db)

    times = []
    pairs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        pairs = finder.find_client_duplicates(owner)
        times.append(time.perf_counter() - started)
    ours = statistics.median(times)
    planted = {tuple(sorted((a, b))) for a, b, _k in report.planted_client_duplicates}
    found = {(p.left.id, p.right.id) for p in pairs}
    recall = len(planted & found) / len(planted) if planted else 1.0
    by_kind: dict[str, list[bool]] = {}
    for a, b, kind in report.planted_client_duplicates:
        by_kind.setdefault(kind, []).append(tuple(sorted((a, b))) in found)

    with db.reading() as s:
        people = [Person(*row) for row in s.execute(
            select(Client.id, Client.first_name, Client.last_name, Client.date_of_birth, Client.email,
                   Client.phone).limit(args.sample))]
    started = time.perf_counter()
    for a, b in itertools.combinations(people, 2):
        score_pair(a, b)
    naive_sample = time.perf_counter() - started
    naive = naive_sample * (args.clients / len(people)) ** 2

    # The intake check: each planted duplicate's second profile typed in again as a new client.
    with db.reading() as s:
        typed = {row[0]: row for row in s.execute(
            select(Client.id, Client.first_name, Client.last_name, Client.date_of_birth, Client.email,
                   Client.phone).where(Client.id.in_([b for _a, b, _k in report.planted_client_duplicates])))}
    checks = [(a, typed[b]) for a, b, _k in report.planted_client_duplicates][:args.intake]
    intake_times, intake_hits = [], 0
    for _ in range(args.repeat):
        for original, (_id, first, last, born, email, phone) in checks:
            values = {"first_name": first, "last_name": last, "date_of_birth": born.isoformat() if born else None,
                      "email": email, "phone": phone}
            started = time.perf_counter()
            found_now = finder.likely_client_duplicates_of(owner, values, exclude_id=_id)
            intake_times.append(time.perf_counter() - started)
            intake_hits += any(c.id == original for c in found_now)
    intake_median = statistics.median(intake_times)
    intake_max = max(intake_times)
    naive_intake = []
    for _original, (_id, first, last, born, email, phone) in checks[:3]:
        started = time.perf_counter()
        with db.reading() as s:
            everyone = [Person(*row) for row in s.execute(
                select(Client.id, Client.first_name, Client.last_name, Client.date_of_birth, Client.email,
                       Client.phone))]
        new = Person(0, first, last, born, email, phone)
        [score_pair(new, other) for other in everyone if other.id != _id]
        naive_intake.append(time.perf_counter() - started)
    naive_intake_median = statistics.median(naive_intake)

    print()
    print(f"{'metric':<44}{'ours':>12}{'naive':>14}{'ratio':>10}{'target':>10}")
    print(f"{'intake check, one new client (ms, median)':<44}{intake_median * 1000:>12.1f}"
          f"{naive_intake_median * 1000:>14.0f}{naive_intake_median / intake_median:>9.0f}×{'≤ 50':>10}")
    print(f"{'intake check, slowest (ms)':<44}{intake_max * 1000:>12.1f}")
    print(f"  ({len(checks)} planted duplicates typed in again, {args.repeat} times each; the original was "
          f"listed {intake_hits} of {len(checks) * args.repeat} times)")
    print(f"{'find duplicate clients, ' + format(args.clients, ',') + ' clients (s)':<44}"
          f"{ours:>12.2f}{naive:>14.0f}{naive / ours:>9.0f}×{'≤ 5':>10}")
    print(f"  (naive: all {len(people):,}² pairs took {naive_sample:.2f} s, scaled by (n/sample)²)")
    print(f"{'recall of planted duplicates':<44}{recall:>12.1%}")
    for kind, hits in sorted(by_kind.items()):
        print(f"  {kind:<42}{sum(hits):>6}/{len(hits)}")
    print(f"{'pairs offered in all':<44}{len(pairs):>12}")
    print(f"{'pairs offered that were not planted':<44}{len(found - planted):>12}")
    return 0 if recall == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
