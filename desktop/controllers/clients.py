"""Clients: adding, editing, status, portal access, duplicates, export and deletion.

Every public method is one operation: it checks the actor's permission,
validates, changes, audits and commits, or raises a ``CaseloadError`` having
changed nothing. The GUI and the command line call these and nothing else.
"""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, Table, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from desktop.controllers import conflicts, validation
from desktop.controllers.appointments import AppointmentsController
from desktop.controllers.audit_log import VIEWS
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
from desktop.controllers.errors import (
    ConfirmationMismatch,
    InvalidInput,
    PermissionDenied,
)
from desktop.controllers.permissions import Action, Actor, Scope
from desktop.controllers.settings import SettingsController
from desktop.domain.models import (
    Appointment,
    AuditEvent,
    Base,
    BillingDocument,
    Client,
    ClientContactLink,
    ClientStatus,
    Contact,
    InactiveReason,
    PortalAccess,
    PracticeUser,
    StatusChange,
)
from desktop.domain.search import like_pattern, name_sort_key, query_tokens
from desktop.storage.changes import note_changed
from desktop.storage.queries import EVERYONE, visible_clients

EDITABLE_FIELDS = (
    "first_name", "last_name", "preferred_name", "date_of_birth", "email", "phone",
    "address", "clinician_id", "diagnosis_codes",
)


def _seen(ids: Sequence[int]) -> dict[str, list[int]] | None:
    """The audit detail of a save made despite a duplicate warning (ids only, never names)."""
    return {"possible_duplicates": sorted({check_id(i, "client") for i in ids})} if ids else None


T = TypeVar("T")


class StatusFilter(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ALL = "all"


@dataclass(frozen=True)
class ClientRow:
    """One line of the client list: plain values, safe to hand to any layer."""

    id: int
    first_name: str
    last_name: str
    preferred_name: str | None
    date_of_birth: dt.date | None
    email: str | None
    phone: str | None
    status: ClientStatus
    clinician_id: int | None
    clinician: str | None
    version: int

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["date_of_birth"] = self.date_of_birth.isoformat() if self.date_of_birth else None
        data["status"] = self.status.value
        return data


@dataclass(frozen=True)
class DuplicateMarked:
    """What Mark duplicate changed, so that it can be undone exactly (``undo_mark_duplicate``)."""

    duplicate_id: int
    keep_id: int
    version: int  # the duplicate's version right after marking; undo refuses if it moved
    status: ClientStatus
    inactive_reason: InactiveReason | None
    inactive_note: str | None
    repointed: tuple[int, ...]  # profiles that pointed at the duplicate and now at the kept one
    portal: dict[str, bool] | None  # the access switched off with the mark, if any


@dataclass
class DeletionImpact:
    """What a deletion would remove, counted, for the dialog to show.

    After a deletion, ``erased`` says whether its data is also gone from the
    database file; False while another program's open read holds it there.
    """

    client_id: int
    full_name: str
    counts: dict[str, int]
    erased: bool = True

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class ClientDetail:
    row: ClientRow
    address: str | None
    diagnosis_codes: str | None
    inactive_reason: InactiveReason | None
    inactive_note: str | None
    duplicate_of_id: int | None
    duplicates: list[int]
    created_at: dt.datetime
    updated_at: dt.datetime
    portal: dict[str, bool]
    # None where the actor's role may not see them (docs/rules.md, "Who may do what").
    status_history: list[dict[str, Any]] | None = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    appointments: list[dict[str, Any]] = field(default_factory=list)
    billing_documents: list[dict[str, Any]] | None = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = self.row.as_json()
        data.update(
            address=self.address,
            diagnosis_codes=self.diagnosis_codes,
            inactive_reason=self.inactive_reason.value if self.inactive_reason else None,
            inactive_note=self.inactive_note,
            duplicate_of=self.duplicate_of_id,
            duplicates=self.duplicates,
            created_at=self.created_at.isoformat(timespec="seconds"),
            updated_at=self.updated_at.isoformat(timespec="seconds"),
            portal=self.portal,
            status_history=self.status_history,
            contacts=self.contacts,
            appointments=self.appointments,
            billing_documents=self.billing_documents,
        )
        return data


def client_owned_tables() -> list[Table]:
    """Every table with a foreign key to ``clients``, children before parents.

    Found from the metadata, so a table added later is deleted with the client
    without anyone having to remember it here.
    """
    clients = Client.__table__
    owned = [t for t in Base.metadata.sorted_tables
             if t is not clients and any(fk.column.table is clients for fk in t.foreign_keys)]
    return list(reversed(owned))


def _client_columns(table: Table) -> list:
    return [fk.parent for fk in table.foreign_keys if fk.column.table is Client.__table__]


class ClientsController(Controller):
    # ------------------------------------------------------------------ reading

    def _row_select(self) -> Select:
        clinician = aliased(PracticeUser)
        return select(
            Client.id, Client.first_name, Client.last_name, Client.preferred_name,
            Client.date_of_birth, Client.email, Client.phone, Client.status,
            Client.clinician_id, clinician.display_name, Client.version,
        ).outerjoin(clinician, clinician.id == Client.clinician_id)

    @reads("client.list", Action.SEE_CLIENTS)
    def list_clients(self, s: Session, actor: Actor, status: StatusFilter | str = StatusFilter.ACTIVE,
                     search: str = "", *, limit: int | None = None) -> list[ClientRow]:
        """Clients the actor may see, filtered by status and by what was typed."""
        try:
            status = StatusFilter(status)
        except ValueError:
            raise InvalidInput(f"{status!r} is not a client status filter; use active, inactive "
                               "or all.", field="status") from None
        if not isinstance(search, str):
            raise InvalidInput("Search must be text.", field="search")
        stmt = visible_clients(self._row_select(), actor.visibility())
        if status is not StatusFilter.ALL:
            stmt = stmt.where(Client.status == ClientStatus(status.value))
        for token in query_tokens(search):
            stmt = stmt.where(Client.search_key.like(like_pattern(token), escape="\\"))
        rows = [ClientRow(*r) for r in s.execute(stmt)]
        # The window's order (docs/rules.md, "Lists"), not the database's collation.
        rows.sort(key=lambda r: (name_sort_key(r.last_name, r.first_name), r.id))
        return rows[:limit] if limit is not None else rows

    def _check_sees(self, actor: Actor, client: Client) -> None:
        if not actor.can(Action.SEE_CLIENTS, client.clinician_id):
            # Saying "not found" rather than "forbidden" would hide more, but an
            # explicit refusal is what a clinician can act on (ask the manager).
            raise PermissionDenied("This client is not assigned to you.")

    @views("client.view", Action.SEE_CLIENTS, target="client:client_id")
    def get_client(self, s: Session, actor: Actor, client_id: int) -> ClientDetail:
        """One client's whole record, as the profile shows it (audited as a look at it)."""
        return self._detail(s, actor, client_id)

    @reads("client.portal_read", Action.SEE_CLIENTS, target="client:client_id")
    def portal_access(self, s: Session, actor: Actor, client_id: int) -> dict[str, bool]:
        """Whether the client's portal and messaging access is on (no other part of the record)."""
        client = self._load_client(s, client_id)
        self._check_sees(actor, client)
        return self._portal_of(s, client_id)

    @staticmethod
    def _portal_of(s: Session, client_id: int) -> dict[str, bool]:
        portal = s.get(PortalAccess, client_id)
        return {"portal_enabled": bool(portal and portal.portal_enabled),
                "messaging_enabled": bool(portal and portal.messaging_enabled)}

    @reads("billing.documents", Action.SEE_BILLING, target="client:client_id")
    def billing_documents(self, s: Session, actor: Actor, client_id: int) -> list[dict[str, Any]]:
        """The client's superbills and statements, oldest period first."""
        client = self._load_client(s, client_id)
        require(actor, Action.SEE_BILLING, clinician_id=client.clinician_id)
        return self._documents(s, client_id)

    @staticmethod
    def _documents(s: Session, client_id: int) -> list[dict[str, Any]]:
        return [
            {"id": d.id, "kind": d.kind.value, "period_start": d.period_start.isoformat(),
             "period_end": d.period_end.isoformat(), "amount": str(d.amount),
             "automatic": d.automatic, "created_at": d.created_at.isoformat(timespec="seconds")}
            for d in s.scalars(select(BillingDocument).where(BillingDocument.client_id == client_id)
                               .order_by(BillingDocument.period_start, BillingDocument.id))
        ]

    def _detail(self, s: Session, actor: Actor, client_id: int) -> ClientDetail:
        client = self._load_client(s, client_id)
        self._check_sees(actor, client)
        row = ClientRow(*s.execute(self._row_select().where(Client.id == client_id)).one())
        portal = s.get(PortalAccess, client_id)
        users = dict(s.execute(select(PracticeUser.id, PracticeUser.username)).all())
        history = [
            {
                "from": c.from_status.value, "to": c.to_status.value,
                "reason": c.reason.value if c.reason else None, "note": c.note,
                "actor": users.get(c.actor_id) if c.actor_id else None,
                "at": c.changed_at.isoformat(timespec="seconds"),
            }
            for c in s.scalars(select(StatusChange).where(StatusChange.client_id == client_id)
                               .order_by(StatusChange.changed_at, StatusChange.id))
        ]
        contacts = [
            {"contact_id": contact.id, "first_name": contact.first_name,
             "last_name": contact.last_name, "relationship": link.relationship,
             "email": contact.email, "phone": contact.phone}
            for link, contact in s.execute(
                select(ClientContactLink, Contact)
                .join(Contact, Contact.id == ClientContactLink.contact_id)
                .where(ClientContactLink.client_id == client_id)
                .order_by(Contact.last_name, Contact.first_name))
        ]
        appointments = [
            {**a.as_json(), "clinician_name": a.clinician_name, "service_description": a.service_description,
             "billed": a.billed, "version": a.version}
            for a in AppointmentsController._rows(s, actor, SettingsController._read(s).zone,
                                                  [Appointment.client_id == client_id], visible=False)
        ]
        documents = self._documents(s, client_id)
        duplicates = list(s.scalars(select(Client.id).where(Client.duplicate_of_id == client_id)
                                    .order_by(Client.id)))
        return ClientDetail(
            row=row, address=client.address, diagnosis_codes=client.diagnosis_codes, inactive_reason=client.inactive_reason,
            inactive_note=client.inactive_note, duplicate_of_id=client.duplicate_of_id,
            duplicates=duplicates, created_at=client.created_at, updated_at=client.updated_at,
            portal={"portal_enabled": bool(portal and portal.portal_enabled),
                    "messaging_enabled": bool(portal and portal.messaging_enabled)},
            status_history=history if actor.can(Action.SEE_HISTORY, client.clinician_id) else None,
            contacts=contacts, appointments=appointments,
            billing_documents=documents if actor.can(Action.SEE_BILLING, client.clinician_id) else None,
        )

    @writes("client.export", Action.SEE_CLIENTS, target="client:client_id")
    def export_client(self, s: Session, actor: Actor, client_id: int,
                      deliver: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
        """The full record as JSON-ready data, audited as an export; the practice's details
        (Practice settings) come first, as at the top of a paper record.

        ``deliver`` (writing the file) runs inside the operation: on SQLite after the audit
        row is written and the write lock taken, so a file too busy to record the export
        refuses before anything leaves the practice; on PostgreSQL the row is chained at the
        commit (``audit``'s ``now``). The export is committed only once delivered; a delivery
        that fails is audited as refused and raises its ``CaseloadError``.
        """
        practice = SettingsController.practice_header(s)
        data = {"practice": practice, **self._detail(s, actor, client_id).as_json()}
        data["exported_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        audit(s, actor, "client.export", "client", client_id, now=True)
        if deliver is not None:
            deliver(data)
        return data

    @writes("client.export_list", Action.SEE_CLIENTS)
    def export_list(self, s: Session, actor: Actor, clients: int, contacts: int,
                    deliver: Callable[[], T]) -> T:
        """Audit a list written out of the practice (the window's Export list as CSV).

        ``deliver`` writes the file inside the operation, so the export is audited
        (with how many clients and contacts it held, never who) only once it is written;
        a delivery that fails is audited as refused and raises its ``CaseloadError``.
        """
        # On SQLite the audit row is written, and the write lock taken, before the file: a file
        # too busy to record the export refuses before anything leaves the practice (``audit``'s
        # ``now``; on PostgreSQL the row is chained at the commit, as every other).
        audit(s, actor, "client.export_list", None, None, details={"clients": clients, "contacts": contacts},
              now=True)
        return deliver()

    # ----------------------------------------------------------------- changing

    def _clean(self, s: Session, values: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(values) - set(EDITABLE_FIELDS)
        if unknown:
            raise InvalidInput(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        return {key: self._clinician(s, value) if key == "clinician_id" else validation.field(key, value)
                for key, value in values.items()}

    def _clinician(self, s: Session, value: Any) -> int | None:
        if value is None:
            return None
        user = None
        if isinstance(value, int) and not isinstance(value, bool):
            user = s.get(PracticeUser, value)
        elif isinstance(value, str):
            user = s.scalars(select(PracticeUser).where(PracticeUser.username == value)).one_or_none()
        if user is None or not user.active:
            raise InvalidInput(f"There is no active practice user {value!r} to assign.",
                               field="clinician_id")
        return user.id

    @writes("client.add", Action.EDIT_CLIENT)
    def add_client(self, s: Session, actor: Actor, *, seen_duplicates: Sequence[int] = (),
                   **values: Any) -> int:
        """Create an Active client; returns the new id.

        ``seen_duplicates``: the likely duplicates the person was warned about and saved
        anyway (``likely_client_duplicates_of``); their ids go into the audit row.
        """
        require(actor, Action.EDIT_CLIENT, any_client=True)
        cleaned = self._clean(s, values)
        for required in ("first_name", "last_name"):
            if required not in cleaned:
                raise InvalidInput(f"{validation.LABELS[required]} is required.", field=required)
        if actor.scope(Action.EDIT_CLIENT) is Scope.ASSIGNED:
            # An own-clients clinician can only create clients they can see.
            if cleaned.get("clinician_id", actor.user_id) != actor.user_id:
                raise PermissionDenied("You may add clients only for yourself as clinician.")
            cleaned["clinician_id"] = actor.user_id
        client = Client(status=ClientStatus.ACTIVE, **cleaned)
        client.refresh_search_key()
        s.add(client)
        s.flush()
        audit(s, actor, "client.add", "client", client.id, details=_seen(seen_duplicates))
        return client.id

    @writes("client.edit", Action.EDIT_CLIENT, target="client:client_id")
    def edit_client(self, s: Session, actor: Actor, client_id: int, expected_version: int,
                    **values: Any) -> int:
        """Save changed fields if nobody saved since ``expected_version``; returns the new version."""
        client = self._load_client(s, client_id, for_update=True)
        require(actor, Action.EDIT_CLIENT, clinician_id=client.clinician_id)
        check_version(client, expected_version)
        self._apply_fields(s, actor, client, values)
        flush_versioned(s)
        return client.version

    @writes("client.edit", Action.EDIT_CLIENT, target="client:client_id")
    def save_profile(
        self,
        s: Session,
        actor: Actor,
        client_id: int,
        expected_version: int,
        fields: Mapping[str, Any],
        *,
        status: ClientStatus | str,
        reason: InactiveReason | str | None = None,
        note: str | None = None,
        disable_portal: bool = False,
        seen_duplicates: Sequence[int] = (),
        base: ClientDetail | None = None,
    ) -> int:
        """The edit dialog's Save Client: fields, status and portal in one transaction.

        ``seen_duplicates`` as for ``add_client``: audited with the edit. ``base``: the
        profile as the person opened it, when ``expected_version`` is a newer one they
        merged with (the conflict dialog's Save merged); a value someone else changed
        since ``base`` that this save replaces is audited as ``client.overwrite``.
        """
        client = self._load_client(s, client_id, for_update=True)
        require(actor, Action.EDIT_CLIENT, clinician_id=client.clinician_id)
        check_version(client, expected_version)
        if base is not None and base.row.id != client_id:
            raise InvalidInput("The profile compared with is another client's; nothing was saved.")
        theirs = conflicts.stored(client)
        self._apply_fields(s, actor, client, fields, seen_duplicates)
        new = self._status(status)
        reason_value, note_value = self._inactive_reason(client, new, reason, note)
        if new is not client.status:
            require(actor, Action.CHANGE_STATUS, clinician_id=client.clinician_id)
            self._apply_status(s, actor, client, new, reason_value, note_value)
        elif new is ClientStatus.INACTIVE and (client.inactive_reason, client.inactive_note) != (
                reason_value, note_value):
            if reason_value is not InactiveReason.DUPLICATE:
                client.duplicate_of_id = None  # no longer a duplicate: no stale link
            client.inactive_reason, client.inactive_note = reason_value, note_value
            audit(s, actor, "client.edit", "client", client.id,
                  details={"fields": ["inactive_note", "inactive_reason"]})
        if base is not None:
            self._audit_overwrite(s, actor, client, base, theirs, expected_version)
        if disable_portal:
            self._set_portal(s, actor, client.id, portal=False, messaging=False)
        flush_versioned(s)
        return client.version

    @staticmethod
    def _audit_overwrite(s: Session, actor: Actor, client: Client, base: ClientDetail,
                         theirs: dict[str, str], their_version: int) -> None:
        """Replacing what someone else saved after ``base`` was opened is audited by field name,
        never value, with the versions involved (docs/rules.md, "Conflicting saves")."""
        replaced = conflicts.overwritten(conflicts.opened(base), theirs, conflicts.stored(client))
        if replaced:
            audit(s, actor, "client.overwrite", "client", client.id,
                  details={"fields": replaced, "opened_version": base.row.version,
                           "overwritten_version": their_version})

    def _apply_fields(self, s: Session, actor: Actor, client: Client, values: Mapping[str, Any],
                      seen_duplicates: Sequence[int] = ()) -> None:
        cleaned = self._clean(s, values)
        if "clinician_id" in cleaned and actor.scope(Action.EDIT_CLIENT) is Scope.ASSIGNED \
                and cleaned["clinician_id"] != actor.user_id:
            raise PermissionDenied("You may not assign your client to another clinician.")
        changed = sorted(k for k, v in cleaned.items() if getattr(client, k) != v)
        for key in changed:
            setattr(client, key, cleaned[key])
        if changed:
            client.refresh_search_key()
            audit(s, actor, "client.edit", "client", client.id,
                  details={"fields": changed, **(_seen(seen_duplicates) or {})})

    @writes("client.set_status", Action.CHANGE_STATUS, target="client:client_id")
    def set_status(
        self,
        s: Session,
        actor: Actor,
        client_id: int,
        status: ClientStatus | str,
        *,
        reason: InactiveReason | str | None = None,
        note: str | None = None,
        expected_version: int | None = None,
        disable_portal: bool = False,
    ) -> int:
        """Mark a client Active or Inactive, with history and audit; returns the new version."""
        client = self._load_client(s, client_id, for_update=True)
        require(actor, Action.CHANGE_STATUS, clinician_id=client.clinician_id)
        check_version(client, expected_version)
        new = self._status(status)
        reason_value, note_value = self._inactive_reason(client, new, reason, note)
        self._apply_status(s, actor, client, new, reason_value, note_value)
        if disable_portal:
            self._set_portal(s, actor, client.id, portal=False, messaging=False)
        flush_versioned(s)
        return client.version

    @writes("client.mark_duplicate", Action.MARK_DUPLICATE, target="client:duplicate_id")
    def mark_duplicate(self, s: Session, actor: Actor, duplicate_id: int, keep_id: int, *,
                       note: str | None = None,
                       expected_versions: tuple[int, int] | None = None,
                       disable_portal: bool = False) -> DuplicateMarked:
        """Keep one profile; mark the other Inactive as its duplicate, linked to it.

        ``expected_versions`` (duplicate's, kept one's) are the versions the person
        compared; if either profile was saved since, nothing happens.
        ``disable_portal`` switches the duplicate's portal access off in the same
        transaction (the portal question every inactivation asks). Returns what
        ``undo_mark_duplicate`` needs to put everything back.
        """
        if duplicate_id == keep_id:
            raise InvalidInput("A client cannot be a duplicate of itself.")
        # Both rows locked, in id order: two workstations keeping opposite profiles of one
        # pair at once must not leave each marked as the other's duplicate.
        first, second = sorted((duplicate_id, keep_id))
        locked = {cid: self._load_client(s, cid, for_update=True) for cid in (first, second)}
        duplicate, kept = locked[duplicate_id], locked[keep_id]
        require(actor, Action.MARK_DUPLICATE, clinician_id=duplicate.clinician_id)
        require(actor, Action.MARK_DUPLICATE, clinician_id=kept.clinician_id)
        if expected_versions is not None:
            check_version(duplicate, expected_versions[0])
            check_version(kept, expected_versions[1])
        if kept.duplicate_of_id is not None:
            original = s.get(Client, kept.duplicate_of_id)
            raise InvalidInput(
                f"{kept.first_name} {kept.last_name} is already marked as a duplicate of "
                f"{original.first_name + ' ' + original.last_name if original else 'another profile'}; "
                "keep that profile instead.")
        before = (duplicate.status, duplicate.inactive_reason, duplicate.inactive_note)
        portal_before = self._portal_of(s, duplicate.id) if disable_portal else None
        # Profiles that pointed at the one now marked duplicate follow it to the kept one.
        repointed = self._repoint_duplicates(s, duplicate.id, kept.id)
        duplicate.duplicate_of_id = kept.id
        self._apply_status(s, actor, duplicate, ClientStatus.INACTIVE, InactiveReason.DUPLICATE,
                           validation.free_text(note, "inactive_note"), force=True)
        audit(s, actor, "client.mark_duplicate", "client", duplicate.id,
              details={"kept_client_id": kept.id})
        if disable_portal:
            self._set_portal(s, actor, duplicate.id, portal=False, messaging=False)
        flush_versioned(s)
        return DuplicateMarked(duplicate.id, kept.id, duplicate.version, *before, tuple(repointed),
                               portal_before)

    @writes("client.undo_mark_duplicate", Action.MARK_DUPLICATE, target="client:duplicate_id")
    def undo_mark_duplicate(self, s: Session, actor: Actor, duplicate_id: int, marked: DuplicateMarked) -> int:
        """Put back what ``mark_duplicate`` changed: status, reason, links and portal access.

        Refused (nothing changes) if the duplicate was saved since it was marked,
        or is no longer linked to the profile kept. Returns its new version.
        """
        if marked.duplicate_id != duplicate_id:
            raise InvalidInput("That undo step belongs to another client; nothing was changed.")
        duplicate = self._load_client(s, duplicate_id, for_update=True)
        require(actor, Action.MARK_DUPLICATE, clinician_id=duplicate.clinician_id)
        check_version(duplicate, marked.version)
        if duplicate.duplicate_of_id != marked.keep_id:
            raise InvalidInput(f"{duplicate.first_name} {duplicate.last_name} is no longer marked as a "
                               "duplicate of that profile; nothing was changed.")
        self._apply_status(s, actor, duplicate, marked.status, marked.inactive_reason,
                           marked.inactive_note, force=True)
        duplicate.duplicate_of_id = None
        back = list(s.scalars(update(Client).where(
            Client.id.in_(marked.repointed), Client.duplicate_of_id == marked.keep_id).values(
            duplicate_of_id=duplicate.id, version=Client.version + 1).returning(Client.id)))
        if back:
            note_changed(s, Client, back)
        audit(s, actor, "client.undo_mark_duplicate", "client", duplicate.id,
              details={"kept_client_id": marked.keep_id})
        if marked.portal is not None:
            self._set_portal(s, actor, duplicate.id, portal=marked.portal["portal_enabled"],
                             messaging=marked.portal["messaging_enabled"])
        flush_versioned(s)
        return duplicate.version

    @staticmethod
    def _repoint_duplicates(s: Session, old_id: int, new_id: int | None) -> list[int]:
        """Profiles marked as duplicates of ``old_id`` point at ``new_id`` instead (None: at nothing)."""
        # One statement that re-checks the link as it writes, so a row re-pointed meanwhile by
        # another workstation is left alone.
        pointing = list(s.scalars(update(Client).where(Client.duplicate_of_id == old_id).values(
            duplicate_of_id=new_id, version=Client.version + 1).returning(Client.id)))
        if pointing:
            note_changed(s, Client, pointing)
        return pointing

    def _inactive_reason(self, client: Client, new: ClientStatus, reason: InactiveReason | str | None,
                         note: str | None) -> tuple[InactiveReason | None, str | None]:
        """The reason and note an inactive client keeps (none for an active one).

        *Duplicate* is set only by Mark duplicate, which records the profile kept;
        an already linked duplicate may keep it while its note is edited.
        """
        if new is not ClientStatus.INACTIVE:
            return None, None
        reason_value = self._reason(reason)
        if reason_value is InactiveReason.DUPLICATE and (
                client.status is not ClientStatus.INACTIVE or client.inactive_reason is not InactiveReason.DUPLICATE):
            raise InvalidInput(
                "To mark a duplicate, choose the profile to keep (Mark duplicate), so the "
                "link between the two is recorded.", field="reason")
        return reason_value, validation.free_text(note, "inactive_note")

    @staticmethod
    def _status(value: ClientStatus | str) -> ClientStatus:
        try:
            return ClientStatus(value)
        except ValueError:
            raise InvalidInput(f"{value!r} is not a client status; use active or inactive.",
                               field="status") from None

    @staticmethod
    def _reason(value: InactiveReason | str | None) -> InactiveReason:
        if value is None or value == "":
            return InactiveReason.OTHER
        try:
            return InactiveReason(value)
        except ValueError:
            options = ", ".join(r.value for r in InactiveReason)
            raise InvalidInput(f"{value!r} is not an inactive reason; use one of {options}.",
                               field="reason") from None

    def _apply_status(self, s: Session, actor: Actor, client: Client, new: ClientStatus,
                      reason: InactiveReason | None, note: str | None, *, force: bool = False) -> None:
        old = client.status
        if old is new and not force:
            return
        client.status = new
        if new is ClientStatus.ACTIVE:
            client.inactive_reason = None
            client.inactive_note = None
            client.duplicate_of_id = None
        else:
            client.inactive_reason = reason
            client.inactive_note = note
        s.add(StatusChange(client_id=client.id, from_status=old, to_status=new, reason=reason,
                           note=note, actor_id=actor.user_id))
        audit(s, actor, "client.set_status", "client", client.id,
              details={"from": old.value, "to": new.value,
                       "reason": reason.value if reason else None})

    @writes("client.portal", Action.EDIT_CLIENT, target="client:client_id")
    def set_portal_access(self, s: Session, actor: Actor, client_id: int, *, portal: bool | None = None,
                          messaging: bool | None = None) -> dict[str, bool]:
        client = self._load_client(s, client_id)
        require(actor, Action.EDIT_CLIENT, clinician_id=client.clinician_id)
        return self._set_portal(s, actor, client_id, portal=portal, messaging=messaging)

    def _set_portal(self, s: Session, actor: Actor, client_id: int, *, portal: bool | None,
                    messaging: bool | None) -> dict[str, bool]:
        access = s.get(PortalAccess, client_id)
        if access is None:
            access = PortalAccess(client_id=client_id, portal_enabled=False, messaging_enabled=False)
            s.add(access)
        if portal is not None:
            access.portal_enabled = portal
        if messaging is not None:
            access.messaging_enabled = messaging
        audit(s, actor, "client.portal", "client", client_id,
              details={"portal_enabled": access.portal_enabled,
                       "messaging_enabled": access.messaging_enabled})
        return {"portal_enabled": access.portal_enabled,
                "messaging_enabled": access.messaging_enabled}

    # ----------------------------------------------------------------- deleting

    @reads("client.delete_preview", Action.DELETE_CLIENT, target="client:client_id")
    def deletion_impact(self, s: Session, actor: Actor, client_id: int) -> DeletionImpact:
        """Counts of what ``delete_client`` would remove, for the dialog to state."""
        client = self._load_client(s, client_id)
        require(actor, Action.DELETE_CLIENT, clinician_id=client.clinician_id)
        return DeletionImpact(client.id, client.full_name, self._count_owned(s, client.id))

    @staticmethod
    def _count_owned(s: Session, client_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for table in client_owned_tables():
            cond = or_(*(col == client_id for col in _client_columns(table)))
            counts[table.name] = s.execute(select(func.count()).select_from(table).where(cond)).scalar_one()
        return counts

    @writes("client.delete", Action.DELETE_CLIENT, target="client:client_id")
    def delete_client(self, s: Session, actor: Actor, client_id: int, typed_name: str, *,
                      understood: bool = True) -> DeletionImpact:
        """Remove the client and every row that belongs to them, all or nothing.

        ``typed_name`` must be the first and last name exactly as shown,
        case-sensitive and untrimmed. Afterwards the freed space is erased so the
        name is not left in the database file; the audit log keeps only who,
        when, the id and the counts.
        """
        # Not in the middle of a billing run's batch: it holds the client's appointments, then
        # the client (its owed-since stamps), the opposite order to this, and on PostgreSQL
        # the two would wait for each other until one was refused.
        self.db.take_write_lock(s, "billing")
        client = self._load_client(s, client_id, for_update=True)
        require(actor, Action.DELETE_CLIENT, clinician_id=client.clinician_id)
        if isinstance(typed_name, str) and validation.invisible(typed_name):
            raise ConfirmationMismatch(
                f"The name typed contains an invisible character ({validation.invisible(typed_name)}); "
                "type the name as shown. Nothing was deleted.")
        if not isinstance(typed_name, str) or \
                unicodedata.normalize("NFC", typed_name) != client.full_name:
            raise ConfirmationMismatch(
                "The name typed does not match the client's first and last name exactly "
                "(it is case-sensitive). Nothing was deleted.")
        if not understood:
            raise ConfirmationMismatch(
                "Confirm that you understand the deletion is permanent. Nothing was deleted.")
        counts = self._count_owned(s, client.id)
        impact = DeletionImpact(client.id, client.full_name, counts)
        for table in client_owned_tables():
            self._delete_owned(s, table, client.id)
        # Profiles marked as duplicates of this one lose the link, not their data.
        self._repoint_duplicates(s, client.id, None)
        s.execute(delete(Client).where(Client.id == client.id))
        s.expunge(client)
        audit(s, actor, "client.delete", "client", client_id, details={"removed": counts})
        # Once committed, the freed pages and the WAL are erased (Database.transaction); the
        # mark says so to every process until that is done, a crash in between included.
        self.db.mark_erasure_pending(s)
        s.info["erase_after_commit"] = True
        s.info.setdefault("after_erase", []).append(lambda erased: setattr(impact, "erased", erased))
        return impact

    @staticmethod
    def _delete_owned(s: Session, table: Table, client_id: int) -> None:
        s.execute(delete(table).where(or_(*(col == client_id for col in _client_columns(table)))))

    # ---------------------------------------------------------------- bulk help

    @reads("audit.read", Action.SEE_HISTORY, target="client:client_id")
    def audit_events(self, s: Session, actor: Actor, client_id: int | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        """The newest audit rows: one client's trail, or (without ``client_id``) the practice's log."""
        stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        if client_id is None:
            require(actor, Action.READ_AUDIT_LOG, any_client=True)
        else:
            check_id(client_id, "client")
            if actor.visibility(Action.SEE_HISTORY) != EVERYONE:
                # Whose client it was cannot be told once it is deleted: then only those who
                # see every client's history read its trail.
                client = self._load_client(s, client_id)
                require(actor, Action.SEE_HISTORY, clinician_id=client.clinician_id)
            stmt = stmt.where(AuditEvent.target_kind == "client", AuditEvent.target_id == client_id)
            if not actor.can(Action.READ_AUDIT_LOG, any_client=True):
                # Who looked at the record is for those who read the practice's log (docs/rules.md,
                # "Audit"): the trail shows everyone else what was done, not who looked.
                stmt = stmt.where(AuditEvent.action.not_in(VIEWS))
        return [
            {"id": e.id, "at": e.occurred_at.isoformat(timespec="seconds"),
             "actor": e.actor_username, "action": e.action, "target_kind": e.target_kind,
             "target_id": e.target_id, "outcome": e.outcome.value, "details": e.details}
            for e in s.scalars(stmt.limit(limit))
        ]
