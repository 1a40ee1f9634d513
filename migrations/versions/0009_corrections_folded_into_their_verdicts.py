"""corrections folded into their verdicts

A correction (a returned message overturned a first-hop 250) was an
``events`` row of its own, kind ``correction``: a quarter of the events
rows reconciliation wrote at scale, each with its index entries, and one
read of the acceptance it quoted. It is now carried by the verdict that
made it, in three new columns (``corrected_from``, ``corrected_to``,
``corrected_at``), written in the same COPY as the verdict; the faces
rebuild the ``correction`` event from them with the same keys and values
(``bounceledger.ingest.corrections``).

Existing ledgers are carried forward: every correction row is merged into
the verdict it names (``evidence.verdict_event_id``, on the same delivery),
its ``recorded_at`` becoming ``corrected_at`` (the rebuilt correction quotes
the latest acceptance recorded by then, the one the row quoted) and its
``from_state`` ``corrected_from``, which says ``settled`` where a settlement
was recorded before the row (a late surprise, once read from the ids), and
the rows go. A row whose verdict no longer sits on its delivery has nothing to
fold into; reconciliation deletes such rows itself when a verdict moves,
so they go too. On PostgreSQL the merge is one ``UPDATE ... FROM`` and one
``DELETE``; an upgraded ledger's freed events space is reused by later rows.

Downgrading writes the correction rows back from the folds, with their
keys, details and evidence as reconciliation wrote them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op

import bounceledger.models.types


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MERGE_POSTGRESQL = """
UPDATE events AS v
SET corrected_from = c.overturned, corrected_to = c.to_state, corrected_at = c.recorded_at
FROM (
    SELECT DISTINCT ON (verdict_id) verdict_id, delivery_id, to_state, recorded_at,
        CASE WHEN EXISTS (SELECT 1 FROM events s WHERE s.delivery_id = rows.delivery_id AND s.kind = 'attempt'
                          AND s.outcome = 'settled' AND s.id < rows.id) THEN 'settled' ELSE from_state END AS overturned
    FROM (SELECT (evidence->>'verdict_event_id')::bigint AS verdict_id, id, delivery_id, from_state, to_state, recorded_at
          FROM events WHERE kind = 'correction') AS rows
    ORDER BY verdict_id, id DESC
) AS c
WHERE v.id = c.verdict_id AND v.delivery_id = c.delivery_id
"""

_MERGE_SQLITE = """
UPDATE events SET (corrected_from, corrected_to, corrected_at) = (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM events s WHERE s.delivery_id = c.delivery_id AND s.kind = 'attempt'
                             AND s.outcome = 'settled' AND s.id < c.id) THEN 'settled' ELSE c.from_state END,
           c.to_state, c.recorded_at FROM events AS c
    WHERE c.kind = 'correction' AND c.delivery_id = events.delivery_id
      AND json_extract(c.evidence, '$.verdict_event_id') = events.id
    ORDER BY c.id DESC LIMIT 1
)
WHERE id IN (SELECT json_extract(evidence, '$.verdict_event_id') FROM events WHERE kind = 'correction')
"""


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrected_from', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('corrected_to', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('corrected_at', bounceledger.models.types.UTCDateTime(timezone=True), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(_MERGE_SQLITE if sqlite else _MERGE_POSTGRESQL)
    op.execute("DELETE FROM events WHERE kind = 'correction'")


# ---------------------------------------------------------------- downgrade
# Self-contained (the application's code may change after this revision):
# the key, detail and evidence exactly as reconciliation wrote them before it.


def _key(delivery_id: int, to_state: str, decided_by: str) -> str:
    parts = ("correction", str(delivery_id), to_state, decided_by)
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _stamp(at: datetime) -> str:
    return at.isoformat(" ", "seconds")[:19]


def _detail(host: str | None, accepted_at: datetime | None, to_state: str, at: datetime, status: str | None, reason: str | None) -> str:
    said = " ".join(x for x in (status, reason) if x)
    if accepted_at is not None:
        where = f" by {host}" if host else ""
        return f"accepted{where} at {_stamp(accepted_at)} UTC, corrected to {to_state} at {_stamp(at)} UTC: {said}".rstrip(": ")
    return f"corrected to {to_state}: {said}"


def downgrade() -> None:
    events = sa.table(
        "events",
        *(sa.column(name) for name in (
            "id", "dedupe_key", "delivery_id", "recipient", "kind", "source", "outcome", "first_hop", "remote_host",
            "status", "replycode", "reason", "detail", "from_state", "to_state", "match_key", "returned_message_id",
        )),
        sa.column("at", bounceledger.models.types.UTCDateTime()),
        sa.column("recorded_at", bounceledger.models.types.UTCDateTime()),
        sa.column("corrected_at", bounceledger.models.types.UTCDateTime()),
        sa.column("corrected_from"),
        sa.column("corrected_to"),
        sa.column("evidence", sa.JSON()),
    )
    c = events.c
    bind = op.get_bind()
    folded = bind.execute(sa.select(events).where(c.corrected_to.is_not(None)).order_by(c.corrected_at, c.id)).all()
    acceptances: dict[int, list[Any]] = {}
    for delivery_id in sorted({row.delivery_id for row in folded}):
        acceptances[delivery_id] = bind.execute(
            sa.select(c.id, c.at, c.dedupe_key, c.remote_host, c.recorded_at, c.evidence).where(
                c.delivery_id == delivery_id, c.kind == "attempt", c.outcome == "accepted", c.first_hop
            )
        ).all()
    rows = []
    for cause in folded:
        candidates = [a for a in acceptances[cause.delivery_id] if a.recorded_at <= cause.corrected_at]
        acceptance = max(candidates, key=lambda a: (a.at, a.dedupe_key), default=None)
        evidence: dict[str, Any] = {
            "verdict_event_id": cause.id,
            "accepted_event_id": acceptance.id if acceptance is not None else None,
        }
        if (cause.evidence or {}).get("pruned_at") is not None:
            evidence["pruned_at"] = cause.evidence["pruned_at"]
        else:
            evidence["accepted_line"] = (acceptance.evidence or {}).get("line") if acceptance is not None else None
        rows.append({
            "dedupe_key": _key(cause.delivery_id, cause.corrected_to, cause.dedupe_key),
            "delivery_id": cause.delivery_id, "recipient": cause.recipient, "kind": "correction", "source": "reconcile",
            "at": cause.at, "outcome": cause.corrected_to, "first_hop": True,
            "remote_host": acceptance.remote_host if acceptance is not None else None,
            "status": cause.status, "replycode": cause.replycode, "reason": cause.reason,
            "detail": _detail(acceptance.remote_host if acceptance is not None else None,
                              acceptance.at if acceptance is not None else None,
                              cause.corrected_to, cause.at, cause.status, cause.reason),
            "from_state": "accepted", "to_state": cause.corrected_to, "match_key": cause.match_key,
            "returned_message_id": cause.returned_message_id, "evidence": evidence,
            "recorded_at": cause.corrected_at or datetime.now(timezone.utc),
        })
    if rows:
        bind.execute(sa.insert(events), rows)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('corrected_at')
        batch_op.drop_column('corrected_to')
        batch_op.drop_column('corrected_from')
