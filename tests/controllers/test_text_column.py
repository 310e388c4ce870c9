"""TextColumn: strings kept joined, read, changed, added and searched as a list's would be."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.controllers.text_column import SEPARATOR, TextColumn

values = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12), max_size=30)


@settings(max_examples=200, deadline=None)
@given(values, st.lists(st.tuples(st.integers(0, 40), st.text(max_size=6)), max_size=8),
       st.lists(st.text(max_size=6), max_size=4), st.text(min_size=1, max_size=3))
def test_it_behaves_as_the_list_of_its_values(items: list[str], changes: list[tuple[int, str]],
                                              added: list[str], word: str) -> None:
    as_list = list(items)
    joined = None
    if not any(SEPARATOR in v for v in items):
        joined = TextColumn.joined(SEPARATOR.join(items), len(items))
        assert joined is not None
    for column in filter(None, (TextColumn(items), joined)):
        expected = list(as_list)
        for index, value in changes:
            if index < len(expected):
                column[index] = value
                expected[index] = value
        for value in added:
            column.append(value)
            expected.append(value)
        assert len(column) == len(expected)
        assert list(column) == expected
        assert [column[i] for i in range(len(expected))] == expected
        slots = list(range(len(expected)))[::-1]
        assert column.holding(slots, word) == [s for s in slots if word in expected[s]]


def test_a_joined_text_with_a_value_holding_the_separator_is_refused() -> None:
    assert TextColumn.joined(f"a{SEPARATOR}b{SEPARATOR}c", 2) is None
    assert TextColumn.joined("", 0) is not None and len(TextColumn.joined("", 0)) == 0  # type: ignore[arg-type]
    one = TextColumn.joined("", 1)
    assert one is not None and list(one) == [""]


@settings(max_examples=200, deadline=None)
@given(values, st.lists(st.tuples(st.integers(0, 40), st.text(max_size=6)), max_size=8))
def test_casefolded_values_are_each_values_casefold(items: list[str], changes: list[tuple[int, str]]) -> None:
    column = TextColumn(items)
    expected = list(items)
    for index, value in changes:
        if index < len(expected):
            column[index] = value
            expected[index] = value
    column.append("ÅNGSTRÖM")
    expected.append("ÅNGSTRÖM")
    assert column.casefolded() == [v.casefold().encode("utf-8", "surrogatepass") for v in expected]
    ascii_only = TextColumn(["Ada@Example.ORG", "", "bob"])
    assert ascii_only.casefolded() == [b"ada@example.org", b"", b"bob"]
    holding_separator = TextColumn(["A\x1fB", "c"])
    assert holding_separator.casefolded() == [b"a\x1fb", b"c"]
