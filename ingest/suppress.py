"""Keeping the suppression list in step with the ledger.

Called by reconciliation for the recipients whose deliveries just reached a
final bad state; the decision itself is :func:`models.suppression.decide_suppression`.
A release by hand is respected until a newer bounce or complaint arrives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ingest.dbutil import among, insert_ignoring_duplicates
from ingest.keys import normalise_address, suppression_key
from models import Delivery, Event, Suppression
from models.suppression import Outcome, SuppressionPolicy, decide_suppression

FINAL_BAD = ("bounced", "expired", "complained")


def refresh(
    session: Session, recipients: Iterable[str], policy: SuppressionPolicy, now: datetime | None = None
) -> int:
    """Re-decide these addresses under ``policy`` (the settings', see :mod:`ingest.rules`);
    returns how many rows were added or changed."""
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return 0
    now = now or datetime.now(timezone.utc)
    outcomes: dict[str, list[Outcome]] = defaultdict(list)
    rows: dict[str, Suppression] = {}
    for recipient_in in among(session, Delivery.recipient, recipients):
        for delivery_id, recipient, state, at, reason, status, replycode in session.execute(
            select(
                Delivery.id,
                Delivery.recipient,
                Delivery.state,
                Delivery.state_at,
                Delivery.reason,
                Delivery.status,
                Delivery.replycode,
            ).where(recipient_in, Delivery.state.in_(FINAL_BAD))
        ):
            outcomes[recipient].append(Outcome(delivery_id, state, at or now, reason, status, replycode))
    for address_in in among(session, Suppression.address, recipients):
        for row in session.scalars(select(Suppression).where(address_in)):
            rows[row.address] = row
    changed = 0
    new_rows: list[dict[str, object]] = []
    for recipient in recipients:
        decision = decide_suppression(outcomes.get(recipient, []), policy)
        row = rows.get(recipient)
        if decision is None:
            continue
        if row is None:
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
        row.active = True
        row.reason = decision.reason
        row.since = decision.since
        row.expires_at = decision.expires_at
        row.source_delivery_id = decision.delivery_id
        row.released_at = None
        row.note = None
        row.updated_at = now
        changed += 1
    insert_ignoring_duplicates(session, Suppression, new_rows, ["address"])
    session.flush()
    return changed + len(new_rows)


def _audit(session: Session, address: str, outcome: str, note: str, now: datetime) -> None:
    session.add(
        Event(
            dedupe_key=suppression_key(address, outcome, now),
            delivery_id=None,
            recipient=address,
            kind="suppression",
            source="manual",
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
    return True


def add(session: Session, address: str, note: str, now: datetime | None = None) -> None:
    """Put an address on the list by hand (until released), with an audit event."""
    now = now or datetime.now(timezone.utc)
    recipient = normalise_address(address) or ""
    row = session.scalar(select(Suppression).where(Suppression.address == recipient))
    if row is None:
        row = Suppression(address=recipient)
        session.add(row)
    row.active, row.reason, row.since, row.expires_at = True, "manual", now, None
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
