"""Errors the storage layer raises that a user can be told about."""


class CaseloadError(Exception):
    """Base of every error whose message is meant for the user."""


class DatabaseUnavailable(CaseloadError):
    """The server is down, the connection dropped, or the file is locked."""


class SchemaTooNew(CaseloadError):
    """The database was written by a newer Caseload than this one."""


class DatabaseDamaged(CaseloadError):
    """The file is not a database, or its pages are damaged."""


class DatabaseRefused(CaseloadError):
    """The database refused a statement (a constraint, a value it cannot store)."""


class InvalidDatabaseUrl(CaseloadError):
    """The database location given is not a URL Caseload can use."""


class NotAPracticeFile(CaseloadError):
    """The file is not a Caseload practice (another program's, empty, unreadable)."""


class PracticeMissing(CaseloadError):
    """There is no practice at the location given, and none is being created."""


class CommitLost(CaseloadError):
    """The connection died while a commit was under way: whether it was saved is not known yet."""


class OutcomeUnknown(CaseloadError):
    """Whether a change was saved cannot be found out (the server stays unreachable).

    ``operation_id`` is the one the change's audit rows carry, so it can be looked up once
    the server answers again (``Database.operation_saved``); ``what`` says in a few words
    what was attempted ("the changes to a client's profile"), ``target_kind`` and
    ``target_id`` which record it concerned, if one. ``in_a_window`` is what a window that
    will look the change up itself says instead of the message (which tells someone at the
    command line to check).
    """

    def __init__(self, message: str, *, operation_id: str | None = None, what: str = "a change",
                 target_kind: str | None = None, target_id: int | None = None) -> None:
        super().__init__(message)
        self.operation_id = operation_id
        self.what = what
        self.target_kind = target_kind
        self.target_id = target_id

    @property
    def in_a_window(self) -> str:
        return ("The connection to the practice server was lost while saving, so whether it was "
                "saved is not known yet. Caseload will find out when the connection is back and say so.")


class ServerUnreachable(DatabaseUnavailable):
    """The practice server does not answer (it is down, or the network to it is), so nothing was done.

    ``nothing_saved``: the refusal was of a change. ``in_a_form`` is the sentence for a form that
    keeps what was typed.
    """

    def __init__(self, message: str, *, nothing_saved: bool = False) -> None:
        super().__init__(message)
        self.nothing_saved = nothing_saved

    @property
    def in_a_form(self) -> str:
        return ("The practice server could not be reached, so nothing was saved yet; your changes are "
                "still here — try again when the connection is back.")


class KeyFileMissing(CaseloadError):
    """An encrypted practice file has no key file beside it."""


class KeyFileDamaged(CaseloadError):
    """The key file cannot be read or parsed."""


class KeyFileForeign(CaseloadError):
    """The key file belongs to another practice file."""


class PracticeLocked(DatabaseUnavailable):
    """The practice file is encrypted and nobody has signed in (or the screen is locked)."""
