"""Polling a return-path mailbox exactly once, through crashes and outages.

The order of operations is the guarantee: for a batch of messages, store
the raw bytes, parse, reconcile and save the mailbox cursor in ONE
transaction, and only after the commit file the messages away on the server. A crash before
the commit leaves the message where it was (read again next time); a crash
after it leaves a committed message unfiled, which the next pass recognises
by its position and only files. Two pollers never share a mailbox: the
second one finds the source lock taken and stops.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bounceledger.cursors import cursor_to_save, find_cursor
from bounceledger.db import Database
from bounceledger.locks import source_lock
from bounceledger.parse_ahead import ParseAhead, Ticket
from bounceledger.read_ahead import ReadAhead
from bounceledger.ingest.mailbox.source import (
    MailboxConnectionLost,
    MailboxError,
    MailboxReader,
    MailItem,
    open_mailbox,
)
from bounceledger.ingest.records import ParsedMessage
from bounceledger.ingest.returned import (
    Incoming,
    StoredMessage,
    folder_for,
    store_returned_messages,
    stored_outcome,
)
from bounceledger.models import ReturnedMessage

log = logging.getLogger("bounceledger.poll")

RECONNECT_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
# Committed messages are filed away in groups of up to this many, or after
# this long, not after every stored batch: on a Maildir Dovecot each MOVE or
# EXPUNGE rewrites the folder's index, so its cost grows with the folder,
# not with the messages moved. Measured on a 10,000-message folder: moves of
# 200 cost Dovecot 1.8 ms of CPU per message, one move of all 193 us.
# Waiting is safe: a committed message not yet filed is recognised by its
# position on the next pass and only filed (see the module docstring).
FILE_GROUP = 5000
FILE_GROUP_SECONDS = 60.0
# Test hook: die with SIGKILL right after committing this many messages,
# before filing the last one away, to prove exactly-once across crashes.
KILL_AFTER_ENV = "BOUNCELEDGER_FAULT_KILL_AFTER"


@dataclass
class PollSummary:
    mailbox: str
    seen: int = 0
    processed: int = 0
    ignored: int = 0
    unparsed: int = 0
    error: int = 0  # quarantined because the parser failed: a bug to report, not junk
    duplicate: int = 0
    already: int = 0
    verdicts: int = 0
    orphans: int = 0
    reconnects: int = 0
    busy: bool = False
    seconds: float = 0.0  # connecting, reading, storing and filing, all passes
    # When the newest message read arrived (IMAP INTERNALDATE, the file's mtime), for the lag gauge.
    newest: datetime | None = None

    def count(self, stored: StoredMessage) -> None:
        self.seen += 1
        name = "already" if stored.outcome == "seen" else stored.outcome
        setattr(self, name, getattr(self, name) + 1)
        self.verdicts += stored.verdicts
        self.orphans += stored.orphans

    def line(self) -> str:
        if self.busy:
            return f"{self.mailbox}: another poller is reading this mailbox; skipped"
        return (
            f"{self.mailbox}: {self.seen} messages, {self.processed} processed, "
            f"{self.ignored} ignored, {self.unparsed} unparsed, {self.duplicate} duplicate, "
            f"{self.already} already seen; {self.verdicts} verdicts, {self.orphans} not yet matched"
            + (f"; {self.error} parser errors (quarantined)" if self.error else "")
            + (f"; {self.reconnects} reconnects" if self.reconnects else "")
            + (f"; {self.seconds:.1f}s, {self.seen / self.seconds:,.0f} messages/s" if self.seen and self.seconds else "")
        )


def _load_cursor(session: Session, reader: MailboxReader) -> dict[str, Any] | None:
    row = find_cursor(session, reader.kind, reader.name)
    if row is None:
        return None
    cursor: dict[str, Any] = dict(row.state or {})
    if row.uidvalidity is not None:
        cursor["uidvalidity"] = row.uidvalidity
        cursor["last_uid"] = row.last_uid
    if row.offset is not None:
        cursor["offset"] = row.offset
        cursor["fingerprint"] = row.fingerprint
    return cursor


def _save_cursor(session: Session, reader: MailboxReader, cursor: Mapping[str, Any]) -> None:
    row = cursor_to_save(session, reader.kind, reader.name)
    if "uidvalidity" in cursor:
        row.uidvalidity = cursor["uidvalidity"]
        row.last_uid = cursor["last_uid"]
    if "offset" in cursor:
        row.offset = cursor["offset"]
        row.fingerprint = cursor["fingerprint"]
        row.state = {"fingerprint_len": cursor.get("fingerprint_len", 0)}


class _KillSwitch:
    def __init__(self) -> None:
        value = os.environ.get(KILL_AFTER_ENV, "")
        self.after = int(value) if value.isdigit() else None
        self.committed = 0

    def committed_one(self) -> None:
        self.committed += 1
        if self.after is not None and self.committed >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)


def _store_batch(
    database: Database,
    reader: MailboxReader,
    items: list[MailItem],
    parsed: list[ParsedMessage | None] | None = None,
    reader_lock: AbstractContextManager[object] | None = None,
) -> list[StoredMessage]:
    """Store a batch in one transaction, with the cursor of its last message.

    ``parsed``, when given, is what the parse worker made of each item;
    ``reader_lock`` is held around each call into the reader (see
    :mod:`bounceledger.read_ahead`).
    """
    reader_lock = reader_lock or nullcontext()
    results: dict[int, StoredMessage] = {}
    incoming: list[tuple[int, Incoming]] = []
    with database.session() as session:
        cursor = None
        for index, item in enumerate(items):
            leftover = item.raw is None  # committed on an earlier pass, not filed yet
            if leftover:
                outcome = stored_outcome(session, reader.name, item.ref)
                if outcome is not None:
                    results[index] = StoredMessage("seen", None, filed_as=folder_for(outcome))
                    continue
                # A second copy of stored bytes has no row at its own position: read it again
                # to learn its outcome, but it was counted when it was committed (never again),
                # and its position is behind the saved cursor (which must not move back).
                with reader_lock:
                    item = reader.fetch_again(item)
            assert item.raw is not None
            if item.unreadable is not None:
                results[index] = _quarantine_unreadable(session, reader.name, item)
                cursor = item.cursor or cursor
                continue
            count_duplicates = not reader.rescanning and not leftover
            incoming.append((index, Incoming(item.raw, reader.name, item.ref, item.received_at, count_duplicates)))
            if not leftover:
                cursor = item.cursor or cursor
        ahead = [parsed[index] for index, _ in incoming] if parsed is not None else None
        stored = store_returned_messages(session, [message for _, message in incoming], database.rules, ahead)
        results.update({index: result for (index, _), result in zip(incoming, stored)})
        if cursor:
            _save_cursor(session, reader, cursor)
    return [results[index] for index in range(len(items))]


def _quarantine_unreadable(session: Session, source: str, item: MailItem) -> StoredMessage:
    """A message the server would not hand over: kept as a quarantine record without bytes.

    Its key is its position (there are no bytes to hash), so reading it again finds it.
    """
    reason = item.unreadable or "unreadable"
    key = hashlib.sha256(f"unreadable:{source}:{item.ref}".encode()).hexdigest()
    found = session.scalar(select(ReturnedMessage.id).where(ReturnedMessage.sha256 == key))
    if found is not None:
        return StoredMessage("seen", found, filed_as="unparsed", error=reason)
    now = datetime.now(timezone.utc)
    row = ReturnedMessage(
        sha256=key, message_id=None, source=source, source_ref=item.ref, subject=None, outcome="unparsed",
        error=reason, size=0, raw=b"", received_at=item.received_at, recorded_at=now, duplicate_count=0,
    )
    session.add(row)
    session.flush()
    return StoredMessage("unparsed", row.id, filed_as="unparsed", error=reason)


def _one_pass(
    database: Database,
    reader: MailboxReader,
    summary: PollSummary,
    on_committed: Callable[[int], None] | None,
    renew: Callable[[], None],
    kill: _KillSwitch,
    should_stop: Callable[[], bool] | None,
    ahead: ParseAhead,
    first: bool,
) -> None:
    _open(database, reader, first)
    # The batch read before this one, its parse under way in the worker:
    # stored while the worker parses the batch just read, and while the
    # read-ahead thread fetches the one after.
    waiting: tuple[list[MailItem], Ticket | None] | None = None
    read = ReadAhead(reader, reader.batch)

    # Committed, not yet filed away (see FILE_GROUP), and when filing last ran.
    unfiled: list[tuple[MailItem, str]] = []
    filed_at = time.monotonic()

    def file_unfiled() -> None:
        nonlocal filed_at
        if unfiled:
            with read.lock:
                reader.file_away(unfiled)
            unfiled.clear()
        filed_at = time.monotonic()

    def commit(items: list[MailItem], pending: Ticket | None) -> None:
        stored_batch = _store_batch(database, reader, items, ahead.result(pending), read.lock)
        for item, stored in zip(items, stored_batch):
            summary.count(stored)
            if item.raw is not None and (summary.newest is None or item.received_at > summary.newest):
                summary.newest = item.received_at  # an item without raw was read on an earlier pass
            if stored.outcome == "unparsed":
                log.warning("quarantined %s from %s: %s", item.ref, reader.name, stored.error)
            elif stored.outcome == "error":
                log.error("quarantined %s from %s after a parser error: %s", item.ref, reader.name, stored.error)
            kill.committed_one()
            if on_committed is not None:
                on_committed(summary.seen)
            unfiled.append((item, stored.filed_as))
        if len(unfiled) >= FILE_GROUP or time.monotonic() - filed_at >= FILE_GROUP_SECONDS:
            file_unfiled()
        renew()
        database.analyze_grown_tables()

    try:
        try:
            for batch in read.batches():
                current = (batch, ahead.submit([i.raw for i in batch]))
                if waiting is not None:
                    commit(*waiting)
                    if should_stop is not None and should_stop():
                        waiting = None
                        break
                waiting = current
        except MailboxError:
            # Reading the next batch failed (a lost connection, a message the server cannot
            # serve): the batch read before it is whole, so commit it first. Otherwise every
            # retry fails at the same place and never gets past the messages before it.
            if waiting is not None:
                pending, waiting = waiting, None
                commit(*pending)
            raise
        if waiting is not None:
            commit(*waiting)
    except MailboxConnectionLost:
        raise  # nothing can be filed now: the next pass files them by their position
    except BaseException:
        _file_after_failure(file_unfiled, reader.name)
        raise
    else:
        file_unfiled()
    finally:
        read.close()


def _file_after_failure(file_unfiled: Callable[[], None], name: str) -> None:
    """File what was committed before a pass failed, if the mailbox still answers.

    The pass's own error is the one to report: a failure here is only logged,
    and the messages are filed by their position on the next pass.
    """
    try:
        file_unfiled()
    except Exception as exc:  # noqa: BLE001 - the original error is raised by the caller
        log.warning("%s: committed messages left to file on the next pass: %s", name, exc)


def _open(database: Database, reader: MailboxReader, first: bool) -> None:
    """Open the mailbox at its cursor.

    The ``first`` connection of a poll is not retried before the server has
    answered: a host that does not resolve or refuses the connection is a
    setting to fix, so it fails at once (as a refused login does) instead of
    after a minute of backoff; ``run`` tries again at the mailbox's next
    interval anyway. A connection lost after it once worked (a restarting
    server, an IMAP process killed between the login and the SELECT) is
    waited for.
    """
    with database.session() as session:
        cursor = _load_cursor(session, reader)
    try:
        reader.open(cursor)
    except MailboxConnectionLost as exc:
        if not first or exc.reached:
            raise
        raise MailboxError(str(exc)) from None


def poll(
    database: Database,
    url: str,
    *,
    on_committed: Callable[[int], None] | None = None,
    reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
    should_stop: Callable[[], bool] | None = None,
) -> PollSummary:
    """One pass over a mailbox. Connection losses are retried with backoff,
    once the mailbox has been reached (see :func:`_open`).

    ``on_committed`` is called with the running count after each message is
    committed (before it is filed away): tests use it to inject faults.
    """
    reader = open_mailbox(url)
    reader.check()
    database.check()  # an unreachable database: leave the mail untouched
    summary = PollSummary(mailbox=reader.name)
    with source_lock(database, f"mailbox:{reader.name}") as lock:
        if not lock.held:
            summary.busy = True
            return summary
        kill = _KillSwitch()
        ahead = ParseAhead(tuple(database.settings.match_headers))
        started = time.perf_counter()
        try:
            for attempt in range(len(reconnect_delays) + 1):
                try:
                    _one_pass(database, reader, summary, on_committed, lock.renew, kill, should_stop, ahead, attempt == 0)
                    return summary
                except MailboxConnectionLost as exc:
                    if attempt >= len(reconnect_delays):
                        raise MailboxError(f"{reader.name}: gave up after {attempt} reconnects: {exc}") from None
                    delay = reconnect_delays[attempt]
                    log.warning("%s: connection lost (%s); reconnecting in %.1fs", reader.name, exc, delay)
                    summary.reconnects += 1
                    time.sleep(delay)
                finally:
                    reader.close()
                    summary.seconds = time.perf_counter() - started
        finally:
            ahead.close()
    return summary
