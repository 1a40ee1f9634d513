"""Parse-only throughput of every send-log format but Postfix (which has
``sendlog_parse.py``).

Generates a synthetic, realistically mixed log per format in memory (Exim
main log, Sendmail syslog, PowerMTA accounting CSV, bounceledger JSON lines,
KumoMTA JSON lines), feeds it through ``make_parser(fmt, ...)`` and prints
lines per second.

    PYTHONPATH=. python benchmarks/sendlog_formats.py [--lines 300000] [--format exim]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone

from bounceledger.ingest.sendlog import ParseOptions, make_parser

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b62(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(B62) for _ in range(n))


def _outcome(rng: random.Random) -> str:
    roll = rng.random()
    return "sent" if roll < 0.85 else ("deferred" if roll < 0.93 else "bounced")


def exim(rng: random.Random, target: int) -> list[str]:
    out: list[str] = []
    second = 0
    while len(out) < target:
        second += rng.choice((0, 0, 1))
        stamp = f"2026-11-{1 + second // 86400 % 28:02d} {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        mid = f"{_b62(rng, 6)}-{_b62(rng, 6)}-{_b62(rng, 2)}"
        out.append(f"{stamp} SMTP connection from app{rng.randrange(9)}.internal [10.0.0.{rng.randrange(250)}]:41234 I=[10.0.0.1]:25 (TCP/IP connection count = 3)")
        out.append(
            f"{stamp} {mid} <= bounces+{rng.getrandbits(40):x}@example.com H=app.internal (app) [10.0.0.5]:41234 "
            f"I=[10.0.0.1]:25 P=esmtp S={rng.randrange(900, 90000)} id={rng.getrandbits(64):x}@app.example.com"
        )
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            rcpt = f"user{rng.randrange(10**6)}@example{rng.randrange(50)}.net"
            host = f"mx{rng.randrange(4)}.example{rng.randrange(50)}.net [203.0.113.{rng.randrange(250)}]:25"
            o = _outcome(rng)
            if o == "sent":
                out.append(
                    f"{stamp} {mid} => {rcpt} R=dnslookup T=remote_smtp H={host} X=TLS1.3:TLS_AES_256_GCM_SHA384:256 "
                    f'CV=yes K C="250 2.0.0 OK id={_b62(rng, 6)}-{_b62(rng, 6)}-{_b62(rng, 2)}"'
                )
            elif o == "deferred":
                out.append(
                    f"{stamp} {mid} == {rcpt} R=dnslookup T=remote_smtp defer (-44) H={host}: SMTP error from remote "
                    f"mail server after RCPT TO:<{rcpt}>: 450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted"
                )
            else:
                out.append(
                    f"{stamp} {mid} ** {rcpt} R=dnslookup T=remote_smtp H={host}: SMTP error from remote mail server "
                    f"after RCPT TO:<{rcpt}>: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"
                )
        out.append(f"{stamp} {mid} Completed")
    return out


def sendmail(rng: random.Random, target: int) -> list[str]:
    out: list[str] = []
    second = 0
    while len(out) < target:
        second += rng.choice((0, 0, 1))
        stamp = f"Nov {1 + second // 86400 % 28:2d} {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d} mta"
        qid = f"4AR{_b62(rng, 5)}{rng.randrange(10**6):06d}"
        out.append(f"{stamp} sm-mta[2301]: STARTTLS=server, relay=app.internal [10.0.0.5], version=TLSv1.3, verify=NO, cipher=TLS_AES_256_GCM_SHA384, bits=256/256")
        out.append(
            f"{stamp} sm-mta[2301]: {qid}: from=<bounces+{rng.getrandbits(40):x}@example.com>, size={rng.randrange(900, 90000)}, "
            f"class=0, nrcpts=1, msgid=<{rng.getrandbits(64):x}@app.example.com>, proto=ESMTP, daemon=MTA, relay=app.internal [10.0.0.5]"
        )
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            rcpt = f"user{rng.randrange(10**6)}@example{rng.randrange(50)}.net"
            relay = f"mx{rng.randrange(4)}.example{rng.randrange(50)}.net. [203.0.113.{rng.randrange(250)}]"
            o = _outcome(rng)
            tail = {
                "sent": "dsn=2.0.0, stat=Sent (Ok: queued as 4TqWzK1Jc9z2xRm)",
                "deferred": f"dsn=4.7.1, stat=Deferred: 450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted",
                "bounced": "dsn=5.1.1, stat=User unknown",
            }[o]
            out.append(
                f"{stamp} sm-mta[2310]: {qid}: to=<{rcpt}>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, "
                f"pri=120000, relay={relay}, {tail}"
            )
    return out


HEADER = (
    "type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcType,srcMta,"
    "dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,envId,queue,vmtaPool,header_Message-Id"
)


def pmta(rng: random.Random, target: int) -> list[str]:
    out = [HEADER]
    t = 1_764_000_000
    while len(out) < target:
        t += rng.choice((0, 0, 1))
        rcpt = f"user{rng.randrange(10**6)}@example{rng.randrange(50)}.net"
        o = _outcome(rng)
        kind, action, status, diag, cat = {
            "sent": ("d", "relayed", "2.0.0 (success)", "smtp;250 2.0.0 OK", ""),
            "deferred": ("t", "delayed", "4.7.1 (delivery not authorized)", "smtp;450 4.7.1 Greylisted, try later", "policy-related"),
            "bounced": ("b", "failed", "5.1.1 (bad destination mailbox address)", '"smtp;550 5.1.1 <x>: User unknown, ""sorry"""', "bad-mailbox"),
        }[o]
        out.append(
            f"{kind},{t},{t - 5},bounces@example.com,{rcpt},,{action},{status},{diag},"
            f"mx{rng.randrange(4)}.example.net (203.0.113.{rng.randrange(250)}),{cat},smtp,app (10.0.0.5),smtp,"
            f'192.0.2.10,203.0.113.{rng.randrange(250)},"PIPELINING,8BITMIME,SIZE",{rng.randrange(900, 90000)},'
            f"vmta1,job-{rng.randrange(100)},,example.net/vmta1,pool1,<{rng.getrandbits(64):x}@app.example.com>"
        )
    return out


def jsonl(rng: random.Random, target: int) -> list[str]:
    out: list[str] = []
    t = 1_764_000_000
    while len(out) < target:
        t += rng.choice((0, 0, 1))
        rcpt = f"user{rng.randrange(10**6)}@example{rng.randrange(50)}.net"
        o = _outcome(rng)
        code, status, text = {
            "sent": (250, "2.0.0", "OK queued as 4TqWzK1Jc9z2xRm"),
            "deferred": (450, "4.7.1", "Greylisted"),
            "bounced": (550, "5.1.1", "User unknown"),
        }[o]
        out.append(json.dumps({
            "time": t, "queue_id": _b62(rng, 12), "message_id": f"{rng.getrandbits(64):x}@app.example.com",
            "sender": "bounces@example.com", "recipient": rcpt, "relay_host": "mx1.example.net",
            "relay_ip": f"203.0.113.{rng.randrange(250)}", "relay_port": 25, "replycode": code,
            "status": status, "text": text,
        }))
    return out


def kumo(rng: random.Random, target: int) -> list[str]:
    out: list[str] = []
    t = 1_764_000_000
    while len(out) < target:
        t += rng.choice((0, 0, 1))
        rcpt = f"user{rng.randrange(10**6)}@example{rng.randrange(50)}.net"
        o = _outcome(rng)
        rtype, code, cls, sub, det, text = {
            "sent": ("Delivery", 250, 2, 0, 0, "OK ids=8a5475ccbbc611eda12250ebf67f93bd"),
            "deferred": ("TransientFailure", 450, 4, 7, 1, "Greylisted"),
            "bounced": ("Bounce", 550, 5, 1, 1, "User unknown"),
        }[o]
        out.append(json.dumps({
            "type": rtype, "id": f"{rng.getrandbits(128):032x}", "sender": "bounces@example.com", "recipient": rcpt,
            "queue": "example.net", "site": "pool0->mx1.example.net", "size": 1047,
            "response": {"code": code, "enhanced_code": {"class": cls, "subject": sub, "detail": det},
                         "content": text, "command": "RCPT TO"},
            "peer_address": {"name": "mx1.example.net.", "addr": f"203.0.113.{rng.randrange(250)}"},
            "timestamp": t, "created": t - 3, "num_attempts": 0, "bounce_classification": "Uncategorized",
            "egress_pool": "pool0", "egress_source": "source1", "feedback_report": None, "meta": {},
            "headers": {}, "delivery_protocol": "ESMTP", "reception_protocol": "ESMTP",
            "nodeid": "557f3ad4-2c8c-11ee-976e-782d7e12e173",
        }))
    return out


GENERATORS: dict[str, tuple[str, Callable[[random.Random, int], list[str]]]] = {
    "exim": ("exim", exim),
    "sendmail": ("sendmail", sendmail),
    "pmta": ("pmta", pmta),
    "jsonl": ("jsonl", jsonl),
    "kumo": ("jsonl", kumo),
}


def run(name: str, lines: int, tz: str) -> None:
    fmt, gen = GENERATORS[name]
    data = [line + "\n" for line in gen(random.Random(7), lines)]
    options = ParseOptions(reference_time=datetime(2026, 12, 1, tzinfo=timezone.utc), timezone=tz)
    parser = make_parser(fmt, options)
    feed = parser.feed
    attempts = 0
    start = time.perf_counter()
    for line in data:
        attempts += len(feed(line))
    elapsed = time.perf_counter() - start
    print(
        f"{name:9s} {len(data):>9,} lines, {attempts:>9,} attempts in {elapsed:5.2f}s: "
        f"{len(data) / elapsed:>9,.0f} lines/s (skipped {parser.skipped})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--tz", default="UTC")
    ap.add_argument("--format", choices=sorted(GENERATORS), action="append")
    args = ap.parse_args()
    for name in args.format or list(GENERATORS):
        run(name, args.lines, args.tz)


if __name__ == "__main__":
    main()
