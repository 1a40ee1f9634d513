"""hMailServer's undeliverable notices.

"Your message did not reach some or all of the intended recipients." then "The following
recipient(s) could not be reached:" and one block per recipient: the address alone on a
line, then the error text SMTPClientConnection writes, indented three spaces::

    ann@example.org
       Error Type: SMTP
       Remote server (192.0.2.1) issued an error.
       hMailServer sent: RCPT TO:<ann@example.org>
       Remote server replied: 550 5.1.1 <ann@example.org>: User unknown

or, when no connection was made, "Connection to recipients server failed." and "Error: ...".
Each block is one recipient, however many there are.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_HEAD = quick(lazy(r"^The following recipient\(s\) could not be reached:[ \t]*$", re.IGNORECASE | re.M))
_SIGNATURE = quick(lazy(r"^[ \t]+Error Type: SMTP[ \t]*$", re.IGNORECASE | re.M))
_SENT = lazy(r"^hMailServer sent:\s*(RCPT|MAIL|DATA|HELO|EHLO)\b", re.IGNORECASE)
_REPLIED = lazy(r"^(?:Remote server replied|Error):\s*(.*)$", re.IGNORECASE)

def detect(msg: Message, body: str) -> list[Failure]:
    head = _HEAD.search(body[:20_000])
    if not head or not _SIGNATURE.search(body, head.end(), head.end() + 5000):
        return []
    found: dict[str, Failure] = {}
    address = None
    lines: list[str] = []

    def close() -> None:
        if address and address not in found:
            command = next((s.group(1).upper() for s in map(_SENT.match, lines) if s), None)
            said = next((r.group(1) for r in map(_REPLIED.match, lines) if r), None)
            found[address] = Failure(recipient=address, diagnostic=said or m.unfold(" ".join(lines)),
                                     command=command if said else None)

    for line in body[head.end():].splitlines():
        if not line.strip():
            continue
        if line[:1] not in " \t":
            bare = m.address_of(line.strip())
            if bare and line.strip().strip("<>").lower() == bare:
                close()
                address, lines = bare, []
                continue
            if address:
                break  # the notice's signature ("hMailServer") or the returned original
            continue
        lines.append(line.strip())
    close()
    return list(found.values())
