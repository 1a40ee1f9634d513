"""events: a partial index on weakly tied verdicts by recipient

A verdict tied by the weak match (the only delivery to its recipient shortly
before) is re-checked when a send to that recipient is read later; the
index keeps that lookup to the few weak rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_weak_recipient', ['recipient'], unique=False, postgresql_where=sa.text("match_key = 'weak'"), sqlite_where=sa.text("match_key = 'weak'"))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_weak_recipient', postgresql_where=sa.text("match_key = 'weak'"), sqlite_where=sa.text("match_key = 'weak'"))
