"""DocumentTable: the Billing page's documents as columns sort and filter as rows of them would.

Built here from rows as the database gives them, in batches; the page's behaviour is
the plain Python one: a stable sort by each column's key (either way, equal keys in
the base order, oldest period first, then by number) and "the typed text is in the
client's case-folded name".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.controllers import document_table
from desktop.controllers.document_table import DocumentTable, Key
from desktop.domain.models import DocumentKind
from desktop.domain.search import display_name

NEW_YORK = ZoneInfo("America/New_York")
names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)
documents = st.lists(st.tuples(
    st.integers(0, 5),  # client
    st.booleans(),  # superbill
    # first day (days after 2026-01-01: a few weeks, so periods tie, or back to 1968 and on to 2072), length
    st.one_of(st.integers(0, 40), st.integers(-21_000, 17_000)), st.integers(0, 3),
    st.integers(0, 50_000), st.booleans(), st.integers(0, 10**6)), max_size=40)


def _stored(number: int, superbill: int, client: int, first: dt.date, last: dt.date, cents: int, automatic: int,
            made: dt.datetime) -> tuple[int, ...]:
    """A document as the database gives it to ``build``: days and microseconds since 1970."""
    epoch = dt.datetime(1970, 1, 1)
    return (number, superbill, client, (first - epoch.date()).days, (last - epoch.date()).days, cents, automatic,
            (made - epoch) // dt.timedelta(microseconds=1))


def _asked(people: list[tuple[int, str, str]]) -> Callable[[list[int]], list[tuple[int, str]]]:
    """The clients' names as the controller gives them: those asked for, in id order."""
    def names(ids: list[int]) -> list[tuple[int, str]]:
        assert ids == sorted(set(ids))
        return sorted((p[0], display_name(p[1], p[2])) for p in people if p[0] in ids)
    return names


def _table(clients: list[tuple[str, str]], rows: list[tuple[int, bool, int, int, int, bool, int]],
           batch: int = 7) -> DocumentTable:
    start = dt.date(2026, 1, 1)
    made = []
    for number, (client, superbill, first, length, cents, automatic, seconds) in enumerate(rows, start=1):
        stamp = dt.datetime(2026, 3, 1) + dt.timedelta(seconds=seconds, microseconds=number)
        made.append(_stored(number * 7 % 101 + number * 1000, int(superbill), 10 + client % len(clients),
                            start + dt.timedelta(days=first), start + dt.timedelta(days=first + length),
                            cents, int(automatic), stamp))
    people = [(10 + i, first, last) for i, (first, last) in enumerate(clients)]
    return DocumentTable.build([made[i:i + batch] for i in range(0, len(made), batch)], _asked(people), NEW_YORK)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(names, names), min_size=1, max_size=6), documents, st.text(max_size=3))
def test_it_sorts_and_filters_as_its_rows_would(clients: list[tuple[str, str]],
                                                rows: list[tuple[int, bool, int, int, int, bool, int]],
                                                typed: str) -> None:
    table = _table(clients, rows)
    shown = [table.row(i) for i in range(len(table))]
    assert [(r.period_start, r.id) for r in shown] == sorted((r.period_start, r.id) for r in shown)
    keys = {Key.NUMBER: lambda r: r.id, Key.KIND: lambda r: r.kind.value,
            Key.CLIENT: lambda r: r.client_name.casefold(), Key.PERIOD: lambda r: (r.period_start, r.period_end),
            Key.CREATED: lambda r: r.created_at, Key.MADE: lambda r: r.automatic, Key.AMOUNT: lambda r: r.amount}
    table.prepare_orders()
    for key, of in keys.items():
        for descending in (False, True, False, True):  # (the second time from what was kept)
            expected = sorted(range(len(shown)), key=lambda i: of(shown[i]), reverse=descending)  # noqa: B023
            assert table.order(key, descending).tolist() == expected, (key, descending)
    hits = table.named(typed)
    assert [r.id for r, hit in zip(shown, hits, strict=True) if hit] == \
        [r.id for r in shown if typed.casefold() in r.client_name.casefold()]
    many, document_table.MANY_HITS = document_table.MANY_HITS, 0  # the way for a letter most names hold
    try:
        assert table.named(typed).tolist() == hits.tolist()
    finally:
        document_table.MANY_HITS = many
    superbills = table.of_kind(DocumentKind.SUPERBILL)
    assert [r.id for r, hit in zip(shown, superbills, strict=True) if hit] == \
        [r.id for r in shown if r.kind is DocumentKind.SUPERBILL]
    for keep, kept in ((None, shown), (hits, [r for r, hit in zip(shown, hits, strict=True) if hit])):
        assert table.counts(keep) == (sum(r.kind is DocumentKind.SUPERBILL for r in kept),
                                      sum(r.kind is DocumentKind.STATEMENT for r in kept),
                                      sum((r.amount for r in kept), Decimal(0)))


def test_a_row_reads_back_what_was_stored_on_the_practices_clock() -> None:
    table = DocumentTable.build(
        [[_stored(41, 0, 7, dt.date(2026, 10, 1), dt.date(2026, 10, 31), 32050, 1,
                  dt.datetime(2026, 11, 1, 5, 0, 0, 250000))],
         [_stored(40, 1, 7, dt.date(2026, 10, 9), dt.date(2026, 10, 9), 14000, 0, dt.datetime(2026, 10, 10, 3, 59))]],
        _asked([(7, "Zoë", "Ångström")]), NEW_YORK)
    statement, superbill = table.row(0), table.row(1)  # oldest period first
    assert (superbill.id, superbill.kind, superbill.client_id, superbill.client_name) == \
        (40, DocumentKind.SUPERBILL, 7, "Zoë Ångström")
    assert (superbill.period_start, superbill.amount, superbill.automatic) == \
        (dt.date(2026, 10, 9), Decimal("140.00"), False)
    assert superbill.created_at == dt.datetime(2026, 10, 9, 23, 59, tzinfo=NEW_YORK)  # the evening before, there
    assert (statement.period_end, statement.amount, statement.automatic) == (dt.date(2026, 10, 31),
                                                                             Decimal("320.50"), True)
    assert table.index_of(41) == 0 and table.index_of(42) is None


def test_numbers_past_four_bytes_and_rows_out_of_order_are_read_as_they_are() -> None:
    """A SQLite practice may number documents past 2**31; a batch may come in any order."""
    day, made = dt.date(2026, 10, 9), dt.datetime(2026, 10, 10, 12)
    rows = [_stored(2**33, 1, 7, day, day, 2**40, 1, made), _stored(12, 1, 9, day, day, 100, 1, made),
            _stored(11, 0, 2**34, dt.date(2026, 10, 1), dt.date(2026, 10, 31), 5, 1, made)]
    table = DocumentTable.build([rows], _asked([(7, "Ada", "Byron"), (9, "Al", "Bo"), (2**34, "Cy", "Do")]), NEW_YORK)
    assert [(r.id, r.client_id, r.amount) for r in map(table.row, range(len(table)))] == [
        (11, 2**34, Decimal("0.05")), (12, 9, Decimal("1.00")), (2**33, 7, Decimal(2**40) / 100)]
    assert table.order(Key.NUMBER, True).tolist() == [2, 1, 0] and table.order(Key.CLIENT).tolist() == [2, 1, 0]
    # Periods before 1970 (negative days) sort as their dates do.
    d = dt.date
    old = DocumentTable.build([[_stored(21, 0, 7, d(1969, 12, 31), d(1970, 1, 4), 1, 1, made),
                                _stored(22, 0, 7, d(1969, 6, 1), d(1969, 6, 30), 1, 1, made),
                                _stored(23, 1, 7, d(1969, 12, 31), d(1969, 12, 31), 1, 1, made)]],
                              _asked([(7, "Ada", "Byron")]), NEW_YORK)
    assert [old.row(i).id for i in old.order(Key.PERIOD)] == [22, 23, 21]
    far = dt.date(2071, 3, 1)  # past two bytes of days
    later = DocumentTable.build([rows[:2] + [_stored(13, 1, 9, far, far, 100, 1, made)]],
                                _asked([(7, "Ada", "Byron"), (9, "Al", "Bo")]), NEW_YORK)
    assert [later.row(i).period_start for i in later.order(Key.PERIOD, True)] == [far, day, day]


def test_a_client_deleted_between_the_two_reads_is_shown_by_number_and_an_empty_read_is_empty() -> None:
    day = dt.date(2026, 10, 9)
    table = DocumentTable.build([[_stored(5, 1, 99, day, day, 100, 1, dt.datetime(2026, 10, 10, 12))]],
                                _asked([]), NEW_YORK)
    assert table.row(0).client_name == "#99"
    empty = DocumentTable.build([[]], _asked([]), NEW_YORK)
    assert len(empty) == 0 and empty.order(Key.CLIENT, True).tolist() == [] and not empty.named("a").any()
