"""sent_messages.header_ref: match returned mail by a configured header the MTA logged

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sent_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('header_ref', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_sent_messages_header_ref', ['header_ref'], unique=False, postgresql_where=sa.text('header_ref IS NOT NULL'), sqlite_where=sa.text('header_ref IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('sent_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_sent_messages_header_ref', postgresql_where=sa.text('header_ref IS NOT NULL'), sqlite_where=sa.text('header_ref IS NOT NULL'))
        batch_op.drop_column('header_ref')
