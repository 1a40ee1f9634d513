"""Recording a returned message and its verdicts in the ledger.

The raw bytes are stored before anything else is decided, so that a message
the parser cannot read yet is quarantined (outcome ``unparsed``) rather than
lost, and can be re-parsed when the parser improves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import reconcile
from ingest.bounces import parse
from ingest.keys import normalise_address, verdict_key
from ingest.records import ParsedMessage, Verdict
from models import Event, ReturnedMessage

StoreOutcome = Literal["processed", "unparsed", "ignored", "duplicate"]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    outcome: StoreOutcome
    returned_message_id: int | None
    verdicts: int = 0
    matched: int = 0
    orphans: int = 0
    error: str | None = None


def _message_time(parsed: ParsedMessage, received_at: datetime) -> datetime:
    """When the returned message says it was written; the receipt time otherwise."""
    raw_date = parsed.headers.get("date") or parsed.headers.get("Date")
    if raw_date:
        try:
            when = parsedate_to_datetime(raw_date)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return when.astimezone(timezone.utc)
    return received_at


def _outcome(parsed: ParsedMessage) -> StoreOutcome:
    if parsed.outcome == "unparsed":
        return "unparsed"
    if any(v.kind != "autoreply" for v in parsed.verdicts):
        return "processed"
    return "ignored"


def _verdict_event(
    verdict: Verdict,
    key: str,
    returned_id: int,
    at: datetime,
    source: str,
    now: datetime,
) -> Event:
    return Event(
        dedupe_key=key,
        delivery_id=None,
        recipient=normalise_address(verdict.recipient),
        kind="verdict",
        source=source,
        at=verdict.last_attempt_at or at,
        outcome=verdict.kind,
        first_hop=True,
        remote_host=verdict.remote_mta,
        status=verdict.status,
        replycode=verdict.replycode,
        reason=verdict.reason,
        detail=verdict.diagnostic,
        returned_message_id=returned_id,
        evidence={
            "action": verdict.action,
            "hardbounce": verdict.hardbounce,
            "category": verdict.category,
            "reporting_mta": verdict.reporting_mta,
            "original_recipient": verdict.original_recipient,
            "envelope_id": verdict.envelope_id,
            "original_message_id": verdict.original_message_id,
            "next_hop_queue_id": verdict.next_hop_queue_id,
            "return_path_token": verdict.return_path_token,
            "feedback_type": verdict.feedback_type,
            "detector": verdict.detector,
        },
        recorded_at=now,
    )


def store_returned_message(
    session: Session,
    raw: bytes,
    *,
    source: str,
    source_ref: str | None = None,
    received_at: datetime | None = None,
) -> StoredMessage:
    """Keep, parse and reconcile one returned message, exactly once per content."""
    digest = hashlib.sha256(raw).hexdigest()
    existing = session.scalar(select(ReturnedMessage.id).where(ReturnedMessage.sha256 == digest))
    if existing is not None:
        return StoredMessage("duplicate", existing)

    now = datetime.now(timezone.utc)
    received_at = received_at or now
    parsed = parse(raw)
    outcome = _outcome(parsed)
    returned = ReturnedMessage(
        sha256=digest,
        message_id=parsed.message_id,
        source=source,
        source_ref=source_ref,
        subject=parsed.subject,
        outcome=outcome,
        error=parsed.error,
        size=len(raw),
        raw=raw,
        received_at=received_at,
    )
    session.add(returned)
    session.flush()

    at = _message_time(parsed, received_at)
    events = [
        _verdict_event(v, verdict_key(digest, i, v), returned.id, at, source, now)
        for i, v in enumerate(parsed.verdicts)
    ]
    touched: set[int] = set()
    for event in events:
        found = reconcile.match(session, reconcile.keys_of(event))
        if found is not None:
            event.delivery_id, event.match_key = found
            touched.add(found[0])
        session.add(event)
    session.flush()
    reconcile.recompute(session, touched)
    matched = sum(1 for e in events if e.delivery_id is not None)
    return StoredMessage(
        outcome,
        returned.id,
        verdicts=len(events),
        matched=matched,
        orphans=len(events) - matched,
        error=parsed.error,
    )
