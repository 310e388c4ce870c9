"""One open practice: the handle the window and the command line hold.

``open_practice(url)`` opens (and migrates) the database and returns a
``Practice`` with the controllers, a roster for any signed-in user, a change
watcher and the text that says where the data lives. Neither the window nor
the command line sees the database, the storage layer or SQLAlchemy: every
rule they rely on is behind this handle, as calibre's GUI, server and
``calibredb`` all call one library object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.permissions import Actor
from desktop.controllers.roster import Roster
from desktop.controllers.settings import SettingsController
from desktop.controllers.users import UsersController
from desktop.storage.anchors import AnchorBook
from desktop.storage.database import Database, resolve_url
from desktop.storage.watch import ChangeWatcher

if TYPE_CHECKING:
    from desktop.controllers.access import Access
    from desktop.controllers.appointments import AppointmentsController
    from desktop.controllers.audit_log import AuditLogController
    from desktop.controllers.billing import BillingController
    from desktop.controllers.demo import DemoReport
    from desktop.controllers.duplicates import DuplicatesController

_MAKING = threading.Lock()  # the controllers made when first used (Practice._made_when_used)


@dataclass
class Practice:
    """The controllers of one database, and what the window needs around them."""

    db: Database = field(repr=False)

    def __post_init__(self) -> None:
        self._controllers()
        from desktop.controllers.access import Access

        # Signing in, the key file, locking, encrypting and backing up (desktop/controllers/access.py).
        self.access: Access = Access(self)

    def reopen(self, db: Database) -> None:
        """Go on with ``db`` (the same practice, now encrypted): the same signed-in person, new
        controllers; rosters and watchers made before must be made again."""
        old, self.db = self.db, db
        signed_in = self.access.signed_in
        self._controllers()
        from desktop.controllers.access import Access

        self.access = Access(self)
        self.access.signed_in = signed_in
        old.engine.dispose()

    def _controllers(self) -> None:
        self.clients = ClientsController(self.db)
        self.contacts = ContactsController(self.db)
        self.users = UsersController(self.db)
        self.settings = SettingsController(self.db)
        with _MAKING:
            self._made: dict[str, object] = {}  # made again, for this database, when next used

    # Made (and their modules imported) when first used: the window paints before them. Any
    # thread may be first (the audit anchor is kept on a worker's): one is made, for the
    # database of the moment.

    def _made_when_used(self, name: str, make: Callable[[Database], object]) -> Any:
        with _MAKING:
            made = self._made.get(name)
            if made is None:
                made = self._made[name] = make(self.db)
            return made

    @property
    def appointments(self) -> AppointmentsController:
        from desktop.controllers.appointments import AppointmentsController

        return self._made_when_used("appointments", AppointmentsController)

    @property
    def billing(self) -> BillingController:
        from desktop.controllers.billing import BillingController

        return self._made_when_used("billing", BillingController)

    @property
    def duplicates(self) -> DuplicatesController:
        from desktop.controllers.duplicates import DuplicatesController

        return self._made_when_used("duplicates", DuplicatesController)

    @property
    def audit(self) -> AuditLogController:
        from desktop.controllers.audit_log import AuditLogController

        return self._made_when_used("audit", lambda db: AuditLogController(db, AnchorBook(self.location)))

    @property
    def encrypted(self) -> bool:
        """Whether the practice is a local file encrypted with a key file beside it."""
        return self.db.encrypted

    @property
    def plain_local(self) -> bool:
        """Whether the practice is a local file that is not encrypted (the banner offers to)."""
        return self.db.is_sqlite and not self.db.encrypted

    @property
    def key_file(self) -> Path | None:
        """The key file beside an encrypted practice file (None otherwise)."""
        keyring = self.access.keyring
        return keyring.path if keyring is not None else None

    @property
    def locked(self) -> bool:
        """Whether the data cannot be read now: an encrypted file before sign-in, or the idle lock."""
        return self.access.locked

    @property
    def on_server(self) -> bool:
        """Whether the practice lives on a shared PostgreSQL server (else in a local file)."""
        return self.db.is_postgresql

    @property
    def location(self) -> str:
        """Where the data lives, for a person: the file's path, or the server URL without password."""
        if self.db.is_sqlite and self.db.engine.url.database:
            return str(Path(self.db.engine.url.database).resolve())
        return self.db.url

    def roster(self, actor: Actor) -> Roster:
        """The Clients and contacts list of ``actor``, held in memory (not loaded yet)."""
        return Roster(self.db, actor)

    def watcher(self) -> ChangeWatcher:
        """Something to ``poll()`` a few times a second: True when another process changed the data."""
        return ChangeWatcher(self.db)

    def load_demo(self, *, clients: int, password: str, actor: Actor | None = None,
                  seed: int = 1) -> DemoReport:
        """Fill an empty practice with demo data (see ``build_demo_practice``); on an encrypted
        file every demo user gets a slot in the key file."""
        from desktop.controllers.demo import build_demo_practice  # only when asked for

        report = build_demo_practice(self.db, clients=clients, password=password, actor=actor, seed=seed)
        self.access.users_added_outside(report.users_created)
        return report

    def when_erasure_waits(self, say: Callable[[], None] | None) -> None:
        """Have a deletion call ``say`` if erasing it must wait for another program's read."""
        self.db.while_erasure_waits = say

    def finish_pending_erasure(self) -> bool:
        """Finish, without waiting, a deletion's erasing that a reader held up; True if none is left."""
        return self.db.finish_pending_erasure()

    def file_problem(self) -> str | None:
        """Why the practice file can no longer be written (deleted, replaced, damaged), or None."""
        return self.db.file_problem()

    def check(self, *, full: bool = False) -> list[str]:
        """Check the practice file (quick, or ``full``); what is wrong, or nothing.

        After damage is found, every change is refused with a sentence that says
        to restore from a backup; reading goes on, so records can be looked up.
        """
        return self.db.check_integrity(full=full)

    def close(self) -> None:
        """Finish any pending erasure, let go of the database, and forget its key."""
        if not self.db.locked:
            self.db.dispose()
        else:
            self.db.engine.dispose()
        if self.db.keys is not None:
            self.db.keys.clear()


def where(url: str | None = None) -> tuple[str, bool | None]:
    """Where the practice at ``url`` lives, for a person, and whether its file exists (None: a server)."""
    resolved = resolve_url(url)
    if resolved.startswith("sqlite"):
        path = resolved.split(":///", 1)[-1]
        return str(Path(path).expanduser().resolve()) if path else resolved, Path(path).exists()
    return resolved.split("@")[-1], None


def open_practice(url: str | None = None, *, create: bool = False, encrypt_new: bool = True) -> Practice:
    """Open the practice at ``url`` (else the environment's, else the local file).

    ``create``: make a new practice there if there is none (the first run, ``demo``,
    ``init``); otherwise a missing practice is refused, never silently made anew. A new
    local practice is encrypted (``encrypt_new``), with a key file beside it.

    An encrypted file is not read until someone signs in (``Practice.access.sign_in``).

    Raises ``InvalidDatabaseUrl``, ``DatabaseUnavailable``, ``SchemaTooNew`` and the
    other ``CaseloadError``s with a sentence for a person; nothing else.
    """
    from desktop.controllers.access import open_database_for

    return Practice(open_database_for(resolve_url(url), create=create, encrypt_new=encrypt_new))
