"""Generic plain-text bounces: "could not deliver to <addr>: <error>".

Many MTAs (DragonFly, OpenSMTPD, qmail clones, webmail providers) write a
free-text notice naming each failed address followed by the remote server's
answer. This detector only runs on messages that look like bounces, reads
the notice up to where the returned original starts, and takes each address
that is followed or preceded by an error (a reply code, an enhanced status
or an error phrase) as a failed recipient.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.classify import find_replycode, find_status, reason_from_text
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.heuristic import looks_like_bounce

#: Lines after which the bounce quotes the original message.
_ORIGINAL_STARTS = quick(lazy(
    r"^[ \t]*(?:-+ ?)?(?:below this line is a copy of the message|message headers follow|original message follows"
    r"|this is a copy of the message|the original message (?:was(?! received at)|follows|headers)|original message headers"
    r"|-+ ?original message ?-+|-+ ?the header of the original message|-+ ?returned (?:message|mail)"
    r"|received: from |return-path: <)",
    re.IGNORECASE | re.M,
))
_ERRORISH = lazy(
    r"(?<!\d)[45]\d\d(?!\d)|[45]\.\d{1,3}\.\d{1,3}|unknown|not exist|no such|invalid|rejected|refused|denied|failed"
    r"|full|quota|blocked|timed? ?out|expired|unable|error|disabled|not found|unavailable",
    re.IGNORECASE,
)


#: (body, notice): the body read last. The heuristic stage asks for the
#: notice of the same body once per address it found, then this module
#: again; one tuple, swapped whole, so it is thread-safe.
_last_notice: tuple = (None, "")


def _notice(body: str) -> str:
    global _last_notice
    last_body, text = _last_notice
    if last_body is body:
        return text
    cut = _ORIGINAL_STARTS.search(body)
    text = body[: cut.start()] if cut else body[:20_000]
    _last_notice = (body, text)
    return text


def _context(lines: list[str], index: int) -> str:
    """The address line, the rest of its paragraph and, if that says
    nothing, the following paragraph (where DragonFly and others put the
    remote server's answer)."""
    chunk = [lines[index]]
    paragraphs = 0
    for line in lines[index + 1 : index + 16]:
        if not line.strip():
            if paragraphs or _ERRORISH.search(" ".join(chunk[1:])):
                break
            paragraphs += 1
            continue
        if m.ADDRESS_RE.search(line) and chunk[1:] and _ERRORISH.search(" ".join(chunk[1:])):
            break
        chunk.append(line)
    return m.unfold(" ".join(chunk))


#: Text before an address showing that it sits inside a server's reply
#: ("Diagnostic-Code: smtp; 550 5.2.1 <a@b>... User unknown").
_IN_REPLY = lazy(r"(?:^|\s)(?:diagnostic-code:|[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3}\s)?)", re.IGNORECASE)


def detect(msg: Message, body: str) -> list[Failure]:
    if not looks_like_bounce(msg):
        return []
    own = {
        a
        for a in (m.address_of(v) for n in ("From", "To", "Reply-To", "Sender", "Return-Path", "Delivered-To",
                                             "X-Original-Sender", "Errors-To")
                  for v in m.headers_all(msg, n))
        if a
    }
    text = _notice(body)
    lines = text.splitlines()
    failures: dict[str, Failure] = {}
    quoted: set[str] = set()  # addresses seen only inside a server's reply
    looked = 0
    for index, line in enumerate(lines):
        if len(failures) >= 50 or looked >= 200:
            break  # a notice naming hundreds of addresses is not a bounce we can read one by one
        for match in m.ADDRESS_RE.finditer(line[:2000]):
            looked += 1
            address = match.group(0).strip(".").lower()
            local = address.split("@", 1)[0]
            if address in own or address in failures or local in ("postmaster", "mailer-daemon", "abuse"):
                continue
            if _IN_REPLY.search(line[: match.start()]):
                quoted.add(address)
            context = _context(lines, index)
            if not _ERRORISH.search(context) and not reason_from_text(context):
                continue
            failures[address] = Failure(
                recipient=address,
                diagnostic=context,
                status=find_status(context),
                replycode=find_replycode(context),
            )
            if len(failures) >= 50:
                break
    # An address quoted in the reply about another recipient (a relay's
    # rewritten address, a list member) is not a recipient of its own.
    named = [f for a, f in failures.items() if a not in quoted]
    return named or list(failures.values())
