"""Exim's bounce and delay messages, and mailers that copy their wording.

Exim writes "This message was created automatically by mail delivery
software", then "The following address(es) failed:" (or, in a delay
warning, "have not yet been delivered"), then each address indented by two
spaces with the reason indented below it::

      user@example.org
        host mx.example.org [192.0.2.1]
        SMTP error from remote mail server after RCPT TO:<user@example.org>:
        550 5.1.1 User unknown

Mail.Ru and 1&1 (kundenserver) use the same text, 1&1 with the address and
the reason in separate paragraphs ("For the following reason:"). When Exim
gives up after retrying ("retry timeout exceeded"), the failure is final but
the last error was temporary: Sisimai reports those with a 4.x.x class.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import failed_recipients, notice, sender_of

_SIGNATURE = quick(lazy(
    r"This message was created automatically by (?:mail delivery software|the SMTP relay)"
    r"|The following address(?:\(es\)|es)? (?:failed|ha(?:s|ve) not yet been delivered)"
    r"|A message that you sent could not be delivered to|could not be delivered to one or more of its\s+recipients"
    r"|A message that you sent contained one or more recipient addresses that were",
    re.IGNORECASE,
))
_LIST_START = quick(lazy(
    r"(?:The\s+following\s+address(?:\(es\)|es)?|addresses)\s+(?:failed|ha(?:s|ve)\s+not\s+yet\s+been\s+delivered)\s*:?"
    # Exim's default delay warning (deliver.c, warning message): "The address
    # to which the message has not yet been delivered is:" / "The addresses
    # ... are:", each address then indented with an optional "Delay reason:"
    r"|The\s+address(?:es)?\s+to\s+which\s+the\s+message\s+has\s+not\s+yet\s+been\s+delivered\s+(?:is|are)\s*:"
    r"|one or more recipient addresses that were\s+incorrectly constructed\s*:",
    re.IGNORECASE,
))
_LIST_END = quick(lazy(
    r"^[ \t]*-{2,} ?This is a copy|^[ \t]*-{2,} ?The header of the original|^[ \t]*\*{5,}|^[ \t]*No action is required"
    r"|^[ \t]*If (?:the problem|you)|^[ \t]*This address has been ignored",
    re.IGNORECASE | re.M,
))
_COMMAND = lazy(
    r"SMTP error from remote (?:mail server|mailer) after (?:pipelined )?(RCPT TO|MAIL FROM|end of data|DATA|"
    r"initial connection|HELO|EHLO|STARTTLS|AUTH)", re.IGNORECASE)
_COMMANDS = {"rcpt to": "RCPT", "mail from": "MAIL", "end of data": "DATA", "data": "DATA",
             "initial connection": "CONN", "helo": "HELO", "ehlo": "EHLO", "starttls": "STARTTLS", "auth": "AUTH"}
#: Exim's words for "I stopped retrying a temporary error".
GAVE_UP = lazy(
    r"retry timeout exceeded|all hosts have been failing for a long time|retry time not reached for any host"
    r"|was frozen|delivery (?:attempts )?(?:have|has) been (?:failing|deferred) for",
    re.IGNORECASE,
)
_DELAY = quick(lazy(r"ha(?:s|ve) not yet been delivered|Warning: message .{0,40}delayed", re.IGNORECASE))
#: "Delay reason: SMTP error from remote mail server ...": Exim 4.8x+ names
#: the cause of each delayed address on its own line (deliver.c).
_DELAY_REASON = lazy(r"^Delay reason:\s*", re.IGNORECASE)
#: "host mx.example.org [192.0.2.1]" (Exim) or "host: mx.example.org (192.0.2.1)" (1&1):
#: the remote server that answered, for per-provider rules.
_REMOTE_HOST = lazy(r"\bhost:?\s+([A-Za-z0-9][\w-]*(?:\.[\w-]+)+)\s+[\[(]", re.IGNORECASE)
#: Exim's note under an address that an alias or redirect produced: "(generated from <address>)",
#: "(ultimately generated from <address>)" (exim spec, "Bounce and delay warning messages").
_GENERATED_FROM = lazy(r"\((?:ultimately )?generated from ([^)\s]+)\)", re.IGNORECASE)
_ADDRESS_LINE = lazy(r"^(?P<indent>[ \t]*)(?P<addr>\S+(?:@\S+)?)(?:\s+<(?P<inner>[^>]+)>)?\s*(?::(?P<rest>.*))?$")


def _is_exim(msg: Message, body: str) -> bool:
    if m.header(msg, "X-Failed-Recipients") and _LIST_START.search(body):
        return True
    return bool(_SIGNATURE.search(body[:20_000])) and bool(_LIST_START.search(body[:50_000]))


#: Exim's local_scan() refusing a message it had accepted (Mail.Ru uses it for
#: mailbox checks): no address list, only the error, which names the mailbox.
_LOCAL_SCAN = quick(lazy(r"rejected by the local scanning code.{0,200}?The following error was given:\s*(?P<said>.*?)"
                               r"(?=^[ \t]*-{2,} ?This is a copy|\Z)", re.IGNORECASE | re.M | re.S))


def _local_scan(msg: Message, body: str) -> list[Failure]:
    found = _LOCAL_SCAN.search(body[:20_000])
    if not found:
        return []
    said = m.unfold(found.group("said"))
    addresses = failed_recipients(msg) or [a for a in (m.first_address(w) for w in said.split()) if a]
    return [Failure(recipient=a, diagnostic=said, command="DATA") for a in dict.fromkeys(addresses)]


#: An address line with nothing after it ('"user@example.org":', '<user@example.org>').
_HEAD_ONLY = lazy(r"^[\"<]?[^\s\"<>@]+@[^\s\"<>]+[\">]?:?$")


def _entries(section: str) -> list[tuple[str, str, bool]]:
    """(address line, indented explanation, reason unindented) of one address list.

    The reason comes unindented under a bare address line from 1&1 and GMX,
    which copy Exim's wording but not its layout.
    """
    unindented: set[int] = set()
    entries: list[tuple[str, list[str]]] = []
    lines = section.splitlines()
    base: int | None = None
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if base is None:
            base = indent
        if indent <= base and entries and _HEAD_ONLY.match(entries[-1][0]) and not _HEAD_ONLY.match(line.strip()):
            entries[-1][1].append(line.strip())  # 1&1, GMX: "addr:" alone, then the reason unindented
            unindented.add(len(entries) - 1)
        elif indent <= base:
            entries.append((line.strip(), []))
        elif entries:
            entries[-1][1].append(line.strip())
    # 1&1 lists several bare addresses, then one unindented "Reason:" for all of them
    for i in range(len(entries) - 2, -1, -1):
        if not entries[i][1] and i + 1 in unindented and _HEAD_ONLY.match(entries[i][0]):
            entries[i][1].extend(entries[i + 1][1])
            unindented.add(i)
    return [(head, " ".join(rest), i in unindented) for i, (head, rest) in enumerate(entries)]


def _split_1and1(section: str) -> list[tuple[str, str, bool]]:
    """``addr`` paragraph, then "For the following reason:" and the reason."""
    head, reason = re.split(r"For the following reason:", section, maxsplit=1, flags=re.I)
    addresses = [a for a in (m.address_of(x) for x in head.split()) if a]
    return [(a, m.unfold(reason), True) for a in addresses]


def detect(msg: Message, body: str) -> list[Failure]:
    if not _is_exim(msg, body):
        return _local_scan(msg, body) if _SIGNATURE.search(body[:20_000]) or "mailer-daemon" in sender_of(msg) else []
    english = body
    # Mail.Ru puts a translated copy first; the English original follows a row of stars
    stars = re.search(r"^\*{10,}\s*$", body[:20_000], re.M)
    if stars and _LIST_START.search(body, stars.end()):
        english = body[stars.end():]
    start = _LIST_START.search(english)
    if not start:
        return []
    rest = english[start.end():]
    end = _LIST_END.search(rest)
    section = rest[: end.start()] if end else notice(rest)
    if re.search(r"For the following reason:", section, re.I):
        pairs = _split_1and1(section)
    else:
        pairs = _entries(section)
    delayed = bool(_DELAY.search(english[: start.end()]))
    known = failed_recipients(msg)
    failures: list[Failure] = []
    named: set[str] = set()  # the addresses listed, as listed
    pairs = [(h, e, u) for h, e, u in pairs if re.search(r"[A-Za-z0-9]", h) and not re.fullmatch(r"[-=*_ ]+", h)]
    for index, (head, explanation, unindented) in enumerate(pairs):
        match = _ADDRESS_LINE.match(head)
        address = None
        if match:
            address = m.address_of(match.group("inner") or "") or m.address_of(match.group("addr"))
        rest = match.group("rest") if match else None
        if address is None and len(known) == len(pairs):
            address, rest = known[index], None  # "save to /var/mail/x": X-Failed-Recipients names it
            explanation = " ".join(filter(None, [head if not match else "", explanation]))
        if address is None and match and (explanation or match.group("rest")):
            token = match.group("addr").strip("<>:")
            if not token or len(token) > 254:
                continue
            # a bare local part ("kijitora"): Exim names it so, its reason indented below it; a
            # word alone on a line with nothing under it is a wrapped reply's ("Please\ndirect\n552-...")
            address = token
        if address is None:
            continue
        explanation = _DELAY_REASON.sub("", re.sub(r"^Reason:\s*", "", explanation))
        text = m.unfold(" ".join(filter(None, [rest, explanation])))
        command = _COMMAND.search(text)
        generated = _GENERATED_FROM.match(text)
        text = re.sub(r"^\((?:ultimately )?generated from [^)]*\)\s*|^generated by \S+\s*", "", text, flags=re.I)
        if address in named:
            continue  # "<a@b>: 550 ..." then the bare "<a@b>" again (MXLogic): one recipient
        named.add(address)
        sent_to = m.address_of(generated.group(1)) if generated else None
        if sent_to and sent_to != address:
            # an alias or redirect at the receiving site led here: the address we sent to is the one the
            # report is about, as a DSN's Original-Recipient says (Exim writes it there too)
            address = sent_to
        else:
            sent_to = None
        remote = _REMOTE_HOST.search(text)
        failures.append(Failure(
            remote_mta=remote.group(1).lower() if remote else None,
            recipient=address,
            original_recipient=sent_to,
            diagnostic=text,
            command=_COMMANDS.get(command.group(1).lower()) if command else None,
            temporary=delayed,
            # Exim keeps the temporary class of the last error when it gives up;
            # 1&1 and GMX report their give-up as a plain permanent expiry.
            gave_up=bool(GAVE_UP.search(text)) and not delayed and not unindented,
            stage_unknown=command is None and bool(re.match(r"[245]\d\d\b", text)),
            reason="syntaxerror" if "incorrectly constructed" in start.group(0).lower()
            else "expired" if unindented and GAVE_UP.search(text) else None,
        ))
    if not failures and known:
        failures = [Failure(recipient=a, diagnostic=m.unfold(section)[:2000]) for a in known]
    return failures
