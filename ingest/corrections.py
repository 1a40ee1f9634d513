"""Corrections, folded into the verdicts that cause them, and shown as events of their own.

A correction (a returned message turned a first-hop 250 into bounced,
expired or complained) used to be an ``events`` row of kind ``correction``:
a second row, with its index entries, for every late bounce, a quarter of
the events written when reconciling at scale, and a read of the acceptance
it quoted. Now the verdict that decided it carries it
(``Event.corrected_from``/``corrected_to``/``corrected_at``, migration
0009): written in the same COPY as the verdict, and gone with the fold when
the verdict moves to another delivery.

Every face still shows a correction as it did, an event of kind
``correction`` with the same keys and values: :func:`as_event` rebuilds it
from its verdict and the acceptance it quotes. That acceptance is not
stored with it: it is the delivery's latest first-hop 250 (latest by time,
then key, as :mod:`bounceledger.models.state` orders facts) among the
events recorded by the time of the correction, which is exactly the one
reconciliation quoted when it wrote the correction, so writing one reads
nothing back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session, aliased

from bounceledger.ingest.dbutil import among
from bounceledger.ingest.keys import correction_key
from bounceledger.models import Event
from bounceledger.models.state import ACCEPTED_STATES

#: What every correction is reported as overturning.
ACCEPTED = "accepted"

#: The ``events`` columns that carry a correction on the verdict that caused it.
FOLD_COLUMNS = ("corrected_from", "corrected_to", "corrected_at")
#: What a rebuilt correction names as its source (what reconciliation wrote).
SOURCE = "reconcile"


def _stamp(at: datetime) -> str:
    return at.isoformat(" ", "seconds")[:19]


def describe(
    accepted_host: str | None,
    accepted_at: datetime | None,
    to_state: str,
    at: datetime,
    status: str | None,
    reason: str | None,
) -> str:
    """The correction's ``detail``: "accepted by mx1 at ..., corrected to bounced at ...: 5.1.1 userunknown"."""
    said = " ".join(x for x in (status, reason) if x)
    if accepted_at is not None:
        where = f" by {accepted_host}" if accepted_host else ""
        return f"accepted{where} at {_stamp(accepted_at)} UTC, corrected to {to_state} at {_stamp(at)} UTC: {said}".rstrip(": ")
    return f"corrected to {to_state}: {said}"


def is_acceptance(event: Event) -> bool:
    """A first-hop 250: what a correction overturns."""
    return event.kind == "attempt" and event.outcome == "accepted" and bool(event.first_hop)


def _acceptance_condition(acceptance: Any) -> ColumnElement[bool]:
    return and_(acceptance.kind == "attempt", acceptance.outcome == "accepted", acceptance.first_hop)


def quoted(cause: Event, acceptances: Iterable[Event]) -> Event | None:
    """The acceptance ``cause``'s correction quotes, among ``acceptances`` (any events of its delivery):
    the latest first-hop 250 recorded by the time the correction was."""
    best: Event | None = None
    for event in acceptances:
        if event.delivery_id != cause.delivery_id or not is_acceptance(event):
            continue
        if cause.corrected_at is not None and event.recorded_at > cause.corrected_at:
            continue  # read after the correction was made: not what it overturned
        if best is None or (event.at, event.dedupe_key) > (best.at, best.dedupe_key):
            best = event
    return best


def as_event(cause: Event, acceptance: Event | None) -> Event:
    """The correction ``cause`` carries, as the ``correction`` event the faces show.

    Transient (never added to a session), with the values the correction row
    had: the verdict's time, codes, reason, match key and returned message;
    the acceptance's host; the same ``detail`` and evidence. It shares the
    verdict's id, having no row of its own. Once the verdict's evidence was
    pruned (retention), the correction's is pruned alike: only the ids stay.
    """
    assert cause.corrected_to is not None and cause.delivery_id is not None
    accepted_line = (acceptance.evidence or {}).get("line") if acceptance is not None else None
    accepted_host = acceptance.remote_host if acceptance is not None else None
    evidence: dict[str, Any] = {
        "verdict_event_id": cause.id,
        "accepted_event_id": acceptance.id if acceptance is not None else None,
    }
    pruned_at = (cause.evidence or {}).get("pruned_at")
    if pruned_at is not None:
        evidence["pruned_at"] = pruned_at
    else:
        evidence["accepted_line"] = accepted_line
    return Event(
        id=cause.id,
        dedupe_key=correction_key(cause.delivery_id, cause.corrected_to, cause.dedupe_key),
        delivery_id=cause.delivery_id,
        recipient=cause.recipient,
        kind="correction",
        source=SOURCE,
        at=cause.at,
        outcome=cause.corrected_to,
        first_hop=True,
        remote_host=accepted_host,
        status=cause.status,
        replycode=cause.replycode,
        reason=cause.reason,
        detail=describe(
            accepted_host,
            acceptance.at if acceptance is not None else None,
            cause.corrected_to,
            cause.at,
            cause.status,
            cause.reason,
        ),
        # what the state module reports a correction from, whether the 250 had settled or not
        from_state=ACCEPTED if cause.corrected_from in ACCEPTED_STATES else cause.corrected_from,
        to_state=cause.corrected_to,
        match_key=cause.match_key,
        returned_message_id=cause.returned_message_id,
        evidence=evidence,
        recorded_at=cause.corrected_at,
    )


def acceptances_of(session: Session, delivery_ids: Iterable[int]) -> list[Event]:
    """Every first-hop 250 of these deliveries (the candidates :func:`quoted` chooses from)."""
    found: list[Event] = []
    for delivery_in in among(session, Event.delivery_id, sorted(set(delivery_ids))):
        found.extend(session.scalars(select(Event).where(delivery_in, _acceptance_condition(Event))))
    return found


def with_corrections(session: Session, events: Sequence[Event]) -> list[Event]:
    """``events`` with each folded correction shown right after the verdict that carries it,
    where its own row stood (same time, the next id)."""
    causes = [e for e in events if e.corrected_to is not None and e.delivery_id is not None]
    if not causes:
        return list(events)
    by_delivery: dict[int, list[Event]] = defaultdict(list)
    for acceptance in acceptances_of(session, {e.delivery_id for e in causes}):  # type: ignore[misc]
        by_delivery[acceptance.delivery_id].append(acceptance)  # type: ignore[index]
    out: list[Event] = []
    for event in events:
        out.append(event)
        if event.corrected_to is not None and event.delivery_id is not None:
            out.append(as_event(event, quoted(event, by_delivery[event.delivery_id])))
    return out


def corrections(session: Session, where: Sequence[ColumnElement[bool]] = ()) -> list[Event]:
    """Every folded correction (narrowed by ``where`` on :class:`Event`), as ``correction`` events,
    in the order they were recorded."""
    causes = list(
        session.scalars(
            select(Event).where(Event.corrected_to.is_not(None), *where).order_by(Event.corrected_at, Event.id)
        )
    )
    return [e for e in with_corrections(session, causes) if e.kind == "correction"]


def quoted_acceptance_id() -> Select[Any]:
    """A correlated subquery for ``Event`` (a verdict carrying a correction): the id of the
    acceptance its correction quotes, as :func:`quoted` chooses it, for set-based readers."""
    acceptance = aliased(Event)
    return (
        select(acceptance.id)
        .where(
            acceptance.delivery_id == Event.delivery_id,
            _acceptance_condition(acceptance),
            acceptance.recorded_at <= Event.corrected_at,
        )
        .order_by(acceptance.at.desc(), acceptance.dedupe_key.desc())
        .limit(1)
    )
