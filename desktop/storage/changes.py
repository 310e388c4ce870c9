"""Change numbers: how an open list learns which clients and contacts changed.

Every transaction that writes a client or a contact takes the next number from
the one-row ``change_counter`` table and stamps it on the rows it wrote
(``change_seq``). Taking the number locks the counter row until the transaction
ends, so numbers are committed in the order they were taken: a reader that has
seen number N may ask for rows numbered above N and miss nothing. Unlike a
wall-clock stamp, no workstation's clock can hide a change.
"""

from __future__ import annotations

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from desktop.domain.models import ChangeCounter, Client, ClientContactLink, Contact


def next_change(session: Session) -> int:
    """Take the next change number for this transaction (one per flush is enough)."""
    taken = session.execute(update(ChangeCounter).where(ChangeCounter.id == 1)
                            .values(value=ChangeCounter.value + 1).returning(ChangeCounter.value))
    value = taken.scalar_one_or_none()
    if value is None:  # a database whose counter row went missing: start it again
        session.execute(insert(ChangeCounter).values(id=1, value=1))
        return 1
    return int(value)


def last_change(session: Session) -> int:
    """The newest committed change number (0 before any change)."""
    return int(session.execute(select(ChangeCounter.value).where(ChangeCounter.id == 1)).scalar() or 0)


def _stamp(session: Session, _context, _instances) -> None:  # type: ignore[no-untyped-def]
    records = [o for o in session.new if isinstance(o, (Client, Contact))]
    records += [o for o in session.dirty
                if isinstance(o, (Client, Contact)) and session.is_modified(o, include_collections=False)]
    # A contact linked to or unlinked from a client may enter or leave an own-clients
    # clinician's list: it counts as changed for the lists.
    linked = {o.contact_id for o in (*session.new, *session.deleted)
              if isinstance(o, ClientContactLink) and o.contact_id is not None}
    if not records and not linked:
        return
    number = next_change(session)
    for record in records:
        record.change_seq = number
    if linked:
        session.execute(update(Contact).where(Contact.id.in_(linked)).values(change_seq=number),
                        execution_options={"synchronize_session": False})


def stamp_changes(sessions: sessionmaker[Session]) -> None:
    """Have every flush of these sessions number the clients and contacts it writes."""
    event.listen(sessions, "before_flush", _stamp)
