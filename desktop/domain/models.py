"""The practice's data: every entity as a typed SQLAlchemy mapping (rules in docs/rules.md).

Nothing here opens a database or knows a rule; the controllers decide what may
change and when. Every table that holds a client's data references
``clients.id`` directly, so deletion can find them all from the metadata.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import (
    false as sa_false,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.sql.expression import FunctionElement

from desktop.domain.search import email_key, make_search_key, phone_key

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class DatabaseNow(FunctionElement):
    """UTC now as the *database* sees it, for ``updated_at``.

    Other workstations find changed rows by ``updated_at``; stamped by each
    workstation's own clock, a clock a few minutes off would hide its changes.
    The server's clock is the one clock they share.
    """

    type = DateTime()
    inherit_cache = True


@compiles(DatabaseNow, "postgresql")
def _pg_now(_element, _compiler, **_kw) -> str:  # type: ignore[no-untyped-def]
    return "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"


@compiles(DatabaseNow, "sqlite")
def _sqlite_now(_element, _compiler, **_kw) -> str:  # type: ignore[no-untyped-def]
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    ACCOUNT_OWNER = "account_owner"
    PRACTICE_MANAGER = "practice_manager"
    CLINICIAN = "clinician"
    BILLER = "biller"
    SCHEDULER = "scheduler"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").title()


class ClientStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class InactiveReason(enum.StrEnum):
    DISCHARGED = "discharged"
    DUPLICATE = "duplicate"
    MOVED = "moved"
    OTHER = "other"


class Attendance(enum.StrEnum):
    """What became of an appointment; only ATTENDED ones are billed."""

    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    NO_SHOW = "no-show"
    LATE_CANCEL = "late-cancel"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {"no-show": "No-show", "late-cancel": "Late cancel"}.get(self.value, self.value.title())


class DocumentKind(enum.StrEnum):
    SUPERBILL = "superbill"
    STATEMENT = "statement"


class Outcome(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so PostgreSQL needs no enum types
    # and a new value is a data migration, not a type migration.
    return Enum(cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e], length=32)


class PracticeUser(Base):
    __tablename__ = "practice_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    entire_practice_access: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Set when someone else chose the password (a new user, a reset): the user changes it
    # before doing anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PracticeSettings(Base):
    """The practice's own details (one row), shown in About and on exported records."""

    __tablename__ = "practice_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    tax_id: Mapped[str] = mapped_column(String(20), default="")
    npi: Mapped[str] = mapped_column(String(10), default="")
    # An IANA name such as "America/New_York"; empty: the computer's own time zone.
    time_zone: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Minutes without keyboard or mouse input before the window warns and locks (1 to 60).
    idle_lock_minutes: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own mapping


class Service(Base):
    """A service the practice offers, for appointments and billing documents."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    description: Mapped[str] = mapped_column(String(200))
    minutes: Mapped[int] = mapped_column(Integer)
    default_fee: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    position: Mapped[int] = mapped_column(Integer, default=0)


class ListedRecord:
    """What every record in the Clients and contacts list carries besides its fields.

    * ``search_key``: case-folded "name preferred email phone-digits dob", kept by
      the controllers, so SQL and the in-memory list filter match the same way.
    * ``version``: bumped by every save; an edit made from an older version is refused.
    * ``change_seq``: the change number of the transaction that last wrote the row
      (``ChangeCounter``). Open lists take in rows numbered above the last they saw.
      A counter, not a clock: a row stamped in the future by a wrong clock would
      hide every later change from a clock-based watermark.
    """

    search_key: Mapped[str] = mapped_column(Text, default="")
    # What the intake duplicate check looks people up by (``domain.search.email_key`` and
    # ``phone_key``), kept with the search key, indexed.
    # Text: case-folding can lengthen an address ("ß" becomes "ss").
    email_key: Mapped[str | None] = mapped_column(Text, index=True)
    phone_key: Mapped[str | None] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=DatabaseNow(), onupdate=DatabaseNow(),
                                                    index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:  # noqa: N805 - SQLAlchemy's declared_attr takes the class
        return {"version_id_col": cls.version}


class ChangeCounter(Base):
    """One row: the number of the last transaction that changed a listed record.

    A writer takes the next number by updating this row, which holds the row's
    lock until it commits; so numbers become visible in order, and a reader that
    sees number N has already been able to see every change numbered N or less.
    """

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class PendingErasure(Base):
    """Present while a deletion's data may still sit in the SQLite file's pages or WAL.

    Written in the deletion's own transaction, so a process killed before it
    could erase leaves the mark for the next one; holds no data of anyone.
    """

    __tablename__ = "pending_erasure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Client(ListedRecord, Base):
    __tablename__ = "clients"
    # Ids are never reused after a deletion (SQLite would otherwise hand the
    # largest freed id to the next client): the audit log's record of a deleted
    # client must never come to point at someone else.
    # The automatic billing run starts from these: the active clients with something due are a
    # range of each index, and the inactive ones it skips are another (docs/rules.md, "Billing").
    __table_args__ = (
        Index("ix_clients_owes_superbill", "status", "owes_superbill_since",
              sqlite_where=text("owes_superbill_since IS NOT NULL"),
              postgresql_where=text("owes_superbill_since IS NOT NULL")),
        Index("ix_clients_owes_statement", "status", "owes_statement_since",
              sqlite_where=text("owes_statement_since IS NOT NULL"),
              postgresql_where=text("owes_statement_since IS NOT NULL")),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    preferred_name: Mapped[str | None] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date, index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(Text)
    clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("practice_users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[ClientStatus] = mapped_column(
        _enum(ClientStatus, "client_status"), default=ClientStatus.ACTIVE, index=True
    )
    inactive_reason: Mapped[InactiveReason | None] = mapped_column(_enum(InactiveReason, "inactive_reason"))
    inactive_note: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    # ICD-10 codes, comma-separated ("F41.1, F32.0"), printed on superbills.
    diagnosis_codes: Mapped[str | None] = mapped_column(String(200))
    # The start (UTC) of the client's earliest appointment still owed a superbill, and a
    # statement (``Appointment.superbill_owed``, ``statement_owed``); None when nothing is.
    # Kept by ``controllers.appointments.refresh_owed_since`` in every transaction that changes those
    # flags, each holding the billing lock; read by the billing run alone.
    owes_superbill_since: Mapped[dt.datetime | None] = mapped_column(DateTime, deferred=True)
    owes_statement_since: Mapped[dt.datetime | None] = mapped_column(DateTime, deferred=True)

    @property
    def full_name(self) -> str:
        """The name as shown everywhere and typed to confirm deletion."""
        return f"{self.first_name} {self.last_name}"

    def refresh_search_key(self) -> None:
        self.search_key = make_search_key(self.first_name, self.last_name, self.preferred_name,
                                          self.email, self.phone, self.date_of_birth)
        self.email_key, self.phone_key = email_key(self.email), phone_key(self.phone)


class Contact(ListedRecord, Base):
    __tablename__ = "contacts"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def refresh_search_key(self) -> None:
        self.search_key = make_search_key(self.first_name, self.last_name, None, self.email, self.phone)
        self.email_key, self.phone_key = email_key(self.email), phone_key(self.phone)


class ClientContactLink(Base):
    __tablename__ = "client_contact_links"
    __table_args__ = (UniqueConstraint("client_id", "contact_id", name="client_contact"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    relationship: Mapped[str] = mapped_column(String(64))


class Appointment(Base):
    """One booked session. ``start`` is UTC; the window shows it in the practice's time zone.

    ``superbill_owed`` and ``statement_owed`` are set while an attended appointment
    still waits for that document, so the automatic run finds what is due through
    a (partial) index instead of comparing every appointment with every billing item.
    """

    __tablename__ = "appointments"
    __table_args__ = (
        # A day of the Appointments page, read from this index alone, already in its order
        # (start, then id): every column the page shows of an appointment, and nothing else.
        Index("ix_appointments_day", "start", "id", "client_id", "clinician_id", "duration_minutes",
              "service_code", "fee", "attendance", "version", "manual_billing_only"),
        # Partial: only what is still owed is indexed, and billing an appointment removes it.
        # Client first: the run bills client by client, so a chunk's removals fall on a few
        # neighbouring pages instead of every page of an index ordered by time.
        Index("ix_appointments_superbill_owed", "client_id", "start", sqlite_where=text("superbill_owed = 1"),
              postgresql_where=text("superbill_owed = true")),
        Index("ix_appointments_statement_owed", "client_id", "start", sqlite_where=text("statement_owed = 1"),
              postgresql_where=text("statement_owed = true")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    clinician_id: Mapped[int | None] = mapped_column(ForeignKey("practice_users.id", ondelete="SET NULL"))
    start: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=50)
    service_code: Mapped[str] = mapped_column(String(16), default="90834")
    fee: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))
    attendance: Mapped[Attendance] = mapped_column(_enum(Attendance, "attendance"), default=Attendance.SCHEDULED)
    # Set by the billing run when the appointment took place while the client
    # was inactive: it is never billed automatically, only by hand.
    manual_billing_only: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    superbill_owed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    statement_owed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own mapping


class BillingDocument(Base):
    """A superbill or a statement.

    ``automatic_key`` names what an automatic document is for ("superbill:<appointment
    id>", "statement:<client id>:<YYYY-MM>") and is unique: two workstations running
    billing at the same moment cannot both make it. Documents made by hand have none.
    """

    __tablename__ = "billing_documents"
    # A month's documents are those whose period touches it: period_end from the month's first
    # day on (this month's and last month's, the ones looked at most, are at the end of this
    # index), with period_start checked in the index itself; and their clients, named first by
    # the Billing page for a large month's first screen, read from the index alone.
    __table_args__ = (Index("ix_billing_documents_period", "period_end", "period_start", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(_enum(DocumentKind, "document_kind"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    automatic_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class BillingItem(Base):
    """One appointment covered by one billing document; an appointment is on at most one
    document of each kind."""

    __tablename__ = "billing_items"
    __table_args__ = (UniqueConstraint("document_id", "appointment_id", name="document_appointment"),
                      UniqueConstraint("appointment_id", "kind", name="appointment_kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # client_id is redundant with the document's, on purpose: every client-owned
    # row names its client, so deletion and its test need no join knowledge.
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    # Looked up through the two unique constraints' indexes, which they lead.
    document_id: Mapped[int] = mapped_column(ForeignKey("billing_documents.id", ondelete="CASCADE"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    kind: Mapped[DocumentKind] = mapped_column(_enum(DocumentKind, "document_kind"))


class PortalAccess(Base):
    __tablename__ = "portal_access"

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    portal_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    messaging_enabled: Mapped[bool] = mapped_column(Boolean, default=False)


class StatusChange(Base):
    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[ClientStatus] = mapped_column(_enum(ClientStatus, "client_status"))
    to_status: Mapped[ClientStatus] = mapped_column(_enum(ClientStatus, "client_status"))
    reason: Mapped[InactiveReason | None] = mapped_column(_enum(InactiveReason, "inactive_reason"))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("practice_users.id", ondelete="SET NULL"))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DuplicateDismissal(Base):
    """A pair of client profiles someone said are *not* the same person."""

    __tablename__ = "duplicate_dismissals"
    __table_args__ = (
        UniqueConstraint("client_id", "other_client_id", name="pair"),
        CheckConstraint("client_id < other_client_id", name="ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    other_client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("practice_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ContactDismissal(Base):
    """A pair of contact profiles someone said are *not* the same person."""

    __tablename__ = "contact_dismissals"
    __table_args__ = (
        UniqueConstraint("contact_id", "other_contact_id", name="contact_pair"),
        CheckConstraint("contact_id < other_contact_id", name="ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    other_contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("practice_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ContactClientDismissal(Base):
    """A contact and a client someone said are *not* the same person."""

    __tablename__ = "contact_client_dismissals"
    __table_args__ = (UniqueConstraint("contact_id", "client_id", name="contact_client_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("practice_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SignInAttempts(Base):
    """Failed sign-ins of one username bucket since its last success (a PostgreSQL practice's
    throttling, shared by its workstations; docs/rules.md, "Signing in")."""

    __tablename__ = "sign_in_attempts"

    bucket: Mapped[str] = mapped_column(String(16), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failure: Mapped[float | None] = mapped_column(Float)
    # Times (epoch seconds, comma-separated) of failures not yet written to the audit log.
    unaudited: Mapped[str] = mapped_column(Text, default="", server_default="")


class AuditEvent(Base):
    """Who did what to which record, and whether they were allowed.

    Holds ids, action names, counts and field *names* only: never a client's
    name or any other value, so it stays PHI-free after a deletion.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        # Every filter of the Audit log window reads newest first along one of these.
        Index("ix_audit_target_seq", "target_kind", "target_id", "seq"),
        Index("ix_audit_actor_seq", "actor_id", "seq"),
        Index("ix_audit_action_seq", "action", "seq"),
        Index("ix_audit_outcome_seq", "outcome", "seq"),
        Index("ix_audit_events_seq", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("practice_users.id", ondelete="SET NULL"))
    actor_username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome, "outcome"))
    details: Mapped[dict | None] = mapped_column(JSON)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # The operation that wrote the row: after a connection lost during a commit, looking it
    # up tells whether the change was saved.
    operation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The hash chain (docs/rules.md, "Audit"): position in the log, counted from 1 with no
    # gaps; the hash of the entry before (32 zero bytes before the first); and this entry's
    # SHA-256 over that hash and its fields (``desktop.storage.audit_chain``).
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    row_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditChainHead(Base):
    """One row: the newest entry of the audit chain (its ``seq`` and ``row_hash``).

    A writer locks it (PostgreSQL ``FOR UPDATE``; SQLite's write lock) to append,
    inside its own transaction, so appends are serialized and never fork, and a
    rolled-back operation leaves no gap.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
