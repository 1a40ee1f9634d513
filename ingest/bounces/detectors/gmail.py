"""Gmail's plain-text notices (used until about 2016, still seen in archives).

``Delivery to the following recipient failed permanently:`` (or ``has been
delayed``), the recipient on its own line (sometimes left blank, then only
``X-Failed-Recipients`` names it), then ``Technical details of permanent
failure:`` with Google's explanation and, when the remote server spoke,
``The error that the other server returned was: 550 550 5.1.1 ...``.
"""

from __future__ import annotations

import re
from email.message import Message

from ingest.bounces import _message as m
from ingest.bounces.detectors import Failure
from ingest.bounces.detectors._common import failed_recipients, notice

_HEAD = re.compile(r"Delivery to the following recipients? (failed permanently|has been delayed|failed)\s*:",
                   re.IGNORECASE)
_DETAILS = re.compile(r"Technical details of (permanent|temporary) failure\s*:", re.IGNORECASE)
_OTHER_SERVER = re.compile(r"the (?:error that the other server returned was|other server returned)\s*:?\s*", re.I)


def detect(msg: Message, body: str) -> list[Failure]:
    text = notice(body)
    head = _HEAD.search(text)
    if not head:
        return []
    details = _DETAILS.search(text, head.end())
    listed = text[head.end() : details.start() if details else len(text)]
    recipients = [a for a in (m.address_of(line) for line in listed.splitlines()
                              if line.strip() and not line.lower().strip().startswith("message will be"))
                  if a]
    if not recipients:
        recipients = failed_recipients(msg)
    if not recipients:
        return []
    explanation = m.unfold(text[details.end():]) if details else m.unfold(listed)
    temporary = (details and details.group(1).lower() == "temporary") or "delayed" in head.group(1).lower()
    said = _OTHER_SERVER.search(explanation)
    diagnostic = explanation[said.end():] if said else explanation
    # Gmail repeats the reply code ("550 550 5.1.1 ..."); keep one
    diagnostic = re.sub(r"^([245]\d\d)[ -]\1\b", r"\1", diagnostic.strip())
    return [Failure(recipient=address, diagnostic=diagnostic[:2000] if said else explanation[:2000],
                    temporary=bool(temporary)) for address in dict.fromkeys(recipients)]
