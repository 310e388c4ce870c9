"""A practice server out of reach, without any window: what the controllers and the watcher do.

* A commit cut off while the server stays out of reach is ``OutcomeUnknown`` carrying its
  operation id and what was attempted; it is noted for the person whose change it was, and
  once the server answers, ``resolve_unknown_outcomes`` finds the truth through that id:
  "Saved: …" or "Not saved: … — do it again". (The same relay as
  ``tests/storage/test_lost_connection.py`` cuts the commit, on the machine's server.)
* While the change watcher finds a throw-away server stopped, the gate refuses at once, in
  one plain sentence, instead of waiting for a connect timeout; once it answers again the
  watcher reconnects, counts that as a change, and the same call goes through. Without a
  watcher (the command line) a stopped server is refused in the same plain sentence.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from desktop.controllers.clients import ClientsController
from desktop.controllers.connection import resolve_unknown_outcomes, unresolved
from desktop.controllers.errors import DatabaseUnavailable, OutcomeUnknown, ServerUnreachable
from desktop.controllers.practice import Practice
from desktop.domain.models import AuditEvent, Client
from desktop.storage import watch
from desktop.storage.database import Database, open_database
from desktop.storage.watch import ChangeWatcher, server_unreachable
from tests.helpers import seed_users
from tests.pg_instance import PG_BIN, ThrowawayServer, wait_until
from tests.storage.test_lost_connection import Relay

pytestmark = pytest.mark.postgres

REFUSED = ("The practice server could not be reached. Nothing was changed; try again when the "
           "connection is back.")


@pytest.fixture
def relayed(pg_url: str, db: Database) -> Iterator[tuple[Practice, Relay]]:
    """The practice as a workstation behind a relay that can cut its commit."""
    if not db.is_postgresql:
        pytest.skip("a lost TCP connection is a server's story")
    url = make_url(pg_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    through = open_database(url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False))
    try:
        yield Practice(through), relay
    finally:
        through.dispose()
        relay.close()


def saved_under(db: Database, operation_id: str) -> int:
    with db.reading() as s:
        return s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.operation_id == operation_id)).scalar_one()


def cut_off(practice: Practice, relay: Relay, how: str, owner) -> OutcomeUnknown:  # type: ignore[no-untyped-def]
    relay.on_commit = how
    relay.accepting = False  # the server stays out of reach: the outcome cannot be asked
    with pytest.raises(OutcomeUnknown) as raised:
        practice.clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    assert relay.cut.is_set(), "the commit was not cut"
    return raised.value


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_commit_the_server_made_while_it_stayed_out_of_reach_is_found_saved_by_its_operation_id(
        relayed, db) -> None:  # type: ignore[no-untyped-def]
    practice, relay = relayed
    owner = seed_users(db)["owner"]
    error = cut_off(practice, relay, "forward", owner)
    assert error.operation_id and len(error.operation_id) == 32
    assert error.what == "the new client"
    assert [u.operation_id for u in unresolved(practice, owner)] == [error.operation_id]

    assert resolve_unknown_outcomes(practice, owner) == []  # still out of reach: nothing is claimed
    assert len(unresolved(practice, owner)) == 1

    relay.accepting = True
    found = resolve_unknown_outcomes(practice, owner)
    assert [(r.change.operation_id, r.saved) for r in found] == [(error.operation_id, True)]
    assert found[0].sentence == "Saved: the new client."
    assert unresolved(practice, owner) == []
    assert saved_under(db, error.operation_id) > 0  # the truth: it was saved
    with db.reading() as s:
        assert [c.last_name for c in s.query(Client)] == ["Lovelace"]


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_commit_the_server_never_received_is_found_not_saved_and_says_to_do_it_again(
        relayed, db) -> None:  # type: ignore[no-untyped-def]
    practice, relay = relayed
    owner = seed_users(db)["owner"]
    error = cut_off(practice, relay, "drop", owner)
    relay.accepting = True
    found = resolve_unknown_outcomes(practice, owner)
    assert [(r.change.operation_id, r.saved) for r in found] == [(error.operation_id, False)]
    assert found[0].sentence == "Not saved: the new client — do it again."
    assert saved_under(db, error.operation_id) == 0
    with db.reading() as s:
        assert s.query(Client).count() == 0


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_someone_signing_in_afterwards_is_not_told_about_another_persons_change(
        relayed, db) -> None:  # type: ignore[no-untyped-def]
    practice, relay = relayed
    actors = seed_users(db)
    error = cut_off(practice, relay, "forward", actors["owner"])
    relay.accepting = True
    assert unresolved(practice, actors["manager"]) == []
    assert resolve_unknown_outcomes(practice, actors["manager"]) == []
    assert [u.operation_id for u in unresolved(practice, actors["owner"])] == [error.operation_id]


# ------------------------------------------------------------------ a server that stops


@pytest.fixture(scope="module")
def server() -> Iterator[ThrowawayServer]:
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but there is no PostgreSQL at {PG_BIN} for a throw-away server")
        pytest.skip(f"no PostgreSQL programs at {PG_BIN}")
    pg = ThrowawayServer(tls=True)
    yield pg
    pg.destroy()


@pytest.fixture
def stoppable(server: ThrowawayServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A new practice on the throw-away server; the watcher tries again every few tenths of a second."""
    import psycopg

    monkeypatch.setattr(watch, "RETRY_FIRST_SECONDS", 0.2)
    monkeypatch.setattr(watch, "RETRY_MOST_SECONDS", 0.5)
    if not server.running:
        server.start()
    name = f"caseload_{uuid.uuid4().hex[:10]}"
    admin = server.admin_url().replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = open_database(server.admin_url(name), create=True)
    yield db
    db.dispose()
    if not server.running:
        server.start()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_while_the_watcher_finds_the_server_stopped_the_gate_refuses_at_once_and_lets_through_once_back(
        server: ThrowawayServer, stoppable: Database) -> None:
    db = stoppable
    actors = seed_users(db)
    owner = actors["owner"]
    clients = ClientsController(db)
    watcher = ChangeWatcher(db)
    try:
        assert watcher.changed() is False and watcher.link().connected
        server.stop()
        assert wait_until(lambda: not watcher.link().connected, timeout=5)
        link = watcher.link()
        assert link.lost_since is not None and link.retry_in is not None
        assert server_unreachable(db) == link.lost_since

        started = time.monotonic()
        with pytest.raises(ServerUnreachable) as refused:
            clients.add_client(owner, first_name="Ada", last_name="Lovelace")
        assert time.monotonic() - started < 0.1  # no connect timeout waited out
        assert str(refused.value) == REFUSED and refused.value.nothing_saved
        with pytest.raises(ServerUnreachable) as refused_read:
            clients.list_clients(owner)
        assert str(refused_read.value) == REFUSED and not refused_read.value.nothing_saved

        server.start()
        watcher.retry_now()
        assert wait_until(lambda: watcher.link().connected, timeout=5)
        assert watcher.link().reconnects == 1 and server_unreachable(db) is None
        assert watcher.changed() is True  # notifications sent meanwhile are lost: read everything
        ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace")
        assert [row.id for row in clients.list_clients(owner)] == [ada]  # only the one saved now
    finally:
        watcher.close()
    assert server_unreachable(db) is None


def test_a_closed_watcher_no_longer_makes_the_gate_refuse(server: ThrowawayServer, stoppable: Database) -> None:
    db = stoppable
    owner = seed_users(db)["owner"]
    watcher = ChangeWatcher(db)
    watcher.changed()
    server.stop()
    assert wait_until(lambda: server_unreachable(db) is not None, timeout=5)
    watcher.close()  # the window closed: nobody watches, so nobody is refused on its word
    assert server_unreachable(db) is None
    server.start()
    ClientsController(db).add_client(owner, first_name="Ada", last_name="Lovelace")


def test_without_a_watcher_a_stopped_server_is_refused_in_the_same_plain_sentence(
        server: ThrowawayServer, stoppable: Database) -> None:
    db = stoppable
    owner = seed_users(db)["owner"]
    clients = ClientsController(db)
    server.stop()
    with pytest.raises(ServerUnreachable) as refused:
        clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    assert str(refused.value) == REFUSED
    assert isinstance(refused.value, DatabaseUnavailable)  # what every caller already handles
    with pytest.raises(ServerUnreachable, match="^The practice server could not be reached"):
        clients.list_clients(owner)
