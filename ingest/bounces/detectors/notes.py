"""Lotus Notes and IBM/HCL Domino plain-text non-delivery reports.

Two layouts, both without a delivery-status part:

* Notes SMTP MTA (R4/R5): the reason comes first, then the address, between
  two rulers::

      ------- Failure Reasons  --------
      User  not listed in public Name & Address Book
      user@example.com
      ------- Returned Message --------

* Domino: a sentence split over indented lines::

      Your message
        Subject: ...
      was not delivered to:
        user@example.com
      because:
        User Some Name (user@example.com) not listed in Domino Directory

Japanese installations write the reason in Japanese (ISO-2022-JP); the
classifier's table knows those phrases too.
"""

from __future__ import annotations

import re
from email.message import Message

from ingest.bounces import _message as m
from ingest.bounces.detectors import Failure

_NOTES_START = re.compile(r"^-{3,}\s*Failure Reasons\s*-{3,}\s*$", re.IGNORECASE | re.M)
_NOTES_END = re.compile(r"^-{3,}\s*Returned Message\s*-{3,}\s*$", re.IGNORECASE | re.M)
_DOMINO = re.compile(
    r"^\s*Your message\s*\n(?:\s+Subject:.*\n)?\s*was not delivered to:\s*\n(?P<rcpts>(?:[ \t]+\S.*\n)+)"
    r"\s*because:\s*\n(?P<why>(?:[ \t]+\S.*(?:\n|$))+)",
    re.IGNORECASE | re.M,
)


def detect(msg: Message, body: str) -> list[Failure]:
    start = _NOTES_START.search(body)
    if start:
        end = _NOTES_END.search(body, start.end())
        section = body[start.end(): end.start() if end else start.end() + 4000]
        addresses: list[str] = []
        reasons: list[str] = []
        for line in section.splitlines():
            if not line.strip():
                continue
            address = m.address_of(line)
            if address and len(line.strip()) <= len(address) + 4:
                addresses.append(address)
            else:
                reasons.append(line.strip())
        reason_text = m.unfold(" ".join(reasons))
        return [Failure(recipient=a, diagnostic=reason_text) for a in dict.fromkeys(addresses)]
    domino = _DOMINO.search(body)
    if domino:
        why = m.unfold(domino.group("why"))
        found = [m.address_of(line) for line in domino.group("rcpts").splitlines()]
        return [Failure(recipient=a, diagnostic=why) for a in dict.fromkeys(a for a in found if a)]
    return []
