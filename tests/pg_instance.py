"""A throw-away PostgreSQL server for tests that need one in another state than the machine's.

``initdb`` into a fresh temporary folder, a free port on 127.0.0.1, and optionally TLS with a
certificate signed by a root made here with ``cryptography`` (``root_cert``); ``other_root`` is
a root that signed nothing, for the "wrong root" case. ``stop()`` and ``start()`` take the
server away and bring it back on the same port, for lost-connection tests. The machine's own
cluster is never touched.

``postgres`` connects with trust; every other role needs its password (scram-sha-256), as on a
clinic's server. When the tests run as root, the server runs as the ``postgres`` account (initdb
refuses root).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import URL


def _newest_server_binaries() -> Path:
    """Debian's newest installed PostgreSQL (``CASELOAD_TEST_PG_BIN`` names another folder)."""
    if os.environ.get("CASELOAD_TEST_PG_BIN"):
        return Path(os.environ["CASELOAD_TEST_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _newest_server_binaries()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def make_root(common_name: str) -> tuple[bytes, object]:
    """A self-signed root certificate (PEM) and its private key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), key


def make_server_cert(root_pem: bytes, root_key: object, hosts: list[str]) -> tuple[bytes, bytes]:
    """A server certificate for ``hosts`` (names and IP addresses) signed by the root; PEMs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root = x509.load_pem_x509_certificate(root_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(root.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(root_key, hashes.SHA256()))  # type: ignore[arg-type]
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class ThrowawayServer:
    """One PostgreSQL server of the test's own, in a temporary folder, removed by ``destroy``."""

    def __init__(self, *, tls: bool, log_statements: bool = False) -> None:
        self.tls = tls
        self.log_statements = log_statements  # every statement into data/server.log
        self.folder = Path(tempfile.mkdtemp(prefix="caseload-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.root_cert = self.folder / "root.crt"
        self.other_root = self.folder / "other-root.crt"
        self.running = False
        self._init()
        self.start()

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _init(self) -> None:
        self.folder.chmod(0o755)
        self.data.mkdir(mode=0o700)
        self._chown(self.data)
        subprocess.run([*_as_server_user(), str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                        "--locale=C.UTF-8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.data}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "shared_buffers = 16MB",
            "max_connections = 40",
        ]
        hba = [
            "local all all trust",
            "host all postgres 127.0.0.1/32 trust",
            "host all all 127.0.0.1/32 scram-sha-256",
        ]
        if self.log_statements:
            settings += ["log_statement = 'all'"]
        if self.tls:
            root_pem, root_key = make_root("Caseload test root")
            cert_pem, key_pem = make_server_cert(root_pem, root_key, ["localhost", "127.0.0.1"])
            self.root_cert.write_bytes(root_pem)
            self.other_root.write_bytes(make_root("Someone else's root")[0])
            (self.data / "server.crt").write_bytes(cert_pem)
            key_file = self.data / "server.key"
            key_file.write_bytes(key_pem)
            key_file.chmod(0o600)
            for path in (self.data / "server.crt", key_file):
                self._chown(path)
            settings += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        self._chown(self.data / "pg_hba.conf")

    def start(self) -> None:
        subprocess.run([*_as_server_user(), str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                        "-l", str(self.data / "server.log"), "start"],
                       check=True, capture_output=True, timeout=90)
        self.running = True

    def stop(self, *, mode: str = "fast") -> None:
        """Take the server away (``immediate``: as if it crashed; ``fast``: a clean shutdown)."""
        subprocess.run([*_as_server_user(), str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                        "-m", mode, "stop"], check=True, capture_output=True, timeout=90)
        self.running = False

    def url(self, *, user: str = "postgres", password: str | None = None, database: str = "postgres",
            **query: str) -> str:
        """A SQLAlchemy URL for this server (``query``: sslmode, sslrootcert, …)."""
        return URL.create("postgresql+psycopg", username=user, password=password, host="127.0.0.1",
                          port=self.port, database=database, query=query).render_as_string(hide_password=False)

    def admin_url(self, database: str = "postgres") -> str:
        mode = {"sslmode": "verify-full", "sslrootcert": str(self.root_cert)} if self.tls else {"sslmode": "disable"}
        return self.url(database=database, **mode)

    def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop(mode="immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_until(condition, timeout: float = 10.0, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())
