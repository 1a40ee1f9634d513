"""Read-side queries that only the dashboard needs.

The numbers shared with the CLI live in :mod:`bounceledger.reports`; the
lookup contract in :mod:`bounceledger.queries`. What is here adds what a
person needs next to them: the evidence behind each event, plain words for
codes, and the suppression list. Everything returns plain dicts and lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import Select, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from bounceledger import queries as cli_queries
from bounceledger.queries import _event_json, _iso, suppression_json
from bounceledger.ingest.settlement import SettlementPolicy
from bounceledger.models import Event, ReturnedMessage, Suppression

#: A raw message larger than this is cut in the HTML view (the text/plain view is whole).
RAW_PAGE_LIMIT = 2_000_000


def _event(event: Event, subjects: dict[int, str | None]) -> dict[str, Any]:
    out = _event_json(event)
    out["id"] = event.id
    out["evidence"] = event.evidence
    evidence = event.evidence or {}
    out["log_line"] = evidence.get("line") or evidence.get("accepted_line")
    out["returned_subject"] = subjects.get(event.returned_message_id) if event.returned_message_id else None
    return out


def _subjects(session: Session, events: list[Event]) -> dict[int, str | None]:
    ids = {e.returned_message_id for e in events if e.returned_message_id}
    if not ids:
        return {}
    rows = session.execute(select(ReturnedMessage.id, ReturnedMessage.subject).where(ReturnedMessage.id.in_(ids)))
    return {row.id: row.subject for row in rows}


def recipient(session: Session, address: str, policy: SettlementPolicy | None = None) -> dict[str, Any]:
    """Everything support needs about one address.

    :func:`bounceledger.queries.lookup` itself (the CLI's contract, with
    campaign, plain-words explanation and suppression), each event adding
    its id, evidence, log line and the returned message's subject.
    """

    def serialiser(events: list[Event]) -> Callable[[Event], dict[str, Any]]:
        subjects = _subjects(session, events)
        return lambda event: _event(event, subjects)

    return cli_queries.lookup(session, address, serialiser, policy)


def returned_message(session: Session, message_id: int) -> dict[str, Any] | None:
    """A returned message's metadata, raw bytes and the deliveries it spoke about."""
    row = session.get(ReturnedMessage, message_id)
    if row is None:
        return None
    rows = session.execute(
        select(
            Event.recipient, Event.kind, Event.outcome, Event.status, Event.reason, Event.delivery_id,
            Event.corrected_to, Event.corrected_at,
        )
        .where(Event.returned_message_id == message_id)
        .order_by(Event.id)
    ).all()
    related: list[tuple[Any, ...]] = [r[:6] for r in rows]
    # The corrections its verdicts carry, where their own rows stood: after the
    # verdicts, in the order they were made (one batch: by delivery).
    folded = sorted((r for r in rows if r.corrected_to is not None), key=lambda r: (r.corrected_at, r.delivery_id))
    related += [(r.recipient, "correction", r.corrected_to, r.status, r.reason, r.delivery_id) for r in folded]
    return {
        "id": row.id,
        "message_id": row.message_id,
        "subject": row.subject,
        "source": row.source,
        "source_ref": row.source_ref,
        "outcome": row.outcome,
        "error": row.error,
        "size": row.size,
        "sha256": row.sha256,
        "received_at": _iso(row.received_at),
        "duplicate_count": row.duplicate_count,
        "raw": row.raw,
        "events": [
            {
                "recipient": recipient,
                "kind": kind,
                "outcome": outcome,
                "status": status,
                "reason": reason,
                "matched": delivery_id is not None,
            }
            for recipient, kind, outcome, status, reason, delivery_id in related
        ],
    }


def raw_text(raw: bytes, limit: int | None = None) -> tuple[str, bool]:
    """Bytes as text for display (undecodable bytes replaced), and whether it was cut."""
    cut = limit is not None and len(raw) > limit
    data = raw[:limit] if cut else raw
    return data.decode("utf-8", "replace"), cut


@dataclass(frozen=True, slots=True)
class SuppressionFilters:
    q: str | None = None  # part of the address
    reason: str | None = None
    active: bool | None = None
    since: date | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "reason": self.reason,
            "active": self.active,
            "since": self.since.isoformat() if self.since else None,
        }


def _suppression_query(filters: SuppressionFilters) -> Select[Any]:
    stmt = select(Suppression)
    if filters.q:
        escaped = filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Suppression.address.like(f"%{escaped}%", escape="\\"))
    if filters.reason:
        stmt = stmt.where(Suppression.reason == filters.reason)
    if filters.active is not None:
        in_force = and_(
            Suppression.active.is_(True),
            or_(Suppression.expires_at.is_(None), Suppression.expires_at > datetime.now(timezone.utc)),
        )
        stmt = stmt.where(in_force if filters.active else not_(in_force))
    if filters.since:
        stmt = stmt.where(Suppression.since >= datetime.combine(filters.since, time.min, tzinfo=timezone.utc))
    return stmt


def suppressions(
    session: Session, filters: SuppressionFilters, limit: int = 200, offset: int = 0
) -> dict[str, Any]:
    """One page of the suppression list, newest first, with the total that match."""
    stmt = _suppression_query(filters)
    now = datetime.now(timezone.utc)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Suppression.since.desc(), Suppression.id.desc()).limit(limit).offset(offset)
    ).all()
    reasons = session.scalars(select(Suppression.reason).group_by(Suppression.reason).order_by(Suppression.reason)).all()
    return {
        "filters": filters.as_json(),
        "total": total,
        "limit": limit,
        "offset": offset,
        "suppressions": [suppression_json(r, now) for r in rows],
        "reasons": list(reasons),
    }


def iter_suppressions(session: Session, filters: SuppressionFilters, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching suppression, newest first, streamed (for the CSV export)."""
    stmt = _suppression_query(filters).order_by(Suppression.since.desc(), Suppression.id.desc())
    now = datetime.now(timezone.utc)
    for row in session.scalars(stmt.execution_options(yield_per=batch)):
        yield suppression_json(row, now)
