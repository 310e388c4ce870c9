"""Small widgets every window and dialog uses the same way, and the words they show."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.audit_log import describe, outcome_words
from desktop.ui.operation import attempt

DANGER = "#b00020"  # refusals, problems and the destructive buttons


def action_words(action: str, outcome: str = "allowed", details: Any = None) -> str:
    """An audit entry's action as a person says it ("Changed status to Inactive", "Refused:
    delete client"): the controller's words, so the profile, the Audit log window and the
    command line say the same thing."""
    return describe(action, outcome, details)


def outcome_text(outcome: str) -> str:
    """An audit entry's outcome in a word: "Allowed" or "Refused"."""
    return outcome_words(outcome)


def local_time(stamp: str) -> str:
    """A stored moment (ISO, UTC without a zone) in this computer's time, to the minute."""
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return str(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def form_row(form: QFormLayout, text: str, field: QWidget, *, buddy: QWidget | None = None,
             name: str | None = None) -> QLabel:
    """Add a row whose label is the buddy of its field (or of ``buddy``, the part that takes focus).

    The label's mnemonic (``&First name``) then moves the focus, and a screen
    reader says which field the label names.
    """
    label = QLabel(text)
    label.setBuddy(buddy or field)
    if name:
        label.setObjectName(name)
    form.addRow(label, field)
    return label


def leading_alignment(widget: QWidget) -> Qt.AlignmentFlag:
    """Where a value sits beside its label, whatever the direction of its own text.

    Qt aligns right-to-left text (Arabic, Hebrew) to the far side of a stretched
    label; anchored to the layout's leading edge, it sits next to its label.
    """
    side = Qt.AlignmentFlag.AlignLeft if widget.layoutDirection() == Qt.LayoutDirection.LeftToRight \
        else Qt.AlignmentFlag.AlignRight
    return side | Qt.AlignmentFlag.AlignAbsolute | Qt.AlignmentFlag.AlignVCenter


_UNSAFE_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>|]+')


def file_name_part(text: str) -> str:
    """``text`` usable in a file name on every system: separators and reserved characters dropped."""
    kept = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    kept = _UNSAFE_IN_FILE_NAMES.sub(" ", kept)
    return " ".join(kept.split()).strip(". ")[:120]


def apportion(amount: int, weights: Mapping[int, float]) -> dict[int, int]:
    """``amount`` split in whole pixels in proportion to ``weights``; the parts add up exactly."""
    total = sum(weights.values())
    if not weights or total <= 0:
        return dict.fromkeys(weights, 0)
    sign, left = (1, amount) if amount >= 0 else (-1, -amount)
    shares = {key: left * weight / total for key, weight in weights.items()}
    parts = {key: int(share) for key, share in shares.items()}
    remainder = left - sum(parts.values())
    for key in sorted(shares, key=lambda k: shares[k] - parts[k], reverse=True)[:remainder]:
        parts[key] += 1
    return {key: sign * part for key, part in parts.items()}


def fit_widths(weights: Mapping[int, int], minimums: Mapping[int, int], width: int) -> dict[int, int]:
    """Column widths in proportion to ``weights`` that add up to ``width``, none below its minimum.

    If ``width`` cannot hold every minimum, every column gets its minimum.
    """
    if sum(minimums[c] for c in weights) >= width:
        return {c: minimums[c] for c in weights}
    fixed: dict[int, int] = {}
    free = {c: max(1, w) for c, w in weights.items()}
    while True:  # a column whose share is below its minimum gets the minimum; the rest share what is left
        room = width - sum(fixed.values())
        total = sum(free.values())
        low = [c for c, w in free.items() if room * w / total < minimums[c]]
        if not low:
            return {**fixed, **apportion(room, free)}
        for c in low:
            fixed[c] = minimums[c]
            del free[c]


class ColumnFitter(QObject):
    """Keeps a table's columns exactly as wide as the table: no sideways scroll bar, nothing cut off.

    The shown columns share the width in proportion to ``weights``, none below
    its ``minimums`` (below the sum of those the table scrolls sideways); this
    is done again whenever the table's viewport is resized or shown. A column
    the person drags wider or narrower takes its room from, or gives it to, the
    columns to its right (never more than they can give); the widths they set
    are then the proportions kept at the next resize, so a dragged column is
    not put back. The Clients list, the Appointments day and both Billing
    tables use it.
    """

    def __init__(self, table: QTableView, weights: Mapping[int, int], minimums: Mapping[int, int]) -> None:
        super().__init__(table)
        self.table = table
        self.header = table.horizontalHeader()
        self.usual_weights = dict(weights)
        self.usual_minimums = dict(minimums)
        self.weights: dict[int, int] = dict(weights)
        self.minimums: dict[int, int] = dict(minimums)
        self._busy = False
        self._settle()
        self._resize(self.weights)  # until the table's width is known
        self.viewport = table.viewport()
        self.viewport.installEventFilter(self)
        self.header.sectionResized.connect(self._resized)

    def _settle(self) -> None:
        self.header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.header.setStretchLastSection(False)  # the fit fills the width, to the pixel
        self.header.setMinimumSectionSize(40)

    def _columns(self) -> list[int]:
        """Shown columns, left to right."""
        header = self.header
        return [c for c in (header.logicalIndex(v) for v in range(header.count()))
                if not header.isSectionHidden(c) and c in self.usual_weights]

    def _resize(self, widths: Mapping[int, int]) -> None:
        self._busy = True
        try:
            for column, width in widths.items():
                if self.header.sectionSize(column) != width:
                    self.header.resizeSection(column, width)
        finally:
            self._busy = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Resized: the window's size, or a scroll bar coming or going. Shown: a table on a
        # page of a stack or a tab comes into view at the size it was given while hidden.
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show) and watched is self.viewport:
            self.fit()
        return False

    def fit(self) -> None:
        """Share the table's width among the shown columns in the person's proportions."""
        width = self.viewport.width()
        if not self.table.isVisible() or width <= 0:
            return  # a hidden table's size means nothing yet
        columns = self._columns()
        self._resize(fit_widths({c: self.weights.get(c, self.usual_weights[c]) for c in columns},
                                self.minimums, width))

    def make_room(self, column: int, width: int) -> None:
        """Keep ``column`` at least ``width`` wide (its usual minimum or less: back to its usual share)."""
        if self.minimums[column] == width:
            return
        self.minimums[column] = width
        self.weights[column] = (max(self.weights.get(column, 0), width) if width > self.usual_minimums[column]
                                else self.usual_weights[column])
        self.fit()

    def _resized(self, column: int, old: int, new: int) -> None:
        """The person dragged a column's edge: the columns to its right make room, down to their
        minimums, or take what it gave up. It grows no further than they can give."""
        if self._busy:
            return
        columns = self._columns()
        right = columns[columns.index(column) + 1:] if column in columns else []
        if not right:  # the last column's right edge is the table's: it stays where it is
            self._resize({column: old})
            return
        sizes = {c: self.header.sectionSize(c) for c in right}
        delta = new - old
        if delta > 0:
            spare = {c: max(0, size - self.minimums[c]) for c, size in sizes.items()}
            if delta > sum(spare.values()):
                delta = sum(spare.values())
                self._resize({column: old + delta})
            change = apportion(-delta, spare)
        else:
            change = apportion(-delta, sizes)
        self._resize({c: sizes[c] + change[c] for c in right})
        self.weights = {c: self.header.sectionSize(c) for c in columns}

    def restore(self, state: QByteArray) -> bool:
        """Bring back the widths, order and sort the header saved; then fit them to the table."""
        self._busy = True
        try:
            restored = self.header.restoreState(state)
        finally:
            self._busy = False
        self._settle()  # a state saved by an older Caseload stretched the last column
        if restored:
            sizes = {c: self.header.sectionSize(c) for c in self._columns()}
            if all(size > 0 for size in sizes.values()):
                self.weights = sizes
        self.fit()
        return restored


def list_table(table: QTableView, row_height: int, *, multi: bool = False) -> None:
    """A table of records, one per row: whole rows selected (one at a time unless ``multi``),
    never edited in place, no grid, fixed row height, one line a cell ending in "…"; Tab leaves it."""
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if multi
                           else QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    table.setTabKeyNavigation(False)
    vertical = table.verticalHeader()
    vertical.setVisible(False)
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(row_height)
    table.horizontalHeader().setHighlightSections(False)


def problem_label(name: str = "problem") -> QLabel:
    """Where a dialog says, in red and in plain text, why it did not do something."""
    label = QLabel()
    label.setObjectName(name)
    label.setStyleSheet(f"color: {DANGER};")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def heading_label(text: str = "", *, scale: float = 1.6, name: str | None = None) -> QLabel:
    """A bold, larger, plain-text heading (a person's name is never read as markup)."""
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    label.setFont(font)
    return label


def ask_portal_switch_off(parent, portal: dict[str, bool], *, before_save: bool) -> bool | None:  # type: ignore[no-untyped-def]
    """Say that portal access stays on for an inactive client; ask whether to switch it off.

    True: switch it off; False: keep it on; None: go back (offered only
    ``before_save``, when nothing is saved yet). docs/rules.md, "Status":
    inactivation never switches access off by itself, and the flow says so.
    """
    from PySide6.QtWidgets import QMessageBox

    on = [name for name, key in (("Client Portal", "portal_enabled"),
                                 ("Secure Messaging", "messaging_enabled")) if portal[key]]
    box = QMessageBox(parent)
    box.setObjectName("portalQuestion")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Client Portal access is still on")
    box.setText(f"{' and '.join(on)} access stays on when a client is made inactive.")
    box.setInformativeText("They can still sign in and send messages unless you switch access off. "
                           + ("Switch it off now, with this save?" if before_save else "Switch it off now?"))
    off = box.addButton("Switch off access", QMessageBox.ButtonRole.AcceptRole)
    off.setObjectName("switchOffAccess")
    keep = box.addButton("Keep access on", QMessageBox.ButtonRole.RejectRole)
    keep.setObjectName("keepAccessOn")
    if before_save:
        box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    clicked = box.clickedButton()
    if clicked is off:
        return True
    if clicked is keep or not before_save:
        return False
    return None


def offer_portal_switch_off(parent, clients, actor, client_id: int) -> None:  # type: ignore[no-untyped-def]
    """After a client was made inactive elsewhere than the edit dialog: the same question, then act."""
    # Only the two switches are read; if even that is refused there is nothing to ask.
    read = attempt(parent, "Portal access not read", lambda: clients.portal_access(actor, client_id),
                   report=lambda _message: None)
    portal = read.value
    if not read or portal is None or not (portal["portal_enabled"] or portal["messaging_enabled"]):
        return
    if ask_portal_switch_off(parent, portal, before_save=False):
        attempt(parent, "Portal access not changed",
                lambda: clients.set_portal_access(actor, client_id, portal=False, messaging=False))


def ask(parent: QWidget | None, name: str, icon: QMessageBox.Icon, title: str, text: str, informative: str,
        go: tuple[str, str, QMessageBox.ButtonRole], *, go_is_default: bool = False) -> bool:
    """One question with a go-ahead button ``go`` (text, object name, role) and Cancel (Escape);
    True if the go-ahead was clicked. Cancel is the default unless ``go_is_default``."""
    box = QMessageBox(parent)
    box.setObjectName(name)
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(informative)
    label, button_name, role = go
    chosen = box.addButton(label, role)
    chosen.setObjectName(button_name)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    cancel.setObjectName("cancel")
    box.setDefaultButton(chosen if go_is_default else cancel)
    box.setEscapeButton(cancel)
    box.exec()
    went = box.clickedButton() is chosen
    box.deleteLater()
    return went


class Banner(QFrame):
    """A band across the top of the main window: a bold title, a wrapped line under it (both plain
    text, since they may name a client), and buttons at the right (the encryption and the
    connection banners)."""

    def __init__(self, name: str, buttons: tuple[QPushButton, ...], parent: QWidget | None = None, *,
                 title: str = "", detail: str = "") -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.title = QLabel(title)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.detail = QLabel(detail)
        self.detail.setWordWrap(True)
        for label in (self.title, self.detail):
            label.setTextFormat(Qt.TextFormat.PlainText)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        texts.addWidget(self.title)
        texts.addWidget(self.detail)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        row.setSpacing(12)
        row.addLayout(texts, 1)
        for button in buttons:
            button.setAutoDefault(False)
            row.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
