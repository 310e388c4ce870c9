"""A superbill and a statement as the insurer gets them: the PDF's own text, read back with pdftotext.

docs/rules.md, "Billing": a superbill shows the practice's name, address,
phone, EIN and NPI; the client's name, date of birth, address and diagnosis
codes; each service's date, code, description, minutes and fee; and the total.
A statement shows the same without the diagnosis codes, for its month. The
text is checked as a reader's PDF tool extracts it (``pdftotext``, poppler),
so what an insurer searches or copies is what was typed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess
import unicodedata
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from desktop.controllers.billing import BillingController, DocumentView
from desktop.controllers.clients import ClientsController
from desktop.controllers.permissions import Actor
from desktop.domain import clock
from desktop.domain.models import AuditEvent, DocumentKind, Outcome
from desktop.render.billing_document import write_pdf
from desktop.storage.database import Database
from tests.helpers import add_appointment, add_services, count

NEW_YORK = ZoneInfo("America/New_York")


def last_month() -> dt.date:
    """The first day of the month before this one: closed, so its statements are made."""
    return (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def visit(db: Database, client_id: int, day: dt.date, fee: str, hour: int = 10,
          clinician_id: int | None = None) -> int:
    """An attended appointment at ``hour`` o'clock on ``day`` on the practice's (New York) clock."""
    return add_appointment(db, client_id, clock.to_utc(dt.datetime.combine(day, dt.time(hour)), NEW_YORK), fee=fee,
                           clinician_id=clinician_id)


def raw_text(path: Path, *pages: int) -> str:
    """The PDF's text exactly as pdftotext extracts it."""
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is needed; .ci/run installs it"
    where = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    return subprocess.run(["pdftotext", *where, str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def pdf_text(path: Path, *pages: int) -> str:
    """The PDF's text normalized as a search box would (NFKC: Arabic presentation forms to
    letters; bidi marks dropped)."""
    out = raw_text(path, *pages)
    return "".join(ch for ch in unicodedata.normalize("NFKC", out) if unicodedata.category(ch) != "Cf")


def page_count(path: Path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


@pytest.fixture
def griffin(db: Database, practice: dict[str, Actor]) -> dict[str, int]:
    """Ada Griffin, seen twice last month in a New York practice, billed by the automatic run."""
    add_services(db, time_zone="America/New_York")  # Riverside Counselling, 1 Main St, Springfield
    ada = ClientsController(db).add_client(
        practice["owner"], first_name="Ada", last_name="Griffin", date_of_birth="1985-12-10",
        address="2 Elm Street\nSpringfield, IL 62704", diagnosis_codes="F41.1, F32.0")
    month = last_month()
    visit(db, ada, month.replace(day=5), "140.00", clinician_id=practice["clinician"].user_id)
    visit(db, ada, month.replace(day=12), "180.00")
    BillingController(db).run_automatic()
    documents = BillingController(db).documents(practice["biller"], client_id=ada, month=f"{month:%Y-%m}")
    superbill = min(d.id for d in documents if d.kind is DocumentKind.SUPERBILL)
    [statement] = [d.id for d in documents if d.kind is DocumentKind.STATEMENT]
    return {"client": ada, "superbill": superbill, "statement": statement}


def saved(db: Database, actor: Actor, document_id: int, path: Path) -> DocumentView:
    return BillingController(db).document(actor, document_id, purpose="pdf",
                                          deliver=lambda view: write_pdf(view, path))


def test_a_superbill_pdf_holds_the_practice_the_client_the_codes_and_the_total(
        db: Database, practice: dict[str, Actor], griffin: dict[str, int], tmp_path: Path) -> None:
    path = tmp_path / "superbill.pdf"
    saved(db, practice["biller"], griffin["superbill"], path)

    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # health information: the owner's only
    text = pdf_text(path)
    for expected in ("Riverside Counselling", "1 Main St", "555 0100", "EIN 12-3456789", "NPI 1234567893",
                     "Superbill", "Ada Griffin", "Date of birth 1985-12-10", "2 Elm Street",
                     "F41.1, F32.0", f"{last_month().replace(day=5).isoformat()}", "90834",
                     "Psychotherapy, 45 minutes", "Dr. Colin Park", "50", "Total", "$140.00", "Page 1 of 1"):
        assert expected in text, expected
    # The letters typed, not typographic ligatures ("ﬁ", "ﬃ"): an insurer's search finds them.
    raw = raw_text(path)
    assert "Ada Griffin" in raw and "Springfield, IL 62704" in raw
    assert "$180.00" not in text  # the other visit is on its own superbill
    looks = [e for e in ClientsController(db).audit_events(practice["owner"], griffin["client"])
             if e["action"] == "billing.document.view"]
    assert [(e["outcome"], e["details"]["purpose"]) for e in looks] == [("allowed", "pdf")]


def test_a_statement_pdf_holds_the_month_every_service_and_the_total_without_diagnoses(
        db: Database, practice: dict[str, Actor], griffin: dict[str, int], tmp_path: Path) -> None:
    path = tmp_path / "statement.pdf"
    saved(db, practice["owner"], griffin["statement"], path)

    assert path.read_bytes().startswith(b"%PDF")
    text = pdf_text(path)
    month = last_month()
    for expected in ("Riverside Counselling", "Statement", f"{month:%B %Y}", "Ada Griffin", "90834",
                     month.replace(day=5).isoformat(), month.replace(day=12).isoformat(),
                     "$140.00", "$180.00", "Total, 2 services", "$320.00"):
        assert expected in text, expected
    assert "F41.1" not in text and "DIAGNOSIS" not in text


def test_accented_and_arabic_names_are_in_the_pdfs_text(db: Database, practice: dict[str, Actor],
                                                        tmp_path: Path) -> None:
    add_services(db, time_zone="America/New_York")
    clients = ClientsController(db)
    owner = practice["owner"]
    people = {clients.add_client(owner, first_name="Zoë", last_name="Ångström-Nuñez",
                                 address="Rue de l'Église 3"): ("Zoë Ångström-Nuñez", "Rue de l'Église 3"),
              # (no house number: pdftotext moves digits about inside right-to-left lines)
              clients.add_client(owner, first_name="محمد", last_name="الحسيني",
                                 address="شارع النيل\nالقاهرة"): ("محمد الحسيني", "شارع النيل")}
    for client_id in people:
        visit(db, client_id, last_month().replace(day=7), "140.00")
    billing = BillingController(db)
    billing.run_automatic()
    for client_id, (name, street) in people.items():
        [superbill] = billing.documents(owner, client_id=client_id, kind="superbill")
        path = tmp_path / f"{client_id}.pdf"
        saved(db, owner, superbill.id, path)
        text = pdf_text(path)
        assert name in text and street in text, name


def test_a_long_statement_runs_onto_more_pages_each_numbered_with_its_columns(
        db: Database, practice: dict[str, Actor], tmp_path: Path) -> None:
    add_services(db, time_zone="America/New_York")
    owner = practice["owner"]
    client = ClientsController(db).add_client(owner, first_name="Nora", last_name="Quinn")
    month = last_month()
    for day in range(1, 28):
        visit(db, client, month.replace(day=day), "100.00", hour=9)
        visit(db, client, month.replace(day=day), "100.00", hour=14)
    billing = BillingController(db)
    billing.run_automatic()
    [statement] = billing.documents(owner, client_id=client, kind="statement")
    path = tmp_path / "long.pdf"
    saved(db, owner, statement.id, path)

    pages = page_count(path)
    assert pages >= 2
    for page in range(1, pages + 1):
        text = pdf_text(path, page)
        assert f"Page {page} of {pages}" in text and f"Statement {statement.id}" in text
        assert "Description" in text and "Minutes" in text  # the columns' heading on every page
    assert "Total, 54 services" in pdf_text(path, pages) and "$5,400.00" in pdf_text(path, pages)


def test_a_pdf_that_cannot_be_written_leaves_nothing_and_is_audited_as_refused(
        db: Database, practice: dict[str, Actor], griffin: dict[str, int], tmp_path: Path) -> None:
    from desktop.controllers.errors import FileNotWritten

    folder = tmp_path / "out"
    folder.mkdir()
    not_a_folder = folder / "notes.txt"  # typed as if it were a folder
    not_a_folder.write_text("keep me")
    with pytest.raises(FileNotWritten, match="Nothing was written"):
        saved(db, practice["biller"], griffin["superbill"], not_a_folder / "superbill.pdf")
    assert not_a_folder.read_text() == "keep me" and list(folder.iterdir()) == [not_a_folder]
    assert count(db, AuditEvent, action="billing.document.view", outcome=Outcome.DENIED) == 1
    assert count(db, AuditEvent, action="billing.document.view", outcome=Outcome.ALLOWED) == 0
