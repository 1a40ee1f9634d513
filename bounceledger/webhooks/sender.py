"""Posting change-feed entries to each ``[[webhook]]``, in order, at least once.

One endpoint is one queue: entries go out one by one in ``seq`` order, and
the cursor moves past an entry only once the endpoint answered 2xx (or the
entry was dead-lettered), so a crash at any point re-sends from the last
saved cursor, with the same ``webhook-id``. The first entry that fails holds
the ones after it, which keeps every delivery's entries in order; it is
retried on the Standard Webhooks schedule (immediately, then after 5 s,
5 min, 30 min, 2 h, 5 h, 10 h and 10 h: about 27 hours in all) and then
dead-lettered, so one bad entry cannot hold the endpoint for ever.

Each endpoint is its own scheduled job with its own connection and
timeout, so a slow or failing endpoint never holds another endpoint, the
polling or the ingest.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from bounceledger import changes
from bounceledger.config import WebhookTarget
from bounceledger.db import Database
from bounceledger.locks import source_lock
from bounceledger.schema_version import versioned
from bounceledger.webhooks import signing, store

log = logging.getLogger("bounceledger.webhooks")

#: Waits before the 2nd, 3rd, ... attempt (Standard Webhooks' suggested schedule).
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=10),
)
PAGE = 500
#: The cursor is saved at least this often while a backlog drains.
SAVE_EVERY_SECONDS = 1.0
USER_AGENT = "bounceledger-webhooks/1"


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    status: int | None
    error: str


class Transport:
    """One keep-alive HTTP(S) connection to one endpoint; reconnects after any failure."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname or "", parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._connection = cls(self.host, self.port, timeout=self.timeout)
        return self._connection

    def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        connection = self._connect()
        try:
            connection.request("POST", self.path, body, {"user-agent": USER_AGENT, **headers})
            response = connection.getresponse()
            text = response.read(65536).decode("utf-8", "replace")
            if response.will_close or not response.isclosed():
                self.close()  # the server's wish, or a longer answer than we read: start afresh
            if 200 <= response.status < 300:
                return Answer(True, response.status, "")
            return Answer(False, response.status, f"HTTP {response.status} {response.reason}: {text.strip()[:500]}")
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Answer(False, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def body_of(entry: dict[str, Any]) -> bytes:
    """The request body: the Standard Webhooks envelope around one feed entry."""
    envelope = versioned({"type": entry["type"], "timestamp": entry["recorded_at"], "data": entry})
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(slots=True)
class EndpointSummary:
    name: str
    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    waiting_until: datetime | None = None
    busy: bool = False  # another process is sending to this endpoint
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.busy:
            return f"webhook {self.name}: another process is sending to it"
        parts = [f"{self.delivered} sent"]
        if self.failed:
            parts.append(f"{self.failed} failed attempts ({self.errors[-1]})")
        if self.dead_lettered:
            parts.append(f"{self.dead_lettered} dead-lettered")
        if self.waiting_until:
            parts.append(f"next attempt at {self.waiting_until:%Y-%m-%d %H:%M:%S} UTC")
        return f"webhook {self.name}: " + ", ".join(parts)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Saver:
    """The cursor as sent so far, saved now and then (and at the end), never past what was sent."""

    def __init__(self, database: Database, endpoint_id: int, cursor: int) -> None:
        self.database, self.endpoint_id = database, endpoint_id
        self.saved = self.cursor = cursor
        self.unsaved_deliveries = 0
        self.saved_at = time.monotonic()
        self.lost = False  # a replay moved the cursor under us

    def sent(self, seq: int) -> None:
        self.cursor = seq
        self.unsaved_deliveries += 1

    def due(self) -> bool:
        return time.monotonic() - self.saved_at >= SAVE_EVERY_SECONDS

    def save(self, cursor: int | None = None) -> bool:
        cursor = self.cursor if cursor is None else cursor
        if cursor != self.saved or self.unsaved_deliveries:
            with self.database.session() as session:
                if not store.advance(session, self.endpoint_id, self.saved, cursor, self.unsaved_deliveries, _now()):
                    self.lost = True
                    return False
            self.saved = self.cursor = cursor
            self.unsaved_deliveries = 0
        self.saved_at = time.monotonic()
        return True


def deliver(
    database: Database,
    target: WebhookTarget,
    *,
    transport: Transport | None = None,
    retry_delays: Sequence[timedelta] = RETRY_DELAYS,
    should_stop: Callable[[], bool] = lambda: False,
    budget_seconds: float = 300.0,
) -> EndpointSummary:
    """Send what the endpoint has not had yet, until the feed is drained, an entry fails, or time is up."""
    summary = EndpointSummary(target.key)
    key = signing.secret_key(target.secret)
    own_transport = transport is None
    transport = transport or Transport(target.url, target.timeout_seconds)
    try:
        with source_lock(database, f"webhook:{target.key}") as lock:
            if not lock.held:
                summary.busy = True
                return summary
            _drain(database, target, key, transport, retry_delays, should_stop, budget_seconds, summary, lock.renew)
    finally:
        if own_transport:
            transport.close()
    return summary


def _drain(
    database: Database, target: WebhookTarget, key: bytes, transport: Transport, retry_delays: Sequence[timedelta],
    should_stop: Callable[[], bool], budget_seconds: float, summary: EndpointSummary, renew: Callable[[], None],
) -> None:
    with database.session() as session:
        here = store.place(session, target.key, target.url, _now())
    if here.next_attempt_at is not None and _now() < here.next_attempt_at:
        summary.waiting_until = here.next_attempt_at
        return
    saver = _Saver(database, here.id, here.cursor)
    attempts, first_failure = here.attempts, here.first_failure_at
    deadline = time.monotonic() + budget_seconds
    with ThreadPoolExecutor(1, thread_name_prefix="webhook-read") as reader:
        for newest, entries, bodies in _pages(database, target, saver.cursor, reader):
            for entry, body in zip(entries, bodies):
                msg_id = signing.webhook_id(here.id, entry["seq"])
                answer = transport.post(body, signing.headers(key, msg_id, int(time.time()), body))
                if answer.ok:
                    saver.sent(entry["seq"])
                    summary.delivered += 1
                    attempts, first_failure = 0, None
                    if saver.due():
                        renew()
                        if not saver.save() or should_stop() or time.monotonic() > deadline:
                            return
                    continue
                summary.failed += 1
                summary.errors.append(answer.error)
                if not saver.save():
                    return
                now = _now()
                attempts += 1
                first_failure = first_failure or now
                with database.session() as session:
                    if attempts > len(retry_delays):
                        if store.dead_letter(session, here.id, saver.saved, entry["seq"], msg_id, attempts, first_failure,
                                             answer.status, answer.error, now):
                            summary.dead_lettered += 1
                            log.warning("webhook %s: gave up on change %d after %d attempts since %s: %s",
                                        target.key, entry["seq"], attempts, f"{first_failure:%Y-%m-%d %H:%M} UTC",
                                        answer.error, extra={"endpoint": target.key, "seq": entry["seq"]})
                            saver.saved = saver.cursor = entry["seq"]
                            attempts, first_failure = 0, None
                            continue
                        return
                    summary.waiting_until = now + retry_delays[attempts - 1]
                    store.failed(session, here.id, saver.saved, entry["seq"], attempts, first_failure,
                                 summary.waiting_until, answer.status, answer.error, now)
                return
            if len(entries) < PAGE:  # drained: nothing for this endpoint up to ``newest`` either
                saver.save(max(saver.cursor, newest))
                return
            if should_stop() or time.monotonic() > deadline or not saver.save():
                return
    saver.save()


def _pages(
    database: Database, target: WebhookTarget, after: int, reader: ThreadPoolExecutor,
) -> Iterator[tuple[int, list[dict[str, Any]], list[bytes]]]:
    """The endpoint's entries after ``after``, a page at a time, with their bodies: the next
    page is read (on ``reader``) while this one is being sent, so the ledger's reads and
    the JSON overlap the wait for the endpoint's answers.

    Each page comes with the newest ``seq`` read before it: every entry up to that is
    committed, so a short page means the endpoint has had everything up to it.
    """
    types = changes.check_types(target.types)

    def load(after: int) -> tuple[int, list[dict[str, Any]], list[bytes]]:
        with database.session() as session:
            newest = changes.last_seq(session)
            entries = changes.read(session, after, PAGE, types, target.campaign)
        return newest, entries, [body_of(entry) for entry in entries]

    coming = reader.submit(load, after)
    while True:
        newest, entries, bodies = coming.result()
        if len(entries) == PAGE:
            coming = reader.submit(load, entries[-1]["seq"])
        yield newest, entries, bodies
        if len(entries) < PAGE:
            return


def send_test(url: str, secret: str, timeout: float = 10.0) -> tuple[Answer, dict[str, str], bytes]:
    """A signed sample entry (``webhooks test URL``): what a receiver sees, without touching the feed."""
    now = _now()
    entry = dict.fromkeys(changes.ENTRY_KEYS) | {
        "seq": 0, "type": "delivery.corrected", "recorded_at": now.isoformat().replace("+00:00", "Z"),
        "at": now.isoformat().replace("+00:00", "Z"), "recipient": "someone@example.com", "from_state": "accepted",
        "to_state": "bounced", "reason": "userunknown", "category": "bad-mailbox", "hard": True, "status": "5.1.1",
        "replycode": "550", "detail": "550 5.1.1 <someone@example.com>: user unknown (a test from bounceledger)",
        "note": "bounceledger webhooks test: a sample, not a real change",
    }
    body = body_of(entry)
    headers = signing.headers(signing.secret_key(secret), f"msg_bltest_{int(time.time() * 1000)}", int(time.time()), body)
    transport = Transport(url, timeout)
    try:
        return transport.post(body, headers), headers, body
    finally:
        transport.close()
