"""An encrypted practice's key file, kept in step with its users (docs/rules.md, "Privacy at rest").

Every change to who may open the practice changes the key file in the same unit
of work as the users table: the key file is rewritten (atomically) just before
the transaction commits, and put back as it was if the transaction does not.

* a new Account Owner: a slot under their password, and one under the recovery key;
* a user added, a password reset, a user reactivated: a slot made from the stored
  password hash, remade under the password itself when they next sign in;
* a password changed (or set with the recovery key): a fresh slot under it;
* a user deactivated: their slot removed, so their password opens nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from desktop.controllers.errors import FileNotWritten
from desktop.storage.database import Database
from desktop.storage.keyfile import KeyFile, key_file_path, write_atomically


class Keyring:
    def __init__(self, db: Database) -> None:
        assert db.path is not None and db.keys is not None
        self.db = db
        self.path = key_file_path(db.path)
        # The recovery key a new Account Owner's slot is written with (``owner_created``).
        self.pending_recovery: str | None = None

    def read(self) -> KeyFile:
        return KeyFile.read(self.path, database=self.db.path)

    def change(self, change: Callable[[KeyFile, bytearray], object], s: Session | None = None) -> None:
        """Rewrite the key file with ``change`` applied (given the file and the database key).

        With ``s``, as part of that transaction: the database's write lock is taken first, so two
        workstations never read and rewrite the key file at once, and the old file comes back if
        the transaction does not commit (before the lock is let go). An encrypted file's commits
        are as durable as the key file's write (``synchronous=FULL``, database.py). Without
        ``s``, the caller holds the lock (or nobody else can write).
        """
        if s is not None:
            self.db.take_write_lock(s, "key file")
        try:
            before = self.path.read_bytes()
        except OSError as exc:
            raise FileNotWritten(f"Caseload cannot read the key file {self.path} ({exc.strerror or exc}); "
                                 "nothing was changed.") from None
        found = KeyFile.read(self.path, database=self.db.path)
        key = self.db.keys.copy()  # type: ignore[union-attr]
        try:
            change(found, key)
        finally:
            key[:] = bytes(len(key))
        try:
            found.write(self.path)
        except OSError as exc:
            raise FileNotWritten(f"Caseload cannot write the key file {self.path} ({exc.strerror or exc}); "
                                 "nothing was changed.") from None
        if s is not None:
            s.info.setdefault("undo_on_failure", []).append(lambda: write_atomically(self.path, before))

    # ------------------------------------------------------------ what the users controller calls

    def owner_created(self, s: Session, username: str, password: str) -> None:
        recovery = self.pending_recovery

        def change(found: KeyFile, key: bytearray) -> None:
            found.put_user(username, key, password)
            if recovery is not None:
                found.put_recovery(key, recovery)
            found.state = "ready"

        self.change(change, s)

    def user_hash(self, s: Session, username: str, password_hash: str) -> None:
        self.change(lambda found, key: found.put_user_from_hash(username, key, password_hash), s)

    def user_password(self, s: Session | None, username: str, password: str) -> None:
        self.change(lambda found, key: found.put_user(username, key, password), s)

    def user_removed(self, s: Session, username: str) -> None:
        self.change(lambda found, key: found.remove_user(username), s)
