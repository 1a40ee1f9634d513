"""MailMarshal SMTP (Trustwave / Marshal8e6) "Undeliverable Mail" notices.

The reason comes first and the recipients after it::

    Could not be delivered because of

    550 5.1.1 User unknown

    The following recipients were affected:
        user@example.org

followed by an "Additional Information" block with ``Remote-MTA:``.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_BECAUSE = quick(lazy(r"^[ \t]*Could not be delivered because of\s*$", re.IGNORECASE | re.M))
_AFFECTED = lazy(r"^[ \t]*The following recipients were affected:?\s*$", re.IGNORECASE | re.M)
_STOP = lazy(r"^[ \t]*Additional Information\s*$|^={5,}", re.IGNORECASE | re.M)
_REMOTE = lazy(r"^Remote-MTA:\s*<?([^<>\s]+)>?", re.IGNORECASE | re.M)


def detect(msg: Message, body: str) -> list[Failure]:
    because = _BECAUSE.search(body)
    affected = _AFFECTED.search(body, because.end()) if because else None
    if not because or not affected:
        return []
    said = m.unfold(body[because.end(): affected.start()])
    stop = _STOP.search(body, affected.end())
    listed = body[affected.end(): stop.start() if stop else affected.end() + 4000]
    addresses = [a for a in (m.first_address(line) for line in listed.splitlines()) if a]
    remote = _REMOTE.search(body)
    return [Failure(recipient=a, diagnostic=said, remote_mta=remote.group(1) if remote else None)
            for a in dict.fromkeys(addresses)]
