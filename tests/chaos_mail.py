"""Made-up mail traffic for the several-workers test: Postfix log lines and the
DSNs that come back for some of them, in a seeded, reproducible plan.

Each message has a few recipients, each with a fate: accepted; deferred then
accepted; deferred for hours (the expiry job gives up on it); accepted then
bounced (a correction); refused outright; or deferred, then (seconds later,
in :func:`late_lines`) accepted on a retry while its bounce arrives at the
same moment: a delivery already in the ledger that a send-log reader and a
mailbox poller both change at once. A bounce may be written to a mailbox
before the log line it corrects (an unmatched verdict, tied later).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

FATES = ("accepted", "deferred-then-accepted", "deferred-long", "accepted-then-bounced", "refused", "retried-then-bounced")
FATE_WEIGHTS = (5, 2, 1, 3, 1, 2)
#: Fates whose recipient gets a bounce back.
BOUNCED = ("accepted-then-bounced", "retried-then-bounced")


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    fate: str


@dataclass(slots=True)
class Message:
    number: int
    log: int  # which send log
    mailbox: int  # which mailbox its bounces go to
    sent_at: datetime
    recipients: list[Recipient] = field(default_factory=list)

    @property
    def message_id(self) -> str:
        return f"chaos-{self.number}@sender.test"

    @property
    def queue_id(self) -> str:
        return f"C{self.number:09X}"


def _stamp(at: datetime) -> str:
    return f"{at:%b} {at.day:2d} {at:%H:%M:%S}"


def log_lines(message: Message) -> list[str]:
    """The message's lines, as Postfix writes them (its delivery attempts in order)."""
    at, qid = message.sent_at, message.queue_id
    lines = [
        f"{_stamp(at)} mta postfix/cleanup[200]: {qid}: message-id=<{message.message_id}>",
        f"{_stamp(at)} mta postfix/qmgr[201]: {qid}: from=<bounces@sender.test>, size=900, nrcpt={len(message.recipients)} (queue active)",
    ]
    later = at + timedelta(minutes=10)
    for r in message.recipients:
        if r.fate in ("deferred-then-accepted", "deferred-long", "retried-then-bounced"):
            lines.append(_attempt(at, qid, r.address, "deferred"))
    for r in message.recipients:
        if r.fate == "refused":
            lines.append(_attempt(at, qid, r.address, "bounced"))
        elif r.fate in ("accepted", "accepted-then-bounced"):
            lines.append(_attempt(at, qid, r.address, "sent"))
        elif r.fate == "deferred-then-accepted":
            lines.append(_attempt(later, qid, r.address, "sent"))
    return lines


def late_lines(message: Message) -> list[str]:
    """The retries Postfix logs later: ``retried-then-bounced`` recipients accepted at last."""
    later = message.sent_at + timedelta(minutes=5)
    return [_attempt(later, message.queue_id, r.address, "sent") for r in message.recipients if r.fate == "retried-then-bounced"]


def _attempt(at: datetime, qid: str, address: str, status: str) -> str:
    relay = "mx.example.test[192.0.2.10]:25"
    answer = {
        "sent": ("2.0.0", "250 2.0.0 Ok: queued as R" + qid),
        "deferred": ("4.2.0", "host mx.example.test[192.0.2.10] said: 451 4.2.0 try again later (in reply to RCPT TO command)"),
        "bounced": ("5.1.1", "host mx.example.test[192.0.2.10] said: 550 5.1.1 <" + address + ">: user unknown (in reply to RCPT TO command)"),
    }[status]
    return (
        f"{_stamp(at)} mta postfix/smtp[202]: {qid}: to=<{address}>, relay={relay}, delay=0.2, "
        f"delays=0.1/0/0/0.1, dsn={answer[0]}, status={status} ({answer[1]})"
    )


def dsn(message: Message, recipient: Recipient) -> bytes:
    """The bounce the remote domain sends back, quoting the original's headers."""
    at = message.sent_at + timedelta(minutes=6)
    boundary = f"b{message.number}x{abs(hash(recipient.address)) % 10**8}"
    text = f"""\
Return-Path: <>
Date: {format_datetime(at)}
From: Mail Delivery System <MAILER-DAEMON@example.test>
Subject: Undelivered Mail Returned to Sender
To: bounces@sender.test
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"
Message-Id: <dsn-{message.number}-{recipient.address}>

--{boundary}
Content-Type: text/plain; charset=us-ascii

<{recipient.address}>: host mx2.example.test[192.0.2.20] said: 550 5.1.1
    <{recipient.address}>: user unknown

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.test
Arrival-Date: {format_datetime(message.sent_at)}

Final-Recipient: rfc822; {recipient.address}
Original-Recipient: rfc822;{recipient.address}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx2.example.test
Diagnostic-Code: smtp; 550 5.1.1 <{recipient.address}>: user unknown

--{boundary}
Content-Type: text/rfc822-headers

From: news@sender.test
To: {recipient.address}
Subject: news {message.number}
Message-ID: <{message.message_id}>
Date: {format_datetime(message.sent_at)}

--{boundary}--
"""
    return text.replace("\n", "\r\n").encode()


def plan(
    seed: int, messages: int, logs: int, mailboxes: int, now: datetime | None = None, *, racing: bool = True
) -> list[Message]:
    """``messages`` messages spread over the logs and mailboxes; ``deferred-long`` ones
    were sent hours ago (so the expiry job has work), the others in the last minutes.
    ``racing=False`` leaves out ``retried-then-bounced``."""
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    weights = [w if racing or fate != "retried-then-bounced" else 0 for fate, w in zip(FATES, FATE_WEIGHTS)]
    made = []
    for number in range(messages):
        count = rng.randint(1, 4)
        fates = rng.choices(FATES, weights, k=count)
        if "deferred-long" in fates:  # hours old, deferred only: nothing else of it may race the expiry
            fates = ["deferred-long"] * count
        sent_at = now - (timedelta(hours=3) if "deferred-long" in fates else timedelta(seconds=rng.randint(60, 600)))
        message = Message(number, rng.randrange(logs), rng.randrange(mailboxes), sent_at.replace(microsecond=0))
        message.recipients = [Recipient(f"r{number}-{j}@example.test", fate) for j, fate in enumerate(fates)]
        made.append(message)
    return made
