"""Retention: raw returned messages and personal evidence are kept ``retain_raw_days``.

A returned message's raw bytes (and its subject) hold the recipient's
address, often a name and a quoted original; an event's evidence holds the
log line and the addresses a report named. Past the retention period they
are emptied, while everything the counts and states rest on stays:
deliveries, events with their outcome, codes, reason and detail, the
message's outcome, size and SHA-256 (so the same message read again is
still known), and the classifier's facts in the evidence (hard or soft,
category, reporting MTA, ...). An unmatched verdict also keeps the keys
that may still tie it to its send.

Age counts from when the ledger recorded a row (``recorded_at`` of events
and of returned messages), not from the date a log line or a report
carries, nor from when a message reached the mailbox: a backfill of last
year's logs or of a mailbox full of old bounces is kept as long as today's
mail. Those times
grow with the row ids, so each table keeps a watermark (a
``source_cursors`` row of kind ``retention``) and a run reads only the rows
past it, never the whole table again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from bounceledger.cursors import cursor_to_save, find_cursor
from bounceledger.ingest.dbutil import among
from bounceledger.models import Event, ReturnedMessage

CURSOR_KIND = "retention"
BATCH = 500

#: Evidence that says what happened without saying to whom: kept when the rest goes.
KEPT_EVIDENCE = frozenset(
    {
        "action", "hardbounce", "category", "reporting_mta", "feedback_type", "detector",
        "mta_category", "smtp_stage", "delivery_agent", "relay_ip", "relay_port",
        "queue_id", "next_hop_queue_id", "return_path_token_check",
        "verdict_event_id", "accepted_event_id",
    }
)
#: What an unmatched verdict is tied to its send by (ingest.matching.keys_from).
MATCH_EVIDENCE = frozenset({"envelope_id", "original_message_id", "return_path_token", "header_refs"})


@dataclass(frozen=True, slots=True)
class Pruned:
    messages: int = 0
    events: int = 0

    def line(self) -> str:
        return f"{self.messages} returned messages' raw bytes and {self.events} events' evidence pruned"


def pruned_evidence(evidence: dict[str, Any], orphan: bool, now: datetime) -> dict[str, Any]:
    """The evidence without what names or quotes a person, stamped with when."""
    keep = KEPT_EVIDENCE | MATCH_EVIDENCE if orphan else KEPT_EVIDENCE
    out = {key: value for key, value in evidence.items() if key in keep}
    out["pruned_at"] = now.isoformat().replace("+00:00", "Z")
    return out


def empty_raw(session: Session, message_ids: Iterable[int], now: datetime) -> int:
    """Empty these returned messages' raw bytes and subject; how many were changed."""
    count = 0
    for id_in in among(session, ReturnedMessage.id, sorted(set(message_ids))):
        result = session.execute(
            update(ReturnedMessage)
            .where(id_in)
            .values(raw=b"", subject=None, pruned_at=now)
            .execution_options(synchronize_session=False)
        )
        count += result.rowcount or 0
    return count


def _prune_evidence(session: Session, event_ids: Sequence[int], now: datetime) -> int:
    count = 0
    for id_in in among(session, Event.id, event_ids):
        for event_id, delivery_id, evidence in session.execute(
            select(Event.id, Event.delivery_id, Event.evidence).where(id_in)
        ):
            if not evidence or "pruned_at" in evidence:
                continue
            session.execute(
                update(Event)
                .where(Event.id == event_id)
                .values(evidence=pruned_evidence(evidence, delivery_id is None, now))
                .execution_options(synchronize_session=False)
            )
            count += 1
    return count


def _older_ids(
    session: Session,
    key: str,
    id_column: InstrumentedAttribute[int],
    recorded: InstrumentedAttribute[datetime],
    cutoff: datetime,
    where: ColumnElement[bool] | None = None,
) -> Iterable[list[int]]:
    """Batches of ids past this table's watermark recorded before ``cutoff``,
    in id order; the watermark moves past each batch once it is handed out."""
    cursor = find_cursor(session, CURSOR_KIND, key)
    after = cursor.offset if cursor is not None and cursor.offset is not None else 0
    while True:
        query = select(id_column, recorded).where(id_column > after).order_by(id_column).limit(BATCH)
        rows = session.execute(query if where is None else query.where(where)).all()
        older = [row[0] for row in itertools.takewhile(lambda row: row[1] < cutoff, rows)]
        stop = len(older) < len(rows) or len(rows) < BATCH
        if older:
            yield older
            after = older[-1]
            cursor_to_save(session, CURSOR_KIND, key).offset = after
        if stop:
            return


def prune(session: Session, keep: timedelta, now: datetime) -> Pruned:
    """Empty the raw messages and evidence recorded more than ``keep`` before ``now``."""
    cutoff = now - keep
    messages = events = 0
    unpruned = ReturnedMessage.pruned_at.is_(None)
    for ids in _older_ids(session, "returned_messages", ReturnedMessage.id, ReturnedMessage.recorded_at, cutoff, unpruned):
        messages += empty_raw(session, ids, now)
    for ids in _older_ids(session, "events", Event.id, Event.recorded_at, cutoff):
        events += _prune_evidence(session, ids, now)
    return Pruned(messages, events)
