"""Booking and changing appointments, as the front desk and the clinicians do it.

docs/rules.md, "Appointments": a booking takes its minutes and fee from the
service unless given; its clinician is the client's unless chosen. Times are
typed and shown on the practice's clock (New York here) and stored in UTC; a
time the clocks skip is refused in one sentence, a time that happens twice
means the first. Booking an inactive client or a clinician who is already busy
warns and never blocks. Attended and No-show wait until the appointment has
begun; an appointment on a billing document can no longer be changed. Every
refusal changes nothing and leaves one DENIED audit row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from desktop.controllers.appointments import AppointmentRow, AppointmentsController
from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import InvalidInput, NotFound, PermissionDenied, StaleVersion
from desktop.controllers.permissions import Actor
from desktop.controllers.users import UsersController
from desktop.domain import clock
from desktop.domain.models import (
    Appointment,
    Attendance,
    BillingDocument,
    BillingItem,
    Client,
    ClientStatus,
    DocumentKind,
    PracticeSettings,
    PracticeUser,
    Service,
)
from desktop.domain.search import display_name
from desktop.storage.database import Database
from tests.controllers.support import (
    NEW_YORK,
    audit_rows,
    last_audit_id,
    refused_and_unchanged,
    stored_appointment,
    utc,
)
from tests.helpers import add_appointment, add_services

FUTURE = "2031-05-06 10:00"  # long after any run of these tests


@pytest.fixture
def world(db: Database, practice: dict[str, Actor]) -> dict[str, Any]:
    """A New York practice with its services; Ines is the own-clients clinician's client,
    Tobias the entire-practice clinician's, Una nobody's."""
    add_services(db, time_zone=NEW_YORK)
    owner = practice["owner"]
    clients = ClientsController(db)
    return {
        **practice,
        "ines": clients.add_client(owner, first_name="Ines", last_name="Harrow", clinician_id="clinician"),
        "tobias": clients.add_client(owner, first_name="Tobias", last_name="Wren", clinician_id="clinician-all"),
        "una": clients.add_client(owner, first_name="Una", last_name="Field"),
    }


def appointments(db: Database) -> AppointmentsController:
    return AppointmentsController(db)


def one_sentence(text: str) -> bool:
    """A single sentence a person can read: one line, ending in a full stop, no second sentence."""
    return "\n" not in text and text.endswith(".") and not re.search(r"[.!?;]\s+[A-Z]", text[:-1])


# ------------------------------------------------------------------ booking


def test_a_booking_takes_minutes_and_fee_from_the_service_and_the_clients_clinician(
        db: Database, world: dict[str, Any]) -> None:
    mark = last_audit_id(db)
    booked = appointments(db).book(world["scheduler"], world["ines"], "2026-07-01 14:30", service_code="90837")

    appt = stored_appointment(db, booked)
    assert (appt.client_id, appt.duration_minutes, appt.fee, appt.service_code) == (
        world["ines"], 60, Decimal("180.00"), "90837")
    assert appt.clinician_id == world["clinician"].user_id
    assert appt.attendance is Attendance.SCHEDULED
    assert appt.start == dt.datetime(2026, 7, 1, 18, 30)  # 14:30 in New York in summer is 18:30 UTC
    assert not (appt.superbill_owed or appt.statement_owed or appt.manual_billing_only)
    [event] = audit_rows(db, mark)
    assert (event.actor_username, event.action, event.target_kind, event.target_id) == (
        "scheduler", "appointment.book", "client", world["ines"])
    assert event.details == {"appointment_id": booked, "warnings": []}


def test_the_edit_dialog_sees_the_time_on_the_practices_clock(db: Database, world: dict[str, Any]) -> None:
    booked = appointments(db).book(world["owner"], world["tobias"], "2026-01-15 09:00", service_code="90834")

    row = appointments(db).find(world["owner"], booked)

    assert row.start == dt.datetime(2026, 1, 15, 9, 0, tzinfo=row.start.tzinfo)
    assert row.start.utcoffset() == dt.timedelta(hours=-5)
    assert (row.client_name, row.clinician_name, row.service_description, row.minutes) == (
        "Tobias Wren", "Dr. Alma Reyes", "Psychotherapy, 45 minutes", 45)
    assert row.end == row.start + dt.timedelta(minutes=45)
    assert row.as_json()["start"] == "2026-01-15T09:00-05:00"


def test_minutes_fee_and_clinician_given_override_the_defaults(db: Database, world: dict[str, Any]) -> None:
    booked = appointments(db).book(world["owner"], world["ines"], "2026-07-01 14:30", minutes="25",
                                   service_code="90834", fee="$1,200.50", clinician_id="clinician-all")

    appt = stored_appointment(db, booked)
    assert (appt.duration_minutes, appt.fee, appt.clinician_id) == (
        25, Decimal("1200.50"), world["clinician-all"].user_id)


def test_a_start_given_as_a_datetime_is_read_on_the_practices_clock_unless_it_names_its_zone(
        db: Database, world: dict[str, Any]) -> None:
    book = appointments(db).book
    naive = book(world["owner"], world["ines"], dt.datetime(2026, 7, 1, 14, 30), service_code="90834")
    aware = book(world["owner"], world["ines"], dt.datetime(2026, 7, 1, 14, 30, tzinfo=dt.UTC),
                 service_code="90834")

    assert stored_appointment(db, naive).start == dt.datetime(2026, 7, 1, 18, 30)
    assert stored_appointment(db, aware).start == dt.datetime(2026, 7, 1, 14, 30)


def test_a_client_without_a_clinician_is_booked_with_the_clinician_who_books(
        db: Database, world: dict[str, Any]) -> None:
    by_clinician = appointments(db).book(world["clinician-all"], world["una"], "2026-07-01 09:00",
                                         service_code="90834")
    by_scheduler = appointments(db).book(world["scheduler"], world["una"], "2026-07-02 09:00",
                                         service_code="90834")

    assert stored_appointment(db, by_clinician).clinician_id == world["clinician-all"].user_id
    assert stored_appointment(db, by_scheduler).clinician_id is None  # a scheduler sees no clients


def test_an_attended_booking_in_the_past_is_owed_to_billing(db: Database, world: dict[str, Any]) -> None:
    booked = appointments(db).book(world["owner"], world["ines"], "2026-03-10 10:00", service_code="90834",
                                   attendance="Attended")
    appt = stored_appointment(db, booked)
    assert (appt.attendance, appt.superbill_owed, appt.statement_owed) == (Attendance.ATTENDED, True, True)


# ------------------------------------------------------------------ warnings


def test_booking_an_inactive_client_warns_but_is_not_blocked(db: Database, world: dict[str, Any]) -> None:
    owner = world["owner"]
    ClientsController(db).set_status(owner, world["ines"], "inactive", reason="moved")

    [warning] = appointments(db).warnings(owner, world["ines"], FUTURE, 45)
    assert warning.kind == "inactive_client"
    assert "Ines Harrow is inactive" in warning.text and one_sentence(warning.text.split(". ")[0] + ".")
    mark = last_audit_id(db)
    booked = appointments(db).book(owner, world["ines"], FUTURE, service_code="90834")

    assert stored_appointment(db, booked).client_id == world["ines"]
    [event] = audit_rows(db, mark)
    assert event.details["warnings"] == ["inactive_client"]


def test_a_double_booked_clinician_is_warned_about_and_not_blocked(db: Database, world: dict[str, Any]) -> None:
    owner, book, check = world["owner"], appointments(db).book, appointments(db).warnings
    book(owner, world["ines"], "2031-05-06 10:00", service_code="90834")  # with Dr. Colin Park, 10:00-10:45

    [clash] = check(owner, world["una"], "2031-05-06 10:30", 45, clinician_id="clinician")
    assert clash.kind == "double_booked"
    assert "Dr. Colin Park" in clash.text and "Ines Harrow" in clash.text and "10:00" in clash.text
    assert check(owner, world["una"], "2031-05-06 10:45", 45, clinician_id="clinician") == []
    assert check(owner, world["una"], "2031-05-06 09:15", 45, clinician_id="clinician") == []
    assert check(owner, world["una"], "2031-05-06 10:30", 45, clinician_id="clinician-all") == []
    # Ines's own clinician is Dr. Park: a second booking of hers at 10:30 clashes by default.
    assert [w.kind for w in check(owner, world["ines"], "2031-05-06 10:30", 45)] == ["double_booked"]

    mark = last_audit_id(db)
    second = book(owner, world["una"], "2031-05-06 10:30", service_code="90834", clinician_id="clinician")
    assert stored_appointment(db, second).clinician_id == world["clinician"].user_id
    assert audit_rows(db, mark)[0].details["warnings"] == ["double_booked"]


def test_the_warning_checks_the_clinician_the_booking_would_get(db: Database, world: dict[str, Any]) -> None:
    """Una has no clinician: a clinician booking her books themselves, so their own
    calendar is what may clash."""
    alma = world["clinician-all"]
    appointments(db).book(alma, world["tobias"], "2031-05-06 10:00", service_code="90834")

    assert [w.kind for w in appointments(db).warnings(alma, world["una"], "2031-05-06 10:15", "45")] == [
        "double_booked"]
    assert [w.kind for w in appointments(db).warnings(alma, world["una"], "2031-05-06 10:15", 45,
                                                      clinician_id="")] == ["double_booked"]
    assert appointments(db).warnings(world["scheduler"], world["una"], "2031-05-06 10:15", 45) == []


def test_moving_an_appointment_does_not_warn_about_itself(db: Database, world: dict[str, Any]) -> None:
    booked = appointments(db).book(world["owner"], world["ines"], "2031-05-06 10:00", service_code="90834")
    assert appointments(db).warnings(world["owner"], world["ines"], "2031-05-06 10:15", 45,
                                     appointment_id=booked) == []


@pytest.mark.parametrize("state", ["cancelled", "late-cancel"])
def test_a_cancelled_slot_does_not_count_as_busy(db: Database, world: dict[str, Any], state: str) -> None:
    owner = world["owner"]
    booked = appointments(db).book(owner, world["ines"], "2031-05-06 10:00", service_code="90834")
    appointments(db).set_attendance(owner, booked, state)

    assert appointments(db).warnings(owner, world["una"], "2031-05-06 10:00", 45, clinician_id="clinician") == []


# ------------------------------------------------------------------ attendance and editing


@pytest.mark.parametrize("state", ["attended", "no-show"])
def test_attended_and_no_show_wait_until_the_appointment_has_begun(
        db: Database, world: dict[str, Any], state: str) -> None:
    owner = world["owner"]
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.book") as refused:
        appointments(db).book(owner, world["ines"], FUTURE, service_code="90834", attendance=state)
    assert refused.value.field == "attendance" and one_sentence(str(refused.value))
    booked = appointments(db).book(owner, world["ines"], FUTURE, service_code="90834")
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.attendance"):
        appointments(db).set_attendance(owner, booked, state)
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.edit"):
        appointments(db).edit(owner, booked, 1, start=FUTURE, minutes=45, service_code="90834", fee="140",
                              clinician_id="clinician", attendance=state)
    # Late cancel and Cancelled can be said in advance.
    assert appointments(db).set_attendance(owner, booked, "late-cancel") == 2


def test_marking_attendance_returns_the_new_version_and_is_audited(db: Database, world: dict[str, Any]) -> None:
    booked = appointments(db).book(world["scheduler"], world["ines"], "2026-03-10 10:00", service_code="90834")
    mark = last_audit_id(db)

    version = appointments(db).set_attendance(world["scheduler"], booked, Attendance.ATTENDED, expected_version=1)

    appt = stored_appointment(db, booked)
    assert (version, appt.version, appt.attendance, appt.superbill_owed) == (2, 2, Attendance.ATTENDED, True)
    [event] = audit_rows(db, mark)
    assert (event.action, event.target_id, event.details) == (
        "appointment.attendance", world["ines"], {"appointment_id": booked, "attendance": "attended"})
    assert appointments(db).set_attendance(world["scheduler"], booked, "attended") == 2  # no change, no new version
    appointments(db).set_attendance(world["scheduler"], booked, "no-show")
    assert not stored_appointment(db, booked).superbill_owed


def test_an_edit_saves_what_changed_and_an_edit_from_an_older_version_is_refused(
        db: Database, world: dict[str, Any]) -> None:
    owner, scheduler = world["owner"], world["scheduler"]
    booked = appointments(db).book(owner, world["ines"], "2026-07-01 14:30", service_code="90834")
    mark = last_audit_id(db)

    appointments(db).edit(scheduler, booked, 1, start="2026-07-02 09:15", minutes=60, service_code="90837",
                          fee="175", clinician_id="clinician", attendance="scheduled")

    appt = stored_appointment(db, booked)
    assert (appt.start, appt.duration_minutes, appt.service_code, appt.fee, appt.version) == (
        dt.datetime(2026, 7, 2, 13, 15), 60, "90837", Decimal("175.00"), 2)
    [event] = audit_rows(db, mark)
    assert event.details == {"appointment_id": booked,
                             "fields": ["duration_minutes", "fee", "service_code", "start"]}
    with refused_and_unchanged(db, "owner", StaleVersion, "appointment.edit"):
        appointments(db).edit(owner, booked, 1, start="2026-07-03 09:15", minutes=60, service_code="90837",
                              fee="175", clinician_id="clinician", attendance="scheduled")
    with refused_and_unchanged(db, "owner", StaleVersion, "appointment.attendance"):
        appointments(db).set_attendance(owner, booked, "cancelled", expected_version=1)


def test_an_appointment_keeps_a_clinician_who_has_left_and_cannot_be_given_one(
        db: Database, world: dict[str, Any]) -> None:
    owner = world["owner"]
    booked = appointments(db).book(owner, world["ines"], "2026-07-01 14:30", service_code="90834")
    UsersController(db).deactivate(owner, "clinician")

    appointments(db).edit(owner, booked, 1, start="2026-07-01 14:30", minutes=45, service_code="90834",
                          fee="120", clinician_id="clinician", attendance="scheduled")

    appt = stored_appointment(db, booked)
    assert (appt.fee, appt.clinician_id) == (Decimal("120.00"), world["clinician"].user_id)
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.book") as refused:
        appointments(db).book(owner, world["ines"], "2026-07-02 14:30", service_code="90834",
                              clinician_id="clinician")
    assert refused.value.field == "clinician_id"
    # Booked without choosing, Ines's next appointment is with someone who still sees clients.
    by_owner = appointments(db).book(owner, world["ines"], "2026-07-02 14:30", service_code="90834")
    by_scheduler = appointments(db).book(world["scheduler"], world["ines"], "2026-07-03 14:30",
                                         service_code="90834")
    assert stored_appointment(db, by_owner).clinician_id == owner.user_id
    assert stored_appointment(db, by_scheduler).clinician_id is None


def test_a_billed_appointment_can_no_longer_be_changed(db: Database, world: dict[str, Any]) -> None:
    owner = world["owner"]
    booked = appointments(db).book(owner, world["ines"], "2026-03-10 10:00", service_code="90834",
                                   attendance="attended")
    BillingController(db).run_billing(owner)
    row = appointments(db).find(owner, booked)
    assert row.billed

    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.attendance") as refused:
        appointments(db).set_attendance(owner, booked, "no-show", expected_version=row.version)
    assert "billing document" in str(refused.value) and one_sentence(str(refused.value))
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.edit"):
        appointments(db).edit(owner, booked, row.version, start="2026-03-10 10:00", minutes=45,
                              service_code="90834", fee="99", clinician_id="clinician", attendance="attended")


# ------------------------------------------------------------------ who may


def test_an_own_clients_clinician_books_and_sees_only_their_clients(db: Database, world: dict[str, Any]) -> None:
    owner, mine = world["owner"], world["clinician"]
    theirs = appointments(db).book(owner, world["tobias"], "2026-07-01 09:00", service_code="90834")
    booked = appointments(db).book(mine, world["ines"], "2026-07-01 11:00", service_code="90834")

    with refused_and_unchanged(db, "clinician", PermissionDenied, "appointment.book"):
        appointments(db).book(mine, world["tobias"], "2026-07-01 13:00", service_code="90834")
    with refused_and_unchanged(db, "clinician", PermissionDenied, "appointment.edit"):
        appointments(db).edit(mine, theirs, 1, start="2026-07-01 10:00", minutes=45, service_code="90834",
                              fee="140", clinician_id="clinician-all", attendance="scheduled")
    with refused_and_unchanged(db, "clinician", PermissionDenied, "appointment.attendance"):
        appointments(db).set_attendance(mine, theirs, "cancelled")
    with refused_and_unchanged(db, "clinician", NotFound, "appointments.find"):
        appointments(db).find(mine, theirs)
    with refused_and_unchanged(db, "clinician", PermissionDenied, "appointments.check"):
        appointments(db).warnings(mine, world["tobias"], "2026-07-01 13:00", 45)

    assert [r.id for r in appointments(db).day(mine, dt.date(2026, 7, 1)).rows] == [booked]
    assert [r.id for r in appointments(db).listing(mine)] == [booked]
    assert [r.id for r in appointments(db).day(owner, dt.date(2026, 7, 1)).rows] == [theirs, booked]


def test_the_scheduler_books_for_every_client(db: Database, world: dict[str, Any]) -> None:
    scheduler = world["scheduler"]
    booked = [appointments(db).book(scheduler, world[name], "2026-07-01 09:00", service_code="90834")
              for name in ("ines", "tobias", "una")]
    appointments(db).set_attendance(scheduler, booked[0], "cancelled")

    assert [r.id for r in appointments(db).day(scheduler, dt.date(2026, 7, 1)).rows] == booked
    assert {c.username for c in appointments(db).clinicians(scheduler)} == {
        "owner", "manager", "clinician-all", "clinician"}


def test_a_biller_cannot_book_or_open_the_appointments_page(db: Database, world: dict[str, Any]) -> None:
    biller = world["biller"]
    with refused_and_unchanged(db, "biller", PermissionDenied, "appointment.book"):
        appointments(db).book(biller, world["ines"], "2026-07-01 09:00", service_code="90834")
    with refused_and_unchanged(db, "biller", PermissionDenied, "appointments.day"):
        appointments(db).day(biller, dt.date(2026, 7, 1))


def test_a_client_who_may_be_seen_shows_their_appointments_on_the_profile(
        db: Database, world: dict[str, Any]) -> None:
    booked = appointments(db).book(world["owner"], world["ines"], "2026-07-01 09:00", service_code="90834")
    assert [r.id for r in appointments(db).for_client(world["biller"], world["ines"])] == [booked]
    with refused_and_unchanged(db, "clinician", PermissionDenied, "appointments.client"):
        appointments(db).for_client(world["clinician"], world["tobias"])


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("start", ["2026-13-01 10:00", "2026-02-30 10:00", "tomorrow", "2026-07-01", "10:00",
                                   "", "2026-07-01 25:00", "01/07/2026 10:00", "2026-07-01 10:00\x00", 12345,
                                   None, "9999999-07-01 10:00", "1066-10-14 09:00"])
def test_a_start_that_is_not_a_date_and_time_is_refused_in_one_sentence(
        db: Database, world: dict[str, Any], start: Any) -> None:
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.book") as refused:
        appointments(db).book(world["owner"], world["ines"], start, service_code="90834")
    assert refused.value.field == "start"
    assert one_sentence(str(refused.value)), str(refused.value)


def test_a_time_the_clocks_skip_is_refused_in_one_sentence(db: Database, world: dict[str, Any]) -> None:
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.book") as refused:
        appointments(db).book(world["owner"], world["ines"], "2026-03-08 02:30", service_code="90834")
    message = str(refused.value)
    assert refused.value.field == "start"
    assert one_sentence(message), message
    assert "2026-03-08 02:30" in message and "America/New_York" in message
    with refused_and_unchanged(db, "owner", InvalidInput, "appointments.check"):
        appointments(db).warnings(world["owner"], world["ines"], "2026-03-08 02:30", 45)


def test_a_time_that_happens_twice_means_the_first(db: Database, world: dict[str, Any]) -> None:
    booked = appointments(db).book(world["owner"], world["ines"], "2026-11-01 01:30", service_code="90834")

    assert stored_appointment(db, booked).start == dt.datetime(2026, 11, 1, 5, 30)  # 01:30 EDT
    row = appointments(db).find(world["owner"], booked)
    assert (row.start.hour, row.start.minute, row.start.utcoffset()) == (1, 30, dt.timedelta(hours=-4))


@pytest.mark.parametrize("field, values", [
    ("minutes", {"minutes": 10**9}), ("minutes", {"minutes": 0}), ("minutes", {"minutes": "-5"}),
    ("minutes", {"minutes": "forty"}), ("minutes", {"minutes": True}), ("minutes", {"minutes": 45.5}),
    ("fee", {"fee": "1e100"}), ("fee", {"fee": "-5"}), ("fee", {"fee": "12.345"}), ("fee", {"fee": "NaN"}),
    ("fee", {"fee": "Infinity"}), ("fee", {"fee": "ten dollars"}), ("fee", {"fee": 10**30}),
    ("attendance", {"attendance": "maybe"}), ("clinician_id", {"clinician_id": "biller"}),
    ("clinician_id", {"clinician_id": "nobody"}), ("clinician_id", {"clinician_id": 2**62}),
    ("service_code", {"service_code": "99999"}), ("service_code", {"service_code": ""}),
    ("service_code", {"service_code": None}),
], ids=lambda v: str(v)[:30])
def test_bad_or_huge_values_are_refused_and_name_their_field(
        db: Database, world: dict[str, Any], field: str, values: dict[str, Any]) -> None:
    arguments = {"service_code": "90834", **values}
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.book") as refused:
        appointments(db).book(world["owner"], world["ines"], "2026-07-01 09:00", **arguments)
    assert refused.value.field == field
    assert one_sentence(str(refused.value)), str(refused.value)


def test_an_unknown_service_is_refused_naming_the_ones_the_practice_offers(
        db: Database, world: dict[str, Any]) -> None:
    with refused_and_unchanged(db, "owner", InvalidInput, "appointment.book") as refused:
        appointments(db).book(world["owner"], world["ines"], "2026-07-01 09:00", service_code="99999")
    assert "90834" in str(refused.value) and "90837" in str(refused.value)


@pytest.mark.parametrize("client_id, error", [(2**63, InvalidInput), (0, InvalidInput), (-1, InvalidInput),
                                              ("1", InvalidInput), (10**9, NotFound), (2**40, NotFound)])
def test_a_client_id_that_is_no_client_is_refused(db: Database, world: dict[str, Any], client_id: Any,
                                                  error: type[Exception]) -> None:
    with refused_and_unchanged(db, "owner", error, "appointment.book"):
        appointments(db).book(world["owner"], client_id, "2026-07-01 09:00", service_code="90834")


@pytest.mark.parametrize("appointment_id, error", [(2**64, InvalidInput), (10**9, NotFound), (2**40, NotFound)])
def test_an_appointment_id_that_is_no_appointment_is_refused(db: Database, world: dict[str, Any],
                                                             appointment_id: int, error: type[Exception]) -> None:
    with refused_and_unchanged(db, "owner", error, "appointment.attendance"):
        appointments(db).set_attendance(world["owner"], appointment_id, "cancelled")
    with refused_and_unchanged(db, "owner", error, "appointments.find"):
        appointments(db).find(world["owner"], appointment_id)


def test_a_days_first_rows_say_whether_they_are_all_of_it(db: Database, world: dict[str, Any]) -> None:
    owner, day = world["owner"], dt.date(2026, 7, 1)
    booked = [appointments(db).book(owner, world["ines"], f"2026-07-01 {hour:02d}:00", service_code="90834")
              for hour in (9, 10, 11)]
    first_two = appointments(db).day(owner, day, first=2)
    assert [r.id for r in first_two.rows] == booked[:2] and not first_two.complete
    exactly = appointments(db).day(owner, day, first=3)
    assert [r.id for r in exactly.rows] == booked and exactly.complete
    assert appointments(db).day(owner, day).complete
    for wrong in (0, -1, "2"):
        with refused_and_unchanged(db, "owner", InvalidInput, "appointments.day"):
            appointments(db).day(owner, day, first=wrong)  # type: ignore[arg-type]


def test_a_day_that_is_not_a_date_is_refused(db: Database, world: dict[str, Any]) -> None:
    with refused_and_unchanged(db, "owner", InvalidInput, "appointments.day"):
        appointments(db).day(world["owner"], "2026-07-01")  # type: ignore[arg-type]
    with refused_and_unchanged(db, "owner", NotFound, "appointments.day"):
        appointments(db).day(world["owner"], dt.date(2026, 7, 1), clinician_id=2**40)


# ------------------------------------------------------------------ days on the practice's clock


@pytest.mark.parametrize("day, hours, inside, outside", [
    # Spring: 23 hours, from 05:00 UTC to 04:00 UTC the next day.
    (dt.date(2026, 3, 8), 23,
     [dt.datetime(2026, 3, 8, 5, 0), dt.datetime(2026, 3, 8, 6, 59), dt.datetime(2026, 3, 8, 7, 0),
      dt.datetime(2026, 3, 9, 3, 59)],
     [dt.datetime(2026, 3, 8, 4, 59), dt.datetime(2026, 3, 9, 4, 0)]),
    # Autumn: 25 hours, from 04:00 UTC to 05:00 UTC the next day; 01:30 happens twice.
    (dt.date(2026, 11, 1), 25,
     [dt.datetime(2026, 11, 1, 4, 0), dt.datetime(2026, 11, 1, 5, 30), dt.datetime(2026, 11, 1, 6, 30),
      dt.datetime(2026, 11, 2, 4, 59)],
     [dt.datetime(2026, 11, 1, 3, 59), dt.datetime(2026, 11, 2, 5, 0)]),
], ids=["spring-23h", "autumn-25h"])
def test_a_daylight_saving_change_day_shows_that_local_day_only(
        db: Database, world: dict[str, Any], day: dt.date, hours: int, inside: list[dt.datetime],
        outside: list[dt.datetime]) -> None:
    ids = {at: add_appointment(db, world["ines"], at, attended=False) for at in inside + outside}

    view = appointments(db).day(world["scheduler"], day)

    assert (view.day, view.zone_name) == (day, NEW_YORK)
    assert [r.id for r in view.rows] == [ids[at] for at in inside]
    for row, at in zip(view.rows, inside, strict=True):
        assert row.start.date() == day
        assert row.start.tzinfo is not None and str(row.start.tzinfo) == NEW_YORK
        assert row.start.astimezone(dt.UTC).replace(tzinfo=None) == at
    first, last = view.rows[0].start, view.rows[-1].start
    assert last.astimezone(dt.UTC) - first.astimezone(dt.UTC) == dt.timedelta(hours=hours - 1, minutes=59)


def test_the_autumn_days_repeated_hour_shows_both_appointments_by_their_own_offsets(
        db: Database, world: dict[str, Any]) -> None:
    first = add_appointment(db, world["ines"], utc("2026-11-01 01:30"), attended=False)  # EDT
    second = add_appointment(db, world["ines"], dt.datetime(2026, 11, 1, 6, 30), attended=False)  # EST

    rows = appointments(db).day(world["owner"], dt.date(2026, 11, 1)).rows

    assert [(r.id, r.start.strftime("%H:%M"), r.start.utcoffset()) for r in rows] == [
        (first, "01:30", dt.timedelta(hours=-4)), (second, "01:30", dt.timedelta(hours=-5))]


def test_a_day_is_filtered_by_clinician(db: Database, world: dict[str, Any]) -> None:
    owner = world["owner"]
    park = appointments(db).book(owner, world["ines"], "2026-07-01 09:00", service_code="90834")
    appointments(db).book(owner, world["tobias"], "2026-07-01 09:00", service_code="90834")

    rows = appointments(db).day(owner, dt.date(2026, 7, 1), clinician_id=world["clinician"].user_id).rows

    assert [r.id for r in rows] == [park]
    assert rows[0].client_status is ClientStatus.ACTIVE


# ------------------------------------------------------------------ a day's rows, read the fast way


def _rows_the_plain_orm_way(db: Database, day: dt.date) -> list[AppointmentRow]:
    """What the Appointments page must show for ``day``, worked out the slow, obvious way: an
    ``Appointment`` object per row and its client, clinician, service and billing items by key."""
    with db.reading() as s:
        tz = clock.zone(s.scalar(select(PracticeSettings.time_zone)) or "")
        begin, end = clock.day_bounds(day, tz)
        rows = []
        for a in s.scalars(select(Appointment).where(Appointment.start >= begin, Appointment.start < end)
                           .order_by(Appointment.start, Appointment.id)):
            client = s.get(Client, a.client_id)
            assert client is not None
            user = s.get(PracticeUser, a.clinician_id) if a.clinician_id is not None else None
            service = s.scalars(select(Service).where(Service.code == a.service_code)).first()
            billed = s.scalars(select(BillingItem.id).where(BillingItem.appointment_id == a.id)).first()
            rows.append(AppointmentRow(
                a.id, a.client_id, display_name(client.first_name, client.last_name), client.status,
                a.clinician_id, user.display_name if user else "", user.username if user else None,
                a.start.replace(tzinfo=dt.UTC).astimezone(tz), a.duration_minutes, a.service_code,
                service.description if service else "", a.fee, a.attendance, a.version, billed is not None,
                a.manual_billing_only))
        return rows


def test_a_days_rows_are_exactly_what_the_plain_orm_reading_gives(db: Database, world: dict[str, Any]) -> None:
    """The day is read as plain tuples with each distinct value converted once: every field
    must still be what reading each appointment as an object gives, whatever the row holds."""
    owner = world["owner"]
    clients = ClientsController(db)
    names = [("José", "Ñúñez"), ("小龍", "李"), ("민준", "김"), ("Ada", "O'Neil-Smith"), ("Zoë", "van der Berg")]
    others = [clients.add_client(owner, first_name=f, last_name=last) for f, last in names]
    for n, (client, at) in enumerate(zip([world["ines"], world["tobias"], world["una"], *others],
                                         ["09:00", "09:00", "09:00", "10:15", "11:30", "13:00", "16:45", "23:59"],
                                         strict=True)):
        appointments(db).book(owner, client, f"2026-07-01 {at}", service_code=("90834", "90837")[n % 2],
                              fee=("150.00", "99.99", "0", "1234.50")[n % 4])
    past = add_appointment(db, world["ines"], utc("2026-07-01 07:30"), fee="120.10")
    add_appointment(db, world["tobias"], utc("2026-06-30 23:59"))  # the day before, on the practice's clock
    add_appointment(db, world["tobias"], utc("2026-07-02 00:00"))  # the day after
    ClientsController(db).set_status(owner, world["una"], ClientStatus.INACTIVE, reason="moved")
    with db.transaction() as s:
        s.execute(delete(Service).where(Service.code == "90837"))  # no longer offered: no description
        doc = BillingDocument(client_id=world["ines"], kind=DocumentKind.SUPERBILL, period_start=dt.date(2026, 7, 1),
                              period_end=dt.date(2026, 7, 1), amount=Decimal("120.10"), automatic=False)
        s.add(doc)
        s.flush()
        s.add(BillingItem(client_id=world["ines"], document_id=doc.id, appointment_id=past,
                          kind=DocumentKind.SUPERBILL))

    rows = appointments(db).day(owner, dt.date(2026, 7, 1)).rows

    assert list(rows) == _rows_the_plain_orm_way(db, dt.date(2026, 7, 1))
    assert len(rows) == 9 and rows[0].id == past and rows[0].billed
    assert [r.client_name for r in rows[4:]] == ["José Ñúñez", "李小龍", "김 민준", "Ada O'Neil-Smith", "Zoë van der Berg"]
    assert {r.service_description for r in rows if r.service_code == "90837"} == {""}
    assert {type(r.fee) for r in rows} == {Decimal} and {str(r.fee) for r in rows} >= {"99.99", "0.00", "1234.50"}


def test_an_appointment_row_is_built_field_by_field_like_any_dataclass() -> None:
    """``AppointmentRow`` writes its ``__init__`` out: it must set every field, by name, in order."""
    values: tuple[Any, ...] = (1, 2, "Ada Lovelace", ClientStatus.ACTIVE, 3, "Dr. Colin Park", "clinician",
              dt.datetime(2026, 7, 1, 9, tzinfo=ZoneInfo(NEW_YORK)), 50, "90834", "Psychotherapy", Decimal("150.00"),
              Attendance.SCHEDULED, 4, True, False)
    row = AppointmentRow(*values)
    assert list(inspect.signature(AppointmentRow).parameters) == [f.name for f in dataclasses.fields(row)]
    assert dataclasses.astuple(row) == values and vars(row) == dict(zip(vars(row), values, strict=True))
    assert row == AppointmentRow(**{f.name: v for f, v in zip(dataclasses.fields(row), values, strict=True)})
    assert hash(row) == hash(AppointmentRow(*values))
    assert dataclasses.replace(row, minutes=80).end == row.start + dt.timedelta(minutes=80)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.minutes = 80  # type: ignore[misc]
