"""Who may do what: docs/rules.md's permission table as one table, consulted by every operation.

A role's reach for an action is a ``Scope``: everything, only the clients
assigned to the user, or nothing. A clinician's row depends on their
entire-practice flag, so the table is keyed by ``AccessProfile``, not by role.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from desktop.domain.models import Role
from desktop.storage.queries import EVERYONE, Visibility


class Action(enum.StrEnum):
    SEE_CLIENTS = "see clients"
    EDIT_CLIENT = "edit client profiles"
    CHANGE_STATUS = "change client status"
    MERGE_CONTACTS = "merge contacts"
    MARK_DUPLICATE = "mark duplicates"
    MANAGE_APPOINTMENTS = "manage appointments"
    RUN_BILLING = "run billing"
    GENERATE_DOCUMENTS = "generate billing documents"
    SEE_BILLING = "see billing documents"
    SEE_HISTORY = "see a client's history"
    READ_AUDIT_LOG = "read the practice audit log"
    DELETE_CLIENT = "delete clients"
    PRACTICE_SETTINGS = "practice settings"
    MANAGE_USERS = "manage users"


class Scope(enum.Enum):
    NONE = 0
    ASSIGNED = 1
    ALL = 2


class AccessProfile(enum.StrEnum):
    ACCOUNT_OWNER = "Account Owner"
    PRACTICE_MANAGER = "Practice Manager"
    CLINICIAN_ENTIRE_PRACTICE = "Clinician, entire practice"
    CLINICIAN_OWN_CLIENTS = "Clinician, own clients"
    BILLER = "Biller"
    SCHEDULER = "Scheduler"


def access_profile(role: Role, entire_practice_access: bool) -> AccessProfile:
    if role is Role.CLINICIAN:
        return (AccessProfile.CLINICIAN_ENTIRE_PRACTICE if entire_practice_access
                else AccessProfile.CLINICIAN_OWN_CLIENTS)
    return AccessProfile[role.name]


A, O, N = Scope.ALL, Scope.ASSIGNED, Scope.NONE  # noqa: E741 - one letter keeps the table readable

# Columns in the order of AccessProfile: owner, manager, clinician (entire),
# clinician (own), biller, scheduler.
_TABLE: dict[Action, tuple[Scope, Scope, Scope, Scope, Scope, Scope]] = {
    Action.SEE_CLIENTS:         (A, A, A, O, A, A),
    Action.EDIT_CLIENT:         (A, A, A, O, N, N),
    Action.CHANGE_STATUS:       (A, A, A, O, N, N),
    Action.MERGE_CONTACTS:      (A, A, A, O, N, N),
    Action.MARK_DUPLICATE:      (A, A, A, O, N, N),
    Action.MANAGE_APPOINTMENTS: (A, A, A, O, N, A),
    Action.RUN_BILLING:         (A, A, N, N, A, N),
    Action.GENERATE_DOCUMENTS:  (A, A, N, N, A, N),
    Action.SEE_BILLING:         (A, A, A, O, A, N),
    Action.SEE_HISTORY:         (A, A, A, O, N, N),
    Action.READ_AUDIT_LOG:      (A, A, N, N, N, N),
    Action.DELETE_CLIENT:       (A, A, A, N, N, N),
    Action.PRACTICE_SETTINGS:   (A, A, N, N, N, N),
    Action.MANAGE_USERS:        (A, N, N, N, N, N),
}

PERMISSIONS: dict[AccessProfile, dict[Action, Scope]] = {
    profile: {action: row[i] for action, row in _TABLE.items()}
    for i, profile in enumerate(AccessProfile)
}


@dataclass(frozen=True)
class Actor:
    """The signed-in user on whose behalf an operation runs."""

    user_id: int
    username: str
    display_name: str
    role: Role
    entire_practice_access: bool = False
    # A password someone else chose: every operation but changing it is refused until then.
    must_change_password: bool = False

    @property
    def profile(self) -> AccessProfile:
        return access_profile(self.role, self.entire_practice_access)

    def scope(self, action: Action) -> Scope:
        return PERMISSIONS[self.profile][action]

    def can(self, action: Action, clinician_id: int | None = None, *, any_client: bool = False) -> bool:
        """May this user do ``action`` to a client assigned to ``clinician_id``?

        With ``any_client`` the question is whether the action is open to them
        at all (for showing a button), not for one particular client.
        """
        scope = self.scope(action)
        if scope is Scope.ALL:
            return True
        if scope is Scope.ASSIGNED:
            return any_client or clinician_id == self.user_id
        return False

    def visibility(self, action: Action = Action.SEE_CLIENTS) -> Visibility:
        """Which clients this user's queries for ``action`` may return."""
        scope = self.scope(action)
        if scope is Scope.ALL:
            return EVERYONE
        if scope is Scope.ASSIGNED:
            return Visibility(clinician_id=self.user_id)
        return Visibility(nobody=True)

    def can_delete(self) -> bool:
        return self.can(Action.DELETE_CLIENT, any_client=True)
