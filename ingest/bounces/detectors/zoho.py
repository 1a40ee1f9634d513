"""Zoho Mail's bounces and delay warnings.

Zoho writes one line per recipient instead of a delivery-status part::

    user@example.org Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1 <user@example.org>... User Unknown
    user@example.org Error, ERROR_CODE :421, ERROR_CODE :, Host not reachable.

and, in its delay warnings ("THIS IS A WARNING MESSAGE ONLY")::

    [Status: Error, Address: <user@example.org>, ResponseCode 421, , Host not reachable.]

A bounce whose reply code is 4xx was given up after retrying.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import sender_of

_LINE = quick(lazy(
    r"^(?P<addr>\S+@\S+)\s+[^,\n]*,\s*ERROR_CODE\s*:\s*(?P<code>\d{3})?\s*,\s*ERROR_CODE\s*:\s*(?P<status>[245]\.\d{1,3}\.\d{1,3})?"
    r"\s*,?\s*(?P<text>.*)$",
    re.IGNORECASE | re.M,
))
_DELAY_LINE = quick(lazy(
    r"^\[Status:\s*\w+,\s*Address:\s*<?(?P<addr>[^>,\s]+)>?,\s*ResponseCode\s*(?P<code>\d{3})?\s*,\s*,?\s*(?P<text>.*?)\]?\s*$",
    re.IGNORECASE | re.M,
))
_WARNING = quick(lazy(r"THIS IS A WARNING MESSAGE ONLY", re.IGNORECASE))


def detect(msg: Message, body: str) -> list[Failure]:
    if "zoho" not in sender_of(msg):
        return []
    text = body.replace("=\n", "")
    delayed = bool(_WARNING.search(text[:5000]))
    failures: list[Failure] = []
    for match in list(_LINE.finditer(text)) + list(_DELAY_LINE.finditer(text)):
        address = m.address_of(match.group("addr"))
        if not address:
            continue
        code = match.group("code")
        status = match.groupdict().get("status")
        diagnostic = " ".join(x for x in (code, status, match.group("text").strip()) if x)
        failures.append(Failure(recipient=address, diagnostic=diagnostic, replycode=code, status=status,
                                temporary=delayed, gave_up=not delayed and bool(code and code[0] == "4")))
    return failures
