"""Tying verdicts to the deliveries they report on, a batch at a time.

Keys are tried strongest first (see :data:`MATCHERS`): the token in our
own return path (``bounces+TOKEN@``, HMAC-checked when a secret is set, see
:mod:`bounceledger.ingest.verp`), the DSN's envelope id, then a queue id (the next hop's, from our log's "queued as X", or our
own, from our MTA's DSN), then the original Message-ID, then a configured
header the sender set and the MTA logged (``match_headers``), and last, marked as
weak, the only delivery to that recipient shortly before the verdict. Each
key costs one query for the whole batch, never one per verdict, so the cost
grows with the number of verdicts, not with the size of the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from bounceledger.ingest.dbutil import among, array_param
from bounceledger.ingest.keys import message_id_key
from bounceledger.ingest.verp import verify
from bounceledger.models import Delivery, SentMessage

# A returned message refers to a send at most this long before it (Postfix's
# default maximal_queue_lifetime is 5 days); queue ids outside it are reused.
MATCH_WINDOW = timedelta(days=7)
CLOCK_SKEW = timedelta(hours=2)


class MatchKeys(NamedTuple):
    """What a verdict offers to find its delivery.

    Named tuples, this and :class:`Candidate`: a batch makes one per verdict
    and per row found, and a frozen dataclass's ``__init__`` cost several
    times as much (about a twentieth of reconciliation's client CPU).
    """

    recipient: str | None
    at: datetime
    original_message_id: str | None = None
    next_hop_queue_id: str | None = None
    envelope_id: str | None = None
    return_path_token: str | None = None  # as found in the bounce, lowercased
    header_refs: tuple[str, ...] = ()  # configured headers quoted by the bounce (ingest.keys.header_ref)
    #: The report's Final-Recipient where ``recipient`` is its Original-Recipient and they differ.
    final_recipient: str | None = None


class Candidate(NamedTuple):
    delivery_id: int
    recipient: str
    key: str | None
    first_attempt_at: datetime | None


def keys_from(recipient: str | None, at: datetime, evidence: dict[str, object]) -> MatchKeys:
    """Match keys from a verdict event's evidence (as stored by ingest.returned)."""
    token = evidence.get("return_path_token")
    final = evidence.get("final_recipient")
    return MatchKeys(
        recipient=recipient,
        at=at,
        original_message_id=evidence.get("original_message_id"),  # type: ignore[arg-type]
        next_hop_queue_id=evidence.get("next_hop_queue_id"),  # type: ignore[arg-type]
        envelope_id=evidence.get("envelope_id"),  # type: ignore[arg-type]
        return_path_token=str(token).lower() if token else None,
        header_refs=tuple(evidence.get("header_refs") or ()),  # type: ignore[arg-type]
        final_recipient=str(final).lower() if final and str(final).lower() != (recipient or "").lower() else None,
    )


def in_window(candidate: Candidate, keys: MatchKeys) -> bool:
    when = candidate.first_attempt_at
    return when is None or keys.at - MATCH_WINDOW <= when <= keys.at + CLOCK_SKEW


def _by_pairs(session: Session, column: ColumnElement[str], pairs: set[tuple[str, str]]) -> list[Candidate]:
    """Deliveries whose ``column`` and recipient form one of ``pairs`` (key, recipient).

    PostgreSQL joins the pairs as an unnested array pair, so each one is an
    index probe (the key, then the sent message's recipient in the unique
    index) whatever the size of the ledger. SQLite takes IN lists of keys
    and recipients and the exact pairs are picked out here.
    """
    if not pairs:
        return []
    if session.get_bind().dialect.name != "postgresql":
        return [
            c
            for c in _fetch(session, column, {k for k, _ in pairs}, {r for _, r in pairs})
            if (c.key, c.recipient) in pairs
        ]
    keys, recipients = zip(*sorted(pairs))
    wanted = func.unnest(array_param(keys, "TEXT"), array_param(recipients, "TEXT")).table_valued("key", "rcpt").render_derived()
    stmt = select(Delivery.id, Delivery.recipient, column, Delivery.first_attempt_at)
    if column.table is SentMessage.__table__:
        stmt = stmt.select_from(wanted).join(SentMessage, column == wanted.c.key).join(
            Delivery, and_(Delivery.sent_message_id == SentMessage.id, Delivery.recipient == wanted.c.rcpt)
        )
    else:
        stmt = stmt.select_from(wanted).join(Delivery, and_(column == wanted.c.key, Delivery.recipient == wanted.c.rcpt))
    return [Candidate(*row) for row in session.connection().execute(stmt).all()]


def _fetch(
    session: Session,
    column: ColumnElement[str] | None,
    values: set[str],
    recipients: set[str],
    since: datetime | None = None,
) -> list[Candidate]:
    """Deliveries to any of ``recipients`` whose ``column`` is one of ``values``
    (``column`` None: by recipient alone, first attempted after ``since``)."""
    found: list[Candidate] = []
    key_column = column if column is not None else Delivery.recipient
    for key_in in among(session, key_column, sorted(values)):
        stmt = (
            select(Delivery.id, Delivery.recipient, key_column, Delivery.first_attempt_at)
            .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
            .where(key_in)
        )
        if since is not None:
            stmt = stmt.where(Delivery.first_attempt_at >= since)
        if column is not None:
            for recipient_in in among(session, Delivery.recipient, sorted(recipients)):
                found.extend(Candidate(*row) for row in session.connection().execute(stmt.where(recipient_in)).all())
        else:
            found.extend(Candidate(*row) for row in session.connection().execute(stmt).all())
    return found


def _index(candidates: Iterable[Candidate]) -> dict[tuple[str | None, str], list[Candidate]]:
    index: dict[tuple[str | None, str], list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        index[(candidate.key, candidate.recipient)].append(candidate)
    return index


def _pairs(batch: list[MatchKeys], key: str) -> set[tuple[str, str]]:
    """The (key, recipient) pairs a batch offers for one kind of key."""
    return {(value, k.recipient) for k in batch if k.recipient and (value := getattr(k, key))}


Lookup = Callable[[Session, list[MatchKeys]], Callable[[MatchKeys], list[Candidate]]]


def _by_return_path_token(session: Session, batch: list[MatchKeys]) -> Callable[[MatchKeys], list[Candidate]]:
    index = _index(_by_pairs(session, SentMessage.return_path_token, _pairs(batch, "return_path_token")))
    return lambda k: [c for c in index.get((k.return_path_token, k.recipient or ""), []) if in_window(c, k)]


def _by_envelope_id(session: Session, batch: list[MatchKeys]) -> Callable[[MatchKeys], list[Candidate]]:
    index = _index(_by_pairs(session, SentMessage.envelope_id, _pairs(batch, "envelope_id")))
    return lambda k: [c for c in index.get((k.envelope_id, k.recipient or ""), []) if in_window(c, k)]


def _by_queue_id(session: Session, batch: list[MatchKeys]) -> Callable[[MatchKeys], list[Candidate]]:
    pairs = _pairs(batch, "next_hop_queue_id")
    index = _index([*_by_pairs(session, Delivery.next_hop_queue_id, pairs), *_by_pairs(session, SentMessage.queue_id, pairs)])
    return lambda k: [c for c in index.get((k.next_hop_queue_id, k.recipient or ""), []) if in_window(c, k)]


def _by_message_id(session: Session, batch: list[MatchKeys]) -> Callable[[MatchKeys], list[Candidate]]:
    # Looked up as the message key, whose unique index is the Message-ID index.
    pairs = {(message_id_key(key), recipient) for key, recipient in _pairs(batch, "original_message_id")}
    index = _index(_by_pairs(session, SentMessage.msg_key, pairs))
    return lambda k: index.get((message_id_key(k.original_message_id or ""), k.recipient or ""), [])


def _by_header_ref(session: Session, batch: list[MatchKeys]) -> Callable[[MatchKeys], list[Candidate]]:
    pairs = {(ref, k.recipient) for k in batch if k.recipient for ref in k.header_refs}
    index = _index(_by_pairs(session, SentMessage.header_ref, pairs))
    return lambda k: [c for ref in k.header_refs for c in index.get((ref, k.recipient or ""), []) if in_window(c, k)]


def _by_recipient(session: Session, batch: list[MatchKeys]) -> Callable[[MatchKeys], list[Candidate]]:
    recipients = {k.recipient for k in batch if k.recipient}
    since = min(k.at for k in batch) - MATCH_WINDOW
    index = _index(
        Candidate(c.delivery_id, c.recipient, None, c.first_attempt_at)
        for c in _fetch(session, None, recipients, recipients, since)
    )

    def weak(k: MatchKeys) -> list[Candidate]:
        found = [c for c in index.get((None, k.recipient or ""), []) if in_window(c, k)]
        return found if len(found) == 1 else []  # weak means unambiguous

    return weak


MATCHERS: tuple[tuple[str, Lookup], ...] = (
    ("token", _by_return_path_token),
    ("envelope_id", _by_envelope_id),
    ("queue_id", _by_queue_id),
    ("message_id", _by_message_id),
    ("header", _by_header_ref),
    ("weak", _by_recipient),
)


def token_check(token: str | None, secret: str | None) -> str | None:
    """``signed`` (valid HMAC), ``forged`` (a secret is set and the signature is wrong),
    ``plain`` (no secret configured: a plain VERP token), or None (no token)."""
    if not token:
        return None
    if not secret:
        return "plain"
    return "signed" if verify(token, secret) is not None else "forged"


def match_many(
    session: Session, batch: Sequence[MatchKeys], secret: str | None = None
) -> list[tuple[int, str] | None]:
    """For each verdict, its delivery id and the key that tied them, or None.

    With a return-path secret, a verdict whose token does not verify is
    never matched: a forged bounce must not mark a good address as bad.
    """
    results: list[tuple[int, str] | None] = [None] * len(batch)
    session.flush()  # the lookups read Core rows through the connection, past the ORM's autoflush
    open_indexes = [
        i for i, k in enumerate(batch) if k.recipient and token_check(k.return_path_token, secret) != "forged"
    ]
    open_indexes = _match_in_turn(session, dict(zip(open_indexes, (batch[i] for i in open_indexes))), MATCHERS, results)
    # RFC 3464 2.3.1-2.3.2: a report names a recipient twice, as the sender gave it (Original-Recipient,
    # the ORCPT) and as the reporting MTA last handled it (Final-Recipient). The verdict goes by the
    # first; where the sender's own MTA rewrote the address before sending (a virtual alias, a
    # canonical map: Postfix logs "to=<final>, orig_to=<original>"), the send log knows the delivery
    # by the second. It is tried with the strong keys only: the weak match by recipient alone would
    # tie the verdict to whatever was last sent to the rewritten address.
    finals = {i: batch[i]._replace(recipient=batch[i].final_recipient) for i in open_indexes if batch[i].final_recipient}
    if finals:
        _match_in_turn(session, finals, tuple((name, lookup) for name, lookup in MATCHERS if name != "weak"), results)
    return results


def _match_in_turn(
    session: Session,
    open_keys: dict[int, MatchKeys],
    matchers: Sequence[tuple[str, Lookup]],
    results: list[tuple[int, str] | None],
) -> list[int]:
    """Each matcher in turn on the verdicts still open (by their index in ``results``, filled in
    as they are tied); returns the indexes left open."""
    open_indexes = list(open_keys)
    # A key that several deliveries to the recipient share (a return-path token per contact or per
    # campaign, a header reused) does not say which send the verdict is about: the weaker keys that
    # name one send (the returned Message-ID, the next hop's queue id) are asked first, and only if
    # none of them ties it does the latest of the shared key's deliveries stand.
    ambiguous: dict[int, tuple[int, str]] = {}
    for name, lookup in matchers:
        if not open_indexes:
            break
        find = lookup(session, [open_keys[i] for i in open_indexes])
        still_open = []
        for i in open_indexes:
            found = find(open_keys[i])
            if found:
                best = max(found, key=lambda c: (c.first_attempt_at is not None, c.first_attempt_at, c.delivery_id))
                if len({c.delivery_id for c in found}) > 1 and i not in ambiguous:
                    ambiguous[i] = (best.delivery_id, name)
                    still_open.append(i)
                    continue
                results[i] = (best.delivery_id, name)
            else:
                still_open.append(i)
        open_indexes = still_open
    for i in [i for i in open_indexes if i in ambiguous]:
        results[i] = ambiguous[i]
    return [i for i in open_indexes if i not in ambiguous]
