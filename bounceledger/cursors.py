"""Where each source stopped reading: one ``source_cursors`` row per (kind, key).

Send logs and mailboxes keep different positions in the row (see
:class:`models.SourceCursor`); finding the row, and stamping it when it is
written, is the same for both.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from bounceledger.models import SourceCursor


def find_cursor(session: Session, kind: str, key: str) -> SourceCursor | None:
    return session.scalar(select(SourceCursor).where(SourceCursor.kind == kind, SourceCursor.key == key))


def cursor_to_save(session: Session, kind: str, key: str) -> SourceCursor:
    """The row to write this source's new position into, created if it is the first; stamped now."""
    row = find_cursor(session, kind, key)
    if row is None:
        row = SourceCursor(kind=kind, key=key)
        session.add(row)
    row.updated_at = datetime.now(timezone.utc)
    return row
