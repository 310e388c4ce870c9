"""The window's automatic billing run, the practice's time zone and a client's diagnosis codes,
as a person meets them: the window is opened, fields are typed into, Save is clicked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import DatabaseUnavailable
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.controllers.settings import SettingsController
from desktop.domain import clock
from desktop.domain.models import AuditEvent, BillingDocument, DocumentKind, PracticeSettings
from desktop.ui.dialogs.edit_client import EditClientDialog
from desktop.ui.dialogs.practice_settings import PracticeSettingsDialog
from desktop.ui.main_window import MainWindow
from tests.helpers import add_appointment, add_services, count


@pytest.fixture
def open_window(qtbot, db, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)

    def opener(actor: Actor) -> MainWindow:
        window = MainWindow(Practice(db), actor, settings)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        window.load(background=False)
        return window

    return opener


def mid_last_month(zone_name: str) -> dt.datetime:
    """10:00 on the 15th of last month on the practice's clock, as stored (UTC)."""
    tz = clock.zone(zone_name)
    first = clock.today(tz).replace(day=1)
    day = (first - dt.timedelta(days=1)).replace(day=15)
    return clock.to_utc(dt.datetime.combine(day, dt.time(10, 0)), tz)


def documents(db) -> list[tuple[DocumentKind, bool]]:  # type: ignore[no-untyped-def]
    with db.reading() as s:
        return sorted((d.kind, d.automatic) for d in s.query(BillingDocument))


def test_an_open_window_bills_an_attended_appointment_as_the_practice_not_as_the_person(
        qtbot, db, practice, open_window) -> None:  # type: ignore[no-untyped-def]
    add_services(db, time_zone="America/New_York")
    owner = practice["owner"]
    cid = ClientsController(db).add_client(owner, first_name="Nora", last_name="Quinn")
    add_appointment(db, cid, mid_last_month("America/New_York"))

    # A scheduler may not run billing; the practice's own run happens all the same.
    window = open_window(practice["scheduler"])
    label = window.findChild(QLabel, "billingStatus")
    qtbot.waitUntil(lambda: "2 documents made" in label.text(), timeout=10_000)

    assert documents(db) == [(DocumentKind.STATEMENT, True), (DocumentKind.SUPERBILL, True)]
    with db.reading() as s:
        runs = [(e.actor_id, e.actor_username) for e in s.query(AuditEvent) if e.action == "billing.automatic"]
    assert runs == [(None, "automatic billing")]


def test_the_run_comes_again_on_its_timer_and_bills_what_was_attended_meanwhile(
        qtbot, db, practice, open_window) -> None:  # type: ignore[no-untyped-def]
    add_services(db)
    owner = practice["owner"]
    cid = ClientsController(db).add_client(owner, first_name="Nora", last_name="Quinn")
    add_appointment(db, cid, mid_last_month(""))
    window = open_window(owner)
    label = window.findChild(QLabel, "billingStatus")
    qtbot.waitUntil(lambda: "documents made" in label.text(), timeout=10_000)
    assert count(db, BillingDocument) == 2

    window.automatic_billing.hourly.setInterval(300)  # an hour, shortened for the test
    window.automatic_billing.hourly.start()
    yesterday = clock.to_utc(dt.datetime.combine(clock.today(clock.zone("")) - dt.timedelta(days=1),
                                                 dt.time(9, 0)), clock.zone(""))
    add_appointment(db, cid, yesterday)
    qtbot.waitUntil(lambda: count(db, BillingDocument, kind=DocumentKind.SUPERBILL) == 2, timeout=10_000)
    qtbot.waitUntil(lambda: "1 documents made" in label.text() or "nothing was due" in label.text(),
                    timeout=5_000)


def test_a_run_that_cannot_reach_the_database_says_so_in_the_status_bar_not_in_a_dialog(
        qtbot, db, practice, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def unreachable(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise DatabaseUnavailable("The database could not be reached (server closed the connection).")

    window = open_window(practice["owner"])
    monkeypatch.setattr(window.practice.billing, "run_automatic", unreachable)
    dialogs: list[str] = []

    def note_dialogs() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, QMessageBox):
            dialogs.append(modal.text())
            modal.close()

    label = window.findChild(QLabel, "billingStatus")
    window.automatic_billing.run()
    qtbot.waitUntil(lambda: "did not run" in label.text(), timeout=5_000)
    note_dialogs()
    assert dialogs == []
    assert "could not be reached" in label.text() and "try again in an hour" in label.text()


def test_the_practice_time_zone_is_chosen_by_typing_and_saved(qtbot, db, practice) -> None:  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    dialog = PracticeSettingsDialog(Practice(db), owner)
    qtbot.addWidget(dialog)
    dialog.show()
    zone = dialog.time_zone
    assert zone.currentText().startswith("This computer's")
    zone.lineEdit().selectAll()
    qtbot.keyClicks(zone.lineEdit(), "America/Chicago")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    assert dialog.saved is not None and dialog.saved.zone_name == "America/Chicago"
    with db.reading() as s:
        assert s.get(PracticeSettings, 1).time_zone == "America/Chicago"


def test_a_time_zone_nobody_knows_is_said_under_the_field_and_save_waits(qtbot, db, practice) -> None:  # type: ignore[no-untyped-def]
    dialog = PracticeSettingsDialog(Practice(db), practice["owner"])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.time_zone.lineEdit().selectAll()
    qtbot.keyClicks(dialog.time_zone.lineEdit(), "Mars/Olympus_Mons")
    error = dialog.findChild(QLabel, "timeZoneError")
    qtbot.waitUntil(error.isVisible, timeout=2_000)
    assert "not a time zone" in error.text()
    assert not dialog.save_button.isEnabled()
    assert SettingsController(db).settings(practice["owner"]).version == 0


def test_diagnosis_codes_are_typed_checked_and_saved_cleaned(qtbot, db, practice) -> None:  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    cid = clients.add_client(owner, first_name="Nora", last_name="Quinn")
    dialog = EditClientDialog(clients, owner, cid)
    qtbot.addWidget(dialog)
    dialog.show()
    codes = dialog.edits["diagnosis_codes"]

    qtbot.keyClicks(codes, "F41.1, banana")
    error = dialog.errors["diagnosis_codes"]
    assert error.isVisible() and "'BANANA' is not an ICD-10 code" in error.text()
    assert not dialog.save_button.isEnabled()

    codes.clear()
    qtbot.keyClicks(codes, "f41.1 f32.0")
    assert not error.isVisible() and dialog.save_button.isEnabled()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert clients.get_client(owner, cid).diagnosis_codes == "F41.1, F32.0"


def test_the_run_waits_between_chunks_while_someone_types_in_the_list(
        qtbot, db, practice, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Typing in the search box holds the next chunk back until the typing stops (the run
    shares the interpreter with the window); it then bills what was due, as the practice."""
    import threading
    import time

    from desktop.ui import automatic_billing

    monkeypatch.setattr(automatic_billing, "YIELD_AFTER_S", 0.6)
    add_services(db)
    owner = practice["owner"]
    cid = ClientsController(db).add_client(owner, first_name="Nora", last_name="Quinn")
    add_appointment(db, cid, mid_last_month(""))
    window = open_window(owner)
    billing = window.automatic_billing
    billing.stop()  # the window's own run is not wanted here: the gate is driven directly
    billing.stopping = False
    qtbot.keyClicks(window.clients_page.search, "no")
    started = time.monotonic()
    waited: list[float] = []
    worker = threading.Thread(target=lambda: (billing._note_progress(1, 2),
                                              waited.append(time.monotonic() - started)))
    worker.start()
    qtbot.wait(300)
    assert not waited  # still typing a moment ago: the chunk waits
    qtbot.keyClicks(window.clients_page.search, "r")  # more typing keeps it waiting
    worker.join(timeout=5)
    assert waited and waited[0] >= 0.85
    time.sleep(0.7)  # nobody typing: no wait
    started = time.monotonic()
    billing._note_progress(2, 2)
    assert time.monotonic() - started < 0.1
