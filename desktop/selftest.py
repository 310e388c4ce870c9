"""``caseload --self-test``: prove, without a window on screen, that this installation works.

It creates a temporary SQLite database, runs the migrations, creates a client,
marks it inactive and deletes it; creates an encrypted practice file (SQLCipher and its
key file) and checks that a client's name cannot be read in it; loads the PostgreSQL dialect and the psycopg
driver with its libpq (without connecting to any server); starts Qt on the
offscreen platform plugin; renders the application icon; and opens the real
main window offscreen. A bundle missing a SQL dialect, a migration file, a Qt
plugin or a module the window imports fails here rather than on a
clinician's desk. Each step prints one line as it passes; the exit status is 0
only if every step passed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from desktop import __version__

OFFSCREEN = "offscreen"


def self_test() -> int:
    frozen = "bundle" if getattr(sys, "frozen", False) else "source install"
    print(f"caseload {__version__} self-test ({frozen}, Python {sys.version.split()[0]}, {sys.platform})")
    passed = 0
    state: dict = {}
    try:
        with tempfile.TemporaryDirectory(prefix="caseload-selftest-", ignore_cleanup_errors=True) as tmp:
            try:
                for step in _steps(Path(tmp), state):
                    print(f"ok    {step()}", flush=True)
                    passed += 1
            finally:
                if "db" in state:  # Windows cannot remove a database file still open
                    state["db"].dispose()
    except Exception as exc:  # the self-test reports any failure, whatever it is
        print(f"FAIL  {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"self-test FAILED after {passed} passed steps", file=sys.stderr)
        return 1
    print("self-test passed")
    return 0


def _steps(tmp: Path, state: dict) -> list[Callable[[], str]]:
    """The checks in order; each returns what it proved, or raises. They share ``state``."""

    def database() -> str:
        from desktop.storage.database import head_revision, open_database

        state["db"] = open_database(f"sqlite:///{tmp / 'selftest.db'}", create=True)
        return f"SQLite database created and migrated to revision {head_revision()}"

    def client_lifecycle() -> str:
        from desktop.controllers.clients import ClientsController
        from desktop.controllers.users import UsersController

        db = state["db"]
        owner = UsersController(db).create_account_owner("selftest", "Self Test", "self-test passphrase")
        state["owner"] = owner
        clients = ClientsController(db)
        cid = clients.add_client(owner, first_name="Zoë", last_name="O'Test")
        clients.set_status(owner, cid, "inactive", reason="other")
        clients.delete_client(owner, cid, "Zoë O'Test")
        if clients.list_clients(owner, "all"):
            raise RuntimeError("the client is still listed after deletion")
        return "client created, marked inactive and deleted"

    def audit_chain() -> str:
        from desktop.controllers.audit_log import AuditLogController
        from desktop.storage.anchors import AnchorBook

        db = state["db"]
        log = AuditLogController(db, AnchorBook("self-test", tmp / "anchors"))
        log.keep_anchor(state["owner"])
        verdict = log.verify(state["owner"])
        if not verdict.intact or verdict.anchor is None:
            raise RuntimeError(f"the audit log did not verify: {verdict}")
        return f"audit log verified: {verdict.entries} entries chained, matching the anchor just kept"

    def postgresql() -> str:
        # create_engine loads the dialect and imports the driver but connects to nothing.
        import psycopg
        from alembic.ddl.impl import DefaultImpl
        from psycopg import pq
        from sqlalchemy import create_engine

        engine = create_engine("postgresql+psycopg://selftest@127.0.0.1:1/selftest")
        try:
            dialect = engine.dialect
            if (dialect.name, dialect.driver) != ("postgresql", "psycopg"):
                raise RuntimeError(f"got the {dialect.name}+{dialect.driver} dialect")
            DefaultImpl.get_by_dialect(dialect)  # the migrations' PostgreSQL DDL
            libpq = pq.version()  # calls into libpq, so a missing library fails here
            if getattr(sys, "frozen", False) and pq.__impl__ == "python":
                # The bundle ships libpq in psycopg_binary; the pure-Python wrapper
                # would lean on whatever libpq the user's system happens to have.
                raise RuntimeError("psycopg fell back to the system's libpq: psycopg_binary is missing")
        finally:
            engine.dispose()
        return (f"PostgreSQL dialect and psycopg {psycopg.__version__} driver load "
                f"({pq.__impl__} implementation, libpq {libpq // 10000}.{libpq % 10000})")

    def qt_offscreen() -> str:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import QCoreApplication, QLibraryInfo, qVersion
        from PySide6.QtGui import QGuiApplication
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        if app is None:
            # Qt aborts the whole process when a platform plugin cannot load, so
            # look for it first and fail with a sentence instead.
            dirs = [*QCoreApplication.libraryPaths(), QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)]
            if not any(any(Path(d, "platforms").glob(f"*q{OFFSCREEN}*")) for d in dirs):
                raise RuntimeError(f"Qt's {OFFSCREEN} platform plugin is missing (looked in "
                                   f"{os.pathsep.join(dict.fromkeys(dirs))})")
            os.environ["QT_QPA_PLATFORM"] = OFFSCREEN
            from desktop.ui.app import make_application

            app = make_application([sys.argv[0] if sys.argv else "caseload"])
            if QGuiApplication.platformName() != OFFSCREEN:
                raise RuntimeError(f"Qt started the {QGuiApplication.platformName()!r} platform, "
                                   f"not {OFFSCREEN!r}")
        state["app"] = app
        return (f"Qt {qVersion()} (PySide6 {pyside_version}) started on the "
                f"{QGuiApplication.platformName()} platform")

    def resources() -> str:
        from PySide6.QtGui import QIcon

        from desktop.ui.app import resources_dir

        icon = resources_dir() / "icons" / "caseload.svg"
        style = resources_dir() / "styles" / "caseload.qss"
        if not icon.exists() and not getattr(sys, "frozen", False):
            return f"application icon skipped (no resources folder at {resources_dir()})"
        for path in (icon, style):
            if not path.exists():
                raise RuntimeError(f"{path} is missing")
        if QIcon(str(icon)).pixmap(32, 32).isNull():
            raise RuntimeError(f"{icon.name} did not render: Qt's SVG icon engine or image plugin is missing")
        return "application icon rendered and style sheet found"

    def main_window() -> str:
        from PySide6.QtCore import QSettings

        from desktop.controllers.practice import Practice
        from desktop.ui.main_window import MainWindow

        settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(Practice(state["db"]), state["owner"], settings)
        try:
            window.load(background=False)
            image = window.grab()
            if image.isNull():
                raise RuntimeError("the main window drew nothing")
        finally:
            window.close()
            window.deleteLater()
        return f"main window opened and drawn offscreen ({image.width()}×{image.height()})"

    def billing_document() -> str:
        import datetime as dt
        import zoneinfo

        from desktop.controllers.billing import BillingController
        from desktop.controllers.settings import SettingsController
        from desktop.render.billing_document import pdf_bytes

        db, owner = state["db"], state["owner"]
        zoneinfo.ZoneInfo("America/New_York")  # the time zone database is there
        SettingsController(db).save(owner, 0, {"name": "Self-test practice", "time_zone": "America/New_York"},
                                    [{"code": "90834", "description": "Psychotherapy, 45 minutes",
                                      "minutes": 45, "default_fee": "140.00"}])
        from desktop.controllers.appointments import AppointmentsController
        from desktop.controllers.clients import ClientsController

        cid = ClientsController(db).add_client(owner, first_name="Ana", last_name="Test")
        day = dt.date.today() - dt.timedelta(days=3)
        AppointmentsController(db).book(owner, cid, f"{day} 10:00", service_code="90834",
                                        attendance="attended")
        billing = BillingController(db)
        report = billing.run_automatic()
        if report.documents_created < 1:
            raise RuntimeError("the billing run made no superbill for an attended appointment")
        [doc] = [d for d in billing.documents(owner, client_id=cid) if d.kind.value == "superbill"]
        pdf = pdf_bytes(billing.document(owner, doc.id))
        if not pdf.startswith(b"%PDF"):
            raise RuntimeError("the superbill did not render as a PDF")
        from PySide6.QtPrintSupport import QPrinter

        QPrinter()  # printing support is bundled
        return f"appointment billed and its superbill rendered as a PDF ({len(pdf):,} bytes)"

    def encrypted_file() -> str:
        from desktop.controllers.practice import open_practice

        path = tmp / "encrypted" / "caseload.db"
        name = "Zoë Quixotic-Selftest"
        practice = open_practice(f"sqlite:///{path}", create=True)
        try:
            if not practice.encrypted:
                raise RuntimeError("a new practice file was not encrypted")
            owner, recovery = practice.access.create_owner("selftest", "Self Test", "self-test passphrase")
            first, last = name.split(" ")
            practice.clients.add_client(owner, first_name=first, last_name=last)
        finally:
            practice.close()
        data = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith("caseload.db"))
        if data.startswith(b"SQLite format 3"):
            raise RuntimeError("the encrypted practice file starts as a plain SQLite file does")
        for word in name.split(" "):
            if word.encode("utf-8") in data:
                raise RuntimeError(f"the client's name ({word}) can be read in the encrypted file")
        practice = open_practice(f"sqlite:///{path}")
        try:
            actor = practice.access.sign_in("selftest", "self-test passphrase").actor
            if [r.last_name for r in practice.clients.list_clients(actor)] != [last]:
                raise RuntimeError("the encrypted practice did not read back after signing in again")
        finally:
            practice.close()
        return (f"encrypted practice file written, unreadable without its key (no name in its "
                f"{len(data):,} bytes), and opened again with the password; recovery key made ({recovery is not None})")

    return [database, client_lifecycle, audit_chain, postgresql, qt_offscreen, resources, main_window, billing_document,
            encrypted_file]
