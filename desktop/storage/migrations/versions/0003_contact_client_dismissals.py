"""remembered contact/client dismissals

Revision ID: 0003
Revises: 0002

``contact_client_dismissals`` remembers a contact and a client someone said are
not the same person, so the duplicates window stops offering to merge them, as
``duplicate_dismissals`` and ``contact_dismissals`` do within each kind.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_client_dismissals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["practice_users.id"],
                                name=op.f("fk_contact_client_dismissals_actor_id_practice_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"],
                                name=op.f("fk_contact_client_dismissals_client_id_clients"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name=op.f("fk_contact_client_dismissals_contact_id_contacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_client_dismissals")),
        sa.UniqueConstraint("contact_id", "client_id", name="contact_client_pair"),
    )
    with op.batch_alter_table("contact_client_dismissals") as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_client_dismissals_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_client_dismissals_client_id"), ["client_id"], unique=False)


def downgrade() -> None:
    op.drop_table("contact_client_dismissals")
