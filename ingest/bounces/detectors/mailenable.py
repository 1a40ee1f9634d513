"""MailEnable's delivery failure notices.

"MailEnable: Message could not be delivered to some recipients." / "The following
recipient(s) could not be reached:", then per recipient a "Recipient: [SMTP:address]" line
and a "Reason:" line, then "Message headers follow:"::

    	Recipient: [SMTP:ann@example.org]
    	Reason: Remote SMTP Server Returned: 550 5.1.1 ... User unknown
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_SIGNATURE = quick(lazy(r"^MailEnable: Message could not be delivered", re.IGNORECASE | re.M))
_ENTRY = lazy(r"^[ \t]*Recipient:[ \t]*\[SMTP:(?P<addr>[^\]\s]+)\][ \t]*\n[ \t]*Reason:[ \t]*(?P<why>.*(?:\n[ \t]+(?!Recipient:)\S.*)*)",
              re.IGNORECASE | re.M)


def detect(msg: Message, body: str) -> list[Failure]:
    if not _SIGNATURE.search(body[:5000]):
        return []
    found: dict[str, Failure] = {}
    for entry in _ENTRY.finditer(body[:200_000]):
        address = m.address_of(entry.group("addr"))
        if address and address not in found:
            found[address] = Failure(recipient=address, diagnostic=m.unfold(entry.group("why")).strip())
    return list(found.values())
