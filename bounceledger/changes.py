"""Reading the change feed: each entry as a sending platform needs it.

The feed table (:class:`bounceledger.models.Change`) keeps a transition and
a pointer to its deciding event; here each entry is joined with what a
consumer acts on without a second call: the message's identifiers (to find
its own record of the send), the recipient, reason, category and hard/soft
(from the same classifier as every other face), and the evidence itself.
``changes --json``, ``GET /api/v1/changes`` and the webhook sender all use
:func:`read`, so they hand over identical entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bounceledger.ingest import feed
from bounceledger.models import Change, Delivery, Event, SentMessage
from bounceledger.queries import _iso, event_explanation
from bounceledger.reports import describe_reason

#: The most entries one read returns (a consumer pages with ``after``).
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000

#: States whose reason is a failure worth a category and hard/soft.
_FAILED_STATES = frozenset({"bounced", "expired", "complained", "deferred"})

ENTRY_KEYS = frozenset(
    {
        "seq", "type", "recorded_at", "at", "delivery_id", "recipient", "message",
        "from_state", "to_state", "reason", "category", "hard", "status", "replycode", "detail",
        "evidence", "note",
    }
)
MESSAGE_KEYS = frozenset({"message_id", "queue_id", "campaign", "match_header", "token", "envelope_id", "sender"})
EVIDENCE_KEYS = frozenset(
    {"kind", "source", "outcome", "at", "remote_host", "match_key", "returned_message_id", "reporting_mta", "line"}
)


class UnknownType(ValueError):
    """A ``--types`` value that is not an entry type."""


def check_types(types: Sequence[str] | None) -> tuple[str, ...] | None:
    """The requested entry types, each one checked; None means every type.

    ``delivery.*`` and ``suppression.*`` select a whole family.
    """
    if not types:
        return None
    chosen: list[str] = []
    for name in types:
        if name.endswith(".*") and any(t.startswith(name[:-1]) for t in feed.TYPES):
            chosen.extend(t for t in feed.TYPES if t.startswith(name[:-1]))
        elif name in feed.TYPES:
            chosen.append(name)
        else:
            raise UnknownType(f"unknown change type {name!r}; known: {', '.join(feed.TYPES)}")
    return tuple(dict.fromkeys(chosen))


def last_seq(session: Session) -> int:
    """The newest sequence number (0 for an empty feed)."""
    return session.scalar(select(func.max(Change.seq))) or 0


def read(
    session: Session,
    after: int = 0,
    limit: int = DEFAULT_LIMIT,
    types: Sequence[str] | None = None,
    campaign: str | None = None,
) -> list[dict[str, Any]]:
    """Entries with ``seq > after``, oldest first, at most ``limit``.

    ``campaign`` keeps delivery entries of that campaign's messages only
    (suppression entries name no campaign and are dropped by it).
    """
    limit = max(1, min(limit, MAX_LIMIT))
    stmt = select(Change).where(Change.seq > after).order_by(Change.seq).limit(limit)
    if types:
        stmt = stmt.where(Change.type.in_(list(types)))
    if campaign is not None:
        stmt = stmt.join(Delivery, Delivery.id == Change.delivery_id).join(
            SentMessage, SentMessage.id == Delivery.sent_message_id
        ).where(SentMessage.campaign == campaign)
    rows = list(session.scalars(stmt))
    deliveries = _deliveries(session, {r.delivery_id for r in rows if r.delivery_id is not None})
    events = _events(session, {r.event_key for r in rows if r.event_key})
    return [entry(row, *deliveries.get(row.delivery_id, (None, None)), events.get(row.event_key or "")) for row in rows]


def read_all(
    session: Session, after: int = 0, types: Sequence[str] | None = None, campaign: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every entry with ``seq > after``, oldest first, read a page at a time."""
    while page := read(session, after, MAX_LIMIT, types, campaign):
        yield from page
        after = page[-1]["seq"]


def _deliveries(session: Session, ids: set[int]) -> dict[int | None, tuple[Delivery, SentMessage]]:
    if not ids:
        return {}
    found = session.execute(
        select(Delivery, SentMessage).join(SentMessage, SentMessage.id == Delivery.sent_message_id).where(Delivery.id.in_(ids))
    )
    return {delivery.id: (delivery, sent) for delivery, sent in found}


def _events(session: Session, keys: set[str]) -> dict[str, Event]:
    if not keys:
        return {}
    return {e.dedupe_key: e for e in session.scalars(select(Event).where(Event.dedupe_key.in_(keys)))}


def message_json(sent: SentMessage | None) -> dict[str, Any] | None:
    """The identifiers a sending platform finds its own record of the send by."""
    if sent is None:
        return None
    return {
        "message_id": sent.message_id,
        "queue_id": sent.queue_id,
        "campaign": sent.campaign,
        "match_header": sent.header_ref,
        "token": sent.return_path_token,
        "envelope_id": sent.envelope_id,
        "sender": sent.sender,
    }


def evidence_json(event: Event | None) -> dict[str, Any] | None:
    """What the change was read from: the log line or the returned message that decided it."""
    if event is None:
        return None
    evidence = event.evidence or {}
    return {
        "kind": event.kind,
        "source": event.source,
        "outcome": event.outcome,
        "at": _iso(event.at),
        "remote_host": event.remote_host,
        "match_key": event.match_key,
        "returned_message_id": event.returned_message_id,
        "reporting_mta": evidence.get("reporting_mta"),
        "line": evidence.get("line") or evidence.get("accepted_line"),
    }


def entry(change: Change, delivery: Delivery | None, sent: SentMessage | None, event: Event | None) -> dict[str, Any]:
    """One feed entry as every face hands it over."""
    if change.type.startswith("suppression."):
        # reason: the suppression's own (hardbounce, softbounce, complaint,
        # manual); the code and category: the delivery that caused it, if any
        reason = change.reason
        status = delivery.status if delivery else None
        replycode = delivery.replycode if delivery else None
        detail = delivery.detail if delivery else None
        category = describe_reason(delivery.reason)["category"] if delivery and delivery.reason else None
        hard: bool | None = reason == "hardbounce"
    else:
        source: Any = event if event is not None else delivery
        reason = source.reason if source is not None else None
        status = source.status if source is not None else None
        replycode = source.replycode if source is not None else None
        detail = source.detail if source is not None else None
        category, hard = None, None
        if change.to_state in _FAILED_STATES:
            explained = event_explanation(event) if event is not None else None
            words = explained or describe_reason(reason, status, replycode, change.to_state)
            category, hard = words["category"], words["hard"]
    return {
        "seq": change.seq,
        "type": change.type,
        "recorded_at": _iso(change.recorded_at),
        "at": _iso(change.at),
        "delivery_id": change.delivery_id,
        "recipient": change.address if change.address is not None else (delivery.recipient if delivery else None),
        "message": message_json(sent),
        "from_state": change.from_state,
        "to_state": change.to_state,
        "reason": reason,
        "category": category,
        "hard": hard,
        "status": status,
        "replycode": replycode,
        "detail": detail,
        "evidence": evidence_json(event),
        "note": change.note,
    }
