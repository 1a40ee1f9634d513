"""Alembic environment: migrations run against bounceledger's own settings.

The application passes an open connection in ``config.attributes`` so that a
migration runs inside the caller's transaction; the plain ``alembic`` command
line falls back to the same settings the CLI would use.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bounceledger.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from bounceledger.config import load_settings
    from bounceledger.db import make_engine

    engine = make_engine(load_settings().database())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_online()
