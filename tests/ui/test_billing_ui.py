"""The Billing page and a document's window, clicked and typed as a biller would.

The practice is in New York; Ada, Zoë and Bob were seen last month and the
month before, and the automatic run billed them. Nora was inactive the month
before last: her two visits then wait under Needs manual billing
(docs/rules.md, "Billing").
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import shiboken6
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtPrintSupport import QPrintDialog
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)
from sqlalchemy import event, select

from desktop.controllers.billing import BillingController
from desktop.controllers.clients import ClientsController
from desktop.controllers.document_table import DocumentTable
from desktop.controllers.errors import PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.domain import clock
from desktop.domain.models import AuditEvent, BillingItem, DocumentKind, Outcome, StatusChange
from desktop.storage.database import Database
from desktop.storage.errors import DatabaseUnavailable
from desktop.ui.automatic_billing import offered_to
from desktop.ui.billing_page import (
    DOCUMENT_MINIMUMS,
    DOCUMENT_WEIGHTS,
    MANUAL_MINIMUMS,
    BillingPage,
    DocColumn,
)
from desktop.ui.document_window import DocumentWindow
from desktop.ui.widgets import fit_widths
from tests.helpers import add_appointment, add_services, count
from tests.ui.test_list_polish import drag_column_edge
from tests.ui.test_profile_and_deletion import WHEN_MODAL_GENERATION

LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier
NEW_YORK = ZoneInfo("America/New_York")
READING_MS = 300  # a person reads a question before answering it


def month_back(months: int) -> dt.date:
    """The first day of the month ``months`` before this one."""
    first = dt.date.today().replace(day=1)
    for _ in range(months):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return first


def utc(day: dt.date, hour: int = 10) -> dt.datetime:
    return clock.to_utc(dt.datetime.combine(day, dt.time(hour)), NEW_YORK)


def inactive_between(db: Database, actor: Actor, client_id: int, start: dt.datetime, end: dt.datetime) -> None:
    """The client was made inactive at ``start`` and active again at ``end`` (UTC), as the front desk
    did then: the status changes are made now, then put back at those moments."""
    clients = ClientsController(db)
    clients.set_status(actor, client_id, "inactive", reason="moved")
    clients.set_status(actor, client_id, "active")
    with db.transaction() as s:
        first, second = s.scalars(select(StatusChange).where(StatusChange.client_id == client_id)
                                  .order_by(StatusChange.id)).all()
        first.changed_at, second.changed_at = start, end


@pytest.fixture
def billed(db: Database, practice: dict[str, Actor]) -> dict[str, int]:
    add_services(db, time_zone="America/New_York")
    clients, owner = ClientsController(db), practice["owner"]
    ids = {}
    for key, first, last in (("ada", "Ada", "Lovelace"), ("zoe", "Zoë", "Ångström"), ("bob", "Bob", "Marley")):
        ids[key] = clients.add_client(owner, first_name=first, last_name=last, date_of_birth="1985-12-10",
                                      address="2 Elm Street\nSpringfield", diagnosis_codes="F41.1")
        add_appointment(db, ids[key], utc(month_back(1).replace(day=5)), fee="140.00")
        add_appointment(db, ids[key], utc(month_back(2).replace(day=9)), fee="180.00")
    add_appointment(db, ids["ada"], utc(month_back(1).replace(day=19)), fee="140.00")
    ids["nora"] = clients.add_client(owner, first_name="Nora", last_name="Quinn")
    earlier = month_back(2)
    ids["nora_1"] = add_appointment(db, ids["nora"], utc(earlier.replace(day=10)), fee="150.00")
    ids["nora_2"] = add_appointment(db, ids["nora"], utc(earlier.replace(day=17)), fee="150.00")
    inactive_between(db, owner, ids["nora"], utc(earlier, 0), utc(month_back(1), 0))
    BillingController(db).run_automatic()
    return ids


# ------------------------------------------------------------------ helpers


def answer(kind: type, act: Callable[[QWidget], None], *, after_ms: int = READING_MS,
           give_up_ms: int = 10_000) -> None:
    """Run ``act`` on the next modal window of ``kind`` once it has been up ``after_ms``; if none
    comes, or ``act`` fails, close the modal windows so the test fails rather than hangs."""
    generation = WHEN_MODAL_GENERATION[0]
    deadline = time.monotonic() + give_up_ms / 1000

    def close_modals() -> None:
        for _ in range(5):
            widget = QApplication.activeModalWidget()
            if widget is None:
                return
            widget.reject() if isinstance(widget, QDialog) else widget.close()

    def respond(widget: QWidget) -> None:
        if WHEN_MODAL_GENERATION[0] != generation or not shiboken6.isValid(widget):
            return
        try:
            act(widget)
        except BaseException:
            close_modals()
            raise

    def poll() -> None:
        if WHEN_MODAL_GENERATION[0] != generation:
            return
        widget = QApplication.activeModalWidget()
        if isinstance(widget, kind) and widget.isVisible():
            QTimer.singleShot(after_ms, lambda: respond(widget))
            return
        if time.monotonic() > deadline:
            close_modals()
            return
        QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)


def opened_page(qtbot, db: Database, actor: Actor, *, last_month: bool = True) -> BillingPage:  # type: ignore[no-untyped-def]
    """The page, shown and read; then (as most tests want) on last month, chosen as a person does."""
    page = BillingPage(Practice(db), actor)
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    page.activateWindow()
    with qtbot.waitSignals([page.loaded, page.manualLoaded], timeout=10_000):
        page.reload()
    if last_month:
        page.period.setFocus()
        with qtbot.waitSignal(page.loaded, timeout=10_000):
            qtbot.keyClick(page.period, Qt.Key.Key_Down)
    return page


def listed(page: BillingPage) -> list[tuple[str, str, str, str]]:
    """What the Documents list shows, row by row: kind, client, period, amount."""
    model = page.table.model()
    return [tuple(model.index(row, column).data()
                  for column in (DocColumn.KIND, DocColumn.CLIENT, DocColumn.PERIOD, DocColumn.AMOUNT))
            for row in range(model.rowCount())]  # type: ignore[misc]


def click_row(qtbot, table, row: int, column: int = DocColumn.CLIENT, modifier=Qt.KeyboardModifier.NoModifier):  # type: ignore[no-untyped-def]
    rect = table.visualRect(table.model().index(row, column))
    qtbot.mouseClick(table.viewport(), LEFT, modifier, rect.center())


def row_of(page: BillingPage, client: str, period: str) -> int:
    for row, (_kind, name, when, _amount) in enumerate(listed(page)):
        if name == client and when == period:
            return row
    raise AssertionError(f"{client} {period} is not listed: {listed(page)}")


def looks(db: Database, outcome: Outcome = Outcome.ALLOWED) -> list[str]:
    """The audited looks at billing documents, oldest first: their purpose, or why refused."""
    with db.reading() as s:
        return [(e.details or {}).get("purpose") or (e.details or {}).get("refusal") for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "billing.document.view", AuditEvent.outcome == outcome)
            .order_by(AuditEvent.id))]


def pdf_words(path: Path) -> str:
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is needed; .ci/run installs it"
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def documents_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home whose Documents folder is where Save as PDF… starts."""
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    return home / "Documents"


# ------------------------------------------------------------------ the list


def test_the_page_opens_on_this_month_and_lists_another_month_when_chosen(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["biller"], last_month=False)
    this, last, before = month_back(0), month_back(1), month_back(2)
    assert page.period.currentText() == f"This month ({this:%B %Y})"
    assert all(when.startswith(f"{this:%Y-%m}") or when == f"{this:%B %Y}" for _k, _n, when, _a in listed(page))
    page.period.setFocus()
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        qtbot.keyClick(page.period, Qt.Key.Key_Down)
    assert page.period.currentText() == f"Last month ({last:%B %Y})"
    shown = listed(page)
    # Client order: each client's superbills beside their statement.
    assert shown == [
        ("Statement", "Ada Lovelace", f"{last:%B %Y}", "$280.00"),
        ("Superbill", "Ada Lovelace", last.replace(day=5).isoformat(), "$140.00"),
        ("Superbill", "Ada Lovelace", last.replace(day=19).isoformat(), "$140.00"),
        ("Statement", "Bob Marley", f"{last:%B %Y}", "$140.00"),
        ("Superbill", "Bob Marley", last.replace(day=5).isoformat(), "$140.00"),
        ("Statement", "Zoë Ångström", f"{last:%B %Y}", "$140.00"),
        ("Superbill", "Zoë Ångström", last.replace(day=5).isoformat(), "$140.00"),
    ]
    assert page.summary.text() == (f"7 documents of {last:%B %Y} · $1,120.00 · 4 superbills, 3 statements")

    page.period.setFocus()
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        qtbot.keyClick(page.period, Qt.Key.Key_Down)  # one month further back
    assert page.period.currentText() == f"{before:%B %Y}"
    assert {(kind, when) for kind, _name, when, _amount in listed(page)} == {
        ("Statement", f"{before:%B %Y}"), ("Superbill", before.replace(day=9).isoformat())}
    assert len(listed(page)) == 6  # Nora's visits then were never billed automatically
    assert page.summary.text().startswith(f"6 documents of {before:%B %Y} · $1,080.00")


def held_reads(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> threading.Event:
    """Reads of the documents in batches of two that wait after their second batch until the
    event is set, and then, with ``fail``, cannot read the rest (the practice server lost, say).
    (A large month's first rows come in one batch: they do not wait.)"""
    monkeypatch.setattr("desktop.controllers.billing.TABLE_BATCH", 2)
    held = threading.Event()
    original = DocumentTable.build.__func__  # type: ignore[attr-defined]

    def slowly(cls, documents, names, tz, only=None):  # type: ignore[no-untyped-def]
        def batches():  # type: ignore[no-untyped-def]
            for number, batch in enumerate(documents):
                yield batch
                if number == 1:
                    held.wait(10)
                    if fail:
                        raise DatabaseUnavailable("The practice server cannot be reached.")
        return original(cls, batches(), names, tz, only=only)

    monkeypatch.setattr(DocumentTable, "build", classmethod(slowly))
    return held


def test_a_long_read_says_how_many_documents_it_has_read_so_far(qtbot, db, practice, billed, monkeypatch):  # type: ignore[no-untyped-def]
    """A month of a million-client practice takes seconds to read: the page says how far it is."""
    page = opened_page(qtbot, db, practice["biller"], last_month=False)
    held = held_reads(monkeypatch)
    last = month_back(1)
    try:
        page.period.setCurrentIndex(1)
        qtbot.waitUntil(lambda: page.summary.text() == f"Reading the documents of {last:%B %Y}… 4 so far",
                        timeout=5000)  # two batches of two
    finally:
        held.set()
    qtbot.waitUntil(lambda: page.summary.text().startswith(f"7 documents of {last:%B %Y}"))


def held_after_first_rows(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> threading.Event:
    """A large month's read (a month of three clients, made large here) that shows its first
    client's documents and then waits mid-way through the rest (``held_reads``)."""
    monkeypatch.setattr("desktop.controllers.billing.FIRST_SCREEN_FROM", 3)
    monkeypatch.setattr("desktop.controllers.billing.FIRST_CLIENTS", 1)
    return held_reads(monkeypatch, fail)


def first_rows_shown(qtbot, db: Database, practice: dict[str, Actor], monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                     fail: bool = False) -> tuple[BillingPage, threading.Event]:
    """The page on this month, then last month chosen: its first rows shown, the rest held
    (``held_after_first_rows``) until the event is set (each read waits at most ten seconds)."""
    page = opened_page(qtbot, db, practice["biller"], last_month=False)
    held = held_after_first_rows(monkeypatch, fail)
    with qtbot.waitSignal(page.firstShown, timeout=10_000):
        page.period.setCurrentIndex(1)
    return page, held


def test_a_large_months_first_rows_show_while_the_rest_is_read_and_stay_where_they_are(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, monkeypatch):
    page, held = first_rows_shown(qtbot, db, practice, monkeypatch)
    last = month_back(1)
    header = page.table.horizontalHeader()
    try:
        ada = [("Statement", "Ada Lovelace", f"{last:%B %Y}", "$280.00"),  # (oldest period first)
               ("Superbill", "Ada Lovelace", last.replace(day=5).isoformat(), "$140.00"),
               ("Superbill", "Ada Lovelace", last.replace(day=19).isoformat(), "$140.00")]
        assert listed(page) == ada
        assert page.summary.text().startswith(f"Reading the rest of the documents of {last:%B %Y}…")
        # Another sort, or a name typed, shows no rows rather than a part of the answer.
        qtbot.mouseClick(header.viewport(), LEFT, pos=QPoint(header.sectionViewportPosition(DocColumn.AMOUNT) + 5, 5))
        assert listed(page) == [] and page.list_area.currentWidget() is page.empty
        assert "sorted and filtered as you chose once they are all in" in page.empty.text()
        qtbot.mouseClick(header.viewport(), LEFT, pos=QPoint(header.sectionViewportPosition(DocColumn.CLIENT) + 5, 5))
        assert listed(page) == ada and page.list_area.currentWidget() is page.table
        qtbot.keyClicks(page.client, "bo")
        assert listed(page) == []
        page.client.clear()
        assert listed(page) == ada
        click_row(qtbot, page.table, 2)
        chosen = page.selected_document()
        assert chosen is not None and chosen.period_start == last.replace(day=19)
        resets: list[int] = []
        added: list[tuple[int, int]] = []
        page.documents.modelReset.connect(lambda: resets.append(1))
        page.documents.rowsInserted.connect(lambda _parent, first, last_row: added.append((first, last_row)))
        with qtbot.waitSignal(page.loaded, timeout=10_000):
            held.set()
    finally:
        held.set()
    assert listed(page)[:3] == ada and len(listed(page)) == 7
    assert (resets, added) == ([], [(3, 6)])  # the first rows stayed as they were; the rest came below
    assert page.selected_document() == chosen
    assert page.summary.text().startswith(f"7 documents of {last:%B %Y}")


def test_when_the_rest_of_a_large_month_cannot_be_read_its_first_rows_go_too(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, monkeypatch):
    page, held = first_rows_shown(qtbot, db, practice, monkeypatch, fail=True)
    try:
        assert len(listed(page)) == 3
        with qtbot.waitSignal(page.loaded, timeout=10_000):
            held.set()
    finally:
        held.set()
    assert listed(page) == []
    assert page.summary.text() == "The practice server cannot be reached."
    with qtbot.waitSignal(page.loaded, timeout=10_000):  # the month listed before is read again
        page.period.setCurrentIndex(0)
    assert page.summary.text().startswith(f"0 documents of {dt.date.today():%B %Y}")


def test_going_back_to_the_month_listed_before_while_the_rest_is_read_lists_that_month(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, monkeypatch):
    page, held = first_rows_shown(qtbot, db, practice, monkeypatch)
    try:
        with qtbot.waitSignal(page.loaded, timeout=10_000):
            page.period.setCurrentIndex(0)  # this month again, whose documents were listed
        assert listed(page) == []  # this month has none; last month's first rows are gone
        assert page.summary.text().startswith(f"0 documents of {dt.date.today():%B %Y}")
    finally:
        held.set()
    qtbot.wait(200)  # (last month's read, given up, arrives and is dropped)
    assert listed(page) == [] and page.summary.text().startswith(f"0 documents of {dt.date.today():%B %Y}")


def test_all_periods_asks_first_while_a_large_months_rest_is_read(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, monkeypatch):
    page, held = first_rows_shown(qtbot, db, practice, monkeypatch)
    last = month_back(1)
    asked: list[str] = []

    def keep_month(box: QMessageBox) -> None:
        asked.append(box.text())
        box.findChild(QPushButton, "keepMonth").click()

    try:
        answer(QMessageBox, keep_month)
        page.period.setCurrentIndex(page.period.findText("All periods"))
        assert asked == [f"{last:%B %Y} alone holds at least 3 documents; every period holds many times more."]
        assert page.period.currentText() == f"Last month ({last:%B %Y})" and len(listed(page)) == 3
        with qtbot.waitSignal(page.loaded, timeout=10_000):
            held.set()
    finally:
        held.set()
    assert len(listed(page)) == 7


def test_a_change_while_the_rest_is_read_keeps_the_first_rows_and_the_one_chosen(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, monkeypatch):
    page, held = first_rows_shown(qtbot, db, practice, monkeypatch)
    try:
        click_row(qtbot, page.table, 1)
        chosen = page.selected_document()
        page.reload()  # a document was made elsewhere, say: the month is read once more
        assert len(listed(page)) == 3 and page.selected_document() == chosen
        assert page.summary.text().startswith("Reading the rest of the documents")
        with qtbot.waitSignal(page.loaded, timeout=10_000):
            held.set()
    finally:
        held.set()
    assert len(listed(page)) == 7 and page.selected_document() == chosen


def test_another_month_chosen_while_the_rest_is_read_drops_the_first_rows_at_once(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, monkeypatch):
    page, held = first_rows_shown(qtbot, db, practice, monkeypatch)
    earlier = month_back(2)
    try:
        assert len(listed(page)) == 3
        page.period.setCurrentIndex(2)  # the month before: last month's rows not a moment under its heading
        assert listed(page) == []
        assert page.summary.text().startswith(f"Reading the documents of {earlier:%B %Y}…")
        with qtbot.waitSignal(page.loaded, timeout=10_000):
            held.set()
    finally:
        held.set()
    assert {name for _kind, name, _when, _amount in listed(page)} == {"Ada Lovelace", "Zoë Ångström", "Bob Marley"}
    assert page.summary.text().startswith(f"6 documents of {earlier:%B %Y}")


def test_a_hidden_page_reads_when_it_is_next_shown_not_before(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = BillingPage(Practice(db), practice["biller"])
    qtbot.addWidget(page)
    page.reload()  # as the window does after an automatic run, while another page shows
    qtbot.wait(100)
    assert page.documents.rowCount() == 0 and page.summary.text() == ""
    with qtbot.waitSignals([page.loaded, page.manualLoaded], timeout=10_000):
        page.show()
    assert f"{month_back(0):%B %Y}" in page.summary.text() and page.manual.rowCount() == 2


def test_the_months_are_the_practices_and_are_found_off_the_gui_thread_not_while_the_page_is_made(  # type: ignore[no-untyped-def]
        qtbot, db, practice, monkeypatch):
    """Making the page reads nothing from the database (it is made on the GUI thread, with the
    window); which month it is comes with the first read, on the practice's clock."""
    add_services(db, time_zone="Pacific/Auckland")
    # Late on 31 January on this computer's clock; in Auckland it is already 1 February.
    monkeypatch.setattr(clock, "today", lambda tz: dt.date(2031, 2, 1) if tz.key == "Pacific/Auckland"
                        else dt.date(2031, 1, 31))
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(("GUI thread: " if threading.current_thread() is threading.main_thread() else "")
                          + statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = BillingPage(Practice(db), practice["biller"])
        qtbot.addWidget(page)
        assert statements == []  # nothing read while the page was made
        page.resize(1100, 700)
        page.show()
        with qtbot.waitSignals([page.loaded, page.manualLoaded], timeout=10_000):
            page.reload()
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert statements and not [s for s in statements if s.startswith("GUI thread: ")]
    assert page.period.currentText() == "This month (February 2031)"
    assert page.period.itemText(1) == "Last month (January 2031)"
    assert page.period.itemText(page.period.count() - 1) == "All periods"
    assert page.summary.text().startswith("0 documents of February 2031")


def test_before_the_first_read_the_page_says_it_is_reading_this_month(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = BillingPage(Practice(db), practice["biller"])
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    assert page.period.count() == 1 and page.period.currentText() == "This month"
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.reload()
        assert page.summary.text() == "Reading the documents of this month…"
    assert page.period.currentText() == f"This month ({month_back(0):%B %Y})"
    assert page.period.count() == 1 + 24 + 1  # this month, 24 back, All periods


def widths(table) -> list[int]:  # type: ignore[no-untyped-def]
    header = table.horizontalHeader()
    return [header.sectionSize(c) for c in range(header.count())]


def test_the_columns_fill_each_list_and_a_dragged_column_keeps_its_share(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["manager"])
    table, header = page.table, page.table.horizontalHeader()
    qtbot.waitUntil(lambda: sum(widths(table)) == table.viewport().width())
    assert not table.horizontalScrollBar().isVisible()
    assert all(w >= DOCUMENT_MINIMUMS[c] for c, w in enumerate(widths(table)))

    # Dragging the Client heading's edge wider takes the room from the columns to its right.
    client, right = header.sectionSize(DocColumn.CLIENT), widths(table)[DocColumn.PERIOD:]
    drag_column_edge(qtbot, header, DocColumn.CLIENT, 100)
    assert header.sectionSize(DocColumn.CLIENT) == client + 100
    assert sum(widths(table)) == table.viewport().width() and not table.horizontalScrollBar().isVisible()
    assert all(now <= was for now, was in zip(widths(table)[DocColumn.PERIOD:], right, strict=True))
    # A narrower window keeps the person's proportions: the dragged column is not put back.
    before = table.viewport().width()
    page.resize(1000, 700)
    qtbot.waitUntil(lambda: table.viewport().width() < before and sum(widths(table)) == table.viewport().width())
    usual = fit_widths(DOCUMENT_WEIGHTS, DOCUMENT_MINIMUMS, table.viewport().width())
    assert header.sectionSize(DocColumn.CLIENT) > usual[DocColumn.CLIENT] + 50

    # The other tab's list was hidden while the window changed size: shown, it fits too.
    tab_bar = page.tabs.tabBar()
    qtbot.mouseClick(tab_bar, LEFT, pos=tab_bar.tabRect(1).center())
    manual = page.manual_table
    qtbot.waitUntil(lambda: manual.isVisible() and sum(widths(manual)) == manual.viewport().width())
    assert all(w >= MANUAL_MINIMUMS[c] for c, w in enumerate(widths(manual)))


def test_kind_and_the_typed_client_name_narrow_the_list(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["biller"])
    page.kind.setFocus()
    qtbot.keyClick(page.kind, Qt.Key.Key_Down)
    assert page.kind.currentText() == "Superbills"
    assert {kind for kind, *_ in listed(page)} == {"Superbill"} and len(listed(page)) == 4
    qtbot.keyClick(page.kind, Qt.Key.Key_Down)
    assert page.kind.currentText() == "Statements"
    assert [name for _k, name, *_ in listed(page)] == ["Ada Lovelace", "Bob Marley", "Zoë Ångström"]

    qtbot.keyClicks(page.client, "zo")
    assert listed(page) == [("Statement", "Zoë Ångström", f"{month_back(1):%B %Y}", "$140.00")]
    assert "1 document of" in page.summary.text() and "for “\u2068zo\u2069”" in page.summary.text()
    qtbot.keyClicks(page.client, "x")
    assert listed(page) == [] and page.list_area.currentWidget() is page.empty
    assert "“\u2068zox\u2069”" in page.empty.text()
    qtbot.keyClick(page.client, Qt.Key.Key_Escape)
    assert page.client.text() == "" and len(listed(page)) == 3


def test_all_periods_asks_first_in_a_large_practice_and_reads_every_period_if_told(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, monkeypatch):
    monkeypatch.setattr("desktop.ui.billing_page.ALL_PERIODS_ASK_ABOVE", 5)  # last month holds 7
    page = opened_page(qtbot, db, practice["biller"])
    last = month_back(1)
    all_periods = page.period.findText("All periods")
    asked: list[str] = []

    def keep_month(box: QMessageBox) -> None:
        asked.append(box.text())
        box.findChild(QPushButton, "keepMonth").click()

    answer(QMessageBox, keep_month)
    page.period.setCurrentIndex(all_periods)  # as the drop-down does when it is chosen there
    assert asked == [f"{last:%B %Y} alone holds 7 documents; every period holds many times more."]
    assert page.period.currentText() == f"Last month ({last:%B %Y})" and len(listed(page)) == 7

    answer(QMessageBox, lambda box: box.findChild(QPushButton, "readAllPeriods").click())
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.period.setCurrentIndex(all_periods)
    assert page.period.currentText() == "All periods" and len(listed(page)) == 13
    assert page.summary.text().startswith("13 documents in every period")


def test_a_header_click_sorts_and_the_selection_stays_on_its_document(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["biller"])
    click_row(qtbot, page.table, row_of(page, "Bob Marley", f"{month_back(1):%B %Y}"))
    chosen = page.selected_document()
    assert chosen is not None and chosen.client_name == "Bob Marley"
    header = page.table.horizontalHeader()
    amount_heading = QPoint(header.sectionViewportPosition(DocColumn.AMOUNT) + 10, header.height() // 2)
    qtbot.mouseClick(header.viewport(), LEFT, pos=amount_heading)
    amounts = [Decimal(amount.strip("$").replace(",", "")) for *_r, amount in listed(page)]
    assert amounts == sorted(amounts) and amounts[0] < amounts[-1]
    assert page.selected_document() == chosen
    assert page.table.selectionModel().selectedRows()[0].row() == page.documents.row_of(chosen.id)


# ------------------------------------------------------------------ a document


def test_enter_opens_the_document_showing_the_client_and_total_and_audits_the_look(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["biller"])
    row = row_of(page, "Ada Lovelace", f"{month_back(1):%B %Y}")
    click_row(qtbot, page.table, row)
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    statement = page.selected_document()
    assert statement is not None
    window = page.windows[statement.id]
    qtbot.addWidget(window)
    assert window.isVisible()
    assert window.windowTitle() == f"Statement {statement.id} – \u2068Ada Lovelace\u2069"
    text = window.page.toPlainText()
    assert "Ada Lovelace" in text and "Riverside Counselling" in text and "$280.00" in text
    assert f"{month_back(1):%B %Y}" in text
    assert looks(db) == ["view"]

    # Double-clicking it again brings the same window forward; nothing is read twice.
    rect = page.table.visualRect(page.table.model().index(row, DocColumn.CLIENT))
    qtbot.mouseDClick(page.table.viewport(), LEFT, pos=rect.center())
    assert page.windows[statement.id] is window and looks(db) == ["view"]
    window.page.setFocus()
    qtbot.keyClick(window.page, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: statement.id not in page.windows)


def save_through_dialog(qtbot, target: Path, seen: dict[str, str],  # type: ignore[no-untyped-def]
                        before_saving: Callable[[], None] | None = None) -> None:
    def save_as(box: QFileDialog) -> None:
        seen["folder"] = box.directory().absolutePath()
        seen["file"] = Path(box.selectedFiles()[0]).name
        name = box.findChild(QLineEdit, "fileNameEdit")
        name.selectAll()
        qtbot.keyClicks(name, str(target))
        if before_saving is not None:
            before_saving()
        qtbot.keyClick(name, Qt.Key.Key_Return)

    answer(QFileDialog, save_as)


def test_save_as_pdf_from_the_window_writes_the_file_named_for_the_document(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, documents_folder, tmp_path):
    page = opened_page(qtbot, db, practice["biller"])
    day = month_back(1).replace(day=5)
    click_row(qtbot, page.table, row_of(page, "Zoë Ångström", day.isoformat()))
    qtbot.mouseClick(page.open_button, LEFT)
    superbill = page.selected_document()
    assert superbill is not None
    window = page.windows[superbill.id]
    qtbot.addWidget(window)
    target = tmp_path / "for the insurer.pdf"
    seen: dict[str, str] = {}
    save_through_dialog(qtbot, target, seen)
    qtbot.mouseClick(window.save_button, LEFT)

    assert Path(seen["folder"]) == documents_folder
    assert seen["file"] == f"Superbill {superbill.id} – Zoë Ångström {day.isoformat()}.pdf"
    assert target.read_bytes().startswith(b"%PDF")
    words = pdf_words(target)
    assert "Zoë Ångström" in words and "F41.1" in words and "$140.00" in words
    assert window.said.isVisible() and str(target) in window.said.text()
    assert looks(db) == ["view", "pdf"]


def test_a_save_that_cannot_be_written_says_why_and_leaves_no_file(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, documents_folder, tmp_path):
    page = opened_page(qtbot, db, practice["biller"])
    click_row(qtbot, page.table, 0)
    stick = tmp_path / "memory stick"
    stick.mkdir()
    target = stick / "statement.pdf"
    told: list[str] = []
    # The stick is pulled out after the folder was chosen, before Save is pressed.
    save_through_dialog(qtbot, target, {}, before_saving=lambda: stick.rmdir())
    answer(QMessageBox, lambda box: (told.append(box.text()), box.accept()), give_up_ms=20_000)
    qtbot.mouseClick(page.save_button, LEFT)

    assert len(told) == 1 and str(stick) in told[0] and told[0].endswith("Nothing was written.")
    assert "Traceback" not in told[0]
    assert not target.exists() and sorted(tmp_path.rglob("*.pdf")) == [] and not stick.exists()
    assert looks(db) == [] and looks(db, Outcome.DENIED) == ["FileNotWritten"]


def test_print_sends_the_pages_to_the_printer_chosen_in_the_print_dialog(  # type: ignore[no-untyped-def]
        qtbot, db, practice, billed, tmp_path):
    page = opened_page(qtbot, db, practice["biller"])
    click_row(qtbot, page.table, row_of(page, "Bob Marley", f"{month_back(1):%B %Y}"))
    printed = tmp_path / "printed.pdf"

    def print_to_file(dialog: QPrintDialog) -> None:
        printers = dialog.findChild(QComboBox, "printers")
        printers.setCurrentIndex(printers.findText("Print to File (PDF)"))
        where = dialog.findChild(QLineEdit, "filename")
        where.selectAll()
        qtbot.keyClicks(where, str(printed))
        buttons = dialog.findChild(QDialogButtonBox)
        qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Ok), LEFT)

    answer(QPrintDialog, print_to_file)
    qtbot.mouseClick(page.print_button, LEFT)

    assert printed.read_bytes().startswith(b"%PDF")
    words = pdf_words(printed)
    assert "Bob Marley" in words and "Statement" in words and "$140.00" in words and "Page 1 of 1" in words
    assert looks(db) == ["print"]
    assert page.notice.text().endswith("was sent to the printer.")


def test_cancelling_the_print_dialog_prints_nothing_and_audits_nothing(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["biller"])
    click_row(qtbot, page.table, 0)
    answer(QPrintDialog, lambda dialog: dialog.reject())
    qtbot.mouseClick(page.print_button, LEFT)
    assert looks(db) == [] and looks(db, Outcome.DENIED) == []


# ------------------------------------------------------------ manual billing


def test_generate_superbill_bills_the_chosen_visits_and_shows_what_was_made(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["biller"])
    assert page.tabs.tabText(1) == "&Needs manual billing (2)"
    qtbot.mouseClick(page.tabs.tabBar(), LEFT, pos=page.tabs.tabBar().tabRect(1).center())
    assert page.tabs.currentIndex() == 1
    assert not page.generate_button.isEnabled()  # nothing chosen yet
    click_row(qtbot, page.manual_table, 0, 1)
    click_row(qtbot, page.manual_table, 1, 1, CTRL)
    assert page.generate_button.isEnabled()
    asked: list[str] = []

    def confirm(box: QMessageBox) -> None:
        asked.append(f"{box.text()} {box.informativeText()}")
        box.findChild(QPushButton, "generate").click()

    answer(QMessageBox, confirm)
    with qtbot.waitSignals([page.loaded, page.manualLoaded], timeout=10_000):
        qtbot.mouseClick(page.generate_button, LEFT)

    assert asked == ["Make 1 superbill for 2 appointments, $300.00 in all? One superbill per client:\n"
                     "• \u2068Nora Quinn\u2069: 2 appointments, $300.00"]
    assert page.manual.rowCount() == 0 and page.tabs.tabText(1) == "&Needs manual billing"
    assert page.tabs.currentIndex() == 0 and page.period.currentText() == "Made just now"
    earlier = month_back(2)
    assert listed(page) == [("Superbill", "Nora Quinn",
                             f"{earlier.replace(day=10).isoformat()} – {earlier:%m}-17",
                             "$300.00")]
    made = page.selected_document()
    assert made is not None and not made.automatic
    assert page.notice.isVisible() and page.notice.text() == "Made 1 superbill by hand; it is listed below, selected."
    assert page.summary.text() == "1 document made just now · $300.00 · 1 superbill"
    assert BillingController(db).needs_manual_billing(practice["biller"]) == []

    # Choosing a month again takes the "Made just now" choice away.
    page.period.setFocus()
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        qtbot.keyClick(page.period, Qt.Key.Key_Down)
    assert page.period.findText("Made just now") == -1 and not page.notice.isVisible()


def test_cancelling_generate_makes_nothing(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["manager"])
    page.tabs.setCurrentIndex(1)
    click_row(qtbot, page.manual_table, 0, 1)
    answer(QMessageBox, lambda box: box.button(QMessageBox.StandardButton.Cancel).click())
    qtbot.mouseClick(page.generate_button, LEFT)
    assert page.manual.rowCount() == 2
    assert len(BillingController(db).needs_manual_billing(practice["manager"])) == 2


def test_run_billing_now_bills_what_is_due_off_the_gui_thread_and_lists_it(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["owner"])
    late = add_appointment(db, billed["bob"], utc(month_back(1).replace(day=21)), fee="160.00")  # entered late
    assert len(listed(page)) == 7
    with qtbot.waitSignal(page.billingRun, timeout=20_000) as run:
        qtbot.mouseClick(page.run_button, LEFT)
        assert not page.run_button.isEnabled()  # the window answers while it runs
    assert (run.args[0].documents_created, run.args[0].by_kind.get("superbill")) == (1, 1)
    qtbot.waitUntil(lambda: len(listed(page)) == 8, timeout=10_000)
    assert ("Superbill", "Bob Marley", month_back(1).replace(day=21).isoformat(), "$160.00") in listed(page)
    assert page.notice.text() == "Billing run: 1 document made (1 superbill)."
    assert page.run_button.isEnabled()
    with db.reading() as s:
        assert s.scalar(select(BillingItem.kind).where(BillingItem.appointment_id == late)) \
            is DocumentKind.SUPERBILL


# ------------------------------------------------------------------ who


def test_a_scheduler_is_refused_billing_and_not_offered_the_page(db, practice, billed):  # type: ignore[no-untyped-def]
    assert [name for name, actor in practice.items() if offered_to(actor)] == ["owner", "manager", "biller"]
    scheduler = practice["scheduler"]
    billing = BillingController(db)
    for read in (lambda: billing.documents(scheduler, month=f"{month_back(1):%Y-%m}"),
                 lambda: billing.needs_manual_billing(scheduler),
                 lambda: billing.generate_superbills(scheduler, [billed["nora_1"]])):
        with pytest.raises(PermissionDenied):
            read()
    assert count(db, AuditEvent, actor_username="scheduler", outcome=Outcome.DENIED) == 3
    assert len(billing.needs_manual_billing(practice["biller"])) == 2  # nothing was made


def test_without_generate_rights_the_button_stays_off_and_says_why(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    # The entire-practice clinician may see billing documents but not make them.
    page = opened_page(qtbot, db, practice["clinician-all"])
    assert len(listed(page)) == 7
    page.tabs.setCurrentIndex(1)
    assert not page.generate_button.isEnabled()
    assert page.manual_summary.text() == "Your role cannot generate billing documents."
    assert not page.run_button.isVisible()


def test_a_document_deleted_meanwhile_says_so_in_one_sentence(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    page = opened_page(qtbot, db, practice["biller"])
    click_row(qtbot, page.table, row_of(page, "Bob Marley", f"{month_back(1):%B %Y}"))
    ClientsController(db).delete_client(practice["owner"], billed["bob"], "Bob Marley")
    told: list[str] = []
    answer(QMessageBox, lambda box: (told.append(box.text()), box.accept()))
    qtbot.mouseClick(page.open_button, LEFT)
    assert len(told) == 1 and told[0].startswith("There is no billing document")
    assert not page.windows


def test_document_window_can_be_closed_with_escape(qtbot, db, practice, billed):  # type: ignore[no-untyped-def]
    view = BillingController(db).document(practice["biller"], listed_ids(db, practice)[0])
    window = DocumentWindow(Practice(db), practice["biller"], view)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle().startswith(("Superbill", "Statement"))
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.isVisible()


def listed_ids(db: Database, practice: dict[str, Actor]) -> list[int]:
    return [d.id for d in BillingController(db).documents(practice["biller"], kind=DocumentKind.SUPERBILL)]

