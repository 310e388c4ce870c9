"""the audit log as an append-only hash chain

Revision ID: 0008
Revises: 0007

* ``audit_events`` gains ``seq`` (its place in the log, 1, 2, 3… with no gaps),
  ``prev_hash`` and ``row_hash`` (``desktop.storage.audit_chain``). The rows a
  database already has are chained here in the order they were written (id).
* ``audit_chain_head``: one row, the newest entry's number and hash, which every
  writer locks to append.
* Indexes for the Audit log window's filters, newest first: by client, user,
  action and outcome, each with ``seq``.
* Triggers refuse UPDATE and DELETE on ``audit_events`` (and TRUNCATE on
  PostgreSQL). Rebuilding the table (SQLite's batch mode) drops SQLite's
  triggers: a later migration that rebuilds it must create them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from desktop.storage.audit_chain import GENESIS, entry_hash, normalized_details

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN "
    "SELECT RAISE(ABORT, 'The audit log is append-only: its entries cannot be changed.'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN "
    "SELECT RAISE(ABORT, 'The audit log is append-only: its entries cannot be deleted.'); END",
)
POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'The audit log is append-only: its entries cannot be %.',
            CASE TG_OP WHEN 'UPDATE' THEN 'changed' ELSE 'deleted' END
            USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
)

_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()), sa.column("seq", sa.BigInteger()),
    sa.column("prev_hash", sa.LargeBinary()), sa.column("row_hash", sa.LargeBinary()),
    sa.column("occurred_at", sa.DateTime()), sa.column("actor_id", sa.Integer()),
    sa.column("actor_username", sa.String()), sa.column("action", sa.String()),
    sa.column("target_kind", sa.String()), sa.column("target_id", sa.Integer()),
    sa.column("outcome", sa.String()), sa.column("details", sa.JSON()),
    sa.column("operation_id", sa.String()),
)


def _chain_existing_rows() -> tuple[int, bytes]:
    """Chain the rows already there, in the order they were written, a batch at a time (a
    server's log may hold millions)."""
    conn = op.get_bind()
    seq, prev, after = 0, GENESIS, 0
    while True:
        rows = conn.execute(sa.select(_events).where(_events.c.id > after).order_by(_events.c.id)
                            .limit(5_000)).all()
        if not rows:
            return seq, prev
        updates = []
        for row in rows:
            seq += 1
            details = normalized_details(row.details)
            digest = entry_hash(prev, seq, row.occurred_at, row.actor_id, row.actor_username, row.action,
                                row.target_kind, row.target_id, row.outcome, details, row.operation_id)
            updates.append({"row_id": row.id, "seq": seq, "prev_hash": prev, "row_hash": digest})
            prev = digest
        conn.execute(sa.update(_events).where(_events.c.id == sa.bindparam("row_id"))
                     .values(seq=sa.bindparam("seq"), prev_hash=sa.bindparam("prev_hash"),
                             row_hash=sa.bindparam("row_hash")), updates)
        after = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.LargeBinary(32), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.LargeBinary(32), nullable=True))
    seq, head = _chain_existing_rows()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch.alter_column("row_hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch.drop_index("ix_audit_target")
        batch.create_index("ix_audit_events_seq", ["seq"], unique=True)
        batch.create_index("ix_audit_target_seq", ["target_kind", "target_id", "seq"])
        batch.create_index("ix_audit_actor_seq", ["actor_id", "seq"])
        batch.create_index("ix_audit_action_seq", ["action", "seq"])
        batch.create_index("ix_audit_outcome_seq", ["outcome", "seq"])
    head_table = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.bulk_insert(head_table, [{"id": 1, "seq": seq, "hash": head}])
    for statement in POSTGRESQL_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_events") as batch:
        for name in ("ix_audit_outcome_seq", "ix_audit_action_seq", "ix_audit_actor_seq",
                     "ix_audit_target_seq", "ix_audit_events_seq"):
            batch.drop_index(name)
        batch.create_index("ix_audit_target", ["target_kind", "target_id"])
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
