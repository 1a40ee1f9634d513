"""Postfix notices that carry no recipient block.

Two kinds, both written by Postfix itself:

* a bounce whose delivery-status part has only the per-message fields,
  the notice saying ``--- Delivery report unavailable ---`` (Postfix could
  not read its own logfile for the message): the returned message's
  ``To:`` is the recipient, and nothing is known about the cause;
* the SMTP server's report to the postmaster, "Postfix SMTP server: errors
  from host[ip]", with the session transcript (``In:`` the client's
  commands, ``Out:`` the server's replies): the recipients are the
  ``RCPT TO`` addresses, the error the last 4xx/5xx reply and the command
  the one it answered.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import returned_recipient

_UNAVAILABLE = quick(lazy(r"^[ \t]*-+ Delivery report unavailable -+\s*$", re.IGNORECASE | re.M))
_SERVER_REPORT = lazy(r"^Postfix SMTP server: errors from ", re.IGNORECASE)
_LINE = lazy(r"^ (In|Out):\s+(.*)$")
_RCPT = lazy(r"^RCPT\s+TO:\s*<([^<>\s]+@[^<>\s]+)>", re.IGNORECASE)
_ERROR = lazy(r"^[45]\d\d[ -]")


def _transcript(body: str) -> list[tuple[str, str]]:
    """(In/Out, text) pairs, continuation lines joined."""
    turns: list[tuple[str, str]] = []
    for line in body.splitlines():
        said = _LINE.match(line)
        if said:
            turns.append((said.group(1), said.group(2).strip()))
        elif turns and line.startswith((" ", "\t")) and line.strip():
            side, text = turns[-1]
            turns[-1] = (side, f"{text} {line.strip()}")
    return turns


def _server_report(body: str) -> list[Failure]:
    turns = _transcript(body)
    recipients = [a for a in (m.address_of(r.group(1)) for side, text in turns if side == "In"
                              for r in [_RCPT.match(text)] if r) if a]
    errors = [i for i, (side, text) in enumerate(turns) if side == "Out" and _ERROR.match(text)]
    if not recipients or not errors:
        return []
    last = errors[-1]
    command = next((text.split()[0].upper() for side, text in reversed(turns[:last]) if side == "In" and text), None)
    said = turns[last][1]
    return [Failure(recipient=a, diagnostic=said, command=command if command in ("RCPT", "MAIL", "DATA") else None)
            for a in dict.fromkeys(recipients)]


def detect(msg: Message, body: str) -> list[Failure]:
    if _SERVER_REPORT.match(m.header(msg, "Subject")):
        return _server_report(body)
    if _UNAVAILABLE.search(body[:5000]) and "mailer-daemon" in m.header(msg, "From").lower():
        recipient = returned_recipient(msg)
        return [Failure(recipient=recipient, diagnostic="")] if recipient else []
    return []
