"""Appointments: booking, editing and attendance (docs/rules.md, "Appointments").

Times come in and go out on the practice's wall clock (the time zone in
Practice settings) and are stored in UTC. Booking an inactive client and
double-booking a clinician are warnings the caller shows before saving
(``warnings``), never refusals. An appointment already on a billing document
keeps the figures that document printed: it can no longer be changed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, String, exists, func, or_, select, true, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, aliased

from desktop.controllers.base import (
    LARGEST_ID,
    Controller,
    audit,
    flush_versioned,
    reads,
    require,
    stored_id,
    writes,
)
from desktop.controllers.errors import InvalidInput, NotFound, StaleVersion
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.settings import MAX_FEE, MAX_MINUTES, SettingsController
from desktop.domain import clock
from desktop.domain.models import (
    Appointment,
    Attendance,
    BillingItem,
    Client,
    ClientStatus,
    PracticeUser,
    Role,
    Service,
)
from desktop.domain.search import display_name
from desktop.storage.queries import visible_clients

OWED_SINCE_BATCH = 5_000  # clients whose owed-since stamps one statement refreshes


def refresh_owed_since(conn: Connection, client_ids: Sequence[int]) -> int:
    """Set ``Client.owes_superbill_since`` and ``owes_statement_since`` of these clients from
    their appointments' owed flags, as they stand in this transaction.

    Every transaction that changes an owed flag calls this for the clients it touched,
    holding the billing lock (so a billing run's chunk and a booking never interleave);
    the billing run finds the clients with something due from these stamps alone.

    Only rows whose stamps move are written, and nothing else in them: not ``updated_at``
    (this is not a change to the client, and rewriting its index entry for every client of
    every chunk cost a first billing run seconds), which is why the statement is written out
    here rather than through the ORM's table, whose ``updated_at`` stamps itself. Returns how
    many clients' stamps moved.
    """
    ids = sorted(set(client_ids))
    postgresql = conn.dialect.name == "postgresql"
    true_, differs = ("true", "IS DISTINCT FROM") if postgresql else ("1", "IS NOT")
    # "= 1" / "= true" word for word as the owed indexes' condition, so each is one probe of them.
    earliest = {flag: f"(SELECT min(a.start) FROM appointments AS a WHERE a.client_id = clients.id "
                      f"AND a.{flag} = {true_})" for flag in ("superbill_owed", "statement_owed")}
    chosen = "id = ANY(%s)" if postgresql else "id IN (SELECT value FROM json_each(?))"
    statement = (f"UPDATE clients SET owes_superbill_since = {earliest['superbill_owed']}, "
                 f"owes_statement_since = {earliest['statement_owed']} WHERE {chosen} "
                 f"AND (owes_superbill_since {differs} {earliest['superbill_owed']} "
                 f"OR owes_statement_since {differs} {earliest['statement_owed']})")
    moved = 0
    for start in range(0, len(ids), OWED_SINCE_BATCH):
        batch = ids[start:start + OWED_SINCE_BATCH]
        moved += conn.exec_driver_sql(statement, (batch,) if postgresql else (json.dumps(batch),)).rowcount
    return moved


def refresh_all_owed_since(conn: Connection) -> None:
    """``refresh_owed_since`` for every client at once (a practice just built, in bulk): every
    stamp cleared, then set from the owed appointments, grouped in the order of their index."""
    conn.execute(update(Client).where(or_(Client.owes_superbill_since.is_not(None),
                                          Client.owes_statement_since.is_not(None)))
                 .values(owes_superbill_since=None, owes_statement_since=None, updated_at=Client.updated_at))
    for flag, column in ((Appointment.superbill_owed, "owes_superbill_since"),
                         (Appointment.statement_owed, "owes_statement_since")):
        first = (select(Appointment.client_id, func.min(Appointment.start).label("since"))
                 .where(flag == true()).group_by(Appointment.client_id).subquery())
        conn.execute(update(Client).where(Client.id == first.c.client_id)
                     .values({column: first.c.since, "updated_at": Client.updated_at}))


# Who can be an appointment's clinician: the people who see clients.
CLINICIAN_ROLES = (Role.ACCOUNT_OWNER, Role.PRACTICE_MANAGER, Role.CLINICIAN)
# Attendance that keeps the clinician's time taken (a double-booking warns about these).
OCCUPIES = (Attendance.SCHEDULED, Attendance.ATTENDED, Attendance.NO_SHOW)
# Attendance that says the appointment has taken place (or was due to): not before it begins.
HAPPENED = (Attendance.ATTENDED, Attendance.NO_SHOW)
_set_fields = object.__setattr__  # a frozen dataclass's way past its own __setattr__
ID_OF = attrgetter("id")  # an appointment row's id (the page finds rows by it too)


@dataclass(frozen=True, init=False)
class AppointmentRow:
    """One appointment as the page, the profile and the command line show it.

    ``__init__`` is written out: a frozen dataclass's own sets each of the sixteen fields
    through ``object.__setattr__``, three times as long, and a busy day builds thousands.
    """

    id: int
    client_id: int
    client_name: str
    client_status: ClientStatus
    clinician_id: int | None
    clinician_name: str
    clinician_username: str | None
    start: dt.datetime  # aware, on the practice's clock
    minutes: int
    service_code: str
    service_description: str
    fee: Decimal
    attendance: Attendance
    version: int
    billed: bool  # on a superbill or a statement: no longer changeable
    manual_billing_only: bool

    def __init__(self, id: int, client_id: int, client_name: str, client_status: ClientStatus,  # noqa: A002
                 clinician_id: int | None, clinician_name: str, clinician_username: str | None,
                 start: dt.datetime, minutes: int, service_code: str, service_description: str, fee: Decimal,
                 attendance: Attendance, version: int, billed: bool, manual_billing_only: bool) -> None:
        _set_fields(self, "__dict__", {
            "id": id, "client_id": client_id, "client_name": client_name, "client_status": client_status,
            "clinician_id": clinician_id, "clinician_name": clinician_name,
            "clinician_username": clinician_username, "start": start, "minutes": minutes,
            "service_code": service_code, "service_description": service_description, "fee": fee,
            "attendance": attendance, "version": version, "billed": billed,
            "manual_billing_only": manual_billing_only})

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(minutes=self.minutes)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "client_id": self.client_id, "start": self.start.isoformat(timespec="minutes"),
                "minutes": self.minutes, "service": self.service_code, "fee": str(self.fee),
                "clinician": self.clinician_username, "attendance": self.attendance.value,
                "manual_billing_only": self.manual_billing_only}


@dataclass(frozen=True)
class DayView:
    day: dt.date
    zone_name: str
    rows: tuple[AppointmentRow, ...]
    complete: bool = True  # False: only the day's first rows, as asked (``day(first=N)``)
    # The rows' ids in order, made with the view (on the thread that read the day): the page
    # finds a picked appointment among 50,000 by one search in C.
    ids: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set_fields(self, "ids", tuple(map(ID_OF, self.rows)))


@dataclass(frozen=True)
class BookingWarning:
    kind: str  # "inactive_client" or "double_booked"
    text: str


@dataclass(frozen=True)
class Clinician:
    id: int
    name: str
    username: str


def default_clinician(actor: Actor, client_clinician_id: int | None,
                      sees_clients: Callable[[int], bool]) -> int | None:
    """Who a booking without a chosen clinician is with (docs/rules.md, "Appointments"): the
    client's clinician while they are an active user who sees clients; else whoever books, if
    they see clients; else nobody. ``sees_clients`` answers for a user id."""
    if client_clinician_id is not None and sees_clients(client_clinician_id):
        return client_clinician_id
    return actor.user_id if actor.role in CLINICIAN_ROLES else None


def parse_start(value: dt.datetime | str, tz: ZoneInfo | None = None) -> dt.datetime:
    """A start as typed ("YYYY-MM-DD HH:MM") or given, as a naive time on the practice's clock
    (``tz``); a datetime that names its own zone is read in that zone."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and tz is not None:
            value = value.astimezone(tz)
        return value.replace(tzinfo=None, second=0, microsecond=0)
    if not isinstance(value, str):
        raise InvalidInput("The start must be a date and time such as 2026-11-26 14:30.", field="start")
    text = value.strip().replace("T", " ")
    try:
        parsed = dt.datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        raise InvalidInput(f"{value[:40]!r} is not a start time; use YYYY-MM-DD HH:MM, as in "
                           "2026-11-26 14:30.", field="start") from None
    if not 1900 <= parsed.year <= 2200:
        raise InvalidInput("The start must be between the years 1900 and 2200.", field="start")
    return parsed


def parse_minutes(value: Any) -> int:
    try:
        minutes = int(str(value).strip()) if not isinstance(value, bool) else -1
    except ValueError:
        minutes = -1
    if not 1 <= minutes <= MAX_MINUTES:
        raise InvalidInput(f"Minutes must be a whole number from 1 to {MAX_MINUTES}.", field="minutes")
    return minutes


def parse_fee(value: Any) -> Decimal:
    try:
        fee = Decimal(str(value).strip().lstrip("$").replace(",", "")) if not isinstance(value, bool) else None
    except InvalidOperation:
        fee = None
    if fee is None or not fee.is_finite() or fee < 0 or fee > MAX_FEE or fee != fee.quantize(Decimal("0.01")):
        raise InvalidInput(f"The fee must be an amount from 0 to {MAX_FEE:,}, in cents at most, "
                           "such as 150.00.", field="fee")
    return fee.quantize(Decimal("0.01"))


def parse_attendance(value: Attendance | str) -> Attendance:
    try:
        return Attendance(str(value).strip().lower().replace("_", "-").replace(" ", "-"))
    except ValueError:
        raise InvalidInput(f"{str(value)[:40]!r} is not an attendance; use one of "
                           f"{', '.join(a.value for a in Attendance)}.", field="attendance") from None


class AppointmentsController(Controller):
    # ------------------------------------------------------------------ reading

    @reads("appointments.day", Action.MANAGE_APPOINTMENTS)
    def day(self, s: Session, actor: Actor, day: dt.date, clinician_id: int | None = None, *,
            first: int | None = None) -> DayView:
        """One day's appointments on the practice's clock, by start, that ``actor`` may manage.

        ``first``: only that many, from the start of the day (what a window shows at once, read
        in a few milliseconds however busy the day); the view says whether that was all."""
        if not isinstance(day, dt.date):
            raise InvalidInput("Choose a day.", field="day")
        if isinstance(day, dt.datetime):
            day = day.date()
        tz = self._zone(s)
        begin, end = clock.day_bounds(day, tz)
        where = [Appointment.start >= begin, Appointment.start < end]
        if clinician_id is not None:
            where.append(Appointment.clinician_id == stored_id(clinician_id, "clinician"))
        if first is not None and (not isinstance(first, int) or first < 1):
            raise InvalidInput("Ask for at least one appointment.", field="first")
        rows = self._rows(s, actor, tz, where, limit=None if first is None else first + 1)
        if first is not None and len(rows) > first:
            return DayView(day, tz.key, tuple(rows[:first]), complete=False)
        return DayView(day, tz.key, tuple(rows))

    @reads("appointments.client", Action.SEE_CLIENTS, target="client:client_id")
    def for_client(self, s: Session, actor: Actor, client_id: int) -> list[AppointmentRow]:
        """A client's appointments, oldest first (the profile's Appointments tab)."""
        client = self._load_client(s, client_id)
        require(actor, Action.SEE_CLIENTS, clinician_id=client.clinician_id)
        return self._rows(s, actor, self._zone(s), [Appointment.client_id == client_id], visible=False)

    @reads("appointments.find", Action.MANAGE_APPOINTMENTS)
    def find(self, s: Session, actor: Actor, appointment_id: int) -> AppointmentRow:
        """One appointment as the edit dialog shows it."""
        stored_id(appointment_id, "appointment")
        rows = self._rows(s, actor, self._zone(s), [Appointment.id == appointment_id])
        if not rows:
            raise NotFound(f"There is no appointment {appointment_id} that you may manage; "
                           "it may have been deleted with its client.")
        return rows[0]

    @reads("appointments.list", Action.MANAGE_APPOINTMENTS)
    def listing(self, s: Session, actor: Actor, *, day: dt.date | None = None,
                client_id: int | None = None) -> list[AppointmentRow]:
        """For the command line: a day's, a client's, or (neither) every appointment ``actor`` manages."""
        tz = self._zone(s)
        where = []
        if day is not None:
            begin, end = clock.day_bounds(day, tz)
            where += [Appointment.start >= begin, Appointment.start < end]
        if client_id is not None:
            client = self._load_client(s, client_id)
            require(actor, Action.MANAGE_APPOINTMENTS, clinician_id=client.clinician_id)
            where.append(Appointment.client_id == client_id)
        return self._rows(s, actor, tz, where)

    @reads("appointments.clinicians", Action.MANAGE_APPOINTMENTS)
    def clinicians(self, s: Session, actor: Actor) -> list[Clinician]:
        """The active users an appointment can be with, by name."""
        users = s.execute(select(PracticeUser.id, PracticeUser.display_name, PracticeUser.username)
                          .where(PracticeUser.active.is_(True), PracticeUser.role.in_(CLINICIAN_ROLES))).all()
        return sorted((Clinician(*u) for u in users), key=lambda c: (c.name.casefold(), c.id))

    @reads("appointments.check", Action.MANAGE_APPOINTMENTS)
    def warnings(self, s: Session, actor: Actor, client_id: int, start: dt.datetime | str, minutes: Any,
                 clinician_id: int | str | None = None, appointment_id: int | None = None
                 ) -> list[BookingWarning]:
        """What to tell the person before booking (or moving) this appointment; nothing blocks."""
        tz = self._zone(s)
        client = self._load_client(s, client_id)
        require(actor, Action.MANAGE_APPOINTMENTS, clinician_id=client.clinician_id)
        begin = self._utc(parse_start(start, tz), tz)
        length = parse_minutes(minutes)
        # The clinician the booking would get (``book``'s default when none is chosen).
        clinician = (self._clinician(s, clinician_id, client) if clinician_id not in (None, "")
                     else self._default_clinician(s, actor, client))
        return self._warnings(s, tz, client, begin, length, clinician, appointment_id)

    # ------------------------------------------------------------------ changing

    @writes("appointment.book", Action.MANAGE_APPOINTMENTS, target="client:client_id")
    def book(self, s: Session, actor: Actor, client_id: int, start: dt.datetime | str, minutes: Any = None,
             service_code: str = "", fee: Any = None, clinician_id: int | str | None = None,
             attendance: Attendance | str = Attendance.SCHEDULED) -> int:
        """Book an appointment and return its id. ``minutes`` and ``fee`` default to the service's."""
        self.db.take_write_lock(s, "billing")  # it may be owed a document: not in the middle of a run
        tz = self._zone(s)
        client = self._load_client(s, client_id, for_update=True)
        require(actor, Action.MANAGE_APPOINTMENTS, clinician_id=client.clinician_id)
        service = self._service(s, service_code)
        wall = parse_start(start, tz)
        begin = self._utc(wall, tz)
        length = parse_minutes(service.minutes if minutes in (None, "") else minutes)
        amount = service.default_fee if fee in (None, "") else parse_fee(fee)
        clinician = (self._clinician(s, clinician_id, client) if clinician_id not in (None, "")
                     else self._default_clinician(s, actor, client))
        state = parse_attendance(attendance)
        self._check_happened(state, begin, wall)
        warned = self._warnings(s, tz, client, begin, length, clinician, None)
        appt = Appointment(client_id=client.id, clinician_id=clinician, start=begin, duration_minutes=length,
                           service_code=service.code, fee=amount, attendance=state,
                           manual_billing_only=False)
        self._owe(appt, billed=set())
        s.add(appt)
        s.flush()
        refresh_owed_since(s.connection(), [client.id])
        audit(s, actor, "appointment.book", "client", client.id,
              details={"appointment_id": appt.id, "warnings": [w.kind for w in warned]})
        return appt.id

    @writes("appointment.edit", Action.MANAGE_APPOINTMENTS)
    def edit(self, s: Session, actor: Actor, appointment_id: int, expected_version: int, *,
             start: dt.datetime | str, minutes: Any, service_code: str, fee: Any,
             clinician_id: int | str | None, attendance: Attendance | str) -> None:
        """Change an appointment, unless someone saved it since ``expected_version`` or it is billed."""
        tz = self._zone(s)
        appt, client = self._load(s, actor, appointment_id, expected_version)
        service = self._service(s, service_code, keep=appt.service_code)
        wall = parse_start(start, tz)
        values = {
            "start": self._utc(wall, tz), "duration_minutes": parse_minutes(minutes),
            "service_code": service.code, "fee": parse_fee(fee),
            "clinician_id": (self._clinician(s, clinician_id, client, keep=appt.clinician_id)
                             if clinician_id not in (None, "") else None),
            "attendance": parse_attendance(attendance),
        }
        changed = sorted(k for k, v in values.items() if getattr(appt, k) != v)
        if not changed:
            return
        self._refuse_if_billed(s, appt)
        self._check_happened(values["attendance"], values["start"], wall)  # type: ignore[arg-type]
        for key, value in values.items():
            setattr(appt, key, value)
        if "start" in changed:
            # Held for billing by hand because of when it took place: at its corrected time the
            # next run decides again (docs/rules.md, "Billing").
            appt.manual_billing_only = False
        self._owe(appt, billed=set())
        flush_versioned(s)
        refresh_owed_since(s.connection(), [client.id])
        audit(s, actor, "appointment.edit", "client", client.id,
              details={"appointment_id": appt.id, "fields": changed})

    @writes("appointment.attendance", Action.MANAGE_APPOINTMENTS)
    def set_attendance(self, s: Session, actor: Actor, appointment_id: int, attendance: Attendance | str,
                       expected_version: int | None = None) -> int:
        """Mark what became of an appointment; returns its new version."""
        tz = self._zone(s)
        appt, client = self._load(s, actor, appointment_id, expected_version)
        state = parse_attendance(attendance)
        if appt.attendance is state:
            return appt.version
        self._refuse_if_billed(s, appt)
        self._check_happened(state, appt.start, clock.to_local(appt.start, tz))
        appt.attendance = state
        self._owe(appt, billed=set())
        flush_versioned(s)
        refresh_owed_since(s.connection(), [client.id])
        audit(s, actor, "appointment.attendance", "client", client.id,
              details={"appointment_id": appt.id, "attendance": state.value})
        return appt.version

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _zone(s: Session) -> ZoneInfo:
        return SettingsController._read(s).zone

    @staticmethod
    def _utc(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        try:
            return clock.to_utc(wall, tz)
        except clock.NonexistentTime:
            # One sentence (the house rule for bad input), naming the zone the time was read in.
            raise InvalidInput(f"{wall:%Y-%m-%d %H:%M} does not exist in {tz.key} because the clocks go "
                               "forward that night; choose another time.", field="start") from None

    @staticmethod
    def _check_happened(state: Attendance, begin: dt.datetime, wall: dt.datetime) -> None:
        if state in HAPPENED and begin > dt.datetime.now(dt.UTC).replace(tzinfo=None):
            raise InvalidInput(f"The appointment at {wall:%Y-%m-%d %H:%M} has not begun yet; mark it "
                               f"{state.label.lower()} once it has.", field="attendance")

    @staticmethod
    def _owe(appt: Appointment, *, billed: set[str]) -> None:
        """Keep the automatic run's flags in step with attendance (docs/rules.md, "Billing")."""
        owed = appt.attendance is Attendance.ATTENDED and not appt.manual_billing_only
        appt.superbill_owed = owed and "superbill" not in billed
        appt.statement_owed = owed and "statement" not in billed

    def _load(self, s: Session, actor: Actor, appointment_id: int, expected_version: int | None
              ) -> tuple[Appointment, Client]:
        stored_id(appointment_id, "appointment")
        # A billing run reads an appointment's figures before it prints them: a change must not
        # come in between, so it waits for the run's billing lock and then sees what it made.
        self.db.take_write_lock(s, "billing")
        stmt = select(Appointment).where(Appointment.id == appointment_id)
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        appt = s.scalars(stmt).one_or_none()
        if appt is None:
            raise NotFound(f"There is no appointment {appointment_id}; it may have been deleted with its client.")
        client = self._load_client(s, appt.client_id)
        require(actor, Action.MANAGE_APPOINTMENTS, clinician_id=client.clinician_id)
        if expected_version is not None and appt.version != expected_version:
            raise StaleVersion("Someone else changed this appointment after you opened it. Reload to see "
                               "their change; nothing of yours was saved.", current_version=appt.version)
        return appt, client

    @staticmethod
    def _refuse_if_billed(s: Session, appt: Appointment) -> None:
        if s.scalars(select(BillingItem.document_id).where(BillingItem.appointment_id == appt.id)).first():
            raise InvalidInput("This appointment is already on a billing document, which keeps the figures "
                               "it printed; it can no longer be changed.", field="attendance")

    @staticmethod
    def _service(s: Session, code: Any, *, keep: str | None = None) -> Service:
        if not isinstance(code, str) or not code.strip():
            raise InvalidInput("Choose a service.", field="service_code")
        wanted = code.strip().upper()
        service = s.scalars(select(Service).where(Service.code == wanted)).one_or_none()
        if service is None and keep is not None and wanted == keep:
            # A service since taken off the practice's list: the appointment keeps it.
            return Service(code=keep, description="", minutes=0, default_fee=Decimal("0"))
        if service is None:
            codes = list(s.scalars(select(Service.code).order_by(Service.position, Service.id).limit(8)))
            if not codes:
                raise InvalidInput("The practice lists no services yet; add them in Practice settings first.",
                                   field="service_code")
            raise InvalidInput(f"The practice offers no service {wanted[:16]!r}; it offers "
                               f"{', '.join(codes)}.", field="service_code")
        return service

    @staticmethod
    def _clinician(s: Session, value: int | str, client: Client, *, keep: int | None = None) -> int:
        """The clinician chosen (an id or a username); ``keep``: the one the appointment already
        has, kept even if they have since been deactivated or given another role."""
        user = None
        if isinstance(value, int) and not isinstance(value, bool):
            user = s.get(PracticeUser, value) if 0 < value <= LARGEST_ID else None
        elif isinstance(value, str):
            user = s.scalars(select(PracticeUser).where(PracticeUser.username == value.strip())).one_or_none()
        if user is not None and keep is not None and user.id == keep:
            return user.id
        if user is None or not user.active or user.role not in CLINICIAN_ROLES:
            raise InvalidInput(f"There is no active clinician {str(value)[:64]!r} to see the client.",
                               field="clinician_id")
        return user.id

    @staticmethod
    def _default_clinician(s: Session, actor: Actor, client: Client) -> int | None:
        def sees_clients(user_id: int) -> bool:
            user = s.get(PracticeUser, user_id)
            return user is not None and user.active and user.role in CLINICIAN_ROLES

        return default_clinician(actor, client.clinician_id, sees_clients)

    @staticmethod
    def _warnings(s: Session, tz: ZoneInfo, client: Client, begin: dt.datetime, minutes: int,
                  clinician_id: int | None, appointment_id: int | None) -> list[BookingWarning]:
        found: list[BookingWarning] = []
        name = display_name(client.first_name, client.last_name)
        if client.status is ClientStatus.INACTIVE:
            why = f" ({client.inactive_reason.value})" if client.inactive_reason else ""
            found.append(BookingWarning("inactive_client", f"{name} is inactive{why}. Appointments while a "
                                        "client is inactive are not billed automatically."))
        if clinician_id is not None:
            end = begin + dt.timedelta(minutes=minutes)
            other = aliased(Client)
            clashes = s.execute(
                select(Appointment.start, Appointment.duration_minutes, other.first_name, other.last_name,
                       PracticeUser.display_name)
                .join(other, other.id == Appointment.client_id)
                .join(PracticeUser, PracticeUser.id == Appointment.clinician_id)
                .where(Appointment.clinician_id == clinician_id, Appointment.start < end,
                       Appointment.start >= begin - dt.timedelta(minutes=MAX_MINUTES),
                       Appointment.attendance.in_(OCCUPIES),
                       Appointment.id != (appointment_id or 0))
                .order_by(Appointment.start)).all()
            for at, length, first, last, who in clashes:
                if at + dt.timedelta(minutes=length) <= begin:
                    continue
                local = clock.to_local(at, tz)
                found.append(BookingWarning("double_booked", (
                    f"{who} already has an appointment with {display_name(first, last)} from {local:%H:%M} "
                    f"to {local + dt.timedelta(minutes=length):%H:%M} that day.")))
                break
        return found

    @staticmethod
    def _rows(s: Session, actor: Actor, tz: ZoneInfo, where: Sequence[Any], *, visible: bool = True,
              limit: int | None = None) -> list[AppointmentRow]:
        """The appointments matching ``where``, by start, as rows for the page.

        A busy day holds thousands: they are read as plain tuples (the day's through the
        ``ix_appointments_day`` index alone, then each client by its key), the few users and
        services once each, and every distinct stored value (a start, a fee) is converted
        once, by the same conversion SQLAlchemy would apply to each row.
        """
        dialect = s.get_bind().dialect
        billed = exists().where(BillingItem.appointment_id == Appointment.id)
        stmt = (select(Appointment.id, Appointment.client_id, Client.first_name, Client.last_name,
                       _raw(Client.status), Appointment.clinician_id, _raw(Appointment.start),
                       Appointment.duration_minutes, Appointment.service_code, _raw(Appointment.fee),
                       _raw(Appointment.attendance), Appointment.version, _raw(billed),
                       _raw(Appointment.manual_billing_only))
                .join(Client, Client.id == Appointment.client_id)
                .where(*where).order_by(Appointment.start, Appointment.id))
        if visible:
            stmt = visible_clients(stmt, actor.visibility(Action.MANAGE_APPOINTMENTS), lead=False)
        if limit is not None:
            stmt = stmt.limit(limit)
        conn = s.connection()  # Core: the ORM's handling of each row is of no use to plain columns
        found = conn.execute(stmt).all()
        if not found:
            return []
        # As the outer joins gave them: a missing clinician or service is "" (and no username).
        users = {i: (name, username) for i, name, username in conn.execute(
            select(PracticeUser.id, PracticeUser.display_name, PracticeUser.username))}
        services = dict(conn.execute(select(Service.code, Service.description)).all())
        read_start = _converter(Appointment.start, dialect)
        read_fee = _converter(Appointment.fee, dialect)
        starts: dict[Any, dt.datetime] = {}
        fees: dict[Any, Decimal] = {}
        row = AppointmentRow
        rows: list[AppointmentRow] = []
        append = rows.append
        for (i, cid, first, last, status, clin, start, minutes, code, fee, state, version, was_billed,
             manual) in found:
            local = starts.get(start)
            if local is None:
                stamp = start if read_start is None else read_start(start)
                local = starts[start] = stamp.replace(tzinfo=dt.UTC).astimezone(tz)
            if read_fee is not None:
                amount = fees.get(fee)
                if amount is None:
                    amount = fees[fee] = read_fee(fee)
                fee = amount
            who, user = users.get(clin) or ("", None)
            # A name with an ASCII family name reads given name first: display_name's answer, sooner.
            append(row(i, cid, f"{first} {last}" if last.isascii() else display_name(first, last),
                       _STATUSES[status], clin, who, user, local, minutes, code, services.get(code, ""), fee,
                       _ATTENDANCES[state], version, bool(was_billed), bool(manual)))
        return rows


# What ``_rows`` reads: stored values as the driver hands them over, converted in Python.
_STATUSES = {s.value: s for s in ClientStatus}
_ATTENDANCES = {a.value: a for a in Attendance}


def _raw(column: Any) -> Any:
    """``column`` as the driver returns it, without SQLAlchemy's conversion of each row."""
    return type_coerce(column, String())


def _converter(column: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's own conversion of ``column``'s stored values, or None where the driver's value
    is already what SQLAlchemy would return: SQLite stores times as text and amounts as numbers,
    while psycopg hands over datetimes and Decimals."""
    if dialect.name != "sqlite":
        return None
    convert: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return convert
