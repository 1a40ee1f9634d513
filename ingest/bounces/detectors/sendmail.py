"""sendmail's plain-text error reports (no ``message/delivery-status`` part).

sendmail writes these when MIME DSNs are off (``SendMimeErrors=False``),
and versions before 8.7 (V5-era) never wrote anything else. The layout is
fixed by ``errbody()`` in sendmail's ``savemail.c``: section heads between
dashes, each listing one address per unindented line, with indented
``(reason: ...)`` and ``(expanded from: ...)`` lines below it::

       ----- The following addresses had permanent fatal errors -----
    <ann@example.net>
        (reason: 550 5.1.1 <ann@example.net>... User unknown)

       ----- The following addresses had transient non-fatal errors -----
    <bob@example.net>

       ----- The following addresses had successful delivery notifications -----
    <cy@example.net>  (relayed to non-DSN-aware mailer)

       ----- Transcript of session follows -----
    ... while talking to mx.example.net.:
    >>> RCPT To:<ann@example.net>
    <<< 550 5.1.1 <ann@example.net>... User unknown
    550 5.1.1 <ann@example.net>... User unknown
    <bob@example.net>... Deferred: Connection timed out with mx.example.net.

Old reports have only the transcript; there, each ``<addr>... text`` line
with an error code (or ``Deferred:``) names a recipient. Addresses in the
success section (the sender asked for NOTIFY=SUCCESS) are success records,
except an alias that was only expanded.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import notice
from bounceledger.ingest.bounces.rfc3464 import completed_reply

#: savemail.c errbody(): the section heads, with the dashes sendmail prints.
_SECTION = quick(lazy(
    r"^[ \t]*-{3,}[ \t]*(?:The following addresses (?P<kind>had permanent fatal errors|had transient non-fatal errors"
    r"|had successful delivery notifications|have delivery notifications)"
    r"|(?P<transcript>Transcript of session follows))[ \t]*-{3,}[ \t]*$",
    re.IGNORECASE | re.M,
))
#: Any other dashed line ends a section ("----- Original message follows -----").
_OTHER_DASHED = quick(lazy(r"^[ \t]*-{3,}[ \t]*\S.*-{3,}[ \t]*$", re.M))
#: savemail.c: "    (reason: %s)" under an address of the permanent section.
_REASON = lazy(r"^\(reason:\s*(.*)\)$", re.IGNORECASE)
#: savemail.c: "    (expanded from: %s)": the address the sender used, before aliasing.
_EXPANDED = lazy(r"^\(expanded from:\s*(.*)\)$", re.IGNORECASE)
#: deliver.c / usersmtp.c transcript lines: "550 5.1.1 <a@b>... User unknown",
#: "<a@b>... Deferred: Connection refused by mx.example.net."
_ADDRESS_SAYS = lazy(
    r"^(?:(?P<code>[245]\d\d)[ -](?:(?P<status>[245]\.\d{1,3}\.\d{1,3})[ ])?)?"
    r"(?P<addr>\"[^\"]+\"|<[^<>\s]*>|[^\s<>]+)\.\.\.\s+(?P<said>.*)$"
)
#: usersmtp.c: "... while talking to mx.example.net.:" names the remote host.
_TALKING = lazy(r"while talking to ([A-Za-z0-9][\w.-]*?)\.?:", re.IGNORECASE)
#: ">>> RCPT To:<a@b>" (the command sent) and "<<< 550 ..." (the reply).
_SENT = lazy(r"^>>>\s*(RCPT|MAIL|DATA|HELO|EHLO|STARTTLS)\b(?:\s*(?:To|From):\s*<?([^<>\s]*)>?)?",
                   re.IGNORECASE)
_REPLY = lazy(r"^<<<\s*(.*)$")
#: deliver.c: "<address>... Deferred: <reply>" in a transcript: the server's reply to that address.
_DEFERRED_REPLY = lazy(r"\.\.\. Deferred: ([45]\d\d[ \-].*)$", re.IGNORECASE)
#: A "(reason: ...)" text that is a server's reply: its code first.
_QUOTES_A_REPLY = lazy(r"\s*[45]\d\d[ \-]")


def _sections(text: str) -> list[tuple[str, str]]:
    """(kind, lines) of each section: ``failed``, ``delayed``, ``success``, ``transcript``."""
    found: list[tuple[str, str]] = []
    heads = list(_SECTION.finditer(text))
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(text)
        other = _OTHER_DASHED.search(text, head.end(), end)
        chunk = text[head.end(): other.start() if other else end]
        if head.group("transcript"):
            kind = "transcript"
        else:
            words = head.group("kind").lower()
            kind = "failed" if "permanent" in words else "delayed" if "transient" in words else "success"
        found.append((kind, chunk))
    return found


def _listed(chunk: str) -> list[tuple[str, str]]:
    """(address, reason, expanded from) of each unindented address line of a section."""
    listed: list[tuple[str, str, str | None]] = []
    for line in chunk.splitlines():
        if not line.strip():
            continue
        if line[:1] in (" ", "\t"):
            said = _REASON.match(line.strip())
            alias = _EXPANDED.match(line.strip())
            if said and listed:
                listed[-1] = (listed[-1][0], said.group(1), listed[-1][2])
            elif alias and listed:
                listed[-1] = (listed[-1][0], listed[-1][1], m.address_of(alias.group(1).strip("<>\"")))
            continue
        head, _, note = line.partition("  ")
        address = m.address_of(head.strip()) or m.first_address(line)
        if address:
            listed.append((address, note.strip().strip("()"), None))
    return listed


class _Transcript:
    """What a transcript says: the remote server's reply to the command that
    named each address (``<<<`` after ``>>> RCPT To:<a@b>``), sendmail's own
    ``<a@b>... text`` line per address, the reply to ``DATA`` (it concerns
    every recipient of the session) and the remote host."""

    def __init__(self, chunk: str) -> None:
        self.replies: dict[str, str] = {}
        self.own: dict[str, str] = {}
        self.data_reply: str | None = None
        self.general: str | None = None  # "554 Too many hops ...": an error naming no address
        self.host: str | None = None
        self.text = chunk
        # Commands awaiting their reply, oldest first: with PIPELINING (RFC 2920) sendmail
        # sends MAIL, every RCPT and DATA at once, and the replies follow in that order.
        pending: list[tuple[str, str | None]] = []
        command: str | None = None
        target: str | None = None
        continued: list[str] = []  # the first lines of a multi-line reply, until its last line
        for raw in chunk.splitlines():
            line = raw.strip()
            if not line:
                continue
            talking = _TALKING.search(line)
            if talking:
                self.host = self.host or talking.group(1).lower()
                continue
            sent = _SENT.match(line)
            if sent:
                command = sent.group(1).upper()
                pending.append((command, m.address_of(sent.group(2) or "") if command == "RCPT" else None))
                continue
            reply = _REPLY.match(line)
            if reply:
                said = reply.group(1)
                if said[3:4] == "-":
                    # RFC 5321 4.2.1: a multi-line reply's first lines; its last line answers the
                    # command, and the reply is all of them (a provider's cause may be on any line)
                    continued.append(" ".join(said.split()))
                    continue
                if continued:
                    if continued[0][:3] == said[:3]:
                        said = " ".join([*continued, " ".join(said.split())])
                    continued = []
                if pending:  # else: a reply the transcript shows no command for, taken as the last one's
                    command, target = pending.pop(0)
                if said[:1] in ("4", "5"):
                    if command == "RCPT" and target:
                        self.replies.setdefault(target, said)
                    elif command == "DATA":
                        self.data_reply = self.data_reply or said
                continue
            own = _ADDRESS_SAYS.match(line)
            if own:
                address = m.address_of(own.group("addr").strip("<>\""))
                if address:
                    self.own.setdefault(address, line)
            elif self.general is None and _ERROR_LINE.match(line):
                self.general = line

    def about(self, address: str, fallback: str) -> tuple[str, str | None, str | None]:
        """(text, SMTP command, remote host) for one recipient: the host only
        where the remote server itself answered about it.

        Sendmail's own "(reason: ...)" under the address (``fallback``), where
        it quotes a server's reply, beats a reply the transcript gives no
        command for: with PIPELINING the transcript shows only ``>>> DATA``,
        then every RCPT's reply after it, so the first refusal there is the
        first recipient's, not the DATA's."""
        if address in self.replies:
            return self.replies[address], "RCPT", self.host
        # savemail.c quotes only a multi-line reply's first line in "(reason: ...)": the whole
        # reply is read back from the transcript, as for a DSN's Diagnostic-Code
        fallback = completed_reply(fallback, self.text)
        if not self.replies:
            if fallback and _QUOTES_A_REPLY.match(fallback):
                return fallback, None, self.host
            deferred = _DEFERRED_REPLY.search(self.own.get(address) or "")
            if deferred:  # "addr... Deferred: 451 4.3.0 ...": the reply this address got
                return deferred.group(1), None, self.host
        if self.data_reply:
            return self.data_reply, "DATA", self.host
        return self.own.get(address) or fallback or self.general or "", None, None


#: savemail.c: a success entry that is no delivery ("expanded by alias": the
#: alias was expanded, its members are reported on their own).
_NOT_DELIVERED = lazy(r"expanded by alias", re.IGNORECASE)
#: deliver.c / queue.c: the queue lifetime ran out ("Message could not be
#: delivered for 5 days" / "Message will be deleted from queue").
_GAVE_UP = quick(lazy(r"^Message could not be delivered for\b|^Message will be deleted from queue", re.IGNORECASE | re.M))
#: queue.c: the delay warning's own lines ("Warning: message still undelivered
#: after 4 hours", "Will keep trying until message is 5 days old").
_WARNING = quick(lazy(r"^Warning: message still undelivered after\b|^Will keep trying until message is\b",
                            re.IGNORECASE | re.M))
_ERROR_LINE = lazy(r"^[45]\d\d[ -]|\.\.\.\s+Deferred\b", re.IGNORECASE)
_DEFERRED = lazy(r"\.\.\.\s+Deferred\b|^4\d\d[ -]", re.IGNORECASE)


def detect(msg: Message, body: str) -> list[Failure]:
    text = notice(body, msg=msg)
    if not _SECTION.search(text):
        return []
    sections = _sections(text)
    transcript = _Transcript("\n".join(chunk for kind, chunk in sections if kind == "transcript"))
    listed = [(kind, address, reason, alias) for kind, chunk in sections if kind in ("failed", "delayed", "success")
              for address, reason, alias in _listed(chunk)
              if not (kind == "success" and _NOT_DELIVERED.search(reason))]
    named = {address for _, address, _, _ in listed}
    # the transcript's own "<addr>... error" lines name recipients no section
    # lists: every one in a V5-era report (only a transcript), and in a
    # warning the address still deferred ("<addr>... Deferred: 451 ..."); a
    # failure report says nothing of an address it keeps retrying
    warning = _WARNING.search(text) is not None
    listed += [("delayed" if _DEFERRED.search(line) else "failed", address, "", None)
               for address, line in transcript.own.items()
               if address not in named and _ERROR_LINE.search(line)
               and (not named or (warning and _DEFERRED.search(line)))]
    gave_up = _GAVE_UP.search(text) is not None
    failures: list[Failure] = []
    seen: set[str] = set()
    for kind, address, reason, alias in listed:
        if address in seen:
            continue
        seen.add(address)
        if kind == "success":
            failures.append(Failure(recipient=address, diagnostic=reason, status="2.0.0", kind="success",
                                    original_recipient=alias))
            continue
        said, command, host = transcript.about(address, reason)
        failures.append(Failure(
            recipient=address,
            diagnostic=m.unfold(said or reason),
            temporary=kind == "delayed",
            remote_mta=host,
            command=command,
            original_recipient=alias,
            # a permanent-section entry whose last answer was temporary: the
            # queue lifetime ran out
            gave_up=gave_up and kind == "failed" and bool(re.match(r"4\d\d\b", m.unfold(said or reason))),
        ))
    return failures
