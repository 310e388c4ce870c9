"""A connection cut while a change is being committed: the app finds out what happened.

A small TCP relay on 127.0.0.1 stands between Caseload and the real PostgreSQL
server; the test cuts it at the moment the COMMIT goes through, either after
passing the COMMIT on (the server commits, the answer never arrives) or
instead of passing it (the server rolls back). Caseload must then report
"saved" or "not saved" truthfully, and "unknown" only while the server stays
out of reach.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import DatabaseUnavailable, OutcomeUnknown
from desktop.domain.models import Client
from desktop.storage.database import Database, open_database
from tests.helpers import seed_users

pytestmark = pytest.mark.postgres


class Relay:
    """Forwards bytes between a client and a server; can cut the first COMMIT it sees."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.on_commit: str | None = None  # None: pass; "forward": pass it, then cut; "drop": cut instead
        self.accepting = True
        self.cut = threading.Event()
        self.open: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.open.update((writer, up_writer))
        this_one_cut = asyncio.Event()

        async def upstream() -> None:
            while data := await reader.read(65536):
                if self.on_commit and b"COMMIT" in data and not self.cut.is_set():
                    self.cut.set()
                    this_one_cut.set()
                    if self.on_commit == "forward":
                        up_writer.write(data)
                        await up_writer.drain()
                        await asyncio.sleep(0.3)  # the server commits; its answer is lost
                    writer.close()
                    up_writer.close()
                    if not self.accepting:  # the server is gone for everyone
                        for other in self.open:
                            other.close()
                    return
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                if this_one_cut.is_set():
                    return  # the answer to the COMMIT never arrives
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def through_relay(pg_url: str, db: Database) -> Iterator[tuple[Database, Relay]]:
    if not db.is_postgresql:
        pytest.skip("a lost TCP connection is a server's story")
    url = make_url(pg_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    relayed = open_database(url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False))
    try:
        yield relayed, relay
    finally:
        relayed.dispose()
        relay.close()


def spy_on_lookups(db: Database) -> list[bool | None]:
    """What the lookup after a lost commit answered (the test must go through it)."""
    answers: list[bool | None] = []
    real = db.operation_saved

    def looked_up(operation_id: str, **kwargs: object) -> bool | None:
        answers.append(real(operation_id, **kwargs))  # type: ignore[arg-type]
        return answers[-1]

    db.operation_saved = looked_up  # type: ignore[method-assign]
    return answers


def names(db: Database) -> list[str]:
    with db.reading() as s:
        return sorted(c.last_name for c in s.query(Client))


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_commit_the_server_made_is_reported_saved(through_relay, db) -> None:  # type: ignore[no-untyped-def]
    relayed, relay = through_relay
    owner = seed_users(db)["owner"]
    relay.on_commit = "forward"
    lookups = spy_on_lookups(relayed)
    new_id = ClientsController(relayed).add_client(owner, first_name="Ada", last_name="Lovelace")
    assert relay.cut.is_set(), "the commit's connection was not cut"
    assert lookups == [True], "the outcome was not looked up"
    assert names(db) == ["Lovelace"]
    with db.reading() as s:
        assert s.get(Client, new_id) is not None


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_commit_the_server_never_got_is_reported_not_saved(through_relay, db) -> None:  # type: ignore[no-untyped-def]
    relayed, relay = through_relay
    owner = seed_users(db)["owner"]
    relay.on_commit = "drop"
    lookups = spy_on_lookups(relayed)
    with pytest.raises(DatabaseUnavailable, match="Nothing was changed"):
        ClientsController(relayed).add_client(owner, first_name="Ada", last_name="Lovelace")
    assert relay.cut.is_set() and lookups == [False]
    assert names(db) == []


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_deletion_cut_at_commit_is_never_reported_as_not_done(through_relay, db) -> None:  # type: ignore[no-untyped-def]
    relayed, relay = through_relay
    owner = seed_users(db)["owner"]
    clients = ClientsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    relay.on_commit = "forward"
    lookups = spy_on_lookups(relayed)
    impact = ClientsController(relayed).delete_client(owner, ada, "Ada Lovelace")
    assert impact.client_id == ada and lookups == [True]
    assert names(db) == []


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_when_the_server_stays_out_of_reach_the_outcome_is_called_unknown(through_relay, db) -> None:  # type: ignore[no-untyped-def]
    relayed, relay = through_relay
    owner = seed_users(db)["owner"]
    relay.on_commit = "forward"
    relay.accepting = False
    with pytest.raises(OutcomeUnknown, match="Check before trying again"):
        ClientsController(relayed).add_client(owner, first_name="Ada", last_name="Lovelace")
    assert names(db) == ["Lovelace"]  # it was in fact saved: the app did not claim otherwise
