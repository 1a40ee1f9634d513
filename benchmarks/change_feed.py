"""The change feed's cost, and how fast webhooks go out, on PostgreSQL.

1. **Feed write cost.** A ledger of its own with ``--deliveries`` first-hop
   acceptances (through ``store_attempts``, as ``ingest-log`` writes them),
   then ``--verdicts`` asynchronous bounces reconciled through
   ``record_verdicts`` (as a poll does), twice on fresh verdicts: once with
   the feed as it is and once with it switched off. Prints the time the
   feed's own insert takes inside each commit, as a share of the whole,
   and the difference between the two runs.
2. **Webhook sender.** ``--events`` entries of that feed sent by the real
   sender (``bounceledger.webhooks.sender.deliver``: reading the feed,
   building each entry with its evidence, signing, one POST per entry, no
   batching) to a receiver in its own process on loopback, which prints its
   own rate; and, as a baseline in the same run, a bare ``http.client``
   loop posting one ready-made body to the same receiver.

    .venv/bin/python benchmarks/change_feed.py [--deliveries 1000000] [--verdicts 100000] [--events 20000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import event, func, select, text, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from benchmarks.reconcile_scale import fill, reconcile, verdict_rows  # noqa: E402
from benchmarks.scratch import admin_url, scratch_postgres  # noqa: E402
from bounceledger.config import Settings, WebhookTarget  # noqa: E402
from bounceledger.db import Database, upgrade  # noqa: E402
from bounceledger.ingest import feed  # noqa: E402
from bounceledger.models import Change, WebhookEndpoint  # noqa: E402
from bounceledger.webhooks import sender, signing, store  # noqa: E402

RECEIVER = r'''
# A lean HTTP/1.1 receiver (asyncio streams, keep-alive): it reads each request
# whole and answers 204, and a GET answers the rate it saw since the first POST.
import asyncio, time
seen = [0, 0.0, 0.0]

async def serve(reader, writer):
    try:
        await answer(reader, writer)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()  # the client hung up

async def answer(reader, writer):
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        if head.startswith(b"POST"):
            now = time.perf_counter()
            if seen[0] == 0:
                seen[1] = now
            seen[0] += 1
            seen[2] = now
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        else:
            n, first, last = seen
            rate = (n - 1) / (last - first) if n > 1 and last > first else 0.0
            body = f"{n} {rate:.1f}".encode()
            seen[:] = [0, 0.0, 0.0]
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

async def main():
    server = await asyncio.start_server(lambda r, w: serve(r, w), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
'''


@contextmanager
def feed_timer() -> Iterator[list[float]]:
    """Seconds spent in the feed's before-commit insert, added up while inside."""
    spent = [0.0]

    def timed(session: Session) -> None:
        started = time.perf_counter()
        feed._write_pending(session)
        spent[0] += time.perf_counter() - started

    event.remove(Session, "before_commit", feed._write_pending)
    event.listen(Session, "before_commit", timed)
    try:
        yield spent
    finally:
        event.remove(Session, "before_commit", timed)
        event.listen(Session, "before_commit", feed._write_pending)


@contextmanager
def feed_off() -> Iterator[None]:
    """The ledger without its feed: nothing queued, nothing inserted."""
    saved = feed.record_delivery, feed.record_suppression
    noop: Callable[..., None] = lambda *_a, **_k: None  # noqa: E731
    feed.record_delivery = feed.record_suppression = noop  # type: ignore[assignment]
    event.remove(Session, "before_commit", feed._write_pending)
    try:
        yield
    finally:
        feed.record_delivery, feed.record_suppression = saved  # type: ignore[assignment]
        event.listen(Session, "before_commit", feed._write_pending)


def feed_cost(database: Database, deliveries: int, verdicts: int) -> None:
    with feed_timer() as spent:
        seconds = fill(database, deliveries)
    print(f"ledger of {deliveries:,} deliveries written in {seconds:.0f}s ({deliveries / seconds:,.0f} attempts/s); "
          f"the feed's inserts took {spent[0]:.1f}s of it ({spent[0] / seconds:.1%})")
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    with feed_off():
        off, _ = reconcile(database, verdict_rows(verdicts, deliveries, 101))
    before = _entries(database)
    with feed_timer() as spent:
        on, matched = reconcile(database, verdict_rows(verdicts, deliveries, 102))
    written = _entries(database) - before
    print(f"reconcile {verdicts:,} verdicts against {deliveries:,} deliveries, feed on: {on:.1f}s "
          f"({verdicts / on:,.0f} verdicts/s, {matched:,} matched, {written:,} feed entries)")
    print(f"  the feed's inserts inside those commits: {spent[0]:.2f}s = {spent[0] / on:.1%} of reconcile time")
    print(f"  the same with the feed off (other verdicts, same mix): {off:.1f}s; difference {(on - off) / on:+.1%}")


def _entries(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Change)) or 0


def _receiver() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _receiver_rate(port: int) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/")
    count, rate = connection.getresponse().read().decode().split()
    connection.close()
    return int(count), float(rate)


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def sender_rate(database: Database, events: int) -> None:
    process, port = _receiver()
    try:
        url = f"http://127.0.0.1:{port}/hook"
        secret = signing.new_secret()
        target = WebhookTarget(url=url, secret=secret, name="bench")
        with database.session() as session:
            newest = session.scalar(select(func.max(Change.seq))) or 0
            sample = session.scalar(select(Change).where(Change.type == feed.CORRECTED).limit(1))
        with database.session() as session:  # the endpoint starts ``events`` entries before the end of the feed
            store.place(session, "bench", url, datetime.now(timezone.utc))
            session.execute(update(WebhookEndpoint).where(WebhookEndpoint.name == "bench").values(cursor=max(newest - events, 0)))
        _receiver_rate(port)
        started, cpu = time.perf_counter(), _cpu()
        summary = sender.deliver(database, target)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        received, received_rate = _receiver_rate(port)
        print(f"webhook sender: {summary.delivered:,} entries in {seconds:.2f}s = {summary.delivered / seconds:,.0f} events/s "
              f"(one signed POST each, no batching; client CPU {cpu / max(summary.delivered, 1) * 1e6:.0f} us/event); "
              f"the receiver counted {received:,} at {received_rate:,.0f}/s")
        assert summary.delivered == received == events, (summary, received)

        # the floor: the same receiver, one ready-made body, nothing read from the ledger
        body = json.dumps({"type": "delivery.corrected", "data": {"seq": sample.seq if sample else 0}}).encode() * 8
        key = signing.secret_key(secret)
        transport = sender.Transport(url, 10.0)
        started = time.perf_counter()
        for n in range(events):
            assert transport.post(body, signing.headers(key, f"msg_{n}", int(time.time()), body)).ok
        bare = time.perf_counter() - started
        transport.close()
        _, bare_rate = _receiver_rate(port)
        print(f"  baseline, bare signed POSTs of a {len(body)}-byte body to the same receiver: {events / bare:,.0f}/s "
              f"(receiver: {bare_rate:,.0f}/s); the sender reached {bare / seconds:.2f} of it")
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--deliveries", type=int, default=1_000_000)
    ap.add_argument("--verdicts", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--postgres", default=admin_url())
    args = ap.parse_args()
    with scratch_postgres(args.postgres, f"bounceledger_feed_{os.getpid()}") as url:
        database = Database(Settings(database_url=url))
        try:
            upgrade(database)
            feed_cost(database, args.deliveries, args.verdicts)
            sender_rate(database, args.events)
        finally:
            database.dispose()


if __name__ == "__main__":
    main()
