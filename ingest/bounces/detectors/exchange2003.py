"""Microsoft Exchange 5.5 to 2003 (IMS / IMC connectors) non-delivery reports.

"Your message did not reach some or all of the intended recipients", or
"Your message ... did not reach the following recipient(s):", then each
recipient as ``user@example.org on <date>`` with the explanation indented
below, ending in a connector line such as::

    MSEXCH:IMS:ORG:SITE:SERVER 0 (000C05A6) Unknown Recipient

The hexadecimal code is Exchange's own diagnosis; where it is one we know,
it names the reason outright.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import notice

_SIGNATURE = quick(lazy(r"did not reach (?:some or all of the intended recipients|the following recipient)"
                        r"|The following recipient\(s\) could not be reached", re.IGNORECASE))
_LIST = lazy(r"did not reach the following recipient\(s\):|The following recipient\(s\) could not be reached:",
                   re.IGNORECASE)
_ENTRY = lazy(r"^[ \t]*(\S+@\S+?)\s+on\s+\S.*$", re.M)
_CODE = lazy(r"\(([0-9A-F]{8})\)")
#: Exchange diagnostic codes whose meaning is settled.
CODES: dict[str, str] = {
    "000C05A6": "userunknown",  # "Unknown Recipient"
}


def detect(msg: Message, body: str) -> list[Failure]:
    text = notice(body)
    if not _SIGNATURE.search(text[:5000]) or "MSEXCH:" not in text:
        return []
    start = _LIST.search(text)
    if not start:
        return []
    section = text[start.end():]
    entries = list(_ENTRY.finditer(section))
    failures: list[Failure] = []
    for index, entry in enumerate(entries):
        stop = entries[index + 1].start() if index + 1 < len(entries) else len(section)
        said = m.unfold(section[entry.end(): stop])
        address = m.address_of(entry.group(1))
        if not address:
            continue
        code = _CODE.search(said)
        failures.append(Failure(recipient=address, diagnostic=said,
                                reason=CODES.get(code.group(1)) if code else None, stage_unknown=True))
    return failures
