"""GroupWise Internet Agent (GWIA) undeliverable notices.

"The message that you sent was undeliverable to the following:" then one line per
recipient, tab-indented, each with its cause in parentheses, then "Possibly truncated
original message follows:" and the original as text::

    The message that you sent was undeliverable to the following:
    	rkeller (user not found)
    	someone@example.org (host not found)

A recipient of the GroupWise system itself is named by its user id; it is the address of
the returned original's To:/Cc: whose local part is that id.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import from_recipients_system, inline_original_headers

_HEAD = quick(lazy(r"^The message that you sent was undeliverable to the following:[ \t]*$", re.IGNORECASE | re.M))
_ENTRY = lazy(r"^[ \t]+(?P<who>[^\s()]+)[ \t]+\((?P<why>[^)]*)\)[ \t]*$")


def _addressed(msg: Message, body: str) -> list[str]:
    from bounceledger.ingest.bounces.returned import addressees, returned_headers

    original = returned_headers(msg) or inline_original_headers(body)
    return list(addressees(original)) if original is not None else []


def detect(msg: Message, body: str) -> list[Failure]:
    head = _HEAD.search(body[:20_000])
    if not head:
        return []
    found: dict[str, Failure] = {}
    addressed: list[str] | None = None
    for line in body[head.end():].splitlines()[1:200]:
        entry = _ENTRY.match(line)
        if entry is None:
            if line.strip():
                break
            continue
        who, why = entry.group("who"), entry.group("why")
        address = m.address_of(who)
        if address is None:
            if addressed is None:
                addressed = _addressed(msg, body)
            matches = [a for a in addressed if a.split("@", 1)[0].lower() == who.lower()]
            address = matches[0] if len(matches) == 1 else None
        if address and address not in found:
            found[address] = Failure(recipient=address, diagnostic=f"{who} ({why})",
                                     stage_unknown=not from_recipients_system(msg, address))
    return list(found.values())
