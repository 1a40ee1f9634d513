"""Reconciliation: tie verdicts to deliveries and re-derive their state.

Every state change goes through :func:`models.state.decide`; this module only
gathers the events, stores the decision and records corrections with their
evidence. Matching tries the strongest keys first (see ``MATCHERS``); a
verdict that matches nothing stays an orphan (``delivery_id`` NULL) and is
tried again on later runs, because the log line it corrects may not have
been read yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from ingest.dbutil import chunks, insert_ignoring_duplicates
from ingest.keys import correction_key, timeout_key
from models import Delivery, Event, SentMessage
from models.state import Decision, Fact, decide

# A returned message refers to a send at most this long before it (Postfix's
# default maximal_queue_lifetime is 5 days); queue ids outside it are reused.
MATCH_WINDOW = timedelta(days=7)
CLOCK_SKEW = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class MatchKeys:
    """What a verdict offers to find its delivery."""

    recipient: str | None
    at: datetime
    original_message_id: str | None = None
    next_hop_queue_id: str | None = None
    envelope_id: str | None = None


def _in_window(stmt: Select[tuple[int]], keys: MatchKeys) -> Select[tuple[int]]:
    return stmt.where(
        or_(
            Delivery.first_attempt_at.is_(None),
            and_(
                Delivery.first_attempt_at >= keys.at - MATCH_WINDOW,
                Delivery.first_attempt_at <= keys.at + CLOCK_SKEW,
            ),
        )
    )


def _by_message_id(keys: MatchKeys) -> Select[tuple[int]] | None:
    if not keys.original_message_id:
        return None
    return (
        select(Delivery.id)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .where(SentMessage.message_id == keys.original_message_id, Delivery.recipient == keys.recipient)
    )


def _by_envelope_id(keys: MatchKeys) -> Select[tuple[int]] | None:
    if not keys.envelope_id:
        return None
    return _in_window(
        select(Delivery.id)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .where(SentMessage.envelope_id == keys.envelope_id, Delivery.recipient == keys.recipient),
        keys,
    )


def _by_queue_id(keys: MatchKeys) -> Select[tuple[int]] | None:
    """The next hop's queue id (its own DSN) or ours (our MTA's DSN)."""
    if not keys.next_hop_queue_id:
        return None
    return _in_window(
        select(Delivery.id)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .where(
            Delivery.recipient == keys.recipient,
            or_(
                Delivery.next_hop_queue_id == keys.next_hop_queue_id,
                SentMessage.queue_id == keys.next_hop_queue_id,
            ),
        ),
        keys,
    )


def _by_recipient_window(keys: MatchKeys) -> Select[tuple[int]] | None:
    """Weak: the only delivery to this recipient in the window before the verdict."""
    return _in_window(select(Delivery.id).where(Delivery.recipient == keys.recipient), keys)


MATCHERS: tuple[tuple[str, Callable[[MatchKeys], Select[tuple[int]] | None]], ...] = (
    ("envelope_id", _by_envelope_id),
    ("queue_id", _by_queue_id),
    ("message_id", _by_message_id),
    ("weak", _by_recipient_window),
)


def match(session: Session, keys: MatchKeys) -> tuple[int, str] | None:
    """The delivery a verdict belongs to and the key that tied them, or None."""
    if not keys.recipient:
        return None
    for name, build in MATCHERS:
        stmt = build(keys)
        if stmt is None:
            continue
        found = session.execute(stmt.order_by(Delivery.first_attempt_at.desc()).limit(2)).scalars().all()
        if name == "weak":
            if len(found) == 1:
                return found[0], name
            continue
        if found:
            return found[0], name
    return None


def keys_of(event: Event) -> MatchKeys:
    evidence = event.evidence or {}
    return MatchKeys(
        recipient=event.recipient,
        at=event.at,
        original_message_id=evidence.get("original_message_id"),
        next_hop_queue_id=evidence.get("next_hop_queue_id"),
        envelope_id=evidence.get("envelope_id"),
    )


def retry_orphans(session: Session, limit: int = 10_000) -> tuple[int, int]:
    """Try to tie unmatched verdicts again; returns (linked, still orphaned)."""
    orphans = session.scalars(
        select(Event)
        .where(Event.kind == "verdict", Event.delivery_id.is_(None))
        .order_by(Event.id)
        .limit(limit)
    ).all()
    linked: list[dict[str, object]] = []
    for orphan in orphans:
        found = match(session, keys_of(orphan))
        if found is not None:
            linked.append({"id": orphan.id, "delivery_id": found[0], "match_key": found[1]})
    if linked:
        session.execute(update(Event), linked)
        recompute(session, {row["delivery_id"] for row in linked})  # type: ignore[misc]
    return len(linked), len(orphans) - len(linked)


def _facts(session: Session, delivery_ids: list[int]) -> dict[int, list[tuple[Fact, Event]]]:
    by_delivery: dict[int, list[tuple[Fact, Event]]] = defaultdict(list)
    for part in chunks(delivery_ids):
        rows = session.scalars(
            select(Event).where(Event.delivery_id.in_(part), Event.kind.in_(("attempt", "verdict")))
        )
        for event in rows:
            fact = Fact(
                kind=event.kind,  # type: ignore[arg-type]
                outcome=event.outcome,
                at=event.at,
                key=event.dedupe_key,
                first_hop=event.first_hop,
                status=event.status,
                replycode=event.replycode,
                reason=event.reason,
                detail=event.detail,
            )
            by_delivery[event.delivery_id].append((fact, event))  # type: ignore[index]
    return by_delivery


def _describe_correction(accepted: Event | None, decision: Decision) -> str:
    fact = decision.decided_by
    said = " ".join(x for x in (fact.status, fact.reason) if x)
    if accepted is not None:
        where = f" by {accepted.remote_host}" if accepted.remote_host else ""
        return (
            f"accepted{where} at {accepted.at:%Y-%m-%d %H:%M:%S} UTC, corrected to "
            f"{decision.state} at {fact.at:%Y-%m-%d %H:%M:%S} UTC: {said}".rstrip(": ")
        )
    return f"corrected to {decision.state}: {said}"


def recompute(session: Session, delivery_ids: Iterable[int]) -> int:
    """Re-derive the state of these deliveries; returns how many changed."""
    ids = sorted(set(delivery_ids))
    if not ids:
        return 0
    session.flush()
    facts = _facts(session, ids)
    current = {
        row.id: row
        for part in chunks(ids)
        for row in session.execute(
            select(Delivery.id, Delivery.state, Delivery.corrected, Delivery.first_attempt_at).where(
                Delivery.id.in_(part)
            )
        )
    }
    updates: list[dict[str, object]] = []
    corrections: list[dict[str, object]] = []
    now = datetime.now(timezone.utc)
    for delivery_id in ids:
        pairs = facts.get(delivery_id, [])
        decision = decide(f for f, _ in pairs)
        attempts_at = [f.at for f, _ in pairs if f.kind == "attempt"]
        first_at = min(attempts_at) if attempts_at else current[delivery_id].first_attempt_at
        state = decision.state if decision else "pending"
        fact = decision.decided_by if decision else None
        updates.append(
            {
                "id": delivery_id,
                "state": state,
                "reason": fact.reason if fact else None,
                "status": fact.status if fact else None,
                "replycode": fact.replycode if fact else None,
                "detail": fact.detail if fact else None,
                "state_at": fact.at if fact else None,
                "corrected": bool(decision and decision.corrected_from),
                "first_attempt_at": first_at,
            }
        )
        if decision and decision.corrected_from:
            by_key = {f.key: e for f, e in pairs}
            accepted = max(
                (e for f, e in pairs if f.kind == "attempt" and f.outcome == "accepted" and f.first_hop),
                key=lambda e: (e.at, e.dedupe_key),
                default=None,
            )
            verdict_event = by_key[decision.decided_by.key]
            corrections.append(
                {
                    "dedupe_key": correction_key(delivery_id, decision.state, decision.decided_by.key),
                    "delivery_id": delivery_id,
                    "recipient": verdict_event.recipient,
                    "kind": "correction",
                    "source": "reconcile",
                    "at": decision.decided_by.at,
                    "outcome": decision.state,
                    "first_hop": True,
                    "remote_host": accepted.remote_host if accepted else None,
                    "status": decision.decided_by.status,
                    "replycode": decision.decided_by.replycode,
                    "reason": decision.decided_by.reason,
                    "detail": _describe_correction(accepted, decision),
                    "from_state": decision.corrected_from,
                    "to_state": decision.state,
                    "match_key": verdict_event.match_key,
                    "returned_message_id": verdict_event.returned_message_id,
                    "evidence": {
                        "verdict_event_id": verdict_event.id,
                        "accepted_event_id": accepted.id if accepted else None,
                        "accepted_line": (accepted.evidence or {}).get("line") if accepted else None,
                    },
                    "recorded_at": now,
                }
            )
    changed = sum(
        1
        for row in updates
        if (current[row["id"]].state, current[row["id"]].corrected) != (row["state"], row["corrected"])  # type: ignore[index]
    )
    if updates:
        session.execute(update(Delivery), updates)
    insert_ignoring_duplicates(session, Event, corrections, ["dedupe_key"])
    return changed


def count_corrected(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.corrected)) or 0


def expire_deferred(session: Session, wait: timedelta, now: datetime) -> int:
    """Give up on deliveries that stayed deferred longer than ``wait``.

    Records a ``timeout`` event dated when the wait ran out (not when this
    job happened to run, so the result does not depend on the schedule);
    :mod:`models.state` lets any newer answer overrule it.
    """
    cutoff = now - wait
    stale = session.execute(
        select(Delivery.id, Delivery.recipient, Delivery.state_at).where(
            Delivery.state == "deferred", Delivery.state_at < cutoff
        )
    ).all()
    if not stale:
        return 0
    hours = wait.total_seconds() / 3600
    rows = [
        {
            "dedupe_key": timeout_key(delivery_id, state_at),
            "delivery_id": delivery_id,
            "recipient": recipient,
            "kind": "attempt",
            "source": "expiry",
            "at": state_at + wait,
            "outcome": "timeout",
            "first_hop": True,
            "remote_host": None,
            "status": None,
            "replycode": None,
            "reason": "expired",
            "detail": f"still deferred {hours:g} hours after the last answer: given up",
            "from_state": None,
            "to_state": None,
            "match_key": None,
            "returned_message_id": None,
            "evidence": None,
            "recorded_at": now,
        }
        for delivery_id, recipient, state_at in stale
    ]
    insert_ignoring_duplicates(session, Event, rows, ["dedupe_key"])
    recompute(session, [row["delivery_id"] for row in rows])  # type: ignore[misc]
    return len(rows)
