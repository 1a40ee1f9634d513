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

Recipients may be separated by blank lines, indented or not, the report
may come as HTML (reduced to text before it gets here), and the sentence
may repeat for recipients that failed for different reasons: the Domino
router words the reason per kind of failure (transfer, delivery, message
expiration, domain, server: Domino 8.5 administration help, "Customizing
delivery failure messages"), so each "because:" covers the addresses
listed above it, and each listed address is one record.

Japanese installations write the reason in Japanese (ISO-2022-JP); the
classifier's table knows those phrases too.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_NOTES_START = quick(lazy(r"^-{3,}\s*Failure Reasons\s*-{3,}\s*$", re.IGNORECASE | re.M))
_NOTES_END = quick(lazy(r"^-{3,}\s*Returned Message\s*-{3,}\s*$", re.IGNORECASE | re.M))
#: Domino's sentence, one marker per line; recipients and reason are the
#: (indented or not, blank-line separated) lines between and after them.
#: One report may repeat "was not delivered to: ... because: ..." for
#: recipients that failed for different reasons.
_DOMINO_HEAD = quick(lazy(r"^[ \t]*Your message[ \t]*$", re.IGNORECASE | re.M))
_DOMINO_TO = quick(lazy(r"^[ \t]*was not delivered to:[ \t]*$", re.IGNORECASE | re.M))
_DOMINO_BECAUSE = quick(lazy(r"^[ \t]*because:[ \t]*$", re.IGNORECASE | re.M))
#: Where a reason stops: a blank line once text was read, or what follows the notice.
_DOMINO_END = quick(lazy(r"\n[ \t]*\n(?=[ \t]*\S)|^[ \t]*(?:-{3,}|Your message[ \t]*$|was not delivered to:)",
                               re.IGNORECASE | re.M))


def detect(msg: Message, body: str) -> list[Failure]:
    start = _NOTES_START.search(body)
    if start:
        end = _NOTES_END.search(body, start.end())
        section = body[start.end(): end.start() if end else start.end() + 4000]
        addresses: list[str] = []
        reasons: list[str] = []
        own: dict[str, str] = {}  # address -> the reason lines written just above it
        pending: list[str] = []
        for line in section.splitlines():
            if not line.strip():
                continue
            address = m.address_of(line)
            if address and len(line.strip()) <= len(address) + 4:
                addresses.append(address)
                if pending:
                    own.setdefault(address, m.unfold(" ".join(pending)))
                pending = []
            else:
                reasons.append(line.strip())
                pending.append(line.strip())
        reason_text = m.unfold(" ".join(reasons))
        # the Notes MTA writes each reason above the address it is about: where every address has
        # one of its own, that one is its diagnostic; otherwise they share all the reason lines
        paired = len(own) == len(set(addresses))
        return [Failure(recipient=a, diagnostic=own[a] if paired else reason_text) for a in dict.fromkeys(addresses)]
    return _domino(body)


def _domino(body: str) -> list[Failure]:
    """Domino's "Your message ... was not delivered to: ... because: ..." report."""
    head = _DOMINO_HEAD.search(body)
    if not head:
        return []
    failures: dict[str, Failure] = {}
    position = head.end()
    while (listed := _DOMINO_TO.search(body, position)) is not None:
        because = _DOMINO_BECAUSE.search(body, listed.end())
        if not because:
            break
        found = [m.address_of(line) for line in body[listed.end(): because.start()].splitlines() if line.strip()]
        start = because.end()
        while start < len(body) and body[start] in " \t\r\n":
            start += 1  # the reason may sit under blank lines
        end = _DOMINO_END.search(body, start)
        why = m.unfold(body[start: end.start() if end else start + 2000])
        for address in found:
            if address and address not in failures:
                failures[address] = Failure(recipient=address, diagnostic=why)
        position = because.end()
    return list(failures.values())
