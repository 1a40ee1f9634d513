"""``bounceledger forget ADDRESS``: erase one person's address from the ledger.

What a right-to-erasure request needs: no byte of the address left in any
table, while the ledger's counts and states stay right.

* Deliveries and their events keep their states, codes and reasons; the
  address is replaced wherever it is written (recipient columns, server
  replies, log lines in the evidence, notes, subjects, ...) by one random
  pseudonym per erasure, ``forgotten-<hex>@invalid``, that nothing links
  back to the address.
* Unmatched verdicts for the address are removed: with the address gone
  they could never be tied to a send, only count as unmatched for ever.
* Returned messages that mention the address (plainly or in an encoded
  part or header) lose their raw bytes and subject, as retention does
  (:func:`bounceledger.retention.empty_raw`); their SHA-256 stays, so the
  same message read again from the mailbox is not stored again.
* A suppression is moved to ``forgotten_suppressions`` under a SHA-256 of
  the address: the person asked not to be mailed, and ``suppressions
  check`` keeps answering for them, and adding them again says so.
* The erasure itself is an audit event (kind ``erasure``) that says what
  was done, without the address.

Every text and JSON column of every ledger table is searched (one scan per
table, narrowed by SQL), so a column added later is covered too. On
SQLite the erasure runs with ``secure_delete`` and the write-ahead log is
checkpointed, so the old bytes do not linger in the file either.
PostgreSQL keeps dead row versions until (auto)vacuum, and backups keep
what they hold: the README says so.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import hashlib
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Engine, String, Table, Text, and_, cast, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from bounceledger.retention import empty_raw
from bounceledger.ingest.keys import normalise_address
from bounceledger.models import Base, Event, ForgottenSuppression, ReturnedMessage, Suppression

#: Mixed into the hash so that it is not the bare SHA-256 of an address a
#: list of hashed addresses from elsewhere could be joined on.
HASH_PREFIX = "bounceledger-forgotten:"
RAW_BATCH = 200
#: Columns never scanned: hashes and keys that cannot hold an address as text.
NOT_TEXT = {("returned_messages", "sha256"), ("events", "dedupe_key"), ("forgotten_suppressions", "address_hash")}


def address_hash(address: str) -> str:
    """The only form an erased, suppressed address is kept in."""
    normalised = normalise_address(address) or ""
    return hashlib.sha256((HASH_PREFIX + normalised).encode("utf-8")).hexdigest()


@dataclass(slots=True)
class Forgotten:
    """What one erasure did, by table; ``line()`` and the audit event say it without the address."""

    deliveries: int = 0
    events: int = 0
    orphans_removed: int = 0
    messages_emptied: int = 0
    other_rows: dict[str, int] = field(default_factory=dict)
    suppression_kept_as_hash: bool = False

    @property
    def found(self) -> bool:
        return bool(
            self.deliveries or self.events or self.orphans_removed or self.messages_emptied
            or self.other_rows or self.suppression_kept_as_hash
        )

    def line(self) -> str:
        if not self.found:
            return "nothing in the ledger mentions it"
        parts = [
            f"{self.deliveries} deliveries and {self.events} events rewritten",
            f"{self.orphans_removed} unmatched verdicts removed",
            f"{self.messages_emptied} returned messages emptied",
        ]
        parts += [f"{count} {table} rows rewritten" for table, count in sorted(self.other_rows.items())]
        if self.suppression_kept_as_hash:
            parts.append("its suppression kept as a hash")
        return ", ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class _Mentions:
    """Where the address is written: case-insensitive, not inside a longer address."""

    def __init__(self, address: str) -> None:
        self.address = address
        before, after = r"(?<![\w.!#$%&'*+/=?^`{|}~-])", r"(?![\w-]|\.\w)"
        self.text = re.compile(before + re.escape(address) + after, re.IGNORECASE)
        self.raw = re.compile(before.encode() + re.escape(address.encode("utf-8")) + after.encode(), re.IGNORECASE)
        # SQL narrows the rows first: LIKE wants its wildcards escaped
        escaped = address.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        self.like = f"%{escaped}%"

    def in_raw(self, raw: bytes) -> bool:
        """In the bytes as stored, or in a part or header once decoded (base64, quoted-printable, RFC 2047)."""
        if self.raw.search(raw):
            return True
        if not re.search(rb"(?i)base64|quoted-printable|=\?", raw):
            return False
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        for part in message.walk():
            for value in part.values():
                if isinstance(value, str) and self.text.search(_decoded_header(value)):
                    return True
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and self.raw.search(payload):
                return True
        return False

    def scrub(self, value: Any, pseudonym: str) -> Any:
        """``value`` (text, or JSON of any depth) with the address replaced."""
        if isinstance(value, str):
            return self.text.sub(pseudonym, value)
        if isinstance(value, list):
            return [self.scrub(item, pseudonym) for item in value]
        if isinstance(value, dict):
            return {self.scrub(key, pseudonym): self.scrub(item, pseudonym) for key, item in value.items()}
        return value


def _decoded_header(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _text_columns(table: Table) -> list[Any]:
    return [
        column for column in table.columns
        if isinstance(column.type, (String, Text, JSON)) and (table.name, column.name) not in NOT_TEXT
    ]


def _scrub_table(session: Session, table: Table, mentions: _Mentions, pseudonym: str) -> int:
    """Rewrite the rows of ``table`` whose text mentions the address; how many.

    An ``events`` row that carries a correction counts twice: the correction
    was a row of its own, rewritten with it, before it was folded into its
    verdict (migration 0009), and the count says the same as it did.
    """
    columns = _text_columns(table)
    if not columns:
        return 0
    keys = list(table.primary_key.columns)
    narrowed = or_(*(func.lower(cast(column, Text)).like(mentions.like, escape="\\") for column in columns))
    folded = table.c.get("corrected_to")
    extra = [folded.is_not(None)] if folded is not None else []
    changed = 0
    for row in session.execute(select(*keys, *extra, *columns).where(narrowed)).all():
        values = {}
        for column, value in zip(columns, row[len(keys) + len(extra):]):
            scrubbed = mentions.scrub(value, pseudonym)
            if scrubbed != value:
                values[column.name] = scrubbed
        if values:
            session.execute(update(table).where(and_(*(key == row[i] for i, key in enumerate(keys)))).values(**values))
            changed += 1 + (1 if extra and row[len(keys)] else 0)
    return changed


def _messages_mentioning(session: Session, mentions: _Mentions) -> Iterator[int]:
    """Ids of the returned messages whose raw bytes mention the address (a scan of them all)."""
    after = 0
    while True:
        rows = session.execute(
            select(ReturnedMessage.id, ReturnedMessage.raw)
            .where(ReturnedMessage.id > after, ReturnedMessage.pruned_at.is_(None))
            .order_by(ReturnedMessage.id)
            .limit(RAW_BATCH)
        ).all()
        for message_id, raw in rows:
            if raw and mentions.in_raw(bytes(raw)):
                yield message_id
        if len(rows) < RAW_BATCH:
            return
        after = rows[-1][0]


def _keep_suppression_as_hash(session: Session, address: str, now: datetime) -> bool:
    row = session.scalar(select(Suppression).where(Suppression.address == address))
    if row is None:
        return False
    digest = address_hash(address)
    kept = session.scalar(select(ForgottenSuppression).where(ForgottenSuppression.address_hash == digest))
    if kept is None:
        kept = ForgottenSuppression(address_hash=digest)
        session.add(kept)
    kept.reason, kept.active, kept.since = row.reason, row.active, row.since
    kept.expires_at, kept.released_at, kept.forgotten_at = row.expires_at, row.released_at, now
    session.delete(row)
    session.flush()
    return True


def forget(session: Session, address: str, now: datetime, note: str | None = None) -> Forgotten:
    """Erase ``address`` from the ledger in this transaction, and record that it was done."""
    address = normalise_address(address) or ""
    if not address:
        raise ValueError("no address to forget")
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:  # freed pages are zeroed, not left behind (some builds do so by default)
        secure_delete = int(session.execute(text("PRAGMA secure_delete")).scalar() or 0)
        session.execute(text("PRAGMA secure_delete=ON"))
    mentions = _Mentions(address)
    pseudonym = f"forgotten-{secrets.token_hex(8)}@invalid"
    done = Forgotten()
    done.suppression_kept_as_hash = _keep_suppression_as_hash(session, address, now)
    orphans = (Event.kind == "verdict", Event.delivery_id.is_(None), Event.recipient == address)
    message_ids = set(session.scalars(select(Event.returned_message_id).where(Event.recipient == address)))
    message_ids.update(_messages_mentioning(session, mentions))
    message_ids.discard(None)
    done.orphans_removed = session.execute(delete(Event).where(*orphans)).rowcount or 0
    done.messages_emptied = empty_raw(session, message_ids, now)  # type: ignore[arg-type]
    for table in Base.metadata.sorted_tables:
        changed = _scrub_table(session, table, mentions, pseudonym)
        if table.name == "deliveries":
            done.deliveries = changed
        elif table.name == "events":
            done.events = changed
        elif changed:
            done.other_rows[table.name] = changed
    session.add(
        Event(
            dedupe_key=uuid.uuid4().hex,  # nothing derived from the address
            delivery_id=None,
            recipient=None,
            kind="erasure",
            source="manual",
            at=now,
            outcome="forgotten",
            first_hop=False,
            detail=f"an address was forgotten: {done.line()}"
            + (f" ({mentions.scrub(note, pseudonym)})" if note else ""),
            evidence={"pseudonym": pseudonym, **done.as_json()},
            recorded_at=now,
        )
    )
    session.flush()
    if sqlite:
        session.execute(text(f"PRAGMA secure_delete={secure_delete}"))
    return done


def checkpoint(engine: Engine) -> None:
    """After the commit: fold SQLite's write-ahead log into the file and empty it,
    so the old pages are not kept there either (as far as readers that are
    still open allow). Nothing to do on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def remembered(session: Session, address: str) -> ForgottenSuppression | None:
    """The suppression an erased address had, found by its hash."""
    return session.scalar(
        select(ForgottenSuppression).where(ForgottenSuppression.address_hash == address_hash(address))
    )


def in_force(row: ForgottenSuppression, now: datetime) -> bool:
    """The same rule as :func:`bounceledger.ingest.suppress.is_active`, for a kept suppression."""
    return row.active and (row.expires_at is None or row.expires_at > now)


def remembered_json(row: ForgottenSuppression, now: datetime) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "reason": row.reason,
        "since": iso(row.since),
        "expires_at": iso(row.expires_at),
        "active": in_force(row, now),
        "released_at": iso(row.released_at),
        "forgotten_at": iso(row.forgotten_at),
    }


def remembered_line(row: ForgottenSuppression, now: datetime) -> str:
    """How a re-added address is told it was suppressed before."""
    state = "still in force" if in_force(row, now) else "no longer in force"
    return (
        f"previously suppressed ({row.reason} since {row.since:%Y-%m-%d}, {state}) "
        f"before it was forgotten on {row.forgotten_at:%Y-%m-%d}"
    )
