"""The practice server goes away and comes back, as a person at the window sees it.

A throw-away PostgreSQL server with TLS (``tests.pg_instance``) is stopped and started
under a signed-in main window: the banner says the connection is lost and counts down
to the next try, the list stays readable and says when its data was current, what is
typed in a dialog survives a Save refused meanwhile, the list and an open profile take
in what another workstation changed during the outage, and a change cut off at its
commit is looked up and reported once the server answers again. The cut-off commits go
through a small TCP relay that passes TLS through untouched and cuts the one
connection that is committing, either after passing the COMMIT on (the server commits,
its answer is lost) or instead of passing it (the server never commits).

The watcher's waits between tries are shortened through its documented knobs
(``desktop.storage.watch.RETRY_FIRST_SECONDS`` and ``RETRY_MOST_SECONDS``).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialog, QLabel
from sqlalchemy import event
from sqlalchemy.engine import make_url

from desktop.controllers.clients import ClientsController
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.storage import watch
from desktop.storage.database import Database, open_database
from desktop.ui.connection_banner import local_clock
from desktop.ui.dialogs.edit_client import EditClientDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.profile import ProfileWindow
from tests.helpers import seed_users
from tests.pg_instance import PG_BIN, ThrowawayServer

pytestmark = pytest.mark.postgres

TEMPLATE = "caseload_template"
WATCH_TICKS_MS = 1200  # a few of the window's change polls
FORM_SENTENCE = ("The practice server could not be reached, so nothing was saved yet; your changes are "
                 "still here — try again when the connection is back.")


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg", "postgresql", 1)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ThrowawayServer, dict[str, Actor]]]:
    """One throw-away server with TLS for the module, and a migrated practice with its users to
    copy for each test (a template database: copying takes a tenth of a second)."""
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but there is no PostgreSQL at {PG_BIN} for a throw-away server")
        pytest.skip(f"no PostgreSQL programs at {PG_BIN}")
    import psycopg

    pg = ThrowawayServer(tls=True)
    try:
        with psycopg.connect(_psycopg_url(pg.admin_url()), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        db = open_database(pg.admin_url(TEMPLATE), create=True)
        actors = seed_users(db)
        db.dispose()
        yield pg, actors
    finally:
        pg.destroy()


@pytest.fixture
def practice_url(server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A practice of this test's own on the throw-away server (which is running when it starts)."""
    import psycopg

    pg, _actors = server
    if not pg.running:
        pg.start()  # an earlier test stopped it and failed before starting it again
    name = f"caseload_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_psycopg_url(pg.admin_url()), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield pg.admin_url(name)
    if not pg.running:
        pg.start()
    with psycopg.connect(_psycopg_url(pg.admin_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def other_workstation(practice_url: str) -> Iterator[Database]:
    """The same practice as another workstation opens it (a Database of its own)."""
    db = open_database(practice_url)
    yield db
    db.dispose()


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set the watcher's first and longest wait between tries (seconds) for this test."""
    def set_waits(first: float, most: float) -> None:
        monkeypatch.setattr(watch, "RETRY_FIRST_SECONDS", first)
        monkeypatch.setattr(watch, "RETRY_MOST_SECONDS", most)

    set_waits(0.3, 1.0)
    return set_waits


@pytest.fixture
def open_window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A signed-in main window over the practice at a URL, its list loaded."""
    opened: list[Database] = []

    def opener(url: str, actor: Actor) -> MainWindow:
        db = open_database(url)
        opened.append(db)
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(Practice(db), actor, settings)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        with qtbot.waitSignal(window.clients_page.loaded, timeout=10_000):
            window.load()
        return window

    yield opener
    for db in opened:
        db.dispose()


def names(window: MainWindow) -> list[str]:
    model = window.clients_page.model
    return [model.index(r, Column.NAME).data() for r in range(model.rowCount())]


def countdown(window: MainWindow) -> int | None:
    found = re.search(r"retrying in (\d+) s$", window.connection_banner.title.text())
    return int(found.group(1)) if found else None


def lost(window: MainWindow) -> bool:
    banner = window.connection_banner
    return banner.isVisible() and banner.title.text().startswith("Connection to the practice server lost")


def edit_dialog(qtbot, window: MainWindow, client_id: int) -> EditClientDialog:  # type: ignore[no-untyped-def]
    """The client's edit dialog, as Client ▸ Edit opens it (shown here without its own event loop)."""
    dialog = EditClientDialog(window.clients, window.actor, client_id, window,
                              duplicates=window.practice.duplicates)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_a_stopped_server_shows_the_banner_with_its_countdown_and_the_list_stays_readable(
        qtbot, server, practice_url, open_window, retries) -> None:  # type: ignore[no-untyped-def]
    pg, actors = server
    owner = actors["owner"]
    clients = ClientsController(open_database(practice_url))
    clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    clients.add_client(owner, first_name="Grace", last_name="Hopper")
    clients.db.dispose()
    retries(3.0, 3.0)  # long enough to watch it count down
    window = open_window(practice_url, owner)
    banner, security = window.connection_banner, window.security_label
    qtbot.waitUntil(security.isVisible, timeout=5000)
    assert re.fullmatch(r"Encrypted \(TLSv1\.[23]\), server verified", security.text.text())
    assert not banner.isVisible() and not window.clients_page.as_of.isVisible()
    read_at = window.clients_page.read_at
    assert read_at is not None

    pg.stop()
    qtbot.waitUntil(lambda: lost(window) and countdown(window) is not None, timeout=5000)
    first = countdown(window)
    assert first in (1, 2, 3)
    qtbot.waitUntil(lambda: countdown(window) != first, timeout=2500)  # it counts down
    assert "nothing can be saved until the connection is back" in banner.detail.text()
    assert banner.retry.isVisible()
    as_of = window.clients_page.as_of
    assert as_of.isVisible()
    current = window.clients_page.read_at
    assert current is not None and current >= read_at  # the watcher had found nothing new since
    assert local_clock(current) in as_of.text()
    assert as_of.text().startswith("The list shows the practice as it was at")
    assert names(window) == ["Hopper, Grace", "Lovelace, Ada"]  # still there to read

    pg.start()
    started = time.monotonic()
    qtbot.mouseClick(banner.retry, Qt.MouseButton.LeftButton)  # no need to wait for the countdown
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=5000)
    assert time.monotonic() - started < 2.5
    qtbot.waitUntil(lambda: not as_of.isVisible(), timeout=5000)  # the list was read again
    assert names(window) == ["Hopper, Grace", "Lovelace, Ada"]
    assert security.isVisible() and security.text.text().startswith("Encrypted")


def test_what_is_typed_in_the_profile_dialog_survives_a_save_while_the_server_is_down(
        qtbot, server, practice_url, open_window, other_workstation, retries) -> None:  # type: ignore[no-untyped-def]
    pg, actors = server
    owner = actors["owner"]
    ada = ClientsController(other_workstation).add_client(owner, first_name="Ada", last_name="Lovelace")
    window = open_window(practice_url, owner)
    dialog = edit_dialog(qtbot, window, ada)
    phone = dialog.edits["phone"]
    qtbot.keyClicks(phone, "555 010 2000")
    qtbot.keyClicks(dialog.address, "12 Analytical Way")

    pg.stop()
    qtbot.waitUntil(lambda: lost(window), timeout=5000)
    started = time.monotonic()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert time.monotonic() - started < 1.0  # refused at once: the window never froze
    assert dialog.isVisible()
    assert dialog.problem.text() == FORM_SENTENCE
    assert phone.text() == "555 010 2000"
    assert dialog.address.toPlainText() == "12 Analytical Way"

    pg.start()
    qtbot.waitUntil(lambda: not window.connection_banner.isVisible(), timeout=10_000)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    assert dialog.result() == QDialog.DialogCode.Accepted
    saved = ClientsController(other_workstation).get_client(owner, ada)
    assert saved.row.phone == "555 010 2000" and saved.address == "12 Analytical Way"


def test_a_new_client_and_a_booking_typed_while_the_server_is_down_are_kept_and_saved_once_it_is_back(
        qtbot, server, practice_url, open_window, other_workstation, retries) -> None:  # type: ignore[no-untyped-def]
    from desktop.ui.dialogs.appointment import AppointmentDialog
    from desktop.ui.dialogs.edit_client import NewClientDialog
    from tests.helpers import add_services
    from tests.ui.test_appointments_ui import FUTURE, pick_client, type_time

    pg, actors = server
    owner = actors["owner"]
    add_services(other_workstation, time_zone="America/New_York")
    ClientsController(other_workstation).add_client(owner, first_name="Ada", last_name="Lovelace")
    window = open_window(practice_url, owner)
    booking = AppointmentDialog(window.practice, owner, roster=window.roster, day=FUTURE, parent=window)
    qtbot.addWidget(booking)
    booking.show()
    booking.activateWindow()  # as the window a person types in is
    qtbot.waitUntil(booking.isActiveWindow)
    pick_client(qtbot, booking, "lovel")
    type_time(qtbot, booking, "1430")
    newcomer = NewClientDialog(window.practice, owner, window)
    qtbot.addWidget(newcomer)
    newcomer.show()
    qtbot.keyClicks(newcomer.edits["first_name"], "Grace")
    qtbot.keyClicks(newcomer.edits["last_name"], "Hopper")

    pg.stop()
    qtbot.waitUntil(lambda: lost(window), timeout=5000)
    for dialog, button in ((newcomer, newcomer.save_button), (booking, booking.ok_button)):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert dialog.isVisible() and dialog.problem.text() == FORM_SENTENCE
    assert newcomer.edits["last_name"].text() == "Hopper"
    assert booking.client_edit.text() == "Ada Lovelace" and booking.time_edit.time().toString("HH:mm") == "14:30"

    pg.start()
    qtbot.mouseClick(window.connection_banner.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.connection_banner.isVisible(), timeout=5000)
    for dialog, button in ((newcomer, newcomer.save_button), (booking, booking.ok_button)):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda d=dialog: not d.isVisible(), timeout=5000)
    assert newcomer.client_id is not None and booking.saved_id is not None
    [booked] = window.practice.appointments.day(owner, FUTURE).rows
    assert booked.id == booking.saved_id and f"{booked.start:%H:%M}" == "14:30"


def test_what_another_workstation_changed_during_the_outage_reaches_the_list_and_the_open_profile(
        qtbot, server, practice_url, open_window, other_workstation, retries) -> None:  # type: ignore[no-untyped-def]
    pg, actors = server
    owner = actors["owner"]
    theirs = ClientsController(other_workstation)
    ada = theirs.add_client(owner, first_name="Ada", last_name="Lovelace")
    retries(60.0, 60.0)  # this window tries again only when asked: the outage lasts until then
    window = open_window(practice_url, owner)
    window.open_profile("client", ada)
    profile = window.profiles[("client", ada)]
    assert isinstance(profile, ProfileWindow) and profile.name.text() == "Ada Lovelace"
    window.activateWindow()

    pg.stop()
    qtbot.waitUntil(lambda: lost(window), timeout=5000)
    pg.start()  # back for the other workstation; this one has not noticed yet
    version = theirs.get_client(owner, ada).row.version
    theirs.edit_client(owner, ada, version, last_name="King")
    theirs.add_client(owner, first_name="Katherine", last_name="Johnson")
    # Their notifications went out while this window was not listening: it still shows the old list.
    qtbot.wait(300)
    assert names(window) == ["Lovelace, Ada"] and lost(window)

    qtbot.mouseClick(window.connection_banner.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: names(window) == ["Johnson, Katherine", "King, Ada"], timeout=5000)
    assert not window.connection_banner.isVisible()
    qtbot.waitUntil(lambda: profile.name.text() == "Ada King", timeout=5000)


# ---------------------------------------------------------------- commits cut off


class Relay:
    """Passes bytes (TLS and all) between Caseload and the server; cuts one connection on its
    next message when armed: after passing it on ("forward") or instead of it ("drop"). Once
    cut, it closes every connection and accepts none until ``accepting`` is set again."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.accepting = True
        self.armed: tuple[int, str] | None = None  # (the committing connection's port, how)
        self.cut = threading.Event()
        self.open: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.close()
            return
        peer = writer.get_extra_info("peername")[1]
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.open.update((writer, up_writer))
        answer_lost = asyncio.Event()

        async def upstream() -> None:
            while data := await reader.read(65536):
                armed = self.armed
                if armed is not None and armed[0] == peer:
                    self.armed = None
                    answer_lost.set()
                    if armed[1] == "forward":
                        up_writer.write(data)
                        await up_writer.drain()
                        await asyncio.sleep(0.3)  # the server commits; its answer never arrives
                    self.cut.set()
                    for other in list(self.open):
                        other.close()
                    return
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                if answer_lost.is_set():
                    return
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)
        self.open.difference_update((writer, up_writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def relay(server) -> Iterator[Relay]:  # type: ignore[no-untyped-def]
    pg, _actors = server
    cutter = Relay(pg.port)
    yield cutter
    cutter.close()


def relayed(url: str, relay: Relay) -> str:
    return make_url(url).set(port=relay.port).render_as_string(hide_password=False)


def cut_the_next_commit(window: MainWindow, relay: Relay, how: str) -> None:
    """When this window's own thread next commits, cut that connection at its COMMIT, and let
    nobody reach the server through the relay until the test says so."""
    engine = window.practice.db.engine
    done: list[bool] = []

    def before_commit(conn) -> None:  # type: ignore[no-untyped-def]
        if done or threading.current_thread() is not threading.main_thread():
            return  # only the person's save, not a background job
        done.append(True)
        fd = conn.connection.dbapi_connection.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as own:
            port = own.getsockname()[1]
        relay.accepting = False
        relay.armed = (port, how)

    event.listen(engine, "commit", before_commit)


def save_cut_off(qtbot, window: MainWindow, relay: Relay, dialog: EditClientDialog, how: str) -> None:  # type: ignore[no-untyped-def]
    cut_the_next_commit(window, relay, how)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)  # asks the server a few times first
    assert relay.cut.is_set(), "the commit was not cut"
    assert dialog.isVisible()
    assert dialog.problem.text() == (
        "The connection to the practice server was lost while saving, so whether it was saved is "
        "not known yet. Caseload will find out when the connection is back and say so.")
    qtbot.waitUntil(lambda: lost(window), timeout=5000)
    assert "1 change was cut off while saving" in window.connection_banner.detail.text()


def test_a_change_the_server_committed_before_the_connection_died_is_reported_saved(
        qtbot, server, practice_url, relay, open_window, other_workstation, retries) -> None:  # type: ignore[no-untyped-def]
    _pg, actors = server
    owner = actors["owner"]
    ada = ClientsController(other_workstation).add_client(owner, first_name="Ada", last_name="Lovelace")
    window = open_window(relayed(practice_url, relay), owner)
    dialog = edit_dialog(qtbot, window, ada)
    qtbot.keyClicks(dialog.edits["preferred_name"], "Countess")

    save_cut_off(qtbot, window, relay, dialog, "forward")
    relay.accepting = True
    banner = window.connection_banner
    qtbot.mouseClick(banner.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved:" in banner.detail.text(), timeout=5000)
    assert banner.title.text() == "Connection to the practice server is back"
    assert banner.detail.text() == "Saved: the changes to a client's profile (Lovelace, Ada)."
    qtbot.waitUntil(lambda: names(window) == ["Lovelace, Ada (Countess)"], timeout=5000)
    assert ClientsController(other_workstation).get_client(owner, ada).row.preferred_name == "Countess"
    qtbot.mouseClick(banner.dismiss, Qt.MouseButton.LeftButton)
    assert not banner.isVisible()


def test_a_change_the_server_never_received_is_reported_not_saved_and_can_be_saved_again(
        qtbot, server, practice_url, relay, open_window, other_workstation, retries) -> None:  # type: ignore[no-untyped-def]
    _pg, actors = server
    owner = actors["owner"]
    ada = ClientsController(other_workstation).add_client(owner, first_name="Ada", last_name="Lovelace")
    window = open_window(relayed(practice_url, relay), owner)
    dialog = edit_dialog(qtbot, window, ada)
    qtbot.keyClicks(dialog.edits["preferred_name"], "Countess")

    save_cut_off(qtbot, window, relay, dialog, "drop")
    relay.accepting = True
    banner = window.connection_banner
    qtbot.mouseClick(banner.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Not saved:" in banner.detail.text(), timeout=5000)
    assert banner.detail.text() == "Not saved: the changes to a client's profile (Lovelace, Ada) — do it again."
    assert ClientsController(other_workstation).get_client(owner, ada).row.preferred_name in (None, "")
    assert dialog.edits["preferred_name"].text() == "Countess"  # still there to save again

    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    assert ClientsController(other_workstation).get_client(owner, ada).row.preferred_name == "Countess"


# ---------------------------------------------------------------- the status bar


def test_a_plain_connection_is_shown_with_a_warning_and_an_encrypted_one_with_its_protocol(
        qtbot, server, practice_url, open_window) -> None:  # type: ignore[no-untyped-def]
    from desktop.ui.connection_banner import PLAIN_WORDS

    pg, actors = server
    plain = make_url(practice_url).update_query_dict({"sslmode": "disable"})
    plain = plain.difference_update_query(["sslrootcert"]).render_as_string(hide_password=False)
    window = open_window(plain, actors["owner"])
    security = window.security_label
    qtbot.waitUntil(security.isVisible, timeout=5000)
    assert security.text.text() == PLAIN_WORDS
    assert security.toolTip().startswith("Not encrypted: the practice's data crosses the network readable")
    assert not security.icon.pixmap().isNull()  # the warning sign beside it
    location = window.findChild(QLabel, "practiceLocation")
    assert location is not None and location.text() == f"127.0.0.1:{pg.port}/{make_url(practice_url).database}"
    assert "sslmode=disable" in location.toolTip()


def test_a_practice_file_shows_neither_banner_nor_connection_words(qtbot, sqlite_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    owner = seed_users(sqlite_db)["owner"]
    window = MainWindow(Practice(sqlite_db), owner,
                        QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.clients_page.loaded, timeout=10_000):
        window.load()
    qtbot.wait(WATCH_TICKS_MS)
    assert not window.security_label.isVisible() and not window.connection_banner.isVisible()
    location = window.findChild(QLabel, "practiceLocation")
    assert location is not None and location.text() == "Local database"


def test_automatic_billing_that_failed_in_the_outage_runs_again_once_the_server_is_back(
        qtbot, server, practice_url, open_window, retries) -> None:  # type: ignore[no-untyped-def]
    pg, actors = server
    window = open_window(practice_url, actors["owner"])
    billing = window.automatic_billing
    # The run after sign-in first; the next is then an hour away.
    qtbot.waitUntil(lambda: billing.last_report is not None and not billing.running, timeout=15_000)
    pg.stop()
    qtbot.waitUntil(lambda: lost(window), timeout=5000)
    billing.run()
    qtbot.waitUntil(lambda: billing.last_problem is not None and not billing.running, timeout=15_000)
    assert billing.label.text().startswith("Automatic billing did not run:")
    pg.start()
    qtbot.mouseClick(window.connection_banner.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.connection_banner.isVisible(), timeout=5000)
    # Not in an hour: it ran again as soon as the server answered, and said so.
    qtbot.waitUntil(lambda: billing.last_problem is None and not billing.running, timeout=15_000)
    assert "did not run" not in billing.label.text()
