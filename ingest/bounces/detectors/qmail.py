"""qmail-send's failure and delay notices (and netqmail, vpopmail, s/qmail).

"Hi. This is the qmail-send program at host." then, per recipient, the
address in angle brackets followed by a colon and qmail's account of what
happened, ending at a blank line::

    <user@example.org>:
    192.0.2.1 does not like recipient.
    Remote host said: 550 5.1.1 <user@example.org>... User unknown
    Giving up on 192.0.2.1.

qmail's own sentences name the SMTP stage: "sender was rejected" (MAIL),
"does not like recipient" (RCPT), "failed on DATA command" / "failed after
I sent the message" (DATA), and a few final verdicts ("Sorry, I couldn't
find any host named ...").
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import notice

_SIGNATURE = quick(lazy(
    r"This is the qmail-send program|I'm afraid I wasn't able to deliver your message|"
    r"I wasn't able to deliver your message to the following addresses|This is the [\w.-]+ program at"
    r"|I'm sorry to have to inform you that your message could not\s+be delivered",
    re.IGNORECASE,
))
#: qmail-send's final words after the queue lifetime ran out: a bounce, but
#: its cause was a temporary error (the status keeps its 4.x.x class).
_GAVE_UP = lazy(r"I'm not going to try again; this message has been in the queue too long", re.IGNORECASE)
_TEMPORARY = lazy(r"I'm not going to try again(?!.*permanent)|has not been delivered to the recipients? below"
                        r"|I'll keep trying|still trying|this is not a permanent error", re.IGNORECASE)
#: Postfix's text (its notices before DSN support, 2.2 and earlier, begin "This is the Postfix program
#: at host ...", which this module's signature takes): "<final> (expanded from <alias>): reason"
#: (bounce_notify_util.c), the alias being the address the sender used.
_EXPANDED_FROM = lazy(r"^\(expanded from <([^<>\s]+)>\)\s*:?\s*", re.IGNORECASE)
_ADDRESS = lazy(r"^<([^<>\s]+@[^<>\s]+|[^<>\s]+)>\s*:?\s*(.*)$")
_STAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (lazy(r"sender was rejected|MAIL FROM", re.I), "MAIL"),
    (lazy(r"does not like recipient|RCPT TO", re.I), "RCPT"),
    (lazy(r"failed on DATA command|failed after I sent the message|DATA command", re.I), "DATA"),
    (lazy(r"(?:HELO|EHLO) command|greeting", re.I), "HELO"),
)


def detect(msg: Message, body: str) -> list[Failure]:
    if not _SIGNATURE.search(body[:10_000]):
        return []
    text = notice(body, msg=msg)
    gave_up = bool(_GAVE_UP.search(m.unfold(text[:5000])))
    temporary = not gave_up and bool(_TEMPORARY.search(text[:3000]))
    failures: list[Failure] = []
    lines = text.splitlines()
    index = 0
    # An entry starts with an unindented "<address>:" line. Its folded
    # continuation lines are indented (Postfix's bounce(8) text, which this
    # module also reads, folds at 4 spaces and may repeat "<address>:" there).
    while index < len(lines):
        match = _ADDRESS.match(lines[index].rstrip())
        index += 1
        if not match:
            continue
        chunk = [match.group(2)]
        while index < len(lines) and lines[index].strip() and not _ADDRESS.match(lines[index].rstrip()):
            chunk.append(lines[index].strip())
            index += 1
        expanded = _EXPANDED_FROM.match(chunk[0])
        if expanded:
            chunk[0] = chunk[0][expanded.end():]
        explanation = m.unfold(" ".join(chunk))
        address = m.address_of(match.group(1)) or match.group(1)
        sent_to = m.address_of(expanded.group(1)) if expanded else None
        command = next((name for pattern, name in _STAGES if pattern.search(explanation)), None)
        said = re.search(r"Remote host said:\s*(.*?)(?:Giving up on \S+|$)", explanation, re.I)
        diagnostic = said.group(1).strip() if said else explanation
        if said and not re.search(r"[A-Za-z]{3}", re.sub(r"^[\d. #-]+", "", diagnostic)):
            diagnostic = explanation
        failures.append(Failure(recipient=address, original_recipient=sent_to if sent_to != address else None,
                                diagnostic=m.unfold(explanation if not said else f"{diagnostic} ({explanation})"),
                                command=command, temporary=temporary,
                                gave_up=gave_up and bool(_GAVE_UP.search(explanation))))
    return failures
