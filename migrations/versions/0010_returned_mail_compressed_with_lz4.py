"""returned mail's raw bytes compressed with lz4 on PostgreSQL

``returned_messages.raw`` keeps every returned message (2 KB to several
hundred KB), so most values are compressed when stored. PostgreSQL's default
method, pglz, cost the server 27 to 31 us per 2.9 KB message on this
project's machines; lz4 cost 10.5 to 11 us for the same stored size
(20,000 of the bundled sample bounces, one COPY each way, same run). Values
already stored keep pglz until rewritten; both read the same.

lz4 needs PostgreSQL 14 or later built with it (``--with-lz4``, as Debian's,
Ubuntu's and the official images are). Where it is missing the column keeps
the server's default and the upgrade goes on. SQLite stores the bytes as
they are.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text(f"ALTER TABLE returned_messages ALTER COLUMN raw SET COMPRESSION {method}"))
    except sa.exc.DBAPIError:  # PostgreSQL before 14, or built without lz4
        pass


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
