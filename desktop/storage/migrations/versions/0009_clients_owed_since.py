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

Only columns that can be NULL and indexes: SQLite adds them without rebuilding the
table. Going back drops them.
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


def downgrade() -> None:
    for column, _flag, index in STAMPS:
        op.drop_index(index, table_name="clients")
        # SQLite drops a column in place (3.35 and later) when no index or constraint names it.
        op.execute(f"ALTER TABLE clients DROP COLUMN {column}")
