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


@pytest.mark.parametrize("trouble", ["key file missing", "key file damaged", "another practice's key file",
                                     "practice file cut short"])
def test_an_encrypted_practice_that_cannot_be_opened_says_what_to_do_and_changes_nothing(
        qtbot, tmp_path: Path, settings, trouble: str) -> None:  # type: ignore[no-untyped-def]
    from desktop.controllers.practice import open_practice

    def made(folder: Path) -> Path:
        path = folder / "caseload.db"
        practice = open_practice(f"sqlite:///{path}", create=True)
        try:
            practice.access.create_owner("olive", "Olive Owner", "olive's long passphrase")
        finally:
            practice.close()
        return path

    path = made(tmp_path / "one")
    keys = path.with_name("caseload.keys")
    if trouble == "key file missing":
        keys.unlink()
    elif trouble == "key file damaged":
        keys.write_text('{"caseload_keys": 1, "slots": [')
    elif trouble == "another practice's key file":
        keys.write_bytes(made(tmp_path / "two").with_name("caseload.keys").read_bytes())
    else:
        path.write_bytes(path.read_bytes()[:10_000])
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    told: list[str] = []
    assert open_for_window(f"sqlite:///{path}", settings, report=told.append) is None
    assert len(told) == 1 and "\n" not in told[0] and "Traceback" not in told[0]
    assert {"key file missing": "put its key file back",
            "key file damaged": "Restore the key file and the practice file together from a backup",
            "another practice's key file": "belongs to another practice file",
            "practice file cut short": "Restore it and its key file from a backup"}[trouble] in told[0]
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before


FIRST_PAINT = """
import os, sys
from PySide6.QtCore import QEvent, QObject, QSettings
from sqlalchemy import select
from desktop.controllers.practice import open_practice
from desktop.domain.models import PracticeUser
from desktop.ui.app import make_application
from desktop.controllers.users import actor_for
app = make_application([sys.argv[0]])
practice = open_practice(sys.argv[1])
with practice.db.reading() as s:
    actor = actor_for(s.scalars(select(PracticeUser).where(PracticeUser.username == "owner")).one())
from desktop.ui.main_window import MainWindow
window = MainWindow(practice, actor, QSettings(sys.argv[2], QSettings.Format.IniFormat))
class Painted(QObject):
    def eventFilter(self, watched, event):
        if watched is window and event.type() == QEvent.Type.Paint:
            print(sorted(m for m in ("numpy", "rapidfuzz", "desktop.ui.billing_page",
                                     "desktop.ui.appointments_page") if m in sys.modules))
            sys.stdout.flush()
            os._exit(0)
        return False
painted = Painted()
window.installEventFilter(painted)
window.show()  # (the app then reads the list, on a thread that imports numpy as it begins)
app.exec()
"""


def test_the_window_paints_before_the_lists_arrays_and_the_other_pages_are_imported(
        sqlite_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Start-up (issue 17): what the first paint does not need is not imported to make and paint
    the window, so it shows sooner: the list's arrays (numpy) come with its read, the duplicate
    finder and the Appointments and Billing pages when first used."""
    import os
    import subprocess
    import sys

    from tests.helpers import seed_users

    seed_users(sqlite_db)
    url = str(sqlite_db.engine.url)
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", FIRST_PAINT, url, str(tmp_path / "settings.ini")],
                          capture_output=True, text=True, timeout=120, env=environment,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
