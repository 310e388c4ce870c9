"""Someone else saved the profile being edited: their values and yours, chosen field by field.

docs/rules.md, "Conflicting saves". Each row is a field whose saved value
(theirs) differs from what was typed (mine): its label, both values, and
**Keep theirs** / **Use mine**. Mine is chosen where this person changed the
field from what they opened, theirs where only the other person did; fields
both changed are highlighted. The dialog only collects the choice
(``outcome``, ``use_mine``); the edit dialog saves it, reloads, or goes back.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QMouseEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.conflicts import Difference
from desktop.ui.widgets import heading_label

HIGHLIGHT = "#fff1cc"  # a field both people changed
HIGHLIGHT_EDGE = "#e0a800"
DIMMED = "#767676"  # the value not chosen (4.5:1 on white), and the notes under labels
LONGEST_SHOWN = 1000  # characters of a value shown; an address can hold ten thousand
_UNBROKEN = re.compile(r"\S{25,}")


def _stacked(widgets: tuple[QWidget, ...], *, margins: tuple[int, int, int, int], spacing: int) -> QVBoxLayout:
    """``widgets`` one under the other at the top of a grid cell."""
    layout = QVBoxLayout()
    layout.setContentsMargins(*margins)
    layout.setSpacing(spacing)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return layout


class Resolution(enum.Enum):
    SAVE_MERGED = "save merged"
    RELOAD = "reload"
    CANCEL = "cancel"


def shown(text: str) -> str:
    """A value as it can be read in a narrow column: cut after ``LONGEST_SHOWN`` characters,
    and long runs without a space (an email, a web address) allowed to wrap."""
    if len(text) > LONGEST_SHOWN:
        text = f"{text[:LONGEST_SHOWN]}… ({len(text) - LONGEST_SHOWN:,} more characters)"
    return _UNBROKEN.sub(lambda m: _breakable(m[0]), text)


def _breakable(run: str) -> str:
    """A run without spaces with zero-width spaces where it may wrap: after punctuation
    (ada.lovelace@ | example.org), and at least every 15 characters; wrapped, never cut off."""
    out, since = [], 0
    for ch in run:
        out.append(ch)
        since += 1
        if ch in "@.-_/+," or since >= 15:
            out.append("\u200b")
            since = 0
    return "".join(out).rstrip("\u200b")


def _who_changed(row: Difference) -> str:
    if row.both_changed:
        return "You both changed it"
    return "They changed it" if row.they_changed else "You changed it"


class _Value(QLabel):
    """One side's value: plain text, wrapped; a click on it chooses it."""

    def __init__(self, text: str, choose: QRadioButton, name: str) -> None:
        super().__init__(shown(text) if text else "(empty)")
        self.setObjectName(name)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setMinimumWidth(200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        # Beside the column's left edge whatever the direction of its text (Arabic, Hebrew).
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute
                          | Qt.AlignmentFlag.AlignTop)
        self.setAccessibleName(text or "empty")
        self.empty = not text
        self.choose = choose
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.choose.setChecked(True)
        super().mousePressEvent(event)

    def set_chosen(self, chosen: bool) -> None:
        colour = "" if chosen else f"color: {DIMMED};"
        self.setStyleSheet(colour + (" font-style: italic;" if self.empty else ""))


class ConflictDialog(QDialog):
    """The fields to choose between; ``outcome`` says which button closed it.

    ``chosen``: choices made in an earlier round (by field), kept where their
    value is unchanged (``keep_choices``); ``again``: the merged save was refused
    because someone saved once more, and these are the newest values.
    """

    def __init__(self, rows: Sequence[Difference], name: str, parent: QWidget | None = None, *,
                 chosen: Mapping[str, bool] | None = None, again: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("conflictDialog")
        self.setWindowTitle("Someone else saved this profile")
        self.rows = list(rows)
        self.outcome = Resolution.CANCEL
        chosen = chosen or {}

        heading = heading_label(
            f"{name} was saved again while you were choosing." if again
            else f"Someone else saved {name} while you were editing.", scale=1.25, name="conflictHeading")
        intro = QLabel("For each field below, keep what is saved now or use what you typed. "
                       "Save merged saves your choices; Reload shows their version and drops "
                       "what you typed; Cancel goes back to your form.")
        intro.setObjectName("conflictIntro")
        intro.setWordWrap(True)

        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(6)
        self.grid.setColumnStretch(1, 1)
        self.grid.setColumnStretch(2, 1)
        for column, text in enumerate(("Field", "Saved now (theirs)", "You typed (yours)", "Choice")):
            title = QLabel(text)
            font = title.font()
            font.setBold(True)
            title.setFont(font)
            self.grid.addWidget(title, 0, column)
        self.choices: dict[str, tuple[QRadioButton, QRadioButton]] = {}
        self.values: dict[str, tuple[_Value, _Value]] = {}
        for number, row in enumerate(self.rows, start=1):
            self._add_row(number, row, chosen.get(row.key, row.mine_by_default))
        self.grid.setRowStretch(len(self.rows) + 1, 1)

        table = QWidget()
        table.setObjectName("conflictFields")
        table.setLayout(self.grid)
        self.area = QScrollArea()
        self.area.setObjectName("conflictScroll")
        self.area.setWidget(table)
        self.area.setWidgetResizable(True)
        self.area.setFrameShape(QFrame.Shape.NoFrame)
        self.area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Save merged", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setObjectName("saveMerged")
        self.save_button.setDefault(True)
        self.reload_button = buttons.addButton("Reload", QDialogButtonBox.ButtonRole.ResetRole)
        self.reload_button.setObjectName("reload")
        self.reload_button.setToolTip("Show their version in the form; what you typed is dropped.")
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("cancel")
        self.save_button.clicked.connect(lambda: self._close(Resolution.SAVE_MERGED))
        self.reload_button.clicked.connect(lambda: self._close(Resolution.RELOAD))
        self.cancel_button.clicked.connect(lambda: self._close(Resolution.CANCEL))

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addSpacing(4)
        layout.addWidget(self.area, 1)
        layout.addWidget(buttons)
        self._fit_to_screen(table)
        if self.choices:
            first = self.choices[self.rows[0].key]
            (first[1] if first[1].isChecked() else first[0]).setFocus()

    def _add_row(self, number: int, row: Difference, mine: bool) -> None:
        if row.both_changed:
            band = QFrame()  # behind the row's cells: added first, so drawn under them
            band.setObjectName(f"{row.key}Conflict")
            band.setStyleSheet(f"QFrame {{ background: {HIGHLIGHT}; border-left: 3px solid {HIGHLIGHT_EDGE}; }}")
            self.grid.addWidget(band, number, 0, 1, 4)
        field = QLabel(row.label)
        field.setObjectName(f"{row.key}Label")
        font = field.font()
        font.setBold(row.both_changed)
        field.setFont(font)
        who = QLabel(_who_changed(row))
        who.setObjectName(f"{row.key}WhoChanged")
        who.setStyleSheet(f"color: {DIMMED};")
        self.grid.addLayout(_stacked((field, who), margins=(6, 2, 0, 2), spacing=0), number, 0)

        group = QButtonGroup(self)
        keep = QRadioButton("Keep theirs")
        keep.setObjectName(f"{row.key}KeepTheirs")
        keep.setAccessibleName(f"Keep theirs: {row.label}")
        use = QRadioButton("Use mine")
        use.setObjectName(f"{row.key}UseMine")
        use.setAccessibleName(f"Use mine: {row.label}")
        group.addButton(keep)
        group.addButton(use)
        theirs = _Value(row.theirs, keep, f"{row.key}Theirs")
        yours = _Value(row.mine, use, f"{row.key}Mine")
        self.grid.addWidget(theirs, number, 1, Qt.AlignmentFlag.AlignTop)
        self.grid.addWidget(yours, number, 2, Qt.AlignmentFlag.AlignTop)
        self.grid.addLayout(_stacked((keep, use), margins=(0, 0, 6, 0), spacing=2), number, 3)
        field.setBuddy(use if mine else keep)
        self.choices[row.key] = (keep, use)
        self.values[row.key] = (theirs, yours)
        keep.toggled.connect(lambda _on, key=row.key: self._show_choice(key))
        (use if mine else keep).setChecked(True)
        self._show_choice(row.key)

    def _show_choice(self, key: str) -> None:
        """The value chosen reads as usual; the other is greyed."""
        mine = self.choices[key][1].isChecked()
        theirs, yours = self.values[key]
        theirs.set_chosen(not mine)
        yours.set_chosen(mine)

    def _fit_to_screen(self, table: QWidget) -> None:
        """As large as the fields need, within the screen (1024×700 included); the fields scroll."""
        screen = (self.parentWidget() or self).screen() or QGuiApplication.primaryScreen()
        room = screen.availableGeometry()
        width = min(max(760, table.sizeHint().width() + 40), room.width() - 40)
        self.area.setMinimumHeight(min(table.sizeHint().height(), 160))
        chrome = self.sizeHint().height() - self.area.sizeHint().height()
        height = min(chrome + table.sizeHint().height() + 8, room.height() - 60)
        self.resize(width, max(height, self.minimumSizeHint().height()))

    def _close(self, outcome: Resolution) -> None:
        if outcome is Resolution.CANCEL:
            self.reject()
            return
        self.outcome = outcome
        self.accept()

    def reject(self) -> None:  # Cancel, Escape and the window's close button
        self.outcome = Resolution.CANCEL
        super().reject()

    def use_mine(self) -> dict[str, bool]:
        """For each field shown: True to use what was typed, False to keep what is saved."""
        return {key: use.isChecked() for key, (_keep, use) in self.choices.items()}


def keep_choices(earlier: Mapping[str, bool], earlier_rows: Sequence[Difference],
                 rows: Sequence[Difference]) -> dict[str, bool]:
    """The choices of an earlier round that still apply: for fields whose two values are
    the same as then (a field someone saved again is decided afresh)."""
    before = {row.key: (row.theirs, row.mine) for row in earlier_rows}
    return {row.key: earlier[row.key] for row in rows
            if row.key in earlier and before.get(row.key) == (row.theirs, row.mine)}
