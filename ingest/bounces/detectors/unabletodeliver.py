"""Yahoo's legacy (qmail-derived) mailer and its look-alikes.

"Message from example.com. Unable to deliver message to the following
address(es)." (today: "Sorry, we were unable to deliver your message to the
following address.") then each address in angle brackets followed by a colon and
the reason on the next lines, until "--- Original message follows.". When
the message sat in the queue too long the reason ends with qmail's "I'm not
going to try again; this message has been in the queue too long."
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_START = quick(lazy(r"^(?:Unable to deliver message to the following address\(es\)"
                          r"|Sorry, we were unable to deliver your message to the following address(?:\(es\)|es)?)\.?\s*$",
                          re.IGNORECASE | re.M))
_END = quick(lazy(r"^-{2,}\s*(?:Original message follows|Forwarded message|Below this line is a copy)", re.IGNORECASE | re.M))
_ADDRESS = lazy(r"^<([^<>\s]+@[^<>\s]+)>:\s*$", re.M)
_TEMPORARY_CODE = lazy(r"(?<![\d.])4\.\d{1,3}\.\d{1,3}\b|(?<!\d)4\d\d(?!\d)")
_PERMANENT_CODE = lazy(r"(?<![\d.])5\.\d{1,3}\.\d{1,3}\b|(?<![\d:.])5\d\d(?![\d:])")
_GAVE_UP = lazy(r"not going to try again|in the queue too long", re.IGNORECASE)


def detect(msg: Message, body: str) -> list[Failure]:
    start = _START.search(body)
    if not start:
        return []
    end = _END.search(body, start.end())
    section = body[start.end(): end.start() if end else start.end() + 8000]
    heads = list(_ADDRESS.finditer(section))
    failures: list[Failure] = []
    for index, head in enumerate(heads):
        stop = heads[index + 1].start() if index + 1 < len(heads) else len(section)
        text = m.unfold(section[head.end(): stop])
        address = m.address_of(head.group(1))
        if not address:
            continue
        gave_up = bool(_GAVE_UP.search(text))
        temporary_code = bool(_TEMPORARY_CODE.search(text))
        # Queue lifetime ran out: with the last temporary code, the cause is
        # read from it; with none, the expiry is all that is known.
        failures.append(Failure(recipient=address, diagnostic=text, gave_up=gave_up and temporary_code,
                                reason="expired" if gave_up and not temporary_code and not _PERMANENT_CODE.search(text)
                                else None))
    return failures
