"""initial ledger

Revision ID: 0001
Revises: 
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bounceledger.models.types

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=1024), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=False),
    sa.Column('expires_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_leases'))
    )
    op.create_table('returned_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('source_ref', sa.String(length=1024), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duplicate_count', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_returned_messages')),
    sa.UniqueConstraint('sha256', name=op.f('uq_returned_messages_sha256'))
    )
    with op.batch_alter_table('returned_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_returned_messages_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_returned_messages_outcome'), ['outcome'], unique=False)

    op.create_table('scheduler_jobs',
    sa.Column('id', sa.Unicode(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
    sa.Column('job_state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduler_jobs'))
    )
    with op.batch_alter_table('scheduler_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduler_jobs_next_run_time'), ['next_run_time'], unique=False)

    op.create_table('sent_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('msg_key', sa.String(length=998), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('queue_id', sa.String(length=64), nullable=True),
    sa.Column('envelope_id', sa.String(length=100), nullable=True),
    sa.Column('sender', sa.String(length=320), nullable=True),
    sa.Column('return_path_token', sa.String(length=100), nullable=True),
    sa.Column('campaign', sa.String(length=200), nullable=True),
    sa.Column('first_seen_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sent_messages')),
    sa.UniqueConstraint('msg_key', name=op.f('uq_sent_messages_msg_key'))
    )
    with op.batch_alter_table('sent_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sent_messages_campaign'), ['campaign'], unique=False)
        batch_op.create_index('ix_sent_messages_envelope_id', ['envelope_id'], unique=False, postgresql_where=sa.text('envelope_id IS NOT NULL'), sqlite_where=sa.text('envelope_id IS NOT NULL'))
        batch_op.create_index(batch_op.f('ix_sent_messages_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sent_messages_queue_id'), ['queue_id'], unique=False)
        batch_op.create_index('ix_sent_messages_return_path_token', ['return_path_token'], unique=False, postgresql_where=sa.text('return_path_token IS NOT NULL'), sqlite_where=sa.text('return_path_token IS NOT NULL'))

    op.create_table('source_cursors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=1024), nullable=False),
    sa.Column('device', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('inode', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('offset', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('uidvalidity', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_uid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('state', sa.JSON(), nullable=True),
    sa.Column('updated_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_cursors')),
    sa.UniqueConstraint('kind', 'key', name=op.f('uq_source_cursors_kind'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sent_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('replycode', sa.String(length=3), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('first_hop_host', sa.String(length=255), nullable=True),
    sa.Column('next_hop_queue_id', sa.String(length=64), nullable=True),
    sa.Column('corrected', sa.Boolean(), nullable=False),
    sa.Column('first_attempt_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('state_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['sent_message_id'], ['sent_messages.id'], name=op.f('fk_deliveries_sent_message_id_sent_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('sent_message_id', 'recipient', name=op.f('uq_deliveries_sent_message_id'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_deferred_since', ['state_at'], unique=False, postgresql_where=sa.text("state = 'deferred'"), sqlite_where=sa.text("state = 'deferred'"))
        batch_op.create_index(batch_op.f('ix_deliveries_next_hop_queue_id'), ['next_hop_queue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_recipient'), ['recipient'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dedupe_key', sa.String(length=32), nullable=False),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('first_hop', sa.Boolean(), nullable=False),
    sa.Column('remote_host', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('replycode', sa.String(length=3), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=True),
    sa.Column('match_key', sa.String(length=32), nullable=True),
    sa.Column('returned_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=True),
    sa.Column('recorded_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_events_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['returned_message_id'], ['returned_messages.id'], name=op.f('fk_events_returned_message_id_returned_messages'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_events_dedupe_key'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_index('ix_events_orphan_recipient', ['recipient'], unique=False, postgresql_where=sa.text('delivery_id IS NULL'), sqlite_where=sa.text('delivery_id IS NULL'))
        batch_op.create_index('ix_events_returned_message_id', ['returned_message_id'], unique=False, postgresql_where=sa.text('returned_message_id IS NOT NULL'), sqlite_where=sa.text('returned_message_id IS NOT NULL'))

    op.create_table('suppressions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('source_delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('since', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_delivery_id'], ['deliveries.id'], name=op.f('fk_suppressions_source_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
    sa.UniqueConstraint('address', name=op.f('uq_suppressions_address'))
    )
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppressions_active'), ['active'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppressions_active'))

    op.drop_table('suppressions')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_returned_message_id', postgresql_where=sa.text('returned_message_id IS NOT NULL'), sqlite_where=sa.text('returned_message_id IS NOT NULL'))
        batch_op.drop_index('ix_events_orphan_recipient', postgresql_where=sa.text('delivery_id IS NULL'), sqlite_where=sa.text('delivery_id IS NULL'))
        batch_op.drop_index(batch_op.f('ix_events_delivery_id'))

    op.drop_table('events')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_recipient'))
        batch_op.drop_index(batch_op.f('ix_deliveries_next_hop_queue_id'))
        batch_op.drop_index('ix_deliveries_deferred_since', postgresql_where=sa.text("state = 'deferred'"), sqlite_where=sa.text("state = 'deferred'"))

    op.drop_table('deliveries')
    op.drop_table('source_cursors')
    with op.batch_alter_table('sent_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_sent_messages_return_path_token', postgresql_where=sa.text('return_path_token IS NOT NULL'), sqlite_where=sa.text('return_path_token IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_sent_messages_queue_id'))
        batch_op.drop_index(batch_op.f('ix_sent_messages_message_id'))
        batch_op.drop_index('ix_sent_messages_envelope_id', postgresql_where=sa.text('envelope_id IS NOT NULL'), sqlite_where=sa.text('envelope_id IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_sent_messages_campaign'))

    op.drop_table('sent_messages')
    with op.batch_alter_table('scheduler_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduler_jobs_next_run_time'))

    op.drop_table('scheduler_jobs')
    with op.batch_alter_table('returned_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_returned_messages_outcome'))
        batch_op.drop_index(batch_op.f('ix_returned_messages_message_id'))

    op.drop_table('returned_messages')
    op.drop_table('leases')
