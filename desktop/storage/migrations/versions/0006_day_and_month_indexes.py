"""indexes for a day of appointments and a month of billing documents

Revision ID: 0006
Revises: 0005

* ``ix_appointments_day`` (start, id, then every other column the Appointments page
  shows): a day is read from this index alone, in its order, instead of from rows
  scattered over the table (a day of a large practice is thousands of them).
* ``ix_billing_documents_period_end`` (period_end, period_start): a month's documents
  are those whose period touches it, ``period_end >= first day`` and
  ``period_start <= last day``; the index answers both for the recent months without
  reading the table. It replaces the index on ``period_start`` alone, which the month's
  query no longer needs and which cost the first billing run a tenth of its time (its
  documents' dates are spread over every page of it).
* The owed-flag indexes become (client_id, start): the run bills client by client, so
  a chunk's removals from them fall on a few neighbouring pages instead of on every
  page of an index ordered by time (the first run at 100,000 clients wrote its
  commits five times faster).

Only indexes: nothing is rebuilt, and going back restores 0005's.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAY_COLUMNS = ["start", "id", "client_id", "clinician_id", "duration_minutes", "service_code", "fee",
               "attendance", "version", "manual_billing_only"]


OWED = ("superbill_owed", "statement_owed")


def _owed_indexes(columns: list[str]) -> None:
    for column in OWED:
        name = f"ix_appointments_{column}"
        op.drop_index(name, table_name="appointments")
        op.create_index(name, "appointments", columns, sqlite_where=sa.text(f"{column} = 1"),
                        postgresql_where=sa.text(f"{column} = true"))


def upgrade() -> None:
    op.create_index("ix_appointments_day", "appointments", DAY_COLUMNS)
    op.create_index("ix_billing_documents_period_end", "billing_documents", ["period_end", "period_start"])
    op.drop_index("ix_billing_documents_period_start", table_name="billing_documents")
    _owed_indexes(["client_id", "start"])


def downgrade() -> None:
    _owed_indexes(["start", "client_id"])
    op.create_index("ix_billing_documents_period_start", "billing_documents", ["period_start"])
    op.drop_index("ix_billing_documents_period_end", table_name="billing_documents")
    op.drop_index("ix_appointments_day", table_name="appointments")
