"""Send-log ingest speed: parse-only, SQLite and PostgreSQL, against baselines.

Generates a realistic Postfix log (many messages with several recipients
each; connect/cleanup/qmgr/removed chatter; sent, deferred-then-retried and
bounced attempts), then prints in one run:

* a bare ``for line in f: pass`` read of the file (the floor),
* parse-only lines/s,
* ``pflogsumm`` on the same file (what people run on these logs today),
* ``bounceledger ingest-log`` into SQLite and into PostgreSQL: attempts/s end
  to end and for the storing thread alone, and peak RSS of each run,
* peak RSS for a quarter of the file, to show memory does not grow with size,
* on PostgreSQL, in the same run: a lean loader's rate for the same rows into
  the same tables (``benchmarks/lean_loader.py``: parse, number, binary COPY;
  the floor for a loader), the CPU microseconds per attempt of each, split
  into client and server (``benchmarks/ingest_child.py``), and the ratios the
  acceptance of issue #17 names: wall time against pflogsumm's, rate against
  the lean loader's, total CPU per attempt, peak RSS.

    .venv/bin/python benchmarks/sendlog_ingest.py [--lines 1000000] [--postgres URL]

Each ingest runs in a child process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.cpu import finished  # noqa: E402
from benchmarks.scratch import admin_url, scratch_postgres, write_floor  # noqa: E402
from bounceledger.config import Settings  # noqa: E402
from bounceledger.db import Database, upgrade  # noqa: E402
from bounceledger.ingest.sendlog import ParseOptions, make_parser  # noqa: E402

HEX = "0123456789ABCDEF"


def _qid(rng: random.Random) -> str:
    return "".join(rng.choice(HEX) for _ in range(11))


def generate(path: Path, target_lines: int, seed: int = 11) -> int:
    """A month of a newsletter MTA: about 4 recipients per message, 3 % bounced, 6 % deferred."""
    rng = random.Random(seed)
    written = 0
    second = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target_lines:
            second += rng.choice((0, 1, 1, 2))
            day, hms = 1 + (second // 86400) % 28, second % 86400
            stamp = f"Nov {day:2d} {hms // 3600:02d}:{hms // 60 % 60:02d}:{hms % 60:02d} mta"
            qid = _qid(rng)
            rcpts = [f"u{rng.randrange(10**7)}@d{rng.randrange(5000)}.example" for _ in range(rng.randint(2, 6))]
            client = f"app{rng.randrange(8)}.internal[10.0.0.{rng.randrange(250)}]"
            lines = [
                f"{stamp} postfix/smtpd[2101]: connect from {client}",
                f"{stamp} postfix/smtpd[2101]: {qid}: client={client}",
                f"{stamp} postfix/cleanup[2102]: {qid}: message-id=<n{rng.getrandbits(60):x}@news.example.com>",
                f"{stamp} postfix/qmgr[990]: {qid}: from=<bounces+{rng.getrandbits(40):x}@news.example.com>, "
                f"size={rng.randrange(5000, 90000)}, nrcpt={len(rcpts)} (queue active)",
                f"{stamp} postfix/smtpd[2101]: disconnect from {client} ehlo=1 mail=1 rcpt={len(rcpts)} data=1 quit=1",
            ]
            for rcpt in rcpts:
                domain = rcpt.split("@")[1]
                relay = f"mx.{domain}[198.51.{rng.randrange(100)}.{rng.randrange(250)}]:25"
                roll = rng.random()
                if roll < 0.91:
                    tail = f"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {_qid(rng)})"
                elif roll < 0.97:
                    tail = (
                        f"dsn=4.7.1, status=deferred (host {relay[:-3]} said: 450 4.7.1 <{rcpt}>: "
                        "Recipient address rejected: Greylisted, try again later (in reply to RCPT TO command))"
                    )
                else:
                    tail = (
                        f"dsn=5.1.1, status=bounced (host {relay[:-3]} said: 550 5.1.1 <{rcpt}>: "
                        "Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))"
                    )
                lines.append(
                    f"{stamp} postfix/smtp[3{rng.randrange(100):02d}]: {qid}: to=<{rcpt}>, relay={relay}, "
                    f"delay=0.9, delays=0.1/0.02/0.3/0.5, {tail}"
                )
            lines.append(f"{stamp} postfix/qmgr[990]: {qid}: removed")
            out.write("\n".join(lines) + "\n")
            written += len(lines)
    return written


def bare_read(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as handle:
        for _ in handle:
            pass
    return time.perf_counter() - started


def parse_only(path: Path) -> tuple[int, int, float]:
    parser = make_parser("postfix", ParseOptions(reference_time=datetime(2026, 11, 30, tzinfo=timezone.utc)))
    lines = attempts = 0
    started = time.perf_counter()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            lines += 1
            attempts += len(parser.feed(line))
    return lines, attempts, time.perf_counter() - started


PFLOGSUMM_CPU: list[float] = []  # CPU seconds of the last pflogsumm run


def pflogsumm(path: Path) -> float | None:
    binary = shutil.which("pflogsumm")
    if binary is None:
        return None
    started = time.perf_counter()
    process = subprocess.Popen([binary, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    PFLOGSUMM_CPU[:] = [usage.ru_utime + usage.ru_stime]
    return time.perf_counter() - started


def ingest(url: str, path: Path, batch: int, module: str = "benchmarks.ingest_child") -> dict[str, float]:
    """One ingest (or the lean loader) in a child process; adds its peak RSS in MB."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, url, str(path), str(batch)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    output, usage = finished(process, f"ingest into {url.split('@')[-1]}")
    result = json.loads(output)
    result["rss_mb"] = usage.ru_maxrss / 1024
    return result


def report_ingest(label: str, result: dict[str, float], pflog: float | None) -> None:
    rate = result["attempts"] / result["seconds"]
    store_rate = result["attempts"] / result["store_seconds"] if result["store_seconds"] else 0.0
    versus = f"; {pflog / result['seconds']:.2f}x pflogsumm's speed" if pflog else ""
    print(
        f"ingest {label:10}: {result['lines']:,} lines, {result['attempts']:,} attempts in {result['seconds']:.1f}s: "
        f"{rate:,.0f} attempts/s end to end ({result['lines'] / result['seconds']:,.0f} lines/s), "
        f"{store_rate:,.0f} attempts/s in the storing thread; peak RSS {result['rss_mb']:.0f} MB{versus}"
    )


def _per_attempt(result: dict[str, float]) -> tuple[float, float]:
    return result["client_cpu"] / result["attempts"] * 1e6, result["server_cpu"] / result["attempts"] * 1e6


def compare(pg: dict[str, float], lean: dict[str, float], pflog: float | None) -> None:
    """The project against the lean loader and pflogsumm, from this run's own figures."""
    rate, lean_rate = pg["attempts"] / pg["seconds"], lean["attempts"] / lean["seconds"]
    client, server = _per_attempt(pg)
    lean_client, lean_server = _per_attempt(lean)
    print(
        f"lean loader     : {lean['attempts']:,} attempts in {lean['seconds']:.1f}s: {lean_rate:,.0f} attempts/s; "
        f"CPU per attempt {lean_client:.1f} us client + {lean_server:.1f} us server = {lean_client + lean_server:.1f} us; "
        f"peak RSS {lean['rss_mb']:.0f} MB  <- the floor for a loader"
    )
    print(
        f"ingest (PG) CPU : {client:.1f} us client + {server:.1f} us server = {client + server:.1f} us per attempt "
        f"(target <= 55); peak RSS {pg['rss_mb']:.0f} MB (target < 200)"
    )
    print(f"ratios          : ingest rate / lean loader rate = {rate / lean_rate:.2f} (target >= 0.8); "
          f"CPU per attempt ingest / lean = {(client + server) / (lean_client + lean_server):.2f}")
    if pflog:
        cpu = f", {PFLOGSUMM_CPU[0]:.1f}s CPU" if PFLOGSUMM_CPU else ""
        print(f"versus pflogsumm: ingest wall {pg['seconds']:.1f}s, pflogsumm {pflog:.1f}s{cpu} on the same file: "
              f"ingest / pflogsumm wall = {pg['seconds'] / pflog:.2f} (target < 1); "
              f"ingest CPU {pg['client_cpu'] + pg['server_cpu']:.1f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--postgres", default=admin_url())
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--no-sqlite", action="store_true", help="leave out the SQLite runs (PostgreSQL figures only)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run pflogsumm, the PostgreSQL ingest and the lean loader this many times, taking turns, "
                         "and compare the fastest of each (wall time on a shared machine varies from minute to minute)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bl-sendlog-bench-"))
    try:
        log = work / "mail.log"
        started = time.perf_counter()
        lines = generate(log, args.lines)
        quarter = work / "mail-quarter.log"
        with log.open("rb") as src, quarter.open("wb") as dst:
            for index, line in enumerate(src):
                if index >= lines // 4:
                    break
                dst.write(line)
        print(f"generated {lines:,} lines ({log.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s")

        read = bare_read(log)
        print(f"bare read       : {read:.2f}s ({lines / read:,.0f} lines/s)  <- the floor")
        parsed_lines, attempts, parse_seconds = parse_only(log)
        print(
            f"parse only      : {parsed_lines / parse_seconds:,.0f} lines/s, {attempts:,} attempts "
            f"({attempts / parse_seconds:,.0f} attempts/s), {parse_seconds / read:.1f}x the bare read"
        )
        pflog = pflogsumm(log)
        print(f"pflogsumm       : {pflog:.1f}s" if pflog else "pflogsumm       : not installed (apt-get install pflogsumm)")
        pflog_cpu = list(PFLOGSUMM_CPU)

        if not args.no_sqlite:
            sqlite_url = f"sqlite:///{work / 'ledger.sqlite'}"
            report_ingest("SQLite", ingest(sqlite_url, log, args.batch), pflog)
        pgs, leans = [], []
        for turn in range(max(1, args.repeat)):
            if turn:
                again = pflogsumm(log)
                if again and pflog and again < pflog:
                    pflog, pflog_cpu = again, list(PFLOGSUMM_CPU)
            with scratch_postgres(args.postgres, f"bounceledger_bench_{os.getpid()}") as pg_url:
                pgs.append(ingest(pg_url, log, args.batch))
                report_ingest("PostgreSQL", pgs[-1], pflog)
                if not turn:
                    pg = pgs[0]
                    rows, floor = write_floor(pg_url, ["sent_messages", "deliveries", "events"])
                    print(
                        f"PostgreSQL floor: writing the same {rows:,} rows with their indexes, server alone, takes "
                        f"{floor:.1f}s: at most {pg['attempts'] / floor:,.0f} attempts/s here for any loader; ingest "
                        f"reached {(pg['attempts'] / pg['seconds']) / (pg['attempts'] / floor):.2f} of it"
                    )
            with scratch_postgres(args.postgres, f"bounceledger_lean_{os.getpid()}") as lean_url:
                schema = Database(Settings(database_url=lean_url))
                upgrade(schema)  # the same tables and indexes as the ingest's
                schema.dispose()
                leans.append(ingest(lean_url, log, args.batch, "benchmarks.lean_loader"))
        if len(pgs) > 1:
            print(f"fastest of {len(pgs)} turns each (ingest, lean loader, pflogsumm taking turns):")
        PFLOGSUMM_CPU[:] = pflog_cpu
        compare(min(pgs, key=lambda r: r["seconds"]), min(leans, key=lambda r: r["seconds"]), pflog)
        if not args.no_sqlite:
            small = ingest(f"sqlite:///{work / 'quarter.sqlite'}", quarter, args.batch)
            print(f"peak RSS for a quarter of the file (SQLite): {small['rss_mb']:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
