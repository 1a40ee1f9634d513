"""Dashboard and report timings on a PostgreSQL ledger with 1,000,000 deliveries.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/web_pages.py [--deliveries N] [--rounds N] [--keep]

Creates a database of its own (``bounceledger_bench_<pid>``) on the server
named by ``BOUNCELEDGER_BENCH_POSTGRES_URL`` (default: the local
``postgres`` user on 127.0.0.1:5432), migrates it, bulk-loads a synthetic
ledger with COPY (sent messages with campaigns over 60 days, deliveries in
realistic states, their events, returned messages for the verdicts,
suppressions), runs ANALYZE, then times:

* every :mod:`bounceledger.reports` function (all data, one campaign, the
  last 7 days), in-process;
* every dashboard page and API endpoint, through the real waitress server on
  a loopback port (a bounded number of requests: ``--rounds`` per URL).

Prints the median and the worst of the rounds, and drops the database at the
end (``--keep`` leaves it for EXPLAIN). Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bounceledger import db as dbmod  # noqa: E402
from bounceledger import reports  # noqa: E402
from bounceledger.config import Settings  # noqa: E402
from bounceledger.db import Database  # noqa: E402

ADMIN_URL = os.environ.get("BOUNCELEDGER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CAMPAIGNS = [f"campaign-{i:02d}" for i in range(20)]
DAYS = 60
END = datetime(2026, 11, 27, tzinfo=timezone.utc)
# state, share, corrected share of that state
STATES = [
    ("accepted", 0.80),
    ("delivered", 0.03),
    ("bounced", 0.115),
    ("expired", 0.01),
    ("deferred", 0.02),
    ("complained", 0.005),
    ("pending", 0.02),
]
REASONS = [  # reason, status, replycode, weight
    ("userunknown", "5.1.1", "550", 50),
    ("mailboxfull", "5.2.2", "552", 14),
    ("policyviolation", "5.7.1", "554", 10),
    ("spamdetected", "5.7.1", "550", 10),
    ("blocked", "5.7.1", "554", 8),
    ("hostunknown", "5.1.2", "550", 5),
    ("suspend", "5.2.1", "550", 3),
]
CORRECTED_SHARE = 0.3  # of bounced deliveries: accepted by the first hop, bounced later


def _pick_state(rng: random.Random) -> str:
    x = rng.random()
    for state, share in STATES:
        if x < share:
            return state
        x -= share
    return "accepted"


def _reason(rng: random.Random) -> tuple[str, str, str]:
    reason, status, code, _ = rng.choices(REASONS, weights=[r[3] for r in REASONS])[0]
    return reason, status, code


def seed(database: Database, deliveries: int, per_message: int = 4) -> dict[str, Any]:
    """Bulk-load a synthetic ledger with COPY; returns a few addresses and ids to look at."""
    rng = random.Random(7)
    messages = deliveries // per_message
    raw = database.engine.raw_connection()
    conn = raw.driver_connection
    sample: dict[str, Any] = {}
    started = time.perf_counter()
    with conn.cursor() as cur:
        with cur.copy(
            "COPY sent_messages (id, msg_key, message_id, queue_id, sender, campaign, first_seen_at) FROM STDIN"
        ) as copy:
            for m in range(1, messages + 1):
                seen = END - timedelta(days=DAYS * m / messages) + timedelta(seconds=rng.randint(0, 3600))
                copy.write_row(
                    (m, f"mid:m{m}@bench.test", f"m{m}@bench.test", f"Q{m:010X}", "bounces@bench.test",
                     CAMPAIGNS[m % len(CAMPAIGNS)], seen)
                )
        print(f"  sent_messages: {messages:,} rows", flush=True)
        delivery_rows = []
        event_id = 0
        returned_id = 0
        with cur.copy(
            "COPY deliveries (id, sent_message_id, recipient, state, reason, status, replycode, detail, "
            "first_hop_host, corrected, first_attempt_at, state_at) FROM STDIN"
        ) as copy:
            for d in range(1, deliveries + 1):
                m = (d - 1) // per_message + 1
                at = END - timedelta(days=DAYS * m / messages)
                state = _pick_state(rng)
                reason = status = code = detail = None
                corrected = False
                host = "mx.example.net"
                if state in ("bounced", "expired", "complained", "deferred"):
                    if state == "expired":
                        reason, status, code = "expired", "4.4.7", "451"
                    elif state == "complained":
                        reason, status, code = "feedback", None, None
                        corrected = True
                    elif state == "deferred":
                        reason, status, code = "systemerror", "4.2.0", "451"
                    else:
                        reason, status, code = _reason(rng)
                        corrected = rng.random() < CORRECTED_SHARE
                    detail = f"{code or ''} {status or ''} <r{d}@example.net>: said no".strip()
                elif state in ("accepted", "delivered"):
                    status, code, detail = "2.0.0", "250", "Ok: queued"
                recipient = f"r{d}@{'example.net' if d % 3 else 'example.org'}"
                copy.write_row(
                    (d, m, recipient, state, reason, status, code, detail, host, corrected, at,
                     at + timedelta(minutes=40 if corrected else 0))
                )
                delivery_rows.append((d, recipient, state, reason, status, code, corrected, at))
                if corrected and state == "bounced" and "corrected" not in sample:
                    sample["corrected"] = recipient
        print(f"  deliveries: {deliveries:,} rows", flush=True)
        with cur.copy(
            "COPY returned_messages (id, sha256, message_id, source, source_ref, subject, outcome, size, raw, "
            "received_at, recorded_at, duplicate_count) FROM STDIN"
        ) as copy:
            for d, recipient, state, reason, status, code, corrected, at in delivery_rows:
                if state not in ("bounced", "expired", "complained") or not corrected:
                    continue
                returned_id += 1
                body = (
                    f"From: MAILER-DAEMON@example.net\nSubject: Undelivered Mail Returned to Sender\n\n"
                    f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: {status}\n"
                ).encode()
                copy.write_row(
                    (returned_id, f"{returned_id:064x}", f"b{returned_id}@example.net", "maildir:/bench",
                     f"{returned_id}.eml", "Undelivered Mail Returned to Sender", "processed", len(body), body,
                     at + timedelta(minutes=40), at + timedelta(minutes=40), 0)
                )
        sample["returned_message"] = 1
        print(f"  returned_messages: {returned_id:,} rows", flush=True)
        returned_id = 0
        with cur.copy(
            "COPY events (id, dedupe_key, delivery_id, recipient, kind, source, at, outcome, first_hop, remote_host, "
            "status, replycode, reason, detail, from_state, to_state, match_key, returned_message_id, evidence, "
            "recorded_at, corrected_from, corrected_to, corrected_at) FROM STDIN"
        ) as copy:
            for d, recipient, state, reason, status, code, corrected, at in delivery_rows:
                first = "accepted" if corrected or state in ("accepted", "delivered", "complained") else (
                    "deferred" if state in ("deferred", "expired") else "rejected" if state == "bounced" else "accepted"
                )
                event_id += 1
                line = f"Nov 27 05:27:23 mta postfix/smtp[1]: Q{d:010X}: to=<{recipient}>, status=sent"
                copy.write_row(
                    (event_id, f"a{d}", d, recipient, "attempt", "postfix:mail.log", at, first, True,
                     "mx.example.net", "2.0.0" if first == "accepted" else status,
                     "250" if first == "accepted" else code, None if first == "accepted" else reason,
                     "Ok: queued", None, None, None, None, f'{{"line": "{line}"}}', at, None, None, None)
                )
                if corrected and state != "complained":
                    returned_id += 1
                    later = at + timedelta(minutes=40)
                    event_id += 1
                    # the verdict carries the correction it made (migration 0009)
                    copy.write_row(
                        (event_id, f"v{d}", d, recipient, "verdict", "maildir:/bench", later, "bounce", True,
                         "mx.example.net", status, code, reason, detail_text(recipient, code, status), None, None,
                         "queue_id", returned_id, '{"action": "failed"}', later, "accepted", state, later)
                    )
                elif corrected:
                    returned_id += 1
        print(f"  events: {event_id:,} rows", flush=True)
        with cur.copy(
            "COPY suppressions (id, address, reason, active, source_delivery_id, note, since, released_at, updated_at) "
            "FROM STDIN"
        ) as copy:
            count = 0
            for d, recipient, state, reason, status, code, corrected, at in delivery_rows:
                if state == "bounced" and reason in ("userunknown", "hostunknown") or state == "complained":
                    count += 1
                    released = at + timedelta(days=2) if count % 10 == 0 else None
                    copy.write_row(
                        (count, recipient, "complaint" if state == "complained" else "hardbounce", released is None,
                         d, "released by hand" if released else None, at, released, released or at)
                    )
        print(f"  suppressions: {count:,} rows", flush=True)
    conn.commit()
    raw.close()
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))
    sample["seed_seconds"] = time.perf_counter() - started
    sample.setdefault("corrected", "r1@example.net")
    return sample


def detail_text(recipient: str, code: str | None, status: str | None) -> str:
    return f"{code} {status} <{recipient}>: Recipient address rejected"


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float]:
    fn()  # warm: plans cached, pages in memory
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()

    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"bounceledger_bench_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    database = Database(Settings(database_url=url))
    try:
        dbmod.upgrade(database)
        print(f"seeding {args.deliveries:,} deliveries into {name} ...", flush=True)
        sample = seed(database, args.deliveries)
        print(f"seeded in {sample['seed_seconds']:.1f}s\n")
        run(database, sample, args.rounds)
    finally:
        database.dispose()
        if args.keep:
            print(f"\nkept database {name}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


def run(database: Database, sample: dict[str, Any], rounds: int) -> None:
    since = (END - timedelta(days=7)).date()
    campaign = CAMPAIGNS[3]

    def report(fn: Callable[..., Any], **kw: Any) -> Callable[[], Any]:
        def call() -> Any:
            with database.session() as session:
                return fn(session, **kw)

        return call

    print(f"{'reports.py function':58} {'median':>9} {'worst':>9}")
    for label, call in [
        ("overview() all", report(reports.overview)),
        (f"overview(campaign={campaign})", report(reports.overview, campaign=campaign)),
        (f"overview(since={since})", report(reports.overview, since=since)),
        ("campaign_day() all", report(reports.campaign_day)),
        ("reasons() all", report(reports.reasons)),
        (f"reasons(campaign={campaign})", report(reports.reasons, campaign=campaign)),
        (f"reasons(since={since})", report(reports.reasons, since=since)),
        ("reasons_by_day() all", report(reports.reasons_by_day)),
        ("reason_examples('userunknown')", report(reports.reason_examples, reason="userunknown")),
        ("reason_examples('suspend')", report(reports.reason_examples, reason="suspend")),
        ("reason_examples('nosuchreason')", report(reports.reason_examples, reason="nosuchreason")),
        ("campaigns()", report(reports.campaigns)),
    ]:
        median, worst = timed(call, rounds)
        print(f"{label:58} {median * 1000:8.1f}ms {worst * 1000:8.1f}ms", flush=True)

    from bounceledger.web import make_server, shutdown

    server = make_server(database, "127.0.0.1", 0, None, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        print(f"\n{'page (waitress, loopback)':58} {'median':>9} {'worst':>9} {'bytes':>9}")
        for path in [
            "/",
            f"/?campaign={campaign}",
            f"/?since={since}",
            "/reasons",
            f"/reasons?since={since}",
            "/reasons/userunknown",
            "/reasons/suspend",
            f"/recipient?address={sample['corrected']}",
            "/recipient?address=nobody@example.com",
            f"/messages/{sample['returned_message']}",
            "/suppressions",
            "/suppressions?q=example.org&active=yes",
            "/suppressions.csv",
            "/api/overview",
            "/api/reasons",
            f"/api/lookup?address={sample['corrected']}",
            "/api/suppressions",
        ]:
            size = 0

            def fetch(path: str = path) -> None:
                nonlocal size
                with urllib.request.urlopen(base + path, timeout=120) as response:
                    size = len(response.read())

            median, worst = timed(fetch, rounds)
            print(f"{path:58} {median * 1000:8.1f}ms {worst * 1000:8.1f}ms {size:9,}", flush=True)
    finally:
        shutdown(server)
        thread.join(timeout=5)


if __name__ == "__main__":
    raise SystemExit(main())
