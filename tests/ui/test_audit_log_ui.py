"""Practice ▸ Audit log and the profile's Who viewed this record, clicked and typed as a person would.

SQLite is enough here: the controller's tests run every filter, the paging and
the verification on PostgreSQL too.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QDate, QSettings, Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QTableWidget

from desktop.controllers.clients import ClientsController
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.domain.models import AuditEvent, Outcome
from desktop.storage.database import Database
from desktop.ui.audit_log_window import AuditLogWindow, Col
from desktop.ui.main_window import MainWindow
from desktop.ui.profile import ProfileWindow
from tests.controllers.support import as_superuser
from tests.helpers import seed_users
from tests.ui.test_profile_and_deletion import click_button, when_modal

LEFT = Qt.MouseButton.LeftButton


# ------------------------------------------------------------------ set-up


@pytest.fixture
def people(sqlite_db: Database) -> dict[str, Actor]:
    return seed_users(sqlite_db)


@pytest.fixture
def clients(sqlite_db: Database, people: dict[str, Actor]) -> dict[str, int]:
    """Ada (made inactive and looked at by the owner), Grace (looked at by the manager),
    and Linus (deleted)."""
    owner, manager = people["owner"], people["manager"]
    controller = ClientsController(sqlite_db)
    ada = controller.add_client(owner, first_name="Ada", last_name="Lovelace")
    grace = controller.add_client(owner, first_name="Grace", last_name="Hopper")
    linus = controller.add_client(owner, first_name="Linus", last_name="Torvalds")
    controller.set_status(owner, ada, "inactive", reason="moved")
    controller.get_client(owner, ada)
    controller.get_client(manager, grace)
    controller.delete_client(owner, linus, "Linus Torvalds")
    return {"ada": ada, "grace": grace, "linus": linus}


@pytest.fixture
def thousand(sqlite_db: Database, people: dict[str, Actor], clients: dict[str, int]) -> None:
    """A thousand older entries, ten a day over a hundred days: the owner and the manager
    opening Grace's profile, one in five of the manager's refused."""
    owner, manager = people["owner"], people["manager"]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with sqlite_db.transaction() as s:
        for n in range(1000):
            who = owner if n % 2 else manager
            s.add(AuditEvent(actor_id=who.user_id, actor_username=who.username, action="client.view",
                             target_kind="client", target_id=clients["grace"],
                             outcome=Outcome.DENIED if n % 10 == 0 else Outcome.ALLOWED,
                             occurred_at=now - dt.timedelta(days=110 - n // 10, minutes=n % 10)))


def settings_in(folder: Path) -> QSettings:
    return QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)


def main_window(qtbot, db: Database, actor: Actor, tmp_path: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    window = MainWindow(Practice(db), actor, settings_in(tmp_path))
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    window.load(background=False)
    return window


def choose(qtbot, window: MainWindow, menu_name: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """Open a menu from the menu bar and click one of its items, as a person would."""
    menu = window.commands.menus[menu_name]
    [action] = [a for a in menu.actions() if a.objectName() == name]
    window.menuBar().setActiveAction(menu.menuAction())
    qtbot.waitUntil(menu.isVisible)
    assert action.isVisible() and action.isEnabled(), action.text()
    qtbot.mouseClick(menu, LEFT, pos=menu.actionGeometry(action).center())


@pytest.fixture
def log_windows(qtbot) -> Iterator[list[AuditLogWindow]]:  # type: ignore[no-untyped-def]
    """The Audit log windows a test opened, closed at its end unless it closed them (each one is
    deleted when it closes, so pytest-qt, which closes what it holds, must not hold them)."""
    windows: list[AuditLogWindow] = []
    yield windows
    for window in windows:
        if shiboken6.isValid(window):
            window.close()


def opened_log(qtbot, db: Database, actor: Actor, windows: list[AuditLogWindow]) -> AuditLogWindow:  # type: ignore[no-untyped-def]
    window = AuditLogWindow(Practice(db), actor)
    windows.append(window)
    assert window.start()
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


def shown_rows(window: AuditLogWindow) -> list[dict[str, str]]:
    model = window.model
    return [{title: model.index(r, c).data() for c, title in enumerate(
        ("entry", "time", "user", "action", "client", "outcome"))} for r in range(model.rowCount())]


def load_all(window: AuditLogWindow) -> None:
    while window.model.canFetchMore():
        window.model.fetchMore()


def pick(qtbot, combo, text: str) -> None:  # type: ignore[no-untyped-def]
    """Choose ``text`` in a drop-down with the keyboard, as a person would."""
    combo.setFocus()
    index = combo.findText(text)
    assert index >= 0, text
    while combo.currentIndex() != index:
        qtbot.keyClick(combo, Qt.Key.Key_Down if combo.currentIndex() < index else Qt.Key.Key_Up)


# ------------------------------------------------------------------ the menu


@pytest.mark.parametrize("username, offered", [
    ("owner", True), ("manager", True), ("clinician-all", False), ("clinician", False), ("biller", False),
    ("scheduler", False)])
def test_the_menu_item_is_offered_to_the_owner_and_the_manager_only(qtbot, sqlite_db, people, tmp_path,  # type: ignore[no-untyped-def]
                                                                   username, offered):
    window = main_window(qtbot, sqlite_db, people[username], tmp_path)
    item = window.commands.audit_log
    assert item.objectName() == "auditLog" and item.text() == "Audit &log…"
    assert item.isVisible() is offered
    if not offered:
        return
    choose(qtbot, window, "practice", "auditLog")
    qtbot.waitUntil(lambda: window.audit_window is not None and window.audit_window.isVisible())
    log = window.audit_window
    assert log.windowTitle() == "Audit log — Caseload"
    choose(qtbot, window, "practice", "auditLog")  # a second time: the same window, raised
    assert window.audit_window is log
    assert sum(w.isVisible() for w in qtbot_windows(AuditLogWindow)) == 1


def test_a_name_typed_in_the_log_opened_from_the_window_is_looked_up_in_its_list(  # type: ignore[no-untyped-def]
        qtbot, sqlite_db, people, tmp_path, clients):
    window = main_window(qtbot, sqlite_db, people["owner"], tmp_path)
    choose(qtbot, window, "practice", "auditLog")
    qtbot.waitUntil(lambda: window.audit_window is not None and window.audit_window.isVisible())
    log = window.audit_window
    qtbot.keyClicks(log.client, "LOVEL")
    qtbot.keyClick(log.client, Qt.Key.Key_Return)
    assert {r["client"] for r in shown_rows(log)} == {"Ada Lovelace"} and len(shown_rows(log)) == 3
    assert log.model.where.client_ids == (clients["ada"],)  # found in the Clients list, not by the database
    log.client.clear()
    qtbot.keyClicks(log.client, "torvalds")  # deleted: in neither the list nor the database
    qtbot.keyClick(log.client, Qt.Key.Key_Return)
    assert shown_rows(log) == [] and log.problem.text() == ""
    log.close()


def qtbot_windows(kind: type) -> list:  # type: ignore[type-arg]
    from PySide6.QtWidgets import QApplication

    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind)]


def test_anyone_else_is_refused_in_one_sentence_and_the_refusal_is_audited(qtbot, sqlite_db, people,  # type: ignore[no-untyped-def]
                                                                          tmp_path):
    window = main_window(qtbot, sqlite_db, people["biller"], tmp_path)
    said: list[str] = []
    when_modal(QMessageBox, lambda box: (said.append(box.text()), box.accept()))
    window.open_audit_log()  # as a stale menu or a script would
    assert len(said) == 1 and "\n" not in said[0] and "Traceback" not in said[0]
    assert window.audit_window is None
    with sqlite_db.reading() as s:
        refused = [e.actor_username for e in
                   s.query(AuditEvent).filter_by(action="audit.open", outcome=Outcome.DENIED)]
    assert refused == ["biller"]


# ------------------------------------------------------------------ the list


def test_entries_are_listed_newest_first_in_plain_words(qtbot, sqlite_db, people, log_windows, clients):  # type: ignore[no-untyped-def]
    window = opened_log(qtbot, sqlite_db, people["owner"], log_windows)
    rows = shown_rows(window)
    numbers = [int(r["entry"].replace(",", "")) for r in rows]
    assert numbers == sorted(numbers, reverse=True)
    assert rows[0]["action"] == "Opened the audit log" and rows[0]["user"] == "Olivia Owens"
    words = [(r["user"], r["action"], r["client"], r["outcome"]) for r in rows]
    assert ("Olivia Owens", "Changed status to Inactive", "Ada Lovelace", "Allowed") in words
    assert ("Olivia Owens", "Viewed profile", "Ada Lovelace", "Allowed") in words
    assert ("Marcus Mendel", "Viewed profile", "Grace Hopper", "Allowed") in words
    assert ("Olivia Owens", "Deleted client", f"deleted client #{clients['linus']}", "Allowed") in words
    assert window.status.text().startswith("Newest first · ")
    entry = window.model.index(0, Col.ENTRY)
    assert entry.data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight


def test_a_long_log_is_read_a_page_at_a_time_as_it_scrolls(qtbot, sqlite_db, people, log_windows, clients, thousand):  # type: ignore[no-untyped-def]
    window = opened_log(qtbot, sqlite_db, people["owner"], log_windows)
    first = window.model.rowCount()
    assert 1 <= first <= 400, first
    assert "scroll down for older entries" in window.status.text()
    bar = window.table.verticalScrollBar()
    for _ in range(3):
        bar.setValue(bar.maximum())
        qtbot.wait(20)
    assert window.model.rowCount() > first
    assert window.model.rowCount() < 1000  # still not everything
    assert f"{window.model.rowCount():,} shown" in window.status.text()


def test_a_window_shown_without_being_started_starts_itself(qtbot, sqlite_db, people, log_windows, clients):  # type: ignore[no-untyped-def]
    window = AuditLogWindow(Practice(sqlite_db), people["manager"])
    log_windows.append(window)
    window.show()
    assert shown_rows(window)[0]["action"] == "Opened the audit log"
    refused = AuditLogWindow(Practice(sqlite_db), people["clinician"])
    log_windows.append(refused)
    said: list[str] = []
    when_modal(QMessageBox, lambda box: (said.append(box.text()), box.accept()))
    refused.show()  # says why (in a box answered above), shows nothing and closes
    assert len(said) == 1 and refused.model.rowCount() == 0
    qtbot.waitUntil(lambda: not shiboken6.isValid(refused) or not refused.isVisible(), timeout=5000)


# ------------------------------------------------------------------ filters


def test_each_filter_narrows_the_list(qtbot, sqlite_db, people, log_windows, clients, thousand):  # type: ignore[no-untyped-def]
    window = opened_log(qtbot, sqlite_db, people["owner"], log_windows)

    # User: only the manager's entries.
    pick(qtbot, window.user, "Marcus Mendel")
    load_all(window)
    assert window.model.rowCount() > 0 and {r["user"] for r in shown_rows(window)} == {"Marcus Mendel"}
    assert "filtered" in window.status.text()
    qtbot.mouseClick(window.clear, LEFT)
    assert window.user.currentText() == "Everyone"

    # Client by name, applied after a pause in typing; then by number, applied on Enter.
    qtbot.keyClicks(window.client, "lovel")
    qtbot.waitUntil(lambda: {r["client"] for r in shown_rows(window)} == {"Ada Lovelace"}, timeout=3000)
    window.client.clear()
    qtbot.keyClicks(window.client, f"#{clients['linus']}")
    qtbot.keyClick(window.client, Qt.Key.Key_Return)
    assert {r["client"] for r in shown_rows(window)} == {f"deleted client #{clients['linus']}"}
    qtbot.mouseClick(window.clear, LEFT)
    assert window.client.text() == ""

    # Kind: status changes only.
    pick(qtbot, window.kind, "Status changes")
    assert [r["action"] for r in shown_rows(window)] == ["Changed status to Inactive"]
    qtbot.mouseClick(window.clear, LEFT)

    # Refused only: the manager's refused looks.
    pick(qtbot, window.outcome, "Refused")
    load_all(window)
    rows = shown_rows(window)
    assert len(rows) == 100 and {r["outcome"] for r in rows} == {"Refused"}
    assert {r["action"] for r in rows} == {"Refused: view profile"}
    qtbot.mouseClick(window.clear, LEFT)

    # A date range: the ten entries of one day.
    day = dt.date.fromisoformat(shown_rows(window)[-1]["time"][:10])  # the oldest loaded page's last day
    window.since_on.click()
    window.until_on.click()
    window.since.setDate(QDate(day.year, day.month, day.day))
    window.until.setDate(QDate(day.year, day.month, day.day))
    load_all(window)
    rows = shown_rows(window)
    assert rows and {r["time"][:10] for r in rows} == {day.isoformat()}
    assert len(rows) <= 11


def test_a_filter_that_makes_no_sense_is_said_in_one_sentence(qtbot, sqlite_db, people, log_windows, clients):  # type: ignore[no-untyped-def]
    window = opened_log(qtbot, sqlite_db, people["owner"], log_windows)
    window.since_on.click()
    window.until_on.click()
    window.since.setDate(QDate.currentDate().addDays(-400))
    before = shown_rows(window)
    assert before
    window.until.setDate(QDate.currentDate().addDays(-500))
    said = window.problem.text()
    assert said == "The first date is after the last one."
    assert shown_rows(window) == before  # the list stays as it was
    qtbot.mouseClick(window.clear, LEFT)
    assert window.problem.text() == ""
    qtbot.keyClicks(window.client, "#0")
    qtbot.keyClick(window.client, Qt.Key.Key_Return)
    said = window.problem.text()
    assert said and "Traceback" not in said and said.count(".") <= 2 and "\n" not in said


# ------------------------------------------------------------------ export


def test_export_csv_writes_exactly_the_entries_shown(qtbot, sqlite_db, people, log_windows, clients, thousand, tmp_path,  # type: ignore[no-untyped-def]
                                                     monkeypatch):
    window = opened_log(qtbot, sqlite_db, people["owner"], log_windows)
    pick(qtbot, window.user, "Marcus Mendel")
    load_all(window)
    shown = shown_rows(window)
    target = tmp_path / "exported"
    asked: list[str] = []

    def save_as(_parent, _title, suggested, _filter):  # type: ignore[no-untyped-def]
        asked.append(suggested)
        return str(target), ""

    monkeypatch.setattr("desktop.ui.audit_log_window.QFileDialog.getSaveFileName", save_as)
    qtbot.mouseClick(window.export_button, LEFT)
    qtbot.waitUntil(lambda: not window.exporting, timeout=10_000)
    assert Path(asked[0]).name == f"audit-log-{dt.date.today().isoformat()}.csv"
    written = target.with_suffix(".csv")
    with written.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Entry", "Time", "User", "Action", "Client", "Outcome"]
    assert [r[0] for r in rows[1:]] == [r["entry"].replace(",", "") for r in shown]
    assert [r[2:] for r in rows[1:]] == [[r["user"], r["action"], r["client"], r["outcome"]] for r in shown]
    assert f"Exported {len(shown):,} entries to " in window.said.text()
    assert os.stat(written).st_mode & 0o077 == 0


# ------------------------------------------------------------------ verify


def _tamper(db: Database, seq: int) -> None:
    """Change one field of entry ``seq`` as whoever owns the file could, past its trigger."""
    as_superuser(db, f"UPDATE audit_events SET action = 'client.add' WHERE seq = {int(seq)}")


def verify_and_read(qtbot, window: AuditLogWindow, button: str = "") -> QMessageBox:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, str, list[str]]] = []

    def answer(box: QMessageBox) -> None:
        seen.append((box.text(), box.informativeText(), [b.objectName() for b in box.buttons()]))
        if button:
            click_button(box, button)
        else:
            box.accept()

    when_modal(QMessageBox, answer)
    qtbot.mouseClick(window.verify_button, LEFT)
    qtbot.waitUntil(lambda: bool(seen) and window.verifying is None, timeout=15_000)
    return seen[0]  # type: ignore[return-value]


def test_verify_says_an_intact_log_is_intact(qtbot, sqlite_db, people, log_windows, clients):  # type: ignore[no-untyped-def]
    window = opened_log(qtbot, sqlite_db, people["manager"], log_windows)
    text, _more, _buttons = verify_and_read(qtbot, window)
    assert "entries, intact. No anchor was kept on this computer yet." in text
    window.close()  # keeps an anchor
    again = opened_log(qtbot, sqlite_db, people["manager"], log_windows)
    text, _more, _buttons = verify_and_read(qtbot, again)
    assert "entries, intact, matches the anchor of " in text


def test_verify_names_the_entry_that_was_changed_and_shows_it(qtbot, sqlite_db, people, log_windows, clients, thousand):  # type: ignore[no-untyped-def]
    _tamper(sqlite_db, 500)
    window = opened_log(qtbot, sqlite_db, people["owner"], log_windows)
    text, more, buttons = verify_and_read(qtbot, window, "showEntry")
    assert text == "The audit log is not intact: entry 500 was changed."
    assert "Entry 500 no longer matches its hash." in more and "499 entries before it are intact" in more
    assert "showEntry" in buttons
    current = window.table.currentIndex()
    assert current.isValid() and window.model.index(current.row(), Col.ENTRY).data() == "500"
    assert "From entry" in window.status.text() and window.newest_button.isVisible()
    qtbot.mouseClick(window.newest_button, LEFT)
    assert shown_rows(window)[0]["action"] == "Verified the audit log"


def test_cancel_stops_a_long_verification_and_concludes_nothing(qtbot, sqlite_db, people, log_windows,  # type: ignore[no-untyped-def]
                                                                clients, monkeypatch):
    window = opened_log(qtbot, sqlite_db, people["owner"], log_windows)

    def long_check(_actor, anchors=(), progress=None):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 20  # a log far too long to wait for
        done = 0
        while time.monotonic() < deadline:
            done += 5_000
            if progress(done, 10_000_000):
                raise InterruptedError("The check was stopped.")
            time.sleep(0.01)
        raise AssertionError("never cancelled")

    monkeypatch.setattr(window.log, "verify", long_check)
    qtbot.mouseClick(window.verify_button, LEFT)
    assert not window.verify_button.isEnabled()
    qtbot.waitUntil(lambda: window.progress is not None and window.progress.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: "of 10,000,000 entries" in window.progress.labelText(), timeout=5000)
    [cancel] = window.progress.findChildren(QPushButton)
    qtbot.mouseClick(cancel, LEFT)
    qtbot.waitUntil(lambda: window.verifying is None, timeout=5000)
    assert window.said.text() == "Verification stopped before the end; nothing was concluded."
    assert window.verify_button.isEnabled() and window.progress is None


# ------------------------------------------------------------------ who viewed this record


def history_tab(qtbot, db: Database, actor: Actor, client_id: int) -> ProfileWindow:  # type: ignore[no-untyped-def]
    profile = ProfileWindow(Practice(db), actor, client_id)
    qtbot.addWidget(profile)
    profile.show()
    tabs = [profile.tabs.tabText(i) for i in range(profile.tabs.count())]
    qtbot.mouseClick(profile.tabs.tabBar(), LEFT, pos=profile.tabs.tabBar().tabRect(tabs.index("History")).center())
    return profile


def cells(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_who_viewed_this_record_lists_each_look_by_name(qtbot, sqlite_db, people, clients):  # type: ignore[no-untyped-def]
    profile = history_tab(qtbot, sqlite_db, people["owner"], clients["grace"])
    viewers = profile.findChild(QTableWidget, "whoViewed")
    assert viewers is not None and viewers.isVisible()
    rows = cells(viewers)
    assert [row[1:] for row in rows] == [["Olivia Owens", "Viewed profile"], ["Marcus Mendel", "Viewed profile"]]
    trail = cells(profile.findChild(QTableWidget, "auditTrail"))
    assert ["Olivia Owens", "Added client", "Allowed"] in [row[1:] for row in trail]


def test_who_viewed_this_record_is_not_there_for_a_clinician(qtbot, sqlite_db, people, clients):  # type: ignore[no-untyped-def]
    profile = history_tab(qtbot, sqlite_db, people["clinician-all"], clients["ada"])
    assert profile.findChild(QTableWidget, "whoViewed") is None
    trail = cells(profile.findChild(QTableWidget, "auditTrail"))
    assert ["Olivia Owens", "Changed status to Inactive", "Allowed"] in [row[1:] for row in trail]
    assert "Viewed profile" not in {row[2] for row in trail}  # who looked is not theirs to see


# ------------------------------------------------------------------ anchors


@pytest.fixture
def anchor_folder() -> Iterator[Path]:
    yield Path(os.environ["CASELOAD_ANCHOR_DIR"])


def test_closing_the_window_keeps_an_anchor(qtbot, sqlite_db, people, log_windows, clients, anchor_folder):  # type: ignore[no-untyped-def]
    window = opened_log(qtbot, sqlite_db, people["owner"], log_windows)
    assert not list(anchor_folder.glob("*.json"))
    window.close()
    [kept] = list(anchor_folder.glob("*.json"))
    assert '"seq"' in kept.read_text()


def test_the_main_window_keeps_an_anchor_when_it_closes_whoever_is_signed_in(qtbot, sqlite_db, people,  # type: ignore[no-untyped-def]
                                                                            clients, tmp_path, anchor_folder):
    window = main_window(qtbot, sqlite_db, people["scheduler"], tmp_path)
    window.close()
    assert len(list(anchor_folder.glob("*.json"))) == 1
