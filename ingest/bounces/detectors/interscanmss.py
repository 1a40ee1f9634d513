"""Trend Micro InterScan Messaging Security Suite (MSS) delivery notices.

The gateway writes its own notice ("Message from InterScan Messaging
Security Suite", subject "Mail could not be delivered") with one line per
destination domain: "Unable to deliver message to <a@b> (and other
recipients in the same domain)." That line is InterScan's wording for a
recipient the next hop refused; when the notice adds no server reply of its
own, the address is taken as unknown there. Notices that quote an SMTP
transcript ("Sent <<< RCPT TO:<a@b>" / "Received >>> 550 5.1.1 ...") above
that line carry the server's reply, which is then the diagnostic.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.classify import reason_from_text
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import notice

_SIGNATURE = quick(lazy(r"InterScan (?:Messaging Security Suite|MSS)", re.IGNORECASE))
_LINE = quick(lazy(r"Unable to deliver message to <([^<>\s]+@[^<>\s]+)>[^\n]*", re.IGNORECASE))
_SENT = lazy(r"^[ \t]*Sent <<< (RCPT|MAIL|DATA)\b[^\n]*\n[ \t]*Received >>> ([^\n]+)", re.IGNORECASE | re.M)
_REPLY = lazy(r"(?<![\d.])[45]\d\d[ \-]|[45]\.\d{1,3}\.\d{1,3}")


def detect(msg: Message, body: str) -> list[Failure]:
    head = body[:4000]
    if not _SIGNATURE.search(head) and not _SIGNATURE.search(m.header(msg, "From")):
        return []
    text = notice(body)
    failures: list[Failure] = []
    for match in _LINE.finditer(text):
        address = m.address_of(match.group(1))
        if not address or any(f.recipient == address for f in failures):
            continue
        said = m.unfold(match.group(0))
        sent = None
        for sent in _SENT.finditer(text, 0, match.start()):
            pass  # the last exchange before this recipient's line
        if sent is not None:
            failures.append(Failure(recipient=address, diagnostic=m.unfold(sent.group(2)),
                                    command=sent.group(1).upper()))
            continue
        failures.append(Failure(recipient=address, diagnostic=said,
                                reason=None if _REPLY.search(said) or reason_from_text(said) else "userunknown"))
    return failures
