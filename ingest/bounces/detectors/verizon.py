"""Verizon Wireless (vtext.com, vzwpix.com) SMS/MMS gateway refusals.

The gateway answers from ``post_master@vtext.com`` in a short notice::

    Error: Invalid user address

    Error message below:
    550 - Requested action not taken: no such user here

    Message details:
      ...
      RCPT TO: number@vtext.com

The recipient is the ``RCPT TO:`` of the message details.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import sender_of

_ERROR = lazy(r"^Error message below:\s*$(?P<said>.*?)^[ \t]*Message details:", re.IGNORECASE | re.M | re.S)
_RCPT = lazy(r"^[ \t]*RCPT TO:\s*<?([^<>\s]+@[^<>\s]+)>?", re.IGNORECASE | re.M)


def detect(msg: Message, body: str) -> list[Failure]:
    if not re.search(r"@(?:vtext|vzwpix|vzw)\.com\b", sender_of(msg)):
        return []
    if not body.strip():
        # the gateway folds the inner boundary parameter wrongly, so the
        # text part is not found as such: read the raw leaves
        body = "\n".join(m.text_of(p) for p in m.walk(msg) if not isinstance(p.get_payload(), list))
    error = _ERROR.search(body)
    if not error:
        return []
    addresses = [a for a in (m.address_of(x) for x in _RCPT.findall(body[error.end():])) if a]
    said = m.unfold(error.group("said"))
    # "550 - Requested action ...": the gateway separates the code with a dash
    said = re.sub(r"^([245]\d\d) - ", r"\1 ", said)
    return [Failure(recipient=a, diagnostic=said, command="RCPT") for a in dict.fromkeys(addresses)]
