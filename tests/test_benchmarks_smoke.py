"""The clinic load benchmark runs end to end: two workstations on a SQLite file for two seconds.

Only that it runs and prints its table is checked; its numbers are for people to read
(benchmarks print their numbers; no timing is asserted in the tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "clinic_load.py"


def test_clinic_load_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--database", "sqlite", "--seconds", "2", "--grace", "1",
         "--workstations", "2", "--clients", "300"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lost updates (ledger against the database)" in done.stdout
    assert "p95" in done.stdout and "operations per second, in total" in done.stdout
