"""Active!hunter (a Japanese mail-filtering gateway) and its sendmail-like notice.

Its bounces are ``multipart/report`` messages without a delivery-status part
whose MIME boundary (and ``X-AHMAILID`` header) name the product. The text
imitates sendmail::

      ----- The following addresses had permanent fatal errors -----
    >>> user@example.org <user@example.org>
      ----- Transcript of session follows -----
    550 sorry, no mailbox here by that name (#5.1.1 - chkusr)

The transcript holds only the remote server's reply, never the command.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import notice

_MARK = lazy(r"Active!Hunter", re.IGNORECASE)
_HEAD = quick(lazy(r"^[ \t]*-+ The following addresses had permanent fatal errors -+\s*$", re.IGNORECASE | re.M))
_TRANSCRIPT = lazy(r"^[ \t]*-+ Transcript of session follows -+\s*$", re.IGNORECASE | re.M)
_ITEM = lazy(r"^>>>\s*(.+)$", re.M)


def _is_active_hunter(msg: Message) -> bool:
    return bool(m.header(msg, "X-AHMAILID")) or bool(_MARK.search(m.param(msg, "boundary") or ""))


def detect(msg: Message, body: str) -> list[Failure]:
    if not _is_active_hunter(msg):
        return []
    text = notice(body)
    head = _HEAD.search(text)
    if not head:
        return []
    transcript = _TRANSCRIPT.search(text, head.end())
    listed = text[head.end(): transcript.start() if transcript else len(text)]
    said = m.unfold(text[transcript.end():]) if transcript else ""
    addresses = [a for a in (m.address_of(x) for x in _ITEM.findall(listed)) if a]
    return [Failure(recipient=a, diagnostic=said, stage_unknown=True) for a in dict.fromkeys(addresses)]
