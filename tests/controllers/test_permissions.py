"""The permission table (docs/rules.md) at the controller level: every access profile × every action, for real.

The expected outcome is the SPEC table itself, pasted below and parsed, never
read back from ``permissions.PERMISSIONS`` (a test that asks the code what the
code should do cannot fail). Each case calls the controller operation that needs
the permission: an allowed call must take effect; a refused one must raise
``PermissionDenied``, change no row anywhere, and leave one DENIED audit row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from desktop.controllers.appointments import AppointmentsController
from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.errors import PermissionDenied
from desktop.controllers.permissions import PERMISSIONS, AccessProfile, Action, Actor, Scope
from desktop.controllers.settings import SettingsController
from desktop.controllers.users import UsersController
from desktop.domain.models import (
    Appointment,
    Attendance,
    BillingDocument,
    Client,
    ClientStatus,
    Contact,
    InactiveReason,
    PracticeSettings,
    PracticeUser,
)
from desktop.storage.database import Database
from tests.controllers.support import audit_rows, last_audit_id, refused_and_unchanged
from tests.helpers import add_appointment, add_services

SPEC_TABLE = """
| action | Account Owner | Practice Manager | Clinician, entire practice | Clinician, own clients | Biller | Scheduler |
|---|---|---|---|---|---|---|
| see clients | all | all | all | assigned only | all | all |
| edit profile, change status | yes | yes | yes | assigned only | no | no |
| merge contacts, mark duplicate | yes | yes | yes | assigned only | no | no |
| manage appointments | yes | yes | yes | assigned only | no | yes |
| run billing, generate documents | yes | yes | no | no | yes | no |
| see billing documents | yes | yes | yes | assigned only | yes | no |
| see a client's history and audit trail | yes | yes | yes | assigned only | no | no |
| read the practice audit log | yes | yes | no | no | no | no |
| delete client | yes | yes | yes | no | no | no |
| practice settings | yes | yes | no | no | no | no |
| manage users | yes | no | no | no | no | no |
"""

# The SPEC's row labels, split into the actions the code names.
SPEC_ROWS = {
    "see clients": (Action.SEE_CLIENTS,),
    "edit profile, change status": (Action.EDIT_CLIENT, Action.CHANGE_STATUS),
    "merge contacts, mark duplicate": (Action.MERGE_CONTACTS, Action.MARK_DUPLICATE),
    "manage appointments": (Action.MANAGE_APPOINTMENTS,),
    "run billing, generate documents": (Action.RUN_BILLING, Action.GENERATE_DOCUMENTS),
    "see billing documents": (Action.SEE_BILLING,),
    "see a client's history and audit trail": (Action.SEE_HISTORY,),
    "read the practice audit log": (Action.READ_AUDIT_LOG,),
    "delete client": (Action.DELETE_CLIENT,),
    "practice settings": (Action.PRACTICE_SETTINGS,),
    "manage users": (Action.MANAGE_USERS,),
}

# The SPEC's columns, as the users `practice` seeds.
SPEC_COLUMNS = {
    "Account Owner": "owner",
    "Practice Manager": "manager",
    "Clinician, entire practice": "clinician-all",
    "Clinician, own clients": "clinician",
    "Biller": "biller",
    "Scheduler": "scheduler",
}

CELL = {"all": Scope.ALL, "yes": Scope.ALL, "assigned only": Scope.ASSIGNED, "no": Scope.NONE}


def _parse_spec() -> dict[str, dict[Action, Scope]]:
    lines = [ln.strip().strip("|") for ln in SPEC_TABLE.strip().splitlines()]
    header = [c.strip() for c in lines[0].split("|")][1:]
    expected: dict[str, dict[Action, Scope]] = {SPEC_COLUMNS[h]: {} for h in header}
    for line in lines[2:]:
        label, *cells = (c.strip() for c in line.split("|"))
        for action in SPEC_ROWS[label]:
            for column, cell in zip(header, cells, strict=True):
                expected[SPEC_COLUMNS[column]][action] = CELL[cell]
    return expected


EXPECTED = _parse_spec()


# ----------------------------------------------------------------- the world


@dataclass(frozen=True)
class Target:
    """A client and what an operation on them needs, assigned to one clinician."""

    clinician: str
    client_id: int
    keep_id: int  # a second profile of the same clinician, to mark the client duplicate of
    contact_ids: tuple[int, int]  # two contacts linked only to this client
    appointment_id: int
    full_name: str


def _make_target(db: Database, owner: Actor, clinician: str, first: str, last: str) -> Target:
    clients, contacts = ClientsController(db), ContactsController(db)
    client_id = clients.add_client(owner, first_name=first, last_name=last,
                                   email=f"{first.lower()}@example.org", clinician_id=clinician)
    keep_id = clients.add_client(owner, first_name=first, last_name=f"{last}-Kept",
                                 clinician_id=clinician)
    c1 = contacts.add_contact(owner, first_name="Gwen", last_name=f"{last} Guardian",
                              phone="555 010 1000")
    c2 = contacts.add_contact(owner, first_name="Gwendolyn", last_name=f"{last} Guardian",
                              email="gwen@example.org")
    contacts.link(owner, client_id, c1, "guardian")
    contacts.link(owner, client_id, c2, "emergency contact")
    appt = add_appointment(db, client_id, dt.datetime(2024, 3, 4, 10, 0))
    return Target(clinician, client_id, keep_id, (c1, c2), appt, f"{first} {last}")


@pytest.fixture
def targets(db: Database, practice: dict[str, Actor]) -> dict[str, Target]:
    """One client of the own-clients clinician, one of the entire-practice clinician."""
    owner = practice["owner"]
    add_services(db)
    return {
        "clinician": _make_target(db, owner, "clinician", "Ines", "Harrow"),
        "clinician-all": _make_target(db, owner, "clinician-all", "Tobias", "Wren"),
    }


# ----------------------------------------------------------- one call per action


def _scalar(db: Database, stmt):  # type: ignore[no-untyped-def]
    with db.reading() as s:
        return s.execute(stmt).scalar_one_or_none()


def see(db: Database, actor: Actor, t: Target) -> None:
    detail = ClientsController(db).get_client(actor, t.client_id)
    assert detail.row.id == t.client_id


def edit(db: Database, actor: Actor, t: Target) -> None:
    version = _scalar(db, select(Client.version).where(Client.id == t.client_id))
    ClientsController(db).edit_client(actor, t.client_id, version, phone="555 010 4242")
    assert _scalar(db, select(Client.phone).where(Client.id == t.client_id)) == "555 010 4242"


def change_status(db: Database, actor: Actor, t: Target) -> None:
    ClientsController(db).set_status(actor, t.client_id, "inactive", reason="discharged")
    with db.reading() as s:
        client = s.get(Client, t.client_id)
        assert (client.status, client.inactive_reason) == (ClientStatus.INACTIVE,
                                                           InactiveReason.DISCHARGED)


def merge_contacts(db: Database, actor: Actor, t: Target) -> None:
    keep, other = t.contact_ids
    ContactsController(db).merge_contacts(actor, keep, other)
    assert _scalar(db, select(Contact.id).where(Contact.id == other)) is None


def mark_duplicate(db: Database, actor: Actor, t: Target) -> None:
    ClientsController(db).mark_duplicate(actor, t.client_id, t.keep_id)
    assert _scalar(db, select(Client.duplicate_of_id).where(Client.id == t.client_id)) == t.keep_id


def manage_appointments(db: Database, actor: Actor, t: Target) -> None:
    booked = AppointmentsController(db).book(actor, t.client_id, "2024-05-06 10:00", service_code="90837")
    AppointmentsController(db).set_attendance(actor, booked, "attended")
    with db.reading() as s:
        appt = s.get(Appointment, booked)
        assert (appt.client_id, appt.duration_minutes, appt.attendance) == (t.client_id, 60, Attendance.ATTENDED)


def run_billing(db: Database, actor: Actor, t: Target) -> None:
    report = BillingController(db).run_billing(actor, through=dt.date(2024, 12, 31))
    assert report.documents_created > 0
    assert _scalar(db, select(func.count()).select_from(BillingDocument)) == report.documents_created


def generate_document(db: Database, actor: Actor, t: Target) -> None:
    doc_id = BillingController(db).generate_document(actor, t.client_id, [t.appointment_id],
                                                     "superbill")
    assert _scalar(db, select(BillingDocument.client_id).where(BillingDocument.id == doc_id)) \
        == t.client_id


def delete(db: Database, actor: Actor, t: Target) -> None:
    ClientsController(db).delete_client(actor, t.client_id, t.full_name, understood=True)
    assert _scalar(db, select(Client.id).where(Client.id == t.client_id)) is None


def see_billing(db: Database, actor: Actor, t: Target) -> None:
    documents = ClientsController(db).billing_documents(actor, t.client_id)
    assert documents == ClientsController(db).get_client(actor, t.client_id).billing_documents


def see_history(db: Database, actor: Actor, t: Target) -> None:
    events = ClientsController(db).audit_events(actor, t.client_id)
    assert events and all(e["target_id"] == t.client_id for e in events)


def read_audit_log(db: Database, actor: Actor, t: Target | None) -> None:
    events = ClientsController(db).audit_events(actor)
    assert {e["action"] for e in events} >= {"client.add", "contact.link"}


def manage_users(db: Database, actor: Actor, t: Target | None) -> None:
    user_id = UsersController(db).add_user(actor, "new-hire", "scheduler", "long enough")
    assert _scalar(db, select(PracticeUser.username).where(PracticeUser.id == user_id)) == "new-hire"


def practice_settings(db: Database, actor: Actor, t: Target | None) -> None:
    settings = SettingsController(db)
    with db.reading() as s:
        version = s.get(PracticeSettings, 1).version
    saved = settings.save(actor, version, {"name": "Riverside Counselling"},
                          [{"code": "90834", "description": "Psychotherapy, 45 minutes", "minutes": 45,
                            "default_fee": "150.00"}])
    assert settings.settings(actor) == saved and saved.name == "Riverside Counselling"


@dataclass(frozen=True)
class Operation:
    call: Callable[..., None]
    audit_action: str
    per_client: bool = True


OPERATIONS: dict[Action, Operation] = {
    Action.SEE_CLIENTS: Operation(see, "client.view"),
    Action.EDIT_CLIENT: Operation(edit, "client.edit"),
    Action.CHANGE_STATUS: Operation(change_status, "client.set_status"),
    Action.MERGE_CONTACTS: Operation(merge_contacts, "contact.merge"),
    Action.MARK_DUPLICATE: Operation(mark_duplicate, "client.mark_duplicate"),
    Action.MANAGE_APPOINTMENTS: Operation(manage_appointments, "appointment.book"),
    Action.RUN_BILLING: Operation(run_billing, "billing.run", per_client=False),
    Action.GENERATE_DOCUMENTS: Operation(generate_document, "billing.generate"),
    Action.SEE_BILLING: Operation(see_billing, "billing.documents"),
    Action.SEE_HISTORY: Operation(see_history, "audit.read"),
    Action.READ_AUDIT_LOG: Operation(read_audit_log, "audit.read", per_client=False),
    Action.DELETE_CLIENT: Operation(delete, "client.delete"),
    Action.PRACTICE_SETTINGS: Operation(practice_settings, "settings.save", per_client=False),
    Action.MANAGE_USERS: Operation(manage_users, "user.add", per_client=False),
}


def _cases(allowed: bool) -> list:  # type: ignore[type-arg]
    cases = []
    for username, row in EXPECTED.items():
        for action in Action:
            scope = row[action]
            whose = ("clinician", "clinician-all") if OPERATIONS[action].per_client else (None,)
            for clinician in whose:
                ok = scope is Scope.ALL or (scope is Scope.ASSIGNED and clinician == username)
                if ok is allowed:
                    label = f"{username}-{action.name.lower()}" + (
                        f"-client-of-{clinician}" if clinician else "")
                    cases.append(pytest.param(username, action, clinician, id=label))
    return cases


# ----------------------------------------------------------------------- tests


def test_the_spec_table_names_every_action_and_every_profile() -> None:
    assert {a for row in EXPECTED.values() for a in row} == set(Action)
    assert all(set(row) == set(Action) for row in EXPECTED.values())
    assert set(OPERATIONS) == set(Action), "every action needs a controller call in this test"
    assert len(EXPECTED) == len(AccessProfile) == 6


def test_the_permission_table_in_code_is_the_spec_table(practice: dict[str, Actor]) -> None:
    for username, row in EXPECTED.items():
        profile = practice[username].profile
        assert PERMISSIONS[profile] == row, f"{profile.value} differs from the permission table"


@pytest.mark.parametrize(("username", "action", "clinician"), _cases(allowed=True))
def test_role_may_do_what_the_spec_allows(db: Database, practice: dict[str, Actor],
                                         targets: dict[str, Target], username: str,
                                         action: Action, clinician: str | None) -> None:
    operation = OPERATIONS[action]
    mark = last_audit_id(db)
    operation.call(db, practice[username], targets[clinician] if clinician else None)
    assert not [e for e in audit_rows(db, mark) if e.outcome.value == "denied"]
    if action not in (Action.SEE_HISTORY, Action.READ_AUDIT_LOG, Action.SEE_BILLING):  # reads; changes audit
        assert any(e.action == operation.audit_action and e.actor_username == username
                   for e in audit_rows(db, mark))


@pytest.mark.parametrize(("username", "action", "clinician"), _cases(allowed=False))
def test_role_is_refused_what_the_spec_forbids_and_nothing_changes(
        db: Database, practice: dict[str, Actor], targets: dict[str, Target], username: str,
        action: Action, clinician: str | None) -> None:
    operation = OPERATIONS[action]
    with refused_and_unchanged(db, username, PermissionDenied, operation.audit_action) as refusal:
        operation.call(db, practice[username], targets[clinician] if clinician else None)
    assert str(refusal.value)  # a message the GUI and the command line can show


def test_own_clients_clinician_cannot_mark_own_client_duplicate_of_someone_elses(
        db: Database, practice: dict[str, Actor], targets: dict[str, Target]) -> None:
    mine, theirs = targets["clinician"], targets["clinician-all"]
    with refused_and_unchanged(db, "clinician", PermissionDenied, "client.mark_duplicate"):
        ClientsController(db).mark_duplicate(practice["clinician"], mine.client_id,
                                             theirs.client_id)


def test_own_clients_clinician_cannot_hand_their_client_to_another_clinician(
        db: Database, practice: dict[str, Actor], targets: dict[str, Target]) -> None:
    mine = targets["clinician"]
    version = _scalar(db, select(Client.version).where(Client.id == mine.client_id))
    with refused_and_unchanged(db, "clinician", PermissionDenied, "client.edit"):
        ClientsController(db).edit_client(practice["clinician"], mine.client_id, version,
                                          clinician_id="clinician-all")


def test_own_clients_clinician_lists_only_their_assigned_clients(
        db: Database, practice: dict[str, Actor], targets: dict[str, Target]) -> None:
    rows = ClientsController(db).list_clients(practice["clinician"], "all")
    assert {r.id for r in rows} == {targets["clinician"].client_id, targets["clinician"].keep_id}
    everyone = ClientsController(db).list_clients(practice["scheduler"], "all")
    assert len(everyone) == 4
