"""addresses with an internationalised domain are stored in one form: U-labels, NFC

``normalise_address`` now writes an internationalised domain in its U-labels
(RFC 5890 2.3.2.1: ``a@xn--bcher-kva.example`` and ``a@bücher.example`` are one
mailbox), so a send logged in one form and a report naming the other meet.
Rows written before kept the form their source used; here those with an
A-label (``xn--``) are given the one form, so that matching, ``lookup`` and
the suppression list find old and new rows alike. A row whose new spelling
another row of the same key already holds (the same delivery recorded under
both forms, a suppression listed twice) keeps its old spelling: merging them
is not decided here, and nothing is lost. Forgotten addresses are kept only
as hashes and cannot be rewritten.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bounceledger.ingest.keys import normalise_address

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, its key, address column, the other columns of its unique key, if any)
_COLUMNS = (
    ("deliveries", "id", "recipient", ("sent_message_id",)),
    ("events", "id", "recipient", None),
    ("changes", "seq", "address", None),
    ("suppressions", "id", "address", ()),
)


def upgrade() -> None:
    conn = op.get_bind()
    for table, key, column, unique_with in _COLUMNS:
        rows = conn.execute(sa.text(
            f"SELECT {key}, {column}{''.join(', ' + c for c in unique_with or ())} FROM {table} "
            f"WHERE lower({column}) LIKE '%xn--%'"
        )).all()
        for row in rows:
            old = row[1]
            new = normalise_address(old)
            if not new or new == old:
                continue
            if unique_with is not None:
                clash = " AND ".join([f"{column} = :new", *(f"{c} = :{c}" for c in unique_with)])
                params = {"new": new, **{c: row[2 + i] for i, c in enumerate(unique_with)}}
                if conn.execute(sa.text(f"SELECT 1 FROM {table} WHERE {clash}"), params).first() is not None:
                    continue  # both spellings recorded: left as they are
            conn.execute(sa.text(f"UPDATE {table} SET {column} = :new WHERE {key} = :key"), {"new": new, "key": row[0]})


def downgrade() -> None:
    """Nothing to undo: the old code reads the new spelling as an address like any other."""
