"""m-FILTER (Digital Arts), a Japanese outbound mail filter.

Its notice (in Japanese) names each failed address, then the remote
server's answer and the SMTP command it answered, under dashed labels::

    kijitora@example.org

    -------server message
    550 5.1.1 unknown user <kijitora@example.org>

    -------SMTP command
    RCPT
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_SERVER = quick(lazy(r"^-{5,}\s*server message\s*$", re.IGNORECASE | re.M))
_COMMAND = lazy(r"^-{5,}\s*SMTP command\s*$\s*^\s*(\w+)", re.IGNORECASE | re.M)
_NEXT = lazy(r"^-{5,}", re.M)
_COMMANDS = {"RCPT": "RCPT", "MAIL": "MAIL", "DATA": "DATA", "EHLO": "EHLO", "HELO": "HELO"}


def detect(msg: Message, body: str) -> list[Failure]:
    server = _SERVER.search(body)
    if not server or "m-filter" not in body[: server.start()].lower():
        return []
    addresses = [a for a in (m.first_address(line) for line in body[: server.start()].splitlines()) if a]
    stop = _NEXT.search(body, server.end())
    said = m.unfold(body[server.end(): stop.start() if stop else server.end() + 2000])
    command = _COMMAND.search(body, server.end())
    word = command.group(1).upper() if command else ""
    return [Failure(recipient=a, diagnostic=said, command=_COMMANDS.get(word[:4]) or _COMMANDS.get(word))
            for a in dict.fromkeys(addresses)]
