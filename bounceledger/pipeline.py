"""The main job: read send logs, read returned mail, reconcile.

Each stage commits in batches together with its source cursor, so a run
that is killed resumes where the last commit left it and re-reads at most
one batch (which the unique event keys then ignore).
"""

from __future__ import annotations

import glob
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bounceledger.config import Settings
from bounceledger.cursors import cursor_to_save, find_cursor
from bounceledger.db import Database
from bounceledger.locks import SourceLock
from bounceledger.models import SourceCursor
from bounceledger.logfiles import UnknownFormatError, checked_formats, checked_paths, overlong_sample, parse_options
from bounceledger.polling import PollSummary, poll
from bounceledger.ingest import reconcile, suppress
from bounceledger.ingest.attempts import PreparedAttempts, is_notice, prepare_attempts, store_prepared
from bounceledger.ingest.batchgc import fewer_collections
from bounceledger.ingest.log_verdicts import is_async_verdict, verdict_rows
from bounceledger.ingest.returned import record_verdicts
from bounceledger.ingest.threadswitch import quick_handover
from bounceledger.ingest.mailbox.source import MailboxError
from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import make_parser
from bounceledger.ingest.sendlog.reader import (
    FINGERPRINT_BYTES,
    LogFileError,
    OverlongLine,
    Position,
    current_position,
    fingerprint,
    is_compressed,
    read_complete_lines,
    resume_offset,
)

log = logging.getLogger("bounceledger")

BAD_LINE_SAMPLES = 5
LOCK_RENEW_SECONDS = 30.0  # well inside the lease's five minutes


@dataclass
class LogIngestSummary:
    files: int = 0
    lines: int = 0
    attempts: int = 0
    notices: int = 0
    #: Records of returned mail the MTA read itself (KumoMTA's OOB), reconciled as verdicts.
    verdicts: int = 0
    skipped: int = 0
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    store_seconds: float = 0.0  # time the writer spent storing, overlapped with reading
    # Files left alone because another ingester holds their lock (read by it, not lost).
    busy: list[str] = field(default_factory=list)
    # The stamp of the newest line read (an attempt's time), for the per-source lag gauge.
    newest: datetime | None = None

    def line(self) -> str:
        rate = self.lines / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.files} file(s): {self.lines} lines read, {self.attempts} attempts recorded, "
            f"{self.notices} MTA notices left out, "
            + (f"{self.verdicts} returned-mail records reconciled, " if self.verdicts else "")
            + f"{self.skipped} skipped, {rate:,.0f} lines/s"
            + (f", {len(self.busy)} file(s) busy (read by another ingester)" if self.busy else "")
        )


def busy_message(path: str) -> str:
    """What an operator is told about a file another ingester is reading."""
    return f"{path}: another ingester (ingest-log or run) is reading this file; skipped, it reads it"


def file_lock_name(key: str) -> str:
    """One lock per log file, by its resolved path: ``mail.log`` and
    ``./mail.log`` are the same file and the same lock."""
    return f"sendlog:{key}"


def _load_position(session: Session, key: str) -> Position | None:
    cursor = find_cursor(session, "file", key)
    if cursor is None or cursor.offset is None or cursor.fingerprint is None:
        return None
    return Position(
        device=cursor.device or 0,
        inode=cursor.inode or 0,
        offset=cursor.offset,
        fingerprint=cursor.fingerprint,
        fingerprint_len=int((cursor.state or {}).get("fingerprint_len", 0)),
    )


def _renamed_position(session: Session, path: Path) -> Position | None:
    """Where this very file was left under the name it had before logrotate renamed it.

    logrotate renames ``mail.log`` to ``mail.log.1``, then to ``mail.log.2.gz``
    (compressed: a new inode, the same first bytes), and each new name has no
    cursor of its own: every rotation read a week of logs again (nothing was
    recorded twice, but every line was parsed and offered to the database once
    more). The file is known by the fingerprint of its first bytes; only a
    whole fingerprint counts (a file of at least ``FINGERPRINT_BYTES``), as
    two different logs never begin with the same kilobyte. The furthest such
    cursor wins.
    """
    found: Position | None = None
    whole: str | None = None
    rows = session.scalars(
        select(SourceCursor).where(SourceCursor.kind == "file", SourceCursor.offset > 0, SourceCursor.fingerprint.is_not(None))
    )
    for row in rows:
        if int((row.state or {}).get("fingerprint_len", 0)) != FINGERPRINT_BYTES:
            continue
        if whole is None:
            whole, length = fingerprint(path)
            if length != FINGERPRINT_BYTES:
                return None  # too short to be told apart from another file
        if row.fingerprint == whole and (found is None or (row.offset or 0) > found.offset):
            found = Position(row.device or 0, row.inode or 0, row.offset or 0, whole, FINGERPRINT_BYTES)
    return found


def _save_position(session: Session, key: str, position: Position) -> None:
    cursor = cursor_to_save(session, "file", key)
    cursor.device = position.device
    cursor.inode = position.inode
    cursor.offset = position.offset
    cursor.fingerprint = position.fingerprint
    cursor.state = {"fingerprint_len": position.fingerprint_len}


def ingest_logs(
    db: Database,
    paths: Sequence[str],
    fmt: str = "auto",
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reread: bool = False,
) -> LogIngestSummary:
    """Read send logs (oldest rotation first) into the ledger.

    Every file is checked against its format before any is read (a file the
    format cannot read stops the run with ``FormatMismatchError``, cursors
    untouched). Each file is read under its own lock (:func:`file_lock_name`,
    as pollers lock a mailbox): a file another ingester holds is skipped and
    named in ``summary.busy``. ``reread`` starts every file from its first
    line whatever its cursor says; the ledger's unique keys (the log line
    and recipient of every attempt) make that safe.
    """
    settings = db.settings
    started = time.perf_counter()
    summary = LogIngestSummary()
    ordered = checked_paths(paths)
    formats = checked_formats(settings, ordered, fmt)
    parser = None
    parser_format = None
    with fewer_collections(), quick_handover(), _BatchWriter(db, summary) as writer:
        for path in ordered:
            key = str(path.resolve())
            lock = SourceLock(db, file_lock_name(key))
            if not lock.acquire():
                summary.busy.append(str(path))
                log.info("%s", busy_message(str(path)))  # the summary line names it too
                continue
            try:
                if parser is None or formats[path] != parser_format:
                    parser, parser_format = make_parser(formats[path], parse_options(settings, path)), formats[path]
                stopped = _ingest_file(db, writer, summary, parser, path, key, formats[path], lock, progress, should_stop, reread)
            finally:
                try:
                    writer.wait()  # this file's last batch stored before its lock goes
                finally:
                    lock.release()
            if stopped:
                break
    if parser is not None:
        summary.samples = list(parser.samples)[:BAD_LINE_SAMPLES]
    summary.seconds = time.perf_counter() - started
    return summary


def _ingest_file(
    db: Database,
    writer: _BatchWriter,
    summary: LogIngestSummary,
    parser: Any,
    path: Path,
    key: str,
    fmt: str,
    lock: SourceLock,
    progress: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
    reread: bool,
) -> bool:
    """One file from its cursor (or its start); True when asked to stop."""
    settings = db.settings
    with db.session() as session:
        saved = None if reread else _load_position(session, key)
    identity = current_position(path)
    position = resume_offset(path, saved)
    if not position and not reread:
        with db.session() as session:
            renamed = _renamed_position(session, path)
        position = resume_offset(path, renamed) if renamed is not None else 0
    if position:
        _warm_up(parser, path, position)
    total = path.stat().st_size
    source = f"{fmt}:{path.name}"
    skipped_before = parser.skipped
    batch: list[Attempt] = []
    stopped = False
    renewed = time.monotonic()
    for raw, end in read_complete_lines(path, position):
        position = end
        if type(raw) is OverlongLine:
            parser.count_skipped(overlong_sample(raw))  # skipped, not read
            continue
        summary.lines += 1
        batch.extend(parser.feed(raw.decode("utf-8", "replace")))
        if len(batch) >= settings.batch_size:
            writer.submit(batch, source, key, replace(identity, offset=position))
            batch = []
            if time.monotonic() - renewed > LOCK_RENEW_SECONDS:
                lock.renew()  # a lease (SQLite) outlives a long read
                renewed = time.monotonic()
            if progress:
                progress(position, total)
            if should_stop is not None and should_stop():
                stopped = True
                break
    writer.submit(batch, source, key, replace(identity, offset=position))
    if progress:
        progress(position, total)
    summary.files += 1
    summary.skipped += parser.skipped - skipped_before
    return stopped


#: How much of a resumed file before its cursor is read again, without recording
#: anything, so that the parser knows the messages still in flight there.
WARM_UP_BYTES = 8 * 1024 * 1024


def _warm_up(parser: Any, path: Path, offset: int) -> None:
    """Feed the parser the lines just before ``offset``, dropping what it makes of them.

    A run that stops between a message's first lines (Postfix's cleanup
    ``message-id=`` and qmgr ``from=``, Exim's ``<=``, Sendmail's ``from=``)
    and its delivery lines left that knowledge in the last run's memory: the
    deliveries read next were stored without their Message-ID and sender
    (bounces could not find them by it), and a later re-read of the rotated
    file, which knew it, made them a second time under the Message-ID. Those
    lines were recorded already; here they only rebuild the parser's state,
    and its counts of lines and skipped lines stay as they were.
    """
    if is_compressed(path) or offset >= path.stat().st_size:
        return  # a compressed rotation is read whole or not at all; nothing new to read
    start = max(0, offset - WARM_UP_BYTES)
    lines, skipped, samples = parser.lines, parser.skipped, len(parser.samples)
    try:
        first = start > 0  # reading from the middle of a line: its tail is no line
        for raw, end in read_complete_lines(path, start):
            if end > offset:
                break
            if first:
                first = False
                continue
            if type(raw) is not OverlongLine:
                parser.feed(raw.decode("utf-8", "replace"))
    finally:
        parser.lines, parser.skipped = lines, skipped
        del parser.samples[samples:]


class _BatchWriter:
    """Stores batches on a second thread while the next batch is being parsed and prepared.

    The writer mostly waits on the database (which releases the GIL), so
    the reading thread parses and turns attempts into rows meanwhile. At
    most one batch is in flight, in order, so cursors are saved in the
    order lines were read and memory stays at two batches.
    """

    def __init__(self, db: Database, summary: LogIngestSummary) -> None:
        self.db = db
        self.summary = summary
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bounceledger-writer")
        self.pending: Future[None] | None = None

    def __enter__(self) -> _BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown(wait=True)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()  # re-raises a failed batch here, in the reading thread

    def submit(self, batch: list[Attempt], source: str, key: str, position: Position) -> None:
        """Turn the batch into rows here, on the reading thread, then hand it to the writer."""
        sent = [a for a in batch if not is_notice(a)]
        notices = len(batch) - len(sent)
        returned: list[dict[str, object]] = []
        if batch:  # once a batch, not per line: the hot path stays as it was
            newest = max(a.at for a in batch)
            if self.summary.newest is None or newest > self.summary.newest:
                self.summary.newest = newest
            if any(a.delivery_agent is not None and is_async_verdict(a) for a in sent):
                returned = verdict_rows([a for a in sent if is_async_verdict(a)], source, datetime.now(timezone.utc))
                sent = [a for a in sent if not is_async_verdict(a)]
        prepared = prepare_attempts(sent, source=source)
        self.wait()
        self.pending = self.pool.submit(self._store, prepared, returned, key, position, len(sent), notices)

    def _store(
        self, prepared: PreparedAttempts, returned: list[dict[str, object]], key: str, position: Position,
        attempts: int, notices: int,
    ) -> None:
        started = time.perf_counter()
        with self.db.session() as session:
            store_prepared(session, prepared, self.db.rules)
            if returned:  # after the batch's sends: a verdict on a message of this batch finds it
                record_verdicts(session, returned, self.db.rules)
            _save_position(session, key, position)
        self.db.analyze_grown_tables()
        self.summary.attempts += attempts
        self.summary.notices += notices
        self.summary.verdicts += len(returned)
        self.summary.store_seconds += time.perf_counter() - started


def retry_orphans(db: Database) -> tuple[int, int]:
    with db.session() as session:
        return reconcile.retry_orphans(session, db.rules)


@dataclass
class RunSummary:
    logs: list[LogIngestSummary] = field(default_factory=list)
    polls: list[PollSummary] = field(default_factory=list)
    orphans_linked: int = 0
    orphans_left: int = 0
    expired: int = 0
    #: Provisional first-hop 250s that reached their settlement window unbounced.
    settled: int = 0
    #: Soft-bounce suppressions a clean delivery (or the reason table) ended this run.
    suppressions_lifted: int = 0
    #: What each ``[[webhook]]`` was sent (``bounceledger.webhooks.sender.EndpointSummary``).
    webhooks: list[Any] = field(default_factory=list)
    #: Sources that could not be read this pass (a missing file, the wrong
    #: format, an unreachable mailbox), each as one line; the others ran.
    failures: list[str] = field(default_factory=list)


#: Failures that belong to one source and say what is wrong with it: they
#: must not keep the other sources from being read.
SOURCE_ERRORS: tuple[type[Exception], ...] = (LogFileError, UnknownFormatError, MailboxError)


def expand(pattern: str) -> list[str]:
    """A configured log path may be a glob (``/var/log/mail.log*``) to take in rotations."""
    if any(ch in pattern for ch in "*?["):
        return sorted(glob.glob(pattern)) or [pattern]
    return [pattern]


def run_once(db: Database, settings: Settings) -> RunSummary:
    """Every configured source once, a retry of unmatched verdicts, the expiry rule,
    and the settlement of provisional acceptances (last: a bounce read this run
    corrects its delivery before the delivery could settle)."""
    run = RunSummary()
    for sendlog in settings.sendlogs:
        try:
            run.logs.append(ingest_logs(db, expand(sendlog.path), sendlog.format))
        except SOURCE_ERRORS as exc:
            run.failures.append(f"sendlog {sendlog.path}: {exc}")
            log.error("sendlog %s: %s", sendlog.path, exc)
            continue
        log.info("sendlog %s", run.logs[-1].line())
    for mailbox in settings.mailboxes:
        try:
            run.polls.append(poll(db, mailbox.url))
        except SOURCE_ERRORS as exc:
            run.failures.append(f"mailbox: {exc}")
            log.error("mailbox: %s", exc)
            continue
        log.info("mailbox %s", run.polls[-1].line())
    run.orphans_linked, run.orphans_left = retry_orphans(db)
    run.expired, run.suppressions_lifted = expire_and_settle(db)
    run.settled = settle_deliveries(db)
    if settings.webhooks:  # last: this pass's changes go out in it
        from bounceledger.webhooks import sender

        run.webhooks = [sender.deliver(db, target) for target in settings.webhooks]
    return run


def expire_and_settle(db: Database, now: datetime | None = None) -> tuple[int, int]:
    """The rules that depend on time passing rather than on new input: deferred
    deliveries that waited too long expire, and soft-bounce suppressions a
    since-settled clean delivery ended are lifted. Returns (expired, lifted)."""
    now = now or datetime.now(timezone.utc)
    with db.session() as session:
        expired = reconcile.expire_deferred(
            session, timedelta(hours=db.settings.expire_deferred_after_hours), now, db.rules
        )
        lifted = suppress.settle(session, db.rules.suppression, now)
        suppress.announce_expiries(session, now)  # the feed's news only: the rows already read as ended
    return expired, lifted


def settle_deliveries(db: Database, now: datetime | None = None) -> int:
    """Accepted deliveries whose first hop's settlement window passed with no
    bounce become ``settled`` (:mod:`bounceledger.ingest.settlement`); returns how many.
    Not to be confused with :func:`expire_and_settle`, which settles suppressions."""
    from bounceledger.ingest import settlement

    policy = settlement.SettlementPolicy.from_settings(db.settings)
    if not policy.enabled:
        return 0
    with db.session() as session:
        return settlement.settle_due(session, policy, now or datetime.now(timezone.utc), db.rules)
