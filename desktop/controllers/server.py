"""Setting up and upgrading a clinic's PostgreSQL server: ``caseload server init`` and ``migrate``.

Run by whoever administers the server, with an administrator's URL (``postgres`` or a role that
may create databases and roles). Workstations then connect as the application role made here,
which may read and change the practice's rows and nothing more: no DDL, and on the audit log
only INSERT and SELECT (docs/rules.md, "Running a clinic server"). So a workstation never
migrates; the schema moves only with ``server migrate``.

Both steps can be run again at any time: what is already there is left as it is, and the
application role's rights are set again (a migration's new tables included).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from desktop.storage.database import (
    CASELOAD_TABLES,
    CLIENT_TABLES,
    SCHEMA_HEAD,
    UNSUPPORTED_URL,
    _tls_refusal,
    libpq_conninfo,
    open_database,
    with_tls_mode,
)
from desktop.storage.errors import (
    CaseloadError,
    DatabaseRefused,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
)

NAME_RULE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A host name or IPv4 address as workstations type it (letters, digits, dots, hyphens), or an
# IPv6 address: nothing else goes into the URL init prints.
HOST_RULE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]{2,45}\]?")
MIN_PASSWORD = 12
# Tables the application role may only read; every other table it may read and change.
READ_ONLY_TABLES = ("alembic_version",)
# Tables it may only add to and read: the audit log (its triggers refuse changes too).
APPEND_ONLY_TABLES = ("audit_events",)


class ServerRefused(CaseloadError):
    """The server set-up cannot be done as asked (privileges, names, a foreign database)."""


@dataclass
class ServerReport:
    """What a set-up step did, line by line, and the URL workstations use."""

    lines: list[str] = field(default_factory=list)
    changing: bool = False  # a change has been made (or begun): refusals say what was done
    workstation_url: str | None = None
    tls: bool = False
    echo: Callable[[str], object] | None = None  # told each step as it is done

    def say(self, line: str) -> None:
        self.lines.append(line)
        if self.echo is not None:
            self.echo(line)


def parse_admin_url(text: str) -> URL:
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise InvalidDatabaseUrl(UNSUPPORTED_URL) from None
    if url.get_backend_name() != "postgresql" or url.drivername not in ("postgresql", "postgresql+psycopg"):
        raise InvalidDatabaseUrl("The admin URL must be a PostgreSQL one, such as "
                                 "postgresql+psycopg://postgres@HOST/postgres.")
    return with_tls_mode(url.set(drivername="postgresql+psycopg"))


def check_name(text: str, what: str) -> str:
    if not NAME_RULE.fullmatch(text):
        raise ServerRefused(f"{what} must be lower-case letters, digits and _ (at most 63, not starting "
                            f"with a digit), such as caseload; nothing was changed.")
    if text.startswith("pg_") or text in ("postgres", "public", "template0", "template1"):
        raise ServerRefused(f"{text} is reserved by PostgreSQL; choose another {what.lower()}. "
                            "Nothing was changed.")
    return text


@contextlib.contextmanager
def _admin(url: URL) -> Iterator[Any]:
    """An autocommit connection as the administrator; connection trouble in one sentence."""
    import psycopg

    try:
        conn = psycopg.connect(libpq_conninfo(url), autocommit=True, connect_timeout=5, application_name="caseload-admin")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnavailable(_tls_refusal(first) or (
            f"The server at the admin URL could not be reached or refused the sign-in ({first}). "
            "Nothing was changed.")) from exc
    try:
        yield conn
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ServerRefused(f"The server refused the admin URL's role a step ({_first(exc)}); use the "
                            "server's superuser. What was done before it is listed above.") from exc
    except psycopg.Error as exc:
        raise DatabaseRefused(f"The server refused a step ({_first(exc)}). What was done before it "
                              "is listed above.") from exc
    finally:
        conn.close()


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _ident(name: str) -> Any:
    from psycopg import sql

    return sql.Identifier(name)


@dataclass(frozen=True)
class AdminRights:
    user: str
    superuser: bool
    createdb: bool
    createrole: bool


def _rights(conn: Any) -> AdminRights:
    row = conn.execute("SELECT current_user, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                       "WHERE rolname = current_user").fetchone()
    return AdminRights(row[0], bool(row[1]), bool(row[2]), bool(row[3]))


def _role(conn: Any, name: str) -> dict[str, bool] | None:
    row = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin "
                       "FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if row is None:
        return None
    return dict(zip(("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS", "LOGIN"),
                    map(bool, row), strict=True))


def _more_than_needed(attributes: dict[str, bool]) -> list[str]:
    return [name for name, held in attributes.items() if held and name != "LOGIN"]


def _owns_or_inherits(conn: Any, role: str, database: str | None) -> list[str]:
    """What makes an existing role more than an application role beyond its attributes: owning
    the database, or anything in it (an owner can drop the audit log's triggers), or being a
    member of another role (whose rights it could take on). ``conn`` is connected to ``database``
    when that exists, else to the server's maintenance database."""
    found = []
    if database is not None and conn.execute(
            "SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
            "WHERE d.datname = %s AND r.rolname = %s", (database, role)).fetchone():
        found.append(f"it owns the database {database}")
    if conn.execute("SELECT current_database() = %s", (database,)).fetchone()[0] and conn.execute(
            "SELECT 1 FROM pg_roles r WHERE r.rolname = %s AND ("
            " EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid)"
            " OR EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspowner = r.oid)"
            " OR EXISTS (SELECT 1 FROM pg_proc f WHERE f.proowner = r.oid))", (role,)).fetchone():
        found.append("it owns tables or other objects there")
    if conn.execute("SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                    "WHERE r.rolname = %s", (role,)).fetchone():
        found.append("it is a member of another role")
    return found


def _check_existing_role(conn: Any, role: str, attributes: dict[str, bool], database: str | None) -> None:
    extra = _more_than_needed(attributes)
    more = ([f"it may {', '.join(extra)}"] if extra else []) + _owns_or_inherits(conn, role, database)
    if more:
        raise ServerRefused(
            f"The role {role} already exists and may do more than Caseload's application role should "
            f"({'; '.join(more)}); choose another --app-role (README: Running a clinic server). "
            "Nothing was changed.")


def init_server(admin_url: str, *, name: str, app_role: str, password: Callable[[], str],
                public_host: str | None = None, echo: Callable[[str], object] | None = None) -> ServerReport:
    """Create (if missing) the practice database, its schema and the application role.

    ``password`` is asked only when the role is created. Refuses, having changed nothing, when the
    admin URL's role cannot create databases and roles, when the role exists with more rights than
    the app needs, or when the database belongs to another program.
    """
    url = parse_admin_url(admin_url)
    check_name(name, "The database name")
    check_name(app_role, "The application role")
    if public_host is not None and not HOST_RULE.fullmatch(public_host):
        raise ServerRefused("--host must be the server's name or address as workstations reach it, such "
                            "as db.clinic.lan or 192.168.1.10; nothing was changed.")
    report = ServerReport(echo=echo)
    with _admin(url) as conn:
        rights = _rights(conn)
        if not (rights.superuser or (rights.createdb and rights.createrole)):
            raise ServerRefused(
                f"The admin URL's role {rights.user} may not create databases and roles, so it cannot set "
                "up the server; use the server's superuser (postgres), or a role with CREATEDB and "
                "CREATEROLE. Nothing was changed.")
        if app_role == rights.user:
            raise ServerRefused("The application role must not be the administrator's own role; choose "
                                "another --app-role. Nothing was changed.")
        existing_role = _role(conn, app_role)
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if existing_role is not None and not exists:
            _check_existing_role(conn, app_role, existing_role, name)
    if exists:
        # Everything about the database is checked before the first change, too.
        with _admin(url.set(database=name)) as conn:
            tables = {row[0] for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            if tables and not CASELOAD_TABLES <= tables:
                raise ServerRefused(f"The database {name} belongs to another program, not Caseload; "
                                    "nothing was changed.")
            if existing_role is not None:
                _check_existing_role(conn, app_role, existing_role, name)
    with _admin(url) as conn:
        new_password = None
        if existing_role is None:
            new_password = password()
            if len(new_password) < MIN_PASSWORD or "\x00" in new_password:
                raise ServerRefused(f"The application role's password must be at least {MIN_PASSWORD} "
                                    "characters (and no NUL); nothing was changed.")
        tls_on = conn.execute("SHOW ssl").fetchone()[0] == "on"

        from psycopg import sql

        report.changing = True  # from here on a refusal must not say that nothing was changed
        if existing_role is None:
            assert new_password is not None
            verifier = conn.pgconn.encrypt_password(new_password.encode(), app_role.encode(), b"scram-sha-256")
            # The password travels only as its SCRAM verifier: the server's log never sees it.
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
                                 "NOREPLICATION NOBYPASSRLS PASSWORD {}").format(
                _ident(app_role), sql.Literal(verifier.decode())))
            report.say(f"Created the application role {app_role} (it can log in and nothing more yet).")
        else:
            if not existing_role["LOGIN"]:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(_ident(app_role)))
                report.say(f"The application role {app_role} already existed without LOGIN; it may log in now.")
            report.say(f"The application role {app_role} already exists; its password was left as it is.")
        _session_limits(conn, app_role)
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(_ident(name)))
            report.say(f"Created the database {name}.")
        else:
            report.say(f"The database {name} already exists.")
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(_ident(name)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(_ident(name), _ident(app_role)))

    practice_url = url.set(database=name)
    try:
        before = _schema_of(practice_url)
        _migrate_as_admin(practice_url)
        if before == SCHEMA_HEAD:
            report.say(f"The schema is already at this version ({SCHEMA_HEAD}).")
        elif before is None:
            report.say(f"Created the practice's schema (version {SCHEMA_HEAD}).")
        else:
            report.say(f"Upgraded the schema from {before} to {SCHEMA_HEAD}.")
        with _admin(practice_url) as conn:
            grant_app_role(conn, app_role)
    except CaseloadError as exc:
        raise _after_changes(exc) from exc
    report.say(f"{app_role} may read and change the practice's rows, only add to and read the audit log, "
               "and change no tables.")
    report.tls = tls_on
    report.workstation_url = workstation_url(url, name=name, app_role=app_role, host=public_host, tls=tls_on)
    return report


def migrate_server(admin_url: str, *, name: str, app_role: str,
                   echo: Callable[[str], object] | None = None) -> ServerReport:
    """Bring the practice database's schema to this version's, then set the app role's rights again."""
    url = parse_admin_url(admin_url)
    check_name(name, "The database name")
    check_name(app_role, "The application role")
    report = ServerReport(echo=echo)
    with _admin(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            raise ServerRefused(f"There is no database {name} on this server; set it up with `caseload server "
                                "init` first. Nothing was changed.")
    practice_url = url.set(database=name)
    with _admin(practice_url) as conn:
        rights = _rights(conn)
        attributes = _role(conn, app_role)
        if attributes is None:
            raise ServerRefused(f"There is no role {app_role} on this server; give the one workstations "
                                "use with --app-role. Nothing was changed.")
        _check_existing_role(conn, app_role, attributes, name)
        tables = {row[0]: row[1] for row in conn.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'")}
        if tables and not CASELOAD_TABLES <= set(tables):
            raise ServerRefused(f"The database {name} belongs to another program, not Caseload; nothing was "
                                "changed.")
        if not tables:
            raise ServerRefused(f"The database {name} holds no Caseload practice yet; set it up with "
                                "`caseload server init`. Nothing was changed.")
        owner = tables.get("alembic_version")
        if not rights.superuser and owner != rights.user:
            raise ServerRefused(
                f"The admin URL's role {rights.user} does not own the practice's tables (owner: {owner}), so "
                "it cannot upgrade them; use the role that ran `caseload server init`, or the superuser. "
                "Nothing was changed.")
    before = _schema_of(practice_url)
    _migrate_as_admin(practice_url)  # one transaction: all of it or nothing
    if before == SCHEMA_HEAD:
        report.say(f"The schema is already at this version ({SCHEMA_HEAD}); nothing to upgrade.")
    else:
        report.say(f"Upgraded the schema from {before} to {SCHEMA_HEAD}.")
    try:
        with _admin(practice_url) as conn:
            grant_app_role(conn, app_role)
            _session_limits(conn, app_role)
    except CaseloadError as exc:
        raise _after_changes(exc) from exc
    report.say(f"Set the rights of {app_role} again (its tables, only adding to the audit log).")
    return report


def _after_changes(exc: CaseloadError) -> CaseloadError:
    """A refusal after set-up had begun: it must not claim that nothing was changed."""
    words = str(exc)
    for claim in (" Nothing was changed.", "; nothing was changed.", " nothing was changed."):
        words = words.replace(claim, ".")
    return type(exc)(f"{words} The steps listed above were done; run the command again once this is put "
                     "right.")


def _session_limits(conn: Any, role: str) -> None:
    """Server-side limits for the application role's sessions: a workstation whose network went
    quiet mid-transaction (Wi-Fi gone, lid closed) cannot hold the audit log's head, a client's
    row or a lock for hours, and the server notices a vanished workstation within half a minute."""
    from psycopg import sql

    for setting, value in SESSION_LIMITS.items():
        conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(_ident(role), sql.Identifier(setting),
                                                                sql.Literal(value)))


SESSION_LIMITS = {"idle_in_transaction_session_timeout": "60s", "tcp_keepalives_idle": "10",
                  "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3", "tcp_user_timeout": "30000"}


def _schema_of(url: URL) -> str | None:
    with _admin(url) as conn:
        if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else str(row[0])


def _migrate_as_admin(url: URL) -> None:
    db = open_database(url.render_as_string(hide_password=False), create=True)
    db.dispose()


def grant_app_role(conn: Any, role: str) -> None:
    """The application role's rights on every table there is now (run again after each migration).

    In one transaction, so a workstation at work meanwhile never finds its rights gone. Also: the
    tables that hold clients' rows are vacuumed by the server as soon as a row is dead (a deleted
    client's rows do not wait for a fifth of the table to change), and on PostgreSQL 17 and later
    the role may VACUUM them itself after a deletion (MAINTAIN).
    """
    from psycopg import sql

    who = _ident(role)
    with conn.transaction():
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(who))
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(who))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}")
                     .format(who))
        for table in APPEND_ONLY_TABLES:
            conn.execute(sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(_ident(table), who))
        for table in READ_ONLY_TABLES:
            conn.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(_ident(table), who))
        conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(who))
        maintain = conn.pgconn.server_version >= 170000
        for table in CLIENT_TABLES:
            conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_vacuum_scale_factor = 0, "
                                 "autovacuum_vacuum_threshold = 1)").format(_ident(table)))
            if maintain:
                conn.execute(sql.SQL("GRANT MAINTAIN ON {} TO {}").format(_ident(table), who))
        # PostgreSQL 13 and 14 leave CREATE on the public schema to everyone unless its owner (the
        # bootstrap superuser) takes it away: never hand out a role that could make tables.
        creates = conn.execute("SELECT has_schema_privilege(%s, 'public', 'CREATE') "
                               "OR has_database_privilege(%s, current_database(), 'CREATE')",
                               (role, role)).fetchone()[0]
        if creates:
            raise ServerRefused(
                f"{role} could still create objects in the practice database (PostgreSQL leaves CREATE on "
                "its public schema to everyone until the schema's owner takes it away); run this as the "
                "server's superuser. The steps listed above were done.")


def workstation_url(admin: URL, *, name: str, app_role: str, host: str | None, tls: bool) -> str:
    """The URL a workstation opens the practice with (no password: see the README).

    With TLS on, the URL names the root certificate the admin URL used (else a placeholder), so
    workstations check they reach this very server (verify-full).
    """
    query: dict[str, str] = {}
    if tls:
        root = admin.query.get("sslrootcert")
        query = {"sslmode": "verify-full", "sslrootcert": root if isinstance(root, str) else "/path/to/root.crt"}
    local = admin.host in (None, "", "localhost", "127.0.0.1", "::1")
    where = host or ("SERVER-NAME" if local else admin.host)
    port = f":{admin.port}" if admin.port else ""
    # Written out plainly (not percent-encoded), as a person copies it into each workstation.
    tail = "&".join(f"{key}={value}" for key, value in query.items())
    return f"postgresql+psycopg://{app_role}@{where}{port}/{name}" + (f"?{tail}" if tail else "")
