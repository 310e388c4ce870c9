"""users who must change their password, practice settings and services, intake keys

Revision ID: 0004
Revises: 0003

* ``practice_users`` gains ``must_change_password`` (a first or reset password,
  chosen by someone else) and ``last_sign_in_at``.
* ``practice_settings`` (one row) holds the practice's name, address, phone, tax
  id and NPI; ``services`` the services it offers with minutes and default fee.
* Clients and contacts gain ``email_key`` and ``phone_key``, indexed, and
  clients an index on the date of birth: the intake duplicate check looks a new
  person up by them instead of scanning every row. Existing rows are filled in.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NON_DIGIT = re.compile(r"\D")
BATCH = 5_000


def _email_key(email: str | None) -> str | None:
    key = (email or "").strip().casefold()
    return key or None


def _phone_key(phone: str | None) -> str | None:
    digits = _NON_DIGIT.sub("", phone or "")
    return digits[-10:] if len(digits) >= 7 else None


def _fill_keys(table: str) -> None:
    conn = op.get_bind()
    rows = sa.table(table, sa.column("id"), sa.column("email"), sa.column("phone"),
                    sa.column("email_key"), sa.column("phone_key"))
    last = 0
    while True:
        batch = conn.execute(sa.select(rows.c.id, rows.c.email, rows.c.phone)
                             .where(rows.c.id > last).order_by(rows.c.id).limit(BATCH)).all()
        if not batch:
            return
        for row_id, email, phone in batch:
            email_key, phone_key = _email_key(email), _phone_key(phone)
            if email_key or phone_key:
                conn.execute(sa.update(rows).where(rows.c.id == row_id)
                             .values(email_key=email_key, phone_key=phone_key))
        last = batch[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("practice_users") as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("last_sign_in_at", sa.DateTime(), nullable=True))
    for table in ("clients", "contacts"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("email_key", sa.Text(), nullable=True))
            batch_op.add_column(sa.Column("phone_key", sa.String(length=16), nullable=True))
        _fill_keys(table)
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_email_key"), ["email_key"], unique=False)
            batch_op.create_index(batch_op.f(f"ix_{table}_phone_key"), ["phone_key"], unique=False)
    with op.batch_alter_table("clients") as batch_op:
        batch_op.create_index(batch_op.f("ix_clients_date_of_birth"), ["date_of_birth"], unique=False)
    op.create_table(
        "practice_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("tax_id", sa.String(length=20), nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practice_settings")),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("default_fee", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("code", name=op.f("uq_services_code")),
    )


def downgrade() -> None:
    op.drop_table("services")
    op.drop_table("practice_settings")
    with op.batch_alter_table("clients") as batch_op:
        batch_op.drop_index(batch_op.f("ix_clients_date_of_birth"))
    for table in ("contacts", "clients"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_phone_key"))
            batch_op.drop_index(batch_op.f(f"ix_{table}_email_key"))
            batch_op.drop_column("phone_key")
            batch_op.drop_column("email_key")
    with op.batch_alter_table("practice_users") as batch_op:
        batch_op.drop_column("last_sign_in_at")
        batch_op.drop_column("must_change_password")
