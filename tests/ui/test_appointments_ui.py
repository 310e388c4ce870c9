"""The Appointments page, the appointment dialog and the profile's Appointments tab, used as a person would.

Every test types and clicks real widgets: a client is found by typing part of
their name and picked from the matches with ↓ and Enter, questions are answered
by clicking their buttons once they are up, and what was saved is read back
through the controllers (docs/rules.md, "Appointments").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QDate, Qt, QTime, QTimer
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox
from sqlalchemy import event

from desktop.controllers.appointments import AppointmentRow, DayView
from desktop.controllers.permissions import Action
from desktop.controllers.practice import Practice
from desktop.domain.models import Appointment, Attendance, ClientStatus
from desktop.ui.appointments_page import CLIENT, FIRST_ROWS, MINIMUMS, TIME, AppointmentsPage
from desktop.ui.dialogs.appointment import AppointmentDialog
from desktop.ui.operation import wait_for_background_jobs
from desktop.ui.profile import ProfileWindow
from tests.helpers import add_appointment, add_services
from tests.ui.test_list_polish import drag_column_edge, right_click
from tests.ui.test_profile_and_deletion import WHEN_MODAL_GENERATION, click_button, when_modal

LEFT = Qt.MouseButton.LeftButton
FUTURE = dt.date(2031, 3, 13)  # a Thursday, long after any test runs
PAST = dt.date(2024, 5, 16)


@pytest.fixture
def world(db, practice):  # type: ignore[no-untyped-def]
    """A practice in New York with two services, three clients and the six demo users."""
    add_services(db, time_zone="America/New_York")
    p = Practice(db)
    owner = practice["owner"]
    colin = practice["clinician"].user_id  # own clients only
    alma = practice["clinician-all"].user_id
    ids = {
        "ada": p.clients.add_client(owner, first_name="Ada", last_name="Lovelace", date_of_birth="1985-12-10",
                                    clinician_id=colin),
        "grace": p.clients.add_client(owner, first_name="Grace", last_name="Hopper", clinician_id=alma),
        "zoe": p.clients.add_client(owner, first_name="Zoë", last_name="Dvořák", clinician_id=alma),
    }
    p.clients.set_status(owner, ids["grace"], "inactive", reason="discharged")
    return p, practice, ids


def open_page(qtbot, p: Practice, actor, day: dt.date = FUTURE) -> AppointmentsPage:  # type: ignore[no-untyped-def]
    roster = p.roster(actor)
    roster.load()
    page = AppointmentsPage(p, actor, roster)
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    page.activateWindow()  # as the window a person works in is
    qtbot.waitUntil(lambda: QApplication.activeWindow() is page)
    page.show_day(day)
    qtbot.waitUntil(lambda: page.view is not None and page.view.day == day)
    return page


def shown(page: AppointmentsPage, column: int = 1) -> list[str]:
    model = page.model
    return [model.index(r, column).data() for r in range(model.rowCount())]


def day_of(p: Practice, actor, day: dt.date) -> list[AppointmentRow]:  # type: ignore[no-untyped-def]
    return list(p.appointments.day(actor, day).rows)


def pick_client(qtbot, dialog: AppointmentDialog, typed: str) -> None:  # type: ignore[no-untyped-def]
    """Type part of a name, then ↓ and Enter on the first match, as a person does."""
    qtbot.keyClicks(dialog.client_edit, typed)
    popup = dialog.completer.popup()
    qtbot.waitUntil(popup.isVisible)
    qtbot.keyClick(dialog.client_edit, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert dialog.client is not None


def type_time(qtbot, dialog: AppointmentDialog, text: str) -> None:  # type: ignore[no-untyped-def]
    """Tab into the time (its hours selected, as Tab leaves them) and type the digits."""
    edit = dialog.time_edit
    dialog.activateWindow()
    edit.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Tab)


def when_menu(act: Callable[[QMenu], None]) -> None:
    """Run ``act`` on the next menu that pops up (a person reads it, then clicks)."""
    generation = WHEN_MODAL_GENERATION[0]

    def poll() -> None:
        if WHEN_MODAL_GENERATION[0] != generation:
            return
        menu = QApplication.activePopupWidget()
        if isinstance(menu, QMenu) and menu.isVisible():
            QTimer.singleShot(30, lambda: act(menu))
            return
        QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)


def click_action(qtbot, menu: QMenu, name: str) -> None:  # type: ignore[no-untyped-def]
    action = next(a for a in menu.actions() if a.objectName() == name)
    qtbot.mouseClick(menu, LEFT, pos=menu.actionGeometry(action).center())


# ------------------------------------------------------------------ booking and editing


def test_book_from_the_page_by_typing_part_of_a_name_and_picking_the_client(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    page = open_page(qtbot, p, users["owner"])
    assert page.empty.text() == "No appointments on Thursday 13 March 2031."
    asked: list[str] = []

    def book(dialog: AppointmentDialog) -> None:
        assert not dialog.ok_button.isEnabled()  # no client chosen yet
        assert dialog.clinician.currentText() == "Client's clinician"
        pick_client(qtbot, dialog, "lovel")
        asked.append(dialog.client_note.text())
        asked.append(dialog.clinician.currentText())
        type_time(qtbot, dialog, "1430")
        dialog.service.setCurrentIndex(dialog.service.findData("90837"))
        dialog.service.activated.emit(dialog.service.currentIndex())  # as a person's choice does
        assert dialog.minutes.value() == 60 and dialog.fee.text() == "180.00"
        qtbot.mouseClick(dialog.ok_button, LEFT)

    when_modal(AppointmentDialog, book)
    qtbot.mouseClick(page.new_button, LEFT)
    assert "born 1985-12-10" in asked[0] and "Dr. Colin Park" in asked[0]
    assert asked[1] == "Client's clinician (Dr. Colin Park)"
    [booked] = day_of(p, users["owner"], FUTURE)
    assert booked.client_id == ids["ada"] and f"{booked.start:%H:%M}" == "14:30"
    assert booked.service_code == "90837" and booked.minutes == 60 and booked.fee == Decimal("180.00")
    assert booked.clinician_name == "Dr. Colin Park"  # the client's own clinician by default
    qtbot.waitUntil(lambda: shown(page) == ["Ada Lovelace"])
    assert shown(page, 0) == ["14:30 – 15:30"]
    assert page.selected() is not None and page.selected().id == booked.id
    assert page.heading.text() == "Thursday 13 March 2031 · America/New_York"


def test_contacts_are_not_offered_and_a_name_that_matches_nobody_says_so(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, _ids = world
    p.contacts.add_contact(users["owner"], first_name="Byron", last_name="Lovelace")
    roster = p.roster(users["owner"])
    roster.load()
    dialog = AppointmentDialog(p, users["owner"], roster=roster, day=FUTURE)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.client_edit, "lovelace")
    assert [dialog.matches.item(r).text().split("  ·  ")[0] for r in range(dialog.matches.rowCount())] \
        == ["Lovelace, Ada"]
    dialog.client_edit.clear()
    qtbot.keyClicks(dialog.client_edit, "byron")
    assert dialog.matches.rowCount() == 0
    assert dialog.client_note.text() == "No client matches that (contacts cannot be booked)."
    assert not dialog.ok_button.isEnabled()


def test_edit_moves_an_appointment_and_the_page_follows(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    appt = p.appointments.book(owner, ids["ada"], f"{FUTURE} 10:00", service_code="90834")
    page = open_page(qtbot, p, owner)
    page.select_appointment(appt)

    def move(dialog: AppointmentDialog) -> None:
        assert dialog.client_edit.isReadOnly() and dialog.client_edit.text() == "Ada Lovelace"
        type_time(qtbot, dialog, "1115")
        dialog.minutes.setValue(30)
        qtbot.mouseClick(dialog.ok_button, LEFT)

    when_modal(AppointmentDialog, move)
    qtbot.keyClick(page.table, Qt.Key.Key_Return)  # Enter edits the selected appointment
    [moved] = day_of(p, owner, FUTURE)
    assert f"{moved.start:%H:%M}" == "11:15" and moved.minutes == 30 and moved.version == 2
    qtbot.waitUntil(lambda: shown(page, 0) == ["11:15 – 11:45"])


@pytest.mark.parametrize("who, offered, booked_with", [
    ("scheduler", "No clinician: the client has none", ""),  # a scheduler sees no clients
    ("clinician-all", "You (Dr. Alma Reyes): the client has none", "Dr. Alma Reyes"),
])
def test_a_client_without_a_clinician_is_booked_as_the_controller_decides(  # type: ignore[no-untyped-def]
        qtbot, world, who, offered, booked_with):
    """The dialog offers the controller's default (``book``) by name and adds no rule of its own."""
    p, users, _ids = world
    noor = p.clients.add_client(users["owner"], first_name="Noor", last_name="Haddad")
    page = open_page(qtbot, p, users[who])
    seen: list[str] = []
    said_in_full: list[bool] = []

    def book(dialog: AppointmentDialog) -> None:
        pick_client(qtbot, dialog, "hadd")
        seen.append(dialog.clinician.currentText())
        type_time(qtbot, dialog, "1100")
        qtbot.wait(100)  # the form's layout catches up, as it does before anyone reads it
        words = dialog.clinician.fontMetrics().horizontalAdvance(dialog.clinician.currentText())
        said_in_full.append(dialog.clinician.width() > words)  # the box grew with its words
        qtbot.mouseClick(dialog.ok_button, LEFT)
        if dialog.isVisible():  # not booked: the test fails below instead of waiting here
            dialog.reject()

    when_modal(AppointmentDialog, book)
    qtbot.mouseClick(page.new_button, LEFT)
    assert seen == [offered] and said_in_full == [True]
    [booked] = day_of(p, users["owner"], FUTURE)
    assert booked.client_id == noor and booked.clinician_name == booked_with
    qtbot.waitUntil(lambda: shown(page, 2) == [booked_with or "No clinician"])


def test_choosing_a_clinician_overrides_the_clients_own(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    page = open_page(qtbot, p, users["owner"])

    def book(dialog: AppointmentDialog) -> None:
        pick_client(qtbot, dialog, "lovel")
        dialog.clinician.setFocus()
        qtbot.keyClicks(dialog.clinician, "Dr. Alma")  # a closed drop-down chooses what is typed
        assert dialog.clinician.currentText() == "Dr. Alma Reyes"
        qtbot.mouseClick(dialog.ok_button, LEFT)
        if dialog.isVisible():
            dialog.reject()

    when_modal(AppointmentDialog, book)
    qtbot.mouseClick(page.new_button, LEFT)
    [booked] = day_of(p, users["owner"], FUTURE)
    assert booked.client_id == ids["ada"] and booked.clinician_name == "Dr. Alma Reyes"


def test_the_rows_menu_opens_the_clients_profile(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    p.appointments.book(users["owner"], ids["zoe"], f"{FUTURE} 10:00", service_code="90834")
    page = open_page(qtbot, p, users["owner"])
    right_click(qtbot, page.table, page.table.visualRect(page.model.index(0, 1)).center())
    qtbot.waitUntil(lambda: page.row_menu is not None and page.row_menu.isVisible())
    menu = page.row_menu
    assert [a.objectName() for a in menu.actions()] == ["editFromMenu", "openClientProfile", "markFromMenu"]
    with qtbot.waitSignal(page.openClientRequested) as opened:
        click_action(qtbot, menu, "openClientProfile")
    assert opened.args == [ids["zoe"]]


def test_mark_attended_for_a_past_appointment_but_not_for_a_future_one(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    past = p.appointments.book(owner, ids["ada"], f"{PAST} 09:00", service_code="90834")
    p.appointments.book(owner, ids["zoe"], f"{PAST + dt.timedelta(days=1)} 09:00", service_code="90834")
    future = p.appointments.book(owner, ids["zoe"], f"{FUTURE} 09:00", service_code="90834")
    page = open_page(qtbot, p, owner, PAST)
    qtbot.mouseClick(page.table.viewport(), LEFT, pos=page.table.visualRect(page.model.index(0, 1)).center())
    assert page.selected() is not None and page.selected().id == past
    when_menu(lambda menu: click_action(qtbot, menu, "mark-attended"))
    qtbot.mouseClick(page.mark_button, LEFT)
    qtbot.waitUntil(lambda: shown(page, 5) == ["Attended"])
    assert day_of(p, owner, PAST)[0].attendance is Attendance.ATTENDED

    page.show_day(FUTURE)
    qtbot.waitUntil(lambda: shown(page) == ["Zoë Dvořák"])
    page.select_appointment(future)
    enabled: dict[str, bool] = {}

    def look(menu: QMenu) -> None:
        enabled.update({a.objectName(): a.isEnabled() for a in menu.actions()})
        menu.close()

    when_menu(look)
    qtbot.mouseClick(page.mark_button, LEFT)  # the menu opens once the press is handled
    qtbot.waitUntil(lambda: bool(enabled))
    assert enabled["mark-attended"] is False and enabled["mark-no-show"] is False
    assert enabled["mark-cancelled"] is True


def test_marking_an_appointment_someone_else_changed_offers_reload(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    appt = p.appointments.book(owner, ids["ada"], f"{PAST} 09:00", service_code="90834")
    page = open_page(qtbot, p, owner, PAST)
    page.select_appointment(appt)
    p.appointments.set_attendance(users["manager"], appt, "no-show")  # another workstation
    said: list[str] = []

    def reload(box: QMessageBox) -> None:
        said.append(box.text())
        click_button(box, "reload")

    when_modal(QMessageBox, reload)
    when_menu(lambda menu: click_action(qtbot, menu, "mark-cancelled"))
    qtbot.mouseClick(page.mark_button, LEFT)
    qtbot.waitUntil(lambda: bool(said))
    assert said and "Someone else changed this appointment" in said[0]
    assert day_of(p, owner, PAST)[0].attendance is Attendance.NO_SHOW  # theirs, not overwritten
    qtbot.waitUntil(lambda: shown(page, 5) == ["No-show"])


# ------------------------------------------------------------------ the warnings


def book_grace(qtbot, page: AppointmentsPage, answer: Callable[[QMessageBox], None],  # type: ignore[no-untyped-def]
               asked: list[tuple[str, str, list[str]]]) -> None:
    def ask(box: QMessageBox) -> None:
        asked.append((box.text(), box.informativeText(),
                      [b.objectName() for b in box.buttons()]))
        answer(box)

    def book(dialog: AppointmentDialog) -> None:
        pick_client(qtbot, dialog, "hopp")
        when_modal(QMessageBox, ask)
        qtbot.mouseClick(dialog.ok_button, LEFT)
        if dialog.isVisible():
            dialog.reject()

    when_modal(AppointmentDialog, book)
    qtbot.mouseClick(page.new_button, LEFT)


def test_booking_an_inactive_client_offers_to_make_them_active_first(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    page = open_page(qtbot, p, users["owner"])
    asked: list[tuple[str, str, list[str]]] = []
    with qtbot.waitSignal(page.clientChanged) as changed:
        book_grace(qtbot, page, lambda box: click_button(box, "makeActive"), asked)
    text, question, buttons = asked[0]
    assert text.startswith("Grace Hopper is inactive (discharged).")
    assert question == "Make them active first?"
    assert buttons == ["makeActive", "bookAnyway", "cancel"]
    assert changed.args == [ids["grace"]]
    assert p.clients.get_client(users["owner"], ids["grace"]).row.status is ClientStatus.ACTIVE
    assert [a.client_id for a in day_of(p, users["owner"], FUTURE)] == [ids["grace"]]


def test_cancelling_the_inactive_client_question_changes_nothing(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    page = open_page(qtbot, p, users["owner"])
    asked: list[tuple[str, str, list[str]]] = []
    book_grace(qtbot, page, lambda box: click_button(box, "cancel"), asked)
    assert asked
    assert p.clients.get_client(users["owner"], ids["grace"]).row.status is ClientStatus.INACTIVE
    assert day_of(p, users["owner"], FUTURE) == []
    assert page.empty.isVisible()


def test_a_scheduler_books_an_inactive_client_anyway_and_is_told_they_cannot_make_them_active(  # type: ignore[no-untyped-def]
        qtbot, world):
    p, users, ids = world
    scheduler = users["scheduler"]
    assert scheduler.can(Action.MANAGE_APPOINTMENTS, any_client=True)
    assert not scheduler.can(Action.CHANGE_STATUS, any_client=True)
    page = open_page(qtbot, p, scheduler)
    asked: list[tuple[str, str, list[str]]] = []
    book_grace(qtbot, page, lambda box: click_button(box, "bookAnyway"), asked)
    _text, question, buttons = asked[0]
    assert "makeActive" not in buttons and question.startswith("You cannot make Grace Hopper active;")
    assert [a.client_id for a in day_of(p, scheduler, FUTURE)] == [ids["grace"]]
    assert p.clients.get_client(scheduler, ids["grace"]).row.status is ClientStatus.INACTIVE


@pytest.mark.parametrize("answer, booked", [("bookAnyway", 2), ("cancel", 1)])
def test_double_booking_a_clinician_warns_and_books_only_if_told_to(qtbot, world, answer, booked):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    p.appointments.book(owner, ids["zoe"], f"{FUTURE} 09:00", service_code="90837")  # Dr. Alma Reyes
    page = open_page(qtbot, p, owner)
    asked: list[str] = []

    def ask(box: QMessageBox) -> None:
        asked.append(box.text())
        click_button(box, answer)

    def book(dialog: AppointmentDialog) -> None:
        pick_client(qtbot, dialog, "lovel")
        dialog.clinician.setCurrentIndex(dialog.clinician.findText("Dr. Alma Reyes"))
        type_time(qtbot, dialog, "0930")
        when_modal(QMessageBox, ask)
        qtbot.mouseClick(dialog.ok_button, LEFT)
        if dialog.isVisible():
            dialog.reject()

    when_modal(AppointmentDialog, book)
    qtbot.mouseClick(page.new_button, LEFT)
    assert asked == ["Dr. Alma Reyes already has an appointment with Zoë Dvořák from 09:00 to 10:00 that day."]
    assert len(day_of(p, owner, FUTURE)) == booked
    qtbot.waitUntil(lambda: len(shown(page)) == booked)


# ------------------------------------------------------------------ bad input


def test_bad_input_is_said_by_its_field_in_one_sentence_and_nothing_is_saved(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    roster = p.roster(users["owner"])
    roster.load()
    dialog = AppointmentDialog(p, users["owner"], roster=roster, day=dt.date(2031, 3, 9))  # clocks go forward
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    pick_client(qtbot, dialog, "ada")

    dialog.fee.clear()
    qtbot.keyClicks(dialog.fee, "1,50.5x")
    assert dialog.errors["fee"].isVisible()
    assert dialog.errors["fee"].text().startswith("The fee must be an amount from 0 to 100,000")
    assert not dialog.ok_button.isEnabled()
    dialog.fee.clear()
    qtbot.keyClicks(dialog.fee, "95")
    assert not dialog.errors["fee"].isVisible() and dialog.ok_button.isEnabled()

    type_time(qtbot, dialog, "0230")  # skipped that night in New York
    qtbot.mouseClick(dialog.ok_button, LEFT)
    assert dialog.isVisible()
    assert dialog.errors["start"].isVisible()
    said = dialog.errors["start"].text()
    assert said.startswith("2031-03-09 02:30 does not exist in America/New_York")
    assert said.endswith(".") and ". " not in said  # one sentence
    assert dialog.problem.text() == ""

    type_time(qtbot, dialog, "1000")
    assert not dialog.errors["start"].isVisible()
    dialog.date_edit.setDate(QDate(2031, 3, 10))
    dialog.attendance.setCurrentIndex(dialog.attendance.findData(Attendance.ATTENDED))
    qtbot.mouseClick(dialog.ok_button, LEFT)
    assert dialog.isVisible() and dialog.errors["attendance"].isVisible()
    assert "has not begun yet" in dialog.errors["attendance"].text()
    assert p.appointments.for_client(users["owner"], ids["ada"]) == []


def test_without_services_the_dialog_says_where_to_add_them_and_cannot_book(qtbot, db, practice):  # type: ignore[no-untyped-def]
    p = Practice(db)
    dialog = AppointmentDialog(p, practice["scheduler"], roster=p.roster(practice["scheduler"]))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.notice.isVisible()
    assert dialog.notice.text().startswith("The practice lists no services yet. The Account Owner and "
                                           "Practice Manager can add them in Practice settings")
    assert not dialog.ok_button.isEnabled()


def test_escape_cancels_the_dialog_and_books_nothing(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, _ids = world
    page = open_page(qtbot, p, users["owner"])

    def escape(dialog: AppointmentDialog) -> None:
        pick_client(qtbot, dialog, "lovel")
        assert dialog.has_unsaved_changes()
        qtbot.keyClick(dialog.fee, Qt.Key.Key_Escape)

    when_modal(AppointmentDialog, escape)
    qtbot.mouseClick(page.new_button, LEFT)
    assert day_of(p, users["owner"], FUTURE) == []


# ------------------------------------------------------------------ moving about the days


def test_the_page_is_made_without_a_database_read_and_opens_on_the_practices_today(  # type: ignore[no-untyped-def]
        qtbot, db, practice, monkeypatch):
    """Made by the first click on Appointments, the page reads nothing on the spot (the server may
    be far away): it starts from the computer's clock, unnamed, and turns to the practice's today
    once the first day read says the practice's zone, here a day apart from the computer's."""
    now = dt.datetime.now(dt.UTC)
    # 14 hours ahead of UTC (another date from 10:00 UTC on) or 11 behind (another date before 11:00).
    zone = "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Pago_Pago"
    add_services(db, time_zone=zone)
    monkeypatch.setattr("desktop.ui.appointments_page.clock.computer_zone_name", lambda: "UTC")
    p = Practice(db)
    roster = p.roster(practice["owner"])
    roster.load()
    statements: list[str] = []

    def heard(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if threading.current_thread() is threading.main_thread():  # (not the reads it starts)
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", heard)
    try:
        page = AppointmentsPage(p, practice["owner"], roster)
    finally:
        event.remove(db.engine, "before_cursor_execute", heard)
    assert statements == []
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    practice_today = dt.datetime.now(ZoneInfo(zone)).date()
    assert practice_today != now.date()
    qtbot.waitUntil(lambda: page.view is not None and page.view.day == practice_today, timeout=5000)
    assert page.heading.text().endswith(f" · {zone}") and page.date_edit.date().toPython() == practice_today
    qtbot.waitUntil(lambda: page.clinician_filter.count() > 1)  # the clinicians, read meanwhile
    qtbot.mouseClick(page.today_button, LEFT)
    assert page.view.day == practice_today


def test_previous_next_today_and_the_date_picker_move_the_day(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    p.appointments.book(owner, ids["ada"], f"{FUTURE} 09:00", service_code="90834")
    p.appointments.book(owner, ids["zoe"], f"{FUTURE + dt.timedelta(days=1)} 13:00", service_code="90834")
    page = open_page(qtbot, p, owner)
    assert shown(page) == ["Ada Lovelace"]
    qtbot.mouseClick(page.next_button, LEFT)
    assert page.date_edit.date() == QDate(2031, 3, 14)
    assert page.heading.text().startswith("Friday 14 March 2031")
    qtbot.waitUntil(lambda: shown(page) == ["Zoë Dvořák"])
    qtbot.mouseClick(page.previous_button, LEFT)
    qtbot.mouseClick(page.previous_button, LEFT)
    qtbot.waitUntil(lambda: page.empty.text() == "No appointments on Wednesday 12 March 2031.")
    page.date_edit.setFocus()
    page.date_edit.setDate(QDate(2031, 3, 13))  # as the calendar's click sets it
    qtbot.waitUntil(lambda: shown(page) == ["Ada Lovelace"])
    qtbot.keyClick(page.table, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: shown(page) == ["Zoë Dvořák"])
    qtbot.mouseClick(page.today_button, LEFT)
    from zoneinfo import ZoneInfo
    today = dt.datetime.now(ZoneInfo("America/New_York")).date()
    assert page.date_edit.date().toPython() == today
    qtbot.waitUntil(lambda: page.view is not None and page.view.day == today)


def test_the_clinician_filter_shows_one_clinicians_appointments(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    p.appointments.book(owner, ids["ada"], f"{FUTURE} 09:00", service_code="90834")  # Dr. Colin Park
    p.appointments.book(owner, ids["zoe"], f"{FUTURE} 10:00", service_code="90834")  # Dr. Alma Reyes
    page = open_page(qtbot, p, owner)
    assert shown(page, 2) == ["Dr. Colin Park", "Dr. Alma Reyes"]
    # The clinicians are read off the window's thread: a person picks one once the box lists them.
    qtbot.waitUntil(lambda: page.clinician_filter.findText("Dr. Alma Reyes") >= 0)
    page.clinician_filter.setCurrentIndex(page.clinician_filter.findText("Dr. Alma Reyes"))
    qtbot.waitUntil(lambda: shown(page) == ["Zoë Dvořák"])
    page.clinician_filter.setCurrentIndex(page.clinician_filter.findText("Marcus Mendel"))
    qtbot.waitUntil(lambda: page.empty.text() == "No appointments on Thursday 13 March 2031 with Marcus Mendel.")


def test_a_daylight_saving_day_in_new_york_shows_the_right_times(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    autumn = dt.date(2031, 11, 2)  # clocks go back at 02:00
    p.appointments.book(owner, ids["ada"], f"{autumn} 01:30", service_code="90834", minutes=60)
    p.appointments.book(owner, ids["zoe"], f"{autumn} 23:30", service_code="90834")
    p.appointments.book(owner, ids["zoe"], f"{autumn + dt.timedelta(days=1)} 00:00", service_code="90834")
    page = open_page(qtbot, p, owner, autumn)
    # 01:30 is the first of the two (daylight time); an hour later the clocks read 01:30 again.
    assert shown(page, 0) == ["01:30 EDT – 01:30 EST", "23:30 EST – 00:15 EST"]
    assert page.subheading.text() == "2 appointments · the clocks go back an hour: a 25-hour day"
    assert page.table.columnWidth(0) >= 170  # room for both zone abbreviations
    spring = dt.date(2031, 3, 9)
    p.appointments.book(owner, ids["ada"], f"{spring} 01:30", service_code="90834", minutes=60)
    page.show_day(spring)
    qtbot.waitUntil(lambda: shown(page, 0) == ["01:30 EST – 03:30 EDT"])
    assert "a 23-hour day" in page.subheading.text()
    page.show_day(FUTURE)
    qtbot.waitUntil(lambda: page.view is not None and page.view.day == FUTURE)
    assert "hour day" not in page.subheading.text()


def test_the_columns_fill_the_day_and_make_room_for_both_zones_on_a_clock_change_day(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    autumn = dt.date(2031, 11, 2)  # clocks go back at 02:00
    p.appointments.book(owner, ids["ada"], f"{autumn} 01:30", service_code="90834", minutes=60)
    p.appointments.book(owner, ids["zoe"], f"{FUTURE} 09:00", service_code="90834")
    page = open_page(qtbot, p, owner, autumn - dt.timedelta(days=1))  # nothing that day: no table shown
    table, header = page.table, page.table.horizontalHeader()

    def fills() -> bool:
        return sum(header.sectionSize(c) for c in range(header.count())) == table.viewport().width()

    qtbot.mouseClick(page.next_button, LEFT)
    qtbot.waitUntil(lambda: shown(page, 0) == ["01:30 EDT – 01:30 EST"] and table.isVisible())
    qtbot.waitUntil(fills)
    assert header.sectionSize(TIME) >= 170 and not table.horizontalScrollBar().isVisible()

    # Dragging the Client heading's edge wider takes the room from the columns to its right.
    client = header.sectionSize(CLIENT)
    drag_column_edge(qtbot, header, CLIENT, 60)
    assert header.sectionSize(CLIENT) == client + 60 and fills()
    page.resize(1000, 700)
    qtbot.waitUntil(lambda: table.viewport().width() < 1000 and fills())
    assert header.sectionSize(CLIENT) > header.sectionSize(TIME)

    # An ordinary day gives the time column back its usual room.
    page.date_edit.setDate(QDate(FUTURE.year, FUTURE.month, FUTURE.day))
    qtbot.waitUntil(lambda: shown(page, 0) == ["09:00 – 09:45"])
    qtbot.waitUntil(fills)
    assert MINIMUMS[TIME] <= header.sectionSize(TIME) < 170


SECOND_HALF_PAST_ONE = dt.datetime(2024, 11, 3, 6, 30)  # UTC: 01:30 EST, after the clocks went back at 02:00 EDT


def edit_fee_of_second_half_past_one(qtbot, world, monkeypatch) -> tuple[int, list[object]]:  # type: ignore[no-untyped-def]
    """An appointment at the second 01:30 of 2024-11-03 in New York, opened from the page, its fee
    retyped and saved (the date and time untouched); its id, and the starts the dialog sent."""
    p, users, ids = world
    owner = users["owner"]
    appt = add_appointment(p.db, ids["ada"], SECOND_HALF_PAST_ONE, fee="140.00",
                           clinician_id=users["clinician"].user_id)
    sent: list[object] = []
    edit = p.appointments.edit

    def recording_edit(*args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(kwargs["start"])
        return edit(*args, **kwargs)

    monkeypatch.setattr(p.appointments, "edit", recording_edit)
    page = open_page(qtbot, p, owner, SECOND_HALF_PAST_ONE.date())
    assert shown(page, 0) == ["01:30 EST – 02:20 EST"]
    page.select_appointment(appt)
    shown_times: list[str] = []

    def retype_fee(dialog: AppointmentDialog) -> None:
        shown_times.append(dialog.start_text())
        dialog.fee.setFocus()
        dialog.fee.selectAll()
        qtbot.keyClicks(dialog.fee, "165.00")
        qtbot.mouseClick(dialog.ok_button, LEFT)
        if dialog.isVisible():
            dialog.reject()

    when_modal(AppointmentDialog, retype_fee)
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    assert shown_times == ["2024-11-03 01:30"]
    return appt, sent


def test_the_dialog_says_which_of_the_two_repeated_times_an_appointment_is(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    appt = add_appointment(p.db, ids["ada"], SECOND_HALF_PAST_ONE, fee="140.00")
    page = open_page(qtbot, p, owner, SECOND_HALF_PAST_ONE.date())
    page.select_appointment(appt)
    notes: list[str] = []

    def read_and_move(dialog: AppointmentDialog) -> None:
        notes.append(dialog.zone_note.text())
        dialog.time_edit.setTime(QTime(11, 0))  # later that day: one 11:00 only
        notes.append(dialog.zone_note.text())
        dialog.reject()

    when_modal(AppointmentDialog, read_and_move)
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    assert notes == ["EST — the second of the two, after the clocks went back", "EST"]

    def book_half_past_one(dialog: AppointmentDialog) -> None:
        dialog.time_edit.setFocus()
        dialog.time_edit.setTime(QTime(1, 30))  # typed: the first 01:30
        notes.append(dialog.zone_note.text())
        dialog.reject()

    when_modal(AppointmentDialog, book_half_past_one)
    qtbot.mouseClick(page.new_button, LEFT)
    assert notes[-1] == "EDT — the first of the two, before the clocks go back"


def test_saving_the_fee_of_an_appointment_in_the_repeated_hour_sends_its_own_start(  # type: ignore[no-untyped-def]
        qtbot, world, monkeypatch):
    """Date and time untouched: the dialog sends the appointment's moment, not "01:30" rebuilt."""
    _appt, sent = edit_fee_of_second_half_past_one(qtbot, world, monkeypatch)
    [start] = sent
    assert isinstance(start, dt.datetime) and start.tzinfo is not None
    assert start.astimezone(dt.UTC).replace(tzinfo=None) == SECOND_HALF_PAST_ONE
    assert start.tzname() == "EST"  # the second 01:30


def test_saving_the_fee_of_an_appointment_in_the_repeated_hour_keeps_its_stored_start(  # type: ignore[no-untyped-def]
        qtbot, world, monkeypatch):
    appt, _sent = edit_fee_of_second_half_past_one(qtbot, world, monkeypatch)
    p = world[0]
    with p.db.reading() as s:
        stored = s.get(Appointment, appt)
        assert stored is not None and stored.fee == Decimal("165.00")  # it was saved
        assert stored.start == SECOND_HALF_PAST_ONE


# ------------------------------------------------------------------ who sees what


def test_an_own_clients_clinician_sees_and_books_only_their_clients(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner, colin = users["owner"], users["clinician"]
    p.appointments.book(owner, ids["ada"], f"{FUTURE} 09:00", service_code="90834")
    p.appointments.book(owner, ids["zoe"], f"{FUTURE} 10:00", service_code="90834")
    page = open_page(qtbot, p, colin)
    assert shown(page) == ["Ada Lovelace"]
    assert "only your clients' appointments are shown" in page.subheading.text()
    offered: list[int] = []

    def look(dialog: AppointmentDialog) -> None:
        for typed in ("lovel", "dvo", "hopp"):
            dialog.client_edit.clear()
            qtbot.keyClicks(dialog.client_edit, typed)
            offered.append(dialog.matches.rowCount())
        dialog.reject()

    when_modal(AppointmentDialog, look)
    qtbot.mouseClick(page.new_button, LEFT)
    assert offered == [1, 0, 0]


def test_a_biller_is_offered_no_appointments_anywhere(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    biller = users["biller"]
    p.appointments.book(users["owner"], ids["ada"], f"{FUTURE} 09:00", service_code="90834")
    assert not biller.can(Action.MANAGE_APPOINTMENTS, any_client=True)
    roster = p.roster(biller)
    page = AppointmentsPage(p, biller, roster)
    qtbot.addWidget(page)
    page.show()
    page.show_day(FUTURE)
    assert page.empty.text() == "Your role does not book or change appointments."
    assert not page.new_button.isVisible() and not page.edit_button.isVisible()
    assert page.model.rowCount() == 0
    profile = ProfileWindow(p, biller, ids["ada"])
    qtbot.addWidget(profile)
    profile.show()
    profile.tabs.setCurrentWidget(profile.appointments_page)
    assert profile.appointments_table.rowCount() == 1  # they see the appointment…
    assert not profile.new_appointment_button.isVisible()  # …but cannot book or change one
    assert not profile.edit_appointment_button.isVisible()


# ------------------------------------------------------------------ reading a slow day


def test_a_slow_day_is_read_off_the_gui_thread_and_the_next_day_is_read_ahead(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    p.appointments.book(owner, ids["ada"], f"{FUTURE} 09:00", service_code="90834")
    p.appointments.book(owner, ids["zoe"], f"{FUTURE + dt.timedelta(days=1)} 13:00", service_code="90834")
    page = open_page(qtbot, p, owner)
    page.sync_read_limit = -1.0  # every read counts as slow, as in a practice of millions
    page.first_rows_limit = -1.0  # even a day's first rows, as from a server far away
    page.show_day(FUTURE - dt.timedelta(days=1))
    assert page.subheading.text() == "Reading the appointments…"
    assert not page.table.isEnabled()
    qtbot.waitUntil(lambda: page.empty.text() == "No appointments on Wednesday 12 March 2031.")
    qtbot.waitUntil(lambda: read_ahead(page, FUTURE))  # the day after
    qtbot.mouseClick(page.next_button, LEFT)
    assert shown(page) == ["Ada Lovelace"]  # at once: no wait for a read
    # A change elsewhere: every day read ahead is forgotten and the shown day read again.
    p.appointments.book(owner, ids["zoe"], f"{FUTURE} 15:00", service_code="90834")
    page.reload()
    assert shown(page) == ["Ada Lovelace"]  # the old rows stay until the new ones arrive
    qtbot.waitUntil(lambda: shown(page) == ["Ada Lovelace", "Zoë Dvořák"])


def test_a_busy_day_shows_its_first_rows_at_once_and_the_rest_when_read(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    busy = FIRST_ROWS + 10
    for i in range(busy):
        minute = 7 * 60 + 5 * i
        p.appointments.book(owner, ids["ada" if i % 2 else "zoe"], f"{FUTURE} {minute // 60:02d}:{minute % 60:02d}",
                            service_code="90834")
    page = open_page(qtbot, p, owner, FUTURE - dt.timedelta(days=1))
    page.sync_read_limit = -1.0  # the whole day counts as slow to read, as in a practice of millions
    page.first_rows_limit = float("inf")  # its first rows quick, however busy this machine is meanwhile
    counts: list[str] = []
    page.countsChanged.connect(counts.append)  # what the status bar says
    qtbot.mouseClick(page.next_button, LEFT)
    # Before the worker could answer: the first screenful, usable, and word that more is coming.
    assert page.model.rowCount() == FIRST_ROWS
    assert shown(page, 0)[:2] == ["07:00 – 07:45", "07:05 – 07:50"]
    assert page.table.isEnabled()
    assert page.subheading.text() == "Reading the rest of the day's appointments…"
    assert counts == ["Reading the appointments of Thursday 13 March 2031…"]
    third = page.table.visualRect(page.model.index(2, 1)).center()
    qtbot.mouseClick(page.table.viewport(), LEFT, pos=third)
    picked = page.selected()
    assert picked is not None and picked.start.strftime("%H:%M") == "07:10"
    qtbot.waitUntil(lambda: page.model.rowCount() == busy)
    assert page.subheading.text().startswith(f"{busy} appointments")
    assert counts[-1] == f"{busy} appointments on Thursday 13 March 2031"
    still = page.selected()
    assert still is not None and still.id == picked.id  # the row picked meanwhile stays picked


def test_a_quiet_day_that_comes_whole_with_its_first_rows_is_read_once(qtbot, world, monkeypatch):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    p.appointments.book(owner, ids["zoe"], f"{FUTURE + dt.timedelta(days=1)} 13:00", service_code="90834")
    page = open_page(qtbot, p, owner)
    page.sync_read_limit = -1.0  # the last whole day was slow to read
    page.first_rows_limit = float("inf")  # and first rows quick, however this machine read the first day
    asked: list[tuple[dt.date, int | None]] = []
    day = p.appointments.day

    def recording_day(actor, when, clinician_id=None, *, first=None):  # type: ignore[no-untyped-def]
        asked.append((when, first))
        return day(actor, when, clinician_id, first=first)

    monkeypatch.setattr(p.appointments, "day", recording_day)
    qtbot.mouseClick(page.next_button, LEFT)
    assert shown(page) == ["Zoë Dvořák"] and page.subheading.text().startswith("1 appointment")
    wait_for_background_jobs()
    qtbot.wait(300)  # the read-ahead of the days either side, after the repaint
    wait_for_background_jobs()
    tomorrow = FUTURE + dt.timedelta(days=1)
    assert [a for a in asked if a[0] == tomorrow] == [(tomorrow, FIRST_ROWS)]  # once, not again whole


def test_a_picked_appointment_stays_picked_when_a_booking_earlier_in_the_day_moves_it_down(  # type: ignore[no-untyped-def]
        qtbot, world):
    p, users, ids = world
    owner = users["owner"]
    for hour in (10, 11, 12):
        p.appointments.book(owner, ids["ada" if hour % 2 else "zoe"], f"{FUTURE} {hour}:00", service_code="90834")
    page = open_page(qtbot, p, owner)
    eleven = page.table.visualRect(page.model.index(1, CLIENT)).center()
    qtbot.mouseClick(page.table.viewport(), LEFT, pos=eleven)
    picked = page.selected()
    assert picked is not None and picked.start.hour == 11
    # Booked on another workstation, before it in the day; the page is read again.
    p.appointments.book(owner, ids["zoe"], f"{FUTURE} 09:00", service_code="90834")
    page.reload()
    qtbot.waitUntil(lambda: page.model.rowCount() == 4)
    still = page.selected()
    assert still is not None and still.id == picked.id
    assert page.table.selectionModel().selectedRows()[0].row() == 2
    assert page.table.currentIndex().row() == 2


def test_the_busy_days_a_page_forgets_are_freed_off_the_windows_thread(qtbot, world, monkeypatch):  # type: ignore[no-untyped-def]
    """Fifty thousand rows freed at once hold the interpreter for 20 ms, whichever thread frees
    them: the days the page forgets (all of them when it reads again after a change) and the
    rows it stops showing are handed to a thread that frees them a slice at a time."""
    p, users, ids = world
    owner = users["owner"]
    p.appointments.book(owner, ids["ada"], f"{FUTURE} 09:00", service_code="90834")
    p.appointments.book(owner, ids["zoe"], f"{FUTURE + dt.timedelta(days=1)} 09:00", service_code="90834")
    real_day = p.appointments.day
    freed_on: list[str] = []

    class Watched(AppointmentRow):
        def __del__(self) -> None:
            freed_on.append(threading.current_thread().name)

    def busy_day(actor, when, clinician_id=None, *, first=None):  # type: ignore[no-untyped-def]
        view = real_day(actor, when, clinician_id, first=first)
        if not view.rows:
            return view
        values = [getattr(view.rows[0], f.name) for f in dataclasses.fields(view.rows[0])]
        return DayView(view.day, view.zone_name, tuple(Watched(*[i, *values[1:]]) for i in range(1, 5_001)))

    monkeypatch.setattr(p.appointments, "day", busy_day)
    roster = p.roster(owner)
    roster.load()
    page = AppointmentsPage(p, owner, roster)
    qtbot.addWidget(page)
    page.sync_read_limit = -1.0  # every read counts as slow, as in a practice of millions:
    page.first_rows_limit = -1.0  # read whole off the window's thread, the next day read ahead
    page.show()
    page.show_day(FUTURE)
    qtbot.waitUntil(lambda: page.model.rowCount() == 5_000 and page.view.day == FUTURE)
    qtbot.waitUntil(lambda: read_ahead(page, FUTURE + dt.timedelta(days=1)))  # busy too, kept, not shown
    monkeypatch.setattr(p.appointments, "day", real_day)
    page.reload()  # after a change: every day read is forgotten, the shown one read again
    qtbot.waitUntil(lambda: shown(page) == ["Ada Lovelace"])
    qtbot.waitUntil(lambda: len(freed_on) == 10_000)
    assert set(freed_on) == {"caseload-free"}


def read_ahead(page: AppointmentsPage, day: dt.date) -> bool:
    return any(key.day == day for key in page._cache)


# ------------------------------------------------------------------ the profile


def test_the_profile_books_and_edits_its_clients_appointments(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, ids = world
    owner = users["owner"]
    version = p.clients.get_client(owner, ids["ada"]).row.version
    p.clients.edit_client(owner, ids["ada"], version, diagnosis_codes="F41.1, F32.0")
    p.appointments.book(owner, ids["ada"], f"{PAST} 09:00", service_code="90834", attendance="no-show")
    profile = ProfileWindow(p, owner, ids["ada"])
    qtbot.addWidget(profile)
    profile.show()
    assert profile.findChild(type(profile.name), "diagnosis_codes").text() == "F41.1, F32.0"
    profile.tabs.setCurrentWidget(profile.appointments_page)
    table = profile.appointments_table
    assert [table.item(0, c).text() for c in (0, 4, 5)] == [f"{PAST} 09:00", "No-show", "Dr. Colin Park"]

    def book(dialog: AppointmentDialog) -> None:
        assert dialog.client_edit.isReadOnly() and dialog.client_edit.text() == "Ada Lovelace"
        dialog.date_edit.setDate(QDate(FUTURE.year, FUTURE.month, FUTURE.day))
        type_time(qtbot, dialog, "1600")
        qtbot.mouseClick(dialog.ok_button, LEFT)

    when_modal(AppointmentDialog, book)
    qtbot.mouseClick(profile.new_appointment_button, LEFT)
    qtbot.waitUntil(lambda: profile.appointments_table.rowCount() == 2)
    table = profile.appointments_table
    assert table.item(0, 0).text() == f"{FUTURE} 16:00" and table.item(0, 4).text() == "Scheduled"
    assert profile.tabs.currentWidget() is profile.appointments_page

    table.selectRow(1)

    def attend(dialog: AppointmentDialog) -> None:
        dialog.attendance.setCurrentIndex(dialog.attendance.findData(Attendance.ATTENDED))
        qtbot.mouseClick(dialog.ok_button, LEFT)

    when_modal(AppointmentDialog, attend)
    qtbot.mouseClick(profile.edit_appointment_button, LEFT)
    qtbot.waitUntil(lambda: profile.appointments_table.item(1, 4).text() == "Attended")
    rows = p.appointments.for_client(owner, ids["ada"])
    assert [r.attendance for r in rows] == [Attendance.ATTENDED, Attendance.SCHEDULED]


def test_a_person_deactivated_meanwhile_is_told_when_the_page_reads_next(qtbot, world):  # type: ignore[no-untyped-def]
    p, users, _ids = world
    page = open_page(qtbot, p, users["scheduler"])
    p.users.deactivate(users["owner"], "scheduler")
    with qtbot.waitSignal(page.sessionEnded) as ended:
        qtbot.mouseClick(page.next_button, LEFT)
    assert ended.args[0].endswith(".")
    assert page.empty.isVisible() and page.model.rowCount() == 0  # nothing more is shown
