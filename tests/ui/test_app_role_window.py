"""The window as a clinic's workstation runs it: signed in over TLS as the application role that
`caseload server init` made, on a throw-away server of the test's own.

The other window tests connect as the server's superuser; this one checks that what the window
does at start and while it runs (reading the list, LISTEN for other workstations' changes, asking
how the connection is protected, a deletion and its VACUUM) works with the least rights the role
has, and says what it should.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from desktop.cli.main import main
from desktop.controllers.clients import ClientsController
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Column
from desktop.storage.database import open_database
from desktop.ui.main_window import MainWindow
from tests.helpers import seed_users
from tests.pg_instance import ThrowawayServer

pytestmark = pytest.mark.postgres

APP_PASSWORD = "workstation role pass 9"


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    server = ThrowawayServer(tls=True)
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
        assert main(["server", "init", "--admin-url", server.admin_url(), "--name", "clinic"]) == 0
        yield server.url(user="caseload_app", password=APP_PASSWORD, database="clinic",
                         sslrootcert=str(server.root_cert))
    finally:
        mp.undo()
        server.destroy()


def test_a_workstation_as_the_app_role_reads_hears_and_deletes(qtbot, app_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = open_database(app_url)
    other = open_database(app_url)  # another workstation
    try:
        actors = seed_users(db)
        owner = actors["owner"]
        elsewhere = ClientsController(other)
        ada = elsewhere.add_client(owner, first_name="Ada", last_name="Lovelace")
        window = MainWindow(Practice(db), owner, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        with qtbot.waitSignal(window.clients_page.loaded, timeout=10_000):
            window.load()
        model = window.clients_page.model

        def names() -> list[str]:
            return [model.index(r, Column.NAME).data() for r in range(model.rowCount())]

        assert names() == ["Lovelace, Ada"]
        security = window.security_label
        qtbot.waitUntil(security.isVisible, timeout=5000)
        assert security.text.text().endswith("server verified")

        # Another workstation's change reaches this list: LISTEN/NOTIFY work for the role.
        elsewhere.add_client(owner, first_name="Grace", last_name="Hopper")
        qtbot.waitUntil(lambda: names() == ["Hopper, Grace", "Lovelace, Ada"], timeout=10_000)

        # A deletion here: the role may delete the client's rows and add to the audit log, and the
        # window never says "permanently" on a server.
        impact = window.clients.delete_client(owner, ada, "Ada Lovelace", understood=True)
        assert impact.erased is False
        window._client_deleted(ada, "Ada Lovelace")
        said = window.statusBar().currentMessage()
        assert "was deleted from the practice" in said and "permanently" not in said
        qtbot.waitUntil(lambda: names() == ["Hopper, Grace"], timeout=10_000)
        # Before PostgreSQL 17 only the tables' owner may VACUUM; from 17 init grants MAINTAIN.
        assert db.wait_for_vacuum() is (db._server_version() >= 170000)
        window.close()
    finally:
        other.dispose()
        db.dispose()
