"""webhooks: each [[webhook]] endpoint's place in the change feed, and its dead letters;
suppressions remember when the feed was told that their expiry passed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bounceledger.models.types


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=1024), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('cursor', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('failing_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_success_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('failures', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints')),
    sa.UniqueConstraint('name', name=op.f('uq_webhook_endpoints_name'))
    )
    op.create_table('webhook_dead_letters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('endpoint_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('webhook_id', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('dead_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('replayed_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_dead_letters_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_dead_letters')),
    sa.UniqueConstraint('endpoint_id', 'seq', name=op.f('uq_webhook_dead_letters_endpoint_id'))
    )


    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expiry_announced_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True))
    # suppressions that already ran out are told by the next expiry job, after their backfilled entry


def downgrade() -> None:
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_column('expiry_announced_at')
    op.drop_table('webhook_dead_letters')
    op.drop_table('webhook_endpoints')
