"""The change feed: every change of a delivery's state or of the suppression
list, written in the same transaction as the change, in commit order.

Sending platforms learn of a correction only if we hand it over; a feed
read by sequence (``changes --after SEQ``, webhooks) can be resumed exactly
where a consumer stopped, which needs two promises:

* **Nothing is lost.** An entry is written by the transaction that makes
  the change, so a crash loses both or neither.
* **A consumer never skips an entry.** Sequence numbers are handed out in
  commit order: entries are buffered on the session and inserted just
  before its commit, after taking a transaction-level advisory lock on
  PostgreSQL (SQLite has one writer at a time anyway). Without that, two
  concurrent transactions could commit seq 8 before seq 7, and a reader
  that already saw 8 would never see 7.

Entries hold the transition and a pointer to the deciding event (its
dedupe key); the reader (:mod:`bounceledger.changes`) joins the message
keys and the evidence, so a row costs about as much as an index entry.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from bounceledger.ingest.dbutil import copy_new_rows
from bounceledger.models import Change

#: Every entry type, in the order a delivery usually meets them. Besides the
#: eight issue #16 names, ``deferred`` and ``delivered`` (a success notice)
#: are state changes too, so they are in the feed as well.
DELIVERY_TYPES: dict[str, str] = {
    "accepted": "delivery.accepted",
    "deferred": "delivery.deferred",
    "settled": "delivery.settled",
    "delivered": "delivery.delivered",
    "bounced": "delivery.bounced",
    "expired": "delivery.expired",
    "complained": "delivery.complained",
}
CORRECTED = "delivery.corrected"
SUPPRESSION_ADDED = "suppression.added"
SUPPRESSION_RELEASED = "suppression.released"
TYPES: tuple[str, ...] = (
    *DELIVERY_TYPES.values(),
    CORRECTED,
    SUPPRESSION_ADDED,
    SUPPRESSION_RELEASED,
)

#: Any constant: the advisory lock that orders the feed's writers (PostgreSQL).
_FEED_LOCK = 0x626C_6665_6564  # "blfeed"
_PENDING = "bounceledger.feed"
_COLUMNS = ("type", "delivery_id", "address", "from_state", "to_state", "reason", "event_key", "at", "note", "recorded_at")
_RECORDED_AT = _COLUMNS.index("recorded_at")
#: From this many entries in one commit on, PostgreSQL gets them by COPY.
_COPY_FROM = 64


def delivery_change(old_state: str | None, old_corrected: bool, new_state: str, new_corrected: bool) -> str | None:
    """The entry type for one delivery's transition, or None when nothing a consumer tracks changed.

    A provisional acceptance overturned by a returned message is a
    *correction*: the one entry a platform that already counted it as
    delivered must act on. A complaint is its own type even then (the mail
    was delivered; the person objected). ``pending`` (seen only at the
    sender's own relays) is no verdict yet.
    """
    if new_state == "pending" or (old_state, old_corrected) == (new_state, new_corrected):
        return None
    if new_corrected and not old_corrected and new_state in ("bounced", "expired"):
        return CORRECTED
    if old_state == new_state:
        return None
    return DELIVERY_TYPES.get(new_state)


def record_delivery(
    session: Session,
    delivery_id: int,
    kind: str,
    from_state: str | None,
    to_state: str,
    event_key: str | None,
    at: datetime | None,
) -> None:
    """Queue an entry about a delivery; it is written when ``session`` commits."""
    # in _COLUMNS order; recorded_at is filled in at the commit
    _pending(session).append([kind, delivery_id, None, from_state, to_state, None, event_key, at, None, None])


def record_suppression(
    session: Session, address: str, kind: str, reason: str, delivery_id: int | None, at: datetime, note: str | None = None
) -> None:
    """Queue an entry about the suppression list (``reason``: hardbounce, softbounce, complaint, manual)."""
    added = kind == SUPPRESSION_ADDED
    _pending(session).append(
        [kind, delivery_id, address, None if added else "suppressed", "suppressed" if added else "released",
         reason, None, at, note, None]
    )


def _pending(session: Session) -> list[list[Any]]:
    """The session's queued entries, each a list in :data:`_COLUMNS` order."""
    pending: list[list[Any]] = session.info.setdefault(_PENDING, [])
    return pending


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Insert the queued entries, in the order they were queued, as the last writes of the transaction."""
    pending: list[list[Any]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FEED_LOCK})
    now = datetime.now(timezone.utc)
    for row in pending:
        row[_RECORDED_AT] = now
    connection = session.connection()
    if len(pending) >= _COPY_FROM and connection.dialect.name == "postgresql":
        # Binary COPY: a poll's or an ingest batch's thousands of entries in one stream
        copy_new_rows(session, Change.__table__, _COLUMNS, pending)
    else:  # Core executemany (not the ORM's bulk path): the rows are plain
        connection.execute(Change.__table__.insert(), [dict(zip(_COLUMNS, row)) for row in pending])


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    """A rolled-back change never happened: neither did its entry."""
    session.info.pop(_PENDING, None)

