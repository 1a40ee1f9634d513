"""The ledger: what was sent, what happened to each recipient, and why.

History lives in ``events`` (append-only); ``deliveries`` holds only the state
derived from those events by :mod:`bounceledger.models.state`, so it can always be
rebuilt. Raw returned messages are kept byte for byte so that they can be
re-parsed when the classifier improves and shown to support as evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from bounceledger.models.types import BigIntId, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def key_text(length: int) -> TypeEngine[str]:
    """A column of identifiers (addresses, Message-IDs, queue ids, digests), compared byte by byte.

    These are matched for equality and never sorted for people to read, so
    on PostgreSQL they take the "C" collation: every index entry and join
    compares bytes instead of calling the database's locale (an en-US
    database spent about a fifth of ingest's server CPU in those
    comparisons; migration 0011). SQLite compares bytes already.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


ADDRESS = key_text(320)  # RFC 5321 path limit: 64 + 1 + 255
MESSAGE_ID = key_text(998)  # RFC 5322 line limit
SHORT = String(32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class SentMessage(Base):
    """One message the sender's MTA accepted for delivery.

    ``msg_key`` identifies it across log lines and re-reads: the Message-ID
    when the log gave one, else the queue id and the day it was first seen
    (queue ids are reused, Message-IDs are not supposed to be).
    """

    __tablename__ = "sent_messages"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # Unique, and the Message-ID index too: a message with a Message-ID is
    # keyed by it (``'mid:' + message_id``, see
    # :func:`bounceledger.ingest.keys.message_id_key`), so no second index on
    # ``message_id`` is needed.
    msg_key: Mapped[str] = mapped_column(MESSAGE_ID, unique=True)
    message_id: Mapped[str | None] = mapped_column(MESSAGE_ID)
    queue_id: Mapped[str | None] = mapped_column(key_text(64), index=True)
    envelope_id: Mapped[str | None] = mapped_column(key_text(100))
    sender: Mapped[str | None] = mapped_column(ADDRESS)
    return_path_token: Mapped[str | None] = mapped_column(key_text(100))
    campaign: Mapped[str | None] = mapped_column(String(200))
    # A configured header the sender put on the message and the MTA logged
    # ("x-mailer-ref:abc123", see ingest.keys.header_ref): a returned
    # message quoting that header is tied to this send.
    header_ref: Mapped[str | None] = mapped_column(key_text(255))
    first_seen_at: Mapped[datetime]

    __table_args__ = (
        Index(
            "ix_sent_messages_return_path_token",
            "return_path_token",
            postgresql_where=text("return_path_token IS NOT NULL"),
            sqlite_where=text("return_path_token IS NOT NULL"),
        ),
        Index(
            "ix_sent_messages_envelope_id",
            "envelope_id",
            postgresql_where=text("envelope_id IS NOT NULL"),
            sqlite_where=text("envelope_id IS NOT NULL"),
        ),
        # Reports per campaign; most logs name none, so the index is partial.
        Index(
            "ix_sent_messages_campaign",
            "campaign",
            postgresql_where=text("campaign IS NOT NULL"),
            sqlite_where=text("campaign IS NOT NULL"),
        ),
        Index(
            "ix_sent_messages_header_ref",
            "header_ref",
            postgresql_where=text("header_ref IS NOT NULL"),
            sqlite_where=text("header_ref IS NOT NULL"),
        ),
    )


class Delivery(Base):
    """One recipient of one sent message, with its current derived state.

    ``state`` is one of :data:`bounceledger.models.state.STATES`, or ``pending`` while the
    only attempts seen were hand-offs to the sender's own relays.

    On PostgreSQL the table is kept with free room on each page (fillfactor,
    set by migration 0007): a correction then fits beside the row it
    replaces and is written as a HOT update, without touching any index.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("sent_message_id", "recipient"),
        # The expiry job looks for long-deferred deliveries. The index is on a
        # column of their own, not on ``state``: PostgreSQL updates a row in
        # place (HOT, no index touched) only while no indexed column changes,
        # and an index naming ``state`` would make every accepted -> bounced
        # correction rewrite every index. ``deferred_since`` changes only on
        # entering or leaving ``deferred``.
        Index(
            "ix_deliveries_deferred_since",
            "deferred_since",
            postgresql_where=text("deferred_since IS NOT NULL"),
            sqlite_where=text("deferred_since IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # No foreign key (see ``events.delivery_id``): ingest writes the sent
    # message in the same transaction, and nothing deletes sent messages.
    sent_message_id: Mapped[int] = mapped_column(BigIntId)
    recipient: Mapped[str] = mapped_column(ADDRESS, index=True)
    state: Mapped[str] = mapped_column(SHORT)
    reason: Mapped[str | None] = mapped_column(SHORT)
    status: Mapped[str | None] = mapped_column(SHORT)
    replycode: Mapped[str | None] = mapped_column(String(3))
    detail: Mapped[str | None] = mapped_column(Text)
    first_hop_host: Mapped[str | None] = mapped_column(String(255))
    next_hop_queue_id: Mapped[str | None] = mapped_column(key_text(64), index=True)
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    first_attempt_at: Mapped[datetime | None]
    state_at: Mapped[datetime | None]
    #: ``state_at`` while the state is ``deferred``, else NULL (see the index above).
    deferred_since: Mapped[datetime | None]


class Event(Base):
    """An append-only fact about a delivery, with its evidence.

    ``kind`` is ``attempt`` (a send-log line) or ``verdict`` (a returned
    message), besides the ledger's own records (``suppression``,
    ``erasure``). A verdict that matches no delivery yet is kept with
    ``delivery_id`` NULL (an orphan) and linked when its send shows up.
    ``dedupe_key`` makes re-reading the same log line or message a no-op.

    A verdict that overturned a first-hop 250 carries that correction in
    ``corrected_from``/``corrected_to``/``corrected_at`` (migration 0009)
    rather than in a row of its own: the correction is written with the
    verdict in the same COPY, costs no second row and index entries, and
    goes when the verdict moves to another delivery. The faces still show
    it as an event of kind ``correction`` (``bounceledger.ingest.corrections``
    rebuilds it, quoting the acceptance it overturned).
    """

    __tablename__ = "events"
    # Millions of attempt rows are written in bulk, so indexes that only a
    # few rows need are partial: orphans (no delivery yet) and weakly tied
    # verdicts by recipient, and verdicts by the returned message that
    # carried them.
    __table_args__ = (
        Index(
            "ix_events_orphan_recipient",
            "recipient",
            postgresql_where=text("delivery_id IS NULL"),
            sqlite_where=text("delivery_id IS NULL"),
        ),
        Index(
            "ix_events_returned_message_id",
            "returned_message_id",
            postgresql_where=text("returned_message_id IS NOT NULL"),
            sqlite_where=text("returned_message_id IS NOT NULL"),
        ),
        # Verdicts tied only by the weak match, re-checked when a send to
        # their recipient is read later (bounceledger.ingest.reconcile.link_waiting_verdicts).
        Index(
            "ix_events_weak_recipient",
            "recipient",
            postgresql_where=text("match_key = 'weak'"),
            sqlite_where=text("match_key = 'weak'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(key_text(32), unique=True)
    # No foreign key: checking one costs PostgreSQL about as much CPU as
    # writing the row itself (4.4 us of 9.5 per events row, 3.6 of 9.4 per
    # deliveries row, measured on 80k attempts), and ingest guarantees it:
    # a delivery's id is reserved and its row written in the same
    # transaction as its events, and no code deletes deliveries.
    delivery_id: Mapped[int | None] = mapped_column(BigIntId, index=True)
    recipient: Mapped[str | None] = mapped_column(ADDRESS)
    kind: Mapped[str] = mapped_column(SHORT)
    source: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(SHORT)
    first_hop: Mapped[bool] = mapped_column(Boolean, default=True)
    remote_host: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(SHORT)
    replycode: Mapped[str | None] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(SHORT)
    detail: Mapped[str | None] = mapped_column(Text)
    from_state: Mapped[str | None] = mapped_column(SHORT)
    to_state: Mapped[str | None] = mapped_column(SHORT)
    match_key: Mapped[str | None] = mapped_column(SHORT)
    #: The returned message this verdict was read from; no foreign key (migration 0012:
    #: the check cost a query per verdict, and no code deletes returned messages).
    returned_message_id: Mapped[int | None] = mapped_column(BigIntId)
    evidence: Mapped[dict[str, Any] | None]
    recorded_at: Mapped[datetime]
    #: The first-hop 250 this verdict corrected, as the ledger held it then: ``accepted``
    #: (provisional) or ``settled`` (its window had passed: a late surprise); NULL when it
    #: corrected nothing. Shown as a correction from ``accepted`` either way
    #: (:mod:`bounceledger.models.state`).
    corrected_from: Mapped[str | None] = mapped_column(SHORT)
    #: What it corrected it to (``bounced``, ``expired``, ``complained``), or NULL.
    corrected_to: Mapped[str | None] = mapped_column(SHORT)
    #: When the correction was recorded: it quotes the latest acceptance the ledger held then.
    corrected_at: Mapped[datetime | None]


class Change(Base):
    """One entry of the change feed (:mod:`bounceledger.ingest.feed`): a delivery's state
    changed, or an address went on or off the suppression list.

    ``seq`` is handed out in commit order, so ``seq > N`` resumes a reader
    exactly; SQLite's AUTOINCREMENT never reuses a number, even after the
    newest rows were deleted. A delivery entry points at its deciding event
    (``event_key``) rather than copying it; a suppression entry names its
    ``address`` (the only entries that do, so ``forget`` finds them).
    """

    __tablename__ = "changes"
    __table_args__ = (
        Index(
            "ix_changes_address",
            "address",
            postgresql_where=text("address IS NOT NULL"),
            sqlite_where=text("address IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(SHORT)
    delivery_id: Mapped[int | None] = mapped_column(BigIntId)
    address: Mapped[str | None] = mapped_column(ADDRESS)
    from_state: Mapped[str | None] = mapped_column(SHORT)
    to_state: Mapped[str] = mapped_column(SHORT)
    reason: Mapped[str | None] = mapped_column(SHORT)
    event_key: Mapped[str | None] = mapped_column(key_text(32))
    at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """Where one ``[[webhook]]`` stands: the last change-feed entry it has been
    handed (``cursor``), and the entry it is failing on, if any.

    Entries go out one at a time in ``seq`` order, so the first entry that
    fails holds the ones after it until it is sent or dead-lettered: that is
    what keeps them in order per delivery. ``name`` is the configured name
    (else the URL), so a restart, or a changed secret, keeps the place.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    cursor: Mapped[int] = mapped_column(BigIntId, default=0)
    failing_seq: Mapped[int | None] = mapped_column(BigIntId)
    attempts: Mapped[int] = mapped_column(default=0)
    first_failure_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None]
    delivered: Mapped[int] = mapped_column(BigIntId, default=0)
    failures: Mapped[int] = mapped_column(BigIntId, default=0)
    updated_at: Mapped[datetime]


class WebhookDeadLetter(Base):
    """A change-feed entry an endpoint never took, after every retry (about 27 hours).

    Kept until someone replays it (``webhooks replay``), so a consumer can
    be told exactly what it missed.
    """

    __tablename__ = "webhook_dead_letters"
    __table_args__ = (UniqueConstraint("endpoint_id", "seq"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigIntId)
    webhook_id: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int]
    first_failure_at: Mapped[datetime]
    dead_at: Mapped[datetime]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    replayed_at: Mapped[datetime | None]


class ReturnedMessage(Base):
    """A message taken from the return-path mailbox, kept byte for byte."""

    __tablename__ = "returned_messages"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    sha256: Mapped[str] = mapped_column(key_text(64), unique=True)
    message_id: Mapped[str | None] = mapped_column(MESSAGE_ID, index=True)
    source: Mapped[str] = mapped_column(String(1024))
    source_ref: Mapped[str | None] = mapped_column(String(1024))
    subject: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(SHORT, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int]
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # When the message reached the mailbox (IMAP INTERNALDATE, a Maildir file's time) ...
    received_at: Mapped[datetime]
    # ... and when the ledger took it in: what retention counts from (migration 0013).
    recorded_at: Mapped[datetime]
    # Further copies of the same bytes found elsewhere in a mailbox (a
    # bounce delivered twice); re-reading the same position does not count.
    duplicate_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # When ``raw`` (and the subject) were emptied: by the retention job
    # (``retain_raw_days``) or by ``forget``. ``sha256`` stays, so the same
    # message read again is still known and not stored a second time.
    pruned_at: Mapped[datetime | None]


class SourceCursor(Base):
    """Where a source stopped reading, so the next run resumes there.

    Log files use device, inode, offset and a fingerprint of the first
    bytes (to notice rotation and truncation); mailboxes use UIDVALIDITY and
    the last UID. ``state`` holds anything else a source needs.
    """

    __tablename__ = "source_cursors"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    kind: Mapped[str] = mapped_column(SHORT)
    key: Mapped[str] = mapped_column(String(1024))
    device: Mapped[int | None] = mapped_column(BigIntId)
    inode: Mapped[int | None] = mapped_column(BigIntId)
    offset: Mapped[int | None] = mapped_column(BigIntId)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    uidvalidity: Mapped[int | None] = mapped_column(BigIntId)
    last_uid: Mapped[int | None] = mapped_column(BigIntId)
    state: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime]


class Suppression(Base):
    """An address the sending system should stop mailing, and why.

    ``reason`` is ``hardbounce``, ``softbounce``, ``complaint`` or ``manual``;
    ``since`` is when the deciding bounce or complaint happened. A row whose
    ``expires_at`` has passed, or that was released by hand (``active``
    false, ``released_at`` set), no longer suppresses; a newer bounce than
    the release suppresses again.
    """

    __tablename__ = "suppressions"
    # Every reader of ``active`` wants most of the table (the list in force),
    # which a scan serves; an index on a flag that is almost always true
    # only cost each write. What is found by time is the few rows that run
    # out (the expiry job's announcements).
    __table_args__ = (
        Index(
            "ix_suppressions_expires_at",
            "expires_at",
            postgresql_where=text("expires_at IS NOT NULL"),
            sqlite_where=text("expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    address: Mapped[str] = mapped_column(ADDRESS, unique=True)
    reason: Mapped[str] = mapped_column(SHORT)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The delivery whose bounce or complaint decided this row; no foreign key (migration
    #: 0012: the check cost a query and a row lock per suppression, and no code deletes deliveries).
    source_delivery_id: Mapped[int | None] = mapped_column(BigIntId)
    note: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    #: When the change feed was told that ``expires_at`` passed (a ``suppression.released``
    #: entry); earlier than ``expires_at`` once a renewal moved it on, so it is told again.
    expiry_announced_at: Mapped[datetime | None]


class ForgottenSuppression(Base):
    """A suppression whose address was erased (``bounceledger forget``),
    kept under a hash of the address only.

    The person asked to be forgotten, not to be mailed again: a hash keeps
    that wish without keeping the address, so ``suppressions check`` still
    answers for it and adding the address again says it was suppressed
    before. The columns copy the :class:`Suppression` row as it was.
    """

    __tablename__ = "forgotten_suppressions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(SHORT)
    active: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    forgotten_at: Mapped[datetime]


class Lease(Base):
    """Who is reading a source right now, so two pollers never share one.

    PostgreSQL uses advisory locks instead (released when the holder's
    connection dies); this table is the fallback that works on SQLite, with
    an expiry so that a killed holder does not block the source for ever.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime]


# APScheduler's job store, declared here so that migrations create it and
# `alembic check` knows it; the columns are the ones APScheduler 3 expects.
scheduler_jobs = Table(
    "scheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
