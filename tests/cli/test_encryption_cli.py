"""The encrypted practice file on the command line, run as separate processes as a user's script
runs them: init, the grep that finds nothing, backup and restore, throttling shared between
processes, recovery, and ``caseload encrypt`` killed at random moments (issue 14)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.controllers.practice import open_practice
from desktop.domain.models import Client
from desktop.storage import keyfile
from desktop.storage.database import open_database
from tests.cli.test_cli import Ran, refused, succeeded
from tests.helpers import PASSWORD, count

ROOT = Path(__file__).resolve().parents[2]
OWNER_PASSWORD = "olive's long passphrase"


def run(path: Path, *args: str, password: str | None = OWNER_PASSWORD, env: dict[str, str] | None = None,
        ) -> Ran:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CASELOAD_")}
    environ.update(QT_QPA_PLATFORM="offscreen", PYTHONIOENCODING="utf-8")
    if password is not None:
        environ["CASELOAD_PASSWORD"] = password
    environ.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "desktop", "--database", f"sqlite:///{path}", *args],
                          cwd=ROOT, env=environ, stdin=subprocess.DEVNULL, capture_output=True,
                          encoding="utf-8", timeout=300)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def encrypted(tmp_path: Path) -> tuple[Path, str]:
    """``caseload init`` and two clients added on the command line; the file and recovery key."""
    path = tmp_path / "caseload.db"
    out = succeeded(run(path, "init", "--owner", "olive", "--display-name", "Olive Owner", password=None,
                        env={"CASELOAD_NEW_PASSWORD": OWNER_PASSWORD}))
    recovery = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Recovery key"))
    for first, last in (("Zebulon", "Quixotic"), ("Ximena", "Ñañez")):
        succeeded(run(path, "clients", "add", "--as", "olive", "--first", first, "--last", last))
    return path, recovery


def test_init_makes_an_encrypted_file_in_which_grep_finds_no_client(encrypted: tuple[Path, str]) -> None:
    path, recovery = encrypted
    assert keyfile.normalize_recovery_key(recovery) == recovery
    for name in ("Zebulon", "Quixotic", "Ximena"):
        found = subprocess.run(["grep", "-c", name, str(path)], capture_output=True, text=True)
        assert found.stdout.strip() == "0"
    assert not path.read_bytes().startswith(b"SQLite format 3")
    listed = succeeded(run(path, "clients", "list", "--as", "olive", "--format", "json"))
    assert "Quixotic" in listed and "Ñañez" in listed
    assert "The practice file is locked" not in listed


def test_backup_then_restore_round_trips_with_the_same_password(encrypted: tuple[Path, str],
                                                                tmp_path: Path) -> None:
    path, _ = encrypted
    out = tmp_path / "safe" / "caseload-2026-11-26.db"
    out.parent.mkdir()
    said = succeeded(run(path, "backup", "--as", "olive", "--out", str(out)))
    assert "caseload-2026-11-26.keys" in said
    assert refused(run(path, "backup", "--as", "olive", "--out", str(out))).endswith(
        "already exists; choose a new name, so no backup is overwritten.")
    # Restoring is copying the two files back; the practice is then what it was.
    restored = tmp_path / "restored" / "caseload.db"
    restored.parent.mkdir()
    restored.write_bytes(out.read_bytes())
    keyfile.key_file_path(restored).write_bytes(keyfile.key_file_path(out).read_bytes())
    listed = succeeded(run(restored, "clients", "list", "--as", "olive", "--format", "json"))
    assert "Quixotic" in listed and "Ñañez" in listed
    # Without its key file the backup says what to do.
    keyfile.key_file_path(restored).unlink()
    line = refused(run(restored, "clients", "list", "--as", "olive"))
    assert "there is no key file caseload.keys beside it" in line


def test_throttling_holds_across_processes_and_the_next_sign_in_is_told(encrypted: tuple[Path, str]) -> None:
    path, _ = encrypted
    for _ in range(5):
        assert refused(run(path, "clients", "list", "--as", "olive", password="a wrong guess")) == \
            "caseload: Wrong username or password."
    sixth = refused(run(path, "clients", "list", "--as", "olive", password=OWNER_PASSWORD))
    # 15 seconds from the fifth failure, less the time this process took to start on a busy machine.
    assert re.fullmatch(r"caseload: Too many failed sign-in attempts for that username\. "
                        r"Wait 1[0-5] seconds, then try again\.", sixth), sixth
    # An unknown username gets exactly the same treatment.
    for _ in range(5):
        assert refused(run(path, "clients", "list", "--as", "ghost", password="a wrong guess")) == \
            "caseload: Wrong username or password."
    assert "Too many failed" in refused(run(path, "clients", "list", "--as", "ghost"))


def test_recover_sets_a_new_password_and_refuses_a_wrong_key_in_one_line(encrypted: tuple[Path, str]) -> None:
    path, recovery = encrypted
    line = refused(run(path, "recover", "--recovery-key", keyfile.new_recovery_key(), password=None,
                       env={"CASELOAD_NEW_PASSWORD": "a brand new passphrase"}))
    assert line == "caseload: That recovery key does not open this practice; nothing was changed."
    said = succeeded(run(path, "recover", "--recovery-key", recovery.lower(), password=None,
                         env={"CASELOAD_NEW_PASSWORD": "a brand new passphrase"}))
    assert "Olive Owner (olive) has a new password" in said
    refused(run(path, "clients", "list", "--as", "olive", password=OWNER_PASSWORD))
    listed = run(path, "clients", "list", "--as", "olive", password="a brand new passphrase")
    assert listed.code == 0 and "Quixotic" in listed.out
    assert listed.err == "caseload: 1 failed sign-in attempt since you last signed in.\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.one_of(st.text(max_size=60), st.sampled_from(["", "\x00", "A" * 5000, "\udcff", "AAAAA-" * 8])))
def test_recover_with_any_text_as_the_key_refuses_in_one_line_and_changes_nothing(
        tmp_path_factory: pytest.TempPathFactory, key: str) -> None:
    import contextlib
    import io

    from desktop.cli.main import main

    folder = tmp_path_factory.mktemp("recover")
    path, keys = _fuzz_practice(folder)
    before = (path.read_bytes(), keys.read_bytes())
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CASELOAD_NEW_PASSWORD", "a brand new passphrase")
        patch.delenv("CASELOAD_RECOVERY_KEY", raising=False)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(["--database", f"sqlite:///{path}", "recover", f"--recovery-key={key}"])
            except SystemExit as exit_:  # argparse's own refusals
                code = int(exit_.code or 0)
    said = err.getvalue()
    assert code != 0 and len(said.splitlines()) == 1 and said.startswith("caseload: "), said
    assert "Traceback" not in said and out.getvalue() == ""
    assert (path.read_bytes(), keys.read_bytes()) == before


_FUZZ_TEMPLATE: dict[str, bytes] = {}


def _fuzz_practice(folder: Path) -> tuple[Path, Path]:
    """A small encrypted practice, made once per run and copied."""
    path = folder / "caseload.db"
    keys = keyfile.key_file_path(path)
    if not _FUZZ_TEMPLATE:
        practice = open_practice(f"sqlite:///{path}", create=True)
        try:
            practice.access.create_owner("olive", "Olive Owner", OWNER_PASSWORD)
        finally:
            practice.close()
        _FUZZ_TEMPLATE.update(db=path.read_bytes(), keys=keys.read_bytes())
    else:
        path.write_bytes(_FUZZ_TEMPLATE["db"])
        keys.write_bytes(_FUZZ_TEMPLATE["keys"])
    return path, keys


# ---------------------------------------------------------------------- killed while encrypting

def _plain_practice(path: Path, clients: int) -> int:
    from desktop.controllers.demo import build_demo_practice

    db = open_database(f"sqlite:///{path}", create=True)
    try:
        build_demo_practice(db, clients=clients, password=PASSWORD)
        return count(db, Client)
    finally:
        db.dispose()


def _whole_practice(path: Path) -> tuple[str, int]:
    """Which practice is at ``path`` after the kill, and how many clients it holds."""
    practice = open_practice(f"sqlite:///{path}")
    try:
        kind = "encrypted" if practice.encrypted else "plain"
        practice.access.sign_in("owner", PASSWORD)
        assert practice.check(full=True) == []
        return kind, count(practice.db, Client)
    finally:
        practice.close()


def _start_encrypting(path: Path) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CASELOAD_")}
    environ.update(QT_QPA_PLATFORM="offscreen", CASELOAD_PASSWORD=PASSWORD)
    return subprocess.Popen([sys.executable, "-m", "desktop", "--database", f"sqlite:///{path}", "encrypt",
                             "--as", "owner"], cwd=ROOT, env=environ, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_encrypt_killed_at_random_moments_leaves_the_plain_or_the_encrypted_file_whole(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    clients = _plain_practice(template, 3000)
    # How long a whole run takes on this machine now: the kills are spread over it.
    timed = tmp_path / "timed" / "caseload.db"
    timed.parent.mkdir()
    timed.write_bytes(template.read_bytes())
    started = time.monotonic()
    assert _start_encrypting(timed).wait() == 0
    whole = time.monotonic() - started
    rng = random.Random(14)
    moments = [0.05, whole * 1.5] + [rng.uniform(0.1, whole) for _ in range(10)]
    seen: set[str] = set()
    for attempt, moment in enumerate(moments):
        folder = tmp_path / f"run{attempt}"
        folder.mkdir()
        path = folder / "caseload.db"
        path.write_bytes(template.read_bytes())
        proc = _start_encrypting(path)
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kind, found = _whole_practice(path)
        seen.add(kind)
        assert found == clients, (attempt, moment, kind)
        leftovers = {p.name for p in folder.iterdir()} - {"caseload.db", "caseload.db-wal", "caseload.db-shm",
                                                         "caseload.keys", "caseload.signin"}
        assert leftovers == set(), (moment, leftovers)
        if kind == "encrypted":
            assert b"SQLite format 3" not in path.read_bytes()[:16]
        else:
            assert path.read_bytes().startswith(b"SQLite format 3")
    assert seen == {"plain", "encrypted"}, f"the kills all landed on one side: {seen}"


def test_change_password_on_an_encrypted_file_goes_through_the_one_door(encrypted: tuple[Path, str]) -> None:
    path, _ = encrypted
    for _ in range(5):
        refused(run(path, "users", "change-password", "--as", "olive", password="a wrong guess",
                    env={"CASELOAD_NEW_PASSWORD": "olive's next passphrase"}))
    assert "Too many failed" in refused(run(path, "users", "change-password", "--as", "olive",
                                            env={"CASELOAD_NEW_PASSWORD": "olive's next passphrase"}))


def test_change_password_on_an_encrypted_file_changes_the_password_that_opens_it(
        encrypted: tuple[Path, str]) -> None:
    path, _ = encrypted
    assert "Your password was changed" in succeeded(run(
        path, "users", "change-password", "--as", "olive", env={"CASELOAD_NEW_PASSWORD": "olive's next passphrase"}))
    refused(run(path, "clients", "list", "--as", "olive"))
    assert "Quixotic" in run(path, "clients", "list", "--as", "olive", password="olive's next passphrase").out
