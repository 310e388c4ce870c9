"""when each client's owed documents began, for the billing run to start from

Revision ID: 0009
Revises: 0008

* ``clients`` gains ``owes_superbill_since`` and ``owes_statement_since``: the start
  (UTC) of the client's earliest appointment still owed a superbill, or a statement;
  NULL when none is. Filled here from the appointments' owed flags.
* ``ix_clients_owes_superbill`` and ``ix_clients_owes_statement`` (status, then the
  stamp; only clients that owe something): the automatic run finds the active clients
  with something due, and counts the inactive ones it skips, from these alone. Before,
  every run grouped every owed appointment, those of inactive clients included: 2.5 s
  at a million clients with nothing due.

* A trigger on ``appointments`` brings a client's stamp forward whenever a row comes to
  owe something earlier than it says: the database's own guarantee that no debt is missed
  by the run, whoever wrote the row (a workstation still running the previous version
  while another upgraded the practice, a repair made by hand). It only ever moves a stamp
  earlier; the controllers move it later, as debts are settled, under the billing lock.

Only columns that can be NULL, indexes and a trigger: SQLite adds them without
rebuilding the table. Going back drops them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMPS = (("owes_superbill_since", "superbill_owed", "ix_clients_owes_superbill"),
          ("owes_statement_since", "statement_owed", "ix_clients_owes_statement"))


def _earlier(row: str, flag: str, column: str, true: str) -> str:
    """The stamp ``column`` brought forward to ``row``'s start if ``row`` owes by ``flag``."""
    return (f"{column} = CASE WHEN {row}.{flag} = {true} AND ({column} IS NULL OR {column} > {row}.start) "
            f"THEN {row}.start ELSE {column} END")


def _sets(row: str, true: str) -> str:
    return ", ".join(_earlier(row, flag, column, true) for column, flag, _index in STAMPS)


# After an insert, or a change of what a row owes, when, or whose it is; a row that owes
# nothing (what the billing run leaves behind) does not touch the client.
SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER appointments_owed_since_{event} AFTER {on} ON appointments "
    "WHEN NEW.superbill_owed = 1 OR NEW.statement_owed = 1 BEGIN "
    f"UPDATE clients SET {_sets('NEW', '1')} WHERE id = NEW.client_id; END"
    for event, on in (("insert", "INSERT"),
                      ("update", "UPDATE OF superbill_owed, statement_owed, start, client_id")))
SQLITE_TRIGGER_NAMES = ("appointments_owed_since_insert", "appointments_owed_since_update")
POSTGRESQL_TRIGGERS = (
    f"""CREATE FUNCTION appointments_owed_since() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.superbill_owed OR NEW.statement_owed THEN
            UPDATE clients SET {_sets('NEW', 'true')} WHERE id = NEW.client_id;
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER appointments_owed_since AFTER INSERT OR UPDATE OF superbill_owed, statement_owed, start, "
    "client_id ON appointments FOR EACH ROW EXECUTE FUNCTION appointments_owed_since()",
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column, flag, index in STAMPS:
        op.add_column("clients", sa.Column(column, sa.DateTime(), nullable=True))
        # "= 1" / "= true" word for word as the owed indexes' condition, so the grouping reads them.
        op.execute(f"UPDATE clients SET {column} = owed.since FROM (SELECT client_id, min(start) AS since "
                   f"FROM appointments WHERE {flag} = {'1' if sqlite else 'true'} GROUP BY client_id) AS owed "
                   "WHERE clients.id = owed.client_id")
        op.create_index(index, "clients", ["status", column], sqlite_where=sa.text(f"{column} IS NOT NULL"),
                        postgresql_where=sa.text(f"{column} IS NOT NULL"))
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER {name}")
    else:
        op.execute("DROP TRIGGER appointments_owed_since ON appointments")
        op.execute("DROP FUNCTION appointments_owed_since()")
    for column, _flag, index in STAMPS:
        op.drop_index(index, table_name="clients")
        # SQLite drops a column in place (3.35 and later) when no index or constraint names it.
        op.execute(f"ALTER TABLE clients DROP COLUMN {column}")
