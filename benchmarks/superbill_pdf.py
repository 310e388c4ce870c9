"""Rendering one superbill as a PDF (Save as PDF…, ``caseload billing document``), beside the naive way.

    python benchmarks/superbill_pdf.py [--db PATH] [--repeat 30]

*Ours* is ``render.billing_document.pdf_bytes``: the document's HTML in a
``QTextDocument`` set up once (fonts without ligatures, left-to-right pages),
laid out for a 300 dpi ``QPdfWriter`` on Letter paper and painted page by
page with its foot ("Page 1 of 1").

*Naive* is the first thing one writes: the same HTML in a ``QTextDocument`` at
its default settings, printed with ``QTextDocument.print_`` on a ``QPdfWriter``
at its default settings (1200 dpi, A4, Qt's own 2 cm margins and page number)
into a file. Both render the same ``DocumentView``.

Warm: both run once to load fonts, then alternate ``--repeat`` times in this
process; medians and 95th percentiles are printed. Cold: each runs once in a
fresh process, its ``QGuiApplication`` and the font database included: what
``caseload billing document`` pays for its one PDF.

The view comes from the demo practice at ``--db`` (last month's superbill with
the longest client name, read as the biller) when given; otherwise from a representative
document built here: a practice with a two-line address, a long client name,
diagnosis codes and one service. With ``--db`` the whole Save as PDF is timed
too: the look read and audited (a write to the practice file), rendered and
written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Report, code_version, median, ms, percentile, ratio  # noqa: E402
from desktop.controllers.billing import DocumentLine, DocumentView  # noqa: E402
from desktop.controllers.settings import Settings  # noqa: E402
from desktop.domain.models import DocumentKind  # noqa: E402

TARGET_S = 0.300


def sample_view() -> DocumentView:
    practice = Settings(name="Riverside Counselling & Family Therapy Associates",
                        address="Suite 400, Riverside Professional Building\n1200 North Main Street, "
                                "Springfield, IL 62702",
                        phone="(217) 555-0100", tax_id="12-3456789", npi="1234567893")
    day = dt.date(2026, 10, 5)
    return DocumentView(
        1234, DocumentKind.SUPERBILL, practice,
        "Maximiliana Alexandrina Konstantinopoulou-Featherstonehaugh", dt.date(1985, 12, 10),
        "742 Evergreen Terrace, Apartment 12B\nSpringfield, OR 97477", "F41.1, F32.0",
        day, day, (DocumentLine(day, "90834", "Psychotherapy, 45 minutes", 45, Decimal("140.00")),),
        Decimal("140.00"), True, dt.datetime(2026, 10, 6, 6, 0, tzinfo=dt.UTC))


def demo_view(path: str) -> DocumentView:
    """A superbill of last month from the demo practice at ``path``, read as its biller."""
    from desktop.controllers.practice import open_practice

    practice = open_practice(f"sqlite:///{Path(path).resolve()}")
    try:
        biller = practice.users.sign_in("biller", "demo")
        last_month = dt.date.today().replace(day=1) - dt.timedelta(days=1)
        rows = practice.billing.documents(biller, kind="superbill", month=f"{last_month:%Y-%m}")
        if not rows:
            raise SystemExit(f"{path} has no superbills for {last_month:%B %Y}; run "
                             "`caseload billing run --as biller` on it first.")
        chosen = max(rows, key=lambda r: (len(r.client_name), r.id))  # the longest name: the most to lay out
        return practice.billing.document(biller, chosen.id)
    finally:
        practice.close()


def save_end_to_end(path: str, document_id: int, repeat: int) -> list[float]:
    """Save as PDF as the window does it: read and audit the look, render, write the file (0600)."""
    from desktop.controllers.practice import open_practice
    from desktop.render.billing_document import write_pdf

    practice = open_practice(f"sqlite:///{Path(path).resolve()}")
    try:
        biller = practice.users.sign_in("biller", "demo")
        times = []
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "superbill.pdf"
            for _ in range(repeat):
                started = time.perf_counter()
                practice.billing.document(biller, document_id, purpose="pdf",
                                          deliver=lambda view: write_pdf(view, target))
                times.append(time.perf_counter() - started)
        return times
    finally:
        practice.close()


def ours(view: DocumentView) -> int:
    from desktop.render.billing_document import pdf_bytes

    return len(pdf_bytes(view))


def naive(view: DocumentView, folder: str) -> int:
    from PySide6.QtGui import QPdfWriter, QTextDocument

    from desktop.render.billing_document import document_html

    path = os.path.join(folder, "naive.pdf")
    writer = QPdfWriter(path)
    document = QTextDocument()
    document.setHtml(document_html(view))
    document.print_(writer)
    del writer
    return os.path.getsize(path)


def child(kind: str, view_json: str) -> None:
    """One cold render in this fresh process (the application made first); prints its seconds as JSON."""
    from desktop.render.billing_document import gui_application

    view = _view_from(view_json)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        gui_application()
        ours(view) if kind == "ours" else naive(view, folder)
        print(json.dumps({"seconds": time.perf_counter() - started}))


def _view_to(view: DocumentView) -> str:
    practice = view.practice
    return json.dumps({
        "id": view.id, "kind": view.kind.value, "practice": [practice.name, practice.address, practice.phone,
                                                            practice.tax_id, practice.npi],
        "client": [view.client_name, view.client_date_of_birth.isoformat() if view.client_date_of_birth else None,
                   view.client_address, view.diagnosis_codes],
        "period": [view.period_start.isoformat(), view.period_end.isoformat()],
        "lines": [[line.date.isoformat(), line.code, line.description, line.minutes, str(line.fee)]
                  for line in view.lines],
        "total": str(view.total), "automatic": view.automatic, "created": view.created_at.isoformat()})


def _view_from(text: str) -> DocumentView:
    v = json.loads(text)
    name, address, phone, tax_id, npi = v["practice"]
    client, born, where, codes = v["client"]
    return DocumentView(
        v["id"], DocumentKind(v["kind"]), Settings(name=name, address=address, phone=phone, tax_id=tax_id, npi=npi),
        client, dt.date.fromisoformat(born) if born else None, where, codes,
        dt.date.fromisoformat(v["period"][0]), dt.date.fromisoformat(v["period"][1]),
        tuple(DocumentLine(dt.date.fromisoformat(d), c, about, m, Decimal(f)) for d, c, about, m, f in v["lines"]),
        Decimal(v["total"]), v["automatic"], dt.datetime.fromisoformat(v["created"]))


def cold(kind: str, view: DocumentView) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--view", _view_to(view)],
                         capture_output=True, text=True, check=True, timeout=120)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a demo practice (SQLite file) whose superbill to render")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--child", choices=("ours", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--view", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.view)
        return

    from desktop.render.billing_document import gui_application

    view = demo_view(args.db) if args.db else sample_view()
    gui_application()
    print(f"Caseload {code_version()} · superbill {view.id}: {len(view.lines)} service(s), "
          f"{len(view.client_name)}-character client name · {args.repeat} runs each")
    cold_ours, cold_naive = cold("ours", view), cold("naive", view)
    warm_ours: list[float] = []
    warm_naive: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        size_ours, size_naive = ours(view), naive(view, folder)  # warm-up: fonts loaded
        for _ in range(args.repeat):
            started = time.perf_counter()
            ours(view)
            warm_ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            naive(view, folder)
            warm_naive.append(time.perf_counter() - started)

    report = Report()
    report.add("one superbill PDF, warm (median)", ms(median(warm_ours)), ms(median(warm_naive)),
               ratio(median(warm_naive), median(warm_ours)), f"≤ {ms(TARGET_S)}", median(warm_ours) <= TARGET_S)
    report.add("one superbill PDF, warm (95th percentile)", ms(percentile(warm_ours, 95)),
               ms(percentile(warm_naive, 95)), ratio(percentile(warm_naive, 95), percentile(warm_ours, 95)),
               f"≤ {ms(TARGET_S)}", percentile(warm_ours, 95) <= TARGET_S)
    report.add("one superbill PDF, cold (fresh process)", ms(cold_ours), ms(cold_naive),
               ratio(cold_naive, cold_ours), f"≤ {ms(TARGET_S)}", cold_ours <= TARGET_S)
    if args.db:
        saves = save_end_to_end(args.db, view.id, max(5, args.repeat // 3))
        report.add("Save as PDF end to end (read, audit, render, write; median)", ms(median(saves)),
                   target=f"≤ {ms(TARGET_S)}", met=median(saves) <= TARGET_S)
    report.add("file size", f"{size_ours / 1024:,.0f} KB", f"{size_naive / 1024:,.0f} KB")
    report.print()


if __name__ == "__main__":
    main()
