"""The in-memory roster behind the list: filtering, narrowing, sorting and picking up others' changes."""

from __future__ import annotations

from desktop.controllers.clients import ClientsController
from desktop.controllers.contacts import ContactsController
from desktop.controllers.roster import Column, Roster


def names(roster: Roster, slots: list[int]) -> list[str]:
    return [roster.name(s) for s in slots]


def test_filter_by_status_and_words_in_name_order(db, practice):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace", phone="555 010 1815")
    clients.add_client(owner, first_name="Alan", last_name="Turing")
    clients.set_status(owner, clients.add_client(owner, first_name="Edsger", last_name="Dijkstra"), "inactive")
    ContactsController(db).add_contact(owner, first_name="George", last_name="Byron", client_id=ada,
                                       relationship="Parent")
    roster = Roster(db, owner)
    roster.load()
    assert names(roster, roster.filter("active")) == ["Byron, George", "Lovelace, Ada", "Turing, Alan"]
    assert names(roster, roster.filter("inactive")) == ["Dijkstra, Edsger"]
    assert names(roster, roster.filter("all", "a")) == ["Byron, George"][:0] + [
        "Dijkstra, Edsger", "Lovelace, Ada", "Turing, Alan"]
    assert names(roster, roster.filter("all", "a love")) == ["Lovelace, Ada"]
    assert names(roster, roster.filter("all", "(555) 010-18")) == ["Lovelace, Ada"]
    assert names(roster, roster.filter("all", "", Column.NAME, descending=True))[0] == "Turing, Alan"


def test_narrowing_gives_the_same_answer_as_a_fresh_search(db, practice):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    for first, last in (("Ann", "Smith"), ("Anna", "Smithson"), ("Hannah", "Smyth"), ("Sam", "Annan")):
        clients.add_client(owner, first_name=first, last_name=last)
    roster = Roster(db, owner)
    roster.load()
    typed = ""
    for ch in "ann smith":
        typed += ch
        narrowed = roster.filter("all", typed)
        fresh = Roster(db, owner)
        fresh.load()
        assert names(roster, narrowed) == names(fresh, fresh.filter("all", typed)), typed
    assert names(roster, roster.filter("all", "ann smith")) == ["Smith, Ann", "Smithson, Anna"]
    # Deleting characters (the query shrank) must widen again.
    assert len(roster.filter("all", "ann")) == 4


def test_refresh_picks_up_others_adds_edits_status_changes_and_deletions(db, practice):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients = ClientsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    alan = clients.add_client(owner, first_name="Alan", last_name="Turing")
    roster = Roster(db, owner)
    roster.load()
    assert roster.refresh() is False  # nothing happened

    grace = clients.add_client(owner, first_name="Grace", last_name="Hopper")
    clients.set_status(owner, alan, "inactive")
    assert roster.refresh() is True
    assert names(roster, roster.filter("active")) == ["Hopper, Grace", "Lovelace, Ada"]

    clients.edit_client(owner, ada, 1, last_name="King")
    assert roster.refresh() is True
    assert names(roster, roster.filter("active")) == ["Hopper, Grace", "King, Ada"]

    clients.delete_client(owner, grace, "Grace Hopper")
    clients.add_client(owner, first_name="Barbara", last_name="Liskov")  # same count as before
    assert roster.refresh() is True
    assert names(roster, roster.filter("all")) == ["King, Ada", "Liskov, Barbara", "Turing, Alan"]


def test_a_client_reassigned_away_leaves_an_own_clients_clinicians_roster(db, practice):  # type: ignore[no-untyped-def]
    owner, mine = practice["owner"], practice["clinician"]
    clients = ClientsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace", clinician_id=mine.user_id)
    clients.add_client(owner, first_name="Alan", last_name="Turing", clinician_id=mine.user_id)
    roster = Roster(db, mine)
    roster.load()
    assert len(roster.filter("all")) == 2
    clients.edit_client(owner, ada, 1, clinician_id=practice["clinician-all"].user_id)
    assert roster.refresh() is True
    assert names(roster, roster.filter("all")) == ["Turing, Alan"]


def test_every_column_sorts_the_same_for_a_few_matches_and_for_all(db, practice):  # type: ignore[no-untyped-def]
    import random

    owner = practice["owner"]
    clients = ClientsController(db)
    rng = random.Random(4)
    for i in range(60):
        clients.add_client(owner, first_name=rng.choice(["Ann", "Bo", "Cy", "Éva"]),
                           last_name=rng.choice(["Smith", "smith", "Ng", "Ortiz"]) + ("" if i % 3 else "x"),
                           email=None if i % 5 == 0 else f"p{rng.randint(0, 99)}@example.org",
                           date_of_birth=None if i % 7 == 0 else f"19{rng.randint(10, 99)}-01-0{1 + i % 9}")
    roster = Roster(db, owner)
    roster.load()
    for column in Column:
        for descending in (False, True):
            everyone = list(roster.filter("all", "", column, descending))
            # "example" matches most rows (the mask path), "smithx" few (the direct sort).
            for query in ("example", "smithx"):
                picked = list(roster.filter("all", query, column, descending))
                expected = [s for s in everyone if all(t in roster.keys[s] for t in query.split())]
                assert [roster.text(s, column) for s in picked] == \
                    [roster.text(s, column) for s in expected], (column, descending, query)


def stamp_everything_tomorrow(db) -> None:  # type: ignore[no-untyped-def]
    """As the demo of earlier versions did, and as a workstation with a wrong clock would."""
    import datetime as dt

    from sqlalchemy import update

    from desktop.domain.models import Client, Contact, utcnow

    with db.transaction() as s:
        for model in (Client, Contact):
            s.execute(update(model).values(updated_at=utcnow() + dt.timedelta(days=1)))


def test_changes_reach_the_list_even_when_rows_are_stamped_in_the_future(db, practice):  # type: ignore[no-untyped-def]
    owner = practice["owner"]
    clients, contacts = ClientsController(db), ContactsController(db)
    ada = clients.add_client(owner, first_name="Ada", last_name="Lovelace")
    byron = contacts.add_contact(owner, first_name="George", last_name="Byron")
    stamp_everything_tomorrow(db)
    roster = Roster(db, owner)
    roster.load()
    clients.edit_client(owner, ada, 1, last_name="King")
    contacts.edit_contact(owner, byron, 1, first_name="Lord")
    alan = clients.add_client(owner, first_name="Alan", last_name="Turing")
    assert roster.refresh()
    assert names(roster, roster.filter("active")) == ["Byron, Lord", "King, Ada", "Turing, Alan"]
    clients.set_status(owner, alan, "inactive")
    assert roster.refresh()
    assert names(roster, roster.filter("inactive")) == ["Turing, Alan"]
    assert not roster.refresh()  # nothing new: nothing re-read, nothing reported


def test_marking_a_duplicate_reaches_the_list_of_the_profile_pointing_at_it(db, practice):  # type: ignore[no-untyped-def]
    """Rows changed by a bulk update (the profiles that pointed at a duplicate) count as changed."""
    owner = practice["owner"]
    clients = ClientsController(db)
    a = clients.add_client(owner, first_name="Ann", last_name="Lee")
    b = clients.add_client(owner, first_name="Anne", last_name="Lee")
    c = clients.add_client(owner, first_name="Annie", last_name="Lee")
    clients.mark_duplicate(owner, c, b)
    roster = Roster(db, owner)
    roster.load()
    clients.mark_duplicate(owner, b, a)  # c now points at a, and its version moved
    roster.refresh()
    with db.reading() as s:
        from desktop.domain.models import Client

        version_of_c = s.get(Client, c).version
    slot = roster.slot_of(0, c)
    assert slot is not None and roster.versions[slot] == version_of_c
