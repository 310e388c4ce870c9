"""A clinic's server: `caseload server init` and `migrate`, the application role's limits, and TLS.

Each test module's server is a throw-away PostgreSQL instance of its own (tests/pg_instance.py),
with TLS and a root certificate made here; one without TLS checks that Caseload refuses a plain
connection unless the URL asks for one. The machine's own cluster is not touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from desktop.cli.main import main
from desktop.controllers.errors import DatabaseUnavailable, InvalidDatabaseUrl, SchemaTooNew
from desktop.controllers.practice import open_practice
from desktop.storage.database import (
    SCHEMA_HEAD,
    ServerNeedsUpgrade,
    alembic_config,
    connection_security,
    libpq_conninfo,
    open_database,
)
from tests.pg_instance import ThrowawayServer

pytestmark = pytest.mark.postgres

APP_PASSWORD = "clinic server pass 42"
OWNER_PASSWORD = "owner's long passphrase 7"


@pytest.fixture(scope="module")
def server() -> Iterator[ThrowawayServer]:
    instance = ThrowawayServer(tls=True, log_statements=True)
    yield instance
    instance.destroy()


@pytest.fixture(scope="module")
def plain_server() -> Iterator[ThrowawayServer]:
    instance = ThrowawayServer(tls=False)
    yield instance
    instance.destroy()


def app_url(server: ThrowawayServer, name: str = "caseload", **query: str) -> str:
    query = query or {"sslrootcert": str(server.root_cert)}
    return server.url(user="caseload_app", password=APP_PASSWORD, database=name, **query)


def admin(server: ThrowawayServer, database: str = "postgres") -> psycopg.Connection:
    from sqlalchemy.engine import make_url

    return psycopg.connect(libpq_conninfo(make_url(server.admin_url(database))), autocommit=True)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def server_init(capsys: pytest.CaptureFixture[str], server: ThrowawayServer, monkeypatch: pytest.MonkeyPatch,
                name: str = "caseload", admin_url: str | None = None) -> tuple[int, str, str]:
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
    return run(capsys, "server", "init", "--admin-url", admin_url or server.admin_url(), "--name", name,
               "--app-role", "caseload_app", "--host", "clinic-server.lan")


@pytest.fixture(scope="module")
def practice_url(server: ThrowawayServer) -> str:
    """A practice set up with `server init` and started by its Account Owner, over TLS, as the app role."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
        assert main(["server", "init", "--admin-url", server.admin_url(), "--name", "caseload"]) == 0
        mp.setenv("CASELOAD_NEW_PASSWORD", OWNER_PASSWORD)
        assert main(["init", "--database", app_url(server), "--owner", "owner"]) == 0
    finally:
        mp.undo()
    return app_url(server)


def test_server_init_sets_up_the_database_and_prints_the_workstation_url(
        server: ThrowawayServer, practice_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    capsys.readouterr()
    code, out, err = server_init(capsys, server, monkeypatch)
    assert code == 0, err
    # The second run finds everything there and changes nothing.
    assert "already exists; its password was left as it is" in out
    assert "The database caseload already exists." in out
    assert f"The schema is already at this version ({SCHEMA_HEAD})." in out
    assert "Created" not in out
    url = re.search(r"postgresql\+psycopg://\S+", out).group(0)  # type: ignore[union-attr]
    assert url == (f"postgresql+psycopg://caseload_app@clinic-server.lan:{server.port}/caseload"
                   f"?sslmode=verify-full&sslrootcert={server.root_cert}")
    assert APP_PASSWORD not in out
    # The password the first run set still works: the practice opens with it.
    practice = open_practice(practice_url)
    try:
        assert practice.access.has_users()
    finally:
        practice.close()


def test_the_password_is_never_in_the_servers_statements(server: ThrowawayServer, practice_url: str) -> None:
    with admin(server) as conn:
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'caseload_app'").fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$")
    log = (server.data / "server.log").read_text(errors="replace")
    assert "CREATE ROLE" in log and "SCRAM-SHA-256$" in log  # every statement is logged here …
    assert APP_PASSWORD not in log  # … and the password was never in one


def test_the_app_roles_sessions_cannot_hold_locks_for_hours(server: ThrowawayServer, practice_url: str) -> None:
    db = open_database(practice_url)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"
            assert conn.execute(text("SHOW tcp_keepalives_idle")).scalar() == "10"
    finally:
        db.dispose()


@pytest.mark.parametrize("statement", [
    "DROP TABLE clients",
    "ALTER TABLE clients ADD COLUMN x integer",
    "CREATE TABLE mine (id integer)",
    "UPDATE audit_events SET action = 'x'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "UPDATE alembic_version SET version_num = '0001'",
    "DROP TABLE audit_events",
])
def test_the_app_role_cannot_change_the_schema_or_rewrite_the_audit_log(
        practice_url: str, statement: str) -> None:
    db = open_database(practice_url)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar()  # it can read it
            with pytest.raises(Exception) as refused:
                conn.execute(text(statement))
            assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)  # type: ignore[attr-defined]
    finally:
        db.dispose()


def test_the_app_role_can_do_everything_the_app_does(practice_url: str, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELOAD_PASSWORD", OWNER_PASSWORD)
    capsys.readouterr()
    code, out, err = run(capsys, "clients", "add", "--database", practice_url, "--as", "owner",
                         "--first", "Zoë", "--last", "Ødegård")
    assert code == 0, err
    client_id = re.search(r"\d+", out).group(0)  # type: ignore[union-attr]
    code, out, err = run(capsys, "clients", "set-status", client_id, "inactive", "--database", practice_url,
                         "--as", "owner")
    assert code == 0, err
    code, out, err = run(capsys, "clients", "delete", client_id, "--confirm-name", "Zoë Ødegård",
                         "--database", practice_url, "--as", "owner")
    assert code == 0, err
    # Never "deleted permanently" on a server: its disk keeps the rows until the space is reused,
    # and the application role may not VACUUM (PostgreSQL 15: only the tables' owner may).
    assert "permanently" not in out
    assert f"Client {client_id} was deleted from the practice" in out
    assert "The server's disk keeps the deleted rows until PostgreSQL reuses their space" in out
    assert "this role may not VACUUM" in out and "encrypted storage" in out
    code, out, err = run(capsys, "audit", "verify", "--database", practice_url, "--as", "owner")
    assert code == 0, out + err


def test_the_admin_url_needs_the_rights_to_set_up(server: ThrowawayServer, practice_url: str,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    weak = server.url(user="caseload_app", password=APP_PASSWORD, sslrootcert=str(server.root_cert))
    for command in ("init", "migrate"):
        monkeypatch.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
        code, _out, err = run(capsys, "server", command, "--admin-url", weak, "--app-role", "caseload_app")
        assert code == 1
        assert err.count("\n") == 1 and "Nothing was changed." in err
    code, _out, err = run(capsys, "server", "init", "--admin-url", weak, "--app-role", "other_app")
    assert "caseload_app may not create databases and roles" in err
    with admin(server) as conn:
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'other_app'").fetchone() is None


def test_an_existing_role_with_too_many_rights_is_refused(server: ThrowawayServer,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with admin(server) as conn:
        conn.execute("CREATE ROLE mighty LOGIN CREATEDB")
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
    code, _out, err = run(capsys, "server", "init", "--admin-url", server.admin_url(), "--name", "mightydb",
                          "--app-role", "mighty")
    assert code == 1 and "may do more than Caseload's application role should (it may CREATEDB)" in err
    with admin(server) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'mightydb'").fetchone() is None


@pytest.mark.parametrize("name", ["Caseload", "case-load", "pg_mine", "x" * 64, "drop;table", "postgres"])
def test_bad_names_are_refused_before_anything_is_done(server: ThrowawayServer, name: str,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
    code, out, err = run(capsys, "server", "init", "--admin-url", server.admin_url(), "--name", name)
    assert code == 1 and out == "" and "nothing was changed" in err.lower()


def test_a_short_password_is_refused(server: ThrowawayServer, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", "short")
    code, out, err = run(capsys, "server", "init", "--admin-url", server.admin_url(), "--name", "shortpw",
                         "--app-role", "shortpw_app")
    assert code == 1 and "at least 12 characters" in err
    with admin(server) as conn:
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'shortpw_app'").fetchone() is None


def _database_at(server: ThrowawayServer, name: str, revision: str) -> None:
    """A practice database as an older Caseload left it, its rights set for the app role."""
    from alembic import command
    from sqlalchemy import create_engine

    with admin(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO caseload_app')
    engine = create_engine(server.admin_url(name))
    try:
        command.upgrade(alembic_config(engine), revision)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO clients (first_name, last_name, status, search_key, created_at, "
                              "updated_at, version) VALUES ('Old', 'Timer', 'ACTIVE', 'old timer', now(), "
                              "now(), 1)"))
    finally:
        engine.dispose()
    from desktop.controllers.server import grant_app_role

    with admin(server, name) as conn:
        grant_app_role(conn, "caseload_app")


def test_a_workstation_never_migrates_an_older_server(server: ThrowawayServer, practice_url: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _database_at(server, "olddb", "0007")
    old = app_url(server, "olddb")
    with pytest.raises(ServerNeedsUpgrade) as refused:
        open_database(old)
    assert str(refused.value) == ("The practice server needs an upgrade: ask whoever runs it to run "
                                  "`caseload server migrate`.")
    with admin(server, "olddb") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0007"
    code, out, err = run(capsys, "clients", "list", "--database", old, "--as", "owner")
    assert code == 1 and "caseload server migrate" in err

    code, out, err = run(capsys, "server", "migrate", "--admin-url", server.admin_url(), "--name", "olddb")
    assert code == 0, err
    assert f"Upgraded the schema from 0007 to {SCHEMA_HEAD}." in out
    db = open_database(old)  # the workstation opens it now, and the old rows are there
    try:
        with db.reading() as s:
            assert s.execute(text("SELECT last_name FROM clients")).scalar() == "Timer"
    finally:
        db.dispose()
    code, out, err = run(capsys, "server", "migrate", "--admin-url", server.admin_url(), "--name", "olddb")
    assert code == 0 and "nothing to upgrade" in out


def test_a_workstation_refuses_a_newer_server(server: ThrowawayServer, practice_url: str) -> None:
    with admin(server, "caseload") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    try:
        with pytest.raises(SchemaTooNew) as refused:
            open_database(practice_url)
        assert "update Caseload on this workstation" in str(refused.value)
    finally:
        with admin(server, "caseload") as conn:
            conn.execute(f"UPDATE alembic_version SET version_num = '{SCHEMA_HEAD}'")


# ------------------------------------------------------------------ TLS


def test_verify_full_connects_with_the_right_root(server: ThrowawayServer, practice_url: str) -> None:
    db = open_database(practice_url)
    try:
        security = connection_security(db)
    finally:
        db.dispose()
    assert security.encrypted and security.verified
    assert db.engine.url.query["sslmode"] == "verify-full"  # a root given means verify-full
    assert security.words.startswith("Encrypted (TLSv1.")


def test_verify_full_refuses_a_wrong_root(server: ThrowawayServer, practice_url: str) -> None:
    with pytest.raises(DatabaseUnavailable) as refused:
        open_database(app_url(server, sslrootcert=str(server.other_root)))
    assert "not signed by the root certificate given" in str(refused.value)


def test_verify_full_refuses_a_name_not_on_the_certificate(server: ThrowawayServer, practice_url: str) -> None:
    url = app_url(server).replace("@127.0.0.1:", "@127.0.0.2:")  # the server listens on .1 only …
    with pytest.raises(DatabaseUnavailable):
        open_database(url)
    # … so ask for 'localhost' by another address: the certificate names localhost and 127.0.0.1.
    from sqlalchemy.engine import make_url

    named = make_url(app_url(server)).update_query_dict({"hostaddr": "127.0.0.1"}).set(host="caseload-server")
    with pytest.raises(DatabaseUnavailable) as refused:
        open_database(named.render_as_string(hide_password=False))
    assert "certificate is for another name" in str(refused.value)


def test_require_is_encrypted_but_unverified(server: ThrowawayServer, practice_url: str) -> None:
    db = open_database(app_url(server, sslmode="require"))
    try:
        security = connection_security(db)
    finally:
        db.dispose()
    assert security.encrypted and not security.verified


def test_a_server_without_tls_is_refused_unless_the_url_says_disable(plain_server: ThrowawayServer) -> None:
    url = plain_server.url()  # no sslmode: require
    with pytest.raises(DatabaseUnavailable) as refused:
        open_database(url, create=True)
    assert str(refused.value).startswith("The practice server does not offer an encrypted connection")
    db = open_database(plain_server.url(sslmode="disable"), create=True)
    try:
        security = connection_security(db)
    finally:
        db.dispose()
    assert not security.encrypted and not security.verified
    assert security.words.startswith("Not encrypted")


@pytest.mark.parametrize("query, sentence", [
    ({"sslmode": "prefer"}, "sslmode=prefer is not one Caseload connects with"),
    ({"sslmode": "allow"}, "sslmode=allow is not one Caseload connects with"),
    ({"sslmode": "verify-full"}, "needs the server's root certificate"),
    ({"sslrootcert": "/nowhere/root.crt"}, "is not a file here"),
])
def test_unsafe_or_broken_tls_settings_are_refused_in_one_sentence(server: ThrowawayServer, query: dict[str, str],
                                                                    sentence: str) -> None:
    with pytest.raises(InvalidDatabaseUrl) as refused:
        open_database(server.url(database="caseload", **query))
    assert sentence in str(refused.value)


# ------------------------------------------------------------------ nasty input

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.cli.test_fuzz import nasty_text  # noqa: E402

names = nasty_text | st.sampled_from(["", "Caseload", "case load", "ca$eload", "pg_x", "é", "1abc", "a" * 64,
                                      "caseload;drop", "\u202ecaseload"])


def _roles_and_databases(server: ThrowawayServer) -> tuple[set[str], set[str]]:
    with admin(server) as conn:
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        databases = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    return roles, databases


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=names, role=names, command=st.sampled_from(["init", "migrate"]))
def test_nasty_names_are_one_sentence_and_change_nothing(server: ThrowawayServer, practice_url: str,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch, name: str, role: str,
                                                         command: str) -> None:
    before = _roles_and_databases(server)
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
    capsys.readouterr()
    code = main(["server", command, "--admin-url", server.admin_url(), "--name", name, "--app-role", role])
    out, err = capsys.readouterr()
    assert code in (1, 2) and out == "", (name, role, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err
    assert _roles_and_databases(server) == before


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(url=nasty_text | st.sampled_from([
    "sqlite:///x.db", "mysql://root@localhost/x", "postgresql://", "postgresql+asyncpg://postgres@127.0.0.1/x",
    "postgresql://postgres@127.0.0.1/postgres?sslmode=prefer", "postgresql://postgres@127.0.0.1/x?sslmode=bogus",
    "postgresql://postgres@127.0.0.1/x?sslmode=verify-ca", "postgresql://postgres@127.0.0.1/x?sslrootcert=/no/such"]))
def test_nasty_admin_urls_are_one_sentence(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                           url: str) -> None:
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
    # A URL that names no server must not find the machine's own through libpq's defaults.
    monkeypatch.setenv("PGHOST", "/nonexistent-socket-folder")
    monkeypatch.setenv("PGPORT", "1")
    capsys.readouterr()
    code = main(["server", "init", "--admin-url", url])
    out, err = capsys.readouterr()
    assert code in (1, 2) and out == "", (url, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_demo_is_refused_to_the_app_role_in_one_sentence(server: ThrowawayServer, practice_url: str,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    code, _out, err = server_init(capsys, server, monkeypatch, name="demodb")
    assert code == 0, err
    code, out, err = run(capsys, "demo", "--database", app_url(server, "demodb"), "--clients", "20")
    assert code == 1 and out == ""
    assert err == ("caseload: The demo practice can be loaded on a server only by its administrator's role, "
                   "not by the role workstations use; nothing was changed.\n")
    with admin(server, "demodb") as conn:
        assert conn.execute("SELECT count(*) FROM practice_users").fetchone()[0] == 0
    # The administrator's role may (it owns the sequences).
    code, out, err = run(capsys, "demo", "--database", server.admin_url("demodb"), "--clients", "20")
    assert code == 0, err


def test_a_role_that_owns_the_practices_tables_is_refused(server: ThrowawayServer, practice_url: str,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An older set-up's workstation role owned the tables: as the app role it could drop the audit
    log's triggers. Neither init nor migrate accepts it."""
    with admin(server) as conn:
        conn.execute("CREATE ROLE oldowner LOGIN")
        conn.execute("CREATE DATABASE ownedb OWNER oldowner")
    for command in ("init", "migrate"):
        monkeypatch.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
        code, out, err = run(capsys, "server", command, "--admin-url", server.admin_url(), "--name", "ownedb",
                             "--app-role", "oldowner")
        assert code == 1, (command, out, err)
        assert "The role oldowner already exists and may do more" in err and "it owns the database ownedb" in err


def test_init_over_another_programs_database_changes_nothing(server: ThrowawayServer, practice_url: str,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with admin(server) as conn:
        conn.execute("CREATE DATABASE someoneelse")
    with admin(server, "someoneelse") as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    before = _roles_and_databases(server)
    with admin(server) as conn:
        acl_before = conn.execute("SELECT datacl FROM pg_database WHERE datname = 'someoneelse'").fetchone()
    code, out, err = server_init(capsys, server, monkeypatch, name="someoneelse")
    assert code == 1 and out == ""
    assert "belongs to another program" in err and "nothing was changed" in err
    assert _roles_and_databases(server) == before
    with admin(server) as conn:
        assert conn.execute("SELECT datacl FROM pg_database WHERE datname = 'someoneelse'").fetchone() == acl_before


def test_a_wrong_password_is_a_refusal_not_a_lost_connection(server: ThrowawayServer, practice_url: str) -> None:
    """When IT changes the role's password, a workstation says the server refused it, not that the
    connection was lost."""
    from desktop.storage.watch import lost_connection

    wrong = server.url(user="caseload_app", password="not the password at all", database="caseload",
                       sslrootcert=str(server.root_cert))
    with pytest.raises(DatabaseUnavailable) as refused:
        open_database(wrong)
    assert str(refused.value).startswith("The practice server answered but refused this workstation (")
    assert "password authentication failed" in str(refused.value)
    assert not lost_connection(refused.value)


@pytest.mark.parametrize("host", ["", " db", "db.clinic.lan/evil", "db\x1b[31m", "db clinic", "a" * 300,
                                  "db;rm", "db-", "x.y\n"])
def test_a_host_that_is_no_host_name_is_refused_before_anything_is_done(
        server: ThrowawayServer, host: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = _roles_and_databases(server)
    monkeypatch.setenv("CASELOAD_NEW_PASSWORD", APP_PASSWORD)
    code, out, err = run(capsys, "server", "init", "--admin-url", server.admin_url(), "--name", "hostdb",
                         "--app-role", "host_app", "--host", host)
    assert code == 1 and out == "" and "--host must be the server's name or address" in err
    assert _roles_and_databases(server) == before
