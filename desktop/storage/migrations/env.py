"""Alembic environment: runs on the engine that ``open_database`` hands over.

On SQLite the migrations run with foreign keys off. Batch mode changes a table by
copying it and dropping the old copy, and with foreign keys on, dropping it would run
every ON DELETE CASCADE and SET NULL that points at it (rebuilding ``appointments``
would delete every billing item). ``PRAGMA foreign_keys`` cannot change inside a
transaction, so it is turned off before the migrations' transaction begins and on
again once it has ended, before the connection goes back to the pool (every
connection of the application has them on: ``database._sqlite_pragmas``). Before
committing, ``PRAGMA foreign_key_check`` makes sure the migrations left no reference
to a missing row that was not there before.
"""

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine

from desktop.domain.models import Base

config = context.config
target_metadata = Base.metadata


def _foreign_keys(connection: Connection, on: bool) -> None:
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    connection.commit()  # ends SQLAlchemy's own transaction: the driver began none for a PRAGMA
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar() != int(on):
        raise RuntimeError(f"SQLite did not turn foreign keys {'on' if on else 'off'} for the migration.")
    connection.commit()


def _dangling(connection: Connection) -> set[tuple[Any, ...]]:
    """References to missing rows: (table, row id, referred table, which foreign key)."""
    return {tuple(row) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")}


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # the `alembic` command line during development
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _foreign_keys(connection, on=False)
        try:
            with connection.begin():
                before = _dangling(connection) if sqlite else set()
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    render_as_batch=sqlite,
                    compare_type=True,
                )
                context.run_migrations()
                if sqlite and (left := _dangling(connection) - before):
                    table, row_id, referred, _ = sorted(left, key=repr)[0]
                    raise RuntimeError(f"The migration left {len(left)} references to missing rows (the first: "
                                       f"{table} row {row_id} refers to a missing {referred} row).")
        finally:
            if sqlite:
                try:
                    _foreign_keys(connection, on=True)
                except Exception:
                    connection.invalidate()  # never back to the pool with foreign keys off
                    raise


run_migrations_online()
