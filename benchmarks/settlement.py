"""The settlement job at scale: what a run costs with nothing due, and how fast a backlog settles.

Fills a ledger of its own with accepted deliveries to four first-hop
organisations through the real send-log path (Postfix lines, the parser,
``store_attempts``), then runs :func:`bounceledger.ingest.settlement.settle_due`
three times and prints each run's time:

* nothing due yet (every delivery inside its window: the usual 5-minute run),
* everything due (a backlog: the settlement events and the re-derived states),
* nothing left (every delivery settled: the cost of an idle run).

    .venv/bin/python benchmarks/settlement.py [--deliveries 200000] [--postgres URL | --sqlite]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.scratch import admin_url, scratch_postgres  # noqa: E402
from bounceledger.config import Settings  # noqa: E402
from bounceledger.db import Database, upgrade  # noqa: E402
from bounceledger.ingest import settlement  # noqa: E402
from tests.settlement_history import MIMECAST, OUTLOOK, PROOFPOINT, Send, record_sends  # noqa: E402

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
RELAYS = (PROOFPOINT.relays[0], MIMECAST.relays[0], OUTLOOK.relays[0], "gmail-smtp-in.l.google.com[142.250.102.26]:25")
BATCH = 20_000
SPACING = timedelta(seconds=10)


def fill(database: Database, count: int) -> float:
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        record_sends(
            database,
            [Send(i, f"user{i}@domain{i % 500}.example", RELAYS[i % len(RELAYS)], START + SPACING * i)
             for i in range(first, min(first + BATCH, count))],
        )
    return time.perf_counter() - started


def run(database: Database, count: int) -> None:
    print(f"  filled {count:,} accepted deliveries in {fill(database, count):.1f} s")
    policy = settlement.SettlementPolicy()
    last = START + SPACING * count
    for label, now in (
        ("nothing due", START + policy.default_window - timedelta(minutes=1)),
        ("everything due", last + 2 * policy.default_window),
        ("nothing left", last + 3 * policy.default_window),
    ):
        started = time.perf_counter()
        with database.session() as session:
            settled = settlement.settle_due(session, policy, now, database.rules)
        seconds = time.perf_counter() - started
        rate = f", {settled / seconds:,.0f} deliveries/s" if settled else ""
        print(f"  {label:15} {settled:>9,} settled in {seconds:7.3f} s{rate}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deliveries", type=int, default=200_000)
    ap.add_argument("--postgres", default=admin_url())
    ap.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    args = ap.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory() as folder:
            database = Database(Settings(database_url=f"sqlite:///{folder}/ledger.sqlite"))
            upgrade(database)
            print("SQLite")
            run(database, args.deliveries)
            database.dispose()
        return
    with scratch_postgres(args.postgres, f"bounceledger_settlement_{os.getpid()}") as url:
        database = Database(Settings(database_url=url))
        upgrade(database)
        print("PostgreSQL")
        run(database, args.deliveries)
        database.dispose()


if __name__ == "__main__":
    main()
