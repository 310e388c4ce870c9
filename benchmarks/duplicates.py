"""How fast the duplicate finder is, and whether it finds what the demo planted.

    python benchmarks/duplicates.py --clients 100000 [--db PATH]

Builds (or reuses) a demo practice, runs the real finder the way the window
does (``DuplicatesController.find_client_duplicates``: read the rows, block by
date of birth / email / phone, score with rapidfuzz), and reports the time and
the recall of the planted duplicates (typos, swapped names, nicknames, case).

The baseline, in the same process, is the naive way: score every pair of
clients with the same scoring function. That is quadratic, so it is timed on a
sample and scaled by (n/sample)² — the printed ratio compares like with like.
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

from desktop.controllers.demo import build_demo_practice  # noqa: E402
from desktop.controllers.duplicates import DuplicatesController, Person, score_pair  # noqa: E402
from desktop.controllers.users import UsersController  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", type=Path, help="demo database to build or reuse")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2000, help="clients in the naive all-pairs run")
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
        from sqlalchemy import select

        from desktop.domain.models import Client

        people = [Person(*row) for row in s.execute(
            select(Client.id, Client.first_name, Client.last_name, Client.date_of_birth, Client.email,
                   Client.phone).limit(args.sample))]
    started = time.perf_counter()
    for a, b in itertools.combinations(people, 2):
        score_pair(a, b)
    naive_sample = time.perf_counter() - started
    naive = naive_sample * (args.clients / len(people)) ** 2

    print()
    print(f"{'metric':<44}{'ours':>12}{'naive':>14}{'ratio':>10}{'target':>10}")
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
