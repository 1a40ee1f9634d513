"""A boxed "automatically generated Delivery Status Notification".

Some gateways write a notice framed by rows of ``=``::

    This is an automatically generated Delivery Status Notification.
    Delivery to the following recipients failed permanently:
       * user@example.org
    Technical details:
    SMTP:RCPT host 192.0.2.1: 553 5.3.0 <user@example.org>... No such user here

or "... was aborted after 5.0 hour(s)" when the retry time ran out (the
"Delevery" misspelling is theirs). A notice with no technical details says
nothing about the cause.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_SIGNATURE = quick(lazy(r"This is an automatically generated Delivery Status Notification", re.IGNORECASE))
_HEAD = quick(lazy(r"^[ \t]*Del[ei]very to the following recipients? (?P<how>failed permanently|was aborted after [\d.]+ hour)",
                         re.IGNORECASE | re.M))
_ITEM = lazy(r"^[ \t]*\*\s*(\S+@\S+)\s*$", re.M)
_DETAILS = quick(lazy(r"^[ \t]*Technical details:\s*$", re.IGNORECASE | re.M))
_RULE = quick(lazy(r"^={10,}\s*$|^-{10,}", re.M))
_SMTP_COMMAND = lazy(r"\bSMTP:(RCPT|MAIL|DATA)\b", re.IGNORECASE)


def detect(msg: Message, body: str) -> list[Failure]:
    if not _SIGNATURE.search(body[:3000]):
        return []
    head = _HEAD.search(body)
    if not head:
        return []
    listed_end = _RULE.search(body, head.end())
    listed = body[head.end(): listed_end.start() if listed_end else head.end() + 4000]
    addresses = [a for a in (m.address_of(x) for x in _ITEM.findall(listed)) if a]
    details = _DETAILS.search(body, head.end())
    text = ""
    if details:
        stop = _RULE.search(body, details.end())
        text = m.unfold(body[details.end(): stop.start() if stop else details.end() + 4000])
    expired = head.group("how").lower().startswith("was aborted")
    command = _SMTP_COMMAND.search(text)
    return [Failure(recipient=a, diagnostic=text, reason="expired" if expired else None,
                    command=command.group(1).upper() if command else None)
            for a in dict.fromkeys(addresses)]
