"""Sieve / LDA rejections sent as a disposition notification (RFC 5429).

Dovecot's Pigeonhole and other Sieve ``reject`` implementations refuse a
delivered message with a ``multipart/report;
report-type=disposition-notification`` whose ``Disposition`` ends in
``deleted`` and whose text says "Your message to <user@example.org> was
automatically rejected:" followed by the reason (often "Quota exceeded").
It is a bounce, not a read receipt or an auto-reply. The reject text is
whatever the script's owner wrote ("I do not take mail from you."): where
it names no cause, the reason is the structure's own, ``filtered``, the
recipient's own filter refusing the message (RFC 5429 section 2.1: reject
"refuses delivery of a message").
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces.detectors import Failure

_REJECTED = lazy(r"Your message to <?([^<>\s]+@[^<>\s]+?)>? was automatically rejected:?(?P<why>.*)",
                       re.IGNORECASE | re.S)


def detect(msg: Message, body: str) -> list[Failure]:
    if m.param(msg, "report-type") != "disposition-notification":
        return []
    said = _REJECTED.search(body[:5000])
    if not said:
        return []
    address = m.address_of(said.group(1))
    why = m.unfold(said.group("why"))[:1000]
    return [Failure(recipient=address, diagnostic=why, fallback_reason="filtered")] if address else []
