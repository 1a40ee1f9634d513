"""Reconciliation: tie verdicts to deliveries and re-derive their state.

Every state change goes through :func:`bounceledger.models.state.decide`; this module only
gathers the events, stores the decision and folds each correction into the
verdict that made it (:mod:`bounceledger.ingest.corrections`). Matching (:mod:`bounceledger.ingest.matching`) tries the strongest keys first;
a verdict that matches nothing stays an orphan (``delivery_id`` NULL) until
the log line it corrects is read: the attempts' writer ties it then
(:func:`link_waiting_verdicts`), and every run tries all of them again
(:func:`retry_orphans`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from bounceledger.ingest import corrections, feed, suppress
from bounceledger.ingest.batchgc import fewer_collections
from bounceledger.ingest.dbutil import among, chunks, insert_ignoring_duplicates, update_by_key
from bounceledger.ingest.keys import timeout_key
from bounceledger.ingest.matching import keys_from, match_many
from bounceledger.ingest.rules import LedgerRules
from bounceledger.models import Delivery, Event
from bounceledger.models.types import UTCDateTime
from bounceledger.models.state import UNKNOWN, Decision, Fact, decide, outranking


ORPHAN_BATCH = 1000


def retry_orphans(session: Session, rules: LedgerRules, batch: int = ORPHAN_BATCH) -> tuple[int, int]:
    """Try to tie every unmatched verdict again; returns (linked, still orphaned).

    All of them, oldest first, a batch at a time: memory stays flat however
    many have piled up, and none is left behind because older ones never
    match (a mailbox full of bounces for mail sent before the ledger began).
    """
    linked_total = left_total = 0
    after = 0
    while True:
        orphans = session.execute(
            _claimed(
                session,
                select(*_VERDICT_COLUMNS)
                .where(Event.kind == "verdict", Event.delivery_id.is_(None), Event.id > after)
                .order_by(Event.id)
                .limit(batch),
                Event,
            )
        ).all()
        if not orphans:
            return linked_total, left_total
        after = orphans[-1].id
        with fewer_collections():
            linked, touched = _rematch(session, orphans, rules)
            recompute(session, touched, rules)
        linked_total += linked
        left_total += len(orphans) - linked


def _claimed(session: Session, stmt: Select[Any], of: type[Event] | type[Delivery]) -> Select[Any]:
    """``stmt`` claiming its rows on PostgreSQL: ``FOR UPDATE SKIP LOCKED``.

    Two workers retrying orphans or expiring deliveries at once then take
    disjoint batches (each skips the rows the other holds until it commits)
    instead of rematching the same verdicts twice or waiting on each other.
    The claimed rows stay locked to the end of the caller's transaction, so
    a row is never worked on by two sessions at once. SQLite has one writer
    at a time and no such clause: the plain query. ``of`` names the one
    table whose rows are claimed.
    """
    if session.get_bind().dialect.name != "postgresql":
        return stmt
    return stmt.with_for_update(skip_locked=True, of=of)


_VERDICT_COLUMNS = (Event.id, Event.recipient, Event.at, Event.evidence, Event.delivery_id, Event.match_key, Event.dedupe_key)


def link_waiting_verdicts(session: Session, recipients: Iterable[str], rules: LedgerRules) -> set[int]:
    """Tie the unmatched verdicts about these recipients to the deliveries now in the
    ledger, and re-check their weak ties; returns the deliveries whose verdicts
    changed (the caller re-derives them).

    Called whenever a source records attempts, so that a bounce read before
    the log line it corrects is tied in the same run, whatever the order of
    commands. Verdicts are looked up by recipient, through the partial
    indexes on unmatched and weakly tied verdicts: every key (token,
    envelope id, queue id, Message-ID, match header, and the weak match)
    ties a verdict only to a delivery *of its own recipient*, so the
    verdicts new deliveries can concern are exactly those naming one of
    their recipients. No batch ever rescans the orphans about anybody else.

    A weak tie ("the only delivery to that recipient shortly before") holds
    only while that delivery stays the only one: a send read later may be a
    stronger match or make the weak one ambiguous, and the verdict then
    moves or goes back to waiting, as if the log had been read first.
    """
    wanted = sorted(set(recipients))
    waiting = [
        row
        for index, condition in _WAITING.items()
        # a ledger with no such verdict at all (one probe of its partial index) needs no lookup
        if session.scalar(select(Event.id).where(Event.kind == "verdict", condition).limit(1)) is not None
        for row in _verdicts_about(session, index, condition, wanted)
    ]
    return _rematch(session, waiting, rules)[1] if waiting else set()


#: The verdicts a new send may concern, by the partial index that finds them by recipient.
_WAITING: dict[str, ColumnElement[bool]] = {
    "ix_events_orphan_recipient": Event.delivery_id.is_(None),
    "ix_events_weak_recipient": Event.match_key == "weak",
}


def _verdicts_about(
    session: Session, index: str, condition: ColumnElement[bool], recipients: list[str]
) -> Iterator[Row[Any]]:
    """Verdicts meeting ``condition`` about these recipients, through ``index``.

    SQLite, without table statistics, would rather walk the whole index on
    ``delivery_id`` for ``delivery_id IS NULL`` (every orphan, each batch);
    ``INDEXED BY`` holds it to the partial index by recipient. PostgreSQL
    picks that index itself.
    """
    if session.get_bind().dialect.name != "sqlite":
        for recipient_in in among(session, Event.recipient, recipients):
            yield from session.execute(select(*_VERDICT_COLUMNS).where(Event.kind == "verdict", condition, recipient_in))
        return
    table = Event.__table__
    where = condition.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    stmt = (
        text(
            f"SELECT {', '.join(c.key for c in _VERDICT_COLUMNS)} FROM events INDEXED BY {index} "
            f"WHERE kind = 'verdict' AND {where} AND recipient IN :recipients"
        )
        .bindparams(bindparam("recipients", expanding=True))
        .columns(*(table.c[c.key] for c in _VERDICT_COLUMNS))
    )
    for part in chunks(recipients):
        yield from session.execute(stmt, {"recipients": list(part)})


def _rematch(session: Session, verdicts: Sequence[Row[Any]], rules: LedgerRules) -> tuple[int, set[int]]:
    """Match verdicts (rows of :data:`_VERDICT_COLUMNS`) again and store what changed;
    returns how many are tied now that were not, and every delivery that gained or lost one.

    A verdict moved off a delivery loses the correction it carried there
    (:mod:`bounceledger.ingest.corrections`): that delivery's acceptance was
    never overturned after all. Re-deriving its new delivery folds a
    correction in again if it makes one there.
    """
    found = match_many(session, [keys_from(v.recipient, v.at, v.evidence or {}) for v in verdicts], rules.return_path_secret)
    changes: list[dict[str, object]] = []
    touched: set[int] = set()
    linked = 0
    for verdict, hit in zip(verdicts, found):
        delivery_id, match_key = hit if hit is not None else (None, None)
        if (delivery_id, match_key) == (verdict.delivery_id, verdict.match_key):
            continue
        change: dict[str, object] = {"id": verdict.id, "delivery_id": delivery_id, "match_key": match_key}
        if delivery_id is not None:
            touched.add(delivery_id)
            linked += verdict.delivery_id is None
        if verdict.delivery_id is not None and verdict.delivery_id != delivery_id:
            touched.add(verdict.delivery_id)
            change.update(dict.fromkeys(corrections.FOLD_COLUMNS))
        changes.append(change)
    if changes:
        session.execute(update(Event), changes)
    return linked, touched


_HISTORY_COLUMNS = (
    Event.delivery_id,
    Event.kind,
    Event.outcome,
    Event.at,
    Event.dedupe_key,
    Event.first_hop,
    Event.status,
    Event.replycode,
    Event.reason,
    Event.detail,
)


def _histories(session: Session, delivery_ids: list[int]) -> dict[int, list[Fact]]:
    """The deciding facts of these deliveries' events, as plain rows (no ORM objects).

    Facts only: a correction quotes nothing from the history any more (it
    is folded into its verdict and rebuilt where it is shown, see
    :mod:`bounceledger.ingest.corrections`).
    """
    by_delivery: dict[int, list[Fact]] = defaultdict(list)
    wanted = Event.kind.in_(("attempt", "verdict"))
    # Core rows, not ORM ones (no ORM loading per row), in the Fact's own
    # field order: each row is sliced straight into its Fact.
    connection = session.connection()
    make_fact = Fact._make
    for delivery_in in among(session, Event.delivery_id, delivery_ids):
        for row in connection.execute(select(*_HISTORY_COLUMNS).where(delivery_in, wanted)).all():
            by_delivery[row[0]].append(make_fact(row[1:]))
    return by_delivery


def delivery_values(decision: Decision | None) -> dict[str, object]:
    """The ``deliveries`` columns that follow from a decision."""
    fact = decision.decided_by if decision else None
    return {
        "state": decision.state if decision else "pending",
        "reason": fact.reason if fact else None,
        "status": fact.status if fact else None,
        "replycode": fact.replycode if fact else None,
        "detail": fact.detail if fact else None,
        "state_at": fact.at if fact else None,
        "corrected": bool(decision and decision.corrected_from),
        "deferred_since": fact.at if fact and decision and decision.state == "deferred" else None,
    }


_DELIVERY_COLUMNS = (
    "state", "reason", "status", "replycode", "detail", "state_at", "corrected", "deferred_since", "first_attempt_at",
)


def arrival(row: dict[str, object]) -> Fact:
    """The :class:`Fact` of an ``events`` row (a dict of its columns) about to be recorded."""
    at: datetime = row["at"].astimezone(timezone.utc)  # type: ignore[attr-defined]  # as the ledger hands it back
    return Fact("verdict", row["outcome"], at, row["dedupe_key"], row["first_hop"], row["status"], row["replycode"], row["reason"], row["detail"])  # type: ignore[arg-type]


def _in_lock_order(session: Session, stmt: Select[Any]) -> Select[Any]:
    """``stmt`` over deliveries, taking their rows ``FOR NO KEY UPDATE`` in id order on PostgreSQL.

    Every writer that changes deliveries takes their locks this way first
    (:func:`recompute`, :func:`lock_deliveries`), so two writers never hold
    each other's rows. ``NO KEY``: an event inserted for the same delivery
    meanwhile is not blocked. SQLite has one writer at a time: the plain query.
    """
    if session.get_bind().dialect.name != "postgresql":
        return stmt
    return stmt.order_by(Delivery.id).with_for_update(key_share=True)


def lock_deliveries(session: Session, delivery_ids: Iterable[int]) -> None:
    """Lock these deliveries now, in id order, ahead of a write that would take them in any order."""
    if session.get_bind().dialect.name != "postgresql":
        return
    connection = session.connection()
    for delivery_in in among(session, Delivery.id, sorted(set(delivery_ids))):
        connection.execute(_in_lock_order(session, select(Delivery.id).where(delivery_in))).all()


def _current_rows(session: Session, ids: list[int]) -> dict[int, Row[Any]]:
    """The deliveries' stored values, locked on PostgreSQL until the transaction ends.

    Read and locked before their events: a second process re-deriving the
    same delivery waits here, then reads the events the first one added,
    so neither overwrites the other's verdict.
    """
    connection = session.connection()
    stmt = _in_lock_order(
        session, select(Delivery.id, Delivery.recipient, *(getattr(Delivery, c) for c in _DELIVERY_COLUMNS))
    )
    # .all(): one fetch of every row, not a fetch per row as iterating the result does
    return {row[0]: row for delivery_in in among(session, Delivery.id, ids) for row in connection.execute(stmt.where(delivery_in)).all()}


@dataclass(slots=True)
class Plan:
    """Deliveries locked for re-deriving, with what their stored state already settles.

    Made by :func:`plan` before the verdicts that concern them are written,
    so that a correction those verdicts make is folded into the verdict's
    own row (:meth:`fold`) instead of being written, or looked up, after.
    """

    ids: list[int]
    current: dict[int, Row[Any]]
    #: Decisions the stored state and the arrivals settle alone (None: the state stands).
    known: dict[int, Decision | None]
    now: datetime
    #: Keys of the rows :meth:`fold` wrote a correction into.
    folded: set[str] = field(default_factory=set)

    def fold(self, rows: Sequence[dict[str, object]]) -> None:
        """Write each correction a known decision makes into the row (not yet inserted) of its verdict.

        Every row gets the fold columns, NULL where it corrects nothing:
        the rows of one batch are written with the same columns.
        """
        by_key = {
            # a known decision overturns the stored state itself: accepted, or settled
            decision.decided_by.key: (self.current[delivery_id].state, decision)
            for delivery_id, decision in self.known.items()
            if decision is not None and decision.corrected_from
        }
        for row in rows:
            found = by_key.get(row["dedupe_key"])  # type: ignore[call-overload]
            if found is None:
                row.update(dict.fromkeys(corrections.FOLD_COLUMNS))
                continue
            overturned, decision = found
            row["corrected_from"], row["corrected_to"], row["corrected_at"] = overturned, decision.state, self.now
            self.folded.add(decision.decided_by.key)

    def not_all_written(self, session: Session, rows: Sequence[dict[str, object]], written: Iterable[str]) -> None:
        """Some rows were not inserted (their keys existed): the deliveries they concern are
        re-derived from their whole history instead, and the corrections :meth:`fold` wrote
        into their other rows are taken back (re-deriving folds the right one in again)."""
        written = set(written)
        unsure = {row["delivery_id"] for row in rows if row["dedupe_key"] not in written and row["delivery_id"] is not None}
        if not unsure:
            return
        take_back = [
            (row["dedupe_key"], None, None, None)
            for row in rows
            if row["delivery_id"] in unsure and row["dedupe_key"] in self.folded and row["dedupe_key"] in written
        ]
        for delivery_id in unsure:
            self.known.pop(delivery_id, None)  # type: ignore[call-overload]
        # a fold in a row that was not written is no fold at all
        self.folded.intersection_update(written)
        self.folded.difference_update(key for key, *_ in take_back)  # type: ignore[misc]
        update_by_key(session, Event.__table__, "dedupe_key", corrections.FOLD_COLUMNS, take_back)


def plan(session: Session, delivery_ids: Iterable[int], arrivals: dict[int, list[Fact]] | None = None) -> Plan:
    """Lock these deliveries (in id order, see :func:`_in_lock_order`) and decide what their
    stored state settles alone.

    ``arrivals``: verdicts about to be recorded, per delivery. Where they
    settle the matter from the stored state alone
    (:func:`bounceledger.models.state.outranking`: a bounce on an accepted
    delivery, the common case) the delivery's history is never read.
    """
    ids = sorted(set(delivery_ids))
    session.flush()
    current = _current_rows(session, ids) if ids else {}
    known: dict[int, Decision | None] = {}
    for delivery_id, news in (arrivals or {}).items():
        old = current.get(delivery_id)
        if old is not None:
            outcome = outranking(old.state, old.corrected, news)
            if outcome is not UNKNOWN:
                known[delivery_id] = outcome  # type: ignore[assignment]
    return Plan(ids, current, known, datetime.now(timezone.utc))


def recompute(session: Session, delivery_ids: Iterable[int], rules: LedgerRules) -> int:
    """Re-derive the state of these deliveries from all their events; returns how many changed.

    Only rows whose derived values differ are written, and a delivery whose
    values stand as they were already had its correction recorded by the
    run that set them: re-running over the same events writes nothing.
    """
    ids = sorted(set(delivery_ids))
    if not ids:
        return 0
    return apply(session, plan(session, ids), rules)


def apply(session: Session, planned: Plan, rules: LedgerRules) -> int:
    """Store what :func:`plan` settled, and re-derive the rest from their histories; returns how
    many deliveries changed state.

    A correction decided here from the history is folded into its verdict's
    stored row (unless that row carries it already); one a known decision
    made was folded into the row before it was written.
    """
    ids, current, known = planned.ids, planned.current, planned.known
    if not ids:
        return 0
    histories = _histories(session, [i for i in ids if i not in known])

    updates: list[tuple[object, ...]] = []
    folds: list[dict[str, object]] = []
    to_refresh: set[str] = set()
    changed = 0
    for delivery_id in ids:
        old = current[delivery_id]
        if delivery_id in known:
            decision = known[delivery_id]
            if decision is None:
                continue  # the state stands
            values = delivery_values(decision)
            values["first_attempt_at"] = old.first_attempt_at  # verdicts only: the attempts are as they were
        else:
            facts = histories.get(delivery_id, [])
            decision = decide(facts)
            values = delivery_values(decision)
            attempts_at = [f.at for f in facts if f.kind == "attempt"]
            values["first_attempt_at"] = min(attempts_at) if attempts_at else old.first_attempt_at
        new_row = tuple(values[c] for c in _DELIVERY_COLUMNS)
        if new_row == tuple(old[2:]):
            continue
        updates.append((delivery_id, *new_row))
        if decision and decision.corrected_from and decision.decided_by.key not in planned.folded:
            overturned = decision.corrected_from
            if delivery_id not in known and any(f.kind == "attempt" and f.outcome == "settled" for f in facts):
                overturned = "settled"  # the 250 had settled before this bounce came (a late surprise)
            folds.append({"k": decision.decided_by.key, "f": overturned, "t": decision.state, "a": planned.now})
        if (old.state, old.corrected) != (values["state"], values["corrected"]):
            changed += 1
            kind = feed.delivery_change(old.state, old.corrected, values["state"], values["corrected"])  # type: ignore[arg-type]
            if kind is not None and decision is not None:
                fact = decision.decided_by
                feed.record_delivery(session, delivery_id, kind, old.state, decision.state, fact.key, fact.at)
        if suppress.concerns(old.state, old.reason, values["state"], values["reason"]):  # type: ignore[arg-type]
            to_refresh.add(old.recipient)
    update_by_key(session, Delivery.__table__, "id", _DELIVERY_COLUMNS, updates)
    if folds:
        _fold_into_stored(session, folds)
    suppress.refresh(session, to_refresh, rules.suppression)
    return changed


#: A correction folded into a verdict already stored; one that carries it already keeps
#: it as it was, with its time (as a correction row written twice was once kept).
_FOLD_STORED = (
    update(Event.__table__)
    .where(Event.__table__.c.dedupe_key == bindparam("k"), Event.__table__.c.corrected_to.is_distinct_from(bindparam("t")))
    .values(corrected_from=bindparam("f"), corrected_to=bindparam("t"), corrected_at=bindparam("a", type_=UTCDateTime()))
)


def _fold_into_stored(session: Session, folds: list[dict[str, object]]) -> None:
    """Fold corrections decided from the history into their verdicts' rows (few: the common
    case is folded before the verdict is written)."""
    session.connection().execute(_FOLD_STORED, folds)


def count_corrected(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.corrected)) or 0


EXPIRY_BATCH = 1000


def expire_deferred(
    session: Session, wait: timedelta, now: datetime, rules: LedgerRules, batch: int = EXPIRY_BATCH
) -> int:
    """Give up on deliveries that stayed deferred longer than ``wait``.

    Records a ``timeout`` event dated when the wait ran out (not when this
    job happened to run, so the result does not depend on the schedule);
    :mod:`bounceledger.models.state` lets any newer answer overrule it.
    """
    cutoff = now - wait
    hours = wait.total_seconds() / 3600
    expired = 0
    after = 0
    while True:
        stale = session.execute(
            _claimed(
                session,
                select(Delivery.id, Delivery.recipient, Delivery.state_at)
                .where(Delivery.deferred_since < cutoff, Delivery.id > after)
                .order_by(Delivery.id)  # keyset paging: each batch starts past the last
                .limit(batch),
                Delivery,
            )
        ).all()
        if not stale:
            return expired
        after = stale[-1].id
        expired += _expire(session, stale, wait, hours, now, rules)


def _expire(
    session: Session, stale: Sequence[Row[Any]], wait: timedelta, hours: float, now: datetime, rules: LedgerRules
) -> int:
    """One claimed batch of :func:`expire_deferred`."""
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
    recompute(session, [row["delivery_id"] for row in rows], rules)  # type: ignore[misc]
    return len(rows)
