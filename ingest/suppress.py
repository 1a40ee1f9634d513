"""Keeping the suppression list in step with the ledger.

Called by reconciliation for the recipients whose deliveries just reached or
left a final state (see :func:`concerns`), and now and then by
:func:`settle` for soft-bounce suppressions a clean delivery may have ended;
the decision itself is :func:`bounceledger.models.suppression.decide_suppression`.
A release by hand is respected until a newer bounce or complaint arrives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from bounceledger.ingest import feed
from bounceledger.ingest.dbutil import among, insert_fresh
from bounceledger.ingest.keys import normalise_address, suppression_key
from bounceledger.models import Delivery, Event, Suppression
from bounceledger.models.suppression import Outcome, SuppressionPolicy, decide_suppression

FINAL_BAD = ("bounced", "expired", "complained")
#: States a suppression decision reads: the bad ones, and a ``delivered`` notice (a clean delivery).
DECIDING = (*FINAL_BAD, "delivered")


def concerns(old_state: str | None, old_reason: str | None, new_state: str, new_reason: str | None) -> bool:
    """Whether a delivery's change of state can change its recipient's suppression."""
    return (old_state, old_reason) != (new_state, new_reason) and (old_state in DECIDING or new_state in DECIDING)


def _clean(policy: SuppressionPolicy, now: datetime) -> ColumnElement[bool]:
    """A clean delivery: a success notice, or a first-hop 250 nothing corrected within
    ``clean_after`` (settled or not: the settlement window is only the gateway's habit)."""
    return or_(
        Delivery.state == "delivered",
        and_(Delivery.state.in_(("accepted", "settled")), Delivery.state_at <= now - policy.clean_after),
    )


def _outcomes(
    session: Session, recipients: list[str], policy: SuppressionPolicy, now: datetime
) -> dict[str, list[Outcome]]:
    """Each address's final bad outcomes, and its latest clean delivery (one per address is all that counts).

    One pass over each address's deliveries (the index on ``recipient``)
    serves both: reconciliation calls this for every recipient a batch
    changed, and a second scan per address cost as much as the first.
    """
    outcomes: dict[str, list[Outcome]] = defaultdict(list)
    latest_clean: dict[str, datetime] = {}
    session.flush()
    connection = session.connection()  # Core rows: no ORM loading per delivery
    for recipient_in in among(session, Delivery.recipient, recipients):
        for delivery_id, recipient, state, at, reason, status, replycode in connection.execute(
            select(
                Delivery.id,
                Delivery.recipient,
                Delivery.state,
                Delivery.state_at,
                Delivery.reason,
                Delivery.status,
                Delivery.replycode,
            ).where(
                recipient_in,
                or_(Delivery.state.in_(FINAL_BAD), and_(_clean(policy, now), Delivery.state_at.is_not(None))),
            )
        ).all():
            if state in FINAL_BAD:
                outcomes[recipient].append(Outcome(delivery_id, state, at or now, reason, status, replycode))
            elif recipient not in latest_clean or at > latest_clean[recipient]:
                latest_clean[recipient] = at
    for recipient, at in latest_clean.items():
        outcomes[recipient].append(Outcome(0, "delivered", at))  # only its time matters
    return outcomes


def _lift_note(outcomes: list[Outcome], row: Suppression) -> str:
    clean = [o.at for o in outcomes if o.state == "delivered" and o.at > row.since]
    if clean:
        return f"soft-bounce count reset by a clean delivery at {max(clean).isoformat(' ', 'seconds')}"
    return "its soft bounces no longer count (their reasons are the sender's side: see [suppression] soft_reasons)"


def refresh(
    session: Session, recipients: Iterable[str], policy: SuppressionPolicy, now: datetime | None = None
) -> int:
    """Re-decide these addresses under ``policy`` (the settings', see :mod:`bounceledger.ingest.rules`);
    returns how many rows were added or changed.

    An automatic soft-bounce suppression whose bounces no longer add up
    (a clean delivery since, or reasons that no longer count) is lifted,
    with an audit event saying why.
    """
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return 0
    now = now or datetime.now(timezone.utc)
    outcomes = _outcomes(session, recipients, policy, now)
    rows: dict[str, Suppression] = {}
    for address_in in among(session, Suppression.address, recipients):
        for row in session.scalars(select(Suppression).where(address_in)):
            rows[row.address] = row
    changed = 0
    new_rows: list[dict[str, object]] = []
    for recipient in recipients:
        decision = decide_suppression(outcomes.get(recipient, []), policy)
        row = rows.get(recipient)
        if decision is None:
            if row is not None and row.active and row.reason == "softbounce":
                _lift(session, row, _lift_note(outcomes.get(recipient, []), row), now)
                changed += 1
            continue
        if row is None:
            feed.record_suppression(session, recipient, feed.SUPPRESSION_ADDED, decision.reason, decision.delivery_id, decision.since)
            new_rows.append(
                {
                    "address": recipient,
                    "reason": decision.reason,
                    "active": True,
                    "source_delivery_id": decision.delivery_id,
                    "note": None,
                    "since": decision.since,
                    "expires_at": decision.expires_at,
                    "released_at": None,
                    "updated_at": now,
                }
            )
            continue
        if row.released_at is not None and decision.since <= row.released_at:
            continue  # released by hand after this bounce: respect that
        if row.reason == "manual" and row.active:
            continue
        if (row.active, row.reason, row.since, row.expires_at, row.source_delivery_id) == (
            True,
            decision.reason,
            decision.since,
            decision.expires_at,
            decision.delivery_id,
        ):
            continue
        if not (is_active(row, now) and row.reason == decision.reason):
            feed.record_suppression(session, recipient, feed.SUPPRESSION_ADDED, decision.reason, decision.delivery_id, decision.since)
        row.active = True
        row.reason = decision.reason
        row.since = decision.since
        row.expires_at = decision.expires_at
        row.source_delivery_id = decision.delivery_id
        row.released_at = None
        row.note = None
        row.updated_at = now
        changed += 1
    insert_fresh(session, Suppression, new_rows, ["address"])
    session.flush()
    return changed + len(new_rows)


def _lift(session: Session, row: Suppression, note: str, now: datetime) -> None:
    """End an automatic suppression; unlike a release by hand, any later decision may put it back."""
    row.active = False
    row.updated_at = now
    _audit(session, row.address, "lifted", note, now, source="reconcile")
    feed.record_suppression(session, row.address, feed.SUPPRESSION_RELEASED, row.reason, row.source_delivery_id, now, note)


def announce_expiries(session: Session, now: datetime) -> int:
    """A ``suppression.released`` feed entry for each suppression whose ``expires_at`` passed.

    Nothing is written to the row when a suppression simply runs out (it is
    read as inactive from then on), so a sending system that follows the
    list through the feed (``suppressions --since``, webhooks) would never
    hear of it; the expiry job calls this.
    """
    rows = session.scalars(
        select(Suppression).where(
            Suppression.active,
            Suppression.expires_at <= now,
            or_(Suppression.expiry_announced_at.is_(None), Suppression.expiry_announced_at < Suppression.expires_at),
        )
    ).all()
    for row in rows:
        assert row.expires_at is not None
        feed.record_suppression(session, row.address, feed.SUPPRESSION_RELEASED, row.reason, row.source_delivery_id,
                                row.expires_at, "expired")
        row.expiry_announced_at = now
    return len(rows)


def settle(session: Session, policy: SuppressionPolicy, now: datetime | None = None) -> int:
    """Re-decide the active soft-bounce suppressions that may have ended; returns rows changed.

    Those whose address has had a clean delivery since (a 250 settles only
    ``clean_after`` after it was given, so something must look again
    later: the scheduler's expiry job and ``run`` call this), and those
    whose deciding bounce's reason no longer counts (the reason table was
    changed).
    """
    now = now or datetime.now(timezone.utc)
    clean_since = exists().where(
        Delivery.recipient == Suppression.address, Delivery.state_at > Suppression.since, _clean(policy, now)
    )
    source_reason = func.coalesce(Delivery.reason, "undefined")
    no_longer_counts = exists().where(
        Delivery.id == Suppression.source_delivery_id, source_reason.not_in(sorted(policy.soft_bounce_reasons))
    )
    addresses = session.scalars(
        select(Suppression.address).where(
            Suppression.active, Suppression.reason == "softbounce", or_(clean_since, no_longer_counts)
        )
    ).all()
    return refresh(session, addresses, policy, now)


def _audit(session: Session, address: str, outcome: str, note: str, now: datetime, source: str = "manual") -> None:
    session.add(
        Event(
            dedupe_key=suppression_key(address, outcome, now),
            delivery_id=None,
            recipient=address,
            kind="suppression",
            source=source,
            at=now,
            outcome=outcome,
            first_hop=False,
            detail=note,
            recorded_at=now,
        )
    )


def release(session: Session, address: str, note: str, now: datetime | None = None) -> bool:
    """Take an address off the list by hand, with an audit event; False if it was not on it."""
    now = now or datetime.now(timezone.utc)
    recipient = normalise_address(address) or ""
    row = session.scalar(select(Suppression).where(Suppression.address == recipient))
    if row is None or not is_active(row, now):
        return False
    row.active = False
    row.released_at = now
    row.note = note
    row.updated_at = now
    _audit(session, recipient, "released", note, now)
    feed.record_suppression(session, recipient, feed.SUPPRESSION_RELEASED, row.reason, row.source_delivery_id, now, note)
    return True


def add(session: Session, address: str, note: str, now: datetime | None = None, reason: str = "manual") -> None:
    """Put an address on the list by hand (until released), with an audit event.

    ``reason`` is ``manual`` unless another program's list says why
    (``suppressions import``).
    """
    now = now or datetime.now(timezone.utc)
    recipient = normalise_address(address) or ""
    row = session.scalar(select(Suppression).where(Suppression.address == recipient))
    if row is None or not (is_active(row, now) and row.reason == reason):  # else no news for the feed
        feed.record_suppression(session, recipient, feed.SUPPRESSION_ADDED, reason, None, now, note)
    if row is None:
        row = Suppression(address=recipient)
        session.add(row)
    row.active, row.reason, row.since, row.expires_at = True, reason, now, None
    row.released_at, row.note, row.updated_at, row.source_delivery_id = None, note, now, None
    _audit(session, recipient, "added", note, now)


def is_active(row: Suppression, now: datetime) -> bool:
    return row.active and (row.expires_at is None or row.expires_at > now)


def active_list(session: Session, now: datetime | None = None) -> list[Suppression]:
    now = now or datetime.now(timezone.utc)
    return list(
        session.scalars(
            select(Suppression)
            .where(Suppression.active, or_(Suppression.expires_at.is_(None), Suppression.expires_at > now))
            .order_by(Suppression.address)
        )
    )


def lookup(session: Session, address: str, now: datetime | None = None) -> Suppression | None:
    now = now or datetime.now(timezone.utc)
    row = session.scalar(select(Suppression).where(Suppression.address == (normalise_address(address) or "")))
    return row if row is not None and is_active(row, now) else None
