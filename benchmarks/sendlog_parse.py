"""Parse-only throughput of the Postfix send-log parser.

Writes a synthetic but realistically mixed Postfix log to /tmp (smtpd
connect/disconnect, cleanup, qmgr, TLS chatter, smtp deliveries that are
sent, deferred and bounced, expiries, removals) and reports lines per second
for feeding it through ``make_parser("postfix", ...)``.

    PYTHONPATH=. python benchmarks/sendlog_parse.py [--lines 1000000] [--tz UTC] [--repeat 3]
        [--ingest-log]

``--ingest-log`` measures the log of benchmarks/sendlog_ingest.py instead
(the 1M-line newsletter log the ingest target is stated for). On a shared
machine take the best of several ``--repeat``s: the others' load only ever
makes a run slower.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timezone
from pathlib import Path

from bounceledger.ingest.sendlog import ParseOptions, make_parser


def _qid(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(11))


def generate(path: Path, target_lines: int, seed: int = 7) -> int:
    """Write about ``target_lines`` lines; returns the exact count."""
    rng = random.Random(seed)
    written = 0
    second = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target_lines:
            second += rng.choice((0, 0, 1))
            day, hms = 1 + (second // 86400) % 28, second % 86400
            stamp = f"Nov {day:2d} {hms // 3600:02d}:{hms // 60 % 60:02d}:{hms % 60:02d} mta"
            qid = _qid(rng)
            nrcpt = rng.choice((1, 1, 1, 2, 3, 5))
            client = f"app{rng.randrange(9)}.internal[10.0.0.{rng.randrange(250)}]"
            mx = f"mx{rng.randrange(4)}.example.net[203.0.113.{rng.randrange(250)}]:25"
            lines = [
                f"{stamp} postfix/smtpd[1201]: connect from {client}",
                f"{stamp} postfix/smtpd[1201]: {qid}: client={client}",
                f"{stamp} postfix/cleanup[1202]: {qid}: message-id=<{rng.getrandbits(64):x}@app.example.com>",
                f"{stamp} postfix/qmgr[1100]: {qid}: from=<bounces+{rng.getrandbits(40):x}@example.com>, "
                f"size={rng.randrange(900, 90000)}, nrcpt={nrcpt} (queue active)",
                f"{stamp} postfix/smtpd[1201]: disconnect from {client} ehlo=1 mail=1 rcpt={nrcpt} data=1 "
                f"quit=1 commands={4 + nrcpt}",
                f"{stamp} postfix/smtp[1300]: Trusted TLS connection established to {mx}: TLSv1.3 "
                "with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            ]
            for _ in range(nrcpt):
                rcpt = f"user{rng.randrange(10**6)}@example{rng.randrange(50)}.net"
                relay = f"mx{rng.randrange(4)}.example{rng.randrange(50)}.net[203.0.113.{rng.randrange(250)}]:25"
                roll = rng.random()
                if roll < 0.85:
                    tail = f"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {_qid(rng)})"
                elif roll < 0.93:
                    tail = (
                        "dsn=4.7.1, status=deferred (host mx.example.net[203.0.113.9] said: 450 4.7.1 "
                        f"<{rcpt}>: Recipient address rejected: Greylisted (in reply to RCPT TO command))"
                    )
                else:
                    tail = (
                        "dsn=5.1.1, status=bounced (host mx.example.net[203.0.113.9] said: 550 5.1.1 "
                        f"<{rcpt}>: Recipient address rejected: User unknown (in reply to RCPT TO command))"
                    )
                lines.append(
                    f"{stamp} postfix/smtp[1300]: {qid}: to=<{rcpt}>, relay={relay}, "
                    f"delay=0.4, delays=0.1/0.01/0.1/0.2, {tail}"
                )
            if rng.random() < 0.01:
                lines.append(
                    f"{stamp} postfix/qmgr[1100]: {qid}: from=<bounces@example.com>, status=expired, returned to sender"
                )
            if rng.random() < 0.05:
                lines.append(f"{stamp} postfix/smtp[1300]: warning: TLS library problem: unexpected eof while reading")
            lines.append(f"{stamp} postfix/qmgr[1100]: {qid}: removed")
            out.write("\n".join(lines))
            out.write("\n")
            written += len(lines)
    return written


def run(path: Path, tz: str) -> float:
    """One parse of the whole file; prints and returns lines per second."""
    options = ParseOptions(reference_time=datetime(2026, 12, 1, tzinfo=timezone.utc), timezone=tz)
    with path.open(encoding="utf-8") as fh:
        lines = fh.readlines()  # keep file I/O out of the measurement
    parser = make_parser("postfix", options)
    feed = parser.feed
    attempts = 0
    start = time.perf_counter()
    for line in lines:
        attempts += len(feed(line))
    elapsed = time.perf_counter() - start
    rate = len(lines) / elapsed
    print(
        f"{len(lines):,} lines, {attempts:,} attempts in {elapsed:.2f}s: "
        f"{rate:,.0f} lines/s (skipped {parser.skipped}, tz {tz})"
    )
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--tz", default="UTC")
    ap.add_argument("--path", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=1, help="runs; the best is reported")
    ap.add_argument(
        "--ingest-log", action="store_true", help="the log of benchmarks/sendlog_ingest.py"
    )
    args = ap.parse_args()
    kind = "ingest" if args.ingest_log else "parse"
    path = args.path or Path(f"/tmp/bounceledger-sendlog-{kind}-bench-{args.lines}.log")
    if not path.exists() or path.stat().st_size == 0:
        if args.ingest_log:
            from benchmarks.sendlog_ingest import generate as generate_ingest_log

            generate_ingest_log(path, args.lines)
        else:
            generate(path, args.lines)
    best = max(run(path, args.tz) for _ in range(max(1, args.repeat)))
    if args.repeat > 1:
        print(f"best of {args.repeat}: {best:,.0f} lines/s")


if __name__ == "__main__":
    main()
