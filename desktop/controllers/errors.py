"""The refusals a controller can answer with; each has a message for the user.

A controller raises one of these having changed nothing. The GUI shows the
message, the command line prints it on one line of stderr and exits non-zero.
"""

from desktop.storage.errors import (
    CaseloadError,
    CommitLost,
    DatabaseDamaged,
    DatabaseRefused,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    KeyFileDamaged,
    KeyFileForeign,
    KeyFileMissing,
    NotAPracticeFile,
    OutcomeUnknown,
    PracticeLocked,
    PracticeMissing,
    SchemaTooNew,
    ServerUnreachable,
)

__all__ = [
    "CaseloadError",
    "CommitLost",
    "ConfirmationMismatch",
    "DatabaseDamaged",
    "DatabaseRefused",
    "DatabaseUnavailable",
    "FileNotWritten",
    "InvalidDatabaseUrl",
    "InvalidInput",
    "KeyFileDamaged",
    "KeyFileForeign",
    "KeyFileMissing",
    "NotAPracticeFile",
    "PracticeMissing",
    "NotFound",
    "NotSignedIn",
    "OutcomeUnknown",
    "PermissionDenied",
    "PracticeLocked",
    "SignInThrottled",
    "SchemaTooNew",
    "ServerUnreachable",
    "StaleVersion",
]


class PermissionDenied(CaseloadError):
    """The signed-in user's role does not allow this."""


class ConfirmationMismatch(CaseloadError):
    """The name typed to confirm a deletion is not the client's name exactly."""


class StaleVersion(CaseloadError):
    """Someone else saved this record since it was loaded."""

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class NotFound(CaseloadError):
    """The record does not exist (any more)."""


class InvalidInput(CaseloadError):
    """A value is malformed; ``field`` names which one, for the form to point at."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotSignedIn(CaseloadError):
    """Wrong username or password; deliberately does not say which."""

    def __init__(self, message: str, *, user_id: int | None = None, username_known: bool = False) -> None:
        super().__init__(message)
        # What the gate's DENIED row records: never the name typed (it may be a password).
        self.audit_target_id = user_id
        self.audit_details = {"username_known": username_known}


class FileNotWritten(CaseloadError):
    """A file the person asked for could not be written; nothing was left behind."""


class SignInThrottled(NotSignedIn):
    """Too many failed attempts for this username: wait ``wait_seconds`` before the next."""

    def __init__(self, message: str, *, wait_seconds: int) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds
