"""Small builders the tests share: users, clients, and counting rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import func, select

from desktop.controllers.demo import DEMO_USERS
from desktop.controllers.permissions import Actor
from desktop.controllers.users import actor_for, hash_password
from desktop.domain.models import Appointment, PracticeUser
from desktop.storage.database import Database

PASSWORD = "correct horse"
USERS = DEMO_USERS  # the six roles, as the demo practice has them


@lru_cache(maxsize=1)
def _hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose; hash once per run


def seed_users(db: Database) -> dict[str, Actor]:
    with db.transaction() as s:
        users = [PracticeUser(username=u, display_name=d, role=r, entire_practice_access=e,
                              password_hash=_hash(), active=True) for u, d, r, e in USERS]
        s.add_all(users)
        s.flush()
        return {u.username: actor_for(u) for u in users}


def count(db: Database, model, **where) -> int:  # type: ignore[no-untyped-def]
    with db.reading() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.execute(stmt).scalar_one()


def add_appointment(db: Database, client_id: int, start: dt.datetime, *, fee: str = "150.00",
                    attended: bool = True) -> int:
    with db.transaction() as s:
        appt = Appointment(client_id=client_id, start=start, fee=Decimal(fee), attended=attended,
                           duration_minutes=50, service_code="90834")
        s.add(appt)
        s.flush()
        return appt.id
