"""A PostgreSQL database of a benchmark's own, made and dropped around one run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("BOUNCELEDGER_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


def _recreate(admin: str, name: str, create: bool) -> None:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


@contextmanager
def scratch_postgres(admin: str, name: str) -> Iterator[str]:
    """The URL of a fresh database ``name``; dropped afterwards, whatever happens."""
    _recreate(admin, name, create=True)
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        _recreate(admin, name, create=False)
