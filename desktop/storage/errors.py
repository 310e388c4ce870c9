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
    """Whether a change was saved cannot be found out (the server stays unreachable)."""


class KeyFileMissing(CaseloadError):
    """An encrypted practice file has no key file beside it."""


class KeyFileDamaged(CaseloadError):
    """The key file cannot be read or parsed."""


class KeyFileForeign(CaseloadError):
    """The key file belongs to another practice file."""


class PracticeLocked(DatabaseUnavailable):
    """The practice file is encrypted and nobody has signed in (or the screen is locked)."""
