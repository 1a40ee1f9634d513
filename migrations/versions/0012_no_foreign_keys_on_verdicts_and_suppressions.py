"""no foreign keys on verdict events and suppressions

* ``suppressions.source_delivery_id`` loses its foreign key to
  ``deliveries``. Reconciling 100,000 hard bounces against a ledger of
  1,000,000 deliveries writes about 86,000 suppression rows; PostgreSQL
  checked each one with a query that also locks the delivery's row: the
  COPY of those rows took 876 ms with the key and about 330 ms without it,
  and the server's CPU for the whole reconcile went from 7.61 s to 6.93 s
  (``benchmarks/reconcile_scale.py``, a copy of the same ledger each time).
* ``events.returned_message_id`` loses its foreign key to
  ``returned_messages``: every verdict a poll reads points at the returned
  message it came from, and the check cost about 3.6 us of server CPU per
  row (200,000 rows into a table pointing at 20,000 parents: 0.98 s with
  the key, 0.26 s without).

Both keys only ever checked: their ``ON DELETE SET NULL`` has nothing to
do, as no code deletes deliveries or returned messages (``forget``
rewrites them in place, retention empties the raw bytes and keeps the
row), and the rows that point at them are written in the same
transaction as, or after, the rows they point at. Migration 0008 made the
same decision, with its own figures, for the bulk tables.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_suppressions_source_delivery_id_deliveries', type_='foreignkey')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_constraint('fk_events_returned_message_id_returned_messages', type_='foreignkey')


def downgrade() -> None:
    # A link whose row is gone would stop the key from coming back: none
    # are written by the application, but a hand edit could have left some.
    # Set to NULL, as the key's own ON DELETE would have done.
    op.execute("UPDATE suppressions SET source_delivery_id = NULL WHERE source_delivery_id IS NOT NULL"
               " AND source_delivery_id NOT IN (SELECT id FROM deliveries)")
    op.execute("UPDATE events SET returned_message_id = NULL WHERE returned_message_id IS NOT NULL"
               " AND returned_message_id NOT IN (SELECT id FROM returned_messages)")
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_suppressions_source_delivery_id_deliveries', 'deliveries', ['source_delivery_id'], ['id'],
            ondelete='SET NULL',
        )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_events_returned_message_id_returned_messages', 'returned_messages', ['returned_message_id'], ['id'],
            ondelete='SET NULL',
        )
