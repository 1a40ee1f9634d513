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

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ingest import reconcile
from ingest.bounces import parse
from ingest.keys import normalise_address, verdict_key
from ingest.records import ParsedMessage, Verdict
from models import Event, ReturnedMessage

StoreOutcome = Literal["processed", "unparsed", "ignored", "duplicate", "seen"]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """What became of one message.

    ``seen`` means this very message (same mailbox position) was stored
    before: a re-read after a crash or a rescan, not news. ``duplicate``
    means a second copy found elsewhere. ``filed_as`` is the folder outcome
    a mailbox source files the message under.
    """

    outcome: StoreOutcome
    returned_message_id: int | None
    filed_as: str = "processed"
    verdicts: int = 0
    matched: int = 0
    orphans: int = 0
    error: str | None = None


def stored_outcome(session: Session, source: str, source_ref: str) -> str | None:
    """What a message at this mailbox position was filed as, if it was stored."""
    return session.scalar(
        select(ReturnedMessage.outcome)
        .where(ReturnedMessage.source == source, ReturnedMessage.source_ref == source_ref)
        .limit(1)
    )


def _known_copy(session: Session, digest: str, source: str, source_ref: str | None, count: bool) -> StoredMessage | None:
    existing = session.execute(
        select(ReturnedMessage.id, ReturnedMessage.source, ReturnedMessage.source_ref, ReturnedMessage.outcome).where(
            ReturnedMessage.sha256 == digest
        )
    ).first()
    if existing is None:
        return None
    if not count or (existing.source, existing.source_ref) == (source, source_ref):
        return StoredMessage("seen", existing.id, filed_as=existing.outcome)
    session.execute(
        update(ReturnedMessage)
        .where(ReturnedMessage.id == existing.id)
        .values(duplicate_count=ReturnedMessage.duplicate_count + 1)
    )
    return StoredMessage("duplicate", existing.id, filed_as=existing.outcome)


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


def _message_id_known(session: Session, message_id: str) -> bool:
    return (
        session.scalar(
            select(ReturnedMessage.id)
            .where(ReturnedMessage.message_id == message_id, ReturnedMessage.outcome != "duplicate")
            .limit(1)
        )
        is not None
    )


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
    count_duplicates: bool = True,
) -> StoredMessage:
    """Keep, parse and reconcile one returned message, exactly once per content.

    ``count_duplicates`` is off while a source re-reads a renumbered
    mailbox, where every known message would otherwise look like a copy.
    """
    digest = hashlib.sha256(raw).hexdigest()
    known = _known_copy(session, digest, source, source_ref, count_duplicates)
    if known is not None:
        return known

    now = datetime.now(timezone.utc)
    received_at = received_at or now
    parsed = parse(raw)
    outcome: StoreOutcome = _outcome(parsed)
    if outcome != "unparsed" and parsed.message_id and _message_id_known(session, parsed.message_id):
        outcome = "duplicate"  # the same notice again with other bytes (re-sent, other Delivered-To)
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
    if outcome == "duplicate":
        return StoredMessage("duplicate", returned.id, filed_as="processed")

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
        filed_as=outcome,
        verdicts=len(events),
        matched=matched,
        orphans=len(events) - matched,
        error=parsed.error,
    )
