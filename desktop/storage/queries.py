"""Read-only queries that feed the in-memory roster of the Clients and contacts list.

They return plain tuples, column by column, as cheaply as the driver allows:
100,000 clients load in a few hundred milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Select, String, case, cast, false, func, select
from sqlalchemy.orm import Session

from desktop.domain.models import Client, ClientContactLink, Contact, PracticeUser


@dataclass(frozen=True)
class Visibility:
    """Which clients a query may return: every one, one clinician's, or none.

    The one rule behind every list, search, scan and audit read: an
    own-clients clinician sees the clients assigned to them and the contacts
    linked to those clients (docs/rules.md, "Who may do what").
    """

    clinician_id: int | None = None
    nobody: bool = False


EVERYONE = Visibility()
S = TypeVar("S", bound=Select)  # type: ignore[type-arg]


def visible_clients(stmt: S, who: Visibility, *, lead: bool = True) -> S:
    """``stmt`` narrowed to the clients ``who`` sees.

    ``lead=False`` when another condition picks far fewer rows (a day's appointments): the
    clinician's clients are then checked, not used to start from. Offered the index on
    ``clients.clinician_id``, SQLite's planner starts there and reads every appointment
    those clients ever had (a day took 72 ms instead of 6)."""
    if who.nobody:
        return stmt.where(false())
    if who.clinician_id is not None:
        column = Client.clinician_id if lead else Client.clinician_id + 0  # "+ 0": no index fits it
        return stmt.where(column == who.clinician_id)
    return stmt


def visible_client_ids(who: Visibility) -> Select[int]:
    return visible_clients(select(Client.id), who)


def visible_contacts(stmt: S, who: Visibility) -> S:
    if who.nobody:
        return stmt.where(false())
    if who.clinician_id is None:
        return stmt
    linked = (select(ClientContactLink.contact_id)
              .join(Client, Client.id == ClientContactLink.client_id)
              .where(Client.clinician_id == who.clinician_id))
    return stmt.where(Contact.id.in_(linked))


# Client rows: id, first, last, preferred, dob (ISO text), email, phone, status, clinician id,
# search key, version. Contact rows: id, first, last, email, phone, key, version. Missing text
# values come as "".


def clinician_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(PracticeUser.id, PracticeUser.display_name)).all())


def client_tuples(session: Session, who: Visibility, *, changed_after: int | None = None,
                  ids: Sequence[int] | None = None) -> CursorResult[Any]:
    # Text casts, so the driver hands over ready strings and no per-row type
    # conversion runs for 100,000 rows ("" for a missing value).
    stmt = select(Client.id, Client.first_name, Client.last_name,
                  func.coalesce(Client.preferred_name, ""),
                  func.coalesce(cast(Client.date_of_birth, String), ""),
                  func.coalesce(Client.email, ""), func.coalesce(Client.phone, ""),
                  cast(Client.status, String), Client.clinician_id,
                  Client.search_key, Client.version)
    stmt = visible_clients(stmt, who)
    if changed_after is not None:
        stmt = stmt.where(Client.change_seq > changed_after)
    if ids is not None:
        stmt = stmt.where(Client.id.in_(ids))
    # In id order: the roster finds a slot by bisecting the ids.
    return session.connection().execute(stmt.order_by(Client.id))


def client_count(session: Session, who: Visibility) -> int:
    return int(session.execute(visible_clients(select(func.count()).select_from(Client), who)).scalar_one())


def contact_count(session: Session, who: Visibility) -> int:
    return int(session.execute(visible_contacts(select(func.count()).select_from(Contact), who)).scalar_one())


def client_ids(session: Session, who: Visibility) -> set[int]:
    return set(session.connection().execute(visible_client_ids(who)).scalars())


def contact_tuples(session: Session, who: Visibility, *, changed_after: int | None = None,
                   ids: Sequence[int] | None = None) -> CursorResult[Any]:
    stmt = select(Contact.id, Contact.first_name, Contact.last_name,
                  func.coalesce(Contact.email, ""), func.coalesce(Contact.phone, ""),
                  Contact.search_key, Contact.version)
    stmt = visible_contacts(stmt, who)
    if changed_after is not None:
        stmt = stmt.where(Contact.change_seq > changed_after)
    if ids is not None:
        stmt = stmt.where(Contact.id.in_(ids))
    return session.connection().execute(stmt.order_by(Contact.id))


def contact_ids(session: Session, who: Visibility) -> set[int]:
    return set(session.connection().execute(visible_contacts(select(Contact.id), who)).scalars())


# Between the values of one column joined into one string (``joined_columns``): no name,
# email, phone or key holds it (the caller checks the counts and reads row by row if one does).
SEPARATOR = "\x1f"


def _joined(session: Session, stmt: Select) -> list[str] | None:  # type: ignore[type-arg]
    """Each column of ``stmt`` (ordered by id) as one string, its values joined by SEPARATOR:
    the database does in C, in one pass over the table, what would otherwise be a Python
    tuple per row (a million rows: about a second instead of several). None if no rows."""
    inner = stmt.subquery()
    joined = select(*[func.aggregate_strings(cast(column, String), SEPARATOR) for column in inner.c])
    row = session.connection().execute(joined).one()
    return None if row[0] is None else list(row)


_STATUS_CODE = case((Client.status == "inactive", "1"), else_="0")


def joined_client_names(session: Session, who: Visibility) -> list[str] | None:
    """Ids, names, versions and statuses ("0" active, "1" inactive) of the clients, joined
    (``_joined``): read first and apart from the rest, so the name order and the first screen
    can be made while the rest is read (the versions tell a row changed in between)."""
    stmt = select(Client.id, Client.first_name, Client.last_name, Client.version, _STATUS_CODE)
    return _joined(session, visible_clients(stmt, who).order_by(Client.id))


def joined_client_search_keys(session: Session, who: Visibility) -> list[str] | None:
    """Ids and search keys of the clients, joined (``_joined``): the search index is made from
    them while the other columns are read."""
    return _joined(session, visible_clients(select(Client.id, Client.search_key), who).order_by(Client.id))


def joined_client_columns(session: Session, who: Visibility) -> list[str] | None:
    """The other columns of ``client_tuples`` joined (``_joined``), in its order without the
    names, the status and the key, a missing clinician as 0."""
    stmt = select(Client.id, func.coalesce(Client.preferred_name, ""),
                  func.coalesce(cast(Client.date_of_birth, String), ""),
                  func.coalesce(Client.email, ""), func.coalesce(Client.phone, ""),
                  func.coalesce(Client.clinician_id, 0), Client.version)
    return _joined(session, visible_clients(stmt, who).order_by(Client.id))


def joined_contact_columns(session: Session, who: Visibility) -> list[str] | None:
    """The columns of ``contact_tuples`` joined (``_joined``)."""
    stmt = select(Contact.id, Contact.first_name, Contact.last_name,
                  func.coalesce(Contact.email, ""), func.coalesce(Contact.phone, ""),
                  Contact.search_key, Contact.version)
    return _joined(session, visible_contacts(stmt, who).order_by(Contact.id))
