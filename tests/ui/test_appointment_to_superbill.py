"""The whole path in the main window, as a clinician and a biller walk it: book yesterday's
appointment, mark it attended, let the automatic run bill it, find the superbill on the
Billing page, open it, and save it as a PDF."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel

from desktop.controllers.clients import ClientsController
from desktop.controllers.practice import Practice
from desktop.domain import clock
from desktop.domain.models import Attendance
from desktop.ui.appointments_page import AppointmentsPage
from desktop.ui.billing_page import BillingPage
from desktop.ui.dialogs.appointment import AppointmentDialog
from desktop.ui.main_window import MainWindow
from tests.helpers import add_services
from tests.ui.test_appointments_ui import click_action, pick_client, shown, type_time, when_menu
from tests.ui.test_billing_ui import documents_folder, pdf_words, save_through_dialog  # noqa: F401
from tests.ui.test_profile_and_deletion import when_modal

LEFT = Qt.MouseButton.LeftButton


def test_book_mark_attended_bill_open_and_save_the_superbill(qtbot, db, practice, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            documents_folder) -> None:  # noqa: F811
    add_services(db, time_zone="America/New_York")
    owner = practice["owner"]
    ClientsController(db).add_client(owner, first_name="Zoë", last_name="Ångström", date_of_birth="1990-04-02",
                                     address="12 Elm St\nSpringfield", diagnosis_codes="F41.1",
                                     clinician_id=practice["clinician-all"].user_id)
    window = MainWindow(Practice(db), owner, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    window.load(background=False)
    label = window.findChild(QLabel, "billingStatus")
    qtbot.waitUntil(lambda: "nothing was due" in label.text(), timeout=10_000)  # the run at start

    # Appointments: yesterday, New appointment, type part of her name, 10:00, the 60-minute service.
    assert window.show_page("Appointments")
    page = window.findChild(AppointmentsPage, "appointmentsPage")
    today = clock.today(clock.zone("America/New_York"))
    yesterday = today - dt.timedelta(days=1)
    qtbot.mouseClick(page.today_button, LEFT)
    qtbot.mouseClick(page.previous_button, LEFT)
    qtbot.waitUntil(lambda: page.view is not None and page.view.day == yesterday)

    def book(dialog: AppointmentDialog) -> None:
        pick_client(qtbot, dialog, "angst")
        type_time(qtbot, dialog, "1000")
        dialog.service.setCurrentIndex(dialog.service.findData("90837"))
        dialog.service.activated.emit(dialog.service.currentIndex())
        qtbot.mouseClick(dialog.ok_button, LEFT)

    when_modal(AppointmentDialog, book)
    qtbot.mouseClick(page.new_button, LEFT)
    qtbot.waitUntil(lambda: shown(page) == ["Zoë Ångström"])

    # Mark it attended from the Mark menu.
    page.table.selectRow(0)
    when_menu(lambda menu: click_action(qtbot, menu, "mark-attended"))
    qtbot.mouseClick(page.mark_button, LEFT)
    qtbot.waitUntil(lambda: page.selected() is not None and page.selected().attendance is Attendance.ATTENDED)

    # The next automatic run (its hourly timer, shortened) bills it.
    window.automatic_billing.hourly.setInterval(200)
    window.automatic_billing.hourly.start()
    made = "2 documents made" if yesterday.month != today.month else "1 documents made"
    qtbot.waitUntil(lambda: made in label.text(), timeout=10_000)
    window.automatic_billing.hourly.stop()

    # Billing: the superbill is listed for the month of the visit; open it and save it as PDF.
    assert window.show_page("Billing")
    billing = window.findChild(BillingPage, "billingPage")
    # Which month is this month on the practice's clock comes with the page's first read.
    qtbot.waitUntil(lambda: billing.period.currentText().startswith("This month ("), timeout=10_000)
    if yesterday.month != today.month:
        with qtbot.waitSignal(billing.loaded, timeout=10_000):
            billing.period.setCurrentIndex(1)
    qtbot.waitUntil(lambda: any(
        billing.documents.index(r, 1).data() == "Superbill" for r in range(billing.documents.rowCount())),
        timeout=10_000)
    row = next(r for r in range(billing.table.model().rowCount())
               if billing.table.model().index(r, 1).data() == "Superbill")
    billing.table.selectRow(row)
    qtbot.mouseClick(billing.open_button, LEFT)
    superbill = billing.selected_document()
    assert superbill is not None
    document = billing.windows[superbill.id]
    text = document.page.toPlainText()
    assert "Zoë Ångström" in text and "90837" in text and "F41.1" in text and "$180.00" in text

    target = tmp_path / "superbill.pdf"
    save_through_dialog(qtbot, target, {})
    qtbot.mouseClick(document.save_button, LEFT)
    qtbot.waitUntil(target.exists, timeout=10_000)
    assert target.read_bytes().startswith(b"%PDF")
    words = pdf_words(target)
    assert "Riverside Counselling" in words and "Zoë Ångström" in words
    assert "90837" in words and "F41.1" in words and "$180.00" in words
    assert yesterday.isoformat() in words
