"""Who may open the practice: signing in, the key file, locking, encrypting, backing up.

The rules are in docs/rules.md ("Privacy at rest" and "Signing in"):

* A new local practice is an encrypted file (SQLCipher 4) with a key file beside it
  (``desktop/storage/keyfile.py``). Nothing in it is read before someone signs in:
  their password unwraps their slot of the key file, whose key opens the file.
* After ``THRESHOLD`` failed sign-ins for one username, each further attempt must wait,
  from ``FIRST_WAIT`` seconds doubling up to ``MAX_WAIT``; the counts are shared by every
  process (``desktop/storage/attempts.py``). An unknown username is counted, timed and
  answered exactly as a wrong password.
* The idle lock drops the key and closes the connections; the same user's password
  opens it again.
* ``encrypt`` turns a plain file into an encrypted one; an interruption at any moment
  leaves one of the two whole. ``backup`` writes an encrypted copy with its key file.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from desktop.controllers.errors import (
    CaseloadError,
    DatabaseDamaged,
    FileNotWritten,
    InvalidInput,
    KeyFileForeign,
    KeyFileMissing,
    NotSignedIn,
    PermissionDenied,
    PracticeMissing,
    SignInThrottled,
)
from desktop.controllers.keyring import Keyring
from desktop.controllers.permissions import Actor
from desktop.domain.models import Role
from desktop.storage import practice_file
from desktop.storage.attempts import AttemptStore, FileAttempts, TableAttempts
from desktop.storage.database import (
    SCHEMA_HEAD,
    Database,
    KeyHolder,
    open_database,
    sqlcipher_module,
)
from desktop.storage.keyfile import (
    KeyFile,
    database_salt,
    key_file_path,
    last_group,
    last_group_matches,
    new_database_key,
    new_recovery_key,
    normalize_recovery_key,
    sync_folder,
)

if TYPE_CHECKING:
    from desktop.controllers.practice import Practice

THRESHOLD = 5
FIRST_WAIT = 15
MAX_WAIT = 300
WRONG = "Wrong username or password."
__all__ = ["Access", "SignedIn", "last_group", "last_group_matches", "open_database_for"]
RECOVERY_NAME = "\x00recovery key"  # the throttling bucket of recovery-key attempts
LEFTOVER_PLAIN = ".plain-old"  # the plain file, kept under this name until the encrypted one is in place
ENCRYPTING = ".encrypting"
ENCRYPTING_LOCK = ".encrypting-lock"  # held while ``encrypt`` runs
UNFINISHED_MAX_BYTES = 2 * 1024 * 1024  # a new practice's file before its Account Owner: about 300 KB


def wait_after(failures: int) -> int:
    """Seconds the next attempt must wait after ``failures`` failed ones since the last success."""
    if failures < THRESHOLD:
        return 0
    return min(MAX_WAIT, FIRST_WAIT * 2 ** min(failures - THRESHOLD, 16))


def say_wait(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@dataclass(frozen=True)
class SignedIn:
    actor: Actor
    # Failed attempts on this username since its last successful sign-in (said to the user).
    failed_attempts: int = 0

    @property
    def notice(self) -> str:
        n = self.failed_attempts
        if not n:
            return ""
        return f"{n} failed sign-in attempt{'s' if n != 1 else ''} since you last signed in."


# ---------------------------------------------------------------------- opening

def _sqlite_path(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except Exception:  # open_database says what is wrong with the URL
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database.startswith("file:") \
            or parsed.database == ":memory:" or "\x00" in parsed.database:
        return None
    return Path(parsed.database)


def open_database_for(url: str, *, create: bool, encrypt_new: bool) -> Database:
    """The database at ``url``: an encrypted file is opened locked (``Database.keys`` empty); a new
    local practice is made encrypted if ``encrypt_new``."""
    path = _sqlite_path(url)
    if path is None:
        return open_database(url, create=create)
    keys_path = key_file_path(path)
    _finish_interrupted_encryption(path)
    if practice_file.looks_encrypted(path):
        if not keys_path.exists():
            raise KeyFileMissing(
                f"{path} is encrypted or damaged, and there is no key file {keys_path.name} beside it. "
                f"If it is an encrypted practice, put its key file back in {path.parent} (both are in "
                "the same backup); otherwise restore it from a backup. Nothing was changed.")
        found = KeyFile.read(keys_path, database=path)
        if found.state == "new":
            # Made by a setting-up that stopped before its Account Owner existed: it holds nothing,
            # and is made again, but only if the key file names this very file and the file is as
            # small as a new one. Anything else may be a practice restored from a backup.
            ours = bool(found.database_salt) and found.database_salt == database_salt(path) \
                and path.stat().st_size <= UNFINISHED_MAX_BYTES
            if not ours:
                raise KeyFileForeign(
                    f"The key file {keys_path.name} beside {path} is one of a practice that was never set "
                    "up, not this file's. If this practice file was restored from a backup, put its own key "
                    "file beside it; if setting up a new practice was interrupted, delete both files and "
                    "start again. Nothing was changed.")
            if not create:
                raise PracticeMissing(
                    f"The practice at {path} was never finished being set up (its Account Owner was not "
                    "created). Start Caseload to set it up again.")
            for leftover in (path, keys_path, *(path.with_name(path.name + side) for side in practice_file.SIDE_FILES)):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        else:
            return open_database(url, keys=KeyHolder())
    exists = path.exists() and path.stat().st_size > 0
    if not exists and keys_path.exists():
        try:
            state = KeyFile.read(keys_path).state
        except CaseloadError:
            state = "ready"  # a damaged key file may still be someone's: never replaced by a new practice
        if state == "ready":
            raise PracticeMissing(
                f"The practice file {path} is missing or empty, but its key file {keys_path.name} is "
                "there. Restore the practice file from the backup it was saved in; nothing was changed.")
    if exists or not create or not encrypt_new:
        return open_database(url, create=create)
    # A new practice: the key file first (with no slots yet), then the encrypted file.
    fresh = KeyFile.new()
    try:
        keys_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh.write(keys_path)
    except OSError as exc:
        raise FileNotWritten(f"Caseload cannot write the key file {keys_path}: {exc.strerror or exc}.") from None
    holder = KeyHolder(new_database_key())
    try:
        db = open_database(url, create=True, keys=holder)
    except BaseException:
        with contextlib.suppress(OSError):
            keys_path.unlink()  # it named no file yet: nothing is lost with it
        raise
    fresh.database_salt = database_salt(path) or ""
    try:
        fresh.write(keys_path)
    except OSError as exc:
        db.dispose()
        raise FileNotWritten(f"Caseload cannot write the key file {keys_path}: {exc.strerror or exc}.") from None
    return db


def _finish_interrupted_encryption(path: Path) -> None:
    """After ``encrypt`` was cut short: remove its half-written copy, or, if the encrypted file is
    already in place, overwrite and remove the plain one it left."""
    lock = path.with_name(path.name + ENCRYPTING_LOCK)
    if not lock.exists():
        return  # never encrypted here: nothing can be left
    try:
        with practice_file.held_lock(lock, wait=False) as free:
            if not free:
                return  # an encryption is under way in another process: its files are not leftovers
            _remove_half_copy(path)
            old = path.with_name(path.name + LEFTOVER_PLAIN)
            if old.exists():
                if practice_file.looks_encrypted(path):
                    shred(old)  # the plain file the encrypted one replaced
                else:
                    old.unlink()  # a second name of the plain file, still in place: never overwritten
            with contextlib.suppress(OSError):
                lock.unlink()
    except OSError:
        return  # a folder Caseload cannot write in: opening says what is wrong, if anything


def _remove_half_copy(path: Path) -> None:
    half = path.with_name(path.name + ENCRYPTING)
    for leftover in (half, *(half.with_name(half.name + side) for side in practice_file.SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    if not path.with_name(path.name + "-journal").exists():
        # A super-journal an interrupted two-file commit left; no journal of this file needs it.
        for stale in path.parent.glob(glob_escape(path.name) + "-mj*"):
            with contextlib.suppress(OSError):
                stale.unlink()


def overwrite(path: Path) -> None:
    """Overwrite a file with zeros, in place, and flush it to disk (nothing if it is not there)."""
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        with path.open("r+b") as f:
            block = b"\0" * (1 << 20)
            left = size
            while left > 0:
                f.write(block[:min(left, len(block))])
                left -= len(block)
            f.flush()
            os.fsync(f.fileno())


def shred(path: Path) -> None:
    """Overwrite a file with zeros, flush it to disk, and remove it."""
    overwrite(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# ---------------------------------------------------------------------- the rules

class Access:
    """Signing in and out, the idle lock, the key file, encrypting and backing up, for one practice."""

    def __init__(self, practice: Practice) -> None:
        self.practice = practice
        db = practice.db
        self.keyring: Keyring | None = Keyring(db) if db.encrypted else None
        practice.users.keyring = self.keyring
        self.attempts: AttemptStore = FileAttempts(db.path) if db.path is not None else TableAttempts(db)
        self.signed_in: Actor | None = None
        self.screen_locked = False

    @property
    def db(self) -> Database:
        return self.practice.db

    @property
    def locked(self) -> bool:
        return self.db.locked

    def has_users(self) -> bool:
        if self.keyring is not None:
            found = self.keyring.read()
            return found.state == "ready" and found.user_slots > 0
        return self.practice.users.has_users()

    # ------------------------------------------------------------ the first Account Owner

    def create_owner(self, username: str, display_name: str, password: str) -> tuple[Actor, str | None]:
        """The practice's first user; with the recovery key to show them once (encrypted files)."""
        if self.keyring is None:
            actor = self.practice.users.create_account_owner(username, display_name, password)
            self.signed_in = actor
            return actor, None
        recovery = new_recovery_key()
        self.keyring.pending_recovery = recovery
        try:
            actor = self.practice.users.create_account_owner(username, display_name, password)
        finally:
            self.keyring.pending_recovery = None
        self.signed_in = actor
        return actor, recovery

    # ------------------------------------------------------------ throttling

    def _check_throttle(self, username: str) -> None:
        try:
            found = self.attempts.read(username)
        except OSError as exc:
            # Not counting would turn throttling off: nobody signs in until attempts can be counted.
            where = getattr(self.attempts, "path", "beside the practice file")
            raise FileNotWritten(
                f"Caseload cannot count sign-in attempts in {where} ({exc.strerror or exc}), so it signs "
                "nobody in; make that folder writable for you, then try again.") from None
        wait = wait_after(found.failures)
        if not wait or found.last_failure is None:
            return
        # A clock set back never makes the wait longer than the rule's.
        remaining = min(float(wait), found.last_failure + wait - time.time())
        if remaining > 0:
            seconds = math.ceil(remaining)
            raise SignInThrottled(
                f"Too many failed sign-in attempts for that username. Wait {say_wait(seconds)}, then try "
                "again.", wait_seconds=seconds)

    def _failed(self, username: str, *, audited: bool) -> None:
        with contextlib.suppress(CaseloadError, OSError):
            self.attempts.failed(username, time.time(), audited=audited)

    def _succeeded(self, username: str) -> int:
        try:
            found = self.attempts.succeeded(username)
        except (CaseloadError, OSError):
            return 0
        if found.unaudited:
            with contextlib.suppress(CaseloadError):
                self.practice.users.record_failed_attempts(username, list(found.unaudited))
        return found.failures

    # ------------------------------------------------------------ signing in

    def sign_in(self, username: str, password: str) -> SignedIn:
        """Sign ``username`` in, unlocking an encrypted file; ``NotSignedIn`` (one sentence) otherwise."""
        username = username if isinstance(username, str) else ""
        password = password if isinstance(password, str) else ""
        self._check_throttle(username)
        rehash = False
        if self.keyring is not None:
            found = self.keyring.read()
            key, slot = found.unwrap_user(username, password)
            if key is None or slot is None:
                self._failed(username, audited=False)
                raise NotSignedIn(WRONG)
            rehash = slot.rehash
            self._open_with(key)
        try:
            actor = self.practice.users.sign_in(username, password)
        except NotSignedIn:
            self._failed(username, audited=True)
            if self.signed_in is None:
                self.db.lock()
            raise
        if rehash and self.keyring is not None:
            self._remake_slot(actor.username, password)
        failures = self._succeeded(username)
        self.signed_in = actor
        self.screen_locked = False
        return SignedIn(actor, failures)

    def _open_with(self, key: bytearray) -> None:
        """Hold ``key`` and bring the file up to date; a key that does not open it is dropped."""
        keys = self.db.keys
        assert keys is not None
        if keys.present:
            key[:] = bytes(len(key))
            return
        keys.set(key)
        try:
            self.db.finish_opening()
        except DatabaseDamaged:
            self.db.lock()
            raise DatabaseDamaged(
                f"The practice file {self.db.path} does not open with its key file: it is damaged, or "
                "the key file was saved with another copy of it. Restore both from the same backup; "
                "nothing was changed.") from None
        except BaseException:
            self.db.lock()
            raise

    def _remake_slot(self, username: str, password: str) -> None:
        """A slot made from a stored hash, made again under the password with fresh parameters."""
        assert self.keyring is not None
        with contextlib.suppress(CaseloadError, OSError), self.db.transaction() as s:
            self.keyring.user_password(s, username, password)

    def sign_out(self) -> None:
        """Nobody is signed in any more: an encrypted file's key is dropped."""
        self.signed_in = None
        self.screen_locked = False
        self.db.lock()

    # ------------------------------------------------------------ the idle lock

    def lock(self) -> None:
        """The screen is locked: an encrypted file's key is dropped and its connections closed."""
        self.screen_locked = True
        self.db.lock()

    def unlock(self, actor: Actor, password: str) -> Actor:
        """The same person again, with their password; their actor as it is now."""
        password = password if isinstance(password, str) else ""
        self._check_throttle(actor.username)
        if self.keyring is not None and self.db.locked:
            key, _slot = self.keyring.read().unwrap_user(actor.username, password)
            if key is None:
                self._failed(actor.username, audited=False)
                raise NotSignedIn(f"That is not the password of {actor.display_name}.")
            self._open_with(key)
        try:
            again = self.practice.users.sign_in(actor.username, password)
        except NotSignedIn as refused:
            self._failed(actor.username, audited=True)
            self.db.lock()
            raise NotSignedIn(f"That is not the password of {actor.display_name}, or their account is "
                              "no longer active.") from refused
        self._succeeded(actor.username)
        self.signed_in = again
        self.screen_locked = False
        return again

    # ------------------------------------------------------------ the recovery key

    def new_recovery_key(self, actor: Actor) -> str:
        """A new recovery key replacing the old one (Account Owner, encrypted files)."""
        if self.keyring is None:
            raise InvalidInput("This practice file is not encrypted, so it has no recovery key; encrypt it "
                               "first.")
        recovery = new_recovery_key()
        self.practice.users.replace_recovery_key(actor, recovery)
        return recovery

    def recover(self, recovery_key: str, new_password: str, username: str | None = None) -> Actor:
        """Set an Account Owner's password with the recovery key; they are then signed in."""
        if self.keyring is None:
            raise InvalidInput("This practice file is not encrypted, so it has no recovery key; the "
                               "Account Owner can reset passwords from the Users window.")
        normal = normalize_recovery_key(recovery_key)
        if normal is None:
            raise InvalidInput("That is not a recovery key: it is 8 groups of 5 letters and digits, as "
                               "printed when it was made.", field="recovery_key")
        self._check_throttle(RECOVERY_NAME)
        key = self.keyring.read().unwrap_recovery(normal)
        if key is None:
            self._failed(RECOVERY_NAME, audited=False)
            raise NotSignedIn("That recovery key does not open this practice; nothing was changed.")
        self._open_with(key)
        try:
            actor = self.practice.users.recover_owner(username, new_password)
        except CaseloadError:
            if self.signed_in is None:
                self.db.lock()
            raise
        self._succeeded(RECOVERY_NAME)
        self.signed_in = actor
        return actor

    def users_added_outside(self, usernames: list[str]) -> None:
        """Slots for users written straight into the database (the demo), from their stored hashes."""
        if self.keyring is None or not usernames:
            return
        from sqlalchemy import select

        from desktop.domain.models import PracticeUser

        with self.db.transaction() as s:
            hashes = dict(s.execute(select(PracticeUser.username, PracticeUser.password_hash).where(
                PracticeUser.username.in_(usernames), PracticeUser.active.is_(True))).tuples().all())
            owner = s.execute(select(PracticeUser.id).where(
                PracticeUser.role == Role.ACCOUNT_OWNER, PracticeUser.active.is_(True)).limit(1)).first()

            def change(found: KeyFile, key: bytearray) -> None:
                for name, stored in hashes.items():
                    found.put_user_from_hash(name, key, stored)
                if owner:
                    found.state = "ready"  # a demo's own Account Owner finishes setting up a new practice

            self.keyring.change(change, s)

    # ------------------------------------------------------------ encrypting a plain file

    def encrypt(self, actor: Actor) -> str:
        """Turn this plain local file into an encrypted one with a key file; the recovery key.

        Every active user gets a slot from their stored password hash, so everyone signs in
        with the password they have. The practice stays open, now on the encrypted file.
        Another Caseload with the file open makes this refuse, having changed nothing.
        """
        path = self.db.path
        if path is None:
            raise InvalidInput("A practice on a server is not a file on this computer; its server keeps "
                               "it safe.")
        if self.db.encrypted:
            raise InvalidInput("This practice file is already encrypted.")
        if actor.role is not Role.ACCOUNT_OWNER:
            raise PermissionDenied("Only the Account Owner can encrypt the practice file.")
        self.practice.users.check_account_owner(actor)
        key = new_database_key()
        recovery = new_recovery_key()
        checked_out = getattr(self.db.engine.pool, "checkedout", lambda: 0)()
        if checked_out:
            # File locks are per process: a read of this process's own still going on would not
            # be stopped by the exclusive lock below, and would go on in the replaced file.
            raise InvalidInput("Caseload is still reading the practice file in the background; try again "
                               "in a moment. Nothing was changed.")
        self.db.dispose()
        module = sqlcipher_module()
        # Another Caseload opening the file meanwhile must not take this half-made copy for one an
        # interrupted encryption left (``_finish_interrupted_encryption``).
        lock = path.with_name(path.name + ENCRYPTING_LOCK)
        with practice_file.held_lock(lock):
            self._encrypt_holding_the_lock(path, key, recovery, module)
            with contextlib.suppress(OSError):
                lock.unlink()
        self.practice.reopen(open_database(f"sqlite:///{path}", keys=KeyHolder(key)))
        self.practice.users.note_encrypted(actor)
        return recovery

    def _encrypt_holding_the_lock(self, path: Path, key: bytearray, recovery: str, module) -> None:  # type: ignore[no-untyped-def]
        keys_path = key_file_path(path)
        tmp = path.with_name(path.name + ENCRYPTING)
        old = path.with_name(path.name + LEFTOVER_PLAIN)
        wrote_keys = swapped = False
        conn = None
        try:
            try:
                conn = module.connect(str(path), timeout=0.5, isolation_level=None)
                # Held until this connection closes: nobody else reads or writes the plain file
                # from here on. Leaving WAL needs it to be the only connection.
                conn.execute("PRAGMA locking_mode=EXCLUSIVE").fetchone()
                if conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()[0]:
                    raise module.OperationalError("a reader holds the WAL")
                # Every page of the WAL is in the file now: its copies of them (recent changes,
                # names included) are overwritten before SQLite removes it.
                overwrite(path.with_name(path.name + "-wal"))
                if conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0].lower() != "delete":
                    raise module.OperationalError("still in WAL mode")
                conn.execute("BEGIN EXCLUSIVE")
                conn.execute("COMMIT")
            except module.OperationalError:
                raise InvalidInput("Another Caseload window or program has this practice file open. Close "
                                   "it, then encrypt again; nothing was changed.") from None
            _remove_half_copy(path)
            conn.execute(f"ATTACH DATABASE ? AS encrypted KEY \"x'{key.hex()}'\"", (str(tmp),))
            conn.execute("PRAGMA encrypted.synchronous=FULL")
            # Deferred: only the copy is written, so SQLite needs no super-journal across the two
            # files (the plain one stays locked by the exclusive locking mode all the same).
            conn.execute("BEGIN")
            conn.execute("SELECT sqlcipher_export('encrypted')").fetchall()
            conn.execute(f"PRAGMA encrypted.application_id = {practice_file.APPLICATION_ID}")
            conn.execute(f"PRAGMA encrypted.user_version = {int(SCHEMA_HEAD)}")
            conn.execute("COMMIT")
            _same_rows(conn, "main", "encrypted")
            hashes = [tuple(row) for row in conn.execute(
                "SELECT username, password_hash FROM main.practice_users WHERE active ORDER BY username")]
            conn.execute("DETACH DATABASE encrypted")
            found = KeyFile.new()
            found.database_salt = database_salt(tmp) or ""
            unusable = [name for name, stored in hashes if not found.put_user_from_hash(name, key, stored)]
            if unusable:
                raise InvalidInput(
                    f"The stored password of {', '.join(unusable)} cannot be turned into a key; reset "
                    f"{'their passwords' if len(unusable) > 1 else 'that password'}, then encrypt again. "
                    "Nothing was changed.")
            found.put_recovery(key, recovery)
            found.state = "ready"
            found.write(keys_path)  # before the swap: an encrypted file is never without its key file
            wrote_keys = True
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
            os.link(path, old)
            os.replace(tmp, path)
            swapped = True
            sync_folder(path.parent)
            # Still holding the plain file: a writer of another process that was waiting for it
            # finds zeros (and says the file was replaced), never a file that takes its write.
            with contextlib.suppress(OSError):
                overwrite(old)
        except BaseException as exc:
            if not swapped:
                key[:] = bytes(len(key))
                with contextlib.suppress(OSError):
                    _remove_half_copy(path)
                if wrote_keys:
                    with contextlib.suppress(OSError):
                        keys_path.unlink()  # it named the copy, which is gone
                with contextlib.suppress(OSError):
                    old.unlink()  # a second name of the plain file, which stays as it was
            if isinstance(exc, (OSError, module.Error)) and not swapped:
                raise FileNotWritten(f"The practice file could not be encrypted ({exc}); it is as it was, "
                                     "unencrypted.") from exc
            raise
        finally:
            if conn is not None:
                conn.close()
        with contextlib.suppress(OSError):
            shred(old)
        for side in practice_file.SIDE_FILES:
            with contextlib.suppress(FileNotFoundError):
                path.with_name(path.name + side).unlink()

    # ------------------------------------------------------------ backing up

    def backup(self, actor: Actor, out: Path) -> tuple[Path, Path | None]:
        """A consistent copy of the practice at ``out`` (encrypted, with its key file beside it,
        for an encrypted practice); written whole or not at all, while others may be working."""
        path = self.db.path
        if path is None:
            raise InvalidInput("A practice on a PostgreSQL server is backed up with the server's own "
                               "tools (pg_dump); Caseload backs up local practice files.")
        self.practice.settings.check_may_back_up(actor)
        out = Path(out)
        if out.suffix.lower() in (".keys", ".signin"):
            raise InvalidInput(f"{out.name} is the name of a key file; name the backup like the practice "
                               "file, such as caseload-2026-11-26.db.", field="out")
        if out.exists() or out.resolve() == path.resolve():
            raise InvalidInput(f"{out} already exists; choose a new name, so no backup is overwritten.",
                               field="out")
        if not out.parent.is_dir():
            raise InvalidInput(f"There is no folder {out.parent}.", field="out")
        keys_out = key_file_path(out) if self.db.encrypted else None
        if keys_out is not None and keys_out.exists():
            raise InvalidInput(f"{keys_out} already exists; choose a new name for the backup.", field="out")
        tmp = out.with_name(out.name + ".partial")
        try:
            if self.db.encrypted:
                self._encrypted_copy(tmp)
                found = self.keyring.read() if self.keyring is not None else None
                assert found is not None
                found.database_salt = database_salt(tmp) or ""
                found.write(keys_out)  # type: ignore[arg-type]
            else:
                self._plain_copy(tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, out)
            sync_folder(out.parent)
        except CaseloadError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        except Exception as exc:
            for leftover in (tmp, keys_out):
                if leftover is not None:
                    with contextlib.suppress(OSError):
                        leftover.unlink()
            raise FileNotWritten(f"The backup could not be written to {out} ({exc}); nothing was left "
                                 "there.") from exc
        self.practice.settings.backed_up(actor, out.name)
        return out, keys_out

    def _encrypted_copy(self, tmp: Path) -> None:
        keys = self.db.keys
        assert keys is not None
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raw = self.db.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert conn is not None
            old_level = conn.isolation_level
            conn.isolation_level = None
            try:
                key = keys.copy()
                try:
                    conn.execute(f"ATTACH DATABASE ? AS backup KEY \"x'{key.hex()}'\"", (str(tmp),))
                finally:
                    key[:] = bytes(len(key))
                try:
                    conn.execute("PRAGMA backup.synchronous=FULL")
                    conn.execute("BEGIN")  # one snapshot of the practice, whatever others write meanwhile
                    conn.execute("SELECT sqlcipher_export('backup')").fetchall()
                    conn.execute(f"PRAGMA backup.application_id = {practice_file.APPLICATION_ID}")
                    conn.execute(f"PRAGMA backup.user_version = {int(SCHEMA_HEAD)}")
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    conn.execute("DETACH DATABASE backup")
            finally:
                conn.isolation_level = old_level
        finally:
            raw.close()

    def _plain_copy(self, tmp: Path) -> None:
        import sqlite3

        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # owner-only from the start
        raw = self.db.engine.raw_connection()
        try:
            source = raw.driver_connection
            target = sqlite3.connect(str(tmp))
            try:
                source.backup(target)  # type: ignore[union-attr]
            finally:
                target.close()
        finally:
            raw.close()


def _same_rows(conn, first: str, second: str) -> None:  # type: ignore[no-untyped-def]
    """Compare every table of two attached databases row by row; ``FileNotWritten`` if they differ."""
    tables = [row[0] for row in conn.execute(
        f"SELECT name FROM {first}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    copied = [row[0] for row in conn.execute(
        f"SELECT name FROM {second}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    if tables != copied:
        raise FileNotWritten("The encrypted copy does not have the same tables; the practice file is as it "
                             "was, unencrypted.")
    for table in tables:
        a = conn.execute(f'SELECT * FROM {first}."{table}" ORDER BY rowid')
        b = conn.cursor().execute(f'SELECT * FROM {second}."{table}" ORDER BY rowid')
        while True:
            left, right = a.fetchmany(2000), b.fetchmany(2000)
            if left != right:
                raise FileNotWritten(f"The encrypted copy of the table {table} differs from the original; "
                                     "the practice file is as it was, unencrypted.")
            if not left:
                break
