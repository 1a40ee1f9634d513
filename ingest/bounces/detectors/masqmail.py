"""masqmail's failure and delay notices (tpl/failmsg.tpl, tpl/warnmsg.tpl).

"Delivery to the following recipients failed permanently and has been given up:" (or, in
a warning, "Delivery to the following recipients has been defered"), then one address
per line, then "This error message may give you a hint about what caused the failure:"
and one error for all of them (the template's ${err_msg})::

    Delivery to the following recipients failed permanently and has been given
    up:

    ann@example.org
    bob@example.org

    This error message may give you a hint about what caused the
    failure:

    host=mx.example.org: 550 5.1.1 ... User unknown
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_LIST = quick(lazy(r"Delivery to the following recipients (?P<how>failed permanently and has been given\s+up|has been defer+ed)\s*:?",
                   re.IGNORECASE))
_CAUSE = lazy(r"This error message may give you a hint about what caused the\s+(?:failure|problem)\s*:?", re.IGNORECASE)
_END = lazy(r"^\s*(?:If you need help|Your message follows)", re.IGNORECASE | re.M)


def detect(msg: Message, body: str) -> list[Failure]:
    head = _LIST.search(body[:20_000])
    if not head:
        return []
    cause = _CAUSE.search(body, head.end())
    listed = body[head.end(): cause.start() if cause else head.end() + 100_000]
    addresses = [a for a in (m.address_of(line) for line in listed.splitlines() if line.strip()) if a]
    if not addresses:
        return []
    said = ""
    if cause:
        end = _END.search(body, cause.end())
        said = m.unfold(body[cause.end(): end.start() if end else cause.end() + 2000]).strip()
    temporary = "defer" in head.group("how").lower()
    return [Failure(recipient=a, diagnostic=said, temporary=temporary) for a in dict.fromkeys(addresses)]
