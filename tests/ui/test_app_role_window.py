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
from tests.helpers import PASSWORD, seed_users
from tests.pg_instance import ThrowawayServer

pytestmark = pytest.mark.postgres

APP_PASSWORD = "workstation role pass 9"


@pytest.fixture(scope="module")
def clinic() -> Iterator[ThrowawayServer]:
    server = ThrowawayServer(tls=True)
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
        assert main(["server", "init", "--admin-url", server.admin_url(), "--name", "clinic"]) == 0
        yield server
    finally:
        mp.undo()
        server.destroy()


@pytest.fixture(scope="module")
def app_url(clinic: ThrowawayServer) -> str:
    return clinic.url(user="caseload_app", password=APP_PASSWORD, database="clinic",
                      sslrootcert=str(clinic.root_cert))


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


def test_a_changed_password_is_said_as_a_refusal_in_the_banner(qtbot, clinic: ThrowawayServer, app_url: str,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """IT changes the role's password while the window runs: the banner says the server refused
    this workstation and why, rather than only that the connection was lost; once the password is
    right again, Retry now brings it back."""
    import psycopg
    from PySide6.QtCore import Qt
    from sqlalchemy.engine import make_url

    from desktop.storage import watch
    from desktop.storage.database import libpq_conninfo

    monkeypatch.setattr(watch, "RETRY_FIRST_SECONDS", 0.3)
    monkeypatch.setattr(watch, "RETRY_MOST_SECONDS", 1.0)
    db = open_database(app_url)
    try:
        practice = Practice(db)
        owner = (practice.access.sign_in("owner", PASSWORD).actor if practice.access.has_users()
                 else seed_users(db)["owner"])
        window = MainWindow(Practice(db), owner, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        window.show()
        with qtbot.waitSignal(window.clients_page.loaded, timeout=10_000):
            window.load()
        banner = window.connection_banner
        admin = libpq_conninfo(make_url(clinic.admin_url("clinic")))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("ALTER ROLE caseload_app PASSWORD 'a different password 77'")
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'caseload_app'")
        window.retry_connection()
        qtbot.waitUntil(lambda: banner.isVisible()
                        and banner.title.text().startswith("The practice server refused this workstation"),
                        timeout=15_000)
        assert "password authentication failed" in banner.detail.text()
        assert "What you type in open windows is kept" in banner.detail.text()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE caseload_app PASSWORD '{APP_PASSWORD}'")
        qtbot.mouseClick(banner.retry, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not banner.isVisible(), timeout=15_000)
        window.close()
    finally:
        db.dispose()
