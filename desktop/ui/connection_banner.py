"""What the main window shows about its connection to a practice server.

``ConnectionBanner`` runs across the top of the window. While the server does not
answer it says "Connection to the practice server lost — retrying in 8 s", counts
down to the next try (``desktop.storage.watch`` makes them: 1, 2, 4 … up to 32 s
apart), offers **Retry now**, and says that what is typed stays and that nothing
can be saved meanwhile (the controllers refuse at once rather than freeze the
window). A change cut off with its outcome unknown is counted there too. Once
the server answers again the banner goes; if such changes were looked up, it
stays as a short report, "Saved: …" or "Not saved: … — do it again", until
dismissed.

``SecurityLabel`` sits in the status bar and says how the connection is
protected: "Encrypted (TLSv1.3), server verified" beside a small lock, or a
plain connection across the network beside a warning sign, in red.

Neither holds a rule or reads the database: the window hands them what the
change watcher and the controllers found.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from PySide6.QtCore import QByteArray, QDateTime, QLocale, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QWidget,
)

from desktop.controllers.connection import ConnectionSecurity, Link
from desktop.ui.widgets import DANGER, Banner

# Both colours set, so each reads the same in a light or a dark palette.
LOST_STYLE = ("QFrame#connectionBanner { background: #ffe3b8; border-bottom: 1px solid #d8a657; }"
              "QFrame#connectionBanner QLabel { color: #3d2600; background: transparent; }")
BACK_STYLE = ("QFrame#connectionBanner { background: #e4f1e6; border-bottom: 1px solid #9cc7a4; }"
              "QFrame#connectionBanner QLabel { color: #123d1b; background: transparent; }")

PLAIN_WORDS = "Not encrypted: readable on the network"

_LOCK_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">
<path d="M5 7V5a3 3 0 0 1 6 0v2" fill="none" stroke="#2e6b3a" stroke-width="1.6"/>
<rect x="3" y="7" width="10" height="7.5" rx="1.5" fill="#2e6b3a"/>
<circle cx="8" cy="10.5" r="1.2" fill="#ffffff"/></svg>"""


def local_clock(moment: dt.datetime) -> str:
    """``moment`` in this person's own short time format (with the date if it is not today)."""
    local = moment.astimezone()
    stamp = QDateTime.fromSecsSinceEpoch(int(local.timestamp()))
    locale = QLocale()
    time_words = locale.toString(stamp.time(), QLocale.FormatType.ShortFormat)
    if local.date() == dt.datetime.now().astimezone().date():
        return time_words
    return f"{locale.toString(stamp.date(), QLocale.FormatType.ShortFormat)} {time_words}"


def retry_words(link: Link) -> str:
    """"retrying in 8 s", or "retrying now…" while a try is under way."""
    if link.retry_in is None or link.retry_in <= 0.05:
        return "retrying now…"
    return f"retrying in {max(1, math.ceil(link.retry_in - 0.05))} s"


class ConnectionBanner(Banner):
    """Across the top: the lost connection with its countdown, then what became of unknown changes."""

    retryRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        retry = QPushButton("&Retry now")
        retry.setObjectName("retryNow")
        retry.setAccessibleName("Retry now")
        retry.setToolTip("Try to reach the practice server at once")
        dismiss = QPushButton("&Dismiss")
        dismiss.setObjectName("dismissOutcomes")
        dismiss.setAccessibleName("Dismiss")
        super().__init__("connectionBanner", (retry, dismiss), parent)
        self.retry, self.dismiss = retry, dismiss
        self.title.setObjectName("connectionTitle")
        self.detail.setObjectName("connectionDetail")
        self.retry.clicked.connect(self.retryRequested)
        self.dismiss.clicked.connect(self._dismissed)
        self.outcomes: list[str] = []
        self.lost = False
        self.hide()

    def show_lost(self, link: Link, unknown: int) -> None:
        """The server does not answer: the countdown, and what that means here (the list says
        itself since when its data is not updated)."""
        self.lost = True
        title = f"Connection to the practice server lost — {retry_words(link)}"
        parts = ["What you type in open windows is kept, but nothing can be saved until the "
                 "connection is back."]
        if link.refusal:
            # It answered, and refused: retrying alone will not bring it back; say why.
            title = f"The practice server refused this workstation — {retry_words(link)}"
            parts.insert(0, link.refusal)
        if unknown:
            changes = "1 change was" if unknown == 1 else f"{unknown} changes were"
            parts.append(f"{changes} cut off while saving: Caseload will find out whether "
                         f"{'it was' if unknown == 1 else 'they were'} saved once the connection is back.")
        self._say(title, " ".join(parts), LOST_STYLE)
        self.retry.show()
        self.dismiss.hide()
        self.show()

    def connection_back(self) -> None:
        """The server answers again: the banner goes, unless it still has outcomes to report."""
        self.lost = False
        self.retry.setEnabled(True)
        if self.outcomes:
            self._show_outcomes()
        else:
            self.hide()

    def add_outcomes(self, sentences: Sequence[str]) -> None:
        """"Saved: …" / "Not saved: … — do it again", kept until dismissed."""
        self.outcomes.extend(sentences)
        if not self.lost and self.outcomes:
            self._show_outcomes()

    def _show_outcomes(self) -> None:
        missed = sum(1 for s in self.outcomes if s.startswith("Not saved"))
        self._say("Connection to the practice server is back", "\n".join(self.outcomes),
                  LOST_STYLE if missed else BACK_STYLE)
        self.retry.hide()
        self.dismiss.show()
        self.show()

    def _dismissed(self) -> None:
        self.outcomes.clear()
        self.hide()

    def _say(self, title: str, detail: str, style: str) -> None:
        if self.title.text() != title:
            self.title.setText(title)
        if self.detail.text() != detail:
            self.detail.setText(detail)
        if self.styleSheet() != style:
            self.setStyleSheet(style)
        self.setAccessibleName(title)
        self.setAccessibleDescription(detail)


class SecurityLabel(QWidget):
    """The status bar's word on how the connection to the server is protected."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionSecurity")
        self.icon = QLabel()
        self.icon.setObjectName("connectionSecurityIcon")
        self.text = QLabel()
        self.text.setObjectName("connectionSecurityText")
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 4, 0)
        row.setSpacing(4)
        row.addWidget(self.icon)
        row.addWidget(self.text)
        self.security: ConnectionSecurity | None = None
        self.hide()

    def show_security(self, security: ConnectionSecurity, *, over_network: bool = True) -> None:
        self.security = security
        self.text.setText(security.words)
        self.setAccessibleName(f"Connection: {security.words}")
        self.setToolTip(security.words)
        size = QSize(16, 16)
        if security.encrypted:
            self.icon.setPixmap(_lock().pixmap(size))
            self.text.setStyleSheet("")
            self.setToolTip("The connection to the practice server is encrypted"
                            + ("; the server proved its name with the clinic's certificate."
                               if security.verified else
                               ", but the server's name is not checked: add sslrootcert to the URL."))
        elif security.verified or not over_network:  # on the server itself: nothing crosses a network
            self.icon.clear()
            self.text.setStyleSheet("")
            self.setToolTip("")
        else:
            warning = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            self.icon.setPixmap(warning.pixmap(size))
            self.text.setText(PLAIN_WORDS)  # short, beside the rest of the status bar; all of it below
            self.text.setStyleSheet(f"color: {DANGER}; font-weight: bold;")
            self.setToolTip(f"{security.words}: anyone on the network between this computer and the "
                            "server can read what is sent. Use sslmode=disable only on a network "
                            "nobody else can reach.")
        self.show()


def _lock() -> QIcon:
    pixmap = QPixmap()
    pixmap.loadFromData(QByteArray(_LOCK_SVG), "SVG")
    return QIcon(pixmap)
