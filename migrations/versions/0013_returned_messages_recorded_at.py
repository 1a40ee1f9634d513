"""returned messages keep when the ledger recorded them, apart from when they arrived

``returned_messages.received_at`` is when the message reached the mailbox
(IMAP ``INTERNALDATE``, a Maildir file's time): what the lag gauge and the
reports' "arrived in" filter read. Retention must count from when the
ledger took the message in (``retain_raw_days``: "once the ledger has held
them N days"), and its watermark needs a time that grows with the row ids:
a first poll of a mailbox holding last year's bounces must not make their
raw bytes due at once, nor hold back every later row behind one old one.
``recorded_at`` is that time. Rows already stored get their
``received_at``, the best time known for them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bounceledger.models.types

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('returned_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE returned_messages SET recorded_at = received_at")
    with op.batch_alter_table('returned_messages', schema=None) as batch_op:
        batch_op.alter_column('recorded_at', existing_type=bounceledger.models.types.UTCDateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('returned_messages', schema=None) as batch_op:
        batch_op.drop_column('recorded_at')
