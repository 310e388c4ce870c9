"""Small builders the tests share: users, clients, and counting rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import func, select

from desktop.controllers.appointments import refresh_owed_since
from desktop.controllers.demo import DEMO_USERS
from desktop.controllers.permissions import Actor
from desktop.controllers.users import actor_for, hash_password
from desktop.domain.models import Appointment, Attendance, PracticeSettings, PracticeUser, Service
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
                    attended: bool = True, clinician_id: int | None = None) -> int:
    """An appointment stored as it is (``start`` in UTC), attended or a no-show, owing what an
    attended one owes, without the controller's checks (for setting up a past)."""
    with db.transaction() as s:
        state = Attendance.ATTENDED if attended else Attendance.NO_SHOW
        appt = Appointment(client_id=client_id, start=start, fee=Decimal(fee), attendance=state,
                           duration_minutes=50, service_code="90834", clinician_id=clinician_id,
                           superbill_owed=attended, statement_owed=attended, manual_billing_only=False)
        s.add(appt)
        s.flush()
        refresh_owed_since(s.connection(), [client_id])  # as every writer of the owed flags does
        return appt.id


SERVICES = [{"code": "90834", "description": "Psychotherapy, 45 minutes", "minutes": 45, "default_fee": "140.00"},
            {"code": "90837", "description": "Psychotherapy, 60 minutes", "minutes": 60, "default_fee": "180.00"}]


def add_services(db: Database, *, time_zone: str = "") -> None:
    """The practice's services (and time zone), as Practice settings would save them."""
    with db.transaction() as s:
        s.query(Service).delete()
        s.add_all(Service(code=v["code"], description=v["description"], minutes=v["minutes"],
                          default_fee=Decimal(v["default_fee"]), position=i) for i, v in enumerate(SERVICES))
        settings = s.get(PracticeSettings, 1)
        if settings is None:
            s.add(PracticeSettings(id=1, name="Riverside Counselling", address="1 Main St\nSpringfield",
                                   phone="555 0100", tax_id="12-3456789", npi="1234567893",
                                   time_zone=time_zone))
        else:
            settings.time_zone = time_zone


def assert_deletion_said(db: Database, said: str) -> None:
    """What the status bar says after a deletion: never "permanently" on a practice server
    (its disk keeps the rows for a while), "deleted permanently" on a practice file."""
    if db.is_postgresql:
        assert "was deleted from the practice" in said and "encrypted storage" in said
        assert "permanently" not in said
    else:
        assert "deleted permanently" in said
