"""The idle lock: a warning after some minutes without input, then a lock that shows no client data.

``IdleWatcher`` notes every key press, mouse press or move, wheel turn and touch
anywhere in the application. After the practice's *idle lock minutes* without
any, a warning says that Caseload locks in 30 seconds, counting down, with
**Stay signed in** (WCAG 2.2.1, Timing Adjustable: warned, and at least 20 seconds
to extend with one simple action).

While the warning is up, only a deliberate answer keeps the session: the button,
a key pressed in the warning (Space, Return, Escape or any other), or closing
the warning. A mouse nudged or a cat on the desk is not an answer; the warning
is application-modal (shown, not run in an event loop of its own), so it is
above any dialog already open and input elsewhere is held until it is answered.

If the computer slept (no check for longer than the warning lasts) past the
warning's 30 seconds too, it locks at once: nobody was there to be warned. The default
clock keeps counting while the computer sleeps where the system offers one.

``ScreenLock`` locks one signed-in session (one ``MainWindow``):

* every visible Caseload window, modal dialogs with unsaved edits included, is
  covered by an opaque child widget raised over its contents, and its title
  becomes "Locked — Caseload" (titles name clients). Nothing is hidden or
  closed, so a dialog's ``exec()`` goes on and what was typed stays;
* popups and tool tips are closed, the window's change polling and automatic
  billing pause, and ``practice.access.lock()`` drops an encrypted file's key;
* the lock screen asks for the same person's password; **Unlock** takes off the
  covers and titles and resumes the work, exactly where it was. **Sign out** asks
  first whether to discard what that person has open, then closes it and hands
  over to the sign-in dialog. A window that opens while locked is covered too.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QEvent, QObject, QRect, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QKeyEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QStyle,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.errors import CaseloadError
from desktop.controllers.permissions import Actor
from desktop.ui.clients_page import isolate
from desktop.ui.dialogs.lock_screen import LOCKED_TITLE, LockScreen
from desktop.ui.operation import attempt
from desktop.ui.widgets import ask

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

WARNING_SECONDS = 30
CHECK_MS = 1000
ENDING_WAIT_S = 5.0  # the longest a sign-out from the lock waits for open dialogs to finish
ENDING_LOOK_MS = 50
READ_EVERY_S = 60  # the idle lock minutes are read again this often while someone works

INPUT_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick,
    QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate,
    QEvent.Type.TabletPress,
})


def idle_clock() -> float:
    """Seconds from some fixed moment, counting the time the computer sleeps where the system can.

    ``time.monotonic`` stops while a Linux or macOS laptop sleeps: a lid closed for an
    hour would come back unlocked. ``CLOCK_BOOTTIME`` (Linux) and macOS's
    ``CLOCK_MONOTONIC`` go on counting; elsewhere ``time.monotonic`` does already.
    """
    if _SLEEP_COUNTING_CLOCK is not None:
        return time.clock_gettime(_SLEEP_COUNTING_CLOCK)
    return time.monotonic()


_SLEEP_COUNTING_CLOCK: int | None = (getattr(time, "CLOCK_BOOTTIME", None) if sys.platform.startswith("linux")
                                     else getattr(time, "CLOCK_MONOTONIC", None) if sys.platform == "darwin"
                                     else None)


def minutes_words(minutes: int) -> str:
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


def seconds_words(seconds: int) -> str:
    return f"{seconds} second{'' if seconds == 1 else 's'}"


# ------------------------------------------------------------------ the warning

class IdleWarning(QDialog):
    """"Caseload will lock in 30 seconds…", counting down, with Stay signed in."""

    staySignedIn = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("idleWarning")
        self.setWindowTitle("Caseload will lock soon")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        # Shown with show(), never exec(): no event loop of its own, so locking is never
        # held up by it. Application-modal, so it answers even above a modal dialog.
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setMinimumWidth(420)
        self.text = QLabel()
        self.text.setObjectName("idleWarningText")
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setWordWrap(True)
        self.stay = QPushButton("Stay signed in")
        self.stay.setObjectName("staySignedIn")
        self.stay.setDefault(True)
        self.stay.setAutoDefault(True)
        self.stay.clicked.connect(self.staySignedIn)
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize, None, self)
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning, None, self)
                       .pixmap(size, size))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        said = QHBoxLayout()
        said.setSpacing(14)
        said.addWidget(icon)
        said.addWidget(self.text, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.stay)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.addLayout(said)
        layout.addSpacing(10)
        layout.addLayout(buttons)

    def say(self, seconds: int, minutes: int) -> None:
        text = (f"Caseload will lock in {seconds_words(seconds)} because nobody has used it for "
                f"{minutes_words(minutes)}.")
        if self.text.text() != text:
            self.text.setText(text)
            self.setAccessibleDescription(text)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Any key here is an answer (the watcher notes it); Escape must not close it silently.
        if event.key() == Qt.Key.Key_Escape:
            self.staySignedIn.emit()
            return
        super().keyPressEvent(event)

    def reject(self) -> None:
        self.staySignedIn.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.isVisible():
            event.ignore()  # the watcher hides it; the close button is an answer
            self.staySignedIn.emit()
            return
        super().closeEvent(event)


# ------------------------------------------------------------------ noticing idleness

class IdleWatcher(QObject):
    """Input anywhere in the application, checked once a second; ``lockRequested`` when it is time.

    ``minutes`` can be changed at any time; ``read_minutes``, if given, is asked
    once a minute and before warning, so a setting saved elsewhere meanwhile counts.
    ``check`` is the timer's slot; tests call it after moving a fake ``clock``.
    """

    warningShown = Signal()
    lockRequested = Signal()

    def __init__(self, minutes: int, clock: Callable[[], float] = idle_clock, parent: QObject | None = None,
                 *, warn_over: QWidget | None = None, interval_ms: int = CHECK_MS,
                 warning_seconds: int = WARNING_SECONDS,
                 read_minutes: Callable[[], int | None] | None = None) -> None:
        super().__init__(parent)
        self.minutes = minutes
        self.clock = clock
        self.warning_seconds = warning_seconds
        self.read_minutes = read_minutes
        self.state = "stopped"  # stopped, watching, warning, locked
        self.last_input = clock()
        self.last_check = self.last_input
        self.next_read = self.last_input + READ_EVERY_S
        self.warned_at = 0.0
        self._warn_over = warn_over
        self._warning: IdleWarning | None = None
        self._before_warning: tuple[QWidget | None, QWidget | None] = (None, None)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)

    @property
    def warning(self) -> IdleWarning:
        if self._warning is None or not shiboken6.isValid(self._warning):
            self._warning = IdleWarning(self._warn_over)
            self._warning.staySignedIn.connect(self.stay_signed_in)
        return self._warning

    def warning_visible(self) -> bool:
        return self._warning is not None and shiboken6.isValid(self._warning) and self._warning.isVisible()

    def start(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.state = "watching"
        self.last_input = self.last_check = self.clock()
        self.timer.start()

    def stop(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.timer.stop()
        self.state = "stopped"
        self._hide_warning()

    def locked(self) -> None:
        """The screen is locked: nothing is watched until ``unlocked``."""
        self.state = "locked"
        self._hide_warning()

    def unlocked(self) -> None:
        self.state = "watching"
        self.last_input = self.clock()

    # ------------------------------------------------------------ input

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in INPUT_EVENTS:
            if self.state == "watching":
                self.last_input = self.clock()
            elif self.state == "warning" and event.type() == QEvent.Type.KeyPress and self._in_warning(watched):
                self.stay_signed_in()
        return False

    def _in_warning(self, watched: QObject) -> bool:
        warning = self._warning
        if warning is None or not shiboken6.isValid(warning):
            return False
        if watched is warning or watched is warning.windowHandle():
            return True
        return isinstance(watched, QWidget) and watched.window() is warning

    @Slot()
    def stay_signed_in(self) -> None:
        if self.state != "warning":
            return
        self.state = "watching"
        self.last_input = self.clock()
        self._hide_warning()

    # ------------------------------------------------------------ the clock

    @Slot()
    def check(self) -> None:
        now = self.clock()
        # No check for longer than the warning lasts: the computer slept (or hung) meanwhile.
        slept = now - self.last_check > self.warning_seconds
        self.last_check = now
        if self.state == "watching":
            idle = now - self.last_input
            due = idle >= self.minutes * 60
            if self.read_minutes is not None and (due or now >= self.next_read):
                # A setting saved elsewhere counts within a minute, and before any warning.
                self.next_read = now + READ_EVERY_S
                fresh = self.read_minutes()
                if fresh is not None:
                    self.minutes = fresh
                    due = idle >= fresh * 60
            if not due:
                return
            if slept and idle >= self.minutes * 60 + self.warning_seconds:
                self._lock()  # asleep past the warning too: nobody was there to warn
                return
            self._warn(now)
        elif self.state == "warning":
            left = self.warning_seconds - (now - self.warned_at)
            if left <= 0:
                self._lock()
                return
            self.warning.say(math.ceil(left), self.minutes)

    def _warn(self, now: float) -> None:
        self.state = "warning"
        self.warned_at = now
        active = QApplication.activeWindow()
        self._before_warning = (active, active.focusWidget() if active is not None else None)
        warning = self.warning
        warning.say(self.warning_seconds, self.minutes)
        warning.show()
        warning.raise_()
        warning.activateWindow()
        warning.stay.setFocus()
        self.warningShown.emit()

    def _hide_warning(self) -> None:
        if not self.warning_visible():
            return
        assert self._warning is not None
        self._warning.hide()
        window, focus = self._before_warning
        self._before_warning = (None, None)
        if self.state == "watching":
            restore_focus(window, focus)

    def _lock(self) -> None:
        self.locked()
        self.lockRequested.emit()


def restore_focus(window: QWidget | None, focus: QWidget | None) -> None:
    """Give the keyboard back to the window and field that had it, if they are still there."""
    if window is not None and shiboken6.isValid(window) and window.isVisible():
        window.activateWindow()
        window.raise_()
        if focus is not None and shiboken6.isValid(focus) and focus.isVisible():
            focus.setFocus(Qt.FocusReason.OtherFocusReason)


# ------------------------------------------------------------------ covering a window

class LockCover(QWidget):
    """An opaque child laid over everything a window shows, following its size."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("lockCover")
        self.setAccessibleName("Caseload is locked")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAutoFillBackground(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        note = QLabel("Caseload is locked.", self)
        note.setObjectName("lockCoverText")
        note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        self.setGeometry(QRect(0, 0, window.width(), window.height()))
        window.installEventFilter(self)
        self.raise_()
        self.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Resize and isinstance(watched, QWidget):
            self.setGeometry(QRect(0, 0, watched.width(), watched.height()))
        elif kind == QEvent.Type.ChildAdded:
            QTimer.singleShot(0, self, self.raise_)  # a child added later must not show over it
        return False

    def paintEvent(self, event: QPaintEvent) -> None:
        # Opaque whatever a style sheet around it says, a shade darker than the window's own
        # colour, so the lock screen in front of it stands out, in a light or a dark palette.
        color = self.palette().color(QPalette.ColorRole.Window).darker(115)
        color.setAlpha(255)
        painter = QPainter(self)
        painter.fillRect(self.rect(), color)
        painter.end()

    def remove(self) -> None:
        parent = self.parentWidget()
        if parent is not None and shiboken6.isValid(parent):
            parent.removeEventFilter(self)
        self.hide()
        self.deleteLater()


# ------------------------------------------------------------------ the lock

# What the question before signing out calls an open window: never its title, which may
# name a client, to a person at the locked screen who has not typed a password.
WINDOW_KINDS = {
    "AddContactDialog": "New contact", "AddUserDialog": "Add a user", "AppointmentDialog": "Appointment",
    "ChangePasswordDialog": "Change password", "ChangeRoleDialog": "Change a user's role",
    "ConflictDialog": "Your changes and theirs",
    "DeleteClientDialog": "Delete client", "DuplicateWarningDialog": "Already in the practice?",
    "EditClientDialog": "Edit client", "EditContactDialog": "Edit contact",
    "InactiveReasonDialog": "Make a client inactive", "MergeContactsDialog": "Merge contacts",
    "MergeIntoClientDialog": "Merge a contact into a client", "NewClientDialog": "New client",
    "PickDialog": "Link a contact", "PracticeSettingsDialog": "Practice settings",
    "RecoveryKeyDialog": "Your recovery key", "ResetPasswordDialog": "Reset a password",
}


def window_kind(widget: QWidget) -> str:
    for kind in type(widget).__mro__:
        if kind.__name__ in WINDOW_KINDS:
            return WINDOW_KINDS[kind.__name__]
    return "Another window"


def may_hold_edits(widget: QWidget) -> bool:
    """Whether an open window may hold something typed and not saved.

    A dialog that says (``has_unsaved_changes``, or a title with the ``[*]``
    placeholder and ``isWindowModified``) is believed; a message box holds nothing
    typed (the dialog waiting for its answer is counted itself); any other open
    dialog may.
    """
    if isinstance(widget, QMessageBox):
        return False
    says = getattr(widget, "has_unsaved_changes", None)
    if callable(says):
        try:
            return bool(says())
        except (CaseloadError, NotImplementedError, RuntimeError):
            return True
    if widget.isWindowModified() or "[*]" in widget.windowTitle():
        return widget.isWindowModified()
    return isinstance(widget, QDialog)


class ScreenLock(QObject):
    """The idle lock of one signed-in session: watch, warn, lock, unlock or sign out.

    ``window`` is the session's ``MainWindow``: its ``practice`` and ``actor``, its
    ``pause_background``/``resume_background`` and ``sign_out(ask=False)``.
    """

    lockedChanged = Signal(bool)

    def __init__(self, window: MainWindow, *, clock: Callable[[], float] = idle_clock,
                 interval_ms: int = CHECK_MS, warning_seconds: int = WARNING_SECONDS) -> None:
        super().__init__(window)
        self.window = window
        self.is_locked = False
        self.ending = False
        self.screen: LockScreen | None = None
        self.covers: dict[QWidget, LockCover] = {}
        self.titles: dict[QWidget, str] = {}
        self._before_lock: tuple[QWidget | None, QWidget | None] = (None, None)
        self._ending_level: int | None = None
        self._ending_deadline = 0.0
        self.watcher = IdleWatcher(self.read_minutes() or 10, clock, self, warn_over=window,
                                   interval_ms=interval_ms, warning_seconds=warning_seconds,
                                   read_minutes=self.read_minutes)
        self.watcher.lockRequested.connect(self.lock)

    # ------------------------------------------------------------ the setting

    def read_minutes(self) -> int | None:
        """The practice's idle lock minutes, or None if they cannot be read now."""
        try:
            return int(self.window.practice.settings.settings(self.window.actor).idle_lock_minutes)
        except CaseloadError:
            return None

    def reload_minutes(self) -> None:
        """After Practice settings were saved here: the minutes may have changed."""
        minutes = self.read_minutes()
        if minutes is not None:
            self.watcher.minutes = minutes

    # ------------------------------------------------------------ on and off

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        """The session's window is closing: nothing is watched or covered any more by this lock."""
        self.watcher.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        screen, self.screen = self.screen, None
        if screen is not None and shiboken6.isValid(screen):
            screen.finish()
        self.covers.clear()
        self.titles.clear()

    # ------------------------------------------------------------ locking

    @Slot()
    def lock(self) -> None:
        if self.is_locked or self.ending:
            return
        self.is_locked = True
        self.watcher.locked()
        _close_popups()
        active = QApplication.activeWindow()
        self._before_lock = (active, active.focusWidget() if active is not None else None)
        for widget in self._windows():
            self._cover(widget)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)  # a window that opens or retitles itself meanwhile
        self.window.pause_background()
        self.window.practice.access.lock()
        screen = LockScreen(self.window.actor.display_name, self.window)
        screen.unlockRequested.connect(self.unlock)
        screen.signOutRequested.connect(self.sign_out)
        self.screen = screen
        screen.show()
        screen.raise_()
        screen.activateWindow()
        screen.password.setFocus()
        self.lockedChanged.emit(True)

    def _windows(self) -> list[QWidget]:
        """Every visible Caseload window but the lock's own, popups and tool tips."""
        found = []
        for widget in QApplication.topLevelWidgets():
            if not widget.isVisible() or self._ours(widget) or isinstance(widget, QMenu):
                continue
            if widget.windowType() in (Qt.WindowType.Popup, Qt.WindowType.ToolTip, Qt.WindowType.SplashScreen):
                continue
            found.append(widget)
        return found

    def _ours(self, widget: QWidget) -> bool:
        """The lock screen, the warning, and the questions they ask."""
        mine = [w for w in (self.screen, self.watcher._warning) if w is not None]
        probe: QWidget | None = widget
        while probe is not None:
            if any(probe is w for w in mine):
                return True
            probe = probe.parentWidget()
        return False

    def _cover(self, widget: QWidget) -> None:
        if widget in self.covers and shiboken6.isValid(self.covers[widget]):
            self.covers[widget].raise_()
        else:
            self.covers[widget] = LockCover(widget)
        title = widget.windowTitle()
        if title != LOCKED_TITLE:
            self.titles[widget] = title
            widget.setWindowTitle(LOCKED_TITLE)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """While locked: cover a window that appears, keep the title of one that renames itself."""
        kind = event.type()
        if kind not in (QEvent.Type.Show, QEvent.Type.WindowTitleChange) or not self.is_locked:
            return False
        if not isinstance(watched, QWidget) or not watched.isWindow() or self._ours(watched):
            return False
        if watched.windowType() in (Qt.WindowType.Popup, Qt.WindowType.ToolTip) or isinstance(watched, QMenu):
            if kind == QEvent.Type.Show:
                QTimer.singleShot(0, watched, watched.close)
            return False
        if kind == QEvent.Type.Show:
            if self.ending and isinstance(watched, QDialog):
                QTimer.singleShot(0, watched, lambda: _finish_dialog(watched))
            self._cover(watched)
        elif watched.windowTitle() != LOCKED_TITLE and watched in self.covers:
            self.titles[watched] = watched.windowTitle()
            watched.setWindowTitle(LOCKED_TITLE)
        return False

    # ------------------------------------------------------------ unlocking

    @Slot(str)
    def unlock(self, password: str) -> None:
        screen = self.screen
        if screen is None or not self.is_locked or self.ending:
            return
        actor = self.window.actor
        screen.set_busy(True)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            again = attempt(screen, "Not unlocked", lambda: self.window.practice.access.unlock(actor, password),
                            report=screen.refused)
        finally:
            QApplication.restoreOverrideCursor()
            if shiboken6.isValid(screen):
                screen.set_busy(False)
        if not again or again.value is None:
            return
        fresh: Actor = again.value
        if (fresh.role != actor.role or fresh.entire_practice_access != actor.entire_practice_access
                or fresh.must_change_password):
            box = QMessageBox(QMessageBox.Icon.Information, "Sign in again",
                              "Your role or password was changed while Caseload was locked, so you sign "
                              "in again.", QMessageBox.StandardButton.Ok, screen)
            box.setObjectName("signInAgain")
            box.setInformativeText("What was open and not saved is closed without saving.")
            box.exec()
            box.deleteLater()
            self._end_session()
            return
        self.window.actor = fresh
        self._uncover()
        self.reload_minutes()

    def _uncover(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        screen, self.screen = self.screen, None
        if screen is not None and shiboken6.isValid(screen):
            screen.finish()
        for widget, title in self.titles.items():
            if shiboken6.isValid(widget) and widget.windowTitle() == LOCKED_TITLE:
                widget.setWindowTitle(title)
        for cover in self.covers.values():
            if shiboken6.isValid(cover):
                cover.remove()
        self.covers.clear()
        self.titles.clear()
        self.is_locked = False
        self.window.resume_background()
        self.watcher.unlocked()
        window, focus = self._before_lock
        self._before_lock = (None, None)
        restore_focus(window, focus)
        self.lockedChanged.emit(False)

    # ------------------------------------------------------------ signing out from the lock

    def open_work(self) -> list[QWidget]:
        """The windows that may hold someone's unsaved edits (most recent first)."""
        return [w for w in reversed(list(self.covers)) if shiboken6.isValid(w) and w.isVisible()
                and w is not self.window and may_hold_edits(w)]

    @Slot()
    def sign_out(self) -> None:
        screen = self.screen
        if screen is None or self.ending:
            return
        work = self.open_work()
        if work and not self._discard(work):
            screen.password.setFocus()
            return
        self._end_session()

    def _discard(self, work: list[QWidget]) -> bool:
        name = isolate(self.window.actor.display_name)
        kinds = [window_kind(w) for w in work]
        listed = ", ".join(f"“{k}”" for k in kinds)
        count = "window is" if len(work) == 1 else f"{len(work)} windows are"
        return ask(self.screen, "discardForSignOut", QMessageBox.Icon.Warning, "Sign out",
                   f"Discard the unsaved changes of {name}?",
                   f"Their {count} open: {listed}. Signing out closes "
                   f"{'it' if len(work) == 1 else 'them'} without saving. To keep what is there, {name} "
                   "unlocks with their password.",
                   ("Discard and sign out", "discardAndSignOut", QMessageBox.ButtonRole.DestructiveRole))

    def _end_session(self) -> None:
        """Close what is open without saving, wait until every dialog's exec() has returned, sign out.

        A dialog run with ``exec()`` returns to the code that opened it, which goes on
        using its window: signing out (which deletes that window) waits until no
        dialog is open and the event loop's depth has stayed the same between two
        looks, so every loop that was asked to end has ended and no code runs on a
        window already gone. A dialog that opens meanwhile is closed the same way.
        """
        self.ending = True
        if self.screen is not None:
            self.screen.set_busy(True, "Signing out…")
        self._finish_dialogs()
        self._ending_level = None
        self._ending_deadline = time.monotonic() + ENDING_WAIT_S
        QTimer.singleShot(ENDING_LOOK_MS, self, self._finish_ending)

    def _finish_dialogs(self) -> bool:
        """Close every open dialog but the lock's own as Cancel would; True if there were any."""
        found = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, QDialog) and w.isVisible() and not self._ours(w)]
        for dialog in found:
            _finish_dialog(dialog)
        return bool(found)

    @Slot()
    def _finish_ending(self) -> None:
        level = QThread.currentThread().loopLevel()
        settled = not self._finish_dialogs() and level == self._ending_level
        self._ending_level = level
        if not settled and time.monotonic() < self._ending_deadline:
            QTimer.singleShot(ENDING_LOOK_MS, self, self._finish_ending)
            return
        screen = self.screen
        if screen is not None and shiboken6.isValid(screen):
            screen.allow_close()
        self.window.sign_out(ask=False)


def _finish_dialog(dialog: QDialog) -> None:
    """Close a dialog as Cancel would, without the question some ask on reject()."""
    if shiboken6.isValid(dialog) and dialog.isVisible():
        QDialog.done(dialog, QDialog.DialogCode.Rejected)


def _close_popups() -> None:
    """Menus, drop-down lists and completions open now (they may list clients), and tool tips."""
    QToolTip.hideText()
    for _ in range(20):
        popup = QApplication.activePopupWidget()
        if popup is None:
            break
        popup.close()
