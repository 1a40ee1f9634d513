"""returned_messages.pruned_at and forgotten_suppressions: retention and erasure

The retention job (``retain_raw_days``) and ``bounceledger forget`` empty a
returned message's raw bytes and say when; an erased address that was
suppressed is kept as a hash only, so the ledger still recognises it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bounceledger.models.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'forgotten_suppressions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('address_hash', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('since', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('released_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('forgotten_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_forgotten_suppressions')),
        sa.UniqueConstraint('address_hash', name=op.f('uq_forgotten_suppressions_address_hash')),
    )
    with op.batch_alter_table('returned_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pruned_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('returned_messages', schema=None) as batch_op:
        batch_op.drop_column('pruned_at')
    op.drop_table('forgotten_suppressions')
