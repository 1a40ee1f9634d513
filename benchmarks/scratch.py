"""A PostgreSQL database of a benchmark's own, made and dropped around one run."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("BOUNCELEDGER_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


def _recreate(admin: str, name: str, create: bool, template: str | None = None) -> None:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()


@contextmanager
def scratch_postgres(admin: str, name: str, *, template: str | None = None, keep: bool = False) -> Iterator[str]:
    """The URL of a fresh database ``name`` (a copy of ``template`` if given);
    dropped afterwards, whatever happens, unless ``keep`` (a template being made;
    dropped only if making it failed)."""
    _recreate(admin, name, create=True, template=template)
    kept = False
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
        kept = keep
    finally:
        if not kept:
            _recreate(admin, name, create=False)


def write_floor(url: str, tables: list[str], where: dict[str, str] | None = None) -> tuple[int, float]:
    """What PostgreSQL alone needs to write rows a run produced: (rows, seconds).

    Copies the rows of ``tables`` (optionally filtered by ``where``) into
    empty tables with the same columns and every index, in one statement
    each, with no client work, no conflict checks and no foreign keys: no
    loader can write those rows faster on this server, so it is the floor
    the tool's own rate should be read against.
    """
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    rows, seconds = 0, 0.0
    with engine.connect() as conn:
        for table in tables:
            copy = f"_floor_{table}"
            conn.execute(text(f'CREATE TABLE "{copy}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING INDEXES)'))
            filter_ = f" WHERE {where[table]}" if where and table in where else ""
            conn.execute(text("CHECKPOINT"))  # each copy starts from the same WAL state
            started = time.perf_counter()
            rows += conn.execute(text(f'INSERT INTO "{copy}" SELECT * FROM "{table}"{filter_}')).rowcount
            seconds += time.perf_counter() - started
            conn.execute(text(f'DROP TABLE "{copy}"'))
    engine.dispose()
    return rows, seconds
