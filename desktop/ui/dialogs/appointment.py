"""New appointment and Edit appointment: one form, the booking warnings, one controller call.

The client is chosen by typing part of a name: the matches come from the
roster the window already holds in memory (``Roster.filter``), never from a
query per keystroke, and only clients are offered, not contacts. From a
profile the client is given and fixed. Date, time (arrows step 5 minutes),
service (choosing one fills its minutes and fee), minutes, fee, clinician and
attendance complete it; the fee is checked as typed by the controller's own
rule, and Book waits until the form is complete. A booking's clinician starts
as "Client's clinician": the controller's default (``book``), named as it will
be; choosing someone else overrides it, and the dialog adds no rule of its own.

Editing sends the start as the moment the appointment has (not rebuilt from the
date and time shown) unless the date or time was changed: 01:30 on the night
the clocks go back happens twice, and an edit of the fee must not move it.

Before saving, the controller's ``warnings`` are asked for and answered
(docs/rules.md, "Appointments": neither blocks): an inactive client offers
**Make active and book** (when this person may change the client's status),
**Book anyway** or Cancel; a clinician already booked at that time offers
**Book anyway** or Cancel. A refusal is said under the field it concerns; an
appointment saved meanwhile by someone else offers Reload, as a profile does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QDate, QEvent, QModelIndex, QObject, Qt, QTime
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QCompleter,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.appointments import (
    AppointmentRow,
    BookingWarning,
    Clinician,
    default_clinician,
    parse_fee,
)
from desktop.controllers.clients import StatusFilter
from desktop.controllers.errors import CaseloadError, InvalidInput, StaleVersion
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Roster
from desktop.controllers.settings import MAX_MINUTES, ServiceRow
from desktop.domain import clock
from desktop.domain.models import Attendance, ClientStatus
from desktop.domain.search import display_name
from desktop.ui.dialogs.change_password import field_with_error, say
from desktop.ui.dialogs.practice_settings import who_may_change
from desktop.ui.operation import attempt
from desktop.ui.widgets import form_row, problem_label

MAX_MATCHES = 30  # clients offered while typing; more words narrow them
MINUTE_STEP = 5
DEFAULT_TIME = dt.time(9, 0)
ClientRole = Qt.ItemDataRole.UserRole + 1
MUTED = "color: palette(placeholder-text);"


@dataclass(frozen=True)
class ClientChoice:
    """The client an appointment is for, as the form shows and checks it."""

    id: int
    name: str  # "Ada Lovelace"
    clinician_id: int | None
    status: ClientStatus | None = None
    date_of_birth: str = ""
    clinician_name: str = ""

    def described(self) -> str:
        """What tells this client apart from another of the same name (the name is shown above)."""
        parts = []
        if self.date_of_birth:
            parts.append(f"born {self.date_of_birth}")
        if self.status is ClientStatus.INACTIVE:
            parts.append("inactive")
        if self.clinician_name:
            parts.append(f"client of {self.clinician_name}")
        return " · ".join(parts)


def roster_choice(roster: Roster, slot: int) -> ClientChoice:
    return ClientChoice(int(roster.ids[slot]), display_name(roster.first[slot], roster.last[slot]),
                        roster.clinician_ids[slot], roster.status(slot), roster.dob[slot], roster.clinician(slot))


def matching_clients(roster: Roster, text: str, limit: int = MAX_MATCHES) -> list[int]:
    """The roster slots of the first ``limit`` clients (not contacts) matching ``text``, by name."""
    if not text.strip():
        return []
    # The first rows in name order are all that is shown: a word most rows hold is not
    # searched to the end unless contacts crowd the clients out of that first part.
    answer = roster.search(StatusFilter.ALL, text, need=max(4 * limit, 200))
    found = roster.clients_among(answer.slots)[:limit]
    if len(found) < limit and not answer.complete:
        found = roster.clients_among(roster.filter(StatusFilter.ALL, text))[:limit]
    return [int(slot) for slot in found]
    return found


class FiveMinuteTimeEdit(QTimeEdit):
    """A time typed freely; the arrow keys and buttons move the minutes in 5-minute steps."""

    def stepBy(self, steps: int) -> None:
        if self.currentSection() != QTimeEdit.Section.MinuteSection:
            super().stepBy(steps)
            return
        time = self.time()
        minutes = time.hour() * 60 + time.minute()
        snapped = (minutes // MINUTE_STEP) * MINUTE_STEP
        if steps < 0 and snapped < minutes:
            steps += 1  # 14:33 down goes to 14:30 first
        minutes = (snapped + steps * MINUTE_STEP) % (24 * 60)
        self.setTime(QTime(minutes // 60, minutes % 60))

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:
        # Qt stops the minutes at :00 and :55; these steps carry into the hour instead.
        if self.currentSection() == QTimeEdit.Section.MinuteSection:
            return QAbstractSpinBox.StepEnabledFlag.StepUpEnabled | QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return super().stepEnabled()


class AppointmentDialog(QDialog):
    """Book (``appointment`` None) or change an appointment.

    After it closes, ``saved_id`` is the appointment saved (None if nothing
    was), ``saved_day`` its day on the practice's clock, and ``made_active``
    the client made active on the way (None if none).
    """

    def __init__(self, practice: Practice, actor: Actor, *, roster: Roster | None = None,
                 appointment: AppointmentRow | None = None, client: ClientChoice | None = None,
                 day: dt.date | None = None, time: dt.time | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.practice = practice
        self.appointments = practice.appointments
        self.actor = actor
        self.roster = roster
        self.appointment = appointment
        self.saved_id: int | None = None
        self.saved_day: dt.date | None = None
        self.made_active: int | None = None
        self.client: ClientChoice | None = client
        self.services: tuple[ServiceRow, ...] = ()
        self.clinicians: list[Clinician] = []
        self.zone = clock.zone("")  # the practice's, once its settings are read
        self._matches: list[int] = []
        self._filling = True
        editing = appointment is not None
        self.setObjectName("appointmentDialog")
        self.setWindowTitle("Edit appointment" if editing else "New appointment")
        self.setMinimumWidth(560)

        self.notice = QLabel()
        self.notice.setObjectName("appointmentNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.hide()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.errors: dict[str, QLabel] = {}

        # ---- client: typed and chosen from the roster, or given
        self.client_edit = QLineEdit()
        self.client_edit.setObjectName("client")
        self.client_edit.setAccessibleName("Client")
        self.client_edit.setPlaceholderText("Type part of the client's name, then choose them")
        self.client_edit.setClearButtonEnabled(True)
        self.client_note = QLabel()
        self.client_note.setObjectName("clientChosen")
        self.client_note.setTextFormat(Qt.TextFormat.PlainText)
        self.matches = QStandardItemModel(self)
        self.completer = QCompleter(self.matches, self)
        self.completer.setObjectName("clientMatches")
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setMaxVisibleItems(10)
        self.completer.setWidget(self.client_edit)
        self.completer.activated[QModelIndex].connect(self._client_picked)  # type: ignore[index]
        self._popup().setObjectName("clientMatchesPopup")
        self.client_edit.textEdited.connect(self._client_typed)
        self.client_edit.installEventFilter(self)
        client_box = QWidget()
        client_column = QVBoxLayout(client_box)
        client_column.setContentsMargins(0, 0, 0, 0)
        client_column.setSpacing(2)
        client_column.addWidget(self.client_edit)
        client_column.addWidget(self.client_note)
        box, self.errors["client"] = field_with_error(client_box, "clientError")
        form_row(form, "&Client:", box, buddy=self.client_edit)

        # ---- when
        self.date_edit = QDateEdit()
        self.date_edit.setObjectName("date")
        self.date_edit.setAccessibleName("Date")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd yyyy-MM-dd")
        self.date_edit.setDateRange(QDate(1900, 1, 1), QDate(2200, 12, 31))
        self.date_edit.dateChanged.connect(self._changed)
        box, self.errors["date"] = field_with_error(self.date_edit, "dateError")
        form_row(form, "&Date:", box, buddy=self.date_edit)
        self.time_edit = FiveMinuteTimeEdit()
        self.time_edit.setObjectName("time")
        self.time_edit.setAccessibleName("Time")
        self.time_edit.setDisplayFormat("HH:mm")
        self.time_edit.setCurrentSection(QTimeEdit.Section.MinuteSection)
        self.time_edit.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self.time_edit.setToolTip("On the practice's clock. The arrows move the minutes 5 at a time.")
        self.time_edit.timeChanged.connect(self._changed)
        # Which clock the time is on (EST or EDT), and on the night the clocks go back which
        # of the two 01:30s it is: the time alone cannot say.
        self.zone_note = QLabel()
        self.zone_note.setObjectName("zoneNote")
        self.zone_note.setTextFormat(Qt.TextFormat.PlainText)
        self.zone_note.setStyleSheet("color: palette(placeholder-text);")
        self.date_edit.dateChanged.connect(self._show_zone)
        self.time_edit.timeChanged.connect(self._show_zone)
        clock_row = QWidget()
        clock_line = QHBoxLayout(clock_row)
        clock_line.setContentsMargins(0, 0, 0, 0)
        clock_line.addWidget(self.time_edit)
        clock_line.addWidget(self.zone_note, 1)
        box, self.errors["start"] = field_with_error(clock_row, "startError")
        form_row(form, "&Time:", box, buddy=self.time_edit)

        # ---- what, how long, how much
        self.service = QComboBox()
        self.service.setObjectName("service")
        self.service.setAccessibleName("Service")
        self.service.activated.connect(self._service_chosen)
        box, self.errors["service_code"] = field_with_error(self.service, "serviceError")
        form_row(form, "&Service:", box, buddy=self.service)
        self.minutes = QSpinBox()
        self.minutes.setObjectName("minutes")
        self.minutes.setAccessibleName("Minutes")
        self.minutes.setRange(1, MAX_MINUTES)
        self.minutes.setSingleStep(MINUTE_STEP)
        self.minutes.setValue(50)
        self.minutes.valueChanged.connect(self._changed)
        box, self.errors["minutes"] = field_with_error(self.minutes, "minutesError")
        form_row(form, "&Minutes:", box, buddy=self.minutes)
        self.fee = QLineEdit()
        self.fee.setObjectName("fee")
        self.fee.setAccessibleName("Fee")
        self.fee.setPlaceholderText("150.00")
        self.fee.setMaximumWidth(self.fee.fontMetrics().horizontalAdvance("100,000.00") + 40)
        self.fee.textChanged.connect(self._changed)
        box, self.errors["fee"] = field_with_error(self.fee, "feeError")
        form_row(form, "&Fee:", box, buddy=self.fee)

        # ---- who, and what became of it
        self.clinician = QComboBox()
        self.clinician.setObjectName("clinician")
        self.clinician.setAccessibleName("Clinician")
        # "Client's clinician" is named once the client is chosen: the box grows to show it all.
        self.clinician.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        if not editing:
            # Who the controller books the appointment with unless someone else is chosen.
            self.clinician.addItem("Client's clinician", None)
            self.clinician.setToolTip("Unless you choose someone, the appointment is with the client's "
                                      "clinician; if they have none who sees clients, with you if you do.")
        self.clinician.currentIndexChanged.connect(self._changed)
        box, self.errors["clinician_id"] = field_with_error(self.clinician, "clinicianError")
        form_row(form, "C&linician:", box, buddy=self.clinician)
        self.attendance = QComboBox()
        self.attendance.setObjectName("attendance")
        self.attendance.setAccessibleName("Attendance")
        for state in Attendance:
            self.attendance.addItem(state.label, state)
        self.attendance.currentIndexChanged.connect(self._changed)
        box, self.errors["attendance"] = field_with_error(self.attendance, "attendanceError")
        form_row(form, "&Attendance:", box, buddy=self.attendance)

        self.problem = problem_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Save Appointment" if editing else "&Book Appointment")
        self.ok_button.setObjectName("saveAppointment")
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("cancel")
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        self.setTabOrder(self.client_edit, self.date_edit)
        self.setTabOrder(self.date_edit, self.time_edit)
        self.setTabOrder(self.time_edit, self.service)
        self.setTabOrder(self.service, self.minutes)
        self.setTabOrder(self.minutes, self.fee)
        self.setTabOrder(self.fee, self.clinician)
        self.setTabOrder(self.clinician, self.attendance)

        self._read_choices()
        if appointment is not None:
            self._show_appointment(appointment)
        else:
            self._show_new(day or clock.today(self.zone), time or DEFAULT_TIME)
        self._filling = False
        self._initial = self._snapshot()
        self._show_zone()
        self._check()
        (self.client_edit if self.client is None and not self.client_edit.isReadOnly()
         else self.date_edit).setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------ filling

    def _read_choices(self) -> None:
        settings = attempt(self, "Practice settings not read", lambda: self.practice.settings.settings(self.actor),
                           report=self.problem.setText)
        if settings and settings.value is not None:
            self.services = settings.value.services
            self.zone = settings.value.zone
        people = attempt(self, "Clinicians not read", lambda: self.appointments.clinicians(self.actor),
                         report=self.problem.setText)
        self.clinicians = list(people.value or [])
        for service in self.services:
            self.service.addItem(f"{service.code} — {service.description}".rstrip(" —"), service.code)
        for person in self.clinicians:
            self.clinician.addItem(person.name, person.id)
        if not self.services and self.appointment is None and settings:
            self._notice(f"The practice lists no services yet. The {who_may_change()} can add them in "
                         "Practice settings; then appointments can be booked.")

    def _notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def _show_new(self, day: dt.date, time: dt.time) -> None:
        self.date_edit.setDate(QDate(day.year, day.month, day.day))
        self.time_edit.setTime(QTime(time.hour, time.minute))
        if self.services:
            self.service.setCurrentIndex(0)
            self._service_chosen(0)
        if self.client is not None:
            self._fix_client(self.client)
        else:
            self._show_client_note()
            if self.roster is None or len(self.roster) == 0:
                self.client_note.setText("The client list is still loading; try again in a moment."
                                         if self.roster is not None else "")
        self._default_clinician()

    def _show_appointment(self, appt: AppointmentRow) -> None:
        self.client = ClientChoice(appt.client_id, appt.client_name, None, appt.client_status)
        self._fix_client(self.client)
        local = appt.start
        self.date_edit.setDate(QDate(local.year, local.month, local.day))
        self.time_edit.setTime(QTime(local.hour, local.minute))
        found = self.service.findData(appt.service_code)
        if found < 0:  # a service since taken off the practice's list: the appointment keeps it
            self.service.addItem(f"{appt.service_code} — {appt.service_description or 'no longer offered'}",
                                 appt.service_code)
            found = self.service.count() - 1
        self.service.setCurrentIndex(found)
        self.minutes.setValue(appt.minutes)
        self.fee.setText(f"{appt.fee:.2f}")
        if appt.clinician_id is None:
            self.clinician.addItem("No clinician", None)
            self.clinician.setCurrentIndex(self.clinician.count() - 1)
        else:
            at = self.clinician.findData(appt.clinician_id)
            if at < 0:  # no longer an active clinician: still who it was with
                self.clinician.addItem(appt.clinician_name or "Former clinician", appt.clinician_id)
                at = self.clinician.count() - 1
            self.clinician.setCurrentIndex(at)
        self.attendance.setCurrentIndex(self.attendance.findData(appt.attendance))
        self.setWindowTitle(f"Edit appointment — {appt.client_name}")
        if appt.billed:
            self._notice("This appointment is on a billing document, which keeps the figures it "
                         "printed; it can no longer be changed.")
            for widget in (self.date_edit, self.time_edit, self.service, self.minutes, self.fee,
                           self.clinician, self.attendance):
                widget.setEnabled(False)
            self.ok_button.hide()
            self.cancel_button.setText("Close")

    def _fix_client(self, client: ClientChoice) -> None:
        """A client given (from a profile, or the appointment's own): shown, not typed."""
        self.client_edit.setText(client.name)
        self.client_edit.setReadOnly(True)
        self.client_edit.setClearButtonEnabled(False)
        self.client_edit.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.client_edit.setStyleSheet("QLineEdit { background: transparent; border: none; font-weight: bold; }")
        self.client_edit.setPlaceholderText("")
        self.client_note.setText(client.described())
        self.client_note.setVisible(bool(self.client_note.text()))

    def _default_clinician(self) -> None:
        """A booking starts on "Client's clinician" (the controller's default), named as it will be."""
        if self.appointment is not None:
            return
        self.clinician.setItemText(0, self.default_clinician_words())
        self.clinician.setCurrentIndex(0)

    def default_clinician_words(self) -> str:
        """Who ``AppointmentsController.book`` books with when no clinician is chosen, in words.

        The controller's rule decides (``default_clinician``), from the clinicians listed here
        (the active users who see clients).
        """
        client = self.client
        if client is None:
            return "Client's clinician"
        names = {person.id: person.name for person in self.clinicians}
        chosen = default_clinician(self.actor, client.clinician_id, names.__contains__)
        if chosen is not None and chosen == client.clinician_id:
            return f"Client's clinician ({names[chosen]})"
        why = "the client has none" if client.clinician_id is None else "theirs no longer sees clients"
        if chosen is not None:
            return f"You ({names.get(chosen, self.actor.display_name)}): {why}"
        return f"No clinician: {why}"

    # ------------------------------------------------------------ the client

    def _client_typed(self, text: str) -> None:
        """Answer a keystroke from the roster in memory: the first matching clients, in name order."""
        if self.client is not None:
            self.client = None
            self._show_client_note()
            if self.appointment is None:
                self.clinician.setItemText(0, self.default_clinician_words())
        self.matches.clear()
        roster = self.roster
        self._matches = matching_clients(roster, text) if roster is not None else []
        for slot in self._matches:
            assert roster is not None
            choice = roster_choice(roster, slot)
            details = [roster.name(slot)]
            if choice.date_of_birth:
                details.append(f"born {choice.date_of_birth}")
            if choice.status is ClientStatus.INACTIVE:
                details.append("inactive")
            clinician = roster.clinician(slot)
            if clinician:
                details.append(clinician)
            item = QStandardItem("  ·  ".join(details))
            item.setToolTip(item.text())
            item.setData(slot, ClientRole)
            item.setEditable(False)
            self.matches.appendRow(item)
        if self._matches:
            self.completer.complete()
        else:
            self._popup().hide()
        self._show_client_note(typed=text)
        self._check()

    def _client_picked(self, index: QModelIndex) -> None:
        slot = index.data(ClientRole)
        if self.roster is None or slot is None:
            return
        self.choose_client(roster_choice(self.roster, int(slot)))

    def _popup(self) -> QAbstractItemView:
        popup = self.completer.popup()
        assert popup is not None  # a completer always has one
        return popup

    def choose_client(self, client: ClientChoice) -> None:
        """Make ``client`` the one the appointment is for (picked from the matches)."""
        self.client = client
        self.client_edit.setText(client.name)
        self._popup().hide()
        self._default_clinician()
        self._show_client_note()
        self._check()
        self.date_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def _show_client_note(self, typed: str | None = None) -> None:
        if self.client_edit.isReadOnly():
            return
        if self.client is not None:
            self.client_note.setText(f"✓ {self.client.described() or 'chosen'}")
        elif typed is not None and typed.strip() and not self._matches:
            self.client_note.setText("No client matches that (contacts cannot be booked).")
        elif typed is not None and typed.strip():
            self.client_note.setText("Choose the client from the list (↓ then Enter).")
        else:
            self.client_note.setText("")
        self.client_note.setStyleSheet("" if self.client is not None else MUTED)
        self.client_note.setVisible(bool(self.client_note.text()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Down in the client box opens the matches, as in any search field with suggestions.
        if watched is self.client_edit and event.type() == QEvent.Type.KeyPress \
                and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Down \
                and self.client is None and self.matches.rowCount():
            self.completer.complete()
            self._popup().setCurrentIndex(self.matches.index(0, 0))
            return True
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------ checking

    def _service_chosen(self, index: int) -> None:
        """A service chosen: its minutes and fee become the appointment's (they can be changed)."""
        code = self.service.itemData(index)
        for service in self.services:
            if service.code == code:
                self.minutes.setValue(service.minutes)
                self.fee.setText(f"{service.default_fee:.2f}")
                break
        self._changed()

    def _changed(self, *_args: Any) -> None:
        if not self._filling:
            for key in ("start", "date", "service_code", "minutes", "clinician_id", "attendance"):
                say(self.errors[key], None)  # what was refused has been changed: look again on save
            self._check()

    def _fee_problem(self) -> str | None:
        try:
            parse_fee(self.fee.text())
        except InvalidInput as error:
            return str(error)
        return None

    def _check(self) -> bool:
        """Say the fee's problem as typed; Book waits for a client, a service and a fee.

        Not for a clinician: who the appointment is with when nobody is chosen is the
        controller's rule (``book``), offered as the "Client's clinician" choice.
        """
        if self._filling:
            return False
        fee_problem = self._fee_problem() if self.fee.text().strip() else "Type the fee, such as 150.00."
        say(self.errors["fee"], fee_problem if self.fee.text().strip() else None)
        ready = (self.client is not None and self.service.currentIndex() >= 0 and fee_problem is None
                 and (self.appointment is None or not self.appointment.billed))
        self.ok_button.setEnabled(ready)
        return ready

    def _snapshot(self) -> tuple[Any, ...]:
        return (self.client.id if self.client else None, self.client_edit.text(), self.start_text(),
                self.service.currentData(), self.minutes.value(), self.fee.text().strip(),
                self.clinician.currentData(), self.attendance.currentData())

    def has_unsaved_changes(self) -> bool:
        return self.saved_id is None and self._snapshot() != self._initial

    def _show_zone(self, *_args: Any) -> None:
        """Say on which clock the time shown is, and which of two it is in the repeated hour."""
        if self._filling:
            return  # once the form is filled
        day, time = self.date_edit.date().toPython(), self.time_edit.time().toPython()
        if not isinstance(day, dt.date) or not isinstance(time, dt.time):
            self.zone_note.clear()
            return
        wall = dt.datetime.combine(day, time)
        appt = self.appointment
        if appt is not None and self.start_text() == self._initial_when()[0]:
            moment = appt.start  # as stored: it knows which of two repeated times it is
        else:
            try:
                moment = clock.to_utc(wall, self.zone).replace(tzinfo=dt.UTC).astimezone(self.zone)
            except clock.NonexistentTime:
                self.zone_note.setText("not on the clock that day: it goes forward at this hour")
                return
        local = moment.astimezone(self.zone)
        repeated = (wall.replace(tzinfo=self.zone, fold=0).utcoffset()
                    != wall.replace(tzinfo=self.zone, fold=1).utcoffset())
        which = (" — the second of the two, after the clocks went back" if local.fold
                 else " — the first of the two, before the clocks go back") if repeated else ""
        self.zone_note.setText(f"{local.tzname()}{which}")

    def start_text(self) -> str:
        """The start as the controller takes it, on the practice's clock: "2026-11-26 14:30"."""
        return (f"{self.date_edit.date().toString('yyyy-MM-dd')} "
                f"{self.time_edit.time().toString('HH:mm')}")

    def _refused(self, message: str) -> None:
        self.problem.setText(message)

    def _say_refusal(self, error: CaseloadError | None) -> None:
        """A refusal under the field it concerns (and nowhere else), or in the problem line."""
        if isinstance(error, InvalidInput) and error.field in self.errors:
            say(self.errors[error.field], str(error))
            self.problem.clear()

    # ------------------------------------------------------------ saving

    def save(self) -> None:
        if not self._check() or self.client is None:
            return
        self.problem.clear()
        client = self.client
        start: dt.datetime | str = self.start_text()
        minutes = self.minutes.value()
        service, fee = self.service.currentData(), self.fee.text().strip()
        clinician, attendance = self.clinician.currentData(), self.attendance.currentData()
        appt = self.appointment
        moved = appt is None or (start, minutes, clinician) != self._initial_when()
        if appt is not None and start == self._initial_when()[0]:
            # Date and time as they were: the moment itself, not the wall-clock time rebuilt
            # from them, which means the first of two 01:30s on the night the clocks go back.
            start = appt.start
        if moved:
            warned = attempt(self, "Appointment not saved", lambda: self.appointments.warnings(
                self.actor, client.id, start, minutes, clinician, appt.id if appt else None),
                report=self._refused)
            if not warned:
                self._say_refusal(warned.error)
                return
            if not self._answer_warnings(warned.value or [], editing=appt is not None):
                return
        if appt is None:
            booked = attempt(self, "Appointment not booked", lambda: self.appointments.book(
                self.actor, client.id, start, minutes, service, fee, clinician, attendance),
                report=self._refused)
            if not booked or booked.value is None:
                self._say_refusal(booked.error)
                return
            self.saved_id = booked.value
        else:
            if not self._save_changes(appt, start, minutes, service, fee, clinician, attendance):
                return
            self.saved_id = appt.id
        self.saved_day = self.date_edit.date().toPython()  # type: ignore[assignment]
        self.accept()

    def _initial_when(self) -> tuple[Any, ...]:
        _id, _text, start, _service, minutes, _fee, clinician, _attendance = self._initial
        return start, minutes, clinician

    def _save_changes(self, appt: AppointmentRow, start: dt.datetime | str, minutes: int, service: str,
                      fee: str, clinician: int | None, attendance: Attendance) -> bool:
        only_attendance = self._snapshot()[:-1] == self._initial[:-1]
        if only_attendance:
            if attendance is appt.attendance:
                return True  # nothing changed: nothing to save
            # Marking alone leaves the start as stored (an hour that happens twice stays the one it was).
            call: Any = lambda: self.appointments.set_attendance(  # noqa: E731
                self.actor, appt.id, attendance, expected_version=appt.version)
        else:
            call = lambda: self.appointments.edit(  # noqa: E731
                self.actor, appt.id, appt.version, start=start, minutes=minutes, service_code=service,
                fee=fee, clinician_id=clinician, attendance=attendance)
        saved = attempt(self, "Appointment not saved", call, report=self._refused, reload=self._reload_saved)
        if not saved:
            if not isinstance(saved.error, StaleVersion):
                self._say_refusal(saved.error)
            return False
        return True

    def _reload_saved(self) -> None:
        """After someone else saved it: their version in the form, the refusal still said."""
        assert self.appointment is not None
        refusal = self.problem.text()
        found = attempt(self, "Appointment not read", lambda: self.appointments.find(
            self.actor, self.appointment.id if self.appointment else 0), report=self._refused)
        if not found or found.value is None:
            return
        self._filling = True
        self.appointment = found.value
        self.clinician.clear()
        for person in self.clinicians:
            self.clinician.addItem(person.name, person.id)
        self._show_appointment(found.value)
        self._filling = False
        self._initial = self._snapshot()
        self._show_zone()
        self._check()
        self.problem.setText(f"{refusal} The form now shows the saved appointment.")

    def _answer_warnings(self, warned: list[BookingWarning], *, editing: bool) -> bool:
        """Ask about each warning; True to go on and save. Making the client active happens here."""
        for warning in warned:
            if warning.kind == "inactive_client" and not editing:
                if not self._inactive_client(warning):
                    return False
            elif warning.kind == "double_booked":
                if not self._ask(warning.text, "Book it anyway?" if not editing else "Save it anyway?",
                                 "doubleBookedQuestion",
                                 [("Book anyway" if not editing else "Save anyway", "bookAnyway")]):
                    return False
        return True

    def _inactive_client(self, warning: BookingWarning) -> bool:
        assert self.client is not None
        client = self.client
        if not self.actor.can(Action.CHANGE_STATUS, client.clinician_id):
            return self._ask(warning.text, f"You cannot make {client.name} active; someone who can change "
                             "a client's status can. Book the appointment anyway?", "inactiveQuestion",
                             [("Book anyway", "bookAnyway")])
        answer = self._ask(warning.text, "Make them active first?", "inactiveQuestion",
                           [("Make active and book", "makeActive"), ("Book anyway", "bookAnyway")],
                           returns_name=True)
        if answer == "bookAnyway":
            return True
        if answer != "makeActive":
            return False
        made = attempt(self, "Not made active", lambda: self.practice.clients.set_status(
            self.actor, client.id, ClientStatus.ACTIVE), report=lambda _message: None)
        if made:
            self.made_active = client.id
            self.client = ClientChoice(client.id, client.name, client.clinician_id, ClientStatus.ACTIVE,
                                       client.date_of_birth)
            return True
        return self._ask(f"{client.name} was not made active: {made.error}",
                         "Book the appointment anyway, with the client still inactive?",
                         "notMadeActiveQuestion", [("Book anyway", "bookAnyway")])

    def _ask(self, text: str, question: str, name: str, choices: list[tuple[str, str]], *,
             returns_name: bool = False) -> Any:
        """A warning box with ``choices`` (label, object name) and Cancel. True (or the chosen
        button's object name, with ``returns_name``) unless Cancel was chosen."""
        box = QMessageBox(self)
        box.setObjectName(name)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(self.windowTitle())
        box.setTextFormat(Qt.TextFormat.PlainText)  # it names a person
        box.setText(text)
        box.setInformativeText(question)
        buttons = {}
        for label, object_name in choices:
            button = box.addButton(label, QMessageBox.ButtonRole.AcceptRole)
            button.setObjectName(object_name)
            buttons[button] = object_name
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        cancel.setObjectName("cancel")
        box.setDefaultButton(cancel)
        box.exec()
        chosen = buttons.get(box.clickedButton())  # type: ignore[call-overload]
        return chosen if returns_name else chosen is not None

