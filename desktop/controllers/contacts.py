"""Contacts: people around a client (guardians, emergency contacts, referrers).

Unlike clients, contacts can be merged: two contacts into one, or a contact into
a client profile. The survivor keeps the values chosen per field, takes over the
links, and the merged contact is removed, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from desktop.controllers import validation
from desktop.controllers.base import (
    Controller,
    audit,
    check_id,
    check_version,
    flush_versioned,
    reads,
    require,
    views,
    writes,
)
from desktop.controllers.errors import InvalidInput, NotFound, PermissionDenied
from desktop.controllers.permissions import Action, Actor, Scope
from desktop.domain.models import Client, ClientContactLink, Contact
from desktop.domain.search import like_pattern, name_sort_key, query_tokens
from desktop.storage.queries import visible_clients, visible_contacts

MERGE_FIELDS = ("first_name", "last_name", "email", "phone", "notes")
Side = Literal["keep", "other"]


class ContactsController(Controller):
    def _load(self, s: Session, contact_id: int) -> Contact:
        contact = s.get(Contact, check_id(contact_id, "contact"))
        if contact is None:
            raise NotFound(f"There is no contact with id {contact_id!r}.")
        return contact

    def _linked_clinicians(self, s, contact_id: int) -> set[int | None]:  # type: ignore[no-untyped-def]
        return set(s.scalars(select(Client.clinician_id).join(
            ClientContactLink, ClientContactLink.client_id == Client.id).where(
            ClientContactLink.contact_id == contact_id)))

    def _require_for_contact(self, s, actor: Actor, action: Action, contact_id: int) -> None:  # type: ignore[no-untyped-def]
        if actor.scope(action) is Scope.ASSIGNED:
            # A contact linked to no client (a referring provider on file) is the
            # practice's, not theirs: they do not even see it in their list.
            linked = self._linked_clinicians(s, contact_id)
            if not linked or linked - {actor.user_id}:
                raise PermissionDenied("This contact is not linked only to clients assigned to you.")
        require(actor, action, any_client=True)

    @writes("contact.add", Action.EDIT_CLIENT)
    def add_contact(self, s: Session, actor: Actor, *, first_name: str, last_name: str, email: str | None = None,
                    phone: str | None = None, notes: str | None = None, client_id: int | None = None,
                    relationship: str | None = None, seen_duplicates: Sequence[int] = ()) -> int:
        """Create a contact, linked to ``client_id`` in the same transaction if given.

        ``seen_duplicates``: contacts the person was warned look the same and saved anyway
        (``likely_contact_duplicates_of``); their ids go into the audit row.
        """
        client = None
        if client_id is not None:
            client = self._load_client(s, client_id)
            require(actor, Action.EDIT_CLIENT, clinician_id=client.clinician_id)
        elif actor.scope(Action.EDIT_CLIENT) is Scope.ASSIGNED:
            raise PermissionDenied("Add a contact from the profile of one of your clients, so it is "
                                   "linked to them.")
        else:
            require(actor, Action.EDIT_CLIENT, any_client=True)
        contact = Contact(
            first_name=validation.name(first_name, "first_name"),
            last_name=validation.name(last_name, "last_name"),
            email=validation.email(email), phone=validation.phone(phone),
            notes=validation.free_text(notes, "notes"))
        contact.refresh_search_key()
        s.add(contact)
        s.flush()
        if client is not None:
            s.add(ClientContactLink(client_id=client.id, contact_id=contact.id,
                                    relationship=validation.name(relationship, "relationship")))
        details: dict[str, object] = {"client_id": client.id} if client is not None else {}
        if seen_duplicates:
            details["possible_duplicates"] = sorted({check_id(i, "contact") for i in seen_duplicates})
        audit(s, actor, "contact.add", "contact", contact.id, details=details or None)
        return contact.id

    @writes("contact.edit", Action.EDIT_CLIENT, target="contact:contact_id")
    def edit_contact(self, s: Session, actor: Actor, contact_id: int, expected_version: int, **values: Any) -> int:
        """Save changed fields if nobody saved since ``expected_version``; returns the new version."""
        unknown = set(values) - set(MERGE_FIELDS)
        if unknown:
            raise InvalidInput(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        contact = self._load(s, contact_id)
        self._require_for_contact(s, actor, Action.EDIT_CLIENT, contact_id)
        check_version(contact, expected_version)
        cleaned = {key: validation.field(key, value) for key, value in values.items()}
        changed = sorted(k for k, v in cleaned.items() if getattr(contact, k) != v)
        for key in changed:
            setattr(contact, key, cleaned[key])
        if changed:
            contact.refresh_search_key()
            flush_versioned(s)
            audit(s, actor, "contact.edit", "contact", contact_id, details={"fields": changed})
        return contact.version

    @writes("contact.link", Action.EDIT_CLIENT, target="client:client_id")
    def link(self, s: Session, actor: Actor, client_id: int, contact_id: int, relationship: str) -> None:
        client = self._load_client(s, client_id)
        require(actor, Action.EDIT_CLIENT, clinician_id=client.clinician_id)
        self._load(s, contact_id)
        if actor.scope(Action.EDIT_CLIENT) is Scope.ASSIGNED and \
                actor.user_id not in self._linked_clinicians(s, contact_id):
            # They cannot see this contact, so they may not pull it in (and then merge it away).
            raise PermissionDenied("You may link only contacts of your own clients.")
        rel = validation.name(relationship, "relationship")
        existing = s.scalars(select(ClientContactLink).where(
            ClientContactLink.client_id == client_id,
            ClientContactLink.contact_id == contact_id)).one_or_none()
        if existing is not None:
            existing.relationship = rel  # type: ignore[assignment]
        else:
            s.add(ClientContactLink(client_id=client_id, contact_id=contact_id, relationship=rel))
        audit(s, actor, "contact.link", "client", client_id, details={"contact_id": contact_id})

    @writes("contact.unlink", Action.EDIT_CLIENT, target="client:client_id")
    def unlink(self, s: Session, actor: Actor, client_id: int, contact_id: int) -> None:
        """Remove the relationship; the contact profile itself stays."""
        client = self._load_client(s, client_id)
        require(actor, Action.EDIT_CLIENT, clinician_id=client.clinician_id)
        gone = s.execute(delete(ClientContactLink).where(
            ClientContactLink.client_id == client_id, ClientContactLink.contact_id == contact_id))
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise NotFound("That contact is not linked to this client.")
        audit(s, actor, "contact.unlink", "client", client_id, details={"contact_id": contact_id})

    @staticmethod
    def _chosen(field: str, choices: Mapping[str, Side], keep_value: Any, other_value: Any) -> Any:
        side = choices.get(field, "keep")
        if side not in ("keep", "other"):
            raise InvalidInput(f"Choose 'keep' or 'other' for {field}, not {side!r}.", field=field)
        if side == "other":
            return other_value
        # An empty kept value never hides a filled one nobody chose against.
        return keep_value if keep_value not in (None, "") or field in choices else other_value

    @writes("contact.merge", Action.MERGE_CONTACTS, target="contact:keep_id")
    def merge_contacts(self, s: Session, actor: Actor, keep_id: int, other_id: int,
                       choices: Mapping[str, Side] | None = None,
                       expected_versions: tuple[int, int] | None = None) -> int:
        """Merge contact ``other_id`` into contact ``keep_id``; returns ``keep_id``.

        With ``expected_versions`` (kept's, other's), values chosen from a stale
        view never overwrite an edit saved meanwhile: the merge is refused.
        """
        choices = dict(choices or {})
        unknown = set(choices) - set(MERGE_FIELDS)
        if unknown:
            raise InvalidInput(f"Cannot choose values for {', '.join(sorted(unknown))}.")
        if keep_id == other_id:
            raise InvalidInput("A contact cannot be merged into itself.")
        keep, other = self._load(s, keep_id), self._load(s, other_id)
        if expected_versions is not None:
            check_version(keep, expected_versions[0])
            check_version(other, expected_versions[1])
        self._require_for_contact(s, actor, Action.MERGE_CONTACTS, keep_id)
        self._require_for_contact(s, actor, Action.MERGE_CONTACTS, other_id)
        for f in MERGE_FIELDS:
            setattr(keep, f, self._chosen(f, choices, getattr(keep, f), getattr(other, f)))
        keep.refresh_search_key()
        kept_clients = set(s.scalars(select(ClientContactLink.client_id).where(
            ClientContactLink.contact_id == keep_id)))
        moved = 0
        for link in s.scalars(select(ClientContactLink).where(ClientContactLink.contact_id == other_id)).all():
            if link.client_id in kept_clients:
                s.delete(link)
            else:
                link.contact_id = keep_id
                moved += 1
        s.flush()
        s.execute(delete(Contact).where(Contact.id == other_id))
        s.expunge(other)
        audit(s, actor, "contact.merge", "contact", keep_id,
              details={"merged_contact_id": other_id, "links_moved": moved,
                       "fields_from_other": sorted(f for f, side in choices.items() if side == "other")})
        return keep_id

    @writes("contact.merge_into_client", Action.MERGE_CONTACTS, target="client:client_id")
    def merge_contact_into_client(self, s: Session, actor: Actor, client_id: int, contact_id: int,
                                  choices: Mapping[str, Side] | None = None) -> int:
        """The contact turns out to be a client: fold it into the client profile.

        The client is never removed. Fields chosen as 'other' take the contact's
        value. A contact linked to *other* clients is refused, since a client
        cannot stand as another client's contact and those links would be lost.
        """
        choices = dict(choices or {})
        allowed = {"first_name", "last_name", "email", "phone"}
        if set(choices) - allowed:
            raise InvalidInput(f"Cannot choose values for {', '.join(sorted(set(choices) - allowed))}.")
        client = self._load_client(s, client_id)
        contact = self._load(s, contact_id)
        require(actor, Action.MERGE_CONTACTS, clinician_id=client.clinician_id)
        self._require_for_contact(s, actor, Action.MERGE_CONTACTS, contact_id)
        others = set(s.scalars(select(ClientContactLink.client_id).where(
            ClientContactLink.contact_id == contact_id))) - {client_id}
        if others:
            raise InvalidInput(
                f"This contact is linked to {len(others)} other client(s); unlink them first, "
                "so no relationship is lost.")
        for f in sorted(allowed):
            setattr(client, f, self._chosen(f, choices, getattr(client, f), getattr(contact, f)))
        client.refresh_search_key()
        s.execute(delete(ClientContactLink).where(ClientContactLink.contact_id == contact_id))
        s.execute(delete(Contact).where(Contact.id == contact_id))
        s.expunge(contact)
        flush_versioned(s)
        audit(s, actor, "contact.merge_into_client", "client", client_id,
              details={"merged_contact_id": contact_id})
        return client_id


    @views("contact.view", Action.SEE_CLIENTS, target="contact:contact_id")
    def get_contact(self, s: Session, actor: Actor, contact_id: int) -> dict[str, Any]:
        """One contact with the clients it is linked to (only those the actor may see)."""
        contact = self._load(s, contact_id)
        who = actor.visibility()
        if s.scalars(visible_contacts(select(Contact.id).where(Contact.id == contact_id), who)).first() is None:
            raise PermissionDenied("This contact is not linked to any of your clients.")
        links: list[dict[str, Any]] = [
            {"client_id": client.id, "first_name": client.first_name, "last_name": client.last_name,
             "relationship": link.relationship, "date_of_birth": client.date_of_birth}
            for link, client in s.execute(visible_clients(
                select(ClientContactLink, Client).join(Client, Client.id == ClientContactLink.client_id)
                .where(ClientContactLink.contact_id == contact_id), who))
        ]
        links.sort(key=lambda c: (name_sort_key(c["last_name"], c["first_name"]), c["client_id"]))
        return {"id": contact.id, "first_name": contact.first_name, "last_name": contact.last_name,
                "email": contact.email, "phone": contact.phone, "notes": contact.notes,
                "version": contact.version, "clients": links}

    @reads("contact.search", Action.SEE_CLIENTS)
    def search_contacts(self, s: Session, actor: Actor, text: str = "", *,
                        limit: int = 50) -> list[dict[str, Any]]:
        """Contacts the actor may see whose name, email or phone matches every typed word."""
        stmt = visible_contacts(select(Contact), actor.visibility())
        for token in query_tokens(text or ""):
            stmt = stmt.where(Contact.search_key.like(like_pattern(token), escape="\\"))
        # The database's order only picks a generous first page; the page is then put in
        # the lists' order (docs/rules.md, "Lists").
        stmt = stmt.order_by(Contact.last_name, Contact.first_name, Contact.id).limit(max(20 * limit, 1000))
        found: list[dict[str, Any]] = [{"id": c.id, "first_name": c.first_name, "last_name": c.last_name,
                  "email": c.email, "phone": c.phone} for c in s.scalars(stmt)]
        found.sort(key=lambda c: (name_sort_key(c["last_name"], c["first_name"]), c["id"]))
        return found[:limit]
