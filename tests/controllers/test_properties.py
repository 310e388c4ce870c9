"""Whatever is typed into a name field or the search box, nothing breaks.

Properties, not examples: a name is either refused with ``InvalidInput`` (and
no row appears) or stored exactly as typed, NFC-composed and trimmed; any
search text lists clients without error and without writing anything; and a
client is found by any word of their name. Hypothesis explores on SQLite; a
fixed set of nasty inputs runs on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from desktop.controllers.clients import ClientsController
from desktop.controllers.errors import InvalidInput
from desktop.controllers.permissions import Actor
from desktop.domain.models import Client
from desktop.domain.search import fold, make_search_key, query_tokens
from desktop.storage.database import Database
from tests.controllers.support import snapshot
from tests.helpers import count, seed_users

PROPERTY = settings(max_examples=75, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

COMBINING = st.characters(min_codepoint=0x0300, max_codepoint=0x036F)
RTL = st.characters(min_codepoint=0x0590, max_codepoint=0x06FF)
EMOJI = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
ODD = st.sampled_from(["\x00", "\u200d", "\u200b", "\u202e", "\ufeff", "\u00a0", "\u2028",
                       "ß", "İ", "ℌ", "㎁", "ø", "Ł", "％", "'", '"', ";", "%", "_", "\\", "-"])
NAMEISH = st.one_of(
    st.text(),
    st.text(alphabet=st.one_of(st.characters(), COMBINING, RTL, EMOJI, ODD), max_size=40),
    st.text(alphabet=st.one_of(st.characters(codec="ascii"), COMBINING, ODD), max_size=30),
)
SQLISH = ["'; DROP TABLE clients; --", "Robert'); DROP TABLE clients;--", "%", "_", "%_%",
          "\\", "\\%", "O'Brien", '"quoted"', "1 OR 1=1", "*", "[a-z]"]

NASTY_NAMES = [
    *SQLISH,
    "Jose\u0301",                       # decomposed accent
    "\u0301",                           # a lone combining mark
    "عائشة",                            # right-to-left
    "שָׂרָה",                              # right-to-left with points
    "😀",
    "𝐀𝐥𝐦𝐚",                             # mathematical bold
    "ℌans",
    "12345-1",
    "x" * 100,
    " padded\u00a0",
]
REFUSED_NAMES = ["", "   ", "\x00", "Ann\x00e", "tab\tinside", "x" * 101, "x" * 10_000, "\x1b[2J",
                 "\u202eevil",        # a right-to-left override: what is seen is not what is stored
                 "Ann\u200b Lee",     # a zero-width space: the name one sees cannot be typed back
                 "👩\u200d⚕️"]         # a joiner between pictures, not letters
NASTY_SEARCHES = [*SQLISH, *NASTY_NAMES, *REFUSED_NAMES, "\ud800", "\udfff lone", "\x00%",
                  "555-", "-", "()", "+", "/", "1984-13-45", "x" * 10_000]


def expected_name(typed: str) -> str:
    return unicodedata.normalize("NFC", typed).strip()


def stored_names(db: Database, client_id: int) -> tuple[str, str]:
    with db.reading() as s:
        first, last = s.execute(select(Client.first_name, Client.last_name)
                                .where(Client.id == client_id)).one()
        return first, last


def add_or_refuse(db: Database, owner: Actor, first: str, last: str = "Tester") -> int | None:
    """Add a client; return the id, or None after checking a refusal added no one."""
    clients = ClientsController(db)
    before = count(db, Client)
    try:
        client_id = clients.add_client(owner, first_name=first, last_name=last)
    except InvalidInput as refused:
        assert refused.field in ("first_name", "last_name")
        assert count(db, Client) == before
        return None
    assert count(db, Client) == before + 1
    return client_id


def found_by_every_word(db: Database, owner: Actor, client_id: int, name: str) -> None:
    clients = ClientsController(db)
    words = name.split()
    for typed in {*words, *(fold(w) for w in words), name, fold(name)}:
        if not query_tokens(typed):
            continue  # nothing searchable in it (e.g. a lone accent): the whole list shows
        found = [r.id for r in clients.list_clients(owner, "all", search=typed)]
        assert client_id in found, f"searching {typed!r} did not find {name!r}"


# ------------------------------------------------------------ on SQLite, explored


@pytest.fixture
def sqlite_owner(sqlite_db: Database) -> Actor:
    return seed_users(sqlite_db)["owner"]


@pytest.fixture
def sqlite_roster(sqlite_db: Database, sqlite_owner: Actor) -> Iterator[Database]:
    clients = ClientsController(sqlite_db)
    for first, last, extra in (("José", "Núñez", {"phone": "555 123 4567"}),
                               ("Mei", "Chen", {"email": "mei@example.org"}),
                               ("Gail", "Frost", {"date_of_birth": "1970-01-02"})):
        clients.add_client(sqlite_owner, first_name=first, last_name=last, **extra)
    yield sqlite_db


@PROPERTY
@given(typed=NAMEISH)
@example(typed="x" * 10_000)
@example(typed="")
@example(typed="  Zoë\u0308  ")
@example(typed="ℌans")
@example(typed="12345-1 (2)")
@example(typed="a\u00a8b")
def test_a_typed_name_is_refused_or_stored_exactly(
        sqlite_db: Database, sqlite_owner: Actor, typed: str) -> None:
    client_id = add_or_refuse(sqlite_db, sqlite_owner, typed)
    if client_id is None:
        return
    first, _ = stored_names(sqlite_db, client_id)
    assert first == expected_name(typed)
    # What was stored is something a person can read back and type again.
    assert first and first == first.strip() and len(first) <= 100
    assert not any(unicodedata.category(ch) == "Cc" for ch in first)
    detail = ClientsController(sqlite_db).get_client(sqlite_owner, client_id)
    assert detail.row.first_name == first
    found_by_every_word(sqlite_db, sqlite_owner, client_id, first)


@PROPERTY
@given(first=NAMEISH, last=NAMEISH)
def test_a_client_is_found_by_any_word_of_either_name(
        sqlite_db: Database, sqlite_owner: Actor, first: str, last: str) -> None:
    client_id = add_or_refuse(sqlite_db, sqlite_owner, first, last)
    if client_id is not None:
        found_by_every_word(sqlite_db, sqlite_owner, client_id, f"{expected_name(first)} "
                                                                f"{expected_name(last)}")


@PROPERTY
@given(typed=st.one_of(NAMEISH, st.sampled_from(NASTY_SEARCHES),
                       st.text(alphabet=st.characters(codec="utf-8", categories=["Cs", "Cc", "Zs"]))))
def test_any_search_text_lists_without_error_and_changes_nothing(
        sqlite_roster: Database, sqlite_owner: Actor, typed: str) -> None:
    before = snapshot(sqlite_roster, with_audit=True)
    clients = ClientsController(sqlite_roster)
    for status in ("active", "inactive", "all"):
        rows = clients.list_clients(sqlite_owner, status, search=typed)
        assert len(rows) <= 3
    assert snapshot(sqlite_roster, with_audit=True) == before


@settings(max_examples=300, deadline=None, database=None)
@given(st.text())
def test_folding_twice_is_folding_once(text: str) -> None:
    """Otherwise a key and a query could fold the same name two ways."""
    assert fold(fold(text)) == fold(text)
    assert query_tokens(" ".join(query_tokens(text))) == query_tokens(text)


STORABLE = st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs", "Co")), min_size=1)


@settings(max_examples=300, deadline=None, database=None)
@given(first=STORABLE, last=STORABLE)
def test_the_search_key_matches_every_word_of_the_name_in_memory_too(first: str, last: str) -> None:
    key = make_search_key(first, last)
    for word in f"{first} {last}".split():
        assert all(token in key for token in query_tokens(word)), word


# ------------------------------------------------------ on both back ends, fixed


@pytest.mark.parametrize("typed", NASTY_NAMES, ids=[repr(n[:12]) for n in NASTY_NAMES])
def test_a_nasty_name_is_stored_exactly_and_found(
        db: Database, practice: dict[str, Actor], typed: str) -> None:
    owner = practice["owner"]
    client_id = add_or_refuse(db, owner, typed)
    assert client_id is not None, f"{typed!r} should be a storable name"
    assert stored_names(db, client_id) == (expected_name(typed), "Tester")
    found_by_every_word(db, owner, client_id, expected_name(typed))
    assert count(db, Client) == 1  # the clients table is still there, with its one row


@pytest.mark.parametrize("typed", REFUSED_NAMES, ids=[repr(n[:12]) for n in REFUSED_NAMES])
def test_an_unusable_name_is_refused_and_adds_no_one(
        db: Database, practice: dict[str, Actor], typed: str) -> None:
    assert add_or_refuse(db, practice["owner"], typed) is None
    assert add_or_refuse(db, practice["owner"], "Nora", typed) is None
    assert count(db, Client) == 0


@pytest.mark.parametrize("typed", NASTY_SEARCHES, ids=[repr(n[:12]) for n in NASTY_SEARCHES])
def test_a_nasty_search_lists_without_error_and_changes_nothing(
        db: Database, practice: dict[str, Actor], typed: str) -> None:
    owner = practice["owner"]
    clients = ClientsController(db)
    clients.add_client(owner, first_name="Nora", last_name="Quinn", phone="555 010 2000")
    clients.add_client(owner, first_name="O'Brien", last_name="100%_Sure")
    before = snapshot(db, with_audit=True)

    rows = {status: clients.list_clients(owner, status, search=typed)
            for status in ("active", "inactive", "all")}

    assert snapshot(db, with_audit=True) == before
    assert rows["inactive"] == []
    names = {r.full_name for r in rows["all"]}
    if typed in ("%", "_", "%_%", "\\", "*", "[a-z]", "1 OR 1=1"):
        # Wildcards are letters like any other: they match only a name that has them.
        assert names <= {"O'Brien 100%_Sure"}
    if typed == "O'Brien":
        assert names == {"O'Brien 100%_Sure"}
