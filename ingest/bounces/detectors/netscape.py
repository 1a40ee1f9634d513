"""Netscape Messaging Server (and the mailers that kept its wording).

The reason comes first, in prose, then one or more recipient lists::

    Your message was not delivered within 2 days.
    Host example.org is not responding.

    The following recipients did not receive your message:

         <user@example.org>

The delivery-status part, when there is one, often has no recipient
block, so the text is all there is.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import notice

_LIST = quick(lazy(r"^[ \t]*The following recipients did not receive (?:this|your) message:\s*$", re.IGNORECASE | re.M))
_ITEM = lazy(r"^[ \t]*<([^<>\s]+@[^<>\s]+)>\s*$", re.M)
_CLOSING = lazy(r"^[ \t]*Please reply to \S+", re.IGNORECASE | re.M)


def detect(msg: Message, body: str) -> list[Failure]:
    text = notice(body)
    lists = list(_LIST.finditer(text))
    if not lists:
        return []
    said = m.unfold(text[: lists[0].start()])
    said = re.sub(r"^This Message was undeliverable due to the following reason:\s*", "", said, flags=re.I)
    end = _CLOSING.search(text, lists[-1].end())
    addresses = [a for a in (m.address_of(x) for x in _ITEM.findall(text, lists[0].end(), end.start() if end else len(text)))
                 if a]
    return [Failure(recipient=a, diagnostic=said[-1000:]) for a in dict.fromkeys(addresses)]
