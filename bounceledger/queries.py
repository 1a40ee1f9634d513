"""Read-side queries for the faces (CLI, scheduler summaries, dashboard).

They return plain dicts shaped like the CLI's JSON contract, so every face
shows the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest import suppress
from ingest.keys import normalise_address
from models import Delivery, Event, ReturnedMessage, SentMessage, Suppression
from models.state import STATES

RETURNED_OUTCOMES = ("processed", "unparsed", "ignored", "duplicate", "error")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "source": event.source,
        "at": _iso(event.at),
        "outcome": event.outcome,
        "status": event.status,
        "replycode": event.replycode,
        "reason": event.reason,
        "detail": event.detail,
        "remote_host": event.remote_host,
        "first_hop": event.first_hop,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "match_key": event.match_key,
        "returned_message_id": event.returned_message_id,
    }


def delivery_json(delivery: Delivery, sent: SentMessage, events: list[dict[str, Any]]) -> dict[str, Any]:
    """One delivery as ``lookup --json`` shows it (the contract's field names)."""
    return {
        "message_id": sent.message_id,
        "queue_id": sent.queue_id,
        "sender": sent.sender,
        "recipient": delivery.recipient,
        "state": delivery.state,
        "reason": delivery.reason,
        "status": delivery.status,
        "replycode": delivery.replycode,
        "detail": delivery.detail,
        "corrected": delivery.corrected,
        "first_hop_host": delivery.first_hop_host,
        "first_attempt_at": _iso(delivery.first_attempt_at),
        "state_at": _iso(delivery.state_at),
        "events": events,
    }


def lookup(session: Session, address: str) -> dict[str, Any]:
    """Every delivery to ``address`` with its events, oldest first."""
    recipient = normalise_address(address) or ""
    rows = session.execute(
        select(Delivery, SentMessage)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .where(Delivery.recipient == recipient)
        .order_by(Delivery.first_attempt_at, Delivery.id)
    ).all()
    ids = [delivery.id for delivery, _ in rows]
    events: dict[int, list[Event]] = defaultdict(list)
    if ids:
        for event in session.scalars(
            select(Event).where(Event.delivery_id.in_(ids)).order_by(Event.at, Event.id)
        ):
            events[event.delivery_id].append(event)  # type: ignore[index]
    loose = session.scalars(
        select(Event)
        .where(Event.recipient == recipient, Event.delivery_id.is_(None))
        .order_by(Event.at, Event.id)
    ).all()
    orphans = [e for e in loose if e.kind == "verdict"]
    audit = [e for e in loose if e.kind == "suppression"]
    suppression = suppress.lookup(session, recipient)
    return {
        "address": recipient,
        "deliveries": [
            delivery_json(delivery, sent, [_event_json(e) for e in events[delivery.id]]) for delivery, sent in rows
        ],
        "unmatched_verdicts": [_event_json(e) for e in orphans],
        "suppression_history": [_event_json(e) for e in audit],
        "suppressed": suppression is not None,
        "suppression": suppression_json(suppression) if suppression is not None else None,
    }


def suppression_json(row: Suppression) -> dict[str, Any]:
    return {
        "address": row.address,
        "reason": row.reason,
        "since": _iso(row.since),
        "expires_at": _iso(row.expires_at),
        "note": row.note,
    }


def report(session: Session, stale_after: timedelta = timedelta(hours=24)) -> dict[str, Any]:
    """Counts per state, corrections, and what the mailbox runs did.

    ``stale_orphans`` counts verdicts still unmatched ``stale_after`` after
    they arrived: their send is probably not in any log we read, and an
    operator should look (they are kept, never dropped).
    """
    states = {state: 0 for state in (*STATES, "pending")}
    for state, count in session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)):
        states[state] = count
    returned = {outcome: 0 for outcome in RETURNED_OUTCOMES}
    for outcome, count in session.execute(
        select(ReturnedMessage.outcome, func.count()).group_by(ReturnedMessage.outcome)
    ):
        returned[outcome] = count
    returned["duplicate"] += session.scalar(select(func.coalesce(func.sum(ReturnedMessage.duplicate_count), 0))) or 0
    corrected = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.corrected)) or 0
    return {
        "suppressed": len(suppress.active_list(session)),
        "deliveries": sum(states.values()),
        "states": states,
        "corrected": corrected,
        "sent_messages": session.scalar(select(func.count()).select_from(SentMessage)) or 0,
        "returned_messages": returned,
        "events": session.scalar(select(func.count()).select_from(Event)) or 0,
        "orphans": session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.kind == "verdict", Event.delivery_id.is_(None))
        )
        or 0,
        "stale_orphans": session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                Event.kind == "verdict",
                Event.delivery_id.is_(None),
                Event.recorded_at < datetime.now(timezone.utc) - stale_after,
            )
        )
        or 0,
    }


def delivery_table(session: Session) -> list[dict[str, Any]]:
    """Every delivery with its state, for the quick-start summary."""
    rows = session.execute(
        select(Delivery, SentMessage)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .order_by(SentMessage.first_seen_at, SentMessage.id, Delivery.recipient)
    ).all()
    corrections = {
        e.delivery_id: e.detail
        for e in session.scalars(select(Event).where(Event.kind == "correction").order_by(Event.id))
    }
    return [
        {
            "message_id": sent.message_id,
            "recipient": d.recipient,
            "state": d.state,
            "status": d.status,
            "reason": d.reason,
            "corrected": d.corrected,
            "correction": corrections.get(d.id),
        }
        for d, sent in rows
    ]
