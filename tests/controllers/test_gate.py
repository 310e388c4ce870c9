"""The one gate: every controller operation is declared, audited and scoped the same way."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import desktop.controllers
from desktop.controllers.appointments import AppointmentsController
from desktop.controllers.audit_log import AuditLogController
from desktop.controllers.base import Controller, operations
from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.duplicates import DuplicatesController
from desktop.controllers.errors import InvalidInput, NotFound, PermissionDenied
from desktop.controllers.settings import SettingsController
from desktop.controllers.users import UsersController
from desktop.domain.models import AuditEvent, Outcome
from tests.controllers.support import audit_rows, last_audit_id, refused_and_unchanged
from tests.helpers import count

ROOT = Path(__file__).resolve().parents[2]
# Operations the practice runs itself, as nobody (``@as_practice``): no role is checked, so
# each one is named here on purpose, not merely declared.
PRACTICE_OPERATIONS = {("BillingController", "run_automatic"): "billing.automatic"}
# Public helpers that other controllers call inside their own operation, with its session:
# no caller outside the controllers holds a session, so they are not operations. Each one is
# named here, and must take a session first, so the exemption cannot hide an operation.
IN_TRANSACTION_HELPERS = {("SettingsController", "practice_header")}


def _controller_classes() -> list[type]:
    """Every Controller subclass defined in desktop/controllers, found by importing each module."""
    for info in pkgutil.iter_modules(desktop.controllers.__path__):
        importlib.import_module(f"desktop.controllers.{info.name}")
    found: set[type] = set()
    todo = list(Controller.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("desktop.controllers.") and cls not in found:
            found.add(cls)
            todo += cls.__subclasses__()
    return sorted(found, key=lambda c: c.__name__)


CONTROLLERS = _controller_classes()


def test_the_gate_test_finds_every_controller_that_people_use() -> None:
    assert {ClientsController, ContactsController, AppointmentsController, BillingController,
            UsersController, DuplicatesController, SettingsController, AuditLogController} <= set(CONTROLLERS)


@pytest.mark.parametrize("controller", CONTROLLERS, ids=lambda c: c.__name__)
def test_every_public_controller_method_is_declared_as_an_operation(controller: type) -> None:
    public = {name for name, member in inspect.getmembers(controller, callable) if not name.startswith("_")}
    helpers = {name for cls_name, name in IN_TRANSACTION_HELPERS if cls_name == controller.__name__}
    for name in helpers:
        first = next(iter(inspect.signature(getattr(controller, name)).parameters.values()))
        assert first.annotation in (Session, "Session"), f"{name} is no in-transaction helper"
    declared = operations(controller)
    assert public - helpers - set(declared) == set(), (
        "declare these with @reads, @views, @writes, @before_sign_in or @as_practice")
    for name, (kind, _action, permission) in declared.items():
        assert kind in ("read", "view", "write", "open", "practice"), name
        if permission is None:  # nobody's role is checked: before sign-in, or the practice itself
            assert kind in ("open", "practice"), name


def test_only_the_named_operations_run_as_the_practice_and_they_take_no_actor() -> None:
    found = {(c.__name__, name): action for c in CONTROLLERS
             for name, (kind, action, _p) in operations(c).items() if kind == "practice"}
    assert found == PRACTICE_OPERATIONS
    for (cls_name, name), _action in found.items():
        [cls] = [c for c in CONTROLLERS if c.__name__ == cls_name]
        assert "actor" not in inspect.signature(getattr(cls, name)).parameters


def test_the_window_and_the_command_line_never_reach_storage_or_sqlalchemy() -> None:
    offenders = []
    for folder in ("desktop/ui", "desktop/cli"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                              if n.startswith(("desktop.storage", "sqlalchemy"))]
    assert offenders == []


@pytest.fixture
def world(db, practice):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients, contacts = ClientsController(db), ContactsController(db)
    mine = clients.add_client(owner, first_name="Ada", last_name="Lovelace",
                              clinician_id=practice["clinician"].user_id)
    theirs = clients.add_client(owner, first_name="Mei", last_name="Tanaka",
                                clinician_id=practice["clinician-all"].user_id)
    stranger = contacts.add_contact(owner, first_name="Grace", last_name="Tanaka", client_id=theirs,
                                    relationship="Parent")
    clients.set_status(owner, theirs, "inactive", reason="moved")
    clients.set_status(owner, mine, "inactive", reason="moved")
    return {"mine": mine, "theirs": theirs, "stranger": stranger}


@pytest.mark.parametrize("read, action, error", [
    (lambda c, w, a: ClientsController(c).get_client(a, w["theirs"]), "client.view", PermissionDenied),
    (lambda c, w, a: ClientsController(c).audit_events(a, w["theirs"]), "audit.read", PermissionDenied),
    (lambda c, w, a: ContactsController(c).get_contact(a, w["stranger"]), "contact.view", PermissionDenied),
    (lambda c, w, a: ClientsController(c).list_clients(a, "everyone"), "client.list", InvalidInput),
    (lambda c, w, a: ClientsController(c).portal_access(a, 2**63), "client.portal_read", InvalidInput),
    (lambda c, w, a: ClientsController(c).get_client(a, 10**9), "client.view", NotFound),
], ids=["profile", "audit trail", "contact", "bad filter", "huge id", "missing client"])
def test_a_refused_read_is_audited_as_denied_and_changes_nothing(db, practice, world, read, action,
                                                               error):  # type: ignore[no-untyped-def]
    with refused_and_unchanged(db, "clinician", error, action):
        read(db, world, practice["clinician"])


def test_a_refused_scan_is_audited(db, practice, world):  # type: ignore[no-untyped-def]
    with refused_and_unchanged(db, "scheduler", PermissionDenied, "client.find_duplicates"):
        DuplicatesController(db).find_client_duplicates(practice["scheduler"])
    with refused_and_unchanged(db, "biller", PermissionDenied, "contact.find_duplicates"):
        DuplicatesController(db).find_contact_duplicates(practice["biller"])


def test_looking_at_a_record_is_audited_with_who_and_which(db, practice, world):  # type: ignore[no-untyped-def]
    mark = last_audit_id(db)
    ClientsController(db).get_client(practice["clinician"], world["mine"])
    ClientsController(db).export_client(practice["owner"], world["theirs"])
    ContactsController(db).get_contact(practice["biller"], world["stranger"])
    seen = [(e.actor_username, e.action, e.target_kind, e.target_id, e.outcome) for e in audit_rows(db, mark)]
    assert seen == [("clinician", "client.view", "client", world["mine"], Outcome.ALLOWED),
                    ("owner", "client.export", "client", world["theirs"], Outcome.ALLOWED),
                    ("biller", "contact.view", "contact", world["stranger"], Outcome.ALLOWED)]


def test_a_clients_trail_is_read_by_those_who_see_their_history(db, practice, world):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    mine = clients.audit_events(practice["clinician"], world["mine"])
    assert mine and {(e["target_kind"], e["target_id"]) for e in mine} == {("client", world["mine"])}
    for username in ("biller", "scheduler"):
        with refused_and_unchanged(db, username, PermissionDenied, "audit.read"):
            clients.audit_events(practice[username], world["mine"])


@pytest.mark.parametrize("username", ["clinician-all", "clinician", "biller", "scheduler"])
def test_only_the_owner_and_managers_read_the_practice_audit_log(db, practice, world, username):  # type: ignore[no-untyped-def]
    with refused_and_unchanged(db, username, PermissionDenied, "audit.read"):
        ClientsController(db).audit_events(practice[username])
    everything = ClientsController(db).audit_events(practice["manager"])
    assert {world["mine"], world["theirs"]} <= {e["target_id"] for e in everything}


def test_a_trail_of_a_deleted_client_stays_readable_for_those_who_see_every_client(db, practice, world):  # type: ignore[no-untyped-def]
    clients = ClientsController(db)
    clients.delete_client(practice["owner"], world["theirs"], "Mei Tanaka")
    actions = [e["action"] for e in clients.audit_events(practice["manager"], world["theirs"])]
    assert "client.delete" in actions
    with refused_and_unchanged(db, "clinician", NotFound, "audit.read"):
        clients.audit_events(practice["clinician"], world["theirs"])


def test_contacts_not_a_duplicate_is_remembered(db, practice):  # type: ignore[no-untyped-def]
    contacts = ContactsController(db)
    owner = practice["owner"]
    a = contacts.add_contact(owner, first_name="Robert", last_name="Jones", phone="555 010 4477")
    b = contacts.add_contact(owner, first_name="Bob", last_name="Jones", phone="(555) 010-4477")
    finder = DuplicatesController(db)
    assert len(finder.find_contact_duplicates(owner)) == 1
    finder.dismiss_contacts(owner, b, a)
    finder.dismiss_contacts(owner, a, b)
    assert finder.find_contact_duplicates(owner) == []
    assert count(db, AuditEvent, action="contact.not_duplicate", outcome=Outcome.ALLOWED) == 2


@pytest.mark.parametrize("username, history, billing", [
    ("owner", True, True), ("clinician", True, True), ("biller", False, True), ("scheduler", False, False)])
def test_a_profile_holds_history_and_billing_only_for_roles_that_may_see_them(
        db, practice, world, username, history, billing):  # type: ignore[no-untyped-def]
    detail = ClientsController(db).get_client(practice[username], world["mine"])
    assert (detail.status_history is not None, detail.billing_documents is not None) == (history, billing)
    data = detail.as_json()
    assert (data["status_history"] is not None, data["billing_documents"] is not None) == (history, billing)
