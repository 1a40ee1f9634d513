"""Reconciliation at scale on PostgreSQL: does the cost grow with verdicts, not deliveries?

Fills a ledger of its own with deliveries through the send-log write path
(``store_attempts``, the code ``ingest-log`` runs, fed generated attempts so
that log parsing is not what is measured), then reconciles asynchronous
verdicts through ``record_verdicts`` (match, store, re-derive state,
corrections, suppressions: what polling runs after parsing), and prints:

* 100,000 verdicts against 1,000,000 deliveries,
* 10,000 verdicts against the same 1,000,000 deliveries,
* 100,000 verdicts against 100,000 deliveries (a fresh ledger),

each with its time and verdicts/s, the CPU per verdict of the client and of
the PostgreSQL backends it used, the share of delivery updates made in
place (HOT), and the server's own floor for the
rows that run wrote (see :func:`write_floor`). The verdicts mix the keys real bounces
carry: signed return-path token, next-hop queue id, original Message-ID,
and a share that matches nothing (kept as orphans).

    .venv/bin/python benchmarks/reconcile_scale.py [--deliveries 1000000] [--postgres URL]
        [--template NAME] [--large-only]

``--template NAME`` keeps the filled large ledger as database ``NAME``
(written the first time, copied with ``CREATE DATABASE ... TEMPLATE`` after):
the fill takes minutes, and an A/B of two commits wants the same ledger
under both. Make the template with the older commit: the newer one
upgrades its copy. ``--large-only`` skips the small-ledger scenario.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402

from benchmarks.cpu import BackendClock, client_cpu  # noqa: E402
from benchmarks.scratch import admin_url, scratch_postgres  # noqa: E402
from benchmarks.scratch import write_floor as scratch_write_floor  # noqa: E402
from bounceledger.config import Settings  # noqa: E402
from bounceledger.db import Database, upgrade  # noqa: E402
from bounceledger.ingest.attempts import store_attempts  # noqa: E402
from bounceledger.ingest.keys import verdict_key  # noqa: E402
from bounceledger.ingest.records import Attempt, Verdict  # noqa: E402
from bounceledger.ingest.returned import record_verdicts, verdict_row  # noqa: E402

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
RECIPIENTS_PER_MESSAGE = 4
BATCH = VERDICT_BATCH = Settings().batch_size  # what ingest-log and the orphan retry use


def _delivery(index: int) -> tuple[int, str]:
    return index // RECIPIENTS_PER_MESSAGE, f"r{index}@d{index % 997}.example"


def _at(message: int) -> datetime:
    return T0 + timedelta(seconds=message // 4)


def attempts(start: int, end: int) -> list[Attempt]:
    """What a send log would say about deliveries ``start`` to ``end``: all accepted by the first hop."""
    out = []
    for index in range(start, end):
        message, recipient = _delivery(index)
        out.append(
            Attempt(
                at=_at(message),
                recipient=recipient,
                verdict="accepted",
                queue_id=f"Q{message:010X}",
                message_id=f"m{message}@news.example.com",
                sender=f"bounces+t{message}@news.example.com",
                relay_host=f"mx.d{index % 997}.example",
                relay_ip="198.51.100.7",
                replycode="250",
                status="2.0.0",
                text=f"Ok: queued as N{index:010X}",
                next_hop_queue_id=f"N{index:010X}",
                raw=f"bench line {index}",
            )
        )
    return out


def fill(database: Database, count: int) -> float:
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        with database.session() as session:
            store_attempts(session, attempts(start, min(start + BATCH, count)), "bench", database.rules)
    return time.perf_counter() - started


def verdict_rows(count: int, deliveries: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    rows = []
    for n in range(count):
        index = rng.randrange(deliveries)
        message, recipient = _delivery(index)
        roll = rng.random()
        keys: dict[str, str | None] = {}
        if roll < 0.4:
            keys["return_path_token"] = f"t{message}"
        elif roll < 0.7:
            keys["next_hop_queue_id"] = f"N{index:010X}"
        elif roll < 0.9:
            keys["original_message_id"] = f"m{message}@news.example.com"
        else:
            recipient = f"nobody{n}@unknown.example"  # matches nothing: an orphan
        verdict = Verdict(
            kind="bounce",
            recipient=recipient,
            reason="userunknown",
            hardbounce=True,
            category="bad-mailbox",
            action="failed",
            status="5.1.1",
            replycode="550",
            diagnostic="550 5.1.1 user unknown",
            remote_mta=f"mx.d{index % 997}.example",
            **keys,  # type: ignore[arg-type]
        )
        rows.append(verdict_row(verdict, verdict_key(f"bench{seed}-{n}", 0, verdict), None, _at(message) + timedelta(minutes=40), "bench", now))  # type: ignore[arg-type]
    return rows


@dataclass(frozen=True)
class Run:
    seconds: float
    matched: int
    client_cpu: float  # this process
    server_cpu: float  # the PostgreSQL backends it used
    updates: int  # rows of deliveries updated
    hot_updates: int  # of them in place (HOT): no index touched


def _update_counts(database: Database) -> tuple[int, int]:
    with database.engine.connect() as conn:
        row = conn.execute(
            text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'deliveries'")
        ).one()
    return int(row[0]), int(row[1])


def reconcile(database: Database, rows: list[dict[str, object]]) -> Run:
    database.engine.dispose()  # every connection of the run is opened under the clock
    clock = BackendClock(database.engine)
    upd_before, hot_before = _update_counts(database)
    client = client_cpu()
    clock.switch_on()
    started = time.perf_counter()
    matched = 0
    for start in range(0, len(rows), VERDICT_BATCH):
        with database.session() as session:
            found = record_verdicts(session, rows[start : start + VERDICT_BATCH], database.rules)
            if start + VERDICT_BATCH >= len(rows):
                session.execute(text("SELECT pg_stat_force_next_flush()"))  # the update counts, now
        matched += sum(1 for f in found if f is not None)
    seconds = time.perf_counter() - started
    client, server = client_cpu() - client, clock.total()
    time.sleep(0.2)
    upd_after, hot_after = _update_counts(database)
    return Run(seconds, matched, client, server, upd_after - upd_before, hot_after - hot_before)


_STATE_COLUMNS = ("state", "reason", "status", "replycode", "detail", "state_at", "corrected", "first_attempt_at")


_NEW_ROWS_OF = ("events", "suppressions")


def _snapshot(database: Database) -> dict[str, str]:
    """Keep every delivery's state columns, and which rows are older than a run: before it."""
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP TABLE IF EXISTS _bench_before"))
        conn.execute(text(f"CREATE TABLE _bench_before AS SELECT id, {', '.join(_STATE_COLUMNS)} FROM deliveries"))
        return {t: f"id > {conn.scalar(text(f'SELECT coalesce(max(id), 0) FROM {t}'))}" for t in _NEW_ROWS_OF}


def write_floor(database: Database, new_rows: dict[str, str]) -> tuple[int, float]:
    """What the server alone needs for the writes a run made: (rows, seconds).

    The run's verdict events (with the corrections they carry) and its new suppressions are
    copied into empty tables with every index (see ``benchmarks.scratch``);
    the deliveries it changed are set back to their values before the run,
    vacuumed, and changed again by one plain UPDATE. No client work, no
    matching, no reads of history: no reconciler can write these results
    faster on this server.
    """
    url = database.engine.url.render_as_string(hide_password=False)
    rows, seconds = scratch_write_floor(url, list(_NEW_ROWS_OF), new_rows)
    changed = " OR ".join(f"d.{c} IS DISTINCT FROM b.{c}" for c in _STATE_COLUMNS)
    assign = ", ".join(f"{c} = x.{c}" for c in _STATE_COLUMNS)
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE TEMP TABLE _bench_after AS SELECT d.* FROM deliveries d JOIN _bench_before b USING (id) WHERE {changed}"))
        conn.execute(text(f"UPDATE deliveries d SET {assign} FROM _bench_before x WHERE x.id = d.id AND d.id IN (SELECT id FROM _bench_after)"))
        conn.execute(text("VACUUM deliveries"))
        conn.execute(text("CHECKPOINT"))
        started = time.perf_counter()
        rows += conn.execute(text(f"UPDATE deliveries d SET {assign} FROM _bench_after x WHERE x.id = d.id")).rowcount
        seconds += time.perf_counter() - started
        conn.execute(text("DROP TABLE _bench_after"))
        conn.execute(text("DROP TABLE _bench_before"))
        # Its updates reach the statistics now, not in the next run's HOT count.
        conn.execute(text("SELECT pg_stat_force_next_flush()"))
        conn.execute(text("SELECT 1"))
    return rows, seconds


def scenario(admin: str, name: str, deliveries: int, runs: list[tuple[str, int]], template: str | None = None) -> None:
    if template is not None and not _template_ready(admin, template):
        with scratch_postgres(admin, template, keep=True) as url:
            database = Database(Settings(database_url=url))
            try:
                upgrade(database)
                seconds = fill(database, deliveries)
                print(f"template {template}: {deliveries:,} deliveries written in {seconds:.0f}s")
                with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
            finally:
                database.dispose()
    with scratch_postgres(admin, name, template=template) as url:
        _scenario(Database(Settings(database_url=url)), deliveries, runs, filled=template is not None)


def _template_ready(admin: str, template: str) -> bool:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": template}) is not None
    finally:
        engine.dispose()


def _scenario(database: Database, deliveries: int, runs: list[tuple[str, int]], filled: bool = False) -> None:
    try:
        upgrade(database)
        if filled:
            print(f"ledger of {deliveries:,} deliveries copied from its template")
        else:
            seconds = fill(database, deliveries)
            print(f"ledger of {deliveries:,} deliveries written in {seconds:.0f}s ({deliveries / seconds:,.0f} attempts/s)")
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        for seed, (label, count) in enumerate(runs):
            rows = verdict_rows(count, deliveries, seed)
            before = _snapshot(database)
            run = reconcile(database, rows)
            seconds, matched = run.seconds, run.matched
            print(
                f"  {label}: {count:,} verdicts against {deliveries:,} deliveries in {seconds:.1f}s: "
                f"{count / seconds:,.0f} verdicts/s ({matched:,} matched, {count - matched:,} kept as orphans)"
            )
            print(
                f"    CPU per verdict: client {run.client_cpu / count * 1e6:.0f} µs, server (its backends) "
                f"{run.server_cpu / count * 1e6:.0f} µs; wall {seconds / count * 1e6:.0f} µs"
            )
            hot_share = run.hot_updates / run.updates if run.updates else 0.0
            print(f"    delivery updates: {run.updates:,}, {run.hot_updates:,} of them HOT ({hot_share:.1%})")
            written, floor = write_floor(database, before)
            print(
                f"    server floor: writing the same {written:,} rows (events, suppressions, deliveries changed) "
                f"takes {floor:.2f}s alone: at most {count / floor:,.0f} verdicts/s here; reached {floor / seconds:.2f} of it"
            )
    finally:
        database.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deliveries", type=int, default=1_000_000)
    ap.add_argument("--verdicts", type=int, default=100_000)
    ap.add_argument("--postgres", default=admin_url())
    ap.add_argument("--template", help="keep the filled large ledger as this database, and copy it on later runs")
    ap.add_argument("--large-only", action="store_true", help="skip the small-ledger scenario")
    args = ap.parse_args()
    name = f"bounceledger_reconcile_{os.getpid()}"
    small = args.verdicts // 10
    scenario(
        args.postgres, name, args.deliveries,
        [("large ledger", args.verdicts), ("large ledger, few verdicts", small)], args.template,
    )
    if not args.large_only:
        scenario(args.postgres, name, args.verdicts, [("small ledger", args.verdicts)])


if __name__ == "__main__":
    main()
