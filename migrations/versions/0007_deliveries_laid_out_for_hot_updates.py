"""deliveries laid out for HOT updates

The expiry job's index moves from ``state_at WHERE state = 'deferred'`` to a
column of its own, ``deferred_since``: an index that names ``state`` stops
PostgreSQL from updating a delivery in place (HOT) whenever its state
changes, which is every correction. On PostgreSQL the table also gets a
fillfactor, so that the new row version fits on the page of the old one.
Existing pages keep their fill until they are rewritten (``VACUUM FULL
deliveries``, or ``pg_repack``, when convenient): new rows get the room at once.

``suppressions`` trades its index on the ``active`` flag (true for almost
every row, so never selective; every reader wants the list in force) for a
partial one on ``expires_at``, which the expiry job searches.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 02:15:54.712420
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bounceledger.models.types


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Room left on each page for updated row versions. Corrections touch about one
#: delivery in ten and were all HOT at this fill (benchmarks/reconcile_scale.py prints
#: the share); settlement rewrites whole pages at once and was 18 % HOT here against
#: 76 % at 50, in the same time: not worth a table twice the size (docs/performance.md).
FILLFACTOR = 80


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deferred_since', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_index('ix_deliveries_deferred_since', sqlite_where=sa.text("state = 'deferred'"), postgresql_where=sa.text("state = 'deferred'"))
    op.execute("UPDATE deliveries SET deferred_since = state_at WHERE state = 'deferred'")
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_deferred_since', ['deferred_since'], unique=False, postgresql_where=sa.text('deferred_since IS NOT NULL'), sqlite_where=sa.text('deferred_since IS NOT NULL'))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE deliveries SET (fillfactor = {FILLFACTOR})")
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_index('ix_suppressions_active')
        batch_op.create_index('ix_suppressions_expires_at', ['expires_at'], unique=False, postgresql_where=sa.text('expires_at IS NOT NULL'), sqlite_where=sa.text('expires_at IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_index('ix_suppressions_expires_at', postgresql_where=sa.text('expires_at IS NOT NULL'), sqlite_where=sa.text('expires_at IS NOT NULL'))
        batch_op.create_index('ix_suppressions_active', ['active'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_deferred_since', postgresql_where=sa.text('deferred_since IS NOT NULL'), sqlite_where=sa.text('deferred_since IS NOT NULL'))
        batch_op.create_index('ix_deliveries_deferred_since', ['state_at'], unique=False, sqlite_where=sa.text("state = 'deferred'"), postgresql_where=sa.text("state = 'deferred'"))
        batch_op.drop_column('deferred_since')
