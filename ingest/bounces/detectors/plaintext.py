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
from typing import Literal

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces.classify import find_replycode, find_status, reason_from_text
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import (
    from_recipients_system,
    inline_original_headers,
    notice,
    quoted_header_line,
)
from bounceledger.ingest.bounces.heuristic import (
    BOUNCE_SUBJECTS,
    NDR_SUBJECTS,
    bounce_envelope,
    looks_like_bounce,
    written_by_a_mailer,
)
from bounceledger.ingest.bounces.returned import Keys, addressees, original_senders, returned_headers

#: Most failed recipients taken from free text, and most addresses looked at.
MAX_FAILURES = 50
MAX_LOOKED = 200
_ERRORISH = lazy(
    r"(?<!\d)[45]\d\d(?!\d)|[45]\.\d{1,3}\.\d{1,3}|unknown|not exist|no such|invalid|rejected|refused|denied|failed"
    r"|full|quota|blocked|timed? ?out|expired|unable|error|disabled|not found|unavailable",
    re.IGNORECASE,
)


def _context(lines: list[str], index: int, address: str | None = None, own: frozenset[str] | set[str] = frozenset()) -> str:
    """The address line, the rest of its paragraph and, if that says
    nothing, the following paragraph (where DragonFly and others put the
    remote server's answer).

    A line naming another address starts the next recipient's part once
    this part has said what failed (below the address, or on its own line
    with a server's code, as in "addr - 550 user unknown" lists). One that
    names ``address`` again (the echoed ``RCPT TO:<address>`` before the
    server's reply, as hMailServer and Kerio write it), or names an address
    inside a server's reply, does not.
    """
    chunk = [lines[index]]
    paragraphs = 0
    for line in lines[index + 1 : index + 16]:
        if not line.strip():
            if paragraphs or _ERRORISH.search(" ".join(chunk[1:])):
                break
            paragraphs += 1
            continue
        if _starts_another(line, address, own) and (
            _ERRORISH.search(" ".join(chunk[1:])) or find_status(chunk[0]) or find_replycode(chunk[0])
        ):
            break
        chunk.append(line)
    return m.unfold(" ".join(chunk))


#: A label that makes the address after it a sender, never a failed recipient: a quoted
#: header ("From:", "Sender:", "Reply-To:", "Return-Path:", RFC 5322 3.6.2/3.6.7) or a
#: held-message list's "Sender:" column, and their German, French and Spanish forms.
_SENDER_LABEL = lazy(r"(?:^|\s)(?:from|sender|reply-to|return-path|envelope-from|von|absender|de|exp(?:é|e)diteur|remitente)"
                     r"\s*:\s*(?:\"[^\"]*\"|[^<@:]{0,60})?\s*<?$", re.IGNORECASE)
#: Text before an address showing that it sits inside a server's reply
#: ("Diagnostic-Code: smtp; 550 5.2.1 <a@b>... User unknown").
_IN_REPLY = lazy(r"(?:^|\s)(?:diagnostic-code:|[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3}\s)?)", re.IGNORECASE)


def _starts_another(line: str, address: str | None, own: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether ``line`` names an address other than ``address`` (any address, without one)
    outside a server's reply: a reply may name an alias of the same recipient. The notice's
    own addresses and the returned message's sender (an echoed "MAIL FROM:<sender>") never
    start another recipient's part."""
    return any(
        (found_address := m.address_found(found.group(0))) != address and found_address not in own
        and not _IN_REPLY.search(line[: found.start()])
        for found in m.ADDRESS_RE.finditer(line)
    )


#: A quoted message-identifier header ("Message-id: <...>", Oracle's and GroupWise's quoted header
#: block, an inline original): a message id has an address's shape but names no mailbox (RFC 5322 3.6.4).
_ID_HEADER_LINE = lazy(r"^\s*(?:message-?id|in-reply-to|references|resent-message-id|x-original-message-id)\s*:", re.IGNORECASE)


def detect(msg: Message, body: str) -> list[Failure]:
    if not looks_like_bounce(msg) or not written_by_a_mailer(msg, body):
        return []
    own = m.addresses_in(msg, "From", "To", "Reply-To", "Sender", "Return-Path", "Delivered-To", "X-Original-Sender",
                         "Errors-To") | _returned_senders(msg, body)
    text = notice(body, msg=msg)
    lines = text.splitlines()
    failures: dict[str, Failure] = {}
    quoted: set[str] = set()  # addresses seen only inside a server's reply
    wordless: dict[str, str] = {}  # addresses named with no failure words about them, and their parts
    looked = 0
    for index, line in enumerate(lines):
        if _ID_HEADER_LINE.match(line) or quoted_header_line(lines, index):
            continue  # a message id, or the To: of a quoted header block: no failed recipient
        if len(failures) >= MAX_FAILURES or looked >= MAX_LOOKED:
            # free text naming hundreds of addresses is not a notice we can read one by one
            if any(m.ADDRESS_RE.search(rest[:2000]) for rest in lines[index:]):
                m.note_skipped(msg, f"addresses after the first {looked} in the bounce text not read")
            break
        for match in m.ADDRESS_RE.finditer(line[:2000]):
            looked += 1
            address = m.address_found(match.group(0))
            local = address.split("@", 1)[0]
            if address in own or address in failures or local in m.ROLE_LOCAL_PARTS:
                continue
            if "/" in local or "?" in local or _SENDER_LABEL.search(line[: match.start()]):
                # part of a link ("https://host/release/?email=a@b"), or a sender named as one
                # ("From: a@b", "Sender: a@b" in a quoted header or a held-message list)
                continue
            if _IN_REPLY.search(line[: match.start()]):
                quoted.add(address)
            context = _context(lines, index, address, own)
            if not _ERRORISH.search(context) and not reason_from_text(context):
                wordless.setdefault(address, context)
                continue
            reply, command = _transcript_reply(lines, index, address)
            diagnostic = reply or context
            failures[address] = Failure(
                recipient=address,
                diagnostic=diagnostic,
                status=find_status(diagnostic),
                replycode=find_replycode(diagnostic),
                command=command,
            )
            if len(failures) >= MAX_FAILURES:
                break
    # An address quoted in the reply about another recipient (a relay's
    # rewritten address, a list member) is not a recipient of its own.
    named = [f for a, f in failures.items() if a not in quoted] or list(failures.values())
    if len(named) == 1 and not named[0].status and not named[0].replycode:
        # one recipient, its own paragraph without a code: the notice may state the cause
        # apart from it (Seznam's "Duvod / Reason:" block)
        cause = _notice_cause(text)
        if cause and cause not in named[0].diagnostic:
            named = [named[0].replace(diagnostic=f"{named[0].diagnostic} {cause}", status=find_status(cause),
                                      replycode=find_replycode(cause))]
    if named:
        return _delays_marked(msg, text, named)
    return _sole_address(msg, wordless, body)


def _delays_marked(msg: Message, text: str, failures: list[Failure]) -> list[Failure]:
    """The recipients a delay warning names are delayed, not failed: those whose
    part says delivery goes on, and, in a notice that is a delay warning by its
    structure (:func:`_notice_kind`), every one whose own part shows no permanent
    (5xx) code. A notice that mixes both (sendmail's) keeps its failures."""
    kind = _notice_kind(msg, text)
    return [
        f.replace(temporary=True)
        if _STILL_TRYING.search(f.diagnostic) or (kind == "delay" and not (f.status or f.replycode or "").startswith("5"))
        else f
        for f in failures
    ]


def _returned_original(msg: Message, body: str) -> Message | None:
    """The returned message's headers: its own part, or quoted as text in the notice."""
    original = returned_headers(msg)
    return original if original is not None else inline_original_headers(body)


def _returned_senders(msg: Message, body: str) -> frozenset[str]:
    """The returned message's sender (:func:`original_senders`), unless it was also sent to
    that address: a transcript or a quoted header ("* From: news@...") names the sender
    beside the recipient, and the sender is never the one who failed."""
    original = _returned_original(msg, body)
    if original is None:
        return frozenset()
    return frozenset(original_senders(original) - set(addressees(original)))


#: A line of an SMTP session transcript in a notice: the client's command
#: ("--> RCPT To:<a@b>", MDaemon; ">>> RCPT To:<a@b>", sendmail) or the
#: server's reply ("<-- 550 5.1.1 ...", "<<< 550 5.1.1 ...").
_TRANSCRIPT_LINE = lazy(r"(?:^|\s)(-->|>>>|<--|<<<)\s*(.*)$")
_FAILED_REPLY = lazy(r"^[45]\d\d(?:[ -]|$)")
#: How many lines below a recipient's address a transcript is read.
_TRANSCRIPT_LINES = 80


def _transcript_reply(lines: list[str], index: int, address: str) -> tuple[str | None, str | None]:
    """The server's failed reply to ``address`` in a session transcript in its part of
    the notice, and the command it answered, or ``(None, None)`` where there is none.

    MDaemon (its DSN's "Session Transcript", included by default) and sendmail
    show the whole session: the greeting, EHLO's and MAIL's 250s, then the
    refusal. The reply wanted is the first 4xx/5xx after ``RCPT`` for this
    address; where that was accepted, the first refusal after it (DATA);
    where the transcript names no ``RCPT`` for it, its first refusal. The
    part is the address's paragraph and the next one, unless that one opens
    with another recipient: a transcript under another address is not this
    one's.
    """
    commands: list[tuple[int, str]] = []  # (line number, command line)
    failed: list[tuple[int, str]] = []  # (line number, reply line)
    paragraphs = 0
    for number in range(index + 1, min(len(lines), index + 1 + _TRANSCRIPT_LINES)):
        line = lines[number]
        if not line.strip():
            paragraphs += 1
            following = next((rest for rest in lines[number + 1 : number + 4] if rest.strip()), "")
            if paragraphs > 1 or (_starts_another(following, address) and not _TRANSCRIPT_LINE.search(following)):
                break
            continue
        found = _TRANSCRIPT_LINE.search(line)
        if found is None:
            continue
        marker, said = found.groups()
        if marker in ("-->", ">>>"):
            commands.append((number, said))
        elif _FAILED_REPLY.match(said):
            failed.append((number, said))
    ours = [n for n, said in commands if said[:4].upper() == "RCPT" and address in said.lower()]
    after = [(n, said) for n, said in failed if not ours or n > ours[0]]
    if not after:
        return None, None
    number, reply = after[0]
    asked = [said for n, said in commands if n < number]
    command = asked[-1].split(None, 1)[0].upper() if asked and asked[-1].strip() else None
    lines_of_reply = [reply]  # a multi-line reply: "550-..." lines, then "550 ..."
    for line in lines[number + 1 : number + 10]:
        found = _TRANSCRIPT_LINE.search(line)
        if found is None or found.group(1) not in ("<--", "<<<") or not found.group(2)[:3] == reply[:3]:
            break
        lines_of_reply.append(found.group(2))
    return " ".join(lines_of_reply), command


def _sole_address(msg: Message, wordless: dict[str, str], body: str) -> list[Failure]:
    """The one address a non-delivery notice names, whatever language it is written in.

    Failure words are English above; a notice in German or Japanese with no
    server's code says nothing they match. Its structure still says what it
    is (:func:`_notice_kind`). When its words name exactly one address
    besides its own, that is the failed (or delayed) recipient; two or more
    would be a guess.
    """
    if len(wordless) != 1:
        return []
    [(address, context)] = wordless.items()
    kind = _notice_kind(msg, context)
    if kind is None or not _may_be_addressee(msg, address, body):
        return []
    cause = _notice_cause(notice(body, msg=msg))
    diagnostic = f"{context} {cause}" if cause and cause not in context else context
    return [Failure(recipient=address, diagnostic=diagnostic, status=find_status(cause) if cause else None,
                    temporary=kind == "delay", stage_unknown=not from_recipients_system(msg, address))]


#: A line of a notice that opens with a server's RFC 3463 status, alone or after its SMTP reply
#: code: the cause a one-recipient notice states apart from the paragraph naming the address
#: (Seznam's "Duvod / Reason:" block: "5.1.1 szn; User hasn't got the service mapped"). A reply
#: code alone does not do: "500 Main Street" in a signature is no server's answer.
_CAUSE_LINE = lazy(r"^[ \t]*(?:[45]\d\d[ -])?[45]\.\d{1,3}\.\d{1,3}\b[^\n]*$", re.M)


def _notice_cause(text: str) -> str | None:
    found = _CAUSE_LINE.search(text[:8000])
    return found.group(0).strip() if found else None


def _may_be_addressee(msg: Message, address: str, body: str) -> bool:
    """Where the notice returns the original's headers (as a part or quoted inline), an
    address they were not sent to is not the recipient (a help desk's address in the
    notice's footer, say)."""
    original = returned_headers(msg)
    addressed = addressees(original) if original is not None else _inline_addressees(body)
    return not addressed or address in addressed


def _inline_addressees(body: str) -> tuple[str, ...]:
    """The ``To:``/``Cc:`` addresses of an original quoted inline after the notice."""
    original = inline_original_headers(body)
    return addressees(original) if original is not None else ()


#: Delay-warning wording in a notice with no delivery-status part: Exim's
#: "has not yet been delivered" (exim spec, "delay_warning"), Postfix's "THIS IS
#: A WARNING ONLY" / "still being retried" (bounce.cf.default), sendmail's
#: "THIS IS A WARNING MESSAGE ONLY" and "Will keep trying".
_STILL_TRYING = lazy(
    r"not yet been delivered|this is a warning (?:message )?only|still being retried|will (?:keep|continue) (?:trying|to try)"
    r"|delivery attempts will continue"
    # masqmail's warning template (tpl/warnmsg.tpl): "Delivery to the following recipients has been
    # defered" (its spelling), "Delivery will be tried again, until it is either successfull or ..."
    r"|will be tried again|has been defer+ed|could not yet be delivered",
    re.IGNORECASE,
)
#: Subjects of delay warnings: Gmail's and Exchange's "Delivery Status Notification (Delay)",
#: Exim's "Warning: message ... delayed", Postfix's "Delayed Mail (still being retried)",
#: sendmail's "Warning: could not send message for past 4 hours".
_DELAYED_SUBJECT = lazy(r"\(delay\)|\bdelayed\b|\bdelivery delay\b|^warning:", re.IGNORECASE)
#: Subjects that only a delay warning has, enough with a bounce envelope to call a notice
#: one: "(Delay)" (Gmail, Exchange), Exchange's "Delivery delayed:", Postfix's "Delayed Mail
#: (still being retried)", MailEnable's "Message Delivery Delayed" (knowledge base ME020125),
#: qmail-based hosts' "delayed delivery notice". Exim's "Warning: message ... delayed" too.
#: The noun as well ("Message Delivery Delay"): only a bounce envelope's subject is read here.
_DELAY_NOTICE_SUBJECT = lazy(r"\(delay\)|\bdelivery delay(?:ed)?\b|\bdelayed (?:mail|delivery)\b|^warning: message \S+ delayed\b",
                             re.IGNORECASE)
#: A success or relay notice without its report part (RFC 3464 actions "delivered",
#: "relayed", "expanded"; Gmail's and Exchange's "Delivery Status Notification (Success)"
#: / "(Relay)" subjects, "Delivered:" / "Relayed:" receipts).
_SUCCESS = lazy(r"\((?:success|relay)\)|^\s*(?:delivered|relayed)\s*:|successfully (?:delivered|relayed)|delivery (?:to .{0,80})?succeeded"
                r"|was (?:delivered|relayed|expanded)\b", re.IGNORECASE)
#: How much of the notice becomes the diagnostic of a recipient it never names.
_NOTICE_DIAGNOSTIC = 1000


def _notice_kind(msg: Message, words: str) -> Literal["bounce", "delay"] | None:
    """What a notice's structure says it is, for the readers that go by structure alone.

    A bounce envelope (a null return path, ``X-Failed-Recipients``, a daemon
    sender) and a non-delivery subject (those of
    :data:`~bounceledger.ingest.bounces.heuristic.NDR_SUBJECTS` are
    localised): a bounce, or a delay where the subject or the words say
    delivery goes on.
    """
    subject = m.header(msg, "Subject")
    delayed = _DELAY_NOTICE_SUBJECT.search(subject)
    if not bounce_envelope(msg) or not (delayed or BOUNCE_SUBJECTS.search(subject) or NDR_SUBJECTS.search(subject)):
        return None
    return "delay" if delayed or _DELAYED_SUBJECT.search(subject) or _STILL_TRYING.search(words) else "bounce"


def returned_recipient(msg: Message, keys: Keys, body: str) -> list[Failure]:
    """The one recipient of the returned original, for a bounce that names nobody in its own words.

    Some notices only say that delivery failed ("mailbox unavailable") and
    return the message they are about. When the structure leaves no doubt
    that this is a non-delivery notice (a null return path, Exim's
    ``X-Failed-Recipients`` or a daemon sender, and a bounce subject), the
    returned message's headers are addressed to exactly one address other
    than the notice's own, and the notice's words are about a failure, that
    address is the failed recipient (words in another language do too, under
    a non-delivery subject such as "Unzustellbar"). Several addresses in the returned
    ``To:``/``Cc:`` would be a guess, so they give nothing.
    """
    own = m.addresses_in(msg, "From", "To")
    original = _returned_original(msg, body)
    senders = original_senders(original) if original is not None else set()
    addressed = {a.lower() for a in keys.original_to or _inline_addressees(body)} - own - senders
    if len(addressed) != 1:
        return []
    words = m.unfold(" ".join(notice(body).split()))[:_NOTICE_DIAGNOSTIC]
    kind = _notice_kind(msg, words)
    subject = m.header(msg, "Subject")
    # failure words, or a non-delivery subject (localised) for a notice in another language
    if kind is None or not (_ERRORISH.search(words) or NDR_SUBJECTS.search(subject)) \
            or _SUCCESS.search(subject) or _SUCCESS.search(words):
        return []
    status = find_status(words)
    temporary = kind == "delay" or (status is not None and status.startswith("4"))
    address = addressed.pop()
    return [Failure(recipient=address, diagnostic=words, status=status, replycode=find_replycode(words),
                    temporary=temporary, stage_unknown=not from_recipients_system(msg, address))]


