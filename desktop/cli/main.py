"""``caseload``: the window with no subcommand, scripting and administration with one.

Every subcommand goes through the same controllers as the window. A refused or
invalid command prints one line on stderr, exits non-zero, and changes nothing.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import getpass
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from desktop import __version__
from desktop.controllers.audit_log import (
    CSV_TITLES,
    AuditFilter,
    csv_row,
    outcome_words,
    parse_anchor,
    verdict_text,
)
from desktop.controllers.audit_log import (
    KINDS as AUDIT_KINDS,
)
from desktop.controllers.errors import CaseloadError, InvalidDatabaseUrl, InvalidInput, NotSignedIn
from desktop.controllers.permissions import Action, Actor
from desktop.controllers.validation import has_undecodable, printable
from desktop.domain.models import Outcome

if TYPE_CHECKING:
    from desktop.controllers.practice import Practice

LARGEST_COUNT = 10_000_000
EXIT_BUG = 70  # EX_SOFTWARE
DEMO_PASSWORD = "demo"  # published: the demo practice is fictional
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_LIKELY_DUPLICATE = 3  # `clients add` of someone who looks already there (see --allow-duplicate)
EXIT_TAMPERED = 4  # `audit verify`: the audit log is not intact
LIST_COLUMNS = ("id", "first_name", "last_name", "date_of_birth", "email", "phone", "status",
                "clinician")
ATTENDANCE = ("scheduled", "attended", "no-show", "late-cancel", "cancelled")
# `appointments list --format json`: exactly these keys (the contract), in this order.
APPOINTMENT_KEYS = ("id", "client_id", "start", "minutes", "service", "fee", "clinician", "attendance")


class CliError(Exception):
    """A problem with how the command was called, reported like a refusal."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr like every other refusal."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"caseload: {printable(message)} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 30:
        raise argparse.ArgumentTypeError(f"{printable(text)!r} is not a whole number")
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    if value > LARGEST_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {LARGEST_COUNT:,}")
    return value


MAX_ID = 2**63 - 1


def _record_id(text: str) -> int:
    """An id as typed: a whole number from 1 to 2⁶³−1 (what either database can hold)."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{printable(text)!r} is not an id (a whole number)")
    value = int(text)
    if not 1 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"{value} is not an id (ids run from 1 to {MAX_ID})")
    return value


def _day(text: str) -> str:
    """A calendar day as typed: YYYY-MM-DD, and one that exists (checked before anything opens)."""
    try:
        if not (len(text) == 10 and text.isascii() and text[4] == text[7] == "-"):
            raise ValueError
        dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{printable(text)[:40]!r} is not a day; use YYYY-MM-DD, "
                                         "as in 2026-11-26") from None
    return text


def _month(text: str) -> str:
    """A month as typed: YYYY-MM."""
    if not (len(text) == 7 and text[4] == "-" and text[:4].isascii() and text[:4].isdigit()
            and text[5:].isascii() and text[5:].isdigit() and 1 <= int(text[5:]) <= 12
            and int(text[:4]) >= 1):
        raise argparse.ArgumentTypeError(f"{printable(text)[:40]!r} is not a month; use YYYY-MM, "
                                         "as in 2026-10")
    return text


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser, built once per process (a script calling ``main`` often pays once)."""
    return build_parser()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="caseload",
        description="Caseload keeps a practice's roster of clients. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"caseload {__version__}")
    parser.add_argument("--database", metavar="URL",
                        help="sqlite:///FILE or postgresql+psycopg://user@host/db "
                             "(default: $CASELOAD_DATABASE_URL, else the local data file)")
    parser.add_argument("--self-test", action="store_true",
                        help="check without a window that this installation works, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(parent: Any, name: str, func: Callable[..., int], help_text: str,
                *, changes: bool = False) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--database", metavar="URL", default=argparse.SUPPRESS,
                       help="database URL (as for caseload itself)")
        if changes:
            p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                           help="who is doing this; password from $CASELOAD_PASSWORD or a prompt")
        p.set_defaults(func=func, changes=changes)
        return p

    p = command(sub, "check", cmd_check, "check the whole practice file for damage (SQLite's integrity check)")
    p.add_argument("--as", dest="as_user", metavar="USERNAME",
                   help="an encrypted practice file is checked once someone signs in")
    p = command(sub, "encrypt", cmd_encrypt,
                "encrypt a plain practice file in place, with a key file beside it; every user keeps "
                "their password (Account Owner)")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="the Account Owner; password from $CASELOAD_PASSWORD or a prompt")
    p = command(sub, "backup", cmd_backup,
                "write a consistent copy of the practice file (encrypted, with its key file beside it) "
                "while Caseload may be running")
    p.add_argument("--out", required=True, metavar="FILE", help="the new backup file, such as "
                   "caseload-2026-11-26.db (its key file is written beside it as caseload-2026-11-26.keys)")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is backing up (who may change practice settings); password as for changes")
    p = command(sub, "recover", cmd_recover,
                "set the Account Owner's password with the practice's recovery key (new password from "
                "$CASELOAD_NEW_PASSWORD or a prompt)")
    p.add_argument("--recovery-key", metavar="KEY",
                   help="the recovery key (else $CASELOAD_RECOVERY_KEY, else a prompt, which is better: "
                        "other accounts on this computer can see a command's arguments)")
    p.add_argument("--as", dest="as_user", metavar="USERNAME",
                   help="whose password to set, if the practice has several Account Owners")
    p = command(sub, "init", cmd_init, "create a new, empty practice and its Account Owner")
    p.add_argument("--owner", required=True, metavar="USERNAME", help="the Account Owner's username")
    p.add_argument("--display-name", help="the Account Owner's name as shown (default: the username)")
    p = command(sub, "demo", cmd_demo,
                "fill an empty database with a realistic demo practice (created if missing); the demo "
                "users' password is $CASELOAD_NEW_PASSWORD, else the published 'demo'")
    p.add_argument("--clients", type=_positive_int, default=1000)
    p.add_argument("--seed", type=_positive_int, default=1)

    clients = sub.add_parser("clients", help="list, add, show, change, export and delete clients")
    csub = clients.add_subparsers(dest="clients_command", metavar="ACTION", required=True)
    p = command(csub, "list", cmd_clients_list, "list clients", changes=False)
    p.add_argument("--status", choices=("active", "inactive", "all"), default="active")
    p.add_argument("--search", default="")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is looking (an own-clients clinician sees only theirs); password as for changes")
    p = command(csub, "add", cmd_clients_add, "add a client; prints the new id", changes=True)
    p.add_argument("--first", required=True)
    p.add_argument("--last", required=True)
    p.add_argument("--preferred")
    p.add_argument("--dob", metavar="YYYY-MM-DD")
    p.add_argument("--email")
    p.add_argument("--phone")
    p.add_argument("--address")
    p.add_argument("--clinician", metavar="USERNAME")
    p.add_argument("--allow-duplicate", action="store_true",
                   help="add the client even if it looks like one already there (exit 3 otherwise)")
    p = command(csub, "show", cmd_clients_show, "show one client's full record")
    p.add_argument("id", type=_record_id)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is looking; every look at a record is audited under their name")
    p = command(csub, "set-status", cmd_clients_set_status, "mark a client active or inactive",
                changes=True)
    p.add_argument("id", type=_record_id)
    p.add_argument("status", choices=("active", "inactive"))
    p.add_argument("--reason", choices=("discharged", "moved", "other"))
    p.add_argument("--note")
    p = command(csub, "delete", cmd_clients_delete,
                "permanently delete a client and every record of theirs", changes=True)
    p.add_argument("id", type=_record_id)
    p.add_argument("--confirm-name", required=True, metavar='"First Last"',
                   help="the client's first and last name exactly as shown (case-sensitive)")
    p = command(csub, "export", cmd_clients_export, "write a client's full record as JSON")
    p.add_argument("id", type=_record_id)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is looking; every look at a record is audited under their name")
    p = command(csub, "mark-duplicate", cmd_clients_mark_duplicate,
                "mark a client inactive as a duplicate of the profile to keep", changes=True)
    p.add_argument("id", type=_record_id, help="the duplicate profile")
    p.add_argument("--keep", type=_record_id, required=True, help="the profile to keep")
    p = command(csub, "duplicates", cmd_clients_duplicates, "list likely duplicate clients")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is looking; every look at a record is audited under their name")

    contacts = sub.add_parser("contacts", help="merge contacts, or a contact into a client")
    ksub = contacts.add_subparsers(dest="contacts_command", metavar="ACTION", required=True)
    p = command(ksub, "merge", cmd_contacts_merge, "merge contact OTHER_ID into KEEP_ID", changes=True)
    p.add_argument("keep_id", type=_record_id)
    p.add_argument("other_id", type=_record_id)
    p.add_argument("--take", action="append", default=[], metavar="FIELD",
                   help="take this field's value from OTHER_ID (repeatable)")

    p = command(ksub, "merge-into-client", cmd_contacts_merge_into_client,
                "merge contact CONTACT_ID into client CLIENT_ID (the contact turns out to be the client)",
                changes=True)
    p.add_argument("contact_id", type=_record_id)
    p.add_argument("client_id", type=_record_id)
    p.add_argument("--take", action="append", default=[], metavar="FIELD",
                   help="take this field's value from the contact (first_name, last_name, email, phone)")

    appointments = sub.add_parser("appointments", help="book appointments, mark attendance, list them")
    asub = appointments.add_subparsers(dest="appointments_command", metavar="ACTION", required=True)
    p = command(asub, "add", cmd_appointments_add,
                "book an appointment; prints the new id. Booking an inactive client or a clinician "
                "who already has an appointment then is allowed, with a warning on stderr",
                changes=True)
    p.add_argument("client_id", type=_record_id, metavar="CLIENT_ID")
    p.add_argument("--start", required=True, metavar='"YYYY-MM-DD HH:MM"',
                   help="on the practice's clock (its time zone in Practice settings)")
    p.add_argument("--minutes", metavar="N", help="how long (default: the service's minutes)")
    p.add_argument("--service", required=True, metavar="CODE", help="a service the practice offers")
    p.add_argument("--fee", metavar="AMOUNT", help="such as 150.00 (default: the service's fee)")
    p.add_argument("--clinician", metavar="USERNAME",
                   help="who sees the client (default: the client's clinician)")
    p = command(asub, "set", cmd_appointments_set, "mark what became of an appointment", changes=True)
    p.add_argument("id", type=_record_id)
    p.add_argument("attendance", choices=ATTENDANCE)
    p = command(asub, "list", cmd_appointments_list,
                "list appointments on the practice's clock: one day's (--date), one client's "
                "(--client), or that client's on that day; with neither, today's (a practice keeps "
                "millions, so there is no list of them all)")
    p.add_argument("--date", type=_day, metavar="YYYY-MM-DD")
    p.add_argument("--client", type=_record_id, metavar="ID")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is looking (an own-clients clinician sees only theirs); password as for "
                        "changes")

    billing = sub.add_parser("billing", help="the billing run, and superbills and statements")
    bsub = billing.add_subparsers(dest="billing_command", metavar="ACTION", required=True)
    p = command(bsub, "run", cmd_billing_run, "create superbills and statements owed", changes=True)
    p.add_argument("--through", metavar="YYYY-MM-DD")
    p = command(bsub, "documents", cmd_billing_documents,
                "list superbills and statements, newest period first")
    p.add_argument("--client", type=_record_id, metavar="ID")
    p.add_argument("--kind", choices=("superbill", "statement"))
    p.add_argument("--period", type=_month, metavar="YYYY-MM",
                   help="documents whose period or dates of service fall in this month")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is looking; password from $CASELOAD_PASSWORD or a prompt")
    p = command(bsub, "document", cmd_billing_document,
                "write one superbill or statement as a PDF (readable only by you); opening it is "
                "audited on its client")
    p.add_argument("id", type=_record_id)
    p.add_argument("--out", required=True, metavar="FILE.pdf")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is looking; every look at a record is audited under their name")

    users = sub.add_parser("users", help="practice users")
    usub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    p = command(usub, "add", cmd_users_add, "add a practice user", changes=True)
    p.add_argument("username")
    p.add_argument("--role", required=True,
                   choices=("account_owner", "practice_manager", "clinician", "biller", "scheduler"))
    p.add_argument("--entire-practice", action="store_true")
    p.add_argument("--display-name")
    p = command(usub, "list", cmd_users_list, "list the practice's users (Account Owner only)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is looking; password from $CASELOAD_PASSWORD or a prompt")
    for name, func, text in (
            ("deactivate", cmd_users_deactivate, "stop a user signing in; their history stays"),
            ("reactivate", cmd_users_reactivate, "let a deactivated user sign in again"),
            ("reset-password", cmd_users_reset_password,
             "give a user a new password ($CASELOAD_NEW_PASSWORD or a prompt) to change at next sign-in")):
        p = command(usub, name, func, text, changes=True)
        p.add_argument("username")
    command(usub, "change-password", cmd_users_change_password,
            "change your own password (current from $CASELOAD_PASSWORD, new from $CASELOAD_NEW_PASSWORD, "
            "else prompts)", changes=True)

    p = command(sub, "audit", cmd_audit,
                "show the audit log, newest first (Account Owner, Practice Manager); "
                "`audit verify` checks it, `audit anchor` prints its head to keep elsewhere")
    p.add_argument("--client", metavar="ID", type=_record_id, help="only entries about this client")
    p.add_argument("--user", metavar="USERNAME", help="only what this user did")
    p.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="from this day (the practice's time zone)")
    p.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="to this day, inclusive")
    p.add_argument("--kind", choices=(*AUDIT_KINDS, "other"), help="only this kind of action")
    p.add_argument("--outcome", choices=("allowed", "refused"), help="only allowed, or only refused, actions")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--limit", type=_positive_int, metavar="N",
                   help="at most N entries (the table: 200 unless given; json and csv: every entry; 0: every entry)")
    p.add_argument("--as", dest="as_user", metavar="USERNAME",
                   help="who is looking; password from $CASELOAD_PASSWORD or a prompt")
    audit_sub = p.add_subparsers(dest="audit_command", metavar="ACTION")
    p = command(audit_sub, "verify", cmd_audit_verify,
                f"recompute the audit log's hash chain and check it against every anchor; exit 0 if intact, "
                f"{EXIT_TAMPERED} naming the first entry that fails")
    p.add_argument("--anchor", action="append", default=[], metavar="ENTRY:HASH",
                   help="also check against this anchor (as `audit anchor` printed it); may be repeated")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is checking; password from $CASELOAD_PASSWORD or a prompt")
    p = command(audit_sub, "anchor", cmd_audit_anchor,
                "print the audit log's head (entry number and hash) to keep somewhere else; "
                "`audit verify --anchor` checks the log against it later")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", required=True,
                   help="who is asking; password from $CASELOAD_PASSWORD or a prompt")
    server = sub.add_parser("server", help="set up or upgrade a clinic's PostgreSQL server (its administrator)",
                            description="Set up or upgrade the PostgreSQL server a clinic's workstations share; "
                                        "run by whoever administers it (README: Running a clinic server).")
    ssub = server.add_subparsers(dest="server_command", metavar="ACTION", required=True)
    for name, func, help_text in (
            ("init", cmd_server_init, "create the practice database, its schema and the application role "
                                      "workstations connect as (its password from $CASELOAD_NEW_PASSWORD or a "
                                      "prompt); safe to run again"),
            ("migrate", cmd_server_migrate, "upgrade the practice database's schema to this version's; "
                                            "workstations never do")):
        p = ssub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--admin-url", required=True, metavar="URL",
                       help="an administrator's URL, such as postgresql+psycopg://postgres@HOST/postgres "
                            "(add ?sslrootcert=ROOT.crt to check the server, or ?sslmode=disable on the "
                            "server itself without TLS)")
        p.add_argument("--name", default="caseload", help="the practice database's name (default: caseload)")
        p.add_argument("--app-role", default="caseload_app",
                       help="the role workstations connect as (default: caseload_app)")
        if name == "init":
            p.add_argument("--host", metavar="NAME",
                           help="the server's name as workstations reach it (default: the admin URL's host)")
        p.set_defaults(func=func, changes=False)
    return parser


# ---------------------------------------------------------------------- helpers

_opened: list[Practice] = []


def _open(args: argparse.Namespace, *, create: bool = False) -> Practice:
    """The practice named by --database (else the environment's, else the local file).

    Closed when the command ends (``main``), which also finishes an erasure a
    reader held up.
    """
    from desktop.controllers.practice import open_practice

    practice = open_practice(getattr(args, "database", None), create=create)
    _opened.append(practice)
    if getattr(args, "changes", False):
        # Damage found makes the change refuse, saying to restore a backup. An encrypted file
        # can be read only once someone has signed in: checked then (``_actor``).
        if practice.locked:
            _check_after_sign_in.add(id(practice))
        else:
            practice.check()
    return practice


_check_after_sign_in: set[int] = set()


def _password(prompt: str, env: str) -> str:
    if env in os.environ:
        return os.environ[env]
    if not sys.stdin or not sys.stdin.isatty():
        raise CliError(f"No password: set {env} or run in a terminal to be asked.")
    return getpass.getpass(prompt)


def _actor(practice: Practice, username: str | None) -> Actor:
    if not username:
        raise CliError("Say who you are with --as USERNAME.")
    signed = practice.access.sign_in(username, _password(f"Password for {username}: ", "CASELOAD_PASSWORD"))
    if signed.notice:
        print(f"caseload: {signed.notice}", file=sys.stderr)
    if id(practice) in _check_after_sign_in:
        _check_after_sign_in.discard(id(practice))
        practice.check()
    return signed.actor


def _say_recovery_key(recovery_key: str) -> None:
    print("Recovery key (shown only now): " + recovery_key)
    print("Write it down and keep it somewhere safe, away from this computer. With it, the Account "
          "Owner can set a new password (`caseload recover`); without a password or this key, nobody "
          "can open the practice file.")


TABLE_CELL = 40  # a cell shows at most this many columns of a terminal


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    cells = [[_fit(_cell(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [_columns(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(_pad(c.upper(), w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(_pad(text, w) for text, w in zip(row, widths, strict=True)).rstrip())


def _width(ch: str) -> int:
    return 0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def _columns(text: str) -> int:
    """How many terminal columns ``text`` takes: two for a wide (Chinese, Japanese) character,
    none for a combining mark, so that names in any script line up."""
    return sum(_width(ch) for ch in text)


def _fit(text: str) -> str:
    """``text`` in at most ``TABLE_CELL`` columns, ending in "…" where it was cut."""
    if _columns(text) <= TABLE_CELL:
        return text
    kept, used = [], 0
    for ch in text:
        if used + _width(ch) > TABLE_CELL - 1:
            break
        kept.append(ch)
        used += _width(ch)
    return "".join(kept) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _columns(text))


def _cell(value: Any) -> str:
    return "" if value is None else printable(str(value))


def _dump_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


# --------------------------------------------------------------------- commands

def cmd_check(args: argparse.Namespace) -> int:
    practice = _open(args)
    if practice.locked:
        if not args.as_user:
            raise CliError("The practice file is encrypted: say who you are with --as USERNAME to check it.")
        _actor(practice, args.as_user)
    problems = practice.check(full=True)
    if not problems:
        print(f"The practice at {practice.location} is sound.")
        return 0
    print(f"The practice at {practice.location} is damaged; restore it from a backup. "
          f"{len(problems)} problem(s) found:")
    for line in problems[:50]:
        print(f"  {printable(line)}")
    return EXIT_REFUSED


def cmd_init(args: argparse.Namespace) -> int:
    practice = _open(args, create=True)
    if practice.access.has_users():
        raise CliError(f"There is already a practice at {practice.location}; nothing was changed.")
    password = _password(f"Password for {args.owner}: ", "CASELOAD_NEW_PASSWORD")
    owner, recovery_key = practice.access.create_owner(args.owner, args.display_name or args.owner, password)
    print(f"New practice at {practice.location}; its Account Owner is {owner.username}.")
    if recovery_key is not None:
        print(f"The practice file is encrypted; keep its key file {practice.key_file} beside it and in "
              "every backup.")
        _say_recovery_key(recovery_key)
    return 0


def cmd_server_init(args: argparse.Namespace) -> int:
    from desktop.controllers.server import init_server

    def password() -> str:
        if "CASELOAD_NEW_PASSWORD" in os.environ:
            return os.environ["CASELOAD_NEW_PASSWORD"]
        first = _password(f"New password for {args.app_role}: ", "CASELOAD_NEW_PASSWORD")
        if getpass.getpass("The same password again: ") != first:
            raise CliError("The two passwords differ; nothing was changed.")
        return first

    report = init_server(args.admin_url, name=args.name, app_role=args.app_role, password=password,
                         public_host=args.host, echo=print)
    print()
    print("Workstations use this URL (in CASELOAD_DATABASE_URL, or with --database):")
    print(f"  {report.workstation_url}")
    print(f"and the password of {args.app_role}, in each workstation's ~/.pgpass (README: Running a clinic "
          "server), never in the URL.")
    if not report.tls:
        print("Warning: this server does not offer TLS, so workstations will refuse to connect until it does "
              "(README: Running a clinic server); add ?sslmode=disable to their URL only on a network "
              "nobody else can reach.")
    print("Then start the practice from the first workstation: open Caseload with that URL.")
    return 0


def cmd_server_migrate(args: argparse.Namespace) -> int:
    from desktop.controllers.server import migrate_server

    migrate_server(args.admin_url, name=args.name, app_role=args.app_role, echo=print)
    return 0


def cmd_encrypt(args: argparse.Namespace) -> int:
    practice = _open(args)
    if practice.encrypted:
        raise CliError(f"The practice file at {practice.location} is already encrypted; nothing was changed.")
    actor = _actor(practice, args.as_user)
    recovery_key = practice.access.encrypt(actor)
    print(f"The practice file at {practice.location} is now encrypted, with its key file beside it. "
          "Every user signs in with the password they have.")
    _say_recovery_key(recovery_key)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    written, keys = practice.access.backup(actor, Path(args.out))
    if keys is not None:
        print(f"Backup written: {written} and its key file {keys}. Keep the two together; the backup opens "
              "with the same passwords.")
    else:
        print(f"Backup written: {written}. The practice file is not encrypted, so neither is this backup; "
              "`caseload encrypt` encrypts the practice.")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    practice = _open(args)
    recovery_key = args.recovery_key or os.environ.get("CASELOAD_RECOVERY_KEY")
    if not recovery_key:
        recovery_key = _password("Recovery key: ", "CASELOAD_RECOVERY_KEY")
    password = _password("New password: ", "CASELOAD_NEW_PASSWORD")
    actor = practice.access.recover(recovery_key, password, args.as_user)
    print(f"{actor.display_name} ({actor.username}) has a new password; the recovery key still works.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    practice = _open(args, create=True)
    if practice.locked:
        raise CliError(f"The practice at {practice.location} is encrypted and already set up; the demo fills "
                       "only a new practice. Give --database a new file.")
    password = os.environ.get("CASELOAD_NEW_PASSWORD") or DEMO_PASSWORD
    started = time.perf_counter()
    report = practice.load_demo(clients=args.clients, seed=args.seed, password=password)
    told = "“demo”" if password == DEMO_PASSWORD else "the one in $CASELOAD_NEW_PASSWORD"
    print(f"Demo practice ready in {time.perf_counter() - started:.1f} s: {report.clients:,} clients, "
          f"{report.contacts:,} contacts, {report.appointments:,} appointments, "
          f"{report.billing_documents:,} billing documents. Users: "
          f"{', '.join(report.users_created) or '(already there)'}; password: {told}.")
    return 0


def cmd_clients_list(args: argparse.Namespace) -> int:
    practice = _open(args)
    rows = [r.as_json() for r in practice.clients.list_clients(
        _actor(practice, args.as_user), args.status, args.search)]
    rows = [{k: r[k] for k in LIST_COLUMNS} for r in rows]
    if args.format == "json":
        _dump_json(rows)
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=LIST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        _print_table(rows, LIST_COLUMNS)
    return 0


def cmd_clients_add(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    values = dict(first_name=args.first, last_name=args.last, preferred_name=args.preferred,
                  date_of_birth=args.dob, email=args.email, phone=args.phone, address=args.address)
    if args.clinician:
        values["clinician_id"] = args.clinician
    likely = practice.duplicates.likely_client_duplicates_of(actor, values)
    if likely and not args.allow_duplicate:
        ids = ", ".join(str(c.id) for c in likely)
        print(f"caseload: this looks like client{'s' if len(likely) > 1 else ''} {ids} already in the "
              "practice (see `caseload clients show ID`); nothing was added. Add it anyway with "
              "--allow-duplicate.", file=sys.stderr)
        return EXIT_LIKELY_DUPLICATE
    print(practice.clients.add_client(actor, seen_duplicates=[c.id for c in likely], **values))
    return 0


def cmd_clients_show(args: argparse.Namespace) -> int:
    practice = _open(args)
    data = practice.clients.get_client(_actor(practice, args.as_user), args.id).as_json()
    if args.format == "json":
        _dump_json(data)
        return 0
    print(f"{data['first_name']} {data['last_name']}  (client {data['id']}, {data['status']})")
    for key in ("preferred_name", "date_of_birth", "email", "phone", "address", "clinician",
                "inactive_reason", "duplicate_of"):
        if data.get(key) not in (None, ""):
            print(f"  {key.replace('_', ' ')}: {data[key]}")
    print(f"  portal: {'on' if data['portal']['portal_enabled'] else 'off'}, secure messaging: "
          f"{'on' if data['portal']['messaging_enabled'] else 'off'}")
    print(f"  {len(data['appointments'])} appointments, {len(data['billing_documents'])} billing "
          f"documents, {len(data['contacts'])} contacts, {len(data['status_history'])} status changes")
    return 0


def cmd_clients_set_status(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    practice.clients.set_status(actor, args.id, args.status, reason=args.reason, note=args.note)
    print(f"Client {args.id} is now {args.status}.")
    return 0


def cmd_clients_mark_duplicate(args: argparse.Namespace) -> int:
    practice = _open(args)
    practice.clients.mark_duplicate(_actor(practice, args.as_user), args.id, args.keep)
    print(f"Client {args.id} is now inactive as a duplicate of client {args.keep}.")
    return 0


def cmd_clients_delete(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    practice.when_erasure_waits(lambda: print(
        "Deleted; waiting a few seconds for another program reading the practice file "
        "(a Caseload window?) to let go, to erase the data from the file…", file=sys.stderr))
    impact = practice.clients.delete_client(actor, args.id, args.confirm_name)
    removed = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in impact.counts.items() if n)
    if practice.db.is_postgresql:
        print(f"Client {args.id} was deleted from the practice" + (f" with {removed}." if removed else ".")
              + " " + server_erasure_words(practice.db.wait_for_vacuum()))
        return 0
    if not impact.erased:
        print(f"Client {args.id} was deleted" + (f" with {removed}." if removed else ".")
              + " Some of the data stays in the practice file until the other program reading it "
              "(a Caseload window, or a backup or sqlite3 session) closes; the next Caseload to "
              "open the file then erases it.")
        return 0
    print(f"Client {args.id} was deleted permanently" + (f" with {removed}." if removed else "."))
    return 0


def server_erasure_words(vacuumed: bool | None) -> str:
    """After a deletion on a practice server: what is still on its disk (docs/rules.md)."""
    how = {True: "Caseload had the server VACUUM those tables, so it reuses the space sooner",
           False: "this role may not VACUUM them, so the server's automatic VACUUM does (set up by "
                  "`caseload server init` to come within minutes)",
           None: "whether the server has VACUUMed those tables yet is not known; its automatic VACUUM "
                 "will"}[vacuumed]
    return ("The server's disk keeps the deleted rows until PostgreSQL reuses their space: " + how
            + ". The clinic's server should keep its data on encrypted storage.")


def cmd_clients_export(args: argparse.Namespace) -> int:
    from desktop.controllers.files import write_private

    practice = _open(args)
    practice.clients.export_client(
        _actor(practice, args.as_user), args.id,
        deliver=lambda data: write_private(args.out, json.dumps(
            data, ensure_ascii=False, indent=2, default=str).encode("utf-8")))
    print(f"Wrote client {args.id}'s record to {args.out}.")
    return 0


def cmd_clients_duplicates(args: argparse.Namespace) -> int:
    practice = _open(args)
    pairs = practice.duplicates.find_client_duplicates(_actor(practice, args.as_user))
    rows = [p.as_json() for p in pairs]
    if args.format == "json":
        _dump_json(rows)
    else:
        _print_table([{**p.as_json(), "reasons": "; ".join(p.reasons)} for p in pairs],
                     ("left_id", "left_name", "right_id", "right_name", "score", "reasons"))
    return 0


def cmd_contacts_merge(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    practice.contacts.merge_contacts(actor, args.keep_id, args.other_id,
                                          {f: "other" for f in args.take})
    print(f"Contact {args.other_id} was merged into contact {args.keep_id}.")
    return 0


def cmd_contacts_merge_into_client(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    practice.contacts.merge_contact_into_client(actor, args.client_id, args.contact_id,
                                                {f: "other" for f in args.take})
    print(f"Contact {args.contact_id} was merged into client {args.client_id}.")
    return 0


def cmd_appointments_add(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    appointments = practice.appointments
    new_id = appointments.book(actor, args.client_id, args.start, minutes=args.minutes,
                               service_code=args.service, fee=args.fee, clinician_id=args.clinician)
    print(new_id, flush=True)
    # Booked: now say what the window would have warned about (docs/rules.md, "Appointments":
    # neither an inactive client nor a double-booked clinician blocks a booking).
    try:
        row = appointments.find(actor, new_id)
        warned = appointments.warnings(actor, row.client_id, row.start, row.minutes,
                                       row.clinician_id, appointment_id=new_id)
    except CaseloadError:
        warned = []  # the booking stands; a warning that cannot be worked out is not a refusal
    for warning in warned:
        print(f"Warning: {printable(warning.text)}", file=sys.stderr)
    return 0


def cmd_appointments_set(args: argparse.Namespace) -> int:
    practice = _open(args)
    practice.appointments.set_attendance(_actor(practice, args.as_user), args.id, args.attendance)
    print(f"Appointment {args.id} is now {args.attendance}.")
    return 0


def cmd_appointments_list(args: argparse.Namespace) -> int:
    from desktop.domain import clock

    practice = _open(args)
    actor = _actor(practice, args.as_user)
    day = dt.date.fromisoformat(args.date) if args.date else None
    if day is None and args.client is None:
        day = clock.today(practice.settings.settings(actor).zone)
    rows = practice.appointments.listing(actor, day=day, client_id=args.client)
    if args.format == "json":
        _dump_json([{k: r.as_json()[k] for k in APPOINTMENT_KEYS} for r in rows])
        return 0
    _print_table([{"id": r.id, "start": f"{r.start:%Y-%m-%d %H:%M}", "client": r.client_name,
                   "client_id": r.client_id, "clinician": r.clinician_name, "service": r.service_code,
                   "minutes": r.minutes, "fee": r.fee, "attendance": r.attendance.label}
                  for r in rows],
                 ("id", "start", "client", "client_id", "clinician", "service", "minutes", "fee",
                  "attendance"))
    return 0


def cmd_billing_run(args: argparse.Namespace) -> int:
    practice = _open(args)
    report = practice.billing.run_billing(_actor(practice, args.as_user), args.through,
                                         progress=_progress_on_terminal("Billing"))
    print(f"Created {report.documents_created} billing documents for {report.appointments_billed} "
          f"appointments of {report.clients_billed} clients; skipped "
          f"{report.inactive_clients_skipped} inactive clients; "
          f"{report.held_for_manual_billing} appointments from inactive periods left for manual billing.")
    return 0


def _progress_on_terminal(what: str) -> Callable[[int, int], None] | None:
    """A progress line on stderr for a person watching a long run; nothing for a script."""
    if not (sys.stderr and sys.stderr.isatty()):
        return None
    import time

    shown = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - shown[0] < 0.5:
            return
        shown[0] = now
        end = "\r\033[K" if done >= total else ""
        print(f"\r{what}: {done:,} of {total:,} clients…{end}", end="", file=sys.stderr, flush=True)

    return progress


def cmd_billing_documents(args: argparse.Namespace) -> int:
    practice = _open(args)
    rows = practice.billing.documents(_actor(practice, args.as_user), month=args.period, kind=args.kind,
                                      client_id=args.client, with_dates=True)
    if args.format == "json":
        _dump_json([r.as_json() for r in rows])
        return 0
    _print_table([{"id": r.id, "kind": r.kind.value, "client": r.client_name, "client_id": r.client_id,
                   "period": r.period, "amount": r.amount,
                   "made": "automatically" if r.automatic else "by hand",
                   "created": f"{r.created_at:%Y-%m-%d %H:%M}"} for r in rows],
                 ("id", "kind", "client", "client_id", "period", "amount", "made", "created"))
    return 0


def cmd_billing_document(args: argparse.Namespace) -> int:
    from desktop.render.billing_document import write_pdf

    practice = _open(args)
    written: list[Path] = []
    view = practice.billing.document(_actor(practice, args.as_user), args.id, purpose="pdf",
                                     deliver=lambda v: written.append(write_pdf(v, args.out)))
    print(f"Wrote {view.kind.value} {view.id} to {printable(str(written[0]))}.")
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    # Someone who may not add users is refused (and audited) by the controller
    # without first being asked to invent a password for the new user.
    password = (_password(f"Password for {args.username}: ", "CASELOAD_NEW_PASSWORD")
                if actor.can(Action.MANAGE_USERS, any_client=True) else "")
    user_id = practice.users.add_user(actor, args.username, args.role, password,
                                           display_name=args.display_name,
                                           entire_practice=args.entire_practice)
    print(user_id)
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    practice = _open(args)
    rows = [row.as_json() for row in practice.users.users(_actor(practice, args.as_user))]
    if args.format == "json":
        _dump_json(rows)
    else:
        _print_table([{**r, "last_sign_in": r["last_sign_in"] or "never"} for r in rows],
                     ("username", "display_name", "role", "entire_practice", "active", "last_sign_in"))
    return 0


def cmd_users_deactivate(args: argparse.Namespace) -> int:
    practice = _open(args)
    practice.users.deactivate(_actor(practice, args.as_user), args.username)
    print(f"{args.username} can no longer sign in; their history stays.")
    return 0


def cmd_users_reactivate(args: argparse.Namespace) -> int:
    practice = _open(args)
    practice.users.reactivate(_actor(practice, args.as_user), args.username)
    print(f"{args.username} can sign in again.")
    return 0


def cmd_users_reset_password(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    password = (_password(f"New password for {args.username}: ", "CASELOAD_NEW_PASSWORD")
                if actor.can(Action.MANAGE_USERS, any_client=True) else "")
    practice.users.reset_password(actor, args.username, password)
    print(f"{args.username} has a new password, to be changed when they next sign in.")
    return 0


def cmd_users_change_password(args: argparse.Namespace) -> int:
    practice = _open(args)
    username = args.as_user
    current = _password(f"Current password for {username}: ", "CASELOAD_PASSWORD")
    # Through the one door: throttled, counted, and unlocking an encrypted file.
    signed = practice.access.sign_in(username or "", current)
    if signed.notice:
        print(f"caseload: {signed.notice}", file=sys.stderr)
    actor = signed.actor
    new = _password("New password: ", "CASELOAD_NEW_PASSWORD")
    practice.users.change_password(actor, current, new)
    print("Your password was changed.")
    return 0


def _audit_filter(args: argparse.Namespace) -> AuditFilter:
    return AuditFilter(
        username=args.user, client=f"#{args.client}" if args.client else "", kind=args.kind,
        outcome=None if args.outcome is None else Outcome.ALLOWED if args.outcome == "allowed" else Outcome.DENIED,
        since=dt.date.fromisoformat(args.since) if args.since else None,
        until=dt.date.fromisoformat(args.until) if args.until else None)


AUDIT_COLUMNS = ("seq", "time", "user", "what", "client", "outcome")


def cmd_audit(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    where = _audit_filter(args)
    if args.format == "table":
        limit = 200 if args.limit is None else args.limit or None
        shown = 0
        rows = []
        for entry in _audit_entries(practice, actor, where, limit):
            rows.append({"seq": entry.seq, "time": entry.local, "user": entry.user, "what": entry.what,
                         "client": entry.client, "outcome": outcome_words(entry.outcome)})
            shown += 1
        _print_table(rows, AUDIT_COLUMNS)
        if args.limit is None and shown == 200:
            print("caseload: the newest 200 entries; --limit N shows more (0: every entry).", file=sys.stderr)
        return 0
    limit = args.limit or None

    def deliver(entries: Any) -> int:
        written = 0
        if args.format == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(CSV_TITLES)
        else:
            sys.stdout.write("[")
        for entry in entries:
            if limit is not None and written >= limit:
                break
            if args.format == "csv":
                writer.writerow(csv_row(entry))
            else:
                sys.stdout.write(("," if written else "") + "\n  " + json.dumps(
                    entry.as_json(), ensure_ascii=False, default=str))
            written += 1
        if args.format == "json":
            sys.stdout.write("\n]\n" if written else "]\n")
        return written

    practice.audit.export(actor, where, deliver)
    return 0


def _audit_entries(practice: Practice, actor: Actor, where: AuditFilter, limit: int | None) -> Any:
    """Entries newest first, a page at a time, at most ``limit``."""
    before, given = None, 0
    while limit is None or given < limit:
        page = practice.audit.entries(actor, where, before=before,
                                      limit=min(1_000, limit - given) if limit else 1_000)
        yield from page
        given += len(page)
        if len(page) < (min(1_000, limit - given + len(page)) if limit else 1_000) or not page:
            return
        before = page[-1].seq


def cmd_audit_verify(args: argparse.Namespace) -> int:
    practice = _open(args)
    actor = _actor(practice, args.as_user)
    typed = [parse_anchor(text) for text in args.anchor]
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            print(f"\rChecked {done:,} of {total:,} entries…", end="", file=sys.stderr, flush=True)

    try:
        verdict = practice.audit.verify(actor, typed, progress)
    finally:
        if tty:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
    if verdict.intact:
        print(verdict_text(verdict))
        return 0
    print(verdict_text(verdict))
    return EXIT_TAMPERED


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    practice = _open(args)
    head = practice.audit.anchor(_actor(practice, args.as_user))
    print(f"Audit log head: entry {head.seq:,}, taken {head.taken:%Y-%m-%d %H:%M} UTC")
    print(f"Anchor: {head.text}")
    print("Keep this anchor somewhere this computer cannot change (on paper, in the clinic's mail). "
          "`caseload audit verify --anchor ENTRY:HASH` checks the log against it"
          + (" (it is kept on this computer too)." if head.kept else "."))
    return 0


def run_gui(args: argparse.Namespace) -> int:
    from desktop.system_check import window_problem

    problem = window_problem()
    if problem:
        raise CliError(problem)
    from desktop.ui.app import run

    return run(getattr(args, "database", None))


def run_self_test(args: argparse.Namespace) -> int:
    from desktop.selftest import self_test

    return self_test()


def _run_and_close(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return func(args)
    finally:
        while _opened:
            _opened.pop().close()


NOT_UTF8 = "caseload: the command line holds bytes that are not UTF-8 text; nothing was changed."


def _refuse(message: str, code: int) -> int:
    print(f"caseload: {printable(message)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    settings = [os.environ.get(name, "") for name in
                ("CASELOAD_PASSWORD", "CASELOAD_NEW_PASSWORD", "CASELOAD_DATABASE_URL",
                 "CASELOAD_RECOVERY_KEY")]
    if any(has_undecodable(word) for word in words + settings):
        print(NOT_UTF8, file=sys.stderr)
        return EXIT_USAGE
    args = _parser().parse_args(words)
    func = getattr(args, "func", None)
    if func is None:
        func = run_self_test if args.self_test else run_gui
    try:
        return _run_and_close(func, args)
    except (NotSignedIn, InvalidInput, InvalidDatabaseUrl, CliError) as exc:
        return _refuse(str(exc), EXIT_USAGE if isinstance(exc, (CliError, InvalidDatabaseUrl)) else EXIT_REFUSED)
    except CaseloadError as exc:
        return _refuse(str(exc), EXIT_REFUSED)
    except BrokenPipeError:
        # The reader (`| head`) has gone; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("caseload: interrupted; nothing more was changed.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: logged whole, told in one line, never a traceback
        where = _log_unexpected()
        return _refuse(f"unexpected error ({type(exc).__name__}); what was done is unknown: check "
                       f"before trying again. Details are in {where}.", EXIT_BUG)


def _log_unexpected() -> str:
    import logging

    import platformdirs

    folder = Path(platformdirs.user_log_dir("Caseload", "Caseload"))
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        logging.basicConfig(filename=str(folder / "caseload.log"), level=logging.WARNING,
                            format="%(asctime)s %(levelname)s %(message)s")
        logging.exception("Unexpected error on the command line")
    except OSError:
        return "no log (the log folder could not be written)"
    return str(folder / "caseload.log")
