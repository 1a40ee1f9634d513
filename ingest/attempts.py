"""Writing send-log attempts into the ledger, a batch at a time.

Set-based on purpose: a busy MTA writes millions of lines a day, so each
batch is a handful of multi-row statements rather than one ORM object per
line. Re-reading lines is harmless: every row has a natural unique key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import NamedTuple

from psycopg.errors import UniqueViolation
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bounceledger.ingest import feed, reconcile, suppress
from bounceledger.ingest.bounces.classify import classify, host_has_rules, stage_command
from bounceledger.ingest.dbutil import (
    among,
    array_param,
    chunks,
    copy_new_rows,
    flat_json_text,
    insert_ignoring_duplicates,
    insert_tuples,
    reserve_ids,
    savepoint,
    update_by_key,
)
from bounceledger.ingest.keys import attempt_key, message_key, normalise_address
from bounceledger.ingest.reconcile import delivery_values
from bounceledger.ingest.records import Attempt
from bounceledger.ingest.rules import LedgerRules
from bounceledger.ingest.verp import token_of
from bounceledger.models import Delivery, Event, SentMessage
from bounceledger.models.state import Fact, decide


def _sent_message_row(key: str, attempt: Attempt) -> dict[str, object]:
    return {
        "msg_key": key,
        "message_id": attempt.message_id,
        "queue_id": attempt.queue_id,
        "envelope_id": attempt.envelope_id,
        "sender": normalise_address(attempt.sender),
        "return_path_token": (token_of(attempt.sender) or "").lower() or None,
        "campaign": attempt.campaign,
        "header_ref": attempt.header_ref,
        "first_seen_at": attempt.at,
    }


def _fill_in(row: dict[str, object], campaign: object, header_ref: object) -> None:
    """A message's campaign and match header, from whichever of its lines named them first."""
    row["campaign"] = row["campaign"] or campaign
    row["header_ref"] = row["header_ref"] or header_ref


def _ids_by_key(session: Session, keys: Sequence[str]) -> dict[str, int]:
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text("SELECT msg_key, id FROM sent_messages WHERE msg_key = ANY(:keys)").bindparams(array_param(keys, "TEXT", key="keys"))
        )
        return dict(rows.all())
    found: dict[str, int] = {}
    for part in chunks(list(keys)):
        found.update(
            session.execute(select(SentMessage.msg_key, SentMessage.id).where(SentMessage.msg_key.in_(part))).all()
        )
    return found


def _delivery_ids(session: Session, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """Ids of the deliveries that exist for these (sent message, recipient) pairs.

    PostgreSQL plans a long row-value IN list slowly, so there the pairs
    are joined as two arrays instead.
    """
    if not pairs:
        return {}
    found: dict[tuple[int, str], int] = {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT d.sent_message_id, d.recipient, d.id FROM deliveries d "
                "JOIN unnest(:ids, :recipients) AS k(sid, rcpt) "
                "ON d.sent_message_id = k.sid AND d.recipient = k.rcpt"
            ).bindparams(
                array_param([p[0] for p in pairs], "BIGINT", key="ids"),
                array_param([p[1] for p in pairs], "TEXT", key="recipients"),
            )
        )
        for sent_id, recipient, delivery_id in rows:
            found[(sent_id, recipient)] = delivery_id
        return found
    # SQLite scans the whole index for a row-value IN list; joining a VALUES
    # table instead lets it look each pair up in the unique index.
    for part in chunks(list(pairs), 400):
        values = ", ".join(f"(:s{i}, :r{i})" for i in range(len(part)))
        params: dict[str, object] = {}
        for i, (sent_id, recipient) in enumerate(part):
            params[f"s{i}"], params[f"r{i}"] = sent_id, recipient
        rows = session.execute(
            text(
                f"WITH k(sid, rcpt) AS (VALUES {values}) SELECT d.sent_message_id, d.recipient, d.id "
                "FROM k JOIN deliveries d ON d.sent_message_id = k.sid AND d.recipient = k.rcpt"
            ),
            params,
        )
        for sent_id, recipient, delivery_id in rows:
            found[(sent_id, recipient)] = delivery_id
    return found


@lru_cache(maxsize=8192)
def _classified(status: str | None, replycode: str | None, text: str, host: str | None,
                command: str | None = None) -> tuple[str, str, bool]:
    found = classify(status, replycode, text, host, command=command)
    return found.reason, found.category, found.hardbounce


_ADDRESS = re.compile(r"<[^<>\s]*@[^<>\s]*>|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")


def _reason(attempt: Attempt) -> tuple[str | None, dict[str, object]]:
    """Why a first hop refused or delayed the attempt, in the same words as for bounces.

    Remote servers repeat the same few answers with a different address in
    each; classifying the text with addresses masked lets one cached answer
    serve them all, which keeps million-line logs fast.
    """
    if attempt.verdict == "accepted":
        return None, {}
    if attempt.verdict == "expired":
        return "expired", {"category": "message-expired", "hardbounce": False}
    # A host no provider rule names changes nothing: leaving it out of the
    # cache key lets one answer serve every such host.
    host = attempt.relay_host if host_has_rules(attempt.relay_host) else None
    reason, category, hard = _classified(attempt.status, attempt.replycode, _ADDRESS.sub("<address>", attempt.text), host,
                                         stage_command(attempt.smtp_stage))
    return reason, {"category": category, "hardbounce": hard}


def _fact(attempt: Attempt, key: str, reason: str | None) -> Fact:
    return Fact(
        "attempt",
        attempt.verdict,
        attempt.at,
        key,
        attempt.first_hop,
        attempt.status,
        attempt.replycode,
        reason,
        attempt.text or None,
    )


EVENT_COLUMNS = (
    "dedupe_key",
    "delivery_id",
    "recipient",
    "kind",
    "source",
    "at",
    "outcome",
    "first_hop",
    "remote_host",
    "status",
    "replycode",
    "reason",
    "detail",
    "evidence",
    "recorded_at",
)


#: Attempt fields kept in an attempt event's evidence when the line gave them.
_EVIDENCE_FIELDS = (
    "queue_id",
    "relay_ip",
    "relay_port",
    "next_hop_queue_id",
    "smtp_stage",
    "delivery_agent",
    "orig_recipient",
    "mta_category",
)


def _event_row(
    attempt: Attempt, key: str, reason: str | None, classification: dict[str, object], source: str, now: datetime
) -> list[object]:
    """One ``events`` row in :data:`EVENT_COLUMNS` order (``delivery_id`` filled in later)."""
    # What no column holds: the line itself (once) and the parser's extras
    # the line named; a key the line did not give is left out, not stored as null.
    evidence: dict[str, object] = {"line": attempt.raw}
    for name in _EVIDENCE_FIELDS:
        value = getattr(attempt, name)
        if value is not None:
            evidence[name] = value
    if classification:
        evidence.update(classification)
    return [
        key,
        None,
        attempt.recipient,
        "attempt",
        source,
        attempt.at,
        attempt.verdict,
        attempt.first_hop,
        attempt.relay_host,
        attempt.status,
        attempt.replycode,
        reason,
        attempt.text or None,
        flat_json_text(evidence),  # encoded here, on the reading thread, once
        now,
    ]


def is_notice(attempt: Attempt) -> bool:
    """Mail the MTA wrote itself (null sender: bounces, delay notices), not sent mail."""
    return attempt.sender == ""


@dataclass
class _Pair:
    """Everything one batch says about one delivery."""

    facts: list[Fact] = field(default_factory=list)
    events: list[list[object]] = field(default_factory=list)
    first_hop_host: str | None = None
    next_hop_queue_id: str | None = None
    # The delivery's state from these facts alone, decided while the batch is
    # prepared (what a delivery first seen in this batch is written with).
    decided: tuple[dict[str, object], Fact | None] | None = None


# A delivery as a batch knows it before the database does: (message key, recipient).
PairKey = tuple[str, str]


def _grouped(
    attempts: Sequence[Attempt], source: str, now: datetime
) -> tuple[dict[str, dict[str, object]], dict[PairKey, _Pair]]:
    """The batch's ``sent_messages`` rows by message key, and its deliveries' facts and events."""
    sent: dict[str, dict[str, object]] = {}
    pairs: dict[PairKey, _Pair] = {}
    for attempt in attempts:
        msg_key = message_key(attempt)
        row = sent.get(msg_key)
        if row is None:
            sent[msg_key] = _sent_message_row(msg_key, attempt)
        elif attempt.campaign is not None or attempt.header_ref is not None:
            _fill_in(row, attempt.campaign, attempt.header_ref)
        pair = pairs.get((msg_key, attempt.recipient))
        if pair is None:
            pair = pairs[(msg_key, attempt.recipient)] = _Pair()
        key = attempt_key(attempt)
        reason, classification = _reason(attempt)
        pair.facts.append(_fact(attempt, key, reason))
        pair.events.append(_event_row(attempt, key, reason, classification, source, now))
        if attempt.first_hop and attempt.verdict == "accepted":
            pair.first_hop_host = attempt.relay_host
            pair.next_hop_queue_id = attempt.next_hop_queue_id
    for pair in pairs.values():
        pair.decided = _decided(pair)
    return sent, pairs


@dataclass
class PreparedAttempts:
    """A batch of attempts turned into rows, with no database at hand.

    Built by :func:`prepare_attempts` while the previous batch is still being
    written (ingest-log does this on its reading thread), so that the
    writing thread only talks to the database. ``unresolved`` attempts
    lack a Message-ID the ledger may know (see
    :func:`_with_known_message_ids`); they are prepared once it has been asked.
    """

    source: str
    sent: dict[str, dict[str, object]] = field(default_factory=dict)
    pairs: dict[PairKey, _Pair] = field(default_factory=dict)
    unresolved: list[Attempt] = field(default_factory=list)

    def merge(self, other: PreparedAttempts) -> None:
        for key, row in other.sent.items():
            mine = self.sent.setdefault(key, row)
            if mine is not row:
                _fill_in(mine, row["campaign"], row["header_ref"])
        for key, pair in other.pairs.items():
            mine_pair = self.pairs.setdefault(key, pair)
            if mine_pair is not pair:
                mine_pair.decided = None  # more facts: decided again when written
                mine_pair.facts.extend(pair.facts)
                mine_pair.events.extend(pair.events)
                if pair.first_hop_host is not None:
                    mine_pair.first_hop_host, mine_pair.next_hop_queue_id = pair.first_hop_host, pair.next_hop_queue_id


def prepare_attempts(attempts: Sequence[Attempt], source: str) -> PreparedAttempts:
    """Rows for a batch of attempts (pure: see :class:`PreparedAttempts`)."""
    ready: list[Attempt] = []
    unresolved: list[Attempt] = []
    for attempt in _with_normal_recipients(attempts):
        (unresolved if attempt.queue_id and not attempt.message_id else ready).append(attempt)
    batch = _prepared(ready, source)
    batch.unresolved = unresolved
    return batch


def _prepared(attempts: Sequence[Attempt], source: str) -> PreparedAttempts:
    sent, pairs = _grouped(attempts, source, datetime.now(timezone.utc))
    return PreparedAttempts(source, sent, pairs)


# A queue id names one message for at most this long (Postfix's maximal
# queue lifetime is 5 days by default); after that, short ids come round again.
QUEUE_ID_LIFETIME = timedelta(days=7)


def _with_known_message_ids(session: Session, attempts: list[Attempt]) -> list[Attempt]:
    """Fill in the Message-ID of attempts whose log line did not say it.

    The parser ties queue id to Message-ID within one read of the log; a
    retry logged after the last run stopped (or in the next rotated file)
    arrives without it. The ledger remembers which message had that queue id.
    """
    missing = {a.queue_id for a in attempts if not a.message_id and a.queue_id}
    if not missing:
        return attempts
    since = min(a.at for a in attempts) - QUEUE_ID_LIFETIME
    known: dict[str, list[tuple[datetime, str]]] = {}
    for queue_in in among(session, SentMessage.queue_id, sorted(missing)):
        for queue_id, first_seen, message_id in session.execute(
            select(SentMessage.queue_id, SentMessage.first_seen_at, SentMessage.message_id).where(
                queue_in, SentMessage.message_id.is_not(None), SentMessage.first_seen_at >= since
            )
        ):
            known.setdefault(queue_id, []).append((first_seen, message_id))
    out = []
    for attempt in attempts:
        if not attempt.message_id and attempt.queue_id in known:
            earlier = [c for c in known[attempt.queue_id] if c[0] <= attempt.at]
            if earlier:
                attempt = replace(attempt, message_id=max(earlier)[1])
        out.append(attempt)
    return out


def _with_normal_recipients(attempts: Sequence[Attempt]) -> list[Attempt]:
    """The attempts with their recipient as the ledger keys it; those without one are dropped."""
    out = []
    for attempt in attempts:
        recipient = normalise_address(attempt.recipient)
        if recipient:
            out.append(attempt if recipient == attempt.recipient else replace(attempt, recipient=recipient))
    return out


def _decided(data: _Pair) -> tuple[dict[str, object], Fact | None]:
    """The ``deliveries`` columns a delivery's facts decide, and the deciding fact."""
    decision = decide(data.facts)
    row = delivery_values(decision)
    row["first_attempt_at"] = min(f.at for f in data.facts)
    row["first_hop_host"] = data.first_hop_host
    row["next_hop_queue_id"] = data.next_hop_queue_id
    return row, decision.decided_by if decision else None


def _new_delivery_row(sent_id: int, recipient: str, data: _Pair) -> tuple[dict[str, object], Fact | None]:
    """The ``deliveries`` row of a delivery first seen in this batch, its state from the batch's
    facts, and the fact that decided it (what its change-feed entry points at)."""
    values, fact = data.decided or _decided(data)
    row: dict[str, object] = {"sent_message_id": sent_id, "recipient": recipient, **values}
    return row, fact


@dataclass
class _Written:
    """What writing a batch's rows found and made."""

    pairs: dict[tuple[int, str], _Pair]  # by (sent message id, recipient)
    ids: dict[tuple[int, str], int]  # every pair's delivery id
    existing: dict[tuple[int, str], int]  # the deliveries that were there before
    created: list[_Created]  # the deliveries this batch made


class _Created(NamedTuple):
    """A delivery first written by this batch: what its change-feed entry and suppression need."""

    delivery_id: int
    recipient: str
    state: str
    fact: Fact | None  # the deciding fact


def _write_ignoring_known(session: Session, batch: PreparedAttempts) -> _Written:
    """Every row through ``INSERT ... ON CONFLICT DO NOTHING``: safe whatever the ledger holds."""
    message_ids = dict(
        insert_ignoring_duplicates(
            session, SentMessage, list(batch.sent.values()), ["msg_key"], returning=("msg_key", "id")
        )
    )
    seen_before = sorted(batch.sent.keys() - message_ids.keys())
    message_ids.update(_ids_by_key(session, seen_before) if seen_before else {})
    pairs = {(message_ids[msg_key], recipient): data for (msg_key, recipient), data in batch.pairs.items()}

    # Insert first, then look up only what was already there. A delivery
    # that existed is left as it was by the insert and re-derived from all
    # its events by the caller.
    decided = [_new_delivery_row(sent_id, recipient, data) for (sent_id, recipient), data in pairs.items()]
    created = insert_ignoring_duplicates(
        session, Delivery, [row for row, _ in decided], ["sent_message_id", "recipient"],
        returning=("sent_message_id", "recipient", "id"),
    )
    ids = {(sent_id, recipient): delivery_id for sent_id, recipient, delivery_id in created}
    made = []
    for row, fact in decided:
        delivery_id = ids.get((row["sent_message_id"], row["recipient"]))  # type: ignore[arg-type]
        if delivery_id is not None:
            made.append(_Created(delivery_id, row["recipient"], row["state"], fact))  # type: ignore[arg-type]
    known_before = [pair for pair in pairs if pair not in ids]
    existing = _delivery_ids(session, known_before) if known_before else {}
    ids.update(existing)
    events = []
    for pair, data in pairs.items():
        delivery_id = ids[pair]
        for event in data.events:
            event[1] = delivery_id
            events.append(event)
    insert_tuples(session, Event.__table__, EVENT_COLUMNS, events, ["dedupe_key"])
    return _Written(pairs, ids, existing, made)


_SENT_COLUMNS = (
    "id", "msg_key", "message_id", "queue_id", "envelope_id", "sender",
    "return_path_token", "campaign", "header_ref", "first_seen_at",
)


def _write_new_keys(session: Session, batch: PreparedAttempts) -> _Written:
    """PostgreSQL: rows with new keys COPYed straight into their tables, ids reserved in blocks.

    A fresh log (the common case) is all new keys: one look-up of the
    batch's message keys, one reservation of ids per table, one COPY per
    table, and no statement waits on ``RETURNING``. A delivery of a message
    first seen here is new by construction, and so are its events; only
    rows that may exist (deliveries of known messages, their events) are
    looked up or go through ``ON CONFLICT``. A key written meanwhile by
    someone else fails the COPY with a unique violation: the caller rolls
    back to its savepoint and writes the batch the careful way.
    """
    keys = list(batch.sent)
    message_ids = _ids_by_key(session, keys)
    new_keys = [key for key in keys if key not in message_ids]
    new_sent = reserve_ids(session, SentMessage.__table__, len(new_keys))
    message_ids.update(zip(new_keys, new_sent))
    fresh = set(new_sent)
    pairs = {(message_ids[msg_key], recipient): data for (msg_key, recipient), data in batch.pairs.items()}
    maybe_known = [pair for pair in pairs if pair[0] not in fresh]
    existing = _delivery_ids(session, maybe_known) if maybe_known else {}
    new_pairs = [pair for pair in pairs if pair not in existing]
    ids = dict(existing)
    made = []
    delivery_rows = []
    columns: list[str] = []
    for pair, delivery_id in zip(new_pairs, reserve_ids(session, Delivery.__table__, len(new_pairs))):
        ids[pair] = delivery_id
        sent_id, recipient = pair
        data = pairs[pair]
        values, fact = data.decided or _decided(data)
        made.append(_Created(delivery_id, recipient, values["state"], fact))  # type: ignore[arg-type]
        delivery_rows.append((delivery_id, sent_id, recipient, *values.values()))
        columns = columns or ["id", "sent_message_id", "recipient", *values]
    sent_rows = []
    for key, sent_id in zip(new_keys, new_sent):
        row = batch.sent[key]
        sent_rows.append((sent_id, *(row[c] for c in _SENT_COLUMNS[1:])))
    copy_new_rows(session, SentMessage.__table__, _SENT_COLUMNS, sent_rows)
    copy_new_rows(session, Delivery.__table__, columns, delivery_rows)
    new_events, other_events = [], []
    for pair, data in pairs.items():
        delivery_id = ids[pair]
        into = other_events if pair in existing else new_events
        for event in data.events:
            event[1] = delivery_id
            into.append(event)
    copy_new_rows(session, Event.__table__, EVENT_COLUMNS, new_events)
    insert_tuples(session, Event.__table__, EVENT_COLUMNS, other_events, ["dedupe_key"])
    return _Written(pairs, ids, existing, made)


def store_attempts(session: Session, attempts: Sequence[Attempt], source: str, rules: LedgerRules) -> set[int]:
    """Record a batch of attempts; returns the ids of the deliveries they touched.

    Callers leave out :func:`is_notice` attempts: the MTA's own DSNs are not
    deliveries of the sender's mail.
    """
    return store_prepared(session, prepare_attempts(attempts, source), rules)


def store_prepared(session: Session, batch: PreparedAttempts, rules: LedgerRules) -> set[int]:
    """Write a prepared batch; returns the ids of the deliveries it touched.

    Deliveries first seen in this batch get their state straight from the
    batch's own facts; only deliveries that existed before are re-derived
    from the database.
    """
    if batch.unresolved:
        resolved = _with_known_message_ids(session, batch.unresolved)
        batch.merge(_prepared(resolved, batch.source))
        batch.unresolved = []
    if not batch.pairs:
        return set()
    written: _Written | None = None
    if session.get_bind().dialect.name == "postgresql":
        session.flush()  # pending ORM changes first: the raw driver cursor bypasses the unit of work
        try:
            with savepoint(session):
                written = _write_new_keys(session, batch)
        except UniqueViolation:
            # A key that was new when looked up was written meanwhile (another
            # ingester), or an event of a new delivery was known under an
            # older one: this batch takes the careful way.
            written = None
    if written is None:
        written = _write_ignoring_known(session, batch)
    pairs, ids, existing = written.pairs, written.ids, written.existing
    for created in written.created:
        kind = feed.delivery_change(None, False, created.state, False)
        if kind is not None and created.fact is not None:
            feed.record_delivery(session, created.delivery_id, kind, None, created.state, created.fact.key, created.fact.at)

    hops = [
        (existing[pair], data.first_hop_host, data.next_hop_queue_id)
        for pair, data in pairs.items()
        if pair in existing and data.first_hop_host is not None
    ]
    if hops:
        # in id order, as reconciliation takes them: an UPDATE ... FROM locks in any order
        reconcile.lock_deliveries(session, [delivery_id for delivery_id, _, _ in hops])
    update_by_key(session, Delivery.__table__, "id", ("first_hop_host", "next_hop_queue_id"), hops)
    # Bounces read before these lines are tied now, not on some later run.
    linked = reconcile.link_waiting_verdicts(session, {recipient for _, recipient in pairs}, rules)
    reconcile.recompute(session, {*existing.values(), *linked}, rules)
    suppress.refresh(session, {c.recipient for c in written.created if c.state in suppress.FINAL_BAD}, rules.suppression)
    return set(ids.values())
