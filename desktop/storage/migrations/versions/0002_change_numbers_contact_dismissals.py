"""change numbers for the open lists; remembered contact dismissals

Revision ID: 0002
Revises: 0001

Clients and contacts get ``change_seq``, the number of the transaction that
last wrote them, and ``change_counter`` holds the last number given out. Open
lists used to follow ``updated_at``; the demo of earlier versions stamped rows
in the local time zone, hours in the future of the UTC stamps real changes get,
which hid those changes. Such stamps are brought back to now.

``pending_erasure`` marks a deletion whose data may still be in the SQLite
file until a checkpoint can run. ``audit_events.operation_id`` names the operation that wrote each row, so a
commit whose connection died can be looked up. ``contact_dismissals`` remembers contact pairs someone said are not the same
person, as ``duplicate_dismissals`` does for clients.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = {"sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')", "postgresql": "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"}


def upgrade() -> None:
    op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_counter")),
    )
    op.execute("INSERT INTO change_counter (id, value) VALUES (1, 0)")
    now = NOW[op.get_bind().dialect.name]
    for table in ("clients", "contacts"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
            batch_op.create_index(batch_op.f(f"ix_{table}_change_seq"), ["change_seq"], unique=False)
        op.execute(f"UPDATE {table} SET updated_at = {now} WHERE updated_at > {now}")

    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.add_column(sa.Column("operation_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_operation_id"), ["operation_id"], unique=False)
    op.create_table(
        "pending_erasure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_erasure")),
    )
    op.create_table(
        "contact_dismissals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("other_contact_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("contact_id < other_contact_id", name=op.f("ck_contact_dismissals_ordered")),
        sa.ForeignKeyConstraint(["actor_id"], ["practice_users.id"],
                                name=op.f("fk_contact_dismissals_actor_id_practice_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name=op.f("fk_contact_dismissals_contact_id_contacts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["other_contact_id"], ["contacts.id"],
                                name=op.f("fk_contact_dismissals_other_contact_id_contacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_dismissals")),
        sa.UniqueConstraint("contact_id", "other_contact_id", name="contact_pair"),
    )
    with op.batch_alter_table("contact_dismissals") as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_dismissals_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_dismissals_other_contact_id"), ["other_contact_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_operation_id"))
        batch_op.drop_column("operation_id")
    op.drop_table("pending_erasure")
    op.drop_table("contact_dismissals")
    for table in ("contacts", "clients"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_change_seq"))
            batch_op.drop_column("change_seq")
    op.drop_table("change_counter")
