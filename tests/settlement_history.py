"""A ledger history with known late-bounce latencies per first-hop organisation.

Sends are Postfix log lines (``relay=HOST[IP]:25 ... status=sent (250 ...)``)
read by the real parser and stored by the real attempts writer; late bounces
are RFC 3464 reports dated ``latency`` after the 250, quoting the send's
Message-ID, stored by the real returned-mail writer, which ties and corrects
them. Nothing is written to the ledger by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from bounceledger.db import Database
from bounceledger.ingest.attempts import store_attempts
from bounceledger.ingest.returned import Incoming, store_returned_messages
from bounceledger.ingest.sendlog import ParseOptions, make_parser

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
#: Year-less syslog stamps are read relative to this (or a day after the last send).
REFERENCE = datetime(2026, 6, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Send:
    index: int
    recipient: str
    relay: str  # as Postfix logs it: host[ip]:port
    at: datetime

    @property
    def message_id(self) -> str:
        return f"settle-{self.index}@sender.test"

    @property
    def queue_id(self) -> str:
        return f"{0xA0000000 + self.index:X}"


def postfix_lines(send: Send) -> list[str]:
    stamp = f"{send.at:%b} {send.at.day:2d} {send.at:%H:%M:%S}"
    qid = send.queue_id
    return [
        f"{stamp} mta postfix/cleanup[200]: {qid}: message-id=<{send.message_id}>",
        f"{stamp} mta postfix/qmgr[201]: {qid}: from=<bounces@sender.test>, size=900, nrcpt=1 (queue active)",
        f"{stamp} mta postfix/smtp[202]: {qid}: to=<{send.recipient}>, relay={send.relay}, delay=0.4, "
        f"delays=0.1/0/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as Q{send.index})",
    ]


def record_sends(database: Database, sends: Sequence[Send]) -> None:
    # year-less syslog stamps are read as the year before this reference
    reference = max([REFERENCE, *(send.at + timedelta(days=1) for send in sends)])
    parser = make_parser("postfix", ParseOptions(reference_time=reference))
    attempts = [a for send in sends for line in postfix_lines(send) for a in parser.feed(line + "\n")]
    assert len(attempts) == len(sends)
    with database.session() as session:
        store_attempts(session, attempts, "postfix:test", database.rules)


def late_bounce(send: Send, at: datetime) -> bytes:
    """The remote gateway's non-delivery report, written at ``at``."""
    return "\r\n".join(
        [
            "From: Mail Delivery System <MAILER-DAEMON@gateway.example>",
            "To: bounces@sender.test",
            f"Date: {format_datetime(at)}",
            f"Message-ID: <ndr-{send.index}-{int(at.timestamp())}@gateway.example>",
            "Subject: Undeliverable: hello",
            "MIME-Version: 1.0",
            'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
            "",
            "--B",
            "Content-Type: text/plain",
            "",
            "Your message could not be delivered.",
            "",
            "--B",
            "Content-Type: message/delivery-status",
            "",
            "Reporting-MTA: dns; gateway.example",
            "",
            f"Final-Recipient: rfc822; {send.recipient}",
            "Action: failed",
            "Status: 5.1.1",
            f"Diagnostic-Code: smtp; 550 5.1.1 <{send.recipient}>: user unknown",
            "",
            "--B",
            "Content-Type: text/rfc822-headers",
            "",
            "From: news@sender.test",
            f"To: {send.recipient}",
            "Subject: hello",
            f"Message-ID: <{send.message_id}>",
            "",
            "--B--",
            "",
        ]
    ).encode()


def record_bounces(database: Database, bounces: Sequence[tuple[Send, datetime]], batch: int = 100) -> None:
    for start in range(0, len(bounces), batch):
        with database.session() as session:
            store_returned_messages(
                session,
                [Incoming(late_bounce(send, at), "maildir:test", f"ndr-{send.index}") for send, at in bounces[start:start + batch]],
                database.rules,
            )


# ----------------------------------------------------------------- organisations with known latencies


@dataclass(frozen=True, slots=True)
class Organisation:
    """A first-hop organisation whose late bounces follow a known distribution."""

    domain: str
    relays: tuple[str, ...]
    samples: int
    quantile: object  # Callable[[float], float]: minutes at probability u

    def minutes(self) -> list[float]:
        """Stratified draws: the quantile function at (i + 0.5) / n, so the truth is exactly known."""
        return [self.quantile((i + 0.5) / self.samples) for i in range(self.samples)]  # type: ignore[operator]

    def truth(self, p: float) -> float:
        return self.quantile(p / 100)  # type: ignore[operator,no-any-return]


def _exponential(mean: float) -> object:
    return lambda u: -mean * math.log(1 - u)


def _uniform(low: float, high: float) -> object:
    return lambda u: low + (high - low) * u


PROOFPOINT = Organisation(
    "pphosted.com",
    ("mx0a-001a2b3c.pphosted.com[148.163.1.10]:25", "mx0b-001a2b3c.pphosted.com.[148.163.2.10]:25"),
    200,
    _exponential(30.0),
)
MIMECAST = Organisation(
    "mimecast.com", ("eu-smtp-inbound-1.mimecast.com[195.130.217.1]:25", "eu-smtp-inbound-2.mimecast.com[195.130.217.2]:25"),
    60, _uniform(10.0, 70.0),
)
OUTLOOK = Organisation(  # too few late bounces to learn from: the default window holds
    "outlook.com", ("contoso-com.mail.protection.outlook.com[52.101.68.1]:25",), 5, _uniform(1.0, 5.0),
)
ORGANISATIONS = (PROOFPOINT, MIMECAST, OUTLOOK)


def history(database: Database, start: datetime = T0) -> list[Send]:
    """Every organisation's sends, each overturned by a bounce at its known latency.

    Sends are two minutes apart, so deliveries of one organisation never
    share a recipient's time window with another's.
    """
    sends: list[Send] = []
    bounces: list[tuple[Send, datetime]] = []
    index = 0
    for org in ORGANISATIONS:
        for n, minutes in enumerate(org.minutes()):
            send = Send(index, f"user{index}@{org.domain.split('.')[0]}-customer.example", org.relays[n % len(org.relays)],
                        start + timedelta(minutes=2 * index))
            sends.append(send)
            bounces.append((send, send.at + timedelta(minutes=minutes)))
            index += 1
    record_sends(database, sends)
    record_bounces(database, bounces)
    return sends
