"""A realistic, deterministic demo practice, fast enough for 100,000 clients.

The same seed gives the same practice. Rows are written with bulk inserts and
explicit ids in one transaction, which is what keeps 100,000 clients (with two
years of appointments, about two million, contacts and status history) well
under a minute and a half on SQLite: there the appointments go straight to the
driver and their indexes are built once, after loading (``benchmarks/billing_run.py``). Nothing is billed: the first automatic
billing run makes the documents, as it would for a practice that just started. A few duplicate clients and contacts are planted on
purpose; ``DemoReport.planted_*`` says which, so the duplicate finder can be
checked against them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text

from desktop.controllers.appointments import refresh_all_owed_since
from desktop.controllers.base import audit
from desktop.controllers.duplicates import NICKNAMES as DUPLICATE_NICKNAMES
from desktop.controllers.errors import InvalidInput, PermissionDenied
from desktop.controllers.permissions import Actor
from desktop.controllers.settings import SettingsController
from desktop.controllers.users import hash_password
from desktop.domain import clock
from desktop.domain.models import (
    Appointment,
    Attendance,
    Client,
    ClientContactLink,
    ClientStatus,
    Contact,
    InactiveReason,
    PortalAccess,
    PracticeSettings,
    PracticeUser,
    Role,
    Service,
    StatusChange,
    utcnow,
)
from desktop.domain.search import fold, make_search_key
from desktop.storage.changes import next_change
from desktop.storage.database import Database

FIRST_NAMES = (
    "Olivia Liam Emma Noah Amelia Oliver Ava Elijah Sophia James Isabella William Mia Benjamin "
    "Charlotte Lucas Harper Henry Evelyn Theodore Abigail Jack Emily Levi Elizabeth Alexander "
    "Sofia Jackson Avery Mateo Ella Daniel Scarlett Michael Grace Mason Chloe Sebastian Victoria "
    "Ethan Riley Logan Aria Owen Lily Samuel Aurora Jacob Zoey Asher Nora Aiden Hannah John Layla "
    "Joseph Zoe Wyatt Stella David Leah Leo Hazel Luke Violet Julian Aaliyah Hudson Lucy Grayson "
    "Anna Matthew Caroline Ezra Genesis Gabriel Madison Carter Eleanor Isaac Naomi Jayden Elena "
    "Luca Maya Anthony Kinsley Dylan Ruby Lincoln Sadie Thomas Ivy Maverick Alice Josiah Quinn "
    "Amir Jade Nathan Clara Adrian Willow Christian Eliana Miles Iris Eli Margaret Aaron Sara "
    "Zoë José María Chloé Renée Søren Björn Anaïs Łukasz Małgorzata Ngozi Oluwaseun Aiyana Kai "
    "Siobhán Niamh Seán Dmitri Yusuf Fatima Priya Arjun Mei Hiroshi Yuki Thanh Linh Jesús Inés "
    "Robert William Richard Elizabeth Katherine Margaret Jennifer Patricia Susan Christopher"
).split()

LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook "
    "Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward "
    "Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez "
    "Castillo Sanders Patel Myers Long Ross Foster Jimenez O'Brien O'Connor D'Angelo McAllister "
    "MacDonald Müller Schröder Nuñez Peña Çelik Øster Kowalski Nowak Okafor Adeyemi Yamamoto "
    "Tanaka Chen Wang Zhang Singh Kaur Haddad Khoury Novák Dvořák Van der Berg De la Cruz "
    "St. James Lefèvre Gauthier Rossi Bianchi Esposito Papadopoulos Ivanova Petrov Sørensen"
).split()

# A full name's everyday form, from the duplicate finder's map (one map for both).
NICKNAMES = {full.title(): nick.title() for nick, full in reversed(DUPLICATE_NICKNAMES.items())}

STREETS = ("Maple Ave", "Oak St", "Pine Rd", "Cedar Ln", "Elm St", "Birch Way", "Willow Dr",
           "Lakeview Blvd", "Hillcrest Rd", "River St")
CITIES = ("Springfield", "Riverton", "Fairview", "Greenville", "Madison", "Georgetown", "Salem")
DEMO_PRACTICE_NAME = "Lakeside Counselling (demo)"
DEMO_PRACTICE_ADDRESS = "100 Lakeside Avenue, Suite 2\nSpringfield, IL 62701"
SERVICES = (("90834", Decimal("140.00"), 45), ("90837", Decimal("180.00"), 60),
            ("90791", Decimal("200.00"), 60), ("90847", Decimal("160.00"), 50))
SERVICE_NAMES = {"90834": "Psychotherapy, 45 minutes", "90837": "Psychotherapy, 60 minutes",
                 "90791": "Psychiatric diagnostic evaluation", "90847": "Family psychotherapy with patient"}
# How many appointments a client has had in two years: about 20 on average.
APPOINTMENTS_PER_CLIENT = (0, 4, 8, 12, 16, 20, 24, 30, 40, 46)
# What became of a past appointment, with weights: mostly attended.
OUTCOMES = ((Attendance.ATTENDED, 88), (Attendance.NO_SHOW, 5), (Attendance.LATE_CANCEL, 3),
            (Attendance.CANCELLED, 4))
RELATIONSHIPS = ("Guardian", "Emergency contact", "Parent", "Spouse", "Referring provider")

DEMO_USERS = (
    ("owner", "Olivia Owens", Role.ACCOUNT_OWNER, True),
    ("manager", "Marcus Mendel", Role.PRACTICE_MANAGER, True),
    ("clinician-all", "Dr. Alma Reyes", Role.CLINICIAN, True),
    ("clinician", "Dr. Colin Park", Role.CLINICIAN, False),
    ("biller", "Bea Lindqvist", Role.BILLER, False),
    ("scheduler", "Sam Okoro", Role.SCHEDULER, False),
)
EXTRA_CLINICIANS = ("Dr. Hana Sato", "Dr. Luis Ortega", "Dr. Grace Mbeki", "Dr. Ivan Novak",
                    "Dr. Ruth Cohen", "Dr. Amir Haddad")


@dataclass
class DemoReport:
    clients: int = 0
    contacts: int = 0
    appointments: int = 0
    billing_documents: int = 0
    users_created: list[str] = field(default_factory=list)
    # (kept id, duplicate id, kind of variation)
    planted_client_duplicates: list[tuple[int, int, str]] = field(default_factory=list)
    planted_contact_duplicates: list[tuple[int, int, str]] = field(default_factory=list)


def _typo(rng: random.Random, name: str) -> str:
    if len(name) < 4:
        return name + name[-1]
    i = rng.randrange(1, len(name) - 2)
    return name[:i] + name[i + 1] + name[i] + name[i + 2:]


def _phone(rng: random.Random) -> str:
    return f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def _email(first: str, last: str, n: int) -> str:
    """A made-up address as people write theirs: accents transliterated (Björn → bjorn), not dropped."""
    plain = fold(f"{first}.{last}")  # case and accents folded, ß → ss, ø → o, as search does
    local = "".join(ch for ch in plain if ch.isascii() and (ch.isalnum() or ch == "."))
    return f"{local}{n}@example.org"


def build_demo_practice(db: Database, *, clients: int = 1000, seed: int = 1,
                        password: str = "demo", today: dt.date | None = None,
                        actor: Actor | None = None) -> DemoReport:
    """Fill an empty practice with demo data; refuses a database that has clients.

    Demo users share a published password, so on a practice that already has
    users only its Account Owner may add them (the first-run dialog does, right
    after creating that owner); anonymous callers get an empty database only.
    """
    if clients < 0 or clients > 5_000_000:
        raise InvalidInput("--clients must be between 0 and 5,000,000.", field="clients")
    if not password:
        raise InvalidInput("The demo password cannot be empty.", field="password")
    rng = random.Random(seed)
    today = today or dt.date.today()
    now = dt.datetime.combine(today, dt.time(9, 0))
    # Records are stamped in UTC like every other write, and never after the real now:
    # the demo's 09:00 today is hours ahead of UTC in some time zones.
    real_now = utcnow()

    def stamp(local: dt.datetime) -> dt.datetime:
        return min(local.astimezone(dt.UTC).replace(tzinfo=None), real_now)

    report = DemoReport()
    with db.transaction() as s:
        if s.execute(select(func.count()).select_from(Client)).scalar_one():
            raise InvalidInput("This database already has clients; the demo practice needs an empty one.")
        if db.is_postgresql and not s.execute(text(
                "SELECT has_sequence_privilege(pg_get_serial_sequence('clients', 'id'), 'UPDATE')")).scalar():
            # The demo writes its own ids and then moves the id sequences past them; a clinic's
            # application role may not move a sequence (it could hand a deleted client's id out again).
            raise PermissionDenied(
                "The demo practice can be loaded on a server only by its administrator's role, not by the "
                "role workstations use; nothing was changed.")
        pw_hash = hash_password(password)  # one hash for all: they share the demo password anyway
        existing = set(s.scalars(select(PracticeUser.username)))
        if existing and (actor is None or actor.role is not Role.ACCOUNT_OWNER):
            raise PermissionDenied(
                "This practice already has users; only its Account Owner may add the demo practice.")
        has_owner = s.scalars(select(PracticeUser.id).where(
            PracticeUser.role == Role.ACCOUNT_OWNER)).first() is not None
        specs = list(DEMO_USERS) + [
            (f"clinician-{i + 1}", name, Role.CLINICIAN, False) for i, name in enumerate(EXTRA_CLINICIANS)]
        for username, display, role, entire in specs:
            # Never a second owner with a published password beside a real one.
            if username in existing or (role is Role.ACCOUNT_OWNER and has_owner):
                continue
            s.add(PracticeUser(username=username, display_name=display, role=role,
                               entire_practice_access=entire, password_hash=pw_hash, active=True))
            report.users_created.append(username)
        s.flush()
        clinician_ids = list(s.scalars(select(PracticeUser.id).where(PracticeUser.role == Role.CLINICIAN)
                                       .order_by(PracticeUser.id)))
        base_client = (s.execute(select(func.max(Client.id))).scalar() or 0) + 1
        base_contact = (s.execute(select(func.max(Contact.id))).scalar() or 0) + 1
        conn = s.connection()
        change = next_change(s)

        client_rows: list[dict] = []
        status_rows: list[dict] = []
        portal_rows: list[dict] = []
        contact_rows: list[dict] = []
        link_rows: list[dict] = []
        inactive_since: dict[int, dt.datetime] = {}

        n_planted = min(max(clients // 500, 3 if clients >= 20 else 0), 400)
        n_originals = clients - n_planted
        variations = ("typo", "swapped", "nickname", "case")
        created_of: dict[int, dt.datetime] = {}
        for i in range(clients):
            cid = base_client + i
            if i < n_originals:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                dob = today - dt.timedelta(days=rng.randint(6 * 365, 88 * 365))
                email = _email(first, last, cid) if rng.random() < 0.85 else None
                phone = _phone(rng) if rng.random() < 0.9 else None
                preferred = NICKNAMES.get(first) if rng.random() < 0.3 else None
            else:
                kind = variations[(i - n_originals) % len(variations)]
                original = client_rows[rng.randrange(0, n_originals)]
                if kind == "nickname":
                    # A nickname needs a name that has one; look for such a client.
                    for _ in range(200):
                        if original["first_name"] in NICKNAMES:
                            break
                        original = client_rows[rng.randrange(0, n_originals)]
                    else:
                        kind = "typo"
                first, last = original["first_name"], original["last_name"]
                if kind == "typo":
                    last = _typo(rng, last)
                elif kind == "swapped":
                    first, last = last, first
                elif kind == "nickname":
                    first = NICKNAMES[first]
                else:
                    first, last = first.upper(), last.lower()
                dob = original["date_of_birth"]
                email = original["email"] if rng.random() < 0.5 else None
                phone = original["phone"]
                preferred = None
                report.planted_client_duplicates.append((original["id"], cid, kind))
            clinician = rng.choice(clinician_ids)
            created = now - dt.timedelta(days=rng.randint(30, 3 * 365), minutes=rng.randint(0, 600))
            created_of[cid] = created
            status = ClientStatus.ACTIVE
            reason = None
            if i < n_originals and rng.random() < 0.15:
                status = ClientStatus.INACTIVE
                reason = rng.choice((InactiveReason.DISCHARGED, InactiveReason.DISCHARGED,
                                     InactiveReason.MOVED, InactiveReason.OTHER))
                since = now - dt.timedelta(days=rng.randint(1, 300))
                inactive_since[cid] = since
                # Status changes are stamped in UTC, as the controllers stamp them.
                status_rows.append(dict(client_id=cid, from_status=ClientStatus.ACTIVE,
                                        to_status=ClientStatus.INACTIVE, reason=reason, note=None,
                                        actor_id=clinician,
                                        changed_at=since.astimezone(dt.UTC).replace(tzinfo=None)))
            elif created < now - dt.timedelta(days=240) and rng.random() < 0.05:
                # Away for a while and back: inactive for one to three months, then active again.
                left = now - dt.timedelta(days=rng.randint(90, 700))
                left = max(left, created + dt.timedelta(days=30))
                back = left + dt.timedelta(days=rng.randint(30, 90))
                if back < now - dt.timedelta(days=7):
                    for at, before, after, why in ((left, ClientStatus.ACTIVE, ClientStatus.INACTIVE,
                                                    InactiveReason.OTHER),
                                                   (back, ClientStatus.INACTIVE, ClientStatus.ACTIVE, None)):
                        status_rows.append(dict(client_id=cid, from_status=before, to_status=after, reason=why,
                                                note=None, actor_id=clinician,
                                                changed_at=at.astimezone(dt.UTC).replace(tzinfo=None)))
            client_rows.append(dict(
                id=cid, first_name=first, last_name=last, preferred_name=preferred,
                date_of_birth=dob, email=email, phone=phone,
                address=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
                clinician_id=clinician, status=status, inactive_reason=reason, inactive_note=None,
                duplicate_of_id=None,
                search_key=make_search_key(first, last, preferred, email, phone, dob),
                created_at=stamp(created), updated_at=stamp(created), version=1,
                change_seq=change))
            if rng.random() < 0.4:
                portal_rows.append(dict(client_id=cid, portal_enabled=True,
                                        messaging_enabled=rng.random() < 0.7))
            if rng.random() < 0.3:
                kid = base_contact + len(contact_rows)
                c_first, c_last = rng.choice(FIRST_NAMES), last
                c_phone = _phone(rng)
                contact_rows.append(dict(id=kid, first_name=c_first, last_name=c_last,
                                         email=_email(c_first, c_last, kid), phone=c_phone, notes=None,
                                         search_key=make_search_key(c_first, c_last, None,
                                                                    _email(c_first, c_last, kid), c_phone),
                                         created_at=stamp(created), updated_at=stamp(created), version=1,
                                         change_seq=change))
                link_rows.append(dict(client_id=cid, contact_id=kid,
                                      relationship=rng.choice(RELATIONSHIPS)))
        # A few contacts entered twice, differently.
        n_contact_dups = min(max(len(contact_rows) // 500, 2 if len(contact_rows) >= 4 else 0), 200)
        for j in range(n_contact_dups):
            original = contact_rows[rng.randrange(0, len(contact_rows))]
            kid = base_contact + len(contact_rows)
            kind = ("case", "phone format", "typo")[j % 3]
            first, last, phone = original["first_name"], original["last_name"], original["phone"]
            if kind == "case":
                first, last = first.upper(), last.upper()
            elif kind == "phone format":
                phone = "".join(ch for ch in phone if ch.isdigit())
            else:
                first = _typo(rng, first)
            contact_rows.append(dict(id=kid, first_name=first, last_name=last, email=original["email"],
                                     phone=phone, notes=None,
                                     search_key=make_search_key(first, last, None, original["email"], phone),
                                     created_at=real_now, updated_at=real_now, version=1,
                                     change_seq=change))
            report.planted_contact_duplicates.append((original["id"], kid, kind))

        for model, rows in ((Client, client_rows), (StatusChange, status_rows),
                            (PortalAccess, portal_rows), (Contact, contact_rows),
                            (ClientContactLink, link_rows)):
            for chunk in range(0, len(rows), 20_000):
                conn.execute(insert(model), rows[chunk:chunk + 20_000])
        details = s.get(PracticeSettings, 1)
        if details is None:
            details = PracticeSettings(id=1, version=1)
            s.add(details)
        if not (details.name or details.address or details.phone or details.tax_id or details.npi):
            # A fictional practice, so its documents look like the ones a practice sends
            # (the NPI is the standard's worked example; its check digit is right).
            details.name, details.address, details.phone = DEMO_PRACTICE_NAME, DEMO_PRACTICE_ADDRESS, "555 0100"
            details.tax_id, details.npi = "12-3456789", "1234567893"
            s.flush()
        if not s.scalars(select(Service.id)).first():
            conn.execute(insert(Service), [
                dict(code=code, description=SERVICE_NAMES[code], minutes=minutes, default_fee=fee, position=i)
                for i, (code, fee, minutes) in enumerate(SERVICES)])
        report.appointments = _book_appointments(
            conn, random.Random(seed * 7_919 + 1), client_rows, created_of, inactive_since, now,
            clock.zone(SettingsController._read(s).time_zone))
        refresh_all_owed_since(conn)  # what the first automatic run will bill
        audit(s, None, "practice.demo", "practice", None, details={"clients": clients, "seed": seed})
        if db.is_postgresql:
            for name in ("clients", "contacts", "appointments", "status_changes", "client_contact_links"):
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"))
        report.clients = len(client_rows)
        report.contacts = len(contact_rows)
    return report


class _BulkInsert:
    """Rows for one table written in batches, as fast as the back end allows.

    On SQLite the values are converted once by the columns' own types (``bind``;
    the same value, such as a start time many appointments share, is converted
    once) and the rows go straight to the driver's ``executemany``: SQLAlchemy's
    per-row parameter handling would otherwise cost more than the inserts. On
    PostgreSQL they go through SQLAlchemy as usual.
    """

    def __init__(self, conn: Any, table: Any, columns: tuple[str, ...], *, batch: int = 50_000) -> None:
        self.conn, self.table, self.columns, self.batch = conn, table, columns, batch
        self.raw = conn.dialect.name == "sqlite"
        dialect = conn.dialect
        self._bind = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns}
        names = ", ".join(f'"{c}"' for c in columns)
        self._sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(columns))})'
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0

    def bind(self, column: str, value: Any) -> Any:
        """``value`` as this back end stores it in ``column`` (unchanged where SQLAlchemy binds)."""
        process = self._bind[column] if self.raw else None
        return value if process is None or value is None else process(value)

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        if self.raw:
            self.conn.exec_driver_sql(self._sql, self.rows)
        else:
            self.conn.execute(insert(self.table), [dict(zip(self.columns, r, strict=True)) for r in self.rows])
        self.written += len(self.rows)
        self.rows = []


def _without_indexes(conn: Any, table: str) -> list[str]:
    """Drop ``table``'s secondary indexes and its triggers on SQLite and return how to make
    them again.

    Filling a table of millions of rows and then building each index once (a sort)
    is about five times faster than keeping five indexes up to date row by row; the
    triggers (a client's owed-since stamp brought forward, row by row) are done once for
    all afterwards (``refresh_all_owed_since``). They come back, as they were, in the
    same transaction (``CREATE INDEX``, ``CREATE TRIGGER``).
    """
    if conn.dialect.name != "sqlite":
        return []
    found = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ? "
        "AND sql IS NOT NULL", (table,)).all()
    for kind, name, _sql in found:
        conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
    return [sql for _kind, _name, sql in found]


def _book_appointments(conn: Any, rng: random.Random, clients: list[dict], created_of: dict[int, dt.datetime],
                       inactive_since: dict[int, dt.datetime], now: dt.datetime, tz: ZoneInfo) -> int:
    """Two years of appointments (and the next two weeks'), written in batches as they are made.

    Past ones mostly attended; a client inactive now had none after leaving but, now and
    then, one they attended anyway (the case the billing rule is about); clients who were
    away for a while had a few during that time too. Nothing is billed: the first
    automatic run does that. Times are chosen on the practice's clock and stored in UTC.

    About two million rows at 100,000 clients, so the loop draws with ``rng.random()``
    (one C call) rather than ``randint``/``choices``, and builds each row from parts
    made once: a start shared by many appointments, a service's and an outcome's values.
    """
    table = Appointment.__table__
    bulk = _BulkInsert(conn, table, ("client_id", "clinician_id", "start", "duration_minutes",
                                     "service_code", "fee", "attendance", "manual_billing_only",
                                     "superbill_owed", "statement_owed", "version"))
    indexes = _without_indexes(conn, table.name)  # type: ignore[attr-defined]
    cumulative = list(itertools.accumulate(w for _, w in OUTCOMES))
    total_weight = cumulative[-1]
    outcomes = [o for o, _ in OUTCOMES]
    # The columns after the start, per service and attendance, as the database stores them.
    tails = {(code, state): (minutes, bulk.bind("service_code", code), bulk.bind("fee", fee),
                             bulk.bind("attendance", state), bulk.bind("manual_billing_only", False),
                             bulk.bind("superbill_owed", state is Attendance.ATTENDED),
                             bulk.bind("statement_owed", state is Attendance.ATTENDED), 1)
             for code, fee, minutes in SERVICES for state in Attendance}
    codes = [code for code, _fee, _minutes in SERVICES]
    horizon = now + dt.timedelta(days=14)
    first_allowed = now - dt.timedelta(days=730)
    today = now.date()
    past_before = now.hour * 60 + now.minute  # on today, a slot before this has happened
    starts: dict[tuple[dt.date, int], Any] = {}
    random_ = rng.random
    sizes = APPOINTMENTS_PER_CLIENT
    add = bulk.add
    for client in clients:
        cid = client["id"]
        n = sizes[int(random_() * len(sizes))]
        start_day = max(created_of[cid], first_allowed).date()
        left = inactive_since.get(cid)
        last_day = (left if left else horizon).date()
        span = (last_day - start_day).days
        if span <= 0 or n == 0:
            continue
        offsets = sorted(int(random_() * span) for _ in range(n))
        if left and random_() < 0.2:
            offsets.append(span + 1 + int(random_() * 20))  # seen once more while inactive
        code = codes[cid % len(codes)]
        clinician = client["clinician_id"]
        for offset in offsets:
            day = start_day + dt.timedelta(days=offset)
            # On the hour or the half hour, from 08:00 to 18:30.
            slot = 8 * 60 + 30 * int(random_() * 22)
            if day > today or (day == today and slot >= past_before):
                if day > horizon.date():
                    continue
                state = Attendance.SCHEDULED
            else:
                state = outcomes[bisect.bisect_right(cumulative, random_() * total_weight)]
            key = (day, slot)
            start = starts.get(key)
            if start is None:
                wall = dt.datetime.combine(day, dt.time(slot // 60, slot % 60))
                try:
                    utc = clock.to_utc(wall, tz)
                except clock.NonexistentTime:  # a zone whose clocks skip this hour that day
                    utc = clock.to_utc(wall + dt.timedelta(hours=1), tz)
                start = starts[key] = bulk.bind("start", utc)
            add((cid, clinician, start, *tails[code, state]))
    bulk.flush()
    for sql in indexes:
        conn.exec_driver_sql(sql)
    return bulk.written

