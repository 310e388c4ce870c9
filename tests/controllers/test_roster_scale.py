"""The list's fast paths agree with the plain rule they stand in for.

The orders are computed from ranks with numpy, searches are narrowed by the search index's
signatures and, for words most rows hold, answered a screenful first: each is held here to
the straightforward definition (sort by ``_sort_keys`` with ties in slot order; a row matches
when its key holds every typed word), on rows made to have the awkward cases.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.controllers import roster as roster_module
from desktop.controllers.clients import ClientsController, StatusFilter
from desktop.controllers.roster import (
    ClientColumns,
    Column,
    ContactColumns,
    FirstScreen,
    Roster,
    RosterData,
    State,
    _name_order,
)
from desktop.controllers.search_index import SearchIndex
from desktop.domain.search import make_search_key, query_tokens

FIRST = ["Ann", "ann", "Anna", "Åsa", "Bo", "Zoë", "Éva", "Eva", "小龍", "محمد", "Łukasz", "O'Neil", ""]
LAST = ["Smith", "smith", "Smithson", "van Gogh", "Çelik", "Celik", "Øster", "李", "العلي", "Ng", "Ng-Ortiz"]


def synthetic_data(n_clients: int, n_contacts: int, seed: int = 7) -> RosterData:
    rng = random.Random(seed)
    c: dict[str, list] = {f: [] for f in ClientColumns._fields}
    for i in range(n_clients):
        first, last = rng.choice(FIRST) or "X", rng.choice(LAST)
        preferred = rng.choice(["", "", "", "Annie", "Bobby"])
        dob = None if i % 7 == 0 else dt.date(1930 + rng.randint(0, 80), rng.randint(1, 12), rng.randint(1, 28))
        email = "" if i % 5 == 0 else f"{first.lower()}.{rng.randint(0, 999)}@{rng.choice(['example.org', 'Mail.COM'])}"
        phone = "" if i % 4 == 0 else f"(555) {rng.randint(100, 999)}-{rng.randint(0, 9999):04d}"
        c["ids"].append(10 + 3 * i)
        c["first"].append(first)
        c["last"].append(last)
        c["preferred"].append(preferred)
        c["dob"].append(dob.isoformat() if dob else "")
        c["email"].append(email)
        c["phone"].append(phone)
        c["status"].append("inactive" if i % 3 == 0 else "active")
        c["clinician_ids"].append(rng.choice([None, 1, 2, 99]))  # 99: no longer a user
        c["keys"].append(make_search_key(first, last, preferred, email, phone, dob))
        c["versions"].append(1)
    k: dict[str, list] = {f: [] for f in ContactColumns._fields}
    for i in range(n_contacts):
        first, last = rng.choice(FIRST) or "Y", rng.choice(LAST)
        email = "" if i % 2 else f"c{i}@example.org"
        k["ids"].append(5 + 2 * i)
        k["first"].append(first)
        k["last"].append(last)
        k["email"].append(email)
        k["phone"].append("")
        k["keys"].append(make_search_key(first, last, None, email, None))
        k["versions"].append(1)
    clients, contacts = ClientColumns(**c), ContactColumns(**k)
    order = _name_order(clients.last + contacts.last, clients.first + contacts.first)
    index = SearchIndex.build(clients.keys + contacts.keys)
    return RosterData({1: "Dr Émile Zola", 2: "dr alice adams"}, clients, contacts, 1, order, index)


def roster_of(data: RosterData) -> Roster:
    roster = Roster.__new__(Roster)  # without a database: only its columns are used
    roster.installs = 0
    roster._clear()
    roster.install(data)
    return roster


@pytest.fixture(scope="module")
def big() -> Roster:
    return roster_of(synthetic_data(4_000, 800))


def reference_order(roster: Roster, column: Column, descending: bool) -> list[int]:
    keys = roster._sort_keys(column)
    ascending = sorted(range(len(keys)), key=keys.__getitem__)
    return ascending[::-1] if descending else ascending


def test_every_column_orders_as_its_sort_keys_say(big: Roster) -> None:
    for column in Column:
        for descending in (False, True):
            shown = big.filter(StatusFilter.ALL, "", column, descending).tolist()
            assert shown == reference_order(big, column, descending), (column, descending)


def test_a_status_filter_keeps_the_display_order(big: Roster) -> None:
    states = big.state
    for status, wanted in ((StatusFilter.ACTIVE, {State.ACTIVE, State.CONTACT}),
                           (StatusFilter.INACTIVE, {State.INACTIVE})):
        for column in (Column.NAME, Column.EMAIL, Column.CLINICIAN):
            shown = big.filter(status, "", column).tolist()
            assert shown == [s for s in reference_order(big, column, False) if states[s] in wanted]


def brute(roster: Roster, status: StatusFilter, query: str, column: Column, descending: bool) -> list[int]:
    tokens = query_tokens(query)
    everyone = big_order = reference_order(roster, column, descending)
    del big_order
    shown = {StatusFilter.ALL: {0, 1, 2}, StatusFilter.ACTIVE: {0, 2}, StatusFilter.INACTIVE: {1}}[status]
    return [s for s in everyone if roster.state[s] in shown and all(t in roster.keys[s] for t in tokens)]


QUERIES = ["s", "sm", "smith", "ann smith", "555", "55", "19", "1985-", "example", "@mail.com", "李",
           "محمد", "zo", "lukasz", "(555) 1", "qqq", "a e", "o'n"]


@pytest.mark.parametrize("query", QUERIES)
def test_searches_find_exactly_the_rows_holding_every_word(big: Roster, query: str) -> None:
    for status in StatusFilter:
        for column, descending in ((Column.NAME, False), (Column.PHONE, True), (Column.TYPE, False)):
            big._matches.clear()
            got = big.search(status, query, column, descending).slots.tolist()
            assert got == brute(big, status, query, column, descending), (status, column, descending)


def test_a_screenful_first_is_the_start_of_the_whole_answer_and_the_job_finishes_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_module, "CHECK_AT_ONCE", 10)
    monkeypatch.setattr(roster_module, "WALK_SLICE", 64)
    roster = roster_of(synthetic_data(3_000, 300, seed=3))
    for query in ("s", "a", "5", "e"):
        roster._matches.clear()
        first = roster.search(StatusFilter.ALL, query, Column.NAME, need=30)
        whole = brute(roster, StatusFilter.ALL, query, Column.NAME, False)
        assert not first.complete and first.job is not None
        assert len(first.slots) >= 30
        assert first.slots.tolist() == whole[:len(first.slots)]
        assert abs(first.estimate - len(whole)) < 0.5 * len(whole)
        steps = 0
        while not first.job.step(50):
            steps += 1
        assert steps > 1  # it was done in slices
        assert roster.adopt(first.job)
        again = roster.search(StatusFilter.ALL, query, Column.NAME, need=30)
        assert again.complete and again.slots.tolist() == whole


def test_words_too_rare_to_fill_a_screen_soon_are_found_while_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keystroke is not held up: what the walk found is shown (perhaps nothing yet, with
    no estimate) and the job finds the rest."""
    monkeypatch.setattr(roster_module, "CHECK_AT_ONCE", 10)
    monkeypatch.setattr(roster_module, "WALK_BUDGET", 40)
    roster = roster_of(synthetic_data(2_000, 0, seed=5))
    whole = brute(roster, StatusFilter.ALL, "smithson 555", Column.NAME, False)
    answer = roster.search(StatusFilter.ALL, "smithson 555", Column.NAME, need=5_000)
    assert not answer.complete and answer.estimate is None and answer.job is not None
    assert answer.slots.tolist() == whole[:len(answer.slots)]
    while not answer.job.step(64):
        pass
    assert roster.adopt(answer.job)
    again = roster.search(StatusFilter.ALL, "smithson 555", Column.NAME, need=5_000)
    assert again.complete and again.slots.tolist() == whole
    # The whole answer at once, when asked for it (the command line, an export).
    roster._matches.clear()
    assert roster.filter(StatusFilter.ALL, "smithson 555").tolist() == whole


def test_a_job_outrun_by_a_change_of_keys_is_not_adopted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_module, "CHECK_AT_ONCE", 10)
    roster = roster_of(synthetic_data(2_000, 0, seed=9))
    answer = roster.search(StatusFilter.ALL, "a", Column.NAME, need=10)
    assert answer.job is not None
    roster._forget_answers(orders=False)  # as a refresh that changed keys does
    assert answer.job.step(10**9)
    assert not roster.adopt(answer.job)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=20),
       st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3))
def test_the_index_never_hides_a_row_that_holds_the_words(keys: list[str], words: list[str]) -> None:
    words = [w for w in (query_tokens(" ".join(words))) if w]
    if not words:
        return
    keys = [" ".join(query_tokens(k)) for k in keys]
    mask = SearchIndex.build(keys).candidates(words)
    for i, key in enumerate(keys):
        if all(w in key for w in words):
            assert mask[i], (key, words)


def test_the_index_lets_few_others_through() -> None:
    data = synthetic_data(4_000, 0, seed=11)
    index = data.index
    assert index is not None
    for word in ("smithson", "lukasz", "1985-0"):
        candidates = int(np.count_nonzero(index.candidates([word])))
        matching = sum(word in key for key in data.clients.keys)
        assert matching <= candidates <= matching + 0.02 * len(data.clients.keys), word


def test_keys_changed_after_the_index_was_built_are_still_found(db, practice) -> None:  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    clients.add_client(owner, first_name="Alan", last_name="Turing")
    roster = Roster(db, owner)
    roster.load()
    assert roster.filter("all", "zyx").tolist() == []
    clients.edit_client(owner, ada, 1, last_name="Zyxwvut")
    assert roster.refresh()
    assert [roster.name(s) for s in roster.filter("all", "zyx")] == ["Zyxwvut, Ada"]
    assert [roster.name(s) for s in roster.filter("all", "lovelace")] == []


def test_a_value_holding_the_separator_is_read_row_by_row_and_listed_whole(db, practice) -> None:  # type: ignore[no-untyped-def]
    """The list reads each column joined into one string; a value that holds the joining
    character (put there by hand: the forms refuse control characters) must not shift any
    other row's values."""
    from sqlalchemy import update

    from desktop.controllers.contacts import ContactsController
    from desktop.domain.models import Client, Contact

    owner = practice["owner"]
    clients, contacts = ClientsController(db), ContactsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace", email="ada@example.org")
    clients.add_client(owner, first_name="Alan", last_name="Turing", phone="555 0101")
    byron = contacts.add_contact(owner, first_name="George", last_name="Byron")
    roster = Roster(db, owner)
    roster.load()
    expected = [(roster.name(s), roster.text(s, Column.EMAIL), roster.text(s, Column.PHONE))
                for s in roster.filter("all")]
    with db.transaction() as s:
        s.execute(update(Client).where(Client.id == ada).values(preferred_name="A\x1fda"))
        s.execute(update(Contact).where(Contact.id == byron).values(email="g\x1f@example.org"))
    roster = Roster(db, owner)
    roster.load()
    shown = [(roster.name(s), roster.text(s, Column.EMAIL), roster.text(s, Column.PHONE))
             for s in roster.filter("all")]
    assert shown == [("Byron, George", "g\x1f@example.org", ""), ("Lovelace, Ada (A\x1fda)", *expected[1][1:]),
                     expected[2]]
    assert [roster.name(s) for s in roster.filter("all", "turing 555")] == ["Turing, Alan"]


def test_an_index_of_joined_keys_without_a_last_separator_is_the_index_of_the_keys() -> None:
    for keys in (["ab", "cd"], ["ab", ""], ["", ""], ["x"], ["李小龍", "ann smith 555"]):
        text = "\x1f".join(keys).encode("utf-8")
        joined, built = SearchIndex.from_joined(text, len(keys)), SearchIndex.build(keys)
        assert joined.uni.tolist() == built.uni.tolist() and joined.bi.tolist() == built.bi.tolist(), keys



def test_joined_keys_with_more_or_fewer_separators_than_keys_are_refused() -> None:
    """The index is built from the keys' column as stored: text that does not hold exactly the
    keys it should (a key holding the separator) is refused, and the list is searched without."""
    for text, n in ((b"a\x1fb\x1fc", 2), (b"a\x1fb", 3), (b"a\x1fb\x1f\x1f", 2)):
        with pytest.raises(ValueError):
            SearchIndex.from_joined(text, n)


def test_an_empty_practice_loads_and_searches(db, practice) -> None:  # type: ignore[no-untyped-def]
    roster = Roster(db, practice["owner"])
    roster.load()
    index = roster._index_coming
    if index is not None and not isinstance(index, SearchIndex):
        index.result()
    assert roster.filter("all", "a").tolist() == [] and roster.filter("all").tolist() == []
    assert len(SearchIndex.build([])) == 0 and len(SearchIndex.from_joined(b"", 0)) == 0


def test_orders_made_while_rows_are_added_cover_the_rows_there_were() -> None:
    roster = roster_of(synthetic_data(60, 6, seed=2))
    n = len(roster)
    # What a refresh on the window's thread does while a pool thread prepares the orders.
    for column in (roster.first, roster.last, roster.preferred, roster.dob, roster.phone, roster.email, roster.keys):
        column.append("Zed")
    roster.clinician_ids.append(1)
    for column in Column:
        order = roster._column_order(column)
        assert sorted(order.tolist()) == list(range(n)), column


def test_a_client_changed_between_the_two_reads_of_a_load_is_read_again(db, practice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The list reads the clients' names and keys, then their other columns; an edit committed
    in between must not leave the old name behind (the next refresh reads the row again)."""
    from desktop.storage import queries

    owner = practice["owner"]
    clients = ClientsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    clients.add_client(owner, first_name="Alan", last_name="Turing")
    read_columns = queries.joined_client_columns

    def edited_meanwhile(session, who):  # type: ignore[no-untyped-def]
        clients.edit_client(owner, ada, 1, last_name="King")
        return read_columns(session, who)

    monkeypatch.setattr(queries, "joined_client_columns", edited_meanwhile)
    roster = Roster(db, owner)
    roster.load()
    monkeypatch.setattr(queries, "joined_client_columns", read_columns)
    assert roster.refresh()
    assert [roster.name(s) for s in roster.filter("all")] == ["King, Ada", "Turing, Alan"]
    assert [roster.name(s) for s in roster.filter("all", "king")] == ["King, Ada"]


def small_practice(db, practice) -> None:  # type: ignore[no-untyped-def]
    """Clients of both statuses with names that fold (accents, case) and tie, and contacts."""
    from desktop.controllers.contacts import ContactsController

    owner = practice["owner"]
    clients, contacts = ClientsController(db), ContactsController(db)
    names = [("Çelik", "Ayşe"), ("celik", "ayse"), ("Øster", "Bo"), ("van Gogh", "Vincent"), ("Łukasz", "Anna"),
             ("Smith", "Sam"), ("smith", "Sam"), ("Zed", "Zoë"), ("Abel", "Ann"), ("Moreno", "Lía"),
             ("Nguyễn", "Văn"), ("李", "小龍"), ("Adams", "Al"), ("Baker", "Bea")]
    for number, (last, first) in enumerate(names):
        cid = clients.add_client(owner, first_name=first, last_name=last, email=f"{first.lower()}{number}@example.org",
                                 phone=f"555 01{number:02}")
        if number % 3 == 1:
            clients.set_status(owner, cid, "inactive", reason="moved")
    for last, first in (("Celik", "Deniz"), ("Baker", "Bo"), ("Ørsted", "Hans")):
        contacts.add_contact(owner, first_name=first, last_name=last)


@pytest.mark.parametrize(("status", "descending"), [(StatusFilter.ACTIVE, False), (StatusFilter.INACTIVE, True),
                                                    (StatusFilter.ALL, False), (StatusFilter.ACTIVE, True)])
def test_the_first_screen_handed_over_early_is_the_start_of_the_whole_list(db, practice, status, descending) -> None:  # type: ignore[no-untyped-def]
    """What the window paints while a big practice is read is what the whole list begins with:
    the same rows, in the same order, with the same values."""
    small_practice(db, practice)
    owner = practice["owner"]
    handed: list[RosterData] = []
    roster = Roster(db, owner)
    roster.install(roster.fetch(FirstScreen(status, descending, 4, handed.append)))
    assert len(handed) == 1
    first = Roster(db, owner)
    first.install(handed[0])

    def shown(r: Roster) -> list[tuple[str, ...]]:
        return [tuple(r.text(s, column) for column in Column)
                for s in r.filter(status, "", Column.NAME, descending)[:4]]

    assert len(first) == 4 and shown(first) == shown(roster)


def test_no_first_screen_of_an_empty_practice_and_the_list_still_loads(db, practice) -> None:  # type: ignore[no-untyped-def]
    handed: list[RosterData] = []
    roster = Roster(db, practice["owner"])
    roster.install(roster.fetch(FirstScreen(StatusFilter.ACTIVE, False, 6, handed.append)))
    assert handed == [None] and roster.filter("all").tolist() == []  # "none", said once


@pytest.mark.parametrize("failing", ["joined_client_names", "joined_client_columns"])
def test_a_failed_read_says_once_that_it_has_no_first_screen(db, practice, monkeypatch, failing) -> None:  # type: ignore[no-untyped-def]
    """The window waits to hear about the first rows; a read failing before or after picking
    them still tells it, once, and hands nothing over after the read has ended."""
    from desktop.storage import queries
    from desktop.storage.errors import DatabaseUnavailable

    small_practice(db, practice)

    def fails(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise DatabaseUnavailable("The practice database could not be reached.")

    monkeypatch.setattr(queries, failing, fails)
    handed: list[RosterData | None] = []
    with pytest.raises(DatabaseUnavailable):
        Roster(db, practice["owner"]).fetch(FirstScreen(StatusFilter.ACTIVE, False, 4, handed.append))
    assert len(handed) == 1
    assert (handed[0] is None) == (failing == "joined_client_names")


def test_a_client_added_between_the_names_and_the_keys_is_read_row_by_row(db, practice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The list reads the clients' names, then their keys: a client added in between would
    give the two reads different rows; the list then reads every row whole instead."""
    from desktop.storage import queries

    owner = practice["owner"]
    clients = ClientsController(db)
    clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    read_keys = queries.joined_client_search_keys

    def added_meanwhile(session, who):  # type: ignore[no-untyped-def]
        clients.add_client(owner, first_name="Alan", last_name="Turing", email="alan@example.org")
        return read_keys(session, who)

    from desktop.controllers.roster import _client_keys

    assert _client_keys(["1\x1f2", "A\x1fB", "C\x1fD", "1\x1f1", "0\x1f0"], ["1\x1f2\x1f3", "a\x1fb\x1fc"]) == []
    monkeypatch.setattr(queries, "joined_client_search_keys", added_meanwhile)
    roster = Roster(db, owner)
    roster.load()
    shown = [(roster.name(s), roster.text(s, Column.EMAIL)) for s in roster.filter("all")]
    assert shown in ([("Lovelace, Ada", "")], [("Lovelace, Ada", ""), ("Turing, Alan", "alan@example.org")])
    roster.refresh()
    assert [(roster.name(s), roster.text(s, Column.EMAIL)) for s in roster.filter("all", "turing")] == [
        ("Turing, Alan", "alan@example.org")]
