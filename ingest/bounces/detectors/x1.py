"""A Japanese ISP relay ("Mail Deliver System") with a one-line-per-recipient notice.

    ---The following addresses had delivery errors---

    user@example.org [User unknown]

The words in brackets are the relay's summary of the refusal; it does not
say at which SMTP stage the refusal came.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_HEAD = quick(lazy(r"^-{2,}\s*The following addresses had delivery errors\s*-{2,}\s*$", re.IGNORECASE | re.M))
_ITEM = lazy(r"^[ \t]*<?(\S+@[^\s>]+)>?\s+\[(.+)\]\s*$", re.M)


def detect(msg: Message, body: str) -> list[Failure]:
    head = _HEAD.search(body)
    if not head:
        return []
    section = body[head.end(): head.end() + 8000]
    failures: list[Failure] = []
    for match in _ITEM.finditer(section):
        address = m.address_of(match.group(1))
        if address and all(f.recipient != address for f in failures):
            failures.append(Failure(recipient=address, diagnostic=m.unfold(match.group(2)), stage_unknown=True))
    return failures
