"""Finding likely duplicate profiles without comparing every pair.

A pair is only offered with evidence beyond the name (same date of birth,
email or phone), so those three are the blocking keys: only profiles sharing
one are compared. Names are compared with
rapidfuzz on folded, order-insensitive forms, with common nicknames expanded,
so typos, swapped names, nicknames and different case all surface.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import JaroWinkler
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from desktop.controllers import validation
from desktop.controllers.base import Controller, audit, check_id, reads, require, writes
from desktop.controllers.errors import InvalidInput, NotFound, PermissionDenied
from desktop.controllers.permissions import Action, Actor
from desktop.domain.models import (
    Client,
    Contact,
    ContactClientDismissal,
    ContactDismissal,
    DuplicateDismissal,
    PracticeUser,
)
from desktop.domain.search import email_key, fold, phone_digits, phone_key
from desktop.storage.queries import visible_clients, visible_contacts

NICKNAMES = {
    "bob": "robert", "rob": "robert", "bobby": "robert", "bill": "william", "will": "william",
    "billy": "william", "liam": "william", "dick": "richard", "rick": "richard",
    "liz": "elizabeth", "beth": "elizabeth", "betty": "elizabeth", "kate": "katherine",
    "katie": "katherine", "kathy": "katherine", "peggy": "margaret", "maggie": "margaret",
    "meg": "margaret", "jenny": "jennifer", "jen": "jennifer", "patty": "patricia",
    "pat": "patricia", "sue": "susan", "susie": "susan", "chris": "christopher",
    "mike": "michael", "joe": "joseph", "alex": "alexander", "ben": "benjamin",
    "dan": "daniel", "danny": "daniel", "matt": "matthew", "tom": "thomas", "jim": "james",
    "jimmy": "james", "tony": "anthony", "nate": "nathan", "sam": "samuel", "abby": "abigail",
    "ellie": "eleanor", "nick": "nicholas", "ted": "theodore", "teddy": "theodore",
}
BLOCK_LIMIT = 200  # a block this big (a shared office phone) says nothing about identity
THRESHOLD = 70.0
NAME_THRESHOLD = 88.0


def _similar(a: str, b: str) -> float:
    return JaroWinkler.normalized_similarity(a, b) * 100


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str
    last_name: str
    date_of_birth: dt.date | None
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class DuplicatePair:
    left: Person
    right: Person
    score: float
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"left_id": self.left.id, "left_name": f"{self.left.first_name} {self.left.last_name}",
                "right_id": self.right.id, "right_name": f"{self.right.first_name} {self.right.last_name}",
                "score": round(self.score, 1), "reasons": list(self.reasons)}


def _first(name: str) -> str:
    f = fold(name)
    return NICKNAMES.get(f, f)


def _blocks(p: Person) -> Iterable[tuple[str, str]]:
    """The evidence keys two people must share one of to be compared (the intake check's too)."""
    if p.date_of_birth:
        yield ("dob", p.date_of_birth.isoformat())
    email = email_key(p.email)
    if email:
        yield ("email", email)
    phone = phone_key(p.phone)
    if phone:
        yield ("phone", phone)


def score_pair(a: Person, b: Person) -> tuple[float, tuple[str, ...]]:
    """How likely two profiles are one person (0–100), and why."""
    fa, la, fb, lb = _first(a.first_name), fold(a.last_name), _first(b.first_name), fold(b.last_name)
    # Both names must be close: a shared surname with another first name is a relative.
    # Jaro-Winkler forgives a transposed pair of letters ("Gray"/"Gary") that a
    # plain edit ratio punishes hard in short names.
    straight = min(_similar(fa, fb), _similar(la, lb))
    swapped = min(_similar(fa, _first(b.last_name)), _similar(la, fold(b.first_name)))
    name = max(straight, swapped)
    reasons: list[str] = []
    if name >= 99.5 and straight >= swapped:
        reasons.append("same name" if fold(a.first_name) == fold(b.first_name) else "nickname")
    elif name >= 99.5:
        reasons.append("first and last name swapped")
    elif name >= NAME_THRESHOLD:
        reasons.append("similar names" if straight >= swapped else "swapped, similar names")
    else:
        return 0.0, ()
    evidence = 0
    if a.date_of_birth and a.date_of_birth == b.date_of_birth:
        reasons.append("same date of birth")
        evidence += 1
    if a.email and b.email and a.email.strip().casefold() == b.email.strip().casefold():
        reasons.append("same email")
        evidence += 1
    da, db = phone_digits(a.phone)[-10:], phone_digits(b.phone)[-10:]
    if len(da) >= 7 and da == db:
        reasons.append("same phone")
        evidence += 1
    if not evidence:
        return 0.0, ()  # similar names alone are just a common surname
    return min(100.0, name * 0.7 + 15 * evidence), tuple(reasons)


def find_pairs(people: list[Person], dismissed: set[tuple[int, int]] = frozenset(),  # type: ignore[assignment]
               progress: Callable[[int, int], bool] | None = None) -> list[DuplicatePair]:
    """Likely duplicates among ``people``, best first. ``progress`` returning False cancels."""
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, person in enumerate(people):
        for key in _blocks(person):
            blocks[key].append(i)
    # Most blocks hold one person; only the rest can yield a pair.
    groups = [members for members in blocks.values() if 1 < len(members) <= BLOCK_LIMIT]
    seen: set[tuple[int, int]] = set()
    pairs: list[DuplicatePair] = []
    total = len(groups)
    for n, members in enumerate(groups):
        if progress and n % 500 == 0 and progress(n, total) is False:
            return []
        for x, y in itertools.combinations(members, 2):
            a, b = people[x], people[y]
            pair_ids = (a.id, b.id) if a.id < b.id else (b.id, a.id)
            if pair_ids in seen or pair_ids in dismissed:
                continue
            seen.add(pair_ids)
            score, reasons = score_pair(a, b)
            if score >= THRESHOLD:
                left, right = (a, b) if a.id < b.id else (b, a)
                pairs.append(DuplicatePair(left, right, score, reasons))
    if progress:
        progress(total, total)
    pairs.sort(key=lambda p: (-p.score, p.left.id, p.right.id))
    return pairs


INTAKE_LIMIT = 200  # rows read per evidence key; a shared office phone says nothing more


@dataclass(frozen=True)
class Candidate:
    """An existing profile a new or edited one may duplicate, as the intake warning lists it."""

    id: int
    first_name: str
    last_name: str
    date_of_birth: dt.date | None
    status: str  # "active" / "inactive" for clients, "contact" for contacts
    clinician: str
    score: float
    reasons: tuple[str, ...]
    email: str | None = None
    phone: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "name": f"{self.first_name} {self.last_name}",
                "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
                "status": self.status, "clinician": self.clinician, "score": round(self.score, 1),
                "reasons": list(self.reasons), "email": self.email, "phone": self.phone}


def _intake_person(values: Mapping[str, Any]) -> Person | None:
    """The person being entered, from a form's values; None until both names are there.

    A value that does not validate is simply left out: the check warns, the save refuses.
    """
    def clean(key: str) -> Any:
        try:
            return validation.field(key, values.get(key))
        except InvalidInput:
            return None

    first, last = clean("first_name"), clean("last_name")
    if not first or not last:
        return None
    born = clean("date_of_birth") if "date_of_birth" in values else None
    return Person(0, first, last, born, clean("email"), clean("phone"))


class DuplicatesController(Controller):
    @reads("client.intake_check", Action.EDIT_CLIENT)
    def likely_client_duplicates_of(self, s: Session, actor: Actor, values: Mapping[str, Any], *,
                                    exclude_id: int | None = None) -> list[Candidate]:
        """Clients the actor can see who look like the person in ``values`` (a new client, or
        ``exclude_id`` being edited), best first: the same evidence rule and scoring as the scan,
        looked up through the indexed keys instead of a scan."""
        person = _intake_person(values)
        if person is None:
            return []
        stmt = select(Client.id, Client.first_name, Client.last_name, Client.date_of_birth,
                      Client.email, Client.phone, Client.status, Client.clinician_id)
        rows = self._sharing_evidence(s, Client, visible_clients(stmt, actor.visibility()), person, exclude_id)
        return self._candidates(s, person, rows)

    @reads("contact.intake_check", Action.EDIT_CLIENT)
    def likely_contact_duplicates_of(self, s: Session, actor: Actor, values: Mapping[str, Any], *,
                                     exclude_id: int | None = None) -> list[Candidate]:
        """Contacts who look like the contact in ``values`` (by email or phone, then names)."""
        person = _intake_person(values)
        if person is None:
            return []
        # The same eight columns as a client's: no birth date, "contact" for a status, no clinician.
        stmt = select(Contact.id, Contact.first_name, Contact.last_name, literal(None),
                      Contact.email, Contact.phone, literal("contact"), literal(None))
        rows = self._sharing_evidence(s, Contact, visible_contacts(stmt, actor.visibility()), person, exclude_id)
        return self._candidates(s, person, rows)

    @staticmethod
    def _sharing_evidence(s: Session, model: type[Client] | type[Contact], stmt: Any, person: Person,
                          exclude_id: int | None) -> list[tuple[Any, ...]]:
        """The rows of ``stmt`` that share a piece of evidence with ``person`` (as ``_blocks``:
        the date of birth, which only clients have, the email key, the phone key), each once,
        found by indexed look-ups."""
        evidence = []
        if model is Client and person.date_of_birth:
            evidence.append(Client.date_of_birth == person.date_of_birth)
        if email_key(person.email):
            evidence.append(model.email_key == email_key(person.email))
        if phone_key(person.phone):
            evidence.append(model.phone_key == phone_key(person.phone))
        if exclude_id is not None:
            stmt = stmt.where(model.id != exclude_id)
        found: dict[int, tuple[Any, ...]] = {}
        for condition in evidence:
            for row in s.execute(stmt.where(condition).limit(INTAKE_LIMIT)):
                found[row[0]] = tuple(row)
        return list(found.values())

    @staticmethod
    def _candidates(s: Session, person: Person, rows: Iterable[tuple[Any, ...]]) -> list[Candidate]:
        names: dict[int, str] | None = None
        out = []
        for cid, first, last, born, email, phone, status, clinician_id in rows:
            score, reasons = score_pair(person, Person(cid, first, last, born, email, phone))
            if score < THRESHOLD:
                continue
            if names is None:
                names = {uid: name for uid, name in s.execute(select(PracticeUser.id, PracticeUser.display_name))}
            out.append(Candidate(cid, first, last, born, str(getattr(status, "value", status)),
                                 names.get(clinician_id, "") if clinician_id else "", score, reasons,
                                 email, phone))
        return sorted(out, key=lambda c: (-c.score, c.last_name.casefold(), c.id))

    @reads("client.find_duplicates", Action.MARK_DUPLICATE)
    def find_client_duplicates(self, s: Session, actor: Actor,
                               progress: Callable[[int, int], bool] | None = None) -> list[DuplicatePair]:
        """Client profiles not already linked as duplicates that look like the same person."""
        stmt = select(Client.id, Client.first_name, Client.last_name, Client.date_of_birth,
                      Client.email, Client.phone).where(Client.duplicate_of_id.is_(None))
        people = [Person(*row) for row in s.execute(visible_clients(stmt, actor.visibility(Action.MARK_DUPLICATE)))]
        dismissed = {(a, b) for a, b in s.execute(select(DuplicateDismissal.client_id,
                                                          DuplicateDismissal.other_client_id))}
        return find_pairs(people, dismissed, progress)

    @reads("contact.find_duplicates", Action.MERGE_CONTACTS)
    def find_contact_duplicates(self, s: Session, actor: Actor) -> list[DuplicatePair]:
        """Contact profiles that look like the same person, less the pairs someone dismissed."""
        stmt = select(Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.phone)
        stmt = visible_contacts(stmt, actor.visibility(Action.MERGE_CONTACTS))
        people = [Person(cid, f, last, None, e, ph) for cid, f, last, e, ph in s.execute(stmt)]
        dismissed = {(a, b) for a, b in s.execute(select(ContactDismissal.contact_id,
                                                          ContactDismissal.other_contact_id))}
        return find_pairs(people, dismissed)

    @writes("client.not_duplicate", Action.MARK_DUPLICATE, target="client:client_id")
    def dismiss(self, s: Session, actor: Actor, client_id: int, other_client_id: int) -> None:
        """Remember that two client profiles are *not* the same person; they are not offered again."""
        low, high = sorted((client_id, other_client_id))
        if low == high:
            raise InvalidInput("A client cannot be compared with itself.")
        for cid in (low, high):
            client = self._load_client(s, cid)
            require(actor, Action.MARK_DUPLICATE, clinician_id=client.clinician_id)
        exists = s.scalars(select(DuplicateDismissal.id).where(
            DuplicateDismissal.client_id == low, DuplicateDismissal.other_client_id == high)).first()
        if exists is None:
            s.add(DuplicateDismissal(client_id=low, other_client_id=high, actor_id=actor.user_id))
        audit(s, actor, "client.not_duplicate", "client", low, details={"other_client_id": high})

    @writes("contact.not_duplicate", Action.MERGE_CONTACTS, target="contact:contact_id")
    def dismiss_contacts(self, s: Session, actor: Actor, contact_id: int, other_contact_id: int) -> None:
        """Remember that two contact profiles are *not* the same person; they are not offered again."""
        low, high = sorted((contact_id, other_contact_id))
        if low == high:
            raise InvalidInput("A contact cannot be compared with itself.")
        who = actor.visibility(Action.MERGE_CONTACTS)
        for kid in (low, high):
            if s.get(Contact, check_id(kid, "contact")) is None:
                raise NotFound(f"There is no contact with id {kid}; it may have been merged or deleted.")
            if s.scalars(visible_contacts(select(Contact.id).where(Contact.id == kid), who)).first() is None:
                raise PermissionDenied("This contact is not linked to any of your clients.")
        exists = s.scalars(select(ContactDismissal.id).where(
            ContactDismissal.contact_id == low, ContactDismissal.other_contact_id == high)).first()
        if exists is None:
            s.add(ContactDismissal(contact_id=low, other_contact_id=high, actor_id=actor.user_id))
        audit(s, actor, "contact.not_duplicate", "contact", low, details={"other_contact_id": high})

    @reads("contact.find_client_duplicates", Action.MERGE_CONTACTS)
    def find_contact_client_duplicates(self, s: Session, actor: Actor) -> list[DuplicatePair]:
        """Contacts who look like a client (same evidence rule), for merging into the client.

        In each pair ``left`` is the client and ``right`` the contact; ids overlap
        between the two kinds, so pairs are found across the kinds only.
        """
        who = actor.visibility(Action.MERGE_CONTACTS)
        clients = [Person(*row) for row in s.execute(visible_clients(
            select(Client.id, Client.first_name, Client.last_name, Client.date_of_birth, Client.email,
                   Client.phone), who))]
        contacts = [Person(cid, f, last, None, e, ph) for cid, f, last, e, ph in s.execute(visible_contacts(
            select(Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.phone), who))]
        # Contact ids are shifted past every client id, so one pass of the finder keeps the kinds
        # apart, and only pairs that mix them are kept.
        offset = max((c.id for c in clients), default=0) + 1
        shifted = [Person(p.id + offset, p.first_name, p.last_name, p.date_of_birth, p.email, p.phone)
                   for p in contacts]
        by_shifted = {p.id: original for p, original in zip(shifted, contacts)}
        dismissed = {(client_id, contact_id + offset) for contact_id, client_id in s.execute(
            select(ContactClientDismissal.contact_id, ContactClientDismissal.client_id))}
        pairs = []
        for pair in find_pairs(clients + shifted, dismissed):
            if (pair.left.id < offset) == (pair.right.id < offset):
                continue
            client, contact = (pair.left, pair.right) if pair.left.id < offset else (pair.right, pair.left)
            pairs.append(DuplicatePair(client, by_shifted[contact.id], pair.score, pair.reasons))
        return pairs

    @writes("contact.not_a_client", Action.MERGE_CONTACTS, target="contact:contact_id")
    def dismiss_contact_client(self, s: Session, actor: Actor, contact_id: int, client_id: int) -> None:
        """Remember that a contact is *not* the client they look like; the pair is not offered again."""
        who = actor.visibility(Action.MERGE_CONTACTS)
        if s.get(Contact, check_id(contact_id, "contact")) is None:
            raise NotFound(f"There is no contact with id {contact_id}; it may have been merged or deleted.")
        if s.scalars(visible_contacts(select(Contact.id).where(Contact.id == contact_id), who)).first() is None:
            raise PermissionDenied("This contact is not linked to any of your clients.")
        client = self._load_client(s, client_id)
        require(actor, Action.MERGE_CONTACTS, clinician_id=client.clinician_id)
        exists = s.scalars(select(ContactClientDismissal.id).where(
            ContactClientDismissal.contact_id == contact_id, ContactClientDismissal.client_id == client_id)).first()
        if exists is None:
            s.add(ContactClientDismissal(contact_id=contact_id, client_id=client_id, actor_id=actor.user_id))
        audit(s, actor, "contact.not_a_client", "contact", contact_id, details={"client_id": client_id})
