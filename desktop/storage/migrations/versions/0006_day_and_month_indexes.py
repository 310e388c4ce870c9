"""indexes for a day of appointments and a month of billing documents

Revision ID: 0006
Revises: 0005

* ``ix_appointments_day`` (start, id, then every other column the Appointments page
  shows): a day is read from this index alone, in its order, instead of from rows
  scattered over the table (a day of a large practice is thousands of them).
* ``ix_billing_documents_period_end`` (period_end, period_start): a month's documents
  are those whose period touches it, ``period_end >= first day`` and
  ``period_start <= last day``; the index answers both for the recent months without
  reading the table.

Only indexes: nothing is rebuilt, and going back drops them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAY_COLUMNS = ["start", "id", "client_id", "clinician_id", "duration_minutes", "service_code", "fee",
               "attendance", "version", "manual_billing_only"]


def upgrade() -> None:
    op.create_index("ix_appointments_day", "appointments", DAY_COLUMNS)
    op.create_index("ix_billing_documents_period_end", "billing_documents", ["period_end", "period_start"])


def downgrade() -> None:
    op.drop_index("ix_billing_documents_period_end", table_name="billing_documents")
    op.drop_index("ix_appointments_day", table_name="appointments")
