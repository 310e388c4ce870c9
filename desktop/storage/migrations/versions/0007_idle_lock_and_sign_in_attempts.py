"""idle lock minutes, and failed sign-in attempts on a server

Revision ID: 0007
Revises: 0006

* ``practice_settings.idle_lock_minutes``: how long the window waits without
  input before it warns and locks (1 to 60, 10 by default).
* ``sign_in_attempts``: failed sign-ins per username bucket, for throttling
  across the workstations of a PostgreSQL practice. A local file keeps them in
  a file beside it instead (an encrypted file cannot be written before someone
  signs in); the table exists there too, unused, so both schemas stay alike.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("practice_settings") as batch:
        batch.add_column(sa.Column("idle_lock_minutes", sa.Integer(), nullable=False, server_default="10"))
    op.create_table(
        "sign_in_attempts",
        sa.Column("bucket", sa.String(16), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_failure", sa.Float(), nullable=True),
        sa.Column("unaudited", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("sign_in_attempts")
    with op.batch_alter_table("practice_settings") as batch:
        batch.drop_column("idle_lock_minutes")
