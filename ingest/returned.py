"""Recording a returned message and its verdicts in the ledger.

The raw bytes are stored before anything else is decided, so that a message
the parser cannot read yet is quarantined (outcome ``unparsed``, or
``error`` when the parser itself failed on it) rather than lost, and can be
re-parsed when the parser improves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bounceledger.ingest import reconcile
from bounceledger.ingest.batchgc import fewer_collections
from bounceledger.ingest.bounces import parse
from bounceledger.ingest.dbutil import among, insert_fresh
from bounceledger.ingest.keys import header_ref, normalise_address, verdict_key
from bounceledger.ingest.matching import MatchKeys, keys_from, match_many, token_check
from bounceledger.ingest.records import NEUTRAL_KINDS, ParsedMessage, Verdict
from bounceledger.ingest.rules import LedgerRules
from bounceledger.models import Event, ReturnedMessage
from bounceledger.models.state import Fact

StoreOutcome = Literal["processed", "unparsed", "error", "ignored", "duplicate", "seen"]

#: Stored outcomes that are quarantine: the message is kept with its error
#: and filed to the ``unparsed`` folder. ``error`` (the parser failed) is
#: counted apart from ``unparsed`` (not mail) but handled the same way.
QUARANTINED = ("unparsed", "error")


def folder_for(outcome: str) -> str:
    """The mailbox folder outcome a stored outcome is filed under."""
    return "unparsed" if outcome in QUARANTINED else outcome


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """What became of one message.

    ``seen`` means this very message (same mailbox position) was stored
    before: a re-read after a crash or a rescan, not news. ``duplicate``
    means a second copy found elsewhere. ``filed_as`` is the folder outcome
    a mailbox source files the message under.
    """

    outcome: StoreOutcome
    returned_message_id: int | None
    filed_as: str = "processed"
    verdicts: int = 0
    matched: int = 0
    orphans: int = 0
    error: str | None = None


def stored_outcome(session: Session, source: str, source_ref: str) -> str | None:
    """What a message at this mailbox position was filed as, if it was stored."""
    return session.scalar(
        select(ReturnedMessage.outcome)
        .where(ReturnedMessage.source == source, ReturnedMessage.source_ref == source_ref)
        .limit(1)
    )


StoredCopy = tuple[int | None, str, str | None, str, "_NewMessage | None"]


def _stored_copies(session: Session, digests: Sequence[str]) -> dict[str, StoredCopy]:
    found: dict[str, StoredCopy] = {}
    # among(): one array parameter on PostgreSQL, so the statement's text is the same for
    # every batch (an IN list of a batch's size was compiled and split anew each time)
    for digest_in in among(session, ReturnedMessage.sha256, sorted(set(digests))):
        for row in session.execute(
            select(
                ReturnedMessage.sha256,
                ReturnedMessage.id,
                ReturnedMessage.source,
                ReturnedMessage.source_ref,
                ReturnedMessage.outcome,
            ).where(digest_in)
        ):
            found[row.sha256] = (row.id, row.source, row.source_ref, row.outcome, None)
    return found


def _copy_of(session: Session, copy: StoredCopy, item: Incoming) -> StoredMessage:
    """The same bytes again: a re-read of the same position, or a second copy."""
    stored_id, source, source_ref, outcome, pending = copy
    if pending is not None:  # first seen earlier in this very batch
        stored_id = pending.id
    if not item.count_duplicates or (source, source_ref) == (item.source, item.source_ref):
        return StoredMessage("seen", stored_id, filed_as=folder_for(outcome))
    if pending is not None:
        pending.duplicate_count = (pending.duplicate_count or 0) + 1
    else:
        session.execute(
            update(ReturnedMessage)
            .where(ReturnedMessage.id == stored_id)
            .values(duplicate_count=ReturnedMessage.duplicate_count + 1)
        )
    return StoredMessage("duplicate", stored_id, filed_as=folder_for(outcome))


def _mark_message_id_duplicates(session: Session, fresh: list[_NewMessage]) -> None:
    """The same notice again with other bytes (re-sent, another Delivered-To) is a duplicate."""
    ids = {r.message_id for r in fresh if r.message_id and r.outcome not in QUARANTINED}
    if not ids:
        return
    taken: set[str] = set()
    for message_id_in in among(session, ReturnedMessage.message_id, sorted(ids)):
        taken.update(
            session.scalars(
                select(ReturnedMessage.message_id).where(message_id_in, ReturnedMessage.outcome != "duplicate")
            )
        )
    for returned in fresh:
        if not returned.message_id or returned.outcome in QUARANTINED:
            continue
        if returned.message_id in taken:
            returned.outcome = "duplicate"
        else:
            taken.add(returned.message_id)


def _message_time(parsed: ParsedMessage, received_at: datetime) -> datetime:
    """When the returned message says it was written; the receipt time otherwise."""
    raw_date = parsed.headers.get("date") or parsed.headers.get("Date")
    if raw_date:
        try:
            when = parsedate_to_datetime(raw_date)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return when.astimezone(timezone.utc)
    return received_at


def _outcome(parsed: ParsedMessage) -> StoreOutcome:
    if parsed.outcome == "unparsed":
        return "unparsed"
    if parsed.outcome == "error":
        return "error"
    if any(v.kind not in NEUTRAL_KINDS for v in parsed.verdicts):
        return "processed"
    return "ignored"


def verdict_row(
    verdict: Verdict,
    key: str,
    returned_id: int,
    at: datetime,
    source: str,
    now: datetime,
    header_refs: Sequence[str] = (),
) -> dict[str, object]:
    return {
        "dedupe_key": key,
        "delivery_id": None,
        # the address the sender used is what its delivery is keyed by: a
        # report that names where an alias led (sendmail's "expanded from",
        # a DSN's Final-Recipient) keeps that one in the evidence
        "recipient": normalise_address(verdict.original_recipient or verdict.recipient),
        "kind": "verdict",
        "source": source,
        "at": verdict.last_attempt_at or at,
        "outcome": verdict.kind,
        "first_hop": True,
        "remote_host": verdict.remote_mta,
        "status": verdict.status,
        "replycode": verdict.replycode,
        "reason": verdict.reason,
        "detail": verdict.diagnostic,
        "match_key": None,
        "returned_message_id": returned_id,
        "evidence": {
            "action": verdict.action,
            "hardbounce": verdict.hardbounce,
            "category": verdict.category,
            "reporting_mta": verdict.reporting_mta,
            "original_recipient": verdict.original_recipient,
            "final_recipient": verdict.final_recipient or verdict.recipient,
            "envelope_id": verdict.envelope_id,
            "original_message_id": verdict.original_message_id,
            "next_hop_queue_id": verdict.next_hop_queue_id,
            "return_path_token": verdict.return_path_token,
            "feedback_type": verdict.feedback_type,
            "detector": verdict.detector,
            "header_refs": list(header_refs),
        },
        "recorded_at": now,
    }


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message as a mailbox source delivered it."""

    raw: bytes
    source: str
    source_ref: str | None = None
    received_at: datetime | None = None
    count_duplicates: bool = True


@dataclass(slots=True)
class _NewMessage:
    """A message about to be stored: a ``returned_messages`` row, written in bulk."""

    sha256: str
    message_id: str | None
    source: str
    source_ref: str | None
    subject: str | None
    outcome: str
    error: str | None
    size: int
    raw: bytes
    received_at: datetime
    recorded_at: datetime
    duplicate_count: int = 0
    id: int | None = None


_NEW_MESSAGE_COLUMNS = (
    "sha256", "message_id", "source", "source_ref", "subject", "outcome", "error", "size", "raw", "received_at",
    "recorded_at", "duplicate_count",
)


def _insert_new(session: Session, fresh: list[_NewMessage]) -> None:
    """Insert the batch's new messages in one statement and learn their ids.

    A copy that another process stored meanwhile (the insert skipped it)
    becomes a duplicate of that one: its verdicts are already recorded.
    """
    rows = [{c: getattr(r, c) for c in _NEW_MESSAGE_COLUMNS} for r in fresh]
    ids = insert_fresh(session, ReturnedMessage, rows, ["sha256"], key="sha256")
    raced = {r.sha256 for r in fresh} - ids.keys()
    if raced:
        ids.update({digest: copy[0] for digest, copy in _stored_copies(session, sorted(raced)).items()})
    for returned in fresh:
        returned.id = ids[returned.sha256]
        if returned.sha256 in raced:
            returned.outcome = "duplicate"


def store_returned_messages(
    session: Session,
    batch: Sequence[Incoming],
    rules: LedgerRules,
    parsed: Sequence[ParsedMessage | None] | None = None,
) -> list[StoredMessage]:
    """Keep, parse and reconcile a batch of returned messages, exactly once per content.

    Set-based: one query finds the copies already stored, one insert keeps
    the new ones, matching costs one query per key kind for the whole batch.
    ``count_duplicates`` is off while a source re-reads a renumbered mailbox,
    where every known message would otherwise look like a copy. ``parsed``
    may hold what :func:`bounceledger.ingest.bounces.parse` already made of each message
    (with the rules' ``match_headers``); None entries are parsed here.
    """
    with fewer_collections():
        return _store_returned_messages(session, batch, rules, parsed)


def _store_returned_messages(
    session: Session,
    batch: Sequence[Incoming],
    rules: LedgerRules,
    parsed: Sequence[ParsedMessage | None] | None,
) -> list[StoredMessage]:
    now = datetime.now(timezone.utc)
    match_headers = rules.match_headers
    digests = [hashlib.sha256(item.raw).hexdigest() for item in batch]
    known = _stored_copies(session, digests)
    results: list[StoredMessage | None] = [None] * len(batch)
    fresh: list[tuple[int, _NewMessage, ParsedMessage]] = []
    for index, (item, digest) in enumerate(zip(batch, digests)):
        if digest in known:
            results[index] = _copy_of(session, known[digest], item)
            continue
        parsed_here = parsed[index] if parsed is not None else None
        message = parsed_here if parsed_here is not None else parse(item.raw, quoted=match_headers)
        returned = _NewMessage(
            sha256=digest,
            message_id=message.message_id,
            source=item.source,
            source_ref=item.source_ref,
            subject=message.subject,
            outcome=_outcome(message),
            error=message.error,
            size=len(item.raw),
            raw=item.raw,
            received_at=item.received_at or now,
            recorded_at=now,
        )
        known[digest] = (None, item.source, item.source_ref, returned.outcome, returned)
        fresh.append((index, returned, message))
    _mark_message_id_duplicates(session, [r for _, r, _ in fresh])
    _insert_new(session, [r for _, r, _ in fresh])

    rows: list[dict[str, object]] = []
    owners: list[int] = []
    for index, returned, message in fresh:
        if returned.outcome == "duplicate":
            continue
        at = _message_time(message, returned.received_at)
        refs = [ref for name, value in message.quoted.items() if (ref := header_ref(name, value))]
        for position, verdict in enumerate(message.verdicts):
            key = verdict_key(returned.sha256, position, verdict)
            rows.append(verdict_row(verdict, key, returned.id, at, returned.source, now, refs))
            owners.append(index)
    found = record_verdicts(session, rows, rules)

    per_message: dict[int, list[bool]] = {}
    for owner, hit in zip(owners, found):
        per_message.setdefault(owner, []).append(hit is not None)
    for index, returned, message in fresh:
        hits = per_message.get(index, [])
        outcome: StoreOutcome = returned.outcome  # type: ignore[assignment]
        results[index] = StoredMessage(
            outcome,
            returned.id,
            filed_as="processed" if outcome == "duplicate" else folder_for(outcome),
            verdicts=len(hits),
            matched=sum(hits),
            orphans=len(hits) - sum(hits),
            error=message.error,
        )
    return [r for r in results if r is not None]


def record_verdicts(session: Session, rows: list[dict[str, object]], rules: LedgerRules) -> list[tuple[int, str] | None]:
    """Match a batch of verdict events, store them, and re-derive the deliveries they touch.

    The set-based core of reconciliation for returned mail; returns, per row,
    the delivery and key it was tied by (None: kept as an orphan).
    """
    with fewer_collections():
        return _record_verdicts(session, rows, rules)


def _record_verdicts(session: Session, rows: list[dict[str, object]], rules: LedgerRules) -> list[tuple[int, str] | None]:
    secret = rules.return_path_secret
    for row in rows:
        evidence: dict[str, object] = row["evidence"]  # type: ignore[assignment]
        evidence["return_path_token_check"] = token_check(evidence.get("return_path_token"), secret)  # type: ignore[arg-type]
    found = match_many(session, [keys_of_row(row) for row in rows], secret)
    for row, hit in zip(rows, found):
        if hit is not None:
            row["delivery_id"], row["match_key"] = hit
    # The deliveries are locked and weighed against the verdicts before
    # those are written: a verdict that simply outranks its delivery's
    # state (a bounce on an accepted delivery) is decided without reading
    # the history, and the correction it makes goes into its own row.
    arrivals: dict[int, list[Fact]] = {}
    for row, hit in zip(rows, found):
        if hit is not None:
            arrivals.setdefault(hit[0], []).append(reconcile.arrival(row))
    planned = reconcile.plan(session, list(arrivals), arrivals)
    planned.fold(rows)
    inserted = insert_fresh(session, Event, rows, ["dedupe_key"], key="dedupe_key")
    if len(inserted) < len(rows):
        planned.not_all_written(session, rows, inserted)
    reconcile.apply(session, planned, rules)
    return found


def store_returned_message(
    session: Session,
    raw: bytes,
    rules: LedgerRules,
    *,
    source: str,
    source_ref: str | None = None,
    received_at: datetime | None = None,
    count_duplicates: bool = True,
) -> StoredMessage:
    """One message: see :func:`store_returned_messages`."""
    [stored] = store_returned_messages(session, [Incoming(raw, source, source_ref, received_at, count_duplicates)], rules)
    return stored


def keys_of_row(row: dict[str, object]) -> MatchKeys:
    evidence: dict[str, object] = row["evidence"]  # type: ignore[assignment]
    return keys_from(row["recipient"], row["at"], evidence)  # type: ignore[arg-type]
