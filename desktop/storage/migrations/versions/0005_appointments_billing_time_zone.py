"""appointments with attendance and UTC times, idempotent billing, diagnosis codes, time zone

Revision ID: 0005
Revises: 0004

* ``appointments``: ``attended`` (yes/no) becomes ``attendance`` (scheduled,
  attended, no-show, late-cancel, cancelled); a no becomes no-show. Starts were
  stored on the computer's wall clock; they are now UTC, converted with this
  computer's time zone (the one they were entered in; a time in the hour the clocks
  skip meant the hour after, one in the repeated hour the first). ``superbill_owed`` and
  ``statement_owed`` mark attended appointments still waiting for a document, and
  a ``version`` guards edits.
* ``billing_items``: an appointment is on at most one document of each kind
  (a duplicate left by two runs at once is dropped first, keeping the older).
* ``billing_documents.automatic_key`` (unique) names what an automatic document
  is for, so two workstations cannot both make it.
* ``clients.diagnosis_codes``; ``practice_settings.time_zone`` (empty: the computer's).

On SQLite a table is changed by rebuilding it, and dropping the old ``appointments`` or
``billing_documents`` would cascade to every billing item: the items are set aside
while those two are rebuilt and put back afterwards.
"""

import datetime as dt
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from desktop.domain.clock import NonexistentTime, computer_zone_name, to_local, to_utc, zone

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000
ATTENDANCE = ("scheduled", "attended", "no-show", "late-cancel", "cancelled")


def _move_starts(convert: Callable[[dt.datetime], dt.datetime]) -> None:
    conn = op.get_bind()
    appts = sa.table("appointments", sa.column("id"), sa.column("start", sa.DateTime()))
    move = sa.update(appts).where(appts.c.id == sa.bindparam("row_id")).values(start=sa.bindparam("moved"))
    last = 0
    while True:
        batch = conn.execute(sa.select(appts.c.id, appts.c.start).where(appts.c.id > last)
                             .order_by(appts.c.id).limit(BATCH)).all()
        if not batch:
            return
        moved = [{"row_id": row_id, "moved": new} for row_id, start in batch if (new := convert(start)) != start]
        if moved:
            conn.execute(move, moved)  # one executemany per batch, not a statement per row
        last = batch[-1][0]


def _starts_to_utc() -> None:
    tz = zone(computer_zone_name())

    def convert(start: dt.datetime) -> dt.datetime:
        try:
            return to_utc(start, tz)
        except NonexistentTime:  # typed into the skipped hour: it meant the hour after
            return to_utc(start + dt.timedelta(hours=1), tz)

    _move_starts(convert)


def _starts_to_wall_clock() -> None:
    tz = zone(computer_zone_name())
    _move_starts(lambda start: to_local(start, tz))


# SQLite rebuilds a table to change it (batch mode), and dropping the old copy of
# ``appointments`` or ``billing_documents`` runs their ON DELETE CASCADE: every billing
# item would go with it. The items are set aside first and put back once both are rebuilt.
KEPT_ITEMS = "_caseload_0005_billing_items"
ITEM_COLUMNS = "id, client_id, document_id, appointment_id, kind"


def _set_items_aside() -> bool:
    if op.get_bind().dialect.name != "sqlite":
        return False
    op.execute(f"CREATE TABLE {KEPT_ITEMS} AS SELECT {ITEM_COLUMNS} FROM billing_items")
    return True


def _put_items_back() -> None:
    op.execute("DELETE FROM billing_items")
    op.execute(f"INSERT INTO billing_items ({ITEM_COLUMNS}) SELECT {ITEM_COLUMNS} FROM {KEPT_ITEMS}")
    op.execute(f"DROP TABLE {KEPT_ITEMS}")


def upgrade() -> None:
    items_aside = _set_items_aside()
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
    with op.batch_alter_table("appointments") as batch_op:
        batch_op.drop_column("attended")
        batch_op.alter_column("manual_billing_only", existing_type=sa.Boolean(), existing_nullable=False)
        batch_op.create_index(batch_op.f("ix_appointments_manual_billing_only"), ["manual_billing_only"])
    # Partial indexes: only what is still owed is in them, and billing an appointment takes
    # it out (a composite flag-and-start index would move it, costing twice as much). The
    # client id in them answers "which clients owe something" without reading the table.
    for column in ("superbill_owed", "statement_owed"):
        op.create_index(f"ix_appointments_{column}", "appointments", ["start", "client_id"],
                        sqlite_where=sa.text(f"{column} = 1"), postgresql_where=sa.text(f"{column} = true"))
    with op.batch_alter_table("billing_documents") as batch_op:
        batch_op.add_column(sa.Column("automatic_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_billing_documents_automatic_key"), ["automatic_key"])
        batch_op.create_index(batch_op.f("ix_billing_documents_period_start"), ["period_start"])
    if items_aside:
        _put_items_back()
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
    with op.batch_alter_table("billing_items") as batch_op:
        batch_op.create_unique_constraint("appointment_kind", ["appointment_id", "kind"])
        # Each led a unique constraint's index now: two fewer indexes to keep per item billed.
        batch_op.drop_index(batch_op.f("ix_billing_items_appointment_id"))
        batch_op.drop_index(batch_op.f("ix_billing_items_document_id"))
    with op.batch_alter_table("clients") as batch_op:
        batch_op.add_column(sa.Column("diagnosis_codes", sa.String(length=200), nullable=True))
    with op.batch_alter_table("practice_settings") as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    # Columns go with plain ALTER TABLE (SQLite 3.35+), not batch mode: on SQLite, rebuilding
    # ``clients`` would cascade to every table of client data, ``appointments`` to the items.
    items_aside = _set_items_aside()
    op.drop_column("practice_settings", "time_zone")
    op.drop_column("clients", "diagnosis_codes")
    with op.batch_alter_table("billing_documents") as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_documents_period_start"))
        batch_op.drop_constraint(batch_op.f("uq_billing_documents_automatic_key"), type_="unique")
        batch_op.drop_column("automatic_key")
    op.add_column("appointments", sa.Column("attended", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.execute("UPDATE appointments SET attended = (attendance = 'attended')")
    _starts_to_wall_clock()
    for index in ("ix_appointments_statement_owed", "ix_appointments_superbill_owed",
                  "ix_appointments_manual_billing_only"):
        op.drop_index(index, table_name="appointments")
    for column in ("version", "statement_owed", "superbill_owed", "attendance"):
        op.drop_column("appointments", column)
    if items_aside:
        _put_items_back()
    with op.batch_alter_table("billing_items") as batch_op:
        batch_op.drop_constraint("appointment_kind", type_="unique")
        batch_op.create_index(batch_op.f("ix_billing_items_appointment_id"), ["appointment_id"])
        batch_op.create_index(batch_op.f("ix_billing_items_document_id"), ["document_id"])
