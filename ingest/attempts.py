"""Writing send-log attempts into the ledger, a batch at a time.

Set-based on purpose: a busy MTA writes millions of lines a day, so each
batch is a handful of multi-row statements rather than one ORM object per
line. Re-reading lines is harmless: every row has a natural unique key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from ingest import reconcile
from ingest.bounces.classify import classify
from ingest.dbutil import chunks, insert_ignoring_duplicates
from ingest.keys import attempt_key, message_key, normalise_address
from ingest.records import Attempt
from models import Delivery, Event, SentMessage


def _sent_message_rows(attempts: Sequence[Attempt]) -> list[dict[str, object]]:
    rows: dict[str, dict[str, object]] = {}
    for attempt in attempts:
        key = message_key(attempt)
        if key not in rows:
            rows[key] = {
                "msg_key": key,
                "message_id": attempt.message_id,
                "queue_id": attempt.queue_id,
                "envelope_id": attempt.envelope_id,
                "sender": normalise_address(attempt.sender),
                "campaign": attempt.campaign,
                "first_seen_at": attempt.at,
            }
        elif attempt.campaign and not rows[key]["campaign"]:
            rows[key]["campaign"] = attempt.campaign
    return list(rows.values())


def _ids_by_key(session: Session, keys: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(list(keys)):
        found.update(
            session.execute(
                select(SentMessage.msg_key, SentMessage.id).where(SentMessage.msg_key.in_(part))
            ).all()
        )
    return found


def _delivery_ids(session: Session, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
    found: dict[tuple[int, str], int] = {}
    for part in chunks(list(pairs), 400):
        rows = session.execute(
            select(Delivery.sent_message_id, Delivery.recipient, Delivery.id).where(
                tuple_(Delivery.sent_message_id, Delivery.recipient).in_(list(part))
            )
        )
        for sent_id, recipient, delivery_id in rows:
            found[(sent_id, recipient)] = delivery_id
    return found


def _reason(attempt: Attempt) -> tuple[str | None, dict[str, object]]:
    """Why a first hop refused or delayed the attempt, in the same words as for bounces."""
    if attempt.verdict == "accepted":
        return None, {}
    if attempt.verdict == "expired":
        return "expired", {"category": "message-expired", "hardbounce": False}
    found = classify(attempt.status, attempt.replycode, attempt.text, attempt.relay_host)
    return found.reason, {"category": found.category, "hardbounce": found.hardbounce}


def _event_row(attempt: Attempt, delivery_id: int, source: str, now: datetime) -> dict[str, object]:
    reason, classification = _reason(attempt)
    return {
        "dedupe_key": attempt_key(attempt),
        "delivery_id": delivery_id,
        "recipient": normalise_address(attempt.recipient),
        "kind": "attempt",
        "source": source,
        "at": attempt.at,
        "outcome": attempt.verdict,
        "first_hop": attempt.first_hop,
        "remote_host": attempt.relay_host,
        "status": attempt.status,
        "replycode": attempt.replycode,
        "reason": reason,
        "detail": attempt.text or None,
        "from_state": None,
        "to_state": None,
        "match_key": None,
        "returned_message_id": None,
        "evidence": {
            "line": attempt.raw,
            "queue_id": attempt.queue_id,
            "relay_ip": attempt.relay_ip,
            "relay_port": attempt.relay_port,
            "next_hop_queue_id": attempt.next_hop_queue_id,
            "smtp_stage": attempt.smtp_stage,
            "delivery_agent": attempt.delivery_agent,
            "orig_recipient": attempt.orig_recipient,
            **classification,
        },
        "recorded_at": now,
    }


def is_notice(attempt: Attempt) -> bool:
    """Mail the MTA wrote itself (null sender: bounces, delay notices), not sent mail."""
    return attempt.sender == ""


def store_attempts(session: Session, attempts: Sequence[Attempt], source: str) -> set[int]:
    """Record a batch of attempts; returns the ids of the deliveries they touched.

    Callers leave out :func:`is_notice` attempts: the MTA's own DSNs are not
    deliveries of the sender's mail.
    """
    attempts = [a for a in attempts if normalise_address(a.recipient)]
    if not attempts:
        return set()
    now = datetime.now(timezone.utc)
    insert_ignoring_duplicates(session, SentMessage, _sent_message_rows(attempts), ["msg_key"])
    message_ids = _ids_by_key(session, sorted({message_key(a) for a in attempts}))

    delivery_rows: dict[tuple[int, str], dict[str, object]] = {}
    for attempt in attempts:
        pair = (message_ids[message_key(attempt)], normalise_address(attempt.recipient) or "")
        delivery_rows.setdefault(
            pair,
            {
                "sent_message_id": pair[0],
                "recipient": pair[1],
                "state": "pending",
                "corrected": False,
                "first_attempt_at": attempt.at,
            },
        )
    insert_ignoring_duplicates(
        session, Delivery, list(delivery_rows.values()), ["sent_message_id", "recipient"]
    )
    delivery_ids = _delivery_ids(session, list(delivery_rows))

    events = []
    hops: dict[int, dict[str, object]] = {}
    for attempt in attempts:
        pair = (message_ids[message_key(attempt)], normalise_address(attempt.recipient) or "")
        delivery_id = delivery_ids[pair]
        events.append(_event_row(attempt, delivery_id, source, now))
        if attempt.first_hop and attempt.verdict == "accepted":
            hops[delivery_id] = {
                "id": delivery_id,
                "first_hop_host": attempt.relay_host,
                "next_hop_queue_id": attempt.next_hop_queue_id,
            }
    insert_ignoring_duplicates(session, Event, events, ["dedupe_key"])
    if hops:
        session.execute(update(Delivery), list(hops.values()))
    touched = set(delivery_ids.values())
    reconcile.recompute(session, touched)
    return touched
