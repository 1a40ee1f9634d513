"""Mailbox polling speed: poll + parse + reconcile against the bare IMAP fetch rate.

Starts a real Dovecot on loopback (needs root, Dovecot installed: see
tests/install-system-deps.sh), fills a folder with N returned messages
(the bundled real DSNs, each given its own Message-ID), then prints in one
run:

* the bare imapclient fetch rate of that folder (``BODY.PEEK[]`` in batches
  of 100): the limit any poller can reach,
* the parser alone over the same messages (no IMAP, no database),
* ``bounceledger poll --once`` end to end into SQLite and into PostgreSQL
  (a database of its own): messages/s over the poll itself (connect, fetch,
  parse, store, reconcile, file away: the figure its summary line prints)
  and the ratio to the bare fetch, and the whole command's time besides
  (interpreter start-up, migration check, the orphan retry that follows),
* the same polls over bounces that each match a delivery of a send log
  ingested first (``fill_matched``): matching, corrections and suppressions
  for every message, not only orphans to store,
* peak RSS of each poll, and of a poll over a quarter of the messages, to
  show memory does not grow with the mailbox,
* where the CPU went, per message, read from the kernel (``benchmarks/cpu.py``):
  the bare fetch's client and Dovecot, and each poll's poller with its parse
  worker, Dovecot and PostgreSQL; and the rate the machine's cores allow at
  that cost. Dovecot and PostgreSQL run on the same cores as the poller, so
  their share comes out of its budget.

    .venv/bin/python benchmarks/mailbox_poll.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from imapclient import IMAPClient  # noqa: E402

from benchmarks.cpu import TreeClock, finished, server_root  # noqa: E402
from benchmarks.scratch import admin_url, scratch_postgres  # noqa: E402
from bounceledger.ingest.bounces import parse  # noqa: E402
from bounceledger.ingest.mailbox.imap import quiet_imaplib  # noqa: E402
from tests.mailstack.dovecot import MAIL_GID, MAIL_UID, Dovecot, scratch_dovecot  # noqa: E402

SAMPLES = REPO / "bounceledger" / "samples" / "returned" / "new"
MESSAGE_ID = re.compile(rb"^Message-Id: <([^>]*)>", re.IGNORECASE | re.MULTILINE)


def _new_folder(server: Dovecot, folder: str) -> Path:
    """The Maildir++ folder ``folder`` of the test user, created empty."""
    root = server.maildir / f".{folder}"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def fill_folder(server: Dovecot, folder: str, count: int) -> None:
    """Write messages straight into the Maildir++ folder: much faster than APPEND."""
    samples = [p.read_bytes() for p in sorted(SAMPLES.glob("*.msg"))]
    root = _new_folder(server, folder)
    for index in range(count):
        raw = samples[index % len(samples)]
        raw = MESSAGE_ID.sub(lambda m: b"Message-Id: <bench" + str(index).encode() + b"." + m.group(1) + b">", raw, 1)
        path = root / "new" / f"{1700000000 + index}.M{index}P1.bench"
        path.write_bytes(raw)
    _give_to_mail_user(server)


# The 5.1.1 sample bounce, made into one bounce per delivery of a generated send log.
TEMPLATE = SAMPLES / "0002.sample.msg"
SENDLOG_MTIME = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)  # gives the year-less log lines 2026


def fill_matched(server: Dovecot, folder: str, count: int, sendlog: Path) -> None:
    """``count`` bounces that each overturn a delivery of their own, and the send log of those deliveries.

    Each is the 5.1.1 sample with its recipient, return-path token, queue id
    and original Message-ID made unique, so that every message is matched,
    corrects an accepted delivery and suppresses an address: the whole of
    reconciliation, as after a real campaign, not only storing orphans.
    """
    template = TEMPLATE.read_bytes()
    root = _new_folder(server, folder)
    lines = []
    for index in range(count):
        queue_id = f"B{index:010X}"
        raw = (
            template.replace(b"unknown1@example.test", b"r%d@example.test" % index)
            .replace(b"bounces+m1@", b"bounces+b%d@" % index)
            .replace(b"campaign-nov.1@sender.test", b"bench.%d@sender.test" % index)
            .replace(b"359822123A3", queue_id.encode())
            .replace(b"20261127060655.4136A2120EC@mta.sender.test", b"dsn.%d@mta.sender.test" % index)
        )
        (root / "new" / f"{1700000000 + index}.M{index}P2.bench").write_bytes(raw)
        lines += [
            f"Nov 27 06:06:50 mta postfix/cleanup[100]: {queue_id}: message-id=<bench.{index}@sender.test>",
            f"Nov 27 06:06:50 mta postfix/qmgr[101]: {queue_id}: from=<bounces+b{index}@sender.test>, size=1000, "
            "nrcpt=1 (queue active)",
            f"Nov 27 06:06:51 mta postfix/smtp[102]: {queue_id}: to=<r{index}@example.test>, "
            "relay=mx.example.test[192.0.2.1]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, "
            f"status=sent (250 2.0.0 Ok: queued as N{index:010X})",
            f"Nov 27 06:06:51 mta postfix/qmgr[101]: {queue_id}: removed",
        ]
    sendlog.write_text("\n".join(lines) + "\n")
    os.utime(sendlog, (SENDLOG_MTIME.timestamp(), SENDLOG_MTIME.timestamp()))
    _give_to_mail_user(server)


def _give_to_mail_user(server: Dovecot) -> None:
    for directory, _, files in os.walk(server.mail_root):
        os.chown(directory, MAIL_UID, MAIL_GID)
        for name in files:
            os.chown(os.path.join(directory, name), MAIL_UID, MAIL_GID)


def bare_fetch(server: Dovecot, folder: str) -> dict[str, float]:
    """Fetch every message of ``folder`` and nothing else: messages, seconds, and the CPU of client and Dovecot."""
    context = ssl.create_default_context(cafile=str(server.ca_cert))
    dovecot = TreeClock(server.pid())
    with IMAPClient(server.host, server.imaps_port, ssl=True, ssl_context=context) as client:
        quiet_imaplib(client)  # as the poller's reader does: no debug text for a log that drops it
        client.login(server.user, server.password)
        client.select_folder(folder, readonly=True)
        dovecot.start()
        client_cpu = time.process_time()
        started = time.perf_counter()
        uids = client.search(["ALL"])
        fetched = 0
        for start in range(0, len(uids), 100):
            data = client.fetch(uids[start : start + 100], ["BODY.PEEK[]"])
            fetched += sum(1 for item in data.values() if b"BODY[]" in item)
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
    return {"messages": fetched, "seconds": seconds, "client_cpu": client_cpu, "dovecot_cpu": dovecot.stop()}


def parse_only(server: Dovecot, folder: str) -> tuple[int, float]:
    """The parser alone over the same messages, read from disk beforehand: (messages, seconds)."""
    raws = [path.read_bytes() for path in sorted((server.maildir / f".{folder}").glob("*/*bench*"))]
    started = time.perf_counter()
    for raw in raws:
        parse(raw)
    return len(raws), time.perf_counter() - started


def poll(
    server: Dovecot, folder: str, database_url: str, sendlog: Path | None = None, filing: str = "move=off"
) -> dict[str, float]:
    """``bounceledger poll --once`` in a fresh ledger (after ``ingest-log`` of ``sendlog``, if given).

    ``filing`` is ``move=off`` (flag in place: the folder can be polled
    again) or ``move=on`` (the default: move into an outcome folder).
    """
    url = (
        f"imaps://{server.user}@{server.host}:{server.imaps_port}/{folder}"
        f"?ca={server.ca_cert}&{filing}"  # the default batch= (ingest.mailbox.url.DEFAULT_IMAP_BATCH)
    )
    env = {**os.environ, "BOUNCELEDGER_IMAP_PASSWORD": server.password, "PYTHONPATH": str(REPO)}
    steps = [["db", "upgrade"], *([["ingest-log", "--format", "postfix", str(sendlog)]] if sendlog else []), ["poll", "--mailbox", url, "--once"]]
    dovecot = TreeClock(server.pid())
    postgres = TreeClock(server_root("postgres") if database_url.startswith("postgresql") else None)
    for args in steps:
        if args[0] == "poll":
            dovecot.start()
            postgres.start()
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "bounceledger", "--database-url", database_url, *args],
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        raw_output, usage = finished(process, " ".join(args))
        output = raw_output.decode()
        seconds = time.perf_counter() - started
        if args[0] == "db":  # start-up and a migration check, nothing else: what every command pays
            startup_cpu = usage.ru_utime + usage.ru_stime
    # CPU of the poll, the last step: the poller with its parse worker (reaped
    # by the poller, so counted in its usage), Dovecot and the database server
    cpu = {"poller_cpu": usage.ru_utime + usage.ru_stime, "startup_cpu": startup_cpu,
           "dovecot_cpu": dovecot.stop(), "database_cpu": postgres.stop()}
    processed = int(re.search(r"(\d+) messages", output).group(1))  # type: ignore[union-attr]
    orphans = int(re.search(r"(\d+) not yet matched", output).group(1))  # type: ignore[union-attr]
    in_poll = float(re.search(r"; ([\d.]+)s, [\d,]+ messages/s", output).group(1))  # type: ignore[union-attr]
    return {"messages": processed, "orphans": orphans, "seconds": seconds, "poll_seconds": in_poll,
            "rss_mb": usage.ru_maxrss / 1024, **cpu}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


def _cpu_line(label: str, result: dict[str, float], bare_rate: float, cores: int) -> str:
    """Where one poll's CPU went per message, and the rate those cores allow at that cost."""
    count = result["messages"]
    poller = (result["poller_cpu"] - result["startup_cpu"]) / count
    dovecot = result["dovecot_cpu"] / count
    database = result["database_cpu"] / count
    total = poller + dovecot + database
    ceiling = cores / total
    return (
        f"{label:22}: poller and parse worker {_us(poller)}, Dovecot {_us(dovecot)}"
        + (f", PostgreSQL {_us(database)}" if database else "")
        + f" = {_us(total)}: {cores} cores allow {ceiling:,.0f} msgs/s at that cost, {ceiling / bare_rate:.2f} of the bare fetch"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--postgres", default=admin_url())
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("dovecot") is None:
        raise SystemExit("needs root and Dovecot (bash tests/install-system-deps.sh)")

    with scratch_dovecot("bl-poll-bench-") as server:
        started = time.perf_counter()
        fill_folder(server, "bench", args.messages)
        fill_folder(server, "quarter", args.messages // 4)
        sendlog = server.root / "matched.log"
        fill_matched(server, "matched", args.messages, sendlog)
        print(
            f"filled Dovecot with {args.messages:,} + {args.messages // 4:,} + {args.messages:,} messages "
            f"in {time.perf_counter() - started:.1f}s"
        )
        bare_fetch(server, "bench")  # let Dovecot build its indexes first
        bare = bare_fetch(server, "bench")
        bare_rate = bare["messages"] / bare["seconds"]
        fetch_cpu = (bare["client_cpu"] + bare["dovecot_cpu"]) / bare["messages"]
        print(
            f"bare imapclient fetch : {bare['messages']:,} messages in {bare['seconds']:.1f}s: {bare_rate:,.0f} msgs/s  "
            f"<- the limit; CPU per message: client {_us(bare['client_cpu'] / bare['messages'])}, "
            f"Dovecot {_us(bare['dovecot_cpu'] / bare['messages'])}"
        )

        parsed, parse_seconds = parse_only(server, "bench")
        parse_rate = parsed / parse_seconds
        print(
            f"parse only            : {parsed:,} messages in {parse_seconds:.1f}s: {parse_rate:,.0f} msgs/s "
            f"= {parse_rate / bare_rate:.2f} of the bare fetch, on one core with nothing stored"
        )
        cores = len(os.sched_getaffinity(0))
        budget = cores / (0.5 * bare_rate)  # CPU seconds per message at half the bare fetch rate
        print(
            f"CPU budget at half the bare fetch rate: {cores} cores / {0.5 * bare_rate:,.0f} msgs/s = "
            f"{_us(budget)} per message for everything; the fetch itself (client and Dovecot) takes "
            f"{_us(fetch_cpu)} of it ({fetch_cpu / budget:.0%}), parsing alone {_us(1 / parse_rate)} "
            f"({1 / (parse_rate * budget):.0%}): {_us(budget - fetch_cpu - 1 / parse_rate)} left to store and reconcile"
        )

        results = {"SQLite": poll(server, "bench", f"sqlite:///{server.root / 'ledger.sqlite'}")}
        with scratch_postgres(args.postgres, f"bounceledger_pollbench_{os.getpid()}") as pg_url:
            results["PostgreSQL"] = poll(server, "bench", pg_url)
        # The default filing, last: it moves the messages out of the folder.
        with scratch_postgres(args.postgres, f"bounceledger_pollbench_mv_{os.getpid()}") as pg_url:
            results["PG, move=on"] = poll(server, "bench", pg_url, filing="move=on")
        for label, result in results.items():
            rate = result["messages"] / result["poll_seconds"]
            command_rate = result["messages"] / result["seconds"]
            print(
                f"poll+parse+reconcile {label:10}: {result['messages']:,} messages in {result['poll_seconds']:.1f}s: "
                f"{rate:,.0f} msgs/s = {rate / parse_rate:.2f} of the parser-only rate (issue #17 asks >= 0.8), "
                f"{rate / bare_rate:.2f} of the bare fetch "
                f"(whole command with start-up and orphan retry: {result['seconds']:.1f}s, {command_rate:,.0f} msgs/s); "
                f"peak RSS {result['rss_mb']:.0f} MB"
            )
        matched = {"SQLite": poll(server, "matched", f"sqlite:///{server.root / 'matched.sqlite'}", sendlog)}
        with scratch_postgres(args.postgres, f"bounceledger_pollbench_m_{os.getpid()}") as pg_url:
            matched["PostgreSQL"] = poll(server, "matched", pg_url, sendlog)
        for label, result in matched.items():
            if result["orphans"]:
                raise SystemExit(f"{label}: {result['orphans']:,} bounces of the matched set found no delivery")
            rate = result["messages"] / result["poll_seconds"]
            print(
                f"  every bounce matched, {label:10}: {result['messages']:,} messages in {result['poll_seconds']:.1f}s: "
                f"{rate:,.0f} msgs/s = {rate / parse_rate:.2f} of the parser-only rate, {rate / bare_rate:.2f} of the "
                f"bare fetch (each corrects a delivery and "
                f"suppresses its address); peak RSS {result['rss_mb']:.0f} MB"
            )

        quarter = poll(server, "quarter", f"sqlite:///{server.root / 'quarter.sqlite'}")
        with scratch_postgres(args.postgres, f"bounceledger_pollbench_q_{os.getpid()}") as pg_url:
            quarter_pg = poll(server, "quarter", pg_url)
        print(
            f"peak RSS polling a quarter of the messages: SQLite {quarter['rss_mb']:.0f} MB, "
            f"PostgreSQL {quarter_pg['rss_mb']:.0f} MB (compare with the full runs above)"
        )
        print("CPU per message of each poll, read from the kernel (the poller less what a `db upgrade` uses: its start-up):")
        for label, result in [*results.items(), *((f"{k}, matched", v) for k, v in matched.items())]:
            print("  " + _cpu_line(label, result, bare_rate, cores))
        print(
            json.dumps(
                {k: round(v["messages"] / v["poll_seconds"], 1) for k, v in results.items()}
                | {f"{k} matched": round(v["messages"] / v["poll_seconds"], 1) for k, v in matched.items()}
                | {"bare": round(bare_rate, 1), "parse only": round(parse_rate, 1)}
            )
        )


if __name__ == "__main__":
    main()
