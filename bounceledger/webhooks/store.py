"""Each endpoint's place in the change feed, its failure state and its dead letters.

Every write is conditional on the cursor the sender last read
(:func:`advance`), so a ``webhooks replay`` issued while a sender is
mid-batch wins: the sender notices, stops, and starts again from the
replayed place on its next pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bounceledger.changes import last_seq
from bounceledger.models import WebhookDeadLetter, WebhookEndpoint
from bounceledger.queries import _iso


@dataclass(frozen=True, slots=True)
class Place:
    """An endpoint as the sender found it."""

    id: int
    cursor: int
    failing_seq: int | None
    attempts: int
    first_failure_at: datetime | None
    next_attempt_at: datetime | None


def place(session: Session, name: str, url: str, now: datetime) -> Place:
    """The endpoint's row, made on first use at the start of the feed (a new endpoint gets every entry)."""
    row = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.name == name))
    if row is None:
        row = WebhookEndpoint(name=name, url=url, cursor=0, attempts=0, delivered=0, failures=0, updated_at=now)
        session.add(row)
        session.flush()
    elif row.url != url:
        row.url, row.updated_at = url, now
    return Place(row.id, row.cursor, row.failing_seq, row.attempts, row.first_failure_at, row.next_attempt_at)


def _at_cursor(session: Session, endpoint_id: int, expected: int, **values: Any) -> bool:
    """Update the endpoint only if its cursor is still ``expected``; False if someone else moved it (a replay)."""
    done = session.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.cursor == expected).values(**values)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _failure(status: int | None, error: str, now: datetime) -> dict[str, Any]:
    """What every failed attempt records."""
    return {"last_status": status, "last_error": error[:2000], "failures": WebhookEndpoint.failures + 1, "updated_at": now}


def advance(session: Session, endpoint_id: int, expected: int, cursor: int, delivered: int, now: datetime) -> bool:
    """Move the cursor past what was sent."""
    values: dict[str, Any] = {"cursor": cursor, "updated_at": now}
    if delivered:
        values |= {"delivered": WebhookEndpoint.delivered + delivered, "last_success_at": now,
                   "failing_seq": None, "attempts": 0, "first_failure_at": None, "next_attempt_at": None,
                   "last_error": None, "last_status": None}
    return _at_cursor(session, endpoint_id, expected, **values)


def failed(
    session: Session, endpoint_id: int, expected: int, seq: int, attempts: int, first_failure_at: datetime,
    next_attempt_at: datetime, status: int | None, error: str, now: datetime,
) -> bool:
    """Remember an entry's failed attempt and when to try it again."""
    return _at_cursor(session, endpoint_id, expected, failing_seq=seq, attempts=attempts, first_failure_at=first_failure_at,
                      next_attempt_at=next_attempt_at, **_failure(status, error, now))


def dead_letter(
    session: Session, endpoint_id: int, expected: int, seq: int, webhook_id: str, attempts: int,
    first_failure_at: datetime, status: int | None, error: str, now: datetime,
) -> bool:
    """Give up on an entry after its last retry and move the cursor past it."""
    if not _at_cursor(session, endpoint_id, expected, cursor=seq, failing_seq=None, attempts=0, first_failure_at=None,
                      next_attempt_at=None, **_failure(status, error, now)):
        return False
    session.add(WebhookDeadLetter(endpoint_id=endpoint_id, seq=seq, webhook_id=webhook_id, attempts=attempts,
                                  first_failure_at=first_failure_at, dead_at=now, last_status=status,
                                  last_error=error[:2000]))
    return True


def names(session: Session) -> set[str]:
    """Every endpoint that has had a place in the feed, configured now or not."""
    return set(session.scalars(select(WebhookEndpoint.name)))


def replay(session: Session, names: list[str] | None, from_seq: int, now: datetime) -> list[str]:
    """Send every entry from ``from_seq`` on again (same webhook ids); the endpoints it applies to.

    Dead letters at or after ``from_seq`` are marked replayed: they go out again.
    """
    stmt = select(WebhookEndpoint)
    if names:
        stmt = stmt.where(WebhookEndpoint.name.in_(names))
    rows = list(session.scalars(stmt.order_by(WebhookEndpoint.name)))
    for row in rows:
        row.cursor = max(from_seq - 1, 0)
        row.failing_seq, row.attempts, row.first_failure_at, row.next_attempt_at = None, 0, None, None
        row.updated_at = now
        session.execute(
            update(WebhookDeadLetter)
            .where(WebhookDeadLetter.endpoint_id == row.id, WebhookDeadLetter.seq >= from_seq,
                   WebhookDeadLetter.replayed_at.is_(None))
            .values(replayed_at=now)
        )
    return [row.name for row in rows]


def status(session: Session, name: str | None = None) -> list[dict[str, Any]]:
    """Every endpoint the ledger knows (or the one called ``name``): where it is, how far behind, what failed."""
    newest = last_seq(session)
    dead = dict(
        session.execute(
            select(WebhookDeadLetter.endpoint_id, func.count())
            .where(WebhookDeadLetter.replayed_at.is_(None))
            .group_by(WebhookDeadLetter.endpoint_id)
        ).all()
    )
    return [
        {
            "name": row.name,
            "url": row.url,
            "cursor": row.cursor,
            "backlog": max(newest - row.cursor, 0),
            "delivered": row.delivered,
            "failures": row.failures,
            "failing_seq": row.failing_seq,
            "attempts": row.attempts,
            "next_attempt_at": _iso(row.next_attempt_at),
            "last_status": row.last_status,
            "last_error": row.last_error,
            "last_success_at": _iso(row.last_success_at),
            "dead_letters": dead.get(row.id, 0),
        }
        for row in session.scalars(
            select(WebhookEndpoint).where(*([WebhookEndpoint.name == name] if name is not None else []))
            .order_by(WebhookEndpoint.name)
        )
    ]


def dead_letters(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The newest entries no endpoint took, not yet replayed."""
    rows = session.execute(
        select(WebhookDeadLetter, WebhookEndpoint.name)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDeadLetter.endpoint_id)
        .where(WebhookDeadLetter.replayed_at.is_(None))
        .order_by(WebhookDeadLetter.dead_at.desc(), WebhookDeadLetter.id.desc())
        .limit(limit)
    ).all()
    return [
        {"endpoint": name, "seq": d.seq, "webhook_id": d.webhook_id, "attempts": d.attempts,
         "first_failure_at": _iso(d.first_failure_at), "dead_at": _iso(d.dead_at), "last_status": d.last_status,
         "last_error": d.last_error}
        for d, name in rows
    ]
