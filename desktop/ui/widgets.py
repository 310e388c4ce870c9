"""Small widgets every window and dialog uses the same way."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

DANGER = "#b00020"  # refusals, problems and the destructive buttons


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
