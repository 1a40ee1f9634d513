"""Small set-based helpers that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

T = TypeVar("T")

# SQLite's default limit on bound parameters is 32766 since 3.32; PostgreSQL's
# is 65535. Chunks of this size keep IN lists and multi-row inserts under both.
CHUNK = 900


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_ignoring_duplicates(
    session: Session,
    model: type[DeclarativeBase] | Table,
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING`` for a batch of rows.

    Re-reading a log or a mailbox must be a no-op; letting the unique keys
    decide is both the fastest and the only race-free way to get that.
    """
    if not rows:
        return
    table = model if isinstance(model, Table) else model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    for part in chunks(rows):
        session.execute(stmt, list(part))
