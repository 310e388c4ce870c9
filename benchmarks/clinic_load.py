"""A clinic's day, compressed: 8 workstations on one database for a minute.

    python benchmarks/clinic_load.py [--seconds 60] [--workstations 8] [--clients 2000]
                                     [--database both|postgresql|sqlite] [--rate 0] [--grace 3]
                                     [--url URL [--seed-url ADMIN_URL]]

Each workstation is a process of its own (``spawn``) that does what the window does, through
the same pieces: it opens the practice (``open_practice``), signs in as its own user (a
Practice Manager or an entire-practice Clinician), loads the Clients list (``Practice.roster``)
and polls a ``ChangeWatcher`` every 500 ms as ``MainWindow`` does (``WATCH_INTERVAL_MS``); when
the watcher says changed, the list refreshes (``Roster.refresh``) and is filtered again (what
``RosterModel.apply`` asks of it). All start together at a barrier and then, as fast as they
can (or at ``--rate`` operations per second in total), do this mix:

* search (30 %): the list filtered in memory by a typed query (now and then another status);
* status change (22 %): the Status drop-down's path — portal access read when making a
  client inactive, ``set_status`` with the version the list holds, the list updated;
* profile edit (22 %): the edit dialog's path — ``get_client`` (the version read), the
  duplicate check, ``save_profile`` of the whole form with a new email (a unique marker) and
  phone, the list refreshed;
* appointment booking (16 %): the booking dialog's ``warnings``, then ``book``;
* new client (5 %) and deletion (5 %): a client made for the purpose (duplicate check,
  ``add_client``), deleted at least 5 s later by the delete dialog's path (``deletion_impact``,
  ``get_client``, ``delete_client`` with the name typed), the list refreshed each time.

Status changes, edits and bookings go to one of 16 clients every workstation shares 30 % of
the time (so versions collide and StaleVersion refusals happen; a refusal is followed by the
dialog's Reload, a list refresh) and otherwise to the workstation's own 60 clients.

Measured:

* operations per second in total, and p50 / p95 latency of each kind;
* propagation: every client write is logged with its new version and ``time.time()`` when its
  transaction committed (SQLAlchemy's ``after_commit``); every other workstation logs, after
  each refresh of its list, which clients' versions it now shows (or that they are gone) and
  when. Propagation is, for each write and each other workstation, the first time that
  workstation's list showed that version or a later one, minus the commit time (one machine,
  one clock). Writes never seen by the end of a 3 s grace (polling only; ``--grace``) count
  as not propagated, and a list showing that very version with other values is counted too;
* errors: every exception other than an expected ``StaleVersion`` refusal;
* lost updates, against the ledger of acknowledged writes: for every client written, each
  field's value in the database at the end must be the one written by the acknowledged write
  with the highest version that wrote it; no two acknowledged writes may share a version;
  the database's version must not be below the highest acknowledged; every acknowledged
  booking must exist, every acknowledged deletion must have happened;
* StaleVersion refusals (a count: some are expected);
* to read the numbers by: where the cores went (the workstation processes, this database's
  PostgreSQL backends, everything else on the machine), CPU per operation and per gesture,
  and which locks running statements wait for (``pg_stat_activity``, every 100 ms).

Targets (issue 16): propagation p95 ≤ 1 s, 0 errors, 0 lost updates, ≥ 100 operations/s in
total with 8 workstations. By default the same load runs against a throw-away PostgreSQL
database (``caseload_clinic_load_<random>``, dropped afterwards; admin URL from
``CASELOAD_TEST_PG``) and against a plain SQLite file shared by the processes; ``--url``
runs it against a practice database that already exists instead (an empty one, as
``caseload server init`` leaves it, is filled with the demo practice first, through
``--seed-url`` if given; one filled by an earlier run is used as it is, through its demo
Account Owner). The run's clients, bookings and users are left there.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.common import Report, code_version, load_note, ms, percentile  # noqa: E402
from desktop.controllers import validation  # noqa: E402
from desktop.controllers.clients import StatusFilter  # noqa: E402
from desktop.controllers.errors import StaleVersion  # noqa: E402
from desktop.controllers.practice import open_practice  # noqa: E402
from desktop.controllers.roster import Column, Kind  # noqa: E402
from desktop.domain.models import Appointment, Client, ClientStatus, PracticeUser, Role, Service  # noqa: E402
from desktop.domain.search import fold  # noqa: E402

PG_ADMIN = os.environ.get("CASELOAD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres?sslmode=disable")
DEMO_OWNER, DEMO_PASSWORD = "owner", "demo"  # build_demo_practice's Account Owner
WATCH_INTERVAL_S = 0.5  # desktop/ui/main_window.py WATCH_INTERVAL_MS
GRACE_S = 3.0  # polling only, after the load, so the last writes can still be seen
DELETE_AFTER_S = 5.0  # a client made for deletion is deleted no sooner than this
SHARED_CLIENTS = 16
OWN_CLIENTS = 60
SHARED_SHARE = 0.3
MIX = {"search": 30, "status": 22, "edit": 22, "book": 16, "add": 5, "delete": 5}
WRITES = ("status", "edit", "book", "add", "delete")
LABELS = {
    "status": "status change (portal read, set_status, list)",
    "edit": "profile edit (open, dup. check, save, refresh)",
    "book": "appointment booking (warnings, book)",
    "search": "search (roster filter)",
    "add": "new client (dup. check, add, refresh)",
    "delete": "deletion (impact, open, delete, refresh)",
    "refresh": "list refresh after the watcher said changed",
}
# Roster states (desktop.controllers.roster.State), as numbers in the logs.
ACTIVE, INACTIVE, GONE = 0, 1, 3
EDITED = ("first_name", "last_name", "preferred_name", "date_of_birth", "email", "phone", "address",
          "clinician_id", "diagnosis_codes")


def text(value: Any) -> str | None:
    """A stored value as the ledger and the final read compare it."""
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(getattr(value, "value", value))


# ---------------------------------------------------------------- one workstation


class Desk:
    """One workstation: its practice handle, signed-in user, list and watcher, and its logs."""

    def __init__(self, cfg: dict[str, Any], index: int) -> None:
        self.index = index
        self.rng = random.Random(1000 + index)
        self.practice = open_practice(cfg["url"])
        # When this process's last transaction committed (time.time(), the clock every process
        # shares): a write's commit time, before anything the controller does afterwards (such as
        # erasing a deletion from a SQLite file).
        self.committed_at = 0.0
        event.listen(self.practice.db.sessions, "after_commit", self._committed)
        self.actor = self.practice.access.sign_in(cfg["users"][index], cfg["password"]).actor
        self.clients = self.practice.clients
        self.roster = self.practice.roster(self.actor)
        self.watcher = self.practice.watcher()
        self.watcher.changed()  # connect first, so no change after the read is missed (MainWindow.load)
        self.roster.load()
        self.status_filter = StatusFilter.ACTIVE  # every session starts on Active
        self.query = ""
        self.show()
        self.shared: list[int] = cfg["shared"]
        self.own: list[int] = cfg["own"][index]
        self.names: list[tuple[str, str]] = cfg["names"]
        self.service: str = cfg["service"]
        self.minutes: int = cfg["minutes"]  # the booking dialog fills minutes from the service
        self.made: list[tuple[float, int, str]] = []  # clients made for deletion: (when, id, name)
        self.counter = 0
        # The logs handed back to the parent.
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.cpu: Counter[str] = Counter()  # CPU seconds of this process's thread per kind of gesture
        self.stale: Counter[str] = Counter()
        self.errors: list[dict[str, str]] = []
        self.ledger: list[dict[str, Any]] = []  # acknowledged client writes
        self.booked: list[list[Any]] = []  # acknowledged bookings: appointment id, client id
        self.seen: list[list[Any]] = []  # what the list showed after a refresh: client, version, state, email, time
        self.polls = 0
        self.changed_polls = 0
        self.empty_refreshes = 0  # the watcher said changed, but no client or contact had
        self.not_erased = 0

    def _committed(self, _session: Any) -> None:
        self.committed_at = time.time()

    # ------------------------------------------------------------ the list

    def show(self) -> None:
        """What the list's model asks of the roster after any change (``RosterModel.apply``)."""
        self.roster.filter(self.status_filter, self.query, Column.NAME)

    def refresh_list(self) -> bool:
        """``ClientsPage.refresh_from_database``: others' changes in, the list filtered again; and
        note, with the time, each client whose row the list now shows differently. True if any
        row changed."""
        roster = self.roster
        versions, states, before = roster.versions[:], bytes(roster.state), len(roster.ids)
        changed = roster.refresh()
        if changed:
            self.show()
        now = time.time()
        new_versions, new_states = roster.versions, roster.state
        for slot in range(len(roster.ids)):
            if slot < before and versions[slot] == new_versions[slot] and states[slot] == new_states[slot]:
                continue
            if roster.kind[slot] == Kind.CLIENT:
                self.seen.append([roster.ids[slot], new_versions[slot], new_states[slot], roster.email[slot], now])
        return changed

    def poll(self) -> None:
        """One tick of the window's watch timer (``MainWindow._poll_changes``)."""
        self.polls += 1
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            if self.watcher.changed():
                self.changed_polls += 1
                self.empty_refreshes += not self.refresh_list()
                self.latency["refresh"].append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
            self.error("refresh", exc)
        self.cpu["refresh"] += time.thread_time() - cpu

    # ------------------------------------------------------------ bookkeeping

    def error(self, kind: str, exc: BaseException) -> None:
        self.errors.append({"kind": kind, "type": type(exc).__name__, "message": str(exc)[:300]})

    def acknowledge(self, kind: str, client_id: int, version: int | None, fields: dict[str, Any]) -> None:
        self.ledger.append({"k": kind, "c": client_id, "v": version,
                            "f": {key: text(value) for key, value in fields.items()}, "t": self.committed_at})

    def target(self) -> int:
        pool = self.shared if self.rng.random() < SHARED_SHARE else self.own
        return self.rng.choice(pool)

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    # ------------------------------------------------------------ the operations

    def run_one(self, kind: str) -> None:
        if kind == "delete" and not (self.made and time.time() - self.made[0][0] >= DELETE_AFTER_S):
            kind = "add"  # nothing old enough to delete yet: make one instead
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            getattr(self, f"do_{kind}")()
        except StaleVersion:
            self.latency[kind].append(time.perf_counter() - started)
            self.stale[kind] += 1
            try:
                self.refresh_list()  # the refusal's Reload: the list shows what the other person saved
            except Exception as exc:  # noqa: BLE001
                self.error("refresh", exc)
        except Exception as exc:  # noqa: BLE001
            self.error(kind, exc)
        else:
            self.latency[kind].append(time.perf_counter() - started)
        self.cpu[kind] += time.thread_time() - cpu

    def do_search(self) -> None:
        roll = self.rng.random()
        if roll < 0.1:
            self.status_filter = self.rng.choice(list(StatusFilter))  # chosen, then Apply
        elif roll < 0.35:
            self.query = ""  # the search box cleared
        else:
            first, last = self.rng.choice(self.names)
            words = [fold(last)[: self.rng.randint(2, 5)]]
            if self.rng.random() < 0.3:
                words.insert(0, fold(first)[: self.rng.randint(1, 3)])
            self.query = " ".join(words)
        self.show()

    def do_status(self) -> None:
        client_id = self.target()
        slot = self.roster.slot_of(Kind.CLIENT, client_id)
        assert slot is not None, f"client {client_id} is not in the list"
        old = self.roster.status(slot)
        new = ClientStatus.ACTIVE if old is ClientStatus.INACTIVE else ClientStatus.INACTIVE
        known = self.roster.versions[slot]
        switch_off = False
        if new is ClientStatus.INACTIVE:  # ClientsPage.change_status_asking: the portal question
            portal = self.clients.portal_access(self.actor, client_id)
            switch_off = portal["portal_enabled"] or portal["messaging_enabled"]
        version = self.clients.set_status(self.actor, client_id, new, expected_version=known,
                                          disable_portal=switch_off)
        self.acknowledge("status", client_id, version, {"status": new})
        self.roster.set_client_status(client_id, new, version)
        self.show()

    def do_edit(self) -> None:
        client_id = self.target()
        detail = self.clients.get_client(self.actor, client_id)  # the edit dialog opens
        row = detail.row
        n = self.next_number()
        form: dict[str, Any] = {
            "first_name": row.first_name, "last_name": row.last_name, "preferred_name": row.preferred_name,
            "date_of_birth": row.date_of_birth, "address": detail.address, "clinician_id": row.clinician_id,
            "diagnosis_codes": detail.diagnosis_codes,
            "email": f"w{self.index}m{n}@load.example",  # the marker the other lists must show
            "phone": f"+1 555 {self.index}{n:07d}",
        }
        likely = self.practice.duplicates.likely_client_duplicates_of(self.actor, form, exclude_id=client_id)
        version = self.clients.save_profile(
            self.actor, client_id, row.version, form, status=row.status, reason=detail.inactive_reason,
            note=detail.inactive_note, seen_duplicates=[c.id for c in likely])
        stored = {key: value if key == "clinician_id" else validation.field(key, value)
                  for key, value in form.items()}
        self.acknowledge("edit", client_id, version, {**stored, "status": row.status})
        self.refresh_list()  # the profile's changed signal refreshes the list

    def do_book(self) -> None:
        client_id = self.target()
        day = dt.date.today() + dt.timedelta(days=self.rng.randint(1, 90))
        start = f"{day.isoformat()} {self.rng.randint(8, 17):02d}:{self.rng.choice((0, 15, 30, 45)):02d}"
        # The dialog asks for the warnings first; any there are answered "book anyway".
        self.practice.appointments.warnings(self.actor, client_id, start, self.minutes)
        appointment = self.practice.appointments.book(self.actor, client_id, start, self.minutes, self.service)
        self.booked.append([appointment, client_id])

    def do_add(self) -> None:
        n = self.next_number()
        first, _last = self.rng.choice(self.names)
        values: dict[str, Any] = {
            "first_name": first, "last_name": f"Loadtest {self.index}-{n}",
            "date_of_birth": f"19{self.rng.randint(40, 99)}-0{self.rng.randint(1, 9)}-1{self.rng.randint(0, 9)}",
            "email": f"w{self.index}n{n}@load.example", "phone": f"+1 556 {self.index}{n:07d}",
        }
        likely = self.practice.duplicates.likely_client_duplicates_of(self.actor, values)
        client_id = self.clients.add_client(self.actor, seen_duplicates=[c.id for c in likely], **values)
        stored = {key: validation.field(key, value) for key, value in values.items()}
        self.acknowledge("add", client_id, 1, {**stored, "status": "active"})
        self.made.append((time.time(), client_id, f"{stored['first_name']} {stored['last_name']}"))
        self.refresh_list()

    def do_delete(self) -> None:
        _made_at, client_id, _name = self.made[0]
        impact = self.clients.deletion_impact(self.actor, client_id)  # DeleteClientDialog opens
        self.clients.get_client(self.actor, client_id)
        done = self.clients.delete_client(self.actor, client_id, impact.full_name, understood=True)
        self.made.pop(0)
        self.not_erased += not done.erased
        self.acknowledge("delete", client_id, None, {})
        self.refresh_list()  # MainWindow._show_deleted

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.watcher.close()
        with contextlib.suppress(Exception):
            self.practice.close()


def workstation(cfg: dict[str, Any], index: int, barrier: Any, out: str) -> None:
    """A workstation's process: set up, wait at the barrier, work, poll through the grace, report."""
    result: dict[str, Any] = {"index": index}
    desk = None
    try:
        desk = Desk(cfg, index)
        barrier.wait(timeout=600)
        result.update(run_desk(desk, cfg))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, whatever it is
        with contextlib.suppress(Exception):
            barrier.abort()
        result["fatal"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    finally:
        if desk is not None:
            desk.close()
    Path(out).write_text(json.dumps(result), encoding="utf-8")


def run_desk(desk: Desk, cfg: dict[str, Any]) -> dict[str, Any]:
    seconds, rate = cfg["seconds"], cfg["rate"]
    kinds, weights = zip(*MIX.items())
    begun = time.time()
    deadline = begun + seconds
    next_poll = begun + WATCH_INTERVAL_S
    gap = 1 / rate if rate > 0 else 0.0
    next_op = begun + desk.rng.random() * gap  # paced workstations start spread over one gap
    done = 0
    while True:
        now = time.time()
        if now >= deadline:
            break
        if now >= next_poll:  # the watch timer fires between two gestures, never inside one
            desk.poll()
            next_poll += WATCH_INTERVAL_S
            if next_poll <= time.time():
                next_poll = time.time() + WATCH_INTERVAL_S
            continue
        if gap and now < next_op:
            time.sleep(max(0.0, min(next_op, next_poll, deadline) - now))
            continue
        desk.run_one(desk.rng.choices(kinds, weights)[0])
        done += 1
        next_op += gap
    while time.time() < deadline + cfg["grace"]:  # no more gestures: the lists catch up
        time.sleep(max(0.0, next_poll - time.time()))
        desk.poll()
        next_poll += WATCH_INTERVAL_S
    return {"operations": done, "latency": desk.latency, "gesture_cpu": dict(desk.cpu),
            "stale": dict(desk.stale), "errors": desk.errors, "ledger": desk.ledger, "booked": desk.booked,
            "seen": desk.seen, "polls": desk.polls, "changed_polls": desk.changed_polls, "empty_refreshes": desk.empty_refreshes,
            "not_erased": desk.not_erased}


# ---------------------------------------------------------------- setting up


@dataclass
class Target:
    """A database to load: its label, URL, and how to get rid of it afterwards."""

    label: str
    url: str
    drop: Callable[[], None] = lambda: None
    notes: list[str] = field(default_factory=list)


def pg_target() -> Target:
    import psycopg

    name = f"caseload_clinic_load_{secrets.token_hex(4)}"
    admin = make_url(PG_ADMIN)
    libpq = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = admin.set(database=name).render_as_string(hide_password=False)
    return Target("PostgreSQL", url, drop, [f"throw-away database {name} on {admin.host}:{admin.port or 5432}"])


def sqlite_target(folder: Path) -> Target:
    path = folder / "clinic-load.db"
    return Target("SQLite file", f"sqlite:///{path}", notes=[f"plain (unencrypted) file {path}"])


def seed(target: Target, args: argparse.Namespace, create: bool) -> dict[str, Any]:
    """The demo practice, the workstations' users (each signs in with a password of its own
    making, as after a first sign-in), and who works on which clients."""
    practice = open_practice(target.url, create=create, encrypt_new=False)
    try:
        with practice.db.reading() as s:
            have = s.scalar(select(func.count()).select_from(Client)) or 0
        if not have:
            print(f"  building the demo practice ({args.clients:,} clients) …", flush=True)
            started = time.perf_counter()
            builder = open_practice(args.seed_url) if args.seed_url else practice
            try:
                builder.load_demo(clients=args.clients, password=DEMO_PASSWORD, seed=1)
            finally:
                if builder is not practice:
                    builder.close()
            target.notes.append(f"demo practice of {args.clients:,} clients built in "
                                f"{time.perf_counter() - started:.1f} s"
                                + (" through --seed-url" if args.seed_url else ""))
        else:
            target.notes.append(f"existing practice of {have:,} clients")
        owner = practice.access.sign_in(DEMO_OWNER, DEMO_PASSWORD).actor
        with practice.db.reading() as s:
            existing = set(s.scalars(select(PracticeUser.username)))
        first = f"load-{secrets.token_hex(4)}"  # given by the owner, changed at first sign-in
        password = f"clinic-load-{secrets.token_hex(8)}"
        users = []
        for i in range(args.workstations):
            username = f"desk{i + 1}"
            role = Role.PRACTICE_MANAGER if i % 2 == 0 else Role.CLINICIAN
            if username in existing:
                practice.users.reset_password(owner, username, first)
            else:
                practice.users.add_user(owner, username, role, first, display_name=f"Desk {i + 1}",
                                        entire_practice=True)
            actor = practice.access.sign_in(username, first).actor
            practice.users.change_password(actor, first, password)
            users.append(username)
        with practice.db.reading() as s:
            ids = list(s.scalars(select(Client.id).where(Client.duplicate_of_id.is_(None),
                                                        ~Client.last_name.like("Loadtest %"))
                                 .order_by(Client.id)))
            names = [tuple(r) for r in s.execute(select(Client.first_name, Client.last_name)
                                                 .order_by(Client.id).limit(500))]
            service, minutes = s.execute(select(Service.code, Service.minutes).order_by(Service.position)
                                         .limit(1)).one()
    finally:
        practice.close()
    needed = SHARED_CLIENTS + OWN_CLIENTS * args.workstations
    if len(ids) < needed:
        raise SystemExit(f"{target.label}: {len(ids)} clients, but {needed} are needed; pass --clients")
    chosen = random.Random(16).sample(ids, needed)
    own = [chosen[SHARED_CLIENTS + i * OWN_CLIENTS: SHARED_CLIENTS + (i + 1) * OWN_CLIENTS]
           for i in range(args.workstations)]
    return {"url": target.url, "users": users, "password": password, "shared": chosen[:SHARED_CLIENTS],
            "own": own, "names": names, "service": service, "minutes": minutes, "seconds": args.seconds, "grace": args.grace,
            "rate": args.rate / args.workstations if args.rate else 0.0}


# ---------------------------------------------------------------- running and checking


def cpu_ticks() -> tuple[int, int]:
    """Busy and total jiffies of the whole machine (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def process_cpu(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``pids`` still running."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    return used


def server_backends(database: str | None) -> list[int]:
    """The PostgreSQL backends on this machine serving ``database`` (by their process titles)."""
    if not database:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and f" {database} ".encode() in title:
            found.append(int(entry.name))
    return found


class LockSampler(threading.Thread):
    """Every 100 ms during the load: how many of the database's sessions are running a statement,
    and how many of those wait for a lock (``pg_stat_activity``)."""

    def __init__(self, url: str, database: str) -> None:
        super().__init__(daemon=True)
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.database = database
        self.samples: list[tuple[int, int]] = []
        self.waits: Counter[str] = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.stop.wait(0.1):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, left(query, 60) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,)).fetchall()
                active = [r for r in rows if r[0] == "active"]
                locked = [r for r in active if r[1] == "Lock"]
                # What waits, named by its statement's first words ("UPDATE change_counter").
                self.waits.update(f"{r[1]}:{r[2]} in {' '.join((r[3] or '').split()[:2])}"
                                  for r in active if r[1] and r[1] != "Client")
                self.samples.append((len(active), len(locked)))


@dataclass
class Outcome:
    target: Target
    seconds: float
    results: list[dict[str, Any]]
    machine_busy: float  # share of all cores, during the load
    workstations_cpu: float  # CPU seconds of the workstation processes during the load
    server_cpu: float | None  # of this database's PostgreSQL backends
    locks: LockSampler | None
    checks: dict[str, Any]
    propagation: list[float]
    never_seen: int
    wrong_shown: int
    setup_s: float


def run(target: Target, args: argparse.Namespace, create: bool, folder: Path) -> Outcome:
    print(f"{target.label}: setting up ({target.notes[0]}) …", flush=True)
    started = time.perf_counter()
    cfg = seed(target, args, create)
    setup_s = time.perf_counter() - started
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(args.workstations + 1)
    outs = [folder / f"{target.label.split()[0].lower()}-{i}.json" for i in range(args.workstations)]
    workers = [context.Process(target=workstation, args=(cfg, i, barrier, str(outs[i])), daemon=True)
               for i in range(args.workstations)]
    print(f"{target.label}: starting {args.workstations} workstations …", flush=True)
    for w in workers:
        w.start()
    database = make_url(target.url).database if target.url.startswith("postgresql") else None
    locks = LockSampler(target.url, database) if database else None
    pids = [w.pid for w in workers if w.pid is not None]
    ws_cpu = server_cpu = 0.0
    try:
        barrier.wait(timeout=600)
        busy0, total0 = cpu_ticks()
        backends = server_backends(database)
        before = process_cpu(pids), process_cpu(backends)
        if locks is not None:
            locks.start()
        print(f"{target.label}: all signed in with their lists loaded; working for {args.seconds:g} s …",
              flush=True)
        time.sleep(args.seconds)
        busy1, total1 = cpu_ticks()
        after = process_cpu(pids), process_cpu(backends)
        if locks is not None:
            locks.stop.set()
        ws_cpu = sum(after[0][p] - before[0][p] for p in after[0] if p in before[0])
        server_cpu = sum(after[1][p] - before[1][p] for p in after[1] if p in before[1])
    except threading.BrokenBarrierError:
        busy0 = busy1 = total0 = 0
        total1 = 1
    for w in workers:
        w.join(timeout=args.seconds + args.grace + 600)
    results = []
    for i, out in enumerate(outs):
        if not out.exists():
            raise SystemExit(f"{target.label}: workstation {i + 1} ended without a report "
                             f"(exit code {workers[i].exitcode})")
        results.append(json.loads(out.read_text(encoding="utf-8")))
    fatal = [r for r in results if r.get("fatal")]
    if fatal:
        raise SystemExit(f"{target.label}: workstation {fatal[0]['index'] + 1} failed:\n{fatal[0]['fatal']}")
    checks = check_ledger(target.url, results)
    propagation, never_seen, wrong_shown = propagate(results)
    return Outcome(target, args.seconds, results, (busy1 - busy0) / max(1, total1 - total0), ws_cpu,
                   server_cpu if database else None, locks, checks, propagation, never_seen, wrong_shown,
                   setup_s)


def check_ledger(url: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Lost updates: the database at the end against every acknowledged write."""
    writes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        for entry in r["ledger"]:
            writes[entry["c"]].append(entry)
    booked = {a: c for r in results for a, c in r["booked"]}
    lost: Counter[str] = Counter()
    examples: list[str] = []
    fields_checked = 0
    unacknowledged = 0

    def lose(why: str, example: str, count: int = 1) -> None:
        lost[why] += count
        if len(examples) < 5:
            examples.append(example)

    practice = open_practice(url)
    try:
        columns = [getattr(Client, name) for name in ("id", "version", "status", *EDITED)]
        rows: dict[int, Any] = {}
        ids = sorted(writes)
        with practice.db.reading() as s:
            for start in range(0, len(ids), 500):
                for row in s.execute(select(*columns).where(Client.id.in_(ids[start:start + 500]))):
                    rows[row.id] = row
            present = {a: c for a, c in s.execute(select(Appointment.id, Appointment.client_id)
                                                  .where(Appointment.id.in_(list(booked))))} if booked else {}
        for client_id, entries in writes.items():
            row = rows.get(client_id)
            if any(e["k"] == "delete" for e in entries):
                if row is not None:
                    lose("acknowledged deletion not done", f"client {client_id} was deleted but is there")
                continue
            if row is None:
                lose("client gone with acknowledged writes", f"client {client_id} is missing", len(entries))
                continue
            versions = Counter(e["v"] for e in entries)
            for version, times in versions.items():
                if times > 1:
                    lose("two acknowledged writes of one version",
                         f"client {client_id}: {times} writes acknowledged as version {version}", times - 1)
            newest = max(versions)
            if row.version < newest:
                lose("version below an acknowledged write",
                     f"client {client_id} is at version {row.version}, {newest} was acknowledged",
                     sum(1 for e in entries if e["v"] > row.version))
            elif row.version > newest:
                unacknowledged += 1
            last: dict[str, tuple[int, str | None]] = {}
            for e in entries:
                for key, value in e["f"].items():
                    if key not in last or e["v"] > last[key][0]:
                        last[key] = (e["v"], value)
            for key, (version, value) in last.items():
                fields_checked += 1
                stored = text(getattr(row, key))
                if stored != value:
                    lose("field not as last acknowledged",
                         f"client {client_id}.{key} is {stored!r}; version {version} wrote {value!r}")
        for appointment, client_id in booked.items():
            if present.get(appointment) != client_id:
                lose("acknowledged booking missing", f"appointment {appointment} of client {client_id} is missing")
        owner = practice.access.sign_in(DEMO_OWNER, DEMO_PASSWORD).actor
        verdict = practice.audit.verify(owner)
    finally:
        practice.close()
    return {"lost": lost, "examples": examples, "clients": len(writes),
            "writes": sum(len(v) for v in writes.values()), "fields": fields_checked,
            "bookings": len(booked), "unacknowledged": unacknowledged,
            "chain": "intact" if verdict.intact else (getattr(verdict, "reason", None) or "NOT intact"),
            "chain_entries": verdict.entries}


def propagate(results: list[dict[str, Any]]) -> tuple[list[float], int, int]:
    """For each acknowledged client write and each other workstation: seconds until its list
    showed that version or a later one (a deletion: the client gone). ``inf`` if never."""
    seen_by: list[dict[int, list[list[Any]]]] = []
    for r in results:
        by_client: dict[int, list[list[Any]]] = defaultdict(list)
        for entry in r["seen"]:
            by_client[entry[0]].append(entry)  # already in time order
        seen_by.append(by_client)
    delays: list[float] = []
    never = wrong = 0
    for writer, r in enumerate(results):
        for e in r["ledger"]:
            for observer, by_client in enumerate(seen_by):
                if observer == writer:
                    continue
                first = None
                for _client, version, state, email, when in by_client.get(e["c"], ()):
                    shows = state == GONE or (e["k"] != "delete" and version >= e["v"])
                    if shows:
                        first = when
                        if e["k"] != "delete" and state != GONE and version == e["v"]:
                            # That very version: the list must show what was written.
                            expected_state = ACTIVE if e["f"].get("status") == "active" else INACTIVE
                            if state != expected_state or (e["k"] == "edit" and email != e["f"]["email"]):
                                wrong += 1
                        break
                if first is None:
                    never += 1
                    delays.append(float("inf"))
                else:
                    delays.append(max(0.0, first - e["t"]))
    return delays, never, wrong


# ---------------------------------------------------------------- the report


def pct(values: Sequence[float], p: float) -> float:
    """``percentile`` that stays ``inf`` where unseen writes reach the rank."""
    value = percentile(values, p)
    return float("inf") if value != value else value  # nan from inf − inf


def seconds_text(value: float) -> str:
    if value == float("inf"):
        return "never seen"
    return ms(value) if value < 1 else f"{value:.2f} s"


def report(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    labels = [o.target.label for o in outcomes]
    head = ("measure", *labels, "target", "met" + (f" ({' / '.join(labels)})" if len(labels) > 1 else ""))
    r = Report(head)

    def add(measure: str, values: list[str], target: str = "—", met: list[bool] | None = None) -> None:
        verdict = "" if met is None else " / ".join("yes" if m else "NO" for m in met)
        r.rows.append((measure, *values, target, verdict))

    def each(pick: Callable[[Outcome], Any]) -> list[Any]:
        return [pick(o) for o in outcomes]

    def ops(o: Outcome) -> int:
        return sum(x["operations"] for x in o.results)

    def writes(o: Outcome) -> int:
        return sum(len(x["latency"].get(k, ())) for x in o.results for k in WRITES)

    def lat(o: Outcome, kind: str) -> list[float]:
        return [t for x in o.results for t in x["latency"].get(kind, ())]

    def errors(o: Outcome) -> list[dict[str, str]]:
        return [e for x in o.results for e in x["errors"]]

    def stale(o: Outcome) -> Counter[str]:
        total: Counter[str] = Counter()
        for x in o.results:
            total.update(x["stale"])
        return total

    r.section(f"Throughput: {args.workstations} workstations, {args.seconds:g} s"
              + (f", paced at {args.rate:g} operations/s in total" if args.rate else ", as fast as they go"))
    rate = each(lambda o: ops(o) / o.seconds)
    add("operations per second, in total", [f"{v:,.1f}" for v in rate], "≥ 100", [v >= 100 for v in rate])
    add("  of which writes (status, edit, booking, add, delete)", [f"{writes(o) / o.seconds:,.1f}" for o in outcomes])
    add("operations per workstation (min – max)",
        [f"{min(x['operations'] for x in o.results):,} – {max(x['operations'] for x in o.results):,}" for o in outcomes])
    cores = os.cpu_count() or 1

    def share(cpu: float | None, o: Outcome) -> str:
        return "—" if cpu is None else f"{cpu / o.seconds / cores:.0%}"

    r.section(f"Where the {cores} cores went during the load (share of all of them)")
    add("the whole machine", [f"{o.machine_busy:.0%}" for o in outcomes])
    add("  the workstation processes", [share(o.workstations_cpu, o) for o in outcomes])
    add("  this database's PostgreSQL backends", [share(o.server_cpu, o) for o in outcomes])
    add("  everything else (other programs on the machine)",
        [f"{max(0.0, o.machine_busy - (o.workstations_cpu + (o.server_cpu or 0)) / o.seconds / cores):.0%}"
         for o in outcomes])
    add("workstation CPU per operation", [ms(o.workstations_cpu / max(1, ops(o))) for o in outcomes])
    add("server CPU per operation",
        ["—" if o.server_cpu is None else ms(o.server_cpu / max(1, ops(o))) for o in outcomes])

    def lock_text(o: Outcome) -> str:
        if o.locks is None or not o.locks.samples:
            return "—"
        active = sum(a for a, _ in o.locks.samples) / len(o.locks.samples)
        waiting = sum(w for _, w in o.locks.samples) / len(o.locks.samples)
        return f"{active:.1f} ({waiting:.1f})"

    add("sessions running a statement (waiting on a lock), mean", [lock_text(o) for o in outcomes])

    r.section("Latency per operation: p50 / p95 (count) · workstation CPU per operation, mean")

    def gesture_cpu(o: Outcome, kind: str) -> float:
        return sum(x["gesture_cpu"].get(kind, 0.0) for x in o.results)

    for kind in ("status", "edit", "book", "search", "add", "delete", "refresh"):
        values = each(lambda o, kind=kind: lat(o, kind))
        add(LABELS[kind], [f"{ms(pct(v, 50))} / {ms(pct(v, 95))} ({len(v):,}) · {ms(gesture_cpu(o, kind) / len(v))}"
                           if v else "—" for o, v in zip(outcomes, values)])
    add("workstation CPU outside the gestures (watcher thread …), per op",
        [ms(max(0.0, o.workstations_cpu - sum(sum(x["gesture_cpu"].values()) for x in o.results)) / max(1, ops(o)))
         for o in outcomes])

    r.section("Propagation: a commit on one workstation → every other workstation's list shows it")
    p95 = each(lambda o: pct(o.propagation, 95))
    add("p50", [seconds_text(pct(o.propagation, 50)) for o in outcomes])
    add("p95", [seconds_text(v) for v in p95], "≤ 1 s", [v <= 1.0 for v in p95])
    add("max", [seconds_text(max(o.propagation, default=0.0)) for o in outcomes])
    add("(write, other workstation) pairs measured", [f"{len(o.propagation):,}" for o in outcomes])
    add(f"  not seen by the end ({args.grace:g} s after the load)", [f"{o.never_seen:,}" for o in outcomes], "0",
        [o.never_seen == 0 for o in outcomes])
    add("  seen at that version with another value", [f"{o.wrong_shown:,}" for o in outcomes], "0",
        [o.wrong_shown == 0 for o in outcomes])

    r.section("Correctness")
    errs = each(lambda o: len(errors(o)))
    add("errors (any exception but a StaleVersion refusal)", [f"{v:,}" for v in errs], "0", [v == 0 for v in errs])
    lost = each(lambda o: sum(o.checks["lost"].values()))
    add("lost updates (ledger against the database)", [f"{v:,}" for v in lost], "0", [v == 0 for v in lost])
    add("  acknowledged client writes checked (clients, fields)",
        [f"{o.checks['writes']:,} ({o.checks['clients']:,}, {o.checks['fields']:,})" for o in outcomes])
    add("  acknowledged bookings checked", [f"{o.checks['bookings']:,}" for o in outcomes])
    add("  clients saved more often than acknowledged", [f"{o.checks['unacknowledged']:,}" for o in outcomes])
    refusals = each(lambda o: sum(stale(o).values()))
    add("StaleVersion refusals (status / edit)",
        [f"{sum(stale(o).values()):,} ({stale(o)['status']:,} / {stale(o)['edit']:,})" for o in outcomes],
        "> 0", [v > 0 for v in refusals])
    add("deletions not yet erased from the file (SQLite)",
        ["n/a" if o.server_cpu is not None else f"{sum(x['not_erased'] for x in o.results):,}"
         for o in outcomes])
    add("audit chain after the run", [f"{o.checks['chain']} ({o.checks['chain_entries']:,})" for o in outcomes],
        "intact", [o.checks["chain"] == "intact" for o in outcomes])
    add("watcher polls (said changed; of those, list had nothing new)",
        [f"{sum(x['polls'] for x in o.results):,} ({sum(x['changed_polls'] for x in o.results):,}; "
         f"{sum(x['empty_refreshes'] for x in o.results):,})" for o in outcomes])

    print()
    print(f"Clinic load — {args.workstations} workstations (processes, spawn), {args.seconds:g} s each after a "
          f"start barrier; watcher polled every {WATCH_INTERVAL_S * 1000:.0f} ms as the window does")
    print("Mix: " + ", ".join(f"{kind} {weight} %" for kind, weight in MIX.items())
          + f"; {SHARED_SHARE:.0%} of status changes, edits and bookings go to {SHARED_CLIENTS} clients every "
          f"workstation shares, the rest to its own {OWN_CLIENTS}")
    for o in outcomes:
        print(f"{o.target.label}: {'; '.join(o.target.notes)}; set up in {o.setup_s:.1f} s")
    print(f"Code {code_version()}; Python {sys.version.split()[0]}; load average {load_note()}")
    print()
    r.print()
    for o in outcomes:
        found = Counter((e["kind"], e["type"], e["message"]) for e in errors(o))
        for (kind, kind_of_error, message), count in found.most_common(5):
            print(f"{o.target.label} error ×{count} in {kind}: {kind_of_error}: {message}")
        for example in o.checks["examples"]:
            print(f"{o.target.label} lost update: {example}")
        if o.locks is not None and o.locks.waits:
            seen = len(o.locks.samples)
            print(f"{o.target.label} waits of running statements, in {seen:,} samples 100 ms apart: "
                  + ", ".join(f"{name} {count / seen:.2f}" for name, count in o.locks.waits.most_common(6))
                  + " (mean sessions)")
    print("Latencies are of whole gestures as the window makes them (a profile edit: open, duplicate check, "
          "save, list refreshed). Propagation is measured from the writer's commit "
          "(time.time(), one machine) to the end of the other workstation's refresh that first showed the "
          "version or a later one; a write never seen counts as infinitely late.")


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (default 60)")
    parser.add_argument("--workstations", type=int, default=8, help="processes (default 8)")
    parser.add_argument("--clients", type=int, default=2000, help="demo clients (default 2,000)")
    parser.add_argument("--database", choices=("both", "postgresql", "sqlite"), default="both",
                        help="where to run the load (default both, for comparison)")
    parser.add_argument("--url", help="run against this existing practice database instead "
                                      "(e.g. a workstation URL with the least-privilege app role)")
    parser.add_argument("--grace", type=float, default=GRACE_S,
                        help=f"seconds of polling only after the load, for the last writes to be seen "
                             f"(default {GRACE_S:g})")
    parser.add_argument("--seed-url", help="with --url: where to build the demo practice if that database "
                        "is empty (the same database through a role that may set its id sequences, such "
                        "as the administrator's; the application role made by `caseload server init` "
                        "may not)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="operations per second in total, spread over the workstations "
                             "(default 0: each as fast as it can)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.workstations < 2 or args.clients < 1:
        parser.error("--seconds must be positive, --workstations at least 2, --clients at least 1")
    if args.seed_url and not args.url:
        parser.error("--seed-url goes with --url")
    folder = Path(tempfile.mkdtemp(prefix="caseload-clinic-load-"))
    # Anchors of the audit chain, if anything keeps one, stay in the run's folder.
    os.environ["CASELOAD_ANCHOR_DIR"] = str(folder / "anchors")
    print(f"Load average at the start: {load_note()}", flush=True)
    outcomes = []
    try:
        if args.url:
            label = "PostgreSQL" if args.url.startswith("postgresql") else "SQLite file"
            outcomes.append(run(Target(label, args.url, notes=["existing database given with --url"]),
                                args, False, folder))
        else:
            wanted = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
            for name in wanted:
                target = pg_target() if name == "postgresql" else sqlite_target(folder)
                try:
                    outcomes.append(run(target, args, True, folder))
                finally:
                    target.drop()
        report(outcomes, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"Load average at the end: {load_note()}")
    # Speed is for people to read; a wrong answer is a failure: errors, lost updates, or a change
    # some list never showed (or showed with another value) make the exit status 1.
    wrong = [o.target.label for o in outcomes
             if any(x["errors"] for x in o.results) or sum(o.checks["lost"].values())
             or o.never_seen or o.wrong_shown]
    if wrong:
        print(f"FAILED correctness on: {', '.join(wrong)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
