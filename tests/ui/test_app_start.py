"""Starting the window: a practice that vanished is reported, never silently started anew."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from desktop.ui.app import KNOWN_PRACTICES, open_for_window, remember
from tests.ui.test_profile_and_deletion import click_button, when_modal


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def test_a_first_run_creates_the_practice_and_remembers_where(qtbot, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "data" / "caseload.db"
    practice = open_for_window(f"sqlite:///{path}", settings, report=pytest.fail)
    assert practice is not None
    try:
        remember(settings, practice.location)
    finally:
        practice.close()
    assert path.exists()
    assert str(path.resolve()) in settings.value(KNOWN_PRACTICES)


@pytest.mark.parametrize("answer, created", [("quit", False), ("startNewPractice", True)])
def test_a_known_practice_that_is_missing_is_reported_and_not_replaced_unless_asked(
        qtbot, tmp_path: Path, settings, answer: str, created: bool) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "data" / "caseload.db"
    first = open_for_window(f"sqlite:///{path}", settings, report=pytest.fail)
    assert first is not None
    remember(settings, first.location)
    first.close()
    for candidate in path.parent.iterdir():
        candidate.unlink()  # deleted behind Caseload's back
    told: list[str] = []

    def reply(box: QMessageBox) -> None:
        told.append(box.text())
        click_button(box, answer)

    when_modal(QMessageBox, reply, after_ms=300)
    again = open_for_window(f"sqlite:///{path}", settings, report=pytest.fail)
    assert told and "is missing" in told[0] and str(path.resolve()) in told[0]
    assert (again is not None) == created
    assert path.exists() == created
    if again is not None:
        again.close()
