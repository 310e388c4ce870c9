"""Running a practice without the command line: users, passwords, settings, and the intake warning.

Every refusal here changes nothing and leaves one DENIED audit row; the happy
paths are checked by what a person would see next (who can sign in, what the
settings read back, which candidates the warning lists).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from desktop.controllers import passwords
from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.duplicates import DuplicatesController
from desktop.controllers.errors import (
    InvalidInput,
    NotFound,
    NotSignedIn,
    PermissionDenied,
    StaleVersion,
)
from desktop.controllers.permissions import Actor
from desktop.controllers.settings import SettingsController
from desktop.controllers.users import UsersController
from desktop.domain.models import AuditEvent, Outcome, Role
from desktop.storage.database import Database
from tests.controllers.support import audit_rows, refused_and_unchanged
from tests.helpers import PASSWORD, count

FIRST = "first-day password 7"
OWN = "my own choice, 2026"


@pytest.fixture
def users(db: Database) -> UsersController:
    return UsersController(db)


# ------------------------------------------------------------------ passwords


@pytest.mark.parametrize("password, why", [
    ("short1", "at least 10"),
    ("1234567890", "most common"),
    ("qwertyuiop", "most common"),
    ("Password2024!", "most common"),
    ("   password   ", "most common"),
    ("aaaaaaaaaaaa", "different characters"),
    ("ababababababab", "different characters"),
    ("234567890123", "run of keys"),
    ("x" * 2000, "at most"),
])
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    assert why in (passwords.problem(password) or "")


@pytest.mark.parametrize("password", ["correct horse", "river otter 42", "Zoë's garden gate", "合言葉はまだ秘密です"])
def test_reasonable_passwords_pass(password: str) -> None:
    assert passwords.problem(password) is None


# ---------------------------------------------------------------------- users


def test_a_new_user_must_change_the_first_password_before_doing_anything_else(
        db: Database, practice: dict[str, Actor], users: UsersController) -> None:
    users.add_user(practice["owner"], "bella", "biller", FIRST, display_name="Bella Biller")
    bella = users.sign_in("bella", FIRST)
    assert bella.must_change_password
    with refused_and_unchanged(db, "bella", PermissionDenied, "client.list"):
        ClientsController(db).list_clients(bella)

    with pytest.raises(InvalidInput) as wrong:
        users.change_password(bella, "not it at all", OWN)
    assert wrong.value.field == "old_password"
    with pytest.raises(InvalidInput) as weak:
        users.change_password(bella, FIRST, "password")
    assert weak.value.field == "new_password"

    bella = users.change_password(bella, FIRST, OWN)
    assert not bella.must_change_password
    assert ClientsController(db).list_clients(bella) == []
    with pytest.raises(NotSignedIn):
        users.sign_in("bella", FIRST)
    assert not users.sign_in("bella", OWN).must_change_password


def test_the_users_list_shows_roles_sign_ins_and_who_must_change_a_password(
        db: Database, practice: dict[str, Actor], users: UsersController) -> None:
    users.add_user(practice["owner"], "sam", "scheduler", FIRST)
    users.sign_in("owner", PASSWORD)
    rows = {r.username: r for r in users.users(practice["owner"])}
    assert rows["sam"].must_change_password and rows["sam"].last_sign_in is None
    assert rows["sam"].role is Role.SCHEDULER and rows["sam"].active
    assert rows["owner"].last_sign_in is not None
    assert abs(rows["owner"].last_sign_in - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(minutes=1)
    assert set(rows["owner"].as_json()) == {"username", "display_name", "role", "entire_practice", "active",
                                            "last_sign_in"}


@pytest.mark.parametrize("who", ["manager", "clinician", "biller", "scheduler"])
def test_only_the_account_owner_manages_users(db: Database, practice: dict[str, Actor], users: UsersController,
                                              who: str) -> None:
    with refused_and_unchanged(db, who, PermissionDenied, "user.manage_list"):
        users.users(practice[who])
    with refused_and_unchanged(db, who, PermissionDenied, "user.deactivate"):
        users.deactivate(practice[who], "scheduler")
    with refused_and_unchanged(db, who, PermissionDenied, "user.reset_password"):
        users.reset_password(practice[who], "scheduler", FIRST)


def test_a_deactivated_user_cannot_sign_in_nor_act_and_their_history_stays(
        db: Database, practice: dict[str, Actor], users: UsersController) -> None:
    clinician = practice["clinician"]
    client_id = ClientsController(db).add_client(clinician, first_name="Ada", last_name="Byron")
    users.deactivate(practice["owner"], "clinician")
    with pytest.raises(NotSignedIn):
        users.sign_in("clinician", PASSWORD)
    # A session still open on another computer is refused too, and audited.
    with refused_and_unchanged(db, "clinician", NotSignedIn, "client.view"):
        ClientsController(db).get_client(clinician, client_id)
    assert count(db, AuditEvent, actor_id=clinician.user_id, action="client.add") == 1

    users.reactivate(practice["owner"], "clinician")
    assert users.sign_in("clinician", PASSWORD).user_id == clinician.user_id


def test_unknown_and_deactivated_usernames_cost_a_guesser_as_much_as_a_wrong_password(
        db: Database, practice: dict[str, Actor], users: UsersController, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal is one sentence whoever is named, and the password is checked every time (a
    quick refusal of an unknown name would tell a guesser which usernames exist)."""
    import desktop.controllers.users as module

    checked: list[str] = []
    verifies = module._verifies

    def counting(password_hash: str, password: str | None) -> bool:
        checked.append(password_hash[:9])  # "$argon2id"
        return verifies(password_hash, password)

    monkeypatch.setattr(module, "_verifies", counting)
    users.deactivate(practice["owner"], "clinician")
    said = []
    for username, password in (("nobody-here", PASSWORD), ("clinician", PASSWORD), ("manager", "not it")):
        with pytest.raises(NotSignedIn) as refused:
            users.sign_in(username, password)
        said.append(str(refused.value))
    assert checked == ["$argon2id"] * 3
    assert said == ["Wrong username or password."] * 3


def test_the_last_account_owner_is_kept(db: Database, practice: dict[str, Actor], users: UsersController) -> None:
    owner = practice["owner"]
    with refused_and_unchanged(db, "owner", InvalidInput, "user.deactivate"):
        users.deactivate(owner, "owner")  # oneself, and the only owner
    with refused_and_unchanged(db, "owner", InvalidInput, "user.change_role"):
        users.change_role(owner, "owner", "practice_manager")
    users.add_user(owner, "olga", Role.ACCOUNT_OWNER, FIRST)
    users.change_role(owner, "owner", Role.PRACTICE_MANAGER)  # another owner exists now
    with pytest.raises(NotSignedIn, match="role has changed"):
        users.users(owner)  # the old session's role is stale: sign in again


def test_a_reset_password_must_be_changed_and_unknown_users_are_named(
        db: Database, practice: dict[str, Actor], users: UsersController) -> None:
    users.reset_password(practice["owner"], "biller", FIRST)
    assert users.sign_in("biller", FIRST).must_change_password
    with refused_and_unchanged(db, "owner", NotFound, "user.deactivate"):
        users.deactivate(practice["owner"], "nobody-here")
    with refused_and_unchanged(db, "owner", InvalidInput, "user.reset_password"):
        users.reset_password(practice["owner"], "biller", "tooshort")


# ------------------------------------------------------------------- settings

SERVICES = [
    {"code": "90791", "description": "Psychiatric diagnostic evaluation", "minutes": 60, "default_fee": "200"},
    {"code": "90834", "description": "Psychotherapy, 45 minutes", "minutes": "45", "default_fee": "$150.00"},
]


def test_practice_settings_round_trip_and_a_stale_save_is_refused(db: Database, practice: dict[str, Actor]) -> None:
    settings = SettingsController(db)
    assert settings.settings(practice["scheduler"]).version == 0
    saved = settings.save(practice["manager"], 0, {"name": "Riverside Counselling", "address": "1 Main St\nSpringfield",
                                                    "phone": "555 010 2000", "tax_id": "12-3456789",
                                                    "npi": "1234567893"}, SERVICES)
    read = settings.settings(practice["scheduler"])
    assert read == saved
    assert (read.name, read.npi, read.tax_id) == ("Riverside Counselling", "1234567893", "12-3456789")
    assert [(s.code, s.minutes, s.default_fee) for s in read.services] == [
        ("90791", 60, Decimal("200.00")), ("90834", 45, Decimal("150.00"))]
    assert read.header_lines()[:3] == ["Riverside Counselling", "1 Main St", "Springfield"]
    with refused_and_unchanged(db, "owner", StaleVersion, "settings.save"):
        settings.save(practice["owner"], 0, {"name": "Someone else's idea"}, SERVICES)
    again = settings.save(practice["owner"], read.version, {"name": "Riverside"}, SERVICES[:1])
    assert again.version == read.version + 1 and [s.code for s in again.services] == ["90791"]


@pytest.mark.parametrize("values, services, field", [
    ({"npi": "1234567890"}, [], "npi"),  # wrong check digit
    ({"tax_id": "12345"}, [], "tax_id"),
    ({"name": "Clinic\u202e"}, [], "name"),  # an invisible bidi override
    ({"name": "x" * 201}, [], "name"),
    ({}, [SERVICES[0], SERVICES[0]], "code"),
    ({}, [{**SERVICES[0], "minutes": 0}], "minutes"),
    ({}, [{**SERVICES[0], "default_fee": "-5"}], "default_fee"),
    ({}, [{**SERVICES[0], "default_fee": "1.005"}], "default_fee"),
    ({}, [{**SERVICES[0], "default_fee": "NaN"}], "default_fee"),
    ({"colour": "blue"}, [], "colour"),
])
def test_malformed_settings_are_refused_by_field_and_change_nothing(
        db: Database, practice: dict[str, Actor], values: dict, services: list, field: str) -> None:  # type: ignore[type-arg]
    with refused_and_unchanged(db, "owner", InvalidInput, "settings.save") as refused:
        SettingsController(db).save(practice["owner"], 0, values, services)
    assert refused.value.field == field


@pytest.mark.parametrize("who", ["clinician-all", "clinician", "biller", "scheduler"])
def test_only_owner_and_manager_change_practice_settings(db: Database, practice: dict[str, Actor], who: str) -> None:
    with refused_and_unchanged(db, who, PermissionDenied, "settings.save"):
        SettingsController(db).save(practice[who], 0, {"name": "Mine now"}, [])


# --------------------------------------------------------------- intake check


def test_the_intake_check_lists_likely_duplicates_with_their_details(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    clients = ClientsController(db)
    robert = clients.add_client(owner, first_name="Robert", last_name="Jones", date_of_birth="1970-04-02",
                                clinician_id=practice["clinician"].user_id)
    clients.add_client(owner, first_name="Maria", last_name="Jones", date_of_birth="1970-04-02")
    check = DuplicatesController(db).likely_client_duplicates_of
    [candidate] = check(owner, {"first_name": "Bob", "last_name": "Jonse", "date_of_birth": "1970-04-02"})
    assert (candidate.id, candidate.status, candidate.date_of_birth) == (robert, "active", dt.date(1970, 4, 2))
    assert candidate.clinician == "Dr. Colin Park"  # the clinician, by name
    assert check(owner, {"first_name": "Bob", "last_name": "Jones", "phone": "(555) 201-3344"}) == []
    # The profile being edited is not its own duplicate; half-typed or malformed values warn of nothing.
    assert check(owner, {"first_name": "Robert", "last_name": "Jones", "date_of_birth": "1970-04-02"},
                 exclude_id=robert) == []
    assert check(owner, {"first_name": "Robert", "last_name": "", "date_of_birth": "1970-04-02"}) == []
    assert check(owner, {"first_name": "Robert", "last_name": "Jones", "date_of_birth": "02/31/1970"}) == []


def test_the_intake_check_shows_only_clients_the_user_may_see(db: Database, practice: dict[str, Actor]) -> None:
    ClientsController(db).add_client(practice["owner"], first_name="Robert", last_name="Jones",
                                     email="rj@example.org")
    values = {"first_name": "Robert", "last_name": "Jones", "email": " RJ@Example.org "}
    assert len(DuplicatesController(db).likely_client_duplicates_of(practice["owner"], values)) == 1
    assert DuplicatesController(db).likely_client_duplicates_of(practice["clinician"], values) == []


def test_saving_despite_the_warning_is_audited_with_the_candidate_ids(
        db: Database, practice: dict[str, Actor]) -> None:
    owner = practice["owner"]
    clients = ClientsController(db)
    robert = clients.add_client(owner, first_name="Robert", last_name="Jones", date_of_birth="1970-04-02")
    bob = clients.add_client(owner, first_name="Bob", last_name="Jones", date_of_birth="1970-04-02",
                             seen_duplicates=[robert])
    [row] = [e for e in clients.audit_events(owner, bob) if e["action"] == "client.add"]
    assert row["details"] == {"possible_duplicates": [robert]}
    contacts = ContactsController(db)
    helen = contacts.add_contact(owner, first_name="Helen", last_name="Park", phone="555 100 2000")
    [found] = DuplicatesController(db).likely_contact_duplicates_of(
        owner, {"first_name": "HELEN", "last_name": "Park", "phone": "5551002000"})
    assert found.id == helen and found.status == "contact"
    second = contacts.add_contact(owner, first_name="Helen", last_name="Park", phone="5551002000",
                                  seen_duplicates=[helen])
    assert count(db, AuditEvent, action="contact.add", target_id=second, outcome=Outcome.ALLOWED) == 1


# ---------------------------------------------------------------- list export


def test_a_list_export_is_audited_once_written_and_a_failed_one_as_refused(
        db: Database, practice: dict[str, Actor]) -> None:
    from desktop.controllers.errors import FileNotWritten

    clients = ClientsController(db)
    assert clients.export_list(practice["biller"], 3, 1, lambda: "written") == "written"

    def fails() -> str:
        raise FileNotWritten("The folder is not writable; no file was written.")

    with refused_and_unchanged(db, "scheduler", FileNotWritten, "client.export_list"):
        clients.export_list(practice["scheduler"], 3, 1, fails)
    rows = [(e.actor_username, e.outcome, e.details) for e in audit_rows(db) if e.action == "client.export_list"]
    assert rows == [("biller", Outcome.ALLOWED, {"clients": 3, "contacts": 1}),
                    ("scheduler", Outcome.DENIED, {"refusal": "FileNotWritten"})]

