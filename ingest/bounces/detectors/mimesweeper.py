"""Clearswift MIMEsweeper's "A message could not be delivered to:" notice.

The address follows on the next line, then the subject of the returned
message and the administrator's explanation (often in the local
language); the delivery-status part holds no recipient block.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import notice

_HEAD = quick(lazy(r"^[ \t]*A message could not be delivered to:\s*$", re.IGNORECASE | re.M))


def detect(msg: Message, body: str) -> list[Failure]:
    text = notice(body)
    head = _HEAD.search(text)
    if not head:
        return []
    lines = text[head.end():].strip("\r\n").splitlines()
    addresses: list[str] = []
    for line in lines:
        address = m.address_of(line) if line.strip() and " " not in line.strip() else None
        if not address:
            break
        addresses.append(address)
    rest = lines[len(addresses):]
    said = m.unfold(" ".join(line for line in rest if not line.lower().startswith("subject:")))
    return [Failure(recipient=a, diagnostic=said[:1000]) for a in dict.fromkeys(addresses)]
