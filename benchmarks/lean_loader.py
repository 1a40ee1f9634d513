"""The floor for ``ingest-log``: a lean loader writing the same attempts into the same tables.

Run by :mod:`benchmarks.sendlog_ingest` in a process of its own
(``python -m benchmarks.lean_loader URL LOG BATCH``) against a fresh,
migrated PostgreSQL database. It does the least any loader must: parse with
the project's parser (the same parse cost), keep one dict of message keys and
one of deliveries, number rows itself, and binary-COPY each batch's
``sent_messages``, ``deliveries``, ``events`` and ``changes`` rows straight
into the ledger's tables (their indexes, no staging, no conflict handling,
no look-ups, no reconciliation), one commit per batch, on one thread, with
the garbage collector tuned as ingest-log tunes it. The
rows carry the same columns and evidence as the project's. Prints one JSON
object: attempts, seconds, client and server CPU seconds.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone

import psycopg

from benchmarks.cpu import client_cpu, process_cpu
from bounceledger.ingest.batchgc import fewer_collections
from bounceledger.ingest.attempts import EVENT_COLUMNS, _event_row, _reason, is_notice
from bounceledger.ingest.keys import attempt_key, message_key, normalise_address
from bounceledger.ingest.sendlog import ParseOptions, make_parser

SENT = ("id", "msg_key", "message_id", "queue_id", "sender", "first_seen_at")
DELIVERY = ("id", "sent_message_id", "recipient", "state", "status", "replycode", "detail",
            "first_hop_host", "next_hop_queue_id", "corrected", "first_attempt_at", "state_at")
CHANGE = ("type", "delivery_id", "to_state", "event_key", "at", "recorded_at")
STATE = {"accepted": "accepted", "deferred": "deferred", "rejected": "bounced", "expired": "expired"}


def _types(conn: psycopg.Connection, table: str, columns: tuple[str, ...]) -> list[int]:
    oids = dict(conn.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
                             (table,)).fetchall())
    return [25 if oids[c] == 114 else int(oids[c]) for c in columns]  # json sent as its text


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], types: list[int], rows: list) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def main() -> None:
    url, path, batch_size = sys.argv[1].replace("postgresql+psycopg://", "postgresql://"), sys.argv[2], int(sys.argv[3])
    conn = psycopg.connect(url)
    backend = conn.info.backend_pid
    types = {name: _types(conn, name, cols) for name, cols in
             (("sent_messages", SENT), ("deliveries", DELIVERY), ("events", EVENT_COLUMNS), ("changes", CHANGE))}
    conn.commit()
    parser = make_parser("postfix", ParseOptions(reference_time=datetime(2026, 11, 30, tzinfo=timezone.utc)))
    messages: dict[str, int] = {}
    deliveries: dict[tuple[int, str], int] = {}
    server_before, client_before, started = process_cpu(backend), client_cpu(), time.perf_counter()
    attempts = 0
    pending: list = []

    def flush() -> None:
        now = datetime.now(timezone.utc)
        sent, new, events, changes = [], [], [], []
        for attempt in pending:
            key = message_key(attempt)
            sent_id = messages.get(key)
            if sent_id is None:
                sent_id = messages[key] = len(messages) + 1
                sent.append((sent_id, key, attempt.message_id, attempt.queue_id, normalise_address(attempt.sender), attempt.at))
            pair = (sent_id, attempt.recipient)
            delivery_id = deliveries.get(pair)
            dedupe = attempt_key(attempt)
            if delivery_id is None:
                delivery_id = deliveries[pair] = len(deliveries) + 1
                state = STATE.get(attempt.verdict, "pending")
                new.append((delivery_id, sent_id, attempt.recipient, state, attempt.status, attempt.replycode,
                            attempt.text or None, attempt.relay_host, attempt.next_hop_queue_id, False, attempt.at, attempt.at))
                changes.append(("delivery." + state, delivery_id, state, dedupe, attempt.at, now))
            reason, classification = _reason(attempt)
            row = _event_row(attempt, dedupe, reason, classification, "postfix:lean", now)
            row[1] = delivery_id  # row[13], the evidence, comes JSON-encoded
            events.append(row)
        _copy(conn, "sent_messages", SENT, types["sent_messages"], sent)
        _copy(conn, "deliveries", DELIVERY, types["deliveries"], new)
        _copy(conn, "events", EVENT_COLUMNS, types["events"], events)
        _copy(conn, "changes", CHANGE, types["changes"], changes)
        conn.commit()
        pending.clear()

    with fewer_collections(), open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            for attempt in parser.feed(line):
                if is_notice(attempt):
                    continue
                pending.append(attempt)
                attempts += 1
            if len(pending) >= batch_size:
                flush()
    flush()
    seconds = time.perf_counter() - started
    client, server = client_cpu() - client_before, process_cpu(backend) - server_before
    conn.close()
    print(json.dumps({"attempts": attempts, "seconds": seconds, "client_cpu": client, "server_cpu": server}))


if __name__ == "__main__":
    main()
