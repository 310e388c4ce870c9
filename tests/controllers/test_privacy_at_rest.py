"""An encrypted practice file, its key file, signing in, throttling, recovering, encrypting and
backing up, through ``Practice`` as the window and the command line use it (issue 14)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from desktop.controllers import access as access_module
from desktop.controllers.errors import (
    DatabaseDamaged,
    InvalidInput,
    KeyFileDamaged,
    KeyFileForeign,
    KeyFileMissing,
    NotSignedIn,
    PermissionDenied,
    PracticeLocked,
    SignInThrottled,
)
from desktop.controllers.practice import Practice, open_practice
from desktop.domain.models import AuditEvent, Outcome, PracticeUser
from desktop.storage import keyfile
from desktop.storage.database import open_database
from tests.helpers import PASSWORD, seed_users

OWNER_PASSWORD = "the owner's long passphrase"
CLARA = "clara's own passphrase"
CHEAP = keyfile.KdfParams(time_cost=1, memory_kib=8 * 1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at a tenth of a second's cost instead of half a second: the rules are the same."""
    monkeypatch.setattr(keyfile, "USER_KDF", CHEAP)


def _fingerprint(*paths: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "absent" for p in paths}


def new_practice(folder: Path, *, clients: tuple[str, ...] = ("Zebulon Quixotic",)) -> tuple[Path, str]:
    """An encrypted practice with its Account Owner ("olive") and clients; its path and recovery key."""
    path = folder / "caseload.db"
    practice = open_practice(f"sqlite:///{path}", create=True)
    try:
        owner, recovery = practice.access.create_owner("olive", "Olive Owner", OWNER_PASSWORD)
        assert recovery is not None
        for name in clients:
            first, last = name.split(" ", 1)
            practice.clients.add_client(owner, first_name=first, last_name=last)
        practice.users.add_user(owner, "clara", "clinician", PASSWORD, entire_practice=True)
        practice.users.change_password(practice.access.sign_in("clara", PASSWORD).actor, PASSWORD, CLARA)
    finally:
        practice.close()
    return path, recovery


def reopen(path: Path) -> Practice:
    return open_practice(f"sqlite:///{path}")


def client_names(practice: Practice, username: str, password: str) -> list[str]:
    actor = practice.access.sign_in(username, password).actor
    return sorted(f"{r.first_name} {r.last_name}" for r in practice.clients.list_clients(actor))


# ---------------------------------------------------------------------- at rest

def test_a_new_practice_file_is_encrypted_and_its_key_file_names_nobody(tmp_path: Path) -> None:
    path, _recovery = new_practice(tmp_path, clients=("Zebulon Quixotic", "Émilie Løvås", "李小龍 王"))
    raw = path.read_bytes()
    assert not raw.startswith(b"SQLite format 3")
    for name in ("Zebulon", "Quixotic", "Émilie", "李小龍"):
        assert name.encode() not in raw
    keys = keyfile.key_file_path(path)
    assert keys.name == "caseload.keys"
    text = keys.read_text()
    assert "olive" not in text and "clara" not in text and OWNER_PASSWORD not in text
    found = json.loads(text)
    assert {s["kind"] for s in found["slots"]} == {"user", "recovery"}
    assert found["state"] == "ready"
    assert path.stat().st_mode & 0o777 == 0o600 and keys.stat().st_mode & 0o777 == 0o600
    # Without the key nothing is readable, not even the list of tables.
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("SELECT name FROM sqlite_master").fetchall()
    conn.close()


def test_nothing_is_read_before_sign_in_and_a_wrong_password_leaves_it_locked(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        assert practice.encrypted and practice.locked and practice.access.has_users()
        with pytest.raises(PracticeLocked):
            practice.users.has_users()
        for username, password in (("olive", "not the password"), ("nobody", OWNER_PASSWORD),
                                   ("", ""), ("olive\x00", OWNER_PASSWORD)):
            with pytest.raises(NotSignedIn) as refused:
                practice.access.sign_in(username, password)
            assert str(refused.value) == "Wrong username or password."
            assert practice.locked
        assert client_names(practice, "olive", OWNER_PASSWORD) == ["Zebulon Quixotic"]
        assert not practice.locked
        assert practice.access.sign_in("olive", OWNER_PASSWORD).failed_attempts == 0  # counted then cleared
    finally:
        practice.close()


def test_the_attempts_that_failed_while_locked_are_told_and_audited_at_the_next_sign_in(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        for _ in range(3):
            with pytest.raises(NotSignedIn):
                practice.access.sign_in("olive", "guess guess guess")
        signed = practice.access.sign_in("olive", OWNER_PASSWORD)
        assert signed.failed_attempts == 3
        assert signed.notice == "3 failed sign-in attempts since you last signed in."
        with practice.db.reading() as s:
            late = s.scalars(select(AuditEvent.details).where(AuditEvent.action == "user.sign_in",
                                                              AuditEvent.outcome == Outcome.DENIED)).all()
        assert len(late) == 3 and all(d["recorded_at_next_sign_in"] for d in late)
        assert practice.access.sign_in("olive", OWNER_PASSWORD).notice == ""
    finally:
        practice.close()


# ---------------------------------------------------------------------- the key file in step

def test_each_users_password_opens_the_file_in_step_with_the_users_table(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        owner = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        # A slot made from the stored hash is made again under the password at sign-in.
        practice.users.reset_password(owner, "clara", PASSWORD)
        assert keyfile.KeyFile.read(keyfile.key_file_path(path)).user_slot("clara").rehash  # type: ignore[union-attr]
        clara = practice.access.sign_in("clara", PASSWORD).actor
        assert not keyfile.KeyFile.read(keyfile.key_file_path(path)).user_slot("clara").rehash  # type: ignore[union-attr]
        practice.users.change_password(clara, PASSWORD, "clara's new passphrase")
        practice.users.reset_password(owner, "clara", "a reset passphrase")
        practice.users.deactivate(owner, "clara")
    finally:
        practice.close()

    def refused(username: str, password: str) -> None:
        practice = reopen(path)
        try:
            with pytest.raises(NotSignedIn):
                practice.access.sign_in(username, password)
            assert practice.locked
        finally:
            practice.close()

    for old in (PASSWORD, CLARA, "clara's new passphrase", "a reset passphrase"):
        refused("clara", old)  # deactivated: no slot any more
    assert keyfile.KeyFile.read(keyfile.key_file_path(path)).user_slot("clara") is None

    practice = reopen(path)
    try:
        owner = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        practice.users.reactivate(owner, "clara")
    finally:
        practice.close()
    practice = reopen(path)
    try:
        assert practice.access.sign_in("clara", "a reset passphrase").actor.must_change_password
    finally:
        practice.close()


def test_a_change_that_does_not_commit_puts_the_key_file_back(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path, _ = new_practice(tmp_path)
    keys = keyfile.key_file_path(path)
    practice = reopen(path)
    try:
        owner = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        before = keys.read_bytes()
        from desktop.controllers import users

        def broken_audit(*args: Any, **kwargs: Any) -> None:
            raise DatabaseDamaged("the disk is full")

        monkeypatch.setattr(users, "audit", broken_audit)
        with pytest.raises(DatabaseDamaged):
            practice.users.add_user(owner, "nadia", "biller", "nadia's passphrase")
        assert keys.read_bytes() == before
        monkeypatch.undo()
        monkeypatch.setattr(keyfile, "USER_KDF", CHEAP)
        assert "nadia" not in [u["username"] for u in practice.users.list_users(owner)]
    finally:
        practice.close()


# ---------------------------------------------------------------------- the recovery key

def test_the_recovery_key_sets_a_new_password_and_a_new_key_retires_the_old(tmp_path: Path) -> None:
    path, recovery = new_practice(tmp_path)
    practice = reopen(path)
    try:
        with pytest.raises(InvalidInput, match="8 groups of 5"):
            practice.access.recover("not a key", "whatever passphrase")
        with pytest.raises(NotSignedIn, match="does not open this practice"):
            practice.access.recover(keyfile.new_recovery_key(), "whatever passphrase")
        assert practice.locked
        # Typed as a person would copy it from paper: lower case, spaces, a 0 for an O.
        typed = recovery.lower().replace("-", " ").replace("o", "0")
        actor = practice.access.recover(typed, "olive's new passphrase")
        assert actor.username == "olive"
        with pytest.raises(PermissionDenied):
            clara = practice.access.sign_in("clara", CLARA).actor
            practice.access.new_recovery_key(clara)
        newer = practice.access.new_recovery_key(actor)
        assert newer != recovery and keyfile.normalize_recovery_key(newer) == newer
    finally:
        practice.close()
    practice = reopen(path)
    try:
        with pytest.raises(NotSignedIn):
            practice.access.sign_in("olive", OWNER_PASSWORD)
        with pytest.raises(NotSignedIn):
            practice.access.recover(recovery, "yet another passphrase")
        assert practice.access.recover(newer, "yet another passphrase").username == "olive"
    finally:
        practice.close()


# ---------------------------------------------------------------------- throttling

def test_after_five_failures_each_attempt_waits_longer_for_known_and_unknown_names_alike(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path, _ = new_practice(tmp_path)
    now = [1_800_000_000.0]
    monkeypatch.setattr(access_module.time, "time", lambda: now[0])
    first, second = reopen(path), reopen(path)  # two windows: the counts are shared
    try:
        for username in ("nobody-here", "olive"):
            waits = []
            for attempt in range(10):
                who = first if attempt % 2 else second
                try:
                    who.access.sign_in(username, "wrong wrong wrong")
                except SignInThrottled as throttled:
                    waits.append(throttled.wait_seconds)
                    assert str(throttled).startswith("Too many failed sign-in attempts for that username. Wait")
                    now[0] += throttled.wait_seconds
                    with pytest.raises(NotSignedIn) as again:
                        who.access.sign_in(username, "wrong wrong wrong")
                    assert not isinstance(again.value, SignInThrottled)
                except NotSignedIn as wrong:
                    assert str(wrong) == "Wrong username or password."
            assert waits[:4] == [15, 30, 60, 120], username
        assert access_module.wait_after(40) == 300
        # While throttled, not even the right password is tried.
        with pytest.raises(SignInThrottled):
            first.access.sign_in("olive", OWNER_PASSWORD)
        now[0] += 301
        assert first.access.sign_in("olive", OWNER_PASSWORD).failed_attempts >= 10
        with pytest.raises(NotSignedIn) as fresh:
            first.access.sign_in("olive", "one more wrong one")
        assert not isinstance(fresh.value, SignInThrottled)  # success started the count again
    finally:
        first.close()
        second.close()


def test_a_clock_set_back_never_makes_the_wait_longer_than_the_rule(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path, _ = new_practice(tmp_path)
    now = [1_800_000_000.0]
    monkeypatch.setattr(access_module.time, "time", lambda: now[0])
    practice = reopen(path)
    try:
        for _ in range(5):
            with pytest.raises(NotSignedIn):
                practice.access.sign_in("olive", "wrong wrong wrong")
        now[0] -= 86_400  # the computer's clock went back a day
        with pytest.raises(SignInThrottled) as throttled:
            practice.access.sign_in("olive", "wrong wrong wrong")
        assert throttled.value.wait_seconds == 15
    finally:
        practice.close()


# ---------------------------------------------------------------------- bad files

def _refused_unchanged(path: Path, exc: type[Exception], words: str, *, sign_in: bool = False) -> None:
    keys = keyfile.key_file_path(path)
    before = _fingerprint(path, keys)
    with pytest.raises(exc) as refused:
        practice = reopen(path)
        try:
            if sign_in:
                practice.access.sign_in("olive", OWNER_PASSWORD)
        finally:
            practice.close()
    message = str(refused.value)
    assert words in message and "\n" not in message and "Traceback" not in message
    assert _fingerprint(path, keys) == before


def test_a_database_copied_without_its_key_file_says_to_bring_the_key_file(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    keyfile.key_file_path(path).unlink()
    _refused_unchanged(path, KeyFileMissing, "no key file caseload.keys beside it")


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated", "wrong types", "huge", "absurd cost",
                                    "not utf-8", "kdf not an object", "deeply nested"])
def test_a_damaged_key_file_is_refused_in_one_sentence(tmp_path: Path, damage: str) -> None:
    path, _ = new_practice(tmp_path)
    keys = keyfile.key_file_path(path)
    good = json.loads(keys.read_text())
    if damage == "garbage":
        keys.write_bytes(b"garbage")
    elif damage == "empty":
        keys.write_bytes(b"")
    elif damage == "truncated":
        keys.write_bytes(keys.read_bytes()[:200])
    elif damage == "wrong types":
        good["slots"][0]["nonce"] = 12
        keys.write_text(json.dumps(good))
    elif damage == "huge":
        keys.write_bytes(b" " * (keyfile.MAX_FILE_BYTES + 10))
    elif damage == "absurd cost":
        good["slots"][0]["kdf"]["memory_kib"] = 1 << 40
        keys.write_text(json.dumps(good))
    elif damage == "kdf not an object":
        good["slots"][0]["kdf"] = "argon2id"
        keys.write_text(json.dumps(good))
    elif damage == "deeply nested":
        keys.write_text("[" * 100_000 + "]" * 100_000)
    else:
        keys.write_bytes(b"\xff\xfe{}")
    _refused_unchanged(path, KeyFileDamaged, "is damaged")


def test_a_key_file_of_another_practice_is_recognised_before_it_is_used(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path / "one")
    other, _ = new_practice(tmp_path / "two")
    keyfile.key_file_path(path).write_bytes(keyfile.key_file_path(other).read_bytes())
    _refused_unchanged(path, KeyFileForeign, "belongs to another practice file")


def test_a_truncated_database_is_refused_with_its_key_file_untouched(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:5000])  # cut mid-page
    _refused_unchanged(path, DatabaseDamaged, "cut short")
    path.write_bytes(data[:8192])  # cut at a page boundary: only reading tells
    _refused_unchanged(path, DatabaseDamaged, "does not open with its key file", sign_in=True)


def test_a_missing_practice_file_beside_its_key_file_is_not_replaced_by_a_new_one(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    path.unlink()
    keys = keyfile.key_file_path(path)
    before = keys.read_bytes()
    from desktop.controllers.errors import PracticeMissing

    with pytest.raises(PracticeMissing, match="its key file caseload.keys is there"):
        open_practice(f"sqlite:///{path}", create=True)
    assert keys.read_bytes() == before and not path.exists()


# ---------------------------------------------------------------------- idle lock

def test_the_lock_drops_the_key_and_only_the_same_password_brings_it_back(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        olive = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        practice.access.lock()
        assert practice.locked
        with pytest.raises(PracticeLocked):
            practice.clients.list_clients(olive)
        with pytest.raises(NotSignedIn, match="not the password of Olive Owner"):
            practice.access.unlock(olive, CLARA)  # clara's password is not olive's
        assert practice.locked
        again = practice.access.unlock(olive, OWNER_PASSWORD)
        assert [r.last_name for r in practice.clients.list_clients(again)] == ["Quixotic"]
    finally:
        practice.close()


def test_signing_out_drops_the_key_so_the_next_person_needs_their_own_slot(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        practice.access.sign_in("olive", OWNER_PASSWORD)
        practice.access.sign_out()
        assert practice.locked
        with pytest.raises(NotSignedIn):
            practice.access.sign_in("clara", "not clara's password")
        assert practice.access.sign_in("clara", CLARA).actor.username == "clara"
    finally:
        practice.close()


# ---------------------------------------------------------------------- encrypting a plain file

def _plain_practice(folder: Path) -> Path:
    path = folder / "caseload.db"
    db = open_database(f"sqlite:///{path}", create=True)
    actors = seed_users(db)
    practice = Practice(db)
    for first, last in (("Zebulon", "Quixotic"), ("Ana", "Pérez")):
        practice.clients.add_client(actors["owner"], first_name=first, last_name=last)
    practice.close()
    return path


def test_encrypting_a_plain_file_keeps_every_row_and_every_password(tmp_path: Path) -> None:
    path = _plain_practice(tmp_path)
    practice = reopen(path)
    wal = path.with_name("caseload.db-wal")
    try:
        # A recent change still in the WAL: its copy of the name must not outlive the plain file.
        practice.clients.add_client(practice.access.sign_in("manager", PASSWORD).actor,
                                    first_name="Walburga", last_name="Recentchange")
        assert b"Walburga" in wal.read_bytes()
        assert practice.plain_local and not practice.encrypted
        biller = practice.access.sign_in("biller", PASSWORD).actor
        with pytest.raises(PermissionDenied):
            practice.access.encrypt(biller)
        owner = practice.access.sign_in("owner", PASSWORD).actor
        recovery = practice.access.encrypt(owner)
        assert practice.encrypted and not practice.locked
        assert sorted(r.last_name for r in practice.clients.list_clients(owner)) == [
            "Pérez", "Quixotic", "Recentchange"]
        with pytest.raises(InvalidInput, match="already encrypted"):
            practice.access.encrypt(owner)
    finally:
        practice.close()
    raw = path.read_bytes()
    assert not raw.startswith(b"SQLite format 3") and b"Quixotic" not in raw and b"Walburga" not in raw
    assert not wal.exists() or b"Walburga" not in wal.read_bytes()
    assert not path.with_name("caseload.db.plain-old").exists()
    assert not path.with_name("caseload.db.encrypting").exists()
    for username in ("owner", "manager", "clinician", "biller", "scheduler"):
        practice = reopen(path)
        try:
            assert practice.access.sign_in(username, PASSWORD).actor.username == username
        finally:
            practice.close()
    practice = reopen(path)
    try:
        assert practice.access.recover(recovery, "owner's new passphrase").username == "owner"
        with practice.db.reading() as s:
            assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "practice.encrypt")).all()
    finally:
        practice.close()


def test_encrypting_while_another_program_has_the_file_open_changes_nothing(tmp_path: Path) -> None:
    path = _plain_practice(tmp_path)
    import subprocess
    import sys

    # Another program (another process: locks are per process) in the middle of reading it.
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('BEGIN'); "
         "c.execute('SELECT count(*) FROM clients').fetchone(); print('reading', flush=True); sys.stdin.read()",
         str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
    practice = reopen(path)
    try:
        owner = practice.access.sign_in("owner", PASSWORD).actor
        with pytest.raises(InvalidInput, match="has this practice file open"):
            practice.access.encrypt(owner)
        assert path.read_bytes().startswith(b"SQLite format 3")
        assert not keyfile.key_file_path(path).exists()
        assert not path.with_name("caseload.db.encrypting").exists()
    finally:
        practice.close()
        reader.communicate("")


# ---------------------------------------------------------------------- backups

def test_a_backup_is_encrypted_with_its_key_file_and_opens_with_the_same_passwords(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path / "live")
    out = tmp_path / "backups" / "caseload-2026-11-26.db"
    out.parent.mkdir()
    practice = reopen(path)
    try:
        olive = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        clara = practice.access.sign_in("clara", CLARA).actor
        with pytest.raises(PermissionDenied):
            practice.access.backup(clara, out)
        written, keys = practice.access.backup(olive, out)
        assert written == out and keys == out.with_name("caseload-2026-11-26.keys")
        with pytest.raises(InvalidInput, match="already exists"):
            practice.access.backup(olive, out)
        # The live practice goes on changing; the backup keeps the moment it was made.
        practice.clients.add_client(olive, first_name="After", last_name="Backup")
    finally:
        practice.close()
    raw = out.read_bytes()
    assert not raw.startswith(b"SQLite format 3") and b"Quixotic" not in raw
    assert out.stat().st_mode & 0o777 == 0o600
    restored = reopen(out)
    try:
        assert client_names(restored, "clara", CLARA) == ["Zebulon Quixotic"]
        assert restored.check(full=True) == []
    finally:
        restored.close()


def test_a_backup_that_cannot_be_written_leaves_nothing_behind(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        olive = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        with pytest.raises(InvalidInput, match="There is no folder"):
            practice.access.backup(olive, tmp_path / "nowhere" / "b.db")
        with pytest.raises(InvalidInput, match="name of a key file"):
            practice.access.backup(olive, tmp_path / "b.keys")
        # A file where the folder should be: nothing written, for root too.
        (tmp_path / "papers").write_text("keep me")
        from desktop.controllers.errors import FileNotWritten

        with pytest.raises((InvalidInput, FileNotWritten)):
            practice.access.backup(olive, tmp_path / "papers" / "b.db")
        assert (tmp_path / "papers").read_text() == "keep me"
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("caseload.")) == ["papers"]
    finally:
        practice.close()


# ---------------------------------------------------------------------- a server is unaffected

@pytest.mark.postgres
def test_a_server_practice_signs_in_as_before_with_throttling_shared_through_the_server(pg_url: str) -> None:
    from tests.conftest import make_pg

    db = make_pg(pg_url)
    seed_users(db)
    first, second = Practice(db), Practice(open_database(pg_url))
    try:
        assert not first.encrypted and not first.plain_local and not first.locked
        for _ in range(5):
            with pytest.raises(NotSignedIn):
                (first if _ % 2 else second).access.sign_in("owner", "wrong wrong wrong")
        with pytest.raises(SignInThrottled):
            second.access.sign_in("owner", PASSWORD)
        with pytest.raises(InvalidInput, match="server"):
            first.access.backup(first.access.sign_in("biller", PASSWORD).actor, Path("x.db"))
        with db.reading() as s:
            assert s.scalars(select(PracticeUser.username)).all()
    finally:
        first.close()
        second.close()


# ---------------------------------------------------------------------- the idle lock's setting

@pytest.mark.parametrize("typed", [0, 61, -5, "0", "61", "ten", "", "٣", "1e1", True, 10.5, "10\x00", "99999"])
def test_the_idle_lock_minutes_outside_one_to_sixty_are_refused_and_nothing_is_saved(
        db, practice, typed: object) -> None:  # type: ignore[no-untyped-def]
    from desktop.controllers.settings import SettingsController

    settings = SettingsController(db)
    owner = practice["owner"]
    with pytest.raises(InvalidInput) as refused:
        settings.save(owner, 0, {"name": "Lakeside", "idle_lock_minutes": typed}, [])
    assert str(refused.value) == "Lock after must be a whole number of minutes from 1 to 60."
    assert refused.value.field == "idle_lock_minutes"
    assert settings.settings(owner).version == 0


def test_the_idle_lock_minutes_are_saved_and_read_by_everyone(db, practice) -> None:  # type: ignore[no-untyped-def]
    from desktop.controllers.settings import SettingsController

    settings = SettingsController(db)
    assert settings.settings(practice["scheduler"]).idle_lock_minutes == 10
    settings.save(practice["owner"], 0, {"name": "Lakeside", "idle_lock_minutes": " 1 "}, [])
    assert settings.settings(practice["scheduler"]).idle_lock_minutes == 1
    settings.save(practice["owner"], 1, {"name": "Lakeside", "idle_lock_minutes": 60}, [])
    assert settings.settings(practice["clinician"]).idle_lock_minutes == 60
    with pytest.raises(PermissionDenied):
        settings.save(practice["scheduler"], 2, {"idle_lock_minutes": 5}, [])


def test_the_lock_also_closes_the_change_watchers_connection_and_the_watcher_waits_quietly(
        tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        olive = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        watcher = practice.watcher()
        watcher.changed()  # connects
        assert watcher._conn is not None
        practice.access.lock()
        assert watcher._conn is None  # no connection holds the key any more
        assert watcher.changed() is False  # and polling while locked is no error
        assert watcher._conn is None
        practice.access.unlock(olive, OWNER_PASSWORD)
        watcher.changed()
        other = reopen(path)
        try:
            other.clients.add_client(other.access.sign_in("olive", OWNER_PASSWORD).actor,
                                     first_name="New", last_name="Arrival")
        finally:
            other.close()
        assert watcher.changed() is True
        watcher.close()
    finally:
        practice.close()


def test_an_unknown_username_costs_what_a_wrong_password_costs(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Measured in Argon2 work, not seconds: a refusal spends one derivation at the users' cost,
    whoever is named; a cheaper slot (made from a stored hash) is padded to that time."""
    path, _ = new_practice(tmp_path)
    spent: list[keyfile.KdfParams] = []
    real = keyfile.derive

    def counting(secret: str | bytes, salt: bytes, params: keyfile.KdfParams) -> bytes:
        spent.append(params)
        return real(secret, salt, params)

    monkeypatch.setattr(keyfile, "derive", counting)
    practice = reopen(path)
    try:
        costs = {}
        for name in ("olive", "nobody-at-all", "OLIVE "):
            spent.clear()
            with pytest.raises(NotSignedIn, match="^Wrong username or password.$"):
                practice.access.sign_in(name, "a wrong passphrase")
            costs[name] = list(spent)
        assert costs["olive"] == costs["nobody-at-all"] == [keyfile.USER_KDF]
        # clara's slot, after a reset, is made from her stored hash: cheaper, so padded.
        owner = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        practice.users.reset_password(owner, "clara", PASSWORD)
        practice.access.sign_out()
        slept: list[float] = []
        monkeypatch.setattr(keyfile, "_USER_KDF_SECONDS", [30.0])
        monkeypatch.setattr(keyfile.time, "sleep", slept.append)
        with pytest.raises(NotSignedIn, match="^Wrong username or password.$"):
            practice.access.sign_in("clara", "a wrong passphrase")
        assert len(slept) == 1 and 29 < slept[0] <= 30
    finally:
        practice.close()


def test_a_backup_made_while_another_workstation_writes_is_whole(tmp_path: Path) -> None:
    import threading

    path, _ = new_practice(tmp_path / "live")
    writer, practice = reopen(path), reopen(path)
    stop = threading.Event()
    added: list[int] = []

    def keep_adding() -> None:
        actor = writer.access.sign_in("clara", CLARA).actor
        while not stop.is_set():
            added.append(writer.clients.add_client(actor, first_name="Busy", last_name=f"Writer{len(added)}"))

    thread = threading.Thread(target=keep_adding)
    try:
        olive = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        thread.start()
        while len(added) < 20:
            thread.join(0.01)
        out = tmp_path / "during.db"
        practice.access.backup(olive, out)
        stop.set()
        thread.join()
    finally:
        stop.set()
        writer.close()
        practice.close()
    restored = reopen(out)
    try:
        actor = restored.access.sign_in("olive", OWNER_PASSWORD).actor
        assert restored.check(full=True) == []
        names = [r.last_name for r in restored.clients.list_clients(actor, "all")]
        writers = sorted(int(n.removeprefix("Writer")) for n in names if n.startswith("Writer"))
        # A moment of the practice: every client added before it, none after, no half of one.
        assert writers == list(range(len(writers))) and 20 <= len(writers) <= len(added)
    finally:
        restored.close()


def test_encrypting_while_this_process_is_still_reading_waits_for_it(tmp_path: Path) -> None:
    path = _plain_practice(tmp_path)
    practice = reopen(path)
    try:
        owner = practice.access.sign_in("owner", PASSWORD).actor
        reading = practice.db.engine.connect()  # a background read of this process, under way
        with pytest.raises(InvalidInput, match="still reading the practice file"):
            practice.access.encrypt(owner)
        reading.close()
        assert path.read_bytes().startswith(b"SQLite format 3") and not practice.encrypted
        practice.access.encrypt(owner)
        assert practice.encrypted
    finally:
        practice.close()



# ---------------------------------------------------------------------- found in review

def test_usernames_differing_only_in_case_are_two_users_with_two_slots(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        owner = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        practice.users.add_user(owner, "Olive", "clinician", "the other olive's passphrase")
    finally:
        practice.close()
    for username, password, role in (("olive", OWNER_PASSWORD, "account_owner"),
                                     ("Olive", "the other olive's passphrase", "clinician")):
        practice = reopen(path)
        try:
            assert practice.access.sign_in(username, password).actor.role.value == role
        finally:
            practice.close()
    practice = reopen(path)
    try:
        with pytest.raises(NotSignedIn):  # the clinician's password never opens the owner's account
            practice.access.sign_in("olive", "the other olive's passphrase")
    finally:
        practice.close()


def test_two_workstations_changing_the_key_file_at_once_lose_neither_change(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    path, _ = new_practice(tmp_path)
    first, second = reopen(path), reopen(path)
    real_write = keyfile.KeyFile.write
    writing = threading.Event()

    def slow_write(self: keyfile.KeyFile, where: Path) -> None:
        if threading.current_thread().name == "deactivating":
            writing.set()
            time.sleep(0.5)  # the other workstation's change comes meanwhile
        real_write(self, where)

    import time

    monkeypatch.setattr(keyfile.KeyFile, "write", slow_write)
    try:
        owner_a = first.access.sign_in("olive", OWNER_PASSWORD).actor
        owner_b = second.access.sign_in("olive", OWNER_PASSWORD).actor
        first.users.add_user(owner_a, "mallory", "biller", "mallory's passphrase")
        deactivating = threading.Thread(target=first.users.deactivate, args=(owner_a, "mallory"),
                                        name="deactivating")
        deactivating.start()
        assert writing.wait(5)
        second.users.reset_password(owner_b, "clara", "clara's reset passphrase")
        deactivating.join()
    finally:
        first.close()
        second.close()
    found = keyfile.KeyFile.read(keyfile.key_file_path(path))
    assert found.user_slot("mallory") is None
    practice = reopen(path)
    try:
        with pytest.raises(NotSignedIn):
            practice.access.sign_in("clara", CLARA)
        assert practice.access.sign_in("clara", "clara's reset passphrase").actor.must_change_password
    finally:
        practice.close()


def test_a_key_file_of_an_unfinished_practice_never_removes_a_restored_file(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path / "restored")
    unfinished = open_practice(f"sqlite:///{tmp_path / 'new' / 'caseload.db'}", create=True)
    unfinished.close()  # set up stopped before its Account Owner
    keys = keyfile.key_file_path(path)
    keys.write_bytes(keyfile.key_file_path(tmp_path / "new" / "caseload.db").read_bytes())
    before = _fingerprint(path, keys)
    with pytest.raises(KeyFileForeign, match="belongs to another practice file"):
        open_practice(f"sqlite:///{path}", create=True)
    assert _fingerprint(path, keys) == before
    # Cut short before it named its file (no salt yet): still never taken for this one.
    stray = json.loads(keys.read_text())
    stray["database_salt"] = ""
    keys.write_text(json.dumps(stray))
    before = _fingerprint(path, keys)
    with pytest.raises(KeyFileForeign, match="never set up, not this file's"):
        open_practice(f"sqlite:///{path}", create=True)
    assert _fingerprint(path, keys) == before
    # The unfinished one itself is made again, as it held nothing.
    again = open_practice(f"sqlite:///{tmp_path / 'new' / 'caseload.db'}", create=True)
    try:
        assert again.encrypted and not again.access.has_users()
    finally:
        again.close()


def test_attempts_that_cannot_be_counted_stop_sign_in_with_one_sentence(tmp_path: Path) -> None:
    path, _ = new_practice(tmp_path)
    attempts = path.with_name("caseload.signin")
    attempts.unlink()
    attempts.mkdir()  # stands for a file Caseload may not write (the tests run as root)
    practice = reopen(path)
    try:
        from desktop.controllers.errors import FileNotWritten

        with pytest.raises(FileNotWritten, match="cannot count sign-in attempts") as refused:
            practice.access.sign_in("olive", OWNER_PASSWORD)
        assert "\n" not in str(refused.value) and practice.locked
    finally:
        practice.close()


def test_a_cheaper_slot_is_padded_to_the_full_cost_even_before_one_was_measured(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path, _ = new_practice(tmp_path)
    practice = reopen(path)
    try:
        owner = practice.access.sign_in("olive", OWNER_PASSWORD).actor
        practice.users.reset_password(owner, "clara", PASSWORD)  # a slot from the stored hash
        practice.access.sign_out()
        slot = keyfile.KeyFile.read(keyfile.key_file_path(path)).user_slot("clara")
        assert slot is not None and slot.rehash
        # A process that has not derived a full key yet, with users' keys dearer than stored hashes.
        full = keyfile.KdfParams(slot.params.time_cost * 2, slot.params.memory_kib * 2, slot.params.parallelism)
        monkeypatch.setattr(keyfile, "USER_KDF", full)
        monkeypatch.setattr(keyfile, "_USER_KDF_SECONDS", [])
        slept: list[float] = []
        monkeypatch.setattr(keyfile.time, "sleep", slept.append)
        started = time.perf_counter()
        with pytest.raises(NotSignedIn):
            practice.access.sign_in("clara", "a wrong passphrase")
        spent = time.perf_counter() - started
        # Four times the work: padded by about three times what the cheap slot took (the sleep
        # itself is not taken here, so ``spent`` is the cheap slot and the rest of the sign-in).
        assert len(slept) == 1 and spent < slept[0] < 4 * spent
    finally:
        practice.close()


def test_a_plain_practice_backs_up_to_a_private_plain_copy(tmp_path: Path) -> None:
    path = _plain_practice(tmp_path)
    out = tmp_path / "copy.db"
    practice = reopen(path)
    try:
        owner = practice.access.sign_in("owner", PASSWORD).actor
        assert practice.access.backup(owner, out) == (out, None)
    finally:
        practice.close()
    assert out.read_bytes().startswith(b"SQLite format 3") and out.stat().st_mode & 0o777 == 0o600
    assert not out.with_name("copy.db.partial").exists()
    copy = reopen(out)
    try:
        owner = copy.access.sign_in("owner", PASSWORD).actor
        assert sorted(r.last_name for r in copy.clients.list_clients(owner)) == ["Pérez", "Quixotic"]
    finally:
        copy.close()
