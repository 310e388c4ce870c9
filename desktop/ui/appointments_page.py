"""The Appointments page: one day on the practice's clock, its appointments, and what to do with them.

The page asks the appointments controller for the shown day (``day``) and
hands the rows to ``DayModel``, which renders a cell only when the view asks
for it; neither runs SQL. Previous day, Today, Next day and the date picker
move the day; the clinician filter narrows it (an own-clients clinician is
shown only their clients' appointments: the controller's rows already are).
New appointment, Edit and Mark act on the selected row; a refusal is said the
one way every window says it (``operation.attempt``), and an appointment saved
meanwhile by someone else offers Reload.

Times are shown on the practice's clock (docs/rules.md, "Appointments"); on a
day the clocks change, the header says so and each time carries its zone
abbreviation, because 01:30 happens twice in autumn.

A practice of millions of appointments has about 5,000 a day, and reading one
takes the controller 40–90 ms (``benchmarks/appointments_day.py``): more than
a click may take. So a read the last one showed to be quick is done on the
spot, and a slow one runs on a worker thread (``operation.in_background``)
while the window stays responsive; the days either side of the one shown are
read ahead the same way, so Previous day and Next day show at once. Whatever
was read is forgotten when ``reload`` says something changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QContextMenuEvent,
    QFont,
    QKeySequence,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.appointments import HAPPENED, ID_OF, AppointmentRow, DayView
from desktop.controllers.errors import CaseloadError, NotSignedIn
from desktop.controllers.permissions import Action, Actor, Scope
from desktop.controllers.practice import Practice
from desktop.controllers.roster import Roster
from desktop.domain import clock
from desktop.domain.models import Attendance, ClientStatus
from desktop.ui.operation import Outcome, attempt, in_background, let_go
from desktop.ui.widgets import ColumnFitter, heading_label, list_table

ROW_HEIGHT = 26
COLUMNS = ("Time", "Client", "Clinician", "Service", "Minutes", "Attendance")
TIME, CLIENT, CLINICIAN, SERVICE, MINUTES, ATTENDANCE = range(len(COLUMNS))
# How the columns share the table's width, and how narrow each may get (below the sum the
# table scrolls sideways). None is sized to its contents: that measures every row of a busy day.
WEIGHTS = {TIME: 110, CLIENT: 300, CLINICIAN: 170, SERVICE: 240, MINUTES: 70, ATTENDANCE: 110}
MINIMUMS = {TIME: 100, CLIENT: 160, CLINICIAN: 120, SERVICE: 140, MINUTES: 64, ATTENDANCE: 96}
ZONED_TIME_WIDTH = 170  # "01:30 EDT – 01:30 EST", on a day the clocks change
IdRole = Qt.ItemDataRole.UserRole + 1
# A day read quicker than this is read on the spot; slower, on a worker thread with the days
# either side read ahead (benchmarks/appointments_day.py). Until one read is timed, reads are slow.
SYNC_READ_S = 0.030
CACHED_DAYS = 7
SAY_READING_AFTER_MS = 200  # a read answered sooner never shows "Reading…"
READ_AHEAD_AFTER_MS = 100  # the days either side are read this long after a day is shown
# Rows shown at once of a day that is slow to read whole: more than a tall window shows.
FIRST_ROWS = 80

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_ACCESSIBLE = int(Qt.ItemDataRole.AccessibleTextRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ID = int(IdRole)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_MUTED = QBrush(QColor(110, 110, 110))
# Appointments that did not (or will not) take the clinician's time are shown greyed.
_CALLED_OFF = (Attendance.CANCELLED, Attendance.LATE_CANCEL)


def day_in_words(day: dt.date) -> str:
    """ "Thursday 26 November 2026" (no leading zero, on every platform)."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def clock_change(day: dt.date, zone_name: str) -> str:
    """What a day the clocks change is like, in words ("" on an ordinary day)."""
    begin, end = clock.day_bounds(day, clock.zone(zone_name))
    hours = round((end - begin).total_seconds() / 3600)
    if hours < 24:
        return f"the clocks go forward an hour: a {hours}-hour day"
    if hours > 24:
        return f"the clocks go back an hour: a {hours}-hour day"
    return ""


def end_of(row: AppointmentRow) -> dt.datetime:
    """When an appointment ends on the practice's clock, counted in real minutes (across a
    clock change too, which wall-clock arithmetic on an aware time would get wrong)."""
    start = row.start
    return (start.astimezone(dt.UTC) + dt.timedelta(minutes=row.minutes)).astimezone(start.tzinfo)


def time_text(row: AppointmentRow, *, zoned: bool) -> str:
    end = end_of(row)
    if zoned:
        return f"{row.start:%H:%M %Z} – {end:%H:%M %Z}"
    return f"{row.start:%H:%M} – {end:%H:%M}"


def has_begun(row: AppointmentRow) -> bool:
    return row.start <= dt.datetime.now(dt.UTC)


class DayKey(NamedTuple):
    """What a read is of: a day, and the clinician filter (None: all)."""

    day: dt.date
    clinician_id: int | None


class DayModel(QAbstractTableModel):
    """One day's appointments as the controller returned them; cells are rendered when shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: tuple[AppointmentRow, ...] = ()
        self.zoned = False
        self._texts: dict[int, tuple[str, ...]] = {}
        self._italic = QFont()
        self._italic.setItalic(True)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == _ALIGN and section == MINUTES:
            return _RIGHT
        return None

    def _row_texts(self, r: int) -> tuple[str, ...]:
        texts = self._texts.get(r)
        if texts is None:
            a = self.rows[r]
            client = a.client_name + (" (inactive)" if a.client_status is ClientStatus.INACTIVE else "")
            service = f"{a.service_code} {a.service_description}".strip()
            texts = (time_text(a, zoned=self.zoned), client, a.clinician_name or "No clinician", service,
                     str(a.minutes), a.attendance.label)
            self._texts[r] = texts
        return texts

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        if role == _DISPLAY or role == _ACCESSIBLE:
            return self._row_texts(index.row())[index.column()]
        if role == _ID:
            return self.rows[index.row()].id
        if role == _FOREGROUND:
            a = self.rows[index.row()]
            if a.attendance in _CALLED_OFF or (index.column() == CLINICIAN and not a.clinician_name):
                return _MUTED
            return None
        if role == _ALIGN:
            return _RIGHT if index.column() == MINUTES else None
        if role == _FONT:
            a = self.rows[index.row()]
            return self._italic if index.column() == CLINICIAN and not a.clinician_name else None
        if role == _TOOLTIP:
            a = self.rows[index.row()]
            notes = [self._row_texts(index.row())[index.column()]]
            if a.billed:
                notes.append("On a billing document: it can no longer be changed.")
            if a.manual_billing_only:
                notes.append("Took place while the client was inactive: billed only by hand.")
            return "\n".join(notes)
        return None

    def set_rows(self, rows: Sequence[AppointmentRow], *, zoned: bool, ids: Sequence[int] | None = None) -> None:
        """Show ``rows``, keeping the selected and current appointments selected where they still are.

        Like the Clients list, one ``layoutChanged`` with the persistent indexes moved: the view
        repaints only what it shows, and the selection follows the appointment, not the row number.
        ``ids``: the rows' ids in order (``DayView.ids``), where the selection is looked for if
        it is not where it was; made here if not given.
        """
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        before = self.rows
        tracked = [before[p.row()].id if 0 <= p.row() < len(before) else None for p in persistent]
        self.rows = tuple(rows)
        self.zoned = zoned
        self._texts = {}
        if persistent:
            where = self._rows_of({i for i in tracked if i is not None},
                                  {i: p.row() for p, i in zip(persistent, tracked, strict=True) if i is not None},
                                  ids)
            self.changePersistentIndexList(persistent, [
                self.index(where[i], p.column()) if i in where else QModelIndex()
                for p, i in zip(persistent, tracked, strict=True)])
        self.layoutChanged.emit()
        if before is not self.rows:
            let_go(before)  # a day dropped from the cache is freed off the window's thread

    def _rows_of(self, wanted: set[int], were: dict[int, int], ids: Sequence[int] | None) -> dict[int, int]:
        """Where the appointments ``wanted`` are now, by id: first where each was (the day's first
        rows replaced by the whole day keep their places), then by one search in C of the rows'
        ``ids`` (``DayView.ids``, made off the window's thread), not a dictionary of a whole busy
        day's rows (10–20 ms on the window's thread)."""
        rows, found = self.rows, {}
        for i in wanted:
            r = were.get(i, -1)
            if 0 <= r < len(rows) and rows[r].id == i:
                found[i] = r
        missing = wanted - found.keys()
        if missing:
            every = ids if ids is not None else tuple(map(ID_OF, rows))
            for i in missing:
                with contextlib.suppress(ValueError):
                    found[i] = every.index(i)
        return found

    def row_of(self, appointment_id: int) -> int | None:
        for r, a in enumerate(self.rows):
            if a.id == appointment_id:
                return r
        return None


class DayTable(QTableView):
    """The day's table: a right-click (or the Menu key) asks for the row's menu."""

    menuRequested = Signal(QModelIndex, QPoint)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            index = self.indexAt(self.viewport().mapFromGlobal(event.globalPos()))
            where = event.globalPos()
        else:
            index = self.currentIndex()
            where = self.viewport().mapToGlobal(self.visualRect(index).center())
        if index.isValid():
            self.menuRequested.emit(index, where)
            event.accept()


class AppointmentsPage(QWidget):
    """A day's appointments, the controls that choose the day, and the actions on them."""

    openClientRequested = Signal(int)  # a client id: open their profile
    clientChanged = Signal(int)  # a client was made active from the appointment dialog
    dayShown = Signal()  # the shown day was read (or its reading refused) and is on screen
    countsChanged = Signal(str)  # what the page shows, for the window's status bar
    sessionEnded = Signal(str)  # the practice refused this person (deactivated, role changed): why

    def __init__(self, practice: Practice, actor: Actor, roster: Roster, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("appointmentsPage")
        self.practice = practice
        self.appointments = practice.appointments
        self.actor = actor
        self.roster = roster
        self.allowed = actor.can(Action.MANAGE_APPOINTMENTS, any_client=True)
        self.view: DayView | None = None
        self.row_menu: QMenu | None = None
        self.sync_read_limit = SYNC_READ_S
        self._read_seconds = float("inf")  # not timed yet: the first read runs on a worker thread
        self._stale = True  # the shown day needs reading when the page is next shown
        self._epoch = 0
        self._cache: OrderedDict[DayKey, DayView] = OrderedDict()
        self._pending: set[DayKey] = set()
        self._wanted: DayKey | None = None  # the day the person asked to see
        self._shown: DayKey | None = None  # the day whose rows the table holds
        self._select_after: int | None = None
        self._first_rows_seconds = 0.0  # how long the last read of a day's first rows took
        self.first_rows_limit = SYNC_READ_S  # slower than this, they are not read on the spot
        # The practice's zone decides which day is today. It is not read here, on the GUI thread
        # (the page is made by the first click on it, and the server may be far away): every
        # day read says it (``DayView.zone_name``), and until the first one has, the computer's
        # zone stands in, unnamed (``_display`` turns to the practice's today if it differs).
        self.zone_name = clock.computer_zone_name()
        self._zone_known = False
        self.day = clock.today(clock.zone(self.zone_name))

        self.heading = heading_label(name="dayHeading", scale=1.35)
        self.heading.setWordWrap(False)
        self.subheading = QLabel()
        self.subheading.setObjectName("daySummary")
        self.subheading.setTextFormat(Qt.TextFormat.PlainText)

        self.previous_button = self._button("◀ &Previous day", "previousDay", self.previous_day,
                                            "The day before (Alt+Left)")
        self.today_button = self._button("&Today", "today", self.today, "Today on the practice's clock")
        self.next_button = self._button("Ne&xt day ▶", "nextDay", self.next_day, "The day after (Alt+Right)")
        self.date_edit = QDateEdit()
        self.date_edit.setObjectName("datePicker")
        self.date_edit.setAccessibleName("Day shown")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setDateRange(QDate(1900, 1, 1), QDate(2200, 12, 31))
        self.date_edit.setKeyboardTracking(False)  # a typed date is read once, not at every digit
        self.date_edit.dateChanged.connect(self._date_picked)
        date_label = QLabel("&Day:")
        date_label.setBuddy(self.date_edit)

        self.clinician_filter = QComboBox()
        self.clinician_filter.setObjectName("clinicianFilter")
        self.clinician_filter.setAccessibleName("Clinician")
        self.clinician_filter.addItem("All clinicians", None)
        self.clinician_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.clinician_filter.currentIndexChanged.connect(self._filter_changed)
        clinician_label = QLabel("C&linician:")
        clinician_label.setBuddy(self.clinician_filter)

        self.new_button = self._button("&New appointment…", "newAppointment", self.new_appointment,
                                       "Book an appointment on the day shown")
        self.edit_button = self._button("&Edit…", "editAppointment", self.edit_selected,
                                        "Change the selected appointment (Enter or double-click)")
        self.mark_button = QPushButton("&Mark")
        self.mark_button.setObjectName("markAttendance")
        self.mark_button.setAccessibleName("Mark attendance")
        self.mark_button.setToolTip("Mark what became of the selected appointment")
        self.mark_menu = QMenu(self.mark_button)
        self.mark_menu.setObjectName("markMenu")
        self.mark_actions = self._attendance_actions(self.mark_menu)
        self.mark_menu.aboutToShow.connect(self._update_mark_actions)
        self.mark_button.setMenu(self.mark_menu)

        self.model = DayModel(self)
        self.table = DayTable()
        self.table.setObjectName("appointmentsTable")
        self.table.setAccessibleName("Appointments")
        self.table.setAccessibleDescription("Enter or double-click edits the appointment; "
                                            "the Menu key or a right-click shows more.")
        self.table.setModel(self.model)
        list_table(self.table, ROW_HEIGHT)
        self.columns = ColumnFitter(self.table, WEIGHTS, MINIMUMS)  # the columns always share its width
        self.table.activated.connect(self._activated)
        self.table.menuRequested.connect(self._row_menu)
        selection = self.table.selectionModel()
        selection.selectionChanged.connect(self._update_buttons)
        self.model.layoutChanged.connect(self._update_buttons)

        self.empty = QLabel()
        self.empty.setObjectName("emptyDay")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.empty.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.empty.setFont(font)
        self.area = QStackedWidget()
        self.area.setObjectName("dayArea")
        self.area.addWidget(self.table)
        self.area.addWidget(self.empty)

        moves = QHBoxLayout()
        moves.addWidget(self.previous_button)
        moves.addWidget(self.today_button)
        moves.addWidget(self.next_button)
        moves.addSpacing(8)
        moves.addWidget(date_label)
        moves.addWidget(self.date_edit)
        moves.addSpacing(16)
        moves.addWidget(clinician_label)
        moves.addWidget(self.clinician_filter)
        moves.addStretch(1)
        actions = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.heading)
        titles.addWidget(self.subheading)
        actions.addLayout(titles, 1)
        actions.addWidget(self.new_button, 0, Qt.AlignmentFlag.AlignBottom)
        actions.addWidget(self.edit_button, 0, Qt.AlignmentFlag.AlignBottom)
        actions.addWidget(self.mark_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.addLayout(moves)
        layout.addSpacing(4)
        layout.addLayout(actions)
        layout.addWidget(self.area, 1)

        for keys, slot in ((QKeySequence("Alt+Left"), self.previous_day),
                           (QKeySequence("Alt+Right"), self.next_day)):
            shortcut = QShortcut(keys, self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

        self.setTabOrder(self.previous_button, self.today_button)
        self.setTabOrder(self.today_button, self.next_button)
        self.setTabOrder(self.next_button, self.date_edit)
        self.setTabOrder(self.date_edit, self.clinician_filter)
        self.setTabOrder(self.clinician_filter, self.new_button)
        self.setTabOrder(self.new_button, self.edit_button)
        self.setTabOrder(self.edit_button, self.mark_button)
        self.setTabOrder(self.mark_button, self.table)

        if not self.allowed:
            # Biller: the page is not offered (the permission table); if shown, it says why.
            for widget in (self.previous_button, self.today_button, self.next_button, self.date_edit,
                           self.clinician_filter, self.new_button, self.edit_button, self.mark_button):
                widget.setEnabled(False)
            self.new_button.hide()
            self.edit_button.hide()
            self.mark_button.hide()
            self._say_empty("Your role does not book or change appointments.")
            self._stale = False
        else:
            self._fill_clinicians()
        self._show_date(self.day)
        self._update_buttons()

    def _button(self, text: str, name: str, slot: Any, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", "").strip("◀▶… "))
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _attendance_actions(self, menu: QMenu) -> dict[Attendance, Any]:
        found = {}
        for state in Attendance:
            action = menu.addAction(state.label)
            action.setObjectName(f"mark-{state.value}")
            action.setCheckable(True)
            action.triggered.connect(lambda _checked=False, s=state: self.mark_selected(s))
            found[state] = action
        return found

    def _fill_clinicians(self) -> None:
        """The clinicians to filter by, read off the GUI thread (the page is made by a click)."""
        appointments, actor = self.appointments, self.actor
        in_background(self, "Clinicians not read", lambda: appointments.clinicians(actor),
                      self._clinicians_read, report=lambda _message: None)  # then only "All clinicians"

    def _clinicians_read(self, outcome: Outcome[Any]) -> None:
        for clinician in outcome.value or []:
            self.clinician_filter.addItem(clinician.name, clinician.id)

    # ------------------------------------------------------------ the day

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.reload()

    def show_day(self, day: dt.date) -> None:
        """Show ``day`` (on the practice's clock)."""
        self.day = day
        self._show_date(day)
        if self.allowed and self.isVisible():
            self._present(DayKey(day, self.clinician_id()))
        elif self.allowed:
            self._stale = True

    def previous_day(self) -> None:
        if self.allowed:
            self.show_day(self.day - dt.timedelta(days=1))

    def next_day(self) -> None:
        if self.allowed:
            self.show_day(self.day + dt.timedelta(days=1))

    def today(self) -> None:
        if self.allowed:
            self.show_day(clock.today(clock.zone(self.zone_name)))

    def _date_picked(self, picked: QDate) -> None:
        day = picked.toPython()
        if isinstance(day, dt.date) and day != self.day:
            self.show_day(day)

    def _filter_changed(self, _index: int) -> None:
        self.show_day(self.day)

    def _show_date(self, day: dt.date) -> None:
        if self.date_edit.date().toPython() != day:
            blocked = self.date_edit.blockSignals(True)
            self.date_edit.setDate(QDate(day.year, day.month, day.day))
            self.date_edit.blockSignals(blocked)

    def clinician_id(self) -> int | None:
        return self.clinician_filter.currentData()

    def reload(self) -> None:
        """Read the shown day again (after a change here or elsewhere), keeping the selection.

        Every day read before is forgotten: any of them may have changed too.
        """
        if not self.allowed:
            return
        self._epoch += 1
        self._forget_days()
        self._pending.clear()
        self._first_rows_seconds = 0.0  # a slow one before may have been a cold start: try again
        if not self.isVisible():
            self._stale = True  # read when next shown: nobody is looking now
            return
        self._present(DayKey(self.day, self.clinician_id()))

    # How a day is read. A read the last one showed to be quick is done on the spot; a slow one
    # (a busy practice: thousands of appointments a day) runs on a worker thread while the window
    # stays responsive, and the days either side of the one shown are read ahead the same way,
    # so Previous day and Next day find them ready. Whatever was read belongs to one ``epoch``:
    # ``reload`` starts a new one, and an older answer arriving afterwards is dropped.

    def _present(self, key: DayKey) -> None:
        self._stale = False
        self._wanted = key
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self._display(cached)
            return
        if self._read_seconds <= self.sync_read_limit:
            started = time.perf_counter()
            read = attempt(self, "Appointments not read",
                           lambda: self.appointments.day(self.actor, key.day, key.clinician_id),
                           report=lambda message: self._refused(key, message))
            if read and read.value is not None:
                self._read_seconds = time.perf_counter() - started
                self._remember(key, read.value)
                self._display(read.value)
            self._ended(read.error)
            return
        if key != self._shown:
            first = self._show_first_rows(key)
            if first in ("whole", "refused"):
                return  # nothing more to read (a refusal has been said)
            if first == "skipped":
                self._show_waiting(key)  # the same day read again keeps its rows meanwhile
        self._read_in_background(key)

    def _show_first_rows(self, key: DayKey) -> Literal["whole", "partial", "refused", "skipped"]:
        """Show the first screenful of a day that is slow to read whole, read on the spot (a few
        milliseconds at any size of day), while the whole day is read off the GUI thread.

        Skipped once such a read has been slow itself (a server far away): then the page says
        it is reading, as before, until the page is reloaded. A quiet day may come whole.

        Says what came of it: the whole day (shown and kept), its first rows (shown), a
        refusal (said), or nothing tried."""
        if self._first_rows_seconds > self.first_rows_limit:
            return "skipped"
        started = time.perf_counter()
        read = attempt(self, "Appointments not read",
                       lambda: self.appointments.day(self.actor, key.day, key.clinician_id, first=FIRST_ROWS),
                       report=lambda message: self._refused(key, message))
        self._first_rows_seconds = time.perf_counter() - started
        self._ended(read.error)
        if not read or read.value is None:
            return "refused"
        if read.value.complete:
            self._remember(key, read.value)
        self._display(read.value)
        return "whole" if read.value.complete else "partial"

    def _read_in_background(self, key: DayKey) -> None:
        if key in self._pending:
            return  # already under way: its answer will be shown if it is still wanted
        epoch = self._epoch
        self._pending.add(key)
        actor, appointments = self.actor, self.appointments

        def read() -> tuple[DayView, float]:
            started = time.perf_counter()
            view = appointments.day(actor, key.day, key.clinician_id)
            return view, time.perf_counter() - started

        in_background(self, "Appointments not read", read, lambda outcome: self._arrived(key, epoch, outcome),
                      report=lambda message: self._refused(key, message) if epoch == self._epoch else None)

    def _arrived(self, key: DayKey, epoch: int, outcome: Outcome[tuple[DayView, float]]) -> None:
        if epoch != self._epoch:
            return  # read before a change: the newer read decides what is shown
        self._pending.discard(key)
        self._ended(outcome.error)
        if not outcome or outcome.value is None:
            if key == self._wanted and outcome.error is None:  # a bug (the crash handler said so)
                self._refused(key, "The appointments could not be read.")
            return
        view, seconds = outcome.value
        self._read_seconds = seconds
        self._remember(key, view)
        if key == self._wanted:
            self._display(view)  # over the first rows, if they were shown: a row picked stays picked

    def _ended(self, error: CaseloadError | None) -> None:
        if isinstance(error, NotSignedIn):
            self.sessionEnded.emit(str(error))

    def _forget_days(self) -> None:
        """Forget every day read: their rows (seven days of 50,000 at a million clients) are
        freed off the window's thread, as one dropped from the cache is."""
        for view in self._cache.values():
            let_go(view.rows)
        self._cache.clear()

    def _remember(self, key: DayKey, view: DayView) -> None:
        self._cache[key] = view
        self._cache.move_to_end(key)
        while len(self._cache) > CACHED_DAYS:
            _key, dropped = self._cache.popitem(last=False)
            let_go(dropped.rows)

    def _read_ahead(self, key: DayKey) -> None:
        """Read the days either side of ``key`` off the GUI thread, if reading is slow."""
        if self._read_seconds <= self.sync_read_limit:
            return  # reading on the spot is quick enough: nothing to gain
        for step in (1, -1):
            near = DayKey(key.day + dt.timedelta(days=step), key.clinician_id)
            if near not in self._cache:
                self._read_in_background(near)

    def _zoned(self, day: dt.date) -> str:
        return f"{day_in_words(day)} · {self.zone_name}" if self._zone_known else day_in_words(day)

    def _show_waiting(self, key: DayKey) -> None:
        """The day asked for is being read: say so at once; the old rows cannot be acted on."""
        self.heading.setText(self._zoned(key.day))
        self.subheading.setText("Reading the appointments…")
        self.table.setEnabled(False)
        self._update_buttons()
        QTimer.singleShot(SAY_READING_AFTER_MS, self, lambda: self._still_waiting(key))

    def _still_waiting(self, key: DayKey) -> None:
        if self._wanted == key and not self.table.isEnabled() and key not in self._cache:
            self._say_empty(f"Reading the appointments of {day_in_words(key.day)}…")

    def _refused(self, key: DayKey, message: str) -> None:
        if key != self._wanted:
            return  # a read ahead: nobody asked to see it yet
        self.model.set_rows((), zoned=False)
        self.table.setEnabled(True)
        self._shown = None
        self._say_empty(message, refused=True)
        self.countsChanged.emit(message)
        self.dayShown.emit()

    def _display(self, view: DayView) -> None:
        if not self._zone_known:
            self._zone_known = True
            guessed, self.zone_name = self.zone_name, view.zone_name
            today = clock.today(clock.zone(view.zone_name))
            if view.zone_name != guessed and view.day == clock.today(clock.zone(guessed)) and view.day != today:
                self.show_day(today)  # the computer's today is not the practice's: show the practice's
                return
        self.view = view
        self._shown = self._wanted
        self.zone_name = view.zone_name
        change = clock_change(view.day, view.zone_name)
        self.model.set_rows(view.rows, zoned=bool(change), ids=view.ids)
        self.columns.make_room(TIME, ZONED_TIME_WIDTH if change else MINIMUMS[TIME])
        self.table.setEnabled(True)
        self._show_heading(view, change)
        if view.rows:
            self.area.setCurrentWidget(self.table)
        else:
            who = self.clinician_filter.currentText() if self._wanted and self._wanted.clinician_id else ""
            self._say_empty(f"No appointments on {day_in_words(view.day)}"
                            + (f" with {who}" if who else "") + ".")
        if not view.complete:
            self.subheading.setText("Reading the rest of the day's appointments…")
            self._update_buttons()
            self.countsChanged.emit(f"Reading the appointments of {day_in_words(view.day)}…")
            return  # the whole day follows: its count, its read-ahead
        if self._select_after is not None:
            chosen, self._select_after = self._select_after, None
            self.select_appointment(chosen)
        self._update_buttons()
        count = len(view.rows)
        self.countsChanged.emit(f"{count:,} appointment{'' if count == 1 else 's'} on {day_in_words(view.day)}"
                                if count else f"No appointments on {day_in_words(view.day)}")
        self.dayShown.emit()
        # After the repaint, not alongside it: a read going on meanwhile made it three times slower.
        key = DayKey(view.day, self._wanted.clinician_id if self._wanted else None)
        QTimer.singleShot(READ_AHEAD_AFTER_MS, self, lambda: self._read_ahead(key))

    def _show_heading(self, view: DayView, change: str) -> None:
        self.heading.setText(f"{day_in_words(view.day)} · {view.zone_name}")
        count = len(view.rows)
        parts = [f"{count:,} appointment{'' if count == 1 else 's'}" if count else "No appointments"]
        if change:
            parts.append(change)
        if self.actor.scope(Action.MANAGE_APPOINTMENTS) is Scope.ASSIGNED:
            parts.append("only your clients' appointments are shown")
        self.subheading.setText(" · ".join(parts))

    def _say_empty(self, message: str, *, refused: bool = False) -> None:
        self.empty.setText(message)
        self.empty.setAccessibleName(message)
        self.area.setCurrentWidget(self.empty)
        if refused:
            self.heading.setText(self._zoned(self.day))
            self.subheading.setText("")

    # ------------------------------------------------------------ the rows

    def selected(self) -> AppointmentRow | None:
        """The selected appointment, if the table shows one (and not while another day is read)."""
        if self.area.currentWidget() is not self.table or not self.table.isEnabled():
            return None
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.model.rows):
            return None
        return self.model.rows[rows[0].row()]

    def select_appointment(self, appointment_id: int) -> bool:
        row = self.model.row_of(appointment_id)
        if row is None:
            return False
        index = self.model.index(row, CLIENT)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        return True

    def _update_buttons(self, *_args: object) -> None:
        chosen = self.selected()
        self.edit_button.setEnabled(self.allowed and chosen is not None)
        self.mark_button.setEnabled(self.allowed and chosen is not None and not chosen.billed)
        self.mark_button.setToolTip("This appointment is on a billing document and can no longer be changed."
                                    if chosen is not None and chosen.billed
                                    else "Mark what became of the selected appointment")

    def _update_mark_actions(self) -> None:
        chosen = self.selected()
        for state, action in self.mark_actions.items():
            action.setChecked(chosen is not None and chosen.attendance is state)
            # docs/rules.md, "Appointments": attended and no-show only once it has begun.
            action.setEnabled(chosen is not None and not chosen.billed
                              and (state not in HAPPENED or has_begun(chosen)))

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.edit_selected()

    def _row_menu(self, index: QModelIndex, where: QPoint) -> None:
        chosen = self.model.rows[index.row()]
        menu = QMenu(self.table)
        menu.setObjectName("appointmentMenu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        edit = menu.addAction("&Edit appointment…")
        edit.setObjectName("editFromMenu")
        edit.triggered.connect(self.edit_selected)
        open_client = menu.addAction("&Open client profile")
        open_client.setObjectName("openClientProfile")
        open_client.triggered.connect(lambda: self.openClientRequested.emit(chosen.client_id))
        mark = menu.addMenu("&Mark")
        mark.setObjectName("markFromMenu")
        mark.menuAction().setObjectName("markFromMenu")
        actions = self._attendance_actions(mark)
        for state, action in actions.items():
            action.setChecked(chosen.attendance is state)
            action.setEnabled(not chosen.billed and (state not in HAPPENED or has_begun(chosen)))
        menu.setDefaultAction(edit)
        self.row_menu = menu
        menu.destroyed.connect(lambda *_a: setattr(self, "row_menu", None))
        menu.popup(where)

    # ------------------------------------------------------------ actions

    def new_appointment(self) -> None:
        from desktop.ui.dialogs.appointment import AppointmentDialog

        if not self.allowed:
            return
        dialog = AppointmentDialog(self.practice, self.actor, roster=self.roster, day=self.day, parent=self)
        self._run(dialog)

    def edit_selected(self) -> None:
        from desktop.ui.dialogs.appointment import AppointmentDialog

        chosen = self.selected()
        if chosen is None:
            return
        found = attempt(self, "Cannot edit", lambda: self.appointments.find(self.actor, chosen.id),
                        reload=self.reload)
        if not found or found.value is None:
            self._ended(found.error)
            self.reload()  # it may be gone, or no longer this person's to manage
            return
        dialog = AppointmentDialog(self.practice, self.actor, appointment=found.value, parent=self)
        self._run(dialog)

    def _run(self, dialog: Any) -> None:
        dialog.exec()
        if dialog.made_active is not None:
            self.clientChanged.emit(dialog.made_active)
        if dialog.saved_id is not None:
            self._select_after = dialog.saved_id  # once its day is shown
            if dialog.saved_day is not None and dialog.saved_day != self.day:
                self._epoch += 1  # every day read may have changed (a client made active, too)
                self._forget_days()
                self._pending.clear()
                self.show_day(dialog.saved_day)
            else:
                self.reload()
        dialog.deleteLater()

    def mark_selected(self, state: Attendance) -> None:
        chosen = self.selected()
        if chosen is None or chosen.attendance is state:
            return
        marked = attempt(self, "Attendance not changed", lambda: self.appointments.set_attendance(
            self.actor, chosen.id, state, expected_version=chosen.version), reload=self.reload)
        if marked and marked.value is not None:
            # Shown at once; the day is read again to pick up whatever else changed.
            row = self.model.row_of(chosen.id)
            if row is not None:
                rows = list(self.model.rows)
                rows[row] = dataclasses.replace(chosen, attendance=state, version=marked.value)
                self.model.set_rows(rows, zoned=self.model.zoned)
        self._ended(marked.error)
        self.reload()
