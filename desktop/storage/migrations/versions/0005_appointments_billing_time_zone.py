"""appointments with attendance and UTC times, idempotent billing, diagnosis codes, time zone

Revision ID: 0005
Revises: 0004

* ``appointments``: ``attended`` (yes/no) becomes ``attendance`` (scheduled,
  attended, no-show, late-cancel, cancelled); a no becomes no-show. Starts were
  stored on the computer's wall clock; they are now UTC, converted with this
  computer's time zone (the one they were entered in). ``superbill_owed`` and
  ``statement_owed`` mark attended appointments still waiting for a document, and
  a ``version`` guards edits.
* ``billing_items``: an appointment is on at most one document of each kind
  (a duplicate left by two runs at once is dropped first, keeping the older).
* ``billing_documents.automatic_key`` (unique) names what an automatic document
  is for, so two workstations cannot both make it.
* ``clients.diagnosis_codes``; ``practice_settings.time_zone`` (empty: the computer's).
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from desktop.domain.clock import NonexistentTime, computer_zone_name, to_utc, zone

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000
ATTENDANCE = ("scheduled", "attended", "no-show", "late-cancel", "cancelled")


def _starts_to_utc() -> None:
    conn = op.get_bind()
    tz = zone(computer_zone_name())
    appts = sa.table("appointments", sa.column("id"), sa.column("start", sa.DateTime()))
    last = 0
    while True:
        batch = conn.execute(sa.select(appts.c.id, appts.c.start).where(appts.c.id > last)
                             .order_by(appts.c.id).limit(BATCH)).all()
        if not batch:
            return
        for row_id, start in batch:
            try:
                utc = to_utc(start, tz)
            except NonexistentTime:  # typed into the skipped hour: it meant the hour after
                utc = to_utc(start + dt.timedelta(hours=1), tz)
            if utc != start:
                conn.execute(sa.update(appts).where(appts.c.id == row_id).values(start=utc))
        last = batch[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch_op:
        batch_op.add_column(sa.Column(
            "attendance", sa.Enum(*ATTENDANCE, name="attendance", native_enum=False, length=32),
            nullable=False, server_default="scheduled"))
        batch_op.add_column(sa.Column("superbill_owed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("statement_owed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    appts = sa.table("appointments", sa.column("id"), sa.column("attended", sa.Boolean()),
                     sa.column("attendance"), sa.column("manual_billing_only", sa.Boolean()),
                     sa.column("superbill_owed", sa.Boolean()), sa.column("statement_owed", sa.Boolean()))
    items = sa.table("billing_items", sa.column("id"), sa.column("appointment_id"), sa.column("kind"))
    op.execute(sa.update(appts).values(attendance=sa.case((appts.c.attended.is_(sa.true()), "attended"),
                                                          else_="no-show")))
    _starts_to_utc()
    # Two runs at once could, before this version, bill an appointment twice: keep the older.
    older = sa.alias(items)
    op.execute(sa.delete(items).where(sa.exists().where(
        older.c.appointment_id == items.c.appointment_id, older.c.kind == items.c.kind,
        older.c.id < items.c.id)))
    for column, kind in (("superbill_owed", "superbill"), ("statement_owed", "statement")):
        op.execute(sa.update(appts).where(
            appts.c.attendance == "attended", appts.c.manual_billing_only.is_(sa.false()),
            ~sa.exists().where(items.c.appointment_id == appts.c.id, items.c.kind == kind),
        ).values({column: True}))
    with op.batch_alter_table("appointments") as batch_op:
        batch_op.drop_column("attended")
        batch_op.alter_column("manual_billing_only", existing_type=sa.Boolean(), existing_nullable=False)
        batch_op.create_index(batch_op.f("ix_appointments_manual_billing_only"), ["manual_billing_only"])
        batch_op.create_index("ix_appointments_superbill_owed", ["superbill_owed", "start"])
        batch_op.create_index("ix_appointments_statement_owed", ["statement_owed", "start"])
    with op.batch_alter_table("billing_items") as batch_op:
        batch_op.create_unique_constraint("appointment_kind", ["appointment_id", "kind"])
    with op.batch_alter_table("billing_documents") as batch_op:
        batch_op.add_column(sa.Column("automatic_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_billing_documents_automatic_key"), ["automatic_key"])
        batch_op.create_index(batch_op.f("ix_billing_documents_period_start"), ["period_start"])
    with op.batch_alter_table("clients") as batch_op:
        batch_op.add_column(sa.Column("diagnosis_codes", sa.String(length=200), nullable=True))
    with op.batch_alter_table("practice_settings") as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("practice_settings") as batch_op:
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("clients") as batch_op:
        batch_op.drop_column("diagnosis_codes")
    with op.batch_alter_table("billing_documents") as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_documents_period_start"))
        batch_op.drop_constraint(batch_op.f("uq_billing_documents_automatic_key"), type_="unique")
        batch_op.drop_column("automatic_key")
    with op.batch_alter_table("billing_items") as batch_op:
        batch_op.drop_constraint("appointment_kind", type_="unique")
    with op.batch_alter_table("appointments") as batch_op:
        batch_op.add_column(sa.Column("attended", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.execute("UPDATE appointments SET attended = (attendance = 'attended')")
    with op.batch_alter_table("appointments") as batch_op:
        batch_op.drop_index("ix_appointments_statement_owed")
        batch_op.drop_index("ix_appointments_superbill_owed")
        batch_op.drop_index(batch_op.f("ix_appointments_manual_billing_only"))
        for column in ("version", "statement_owed", "superbill_owed", "attendance"):
            batch_op.drop_column(column)
