"""Read-side queries for the faces (CLI, scheduler summaries, dashboard).

They return plain dicts shaped like the CLI's JSON contract, so every face
shows the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from bounceledger.reports import NO_CAMPAIGN, Filters, arrived_in, describe_reason, message_conditions
from bounceledger.ingest import corrections, settlement, suppress
from bounceledger.ingest.keys import normalise_address
from bounceledger.models import Delivery, Event, ReturnedMessage, SentMessage, Suppression
from bounceledger.models.state import STATES

RETURNED_OUTCOMES = ("processed", "unparsed", "ignored", "duplicate", "error")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


#: An event's outcome as the delivery state it stands for: what its badge is judged by.
EVENT_STATES = {
    "rejected": "bounced",
    "bounce": "bounced",
    "bounced": "bounced",
    "deferred": "deferred",
    "delay": "deferred",
    "expired": "expired",
    "timeout": "expired",
    "complaint": "complained",
    "complained": "complained",
}


def event_explanation(event: Event) -> dict[str, Any] | None:
    """Plain words and the badge for a failing event (a 4xx/5xx answer); None otherwise."""
    if not (event.status or event.replycode or "").startswith(("4", "5")):
        return None
    explanation = describe_reason(event.reason, event.status, event.replycode, EVENT_STATES.get(event.outcome))
    evidence = event.evidence or {}
    if isinstance(evidence.get("hardbounce"), bool):
        # the classifier's verdict stored with this event
        explanation["hard"] = evidence["hardbounce"]
        if explanation["hard"]:
            explanation["severity"] = "hard"
        elif explanation["severity"] == "hard":
            explanation["severity"] = "permanent"
    return explanation


def _event_json(event: Event) -> dict[str, Any]:
    evidence = event.evidence or {}
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
        "reporting_mta": evidence.get("reporting_mta"),
        "explanation": event_explanation(event),
    }


#: States whose reason is worth explaining (the rest have no failure to explain).
EXPLAINED_STATES = ("bounced", "expired", "complained", "deferred")


def delivery_json(
    delivery: Delivery, sent: SentMessage, events: list[dict[str, Any]], windows: settlement.Windows | None = None
) -> dict[str, Any]:
    """One delivery as ``lookup --json`` shows it (the contract's field names).

    ``provisional_until``: when an ``accepted`` delivery settles unless a
    bounce comes back first (its first hop's window, from ``windows``);
    ``settled_at``: when a ``settled`` one did.
    """
    until = None
    if delivery.state == "accepted" and windows is not None:
        until = settlement.provisional_until(windows, delivery.first_hop_host, delivery.state_at)
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
        "delivery_id": delivery.id,
        "campaign": sent.campaign if sent.campaign is not None else NO_CAMPAIGN,
        "sent_at": _iso(sent.first_seen_at),
        "explanation": describe_reason(delivery.reason, delivery.status, delivery.replycode, delivery.state)
        if delivery.state in EXPLAINED_STATES
        else None,
        "first_hop_organisation": settlement.organisation(delivery.first_hop_host),
        "provisional_until": _iso(until),
        "settled_at": _iso(delivery.state_at) if delivery.state == "settled" else None,
    }


EventSerialiser = Callable[[Event], dict[str, Any]]


def lookup(
    session: Session,
    address: str,
    serialiser: Callable[[list[Event]], EventSerialiser] = lambda _events: _event_json,
    policy: settlement.SettlementPolicy | None = None,
) -> dict[str, Any]:
    """Every delivery to ``address`` with its events, oldest first, and its suppression.

    ``suppression`` is the entry in force (None when there is none);
    ``past_suppression`` a released or expired one, kept for the story.
    ``serialiser`` is given every event loaded and returns the function
    that shows one (the dashboard adds evidence and subjects). ``policy``
    (the ``[settlement]`` settings; their defaults when None) sets how long
    an accepted delivery stays provisional (for ever when it is disabled).
    """
    recipient = normalise_address(address) or ""
    rows = session.execute(
        select(Delivery, SentMessage)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .where(Delivery.recipient == recipient)
        .order_by(Delivery.first_attempt_at, Delivery.id)
    ).all()
    ids = [delivery.id for delivery, _ in rows]
    events: dict[int, list[Event]] = defaultdict(list)
    loaded: list[Event] = []
    if ids:
        stored = session.scalars(select(Event).where(Event.delivery_id.in_(ids)).order_by(Event.at, Event.id)).all()
        # each correction shown after the verdict that carries it, as its own event
        loaded = corrections.with_corrections(session, stored)
        for event in loaded:
            events[event.delivery_id].append(event)  # type: ignore[index]
    loose = session.scalars(
        select(Event)
        .where(Event.recipient == recipient, Event.delivery_id.is_(None))
        .order_by(Event.at, Event.id)
    ).all()
    orphans = [e for e in loose if e.kind == "verdict"]
    audit = [e for e in loose if e.kind == "suppression"]
    show = serialiser(loaded + orphans + audit)
    policy = policy or settlement.SettlementPolicy()
    windows = None
    # only an accepted delivery makes the windows worth learning; with settlement off none ends
    if policy.enabled and any(delivery.state == "accepted" for delivery, _ in rows):
        windows = settlement.learn_windows(session, policy)
    now = datetime.now(timezone.utc)
    suppression = session.scalar(select(Suppression).where(Suppression.address == recipient))
    active = suppression is not None and suppress.is_active(suppression, now)
    return {
        "address": recipient,
        "deliveries": [
            delivery_json(delivery, sent, [show(e) for e in events[delivery.id]], windows) for delivery, sent in rows
        ],
        "unmatched_verdicts": [show(e) for e in orphans],
        "suppression_history": [show(e) for e in audit],
        "suppressed": active,
        "suppression": suppression_json(suppression, now) if suppression is not None and active else None,
        "past_suppression": suppression_json(suppression, now) if suppression is not None and not active else None,
    }


def suppression_json(row: Suppression, now: datetime | None = None) -> dict[str, Any]:
    """One suppression entry, whether it is in force, and why it ended."""
    now = now or datetime.now(timezone.utc)
    return {
        "address": row.address,
        "reason": row.reason,
        "since": _iso(row.since),
        "expires_at": _iso(row.expires_at),
        "note": row.note,
        "active": suppress.is_active(row, now),
        "released_at": _iso(row.released_at),
        "expired": bool(row.active and row.expires_at is not None and row.expires_at <= now),
        "updated_at": _iso(row.updated_at),
        "source_delivery_id": row.source_delivery_id,
    }


def report(
    session: Session,
    stale_after: timedelta = timedelta(hours=24),
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    """Counts per state, corrections, and what the mailbox runs did.

    ``stale_orphans`` counts verdicts still unmatched ``stale_after`` after
    they arrived: their send is probably not in any log we read, and an
    operator should look (they are kept, never dropped).

    ``campaign``, ``since`` and ``until`` narrow the numbers as they narrow
    the funnel (:mod:`bounceledger.reports`: messages first seen in the
    window, of that campaign), so the headline and the sections below it
    agree: deliveries, states, corrections, sent messages, the events of
    those deliveries, and the returned messages that matched them. What
    belongs to no send is narrowed by the day it arrived: returned mail
    tied to no delivery, and unmatched verdicts; a campaign cannot narrow
    it (``unfiltered`` lists the keys a given filter left whole, and the
    suppression list is always the list as it is now).
    """
    filters = Filters(campaign, since, until)
    conditions = message_conditions(filters)
    scoped = bool(conditions)

    def in_scope(stmt: Select[Any]) -> Select[Any]:
        if not scoped:
            return stmt
        return stmt.join(SentMessage, SentMessage.id == Delivery.sent_message_id).where(*conditions)

    states = {state: 0 for state in (*STATES, "pending")}
    for state, count in session.execute(
        in_scope(select(Delivery.state, func.count()).select_from(Delivery)).group_by(Delivery.state)
    ):
        states[state] = count
    returned_scope: list[ColumnElement[bool]] = []
    if scoped:
        matched = in_scope(
            select(Event.returned_message_id)
            .select_from(Event)
            .join(Delivery, Delivery.id == Event.delivery_id)
            .where(Event.returned_message_id.is_not(None))
        )
        condition: ColumnElement[bool] = ReturnedMessage.id.in_(matched)
        if filters.campaign is None:
            tied = select(Event.id).where(Event.returned_message_id == ReturnedMessage.id, Event.delivery_id.is_not(None))
            condition = or_(condition, and_(~tied.exists(), *arrived_in(ReturnedMessage.received_at, filters)))
        returned_scope.append(condition)
    returned = {outcome: 0 for outcome in RETURNED_OUTCOMES}
    for outcome, count in session.execute(
        select(ReturnedMessage.outcome, func.count()).where(*returned_scope).group_by(ReturnedMessage.outcome)
    ):
        returned[outcome] = count
    returned["duplicate"] += (
        session.scalar(select(func.coalesce(func.sum(ReturnedMessage.duplicate_count), 0)).where(*returned_scope)) or 0
    )
    corrected = session.scalar(in_scope(select(func.count()).select_from(Delivery)).where(Delivery.corrected)) or 0
    # A correction counts as an event, as it did when it had a row of its own.
    counted = select(func.count() + func.count(Event.corrected_to)).select_from(Event)
    if scoped:
        events = session.scalar(in_scope(counted.join(Delivery, Delivery.id == Event.delivery_id)))
    else:
        events = session.scalar(counted)
    unmatched = [Event.kind == "verdict", Event.delivery_id.is_(None), *arrived_in(Event.at, filters)]
    stale_before = datetime.now(timezone.utc) - stale_after
    from bounceledger.webhooks import store as webhook_store  # it reads through this module: imported late

    return {
        "suppressed": len(suppress.active_list(session)),
        "deliveries": sum(states.values()),
        "states": states,
        "corrected": corrected,
        "sent_messages": session.scalar(select(func.count()).select_from(SentMessage).where(*conditions)) or 0,
        "returned_messages": returned,
        "events": events or 0,
        "orphans": session.scalar(select(func.count()).select_from(Event).where(*unmatched)) or 0,
        "stale_orphans": session.scalar(
            select(func.count()).select_from(Event).where(*unmatched, Event.recorded_at < stale_before)
        )
        or 0,
        "webhooks": webhook_store.status(session),  # the endpoints as they are now, whatever the filters
        "filters": filters.as_json(),
        "unfiltered": (["suppressed"] if scoped else [])
        + (["orphans", "stale_orphans"] if filters.campaign is not None else []),
    }


def delivery_table(session: Session) -> list[dict[str, Any]]:
    """Every delivery with its state, for the quick-start summary."""
    rows = session.execute(
        select(Delivery, SentMessage)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .order_by(SentMessage.first_seen_at, SentMessage.id, Delivery.recipient)
    ).all()
    corrected = {e.delivery_id: e.detail for e in corrections.corrections(session)}
    return [
        {
            "message_id": sent.message_id,
            "recipient": d.recipient,
            "state": d.state,
            "status": d.status,
            "reason": d.reason,
            "corrected": d.corrected,
            "correction": corrected.get(d.id),
        }
        for d, sent in rows
    ]
