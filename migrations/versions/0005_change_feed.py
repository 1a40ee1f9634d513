"""changes: the change feed (sequence-ordered state changes for consumers)

A ledger that existed before the feed gets one entry per delivery with a
state (its current state, corrected ones as ``delivery.corrected``) and one
per active suppression, oldest first, so a consumer that starts reading at 0
still learns every current state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bounceledger.models.types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('changes',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('address', sa.String(length=320), nullable=True),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('event_key', sa.String(length=32), nullable=True),
    sa.Column('at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_changes')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.create_index('ix_changes_address', ['address'], unique=False, postgresql_where=sa.text('address IS NOT NULL'), sqlite_where=sa.text('address IS NOT NULL'))

    op.execute(
        """
        INSERT INTO changes (type, delivery_id, from_state, to_state, event_key, at, recorded_at)
        SELECT CASE WHEN corrected AND state IN ('bounced', 'expired') THEN 'delivery.corrected'
                    ELSE 'delivery.' || state END,
               id, CASE WHEN corrected THEN 'accepted' END, state, NULL, state_at, CURRENT_TIMESTAMP
        FROM deliveries WHERE state <> 'pending'
        ORDER BY state_at, id
        """
    )
    op.execute(
        """
        INSERT INTO changes (type, delivery_id, address, from_state, to_state, reason, at, recorded_at)
        SELECT 'suppression.added', source_delivery_id, address, NULL, 'suppressed', reason, since, CURRENT_TIMESTAMP
        FROM suppressions WHERE active
        ORDER BY since, id
        """
    )


def downgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_index('ix_changes_address', postgresql_where=sa.text('address IS NOT NULL'), sqlite_where=sa.text('address IS NOT NULL'))

    op.drop_table('changes')
