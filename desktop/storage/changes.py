"""Change numbers: how an open list learns which clients and contacts changed.

Every transaction that writes a client or a contact takes the next number from
the one-row ``change_counter`` table, just before it commits, and stamps it on
the rows it wrote (``change_seq``). Taking the number locks the counter row
until the commit, so numbers are committed in the order they were taken: a
reader that has seen number N may ask for rows numbered above N and miss
nothing. Unlike a wall-clock stamp, no workstation's clock can hide a change.

The number is taken last, when the transaction already holds every row lock it
needs, and afterwards touches only rows it has locked: two writers can never
wait for each other in a circle over the counter.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from desktop.domain.models import ChangeCounter, Client, ClientContactLink, Contact

_KEY = "changed_records"


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


def note_changed(session: Session, model: type[Client] | type[Contact], ids: Iterable[int]) -> None:
    """Record rows changed by a bulk statement, so they are numbered with the transaction's change."""
    session.info.setdefault(_KEY, {Client: set(), Contact: set()})[model].update(ids)


def _collect(session: Session, _context) -> None:  # type: ignore[no-untyped-def]
    """After each flush: remember which clients and contacts it wrote (ids are known by now)."""
    for record in (*session.new, *session.dirty):
        if isinstance(record, (Client, Contact)) and record.id is not None:
            note_changed(session, type(record), (record.id,))
    # A contact linked to or unlinked from a client may enter or leave an own-clients
    # clinician's list: it counts as changed for the lists.
    linked = {o.contact_id for o in (*session.new, *session.deleted)
              if isinstance(o, ClientContactLink) and o.contact_id is not None}
    if linked:
        note_changed(session, Contact, linked)


def number_changes(session: Session) -> None:
    """Just before the commit: take the next change number and stamp it on what was written."""
    changed = session.info.pop(_KEY, None)
    if not changed or not any(changed.values()):
        return
    number = next_change(session)
    for model, ids in changed.items():
        for chunk in _chunks(sorted(ids)):
            session.execute(update(model).where(model.id.in_(chunk)).values(change_seq=number),
                            execution_options={"synchronize_session": False})


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def stamp_changes(sessions: sessionmaker[Session]) -> None:
    """Have these sessions remember what each flush wrote, for ``number_changes``."""
    event.listen(sessions, "after_flush", _collect)
