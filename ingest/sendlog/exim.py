"""Exim main-log parser: ``mainlog`` lines in, ``Attempt`` records out.

Exim writes one line per event, keyed by the message id (``1rAbCd-000123-Xy``,
or the longer ``1rAbCd-0001234567-Xyz`` form of Exim 4.97+), with a two-byte
flag saying what happened:

* ``<=``  arrival: the envelope sender (``<>`` for bounces), ``id=`` Message-ID,
  and for a bounce Exim made itself ``R=<original id>`` -> a ``DsnLink``
* ``=>``  delivered (``->`` for further addresses in the same transaction,
  ``>>`` for a cutthrough delivery)       -> an accepted attempt
* ``==``  deferred                        -> a deferred attempt
* ``**``  failed                          -> a rejected attempt, or an expired
  one when Exim gave up because the retry time ran out
* ``Completed``                           -> the message id is closed

The fields after the address are ``KEY=value`` pairs (``R=`` router, ``T=``
transport, ``H=host [ip]:port``, ``C="250 ..."`` confirmation with
``log_selector = +smtp_confirmation``, ``F=<sender>`` with
``+sender_on_delivery``); values with blanks are double-quoted with backslash
escapes. Failures end in ``: <message>``; the remote server's words sit
behind ``SMTP error from remote mail server after <command>: ``, where older
Exims also put ``host NAME [IP]: `` instead of an ``H=`` field.

The stamp is Exim's own ``2026-11-27 10:15:02`` (with ``.123`` under
``+millisec`` and `` +0100`` under ``log_timezone``) read in the configured
zone; a ``[pid]`` may follow. Exim logging through syslog gets the syslog
header first (and usually its own stamp after it, which wins: it has a year).

Internal hand-offs -- local mailboxes (``T=local_delivery``,
``R=localuser``), pipes (``|/usr/bin/...``), files, ``:blackhole:``, LMTP into
Dovecot, and any ``=>`` without a remote host -- are ``first_hop=False``;
remote hosts go through the configured internal-relay patterns like
Postfix's.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

from bounceledger.ingest.keys import normalise_address
from bounceledger.ingest.records import Attempt, AttemptVerdict
from bounceledger.ingest.sendlog.base import (
    CountingParser,
    DsnLink,
    ParseOptions,
    QueueState,
    looks_like_ip,
    next_hop_queue_id,
    normalize_stage,
    refresh,
    remember,
    split_reply,
)
from bounceledger.ingest.sendlog.relays import RelayClassifier
from bounceledger.ingest.sendlog.journal import JOURNAL_STARTS
from bounceledger.ingest.sendlog.syslogtime import StampReader, header_time, match_syslog_header

__all__ = ["EximParser", "looks_like_exim"]

# "2026-11-27 10:15:02", "+millisec" ".123", "log_timezone" " +0100", then
# an optional "[pid] " from "+pid".
_STAMP = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?(?: [+-]\d{4})?) (?:\[\d+\] )?"
)
_MSGID = re.compile(r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}")
_SYSLOG_PART = re.compile(r"\[(\d+)[/\\]\d+\] ")
# "+pid" puts "[pid] " right after the date and time (Exim spec 4.96, 53.15 "pid: The current
# process id is added to every log line, in square brackets, immediately after the time and
# date"); with "syslog_timestamp = false" there is no date and time, so through syslog the line
# reads "exim[123]: [123] 1rAbCd-... <= ...". Observed with Exim 4.96 (Debian), log_selector +all.
_BARE_PID = re.compile(r"\[\d+\] ")
_LINE = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?(?: [+-]\d{4})?) (?:\[\d+\] )?"
    r"(?:(?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) (?P<flag>\S\S))?"
)

# The address part of a delivery line: the address itself, optional
# "(parent)" groups from +all_parents, the original "<address>" when it
# differs, and possibly a colon that ends the fields at once
# ("** x@y: Unrouteable address").
_ADDRESS = re.compile(
    # Exim logs a quoted local part unquoted ("john doe@x <\"john doe\"@x>"): an address with
    # spaces is words without "=" whose last holds the "@", followed by its quoted original.
    r"(?P<addr>:blackhole:|\|[^<]*?(?= <)|(?:[^\s<\"=]+ )+[^\s<\"=]*@[^\s<]+(?= <\")|[^\s<]+?)(?P<c1>:)?"
    r"(?: \([^)]*\))*"
    r"(?: <(?P<orig>[^>]*)>(?P<c2>:)?)?"
    r"(?= |$)"
)
# The fields after the address are a sequence of " NAME=value" items in no
# fixed order: which appear, and where, depends on log_selector (Exim spec
# 4.96, 53.7 "Logging deliveries" and 53.15's table: S= from delivery_size,
# I= from outgoing_interface, X=/CV=/DN= from tls_*, QT=/DT= from
# queue_time/deliver_time, F=/P= from sender_on_delivery and
# return_path_on_delivery, K and PRDR flags...). So they are read one by one,
# each by the shape of its value, and names we do not use are stepped over.
_TOKEN = re.compile(
    r" +(?:(?P<k>[A-Za-z][A-Za-z0-9]{0,7}\*?)="
    r'(?:"(?P<q>(?:[^"\\]|\\.)*)"'  # quoted, backslash escapes
    # H=host [ip]:port, H=[ip], H=host (helo) [ip], I=[ip]:port; the "*" Exim
    # puts after the address (and port) for the 2nd+ message down one
    # connection (53.7)
    r"|(?P<h>(?:[^\s\[\]()]+ ?)?(?:\([^)]*\) ?)?\[[^\]]*\](?::\d{1,5})?\*?)"
    r"|(?P<v>[^\s:]*(?::+[^\s:]+)*))"  # a bare token; ": " after it opens the message
    r"|(?:routing )?defer \((?P<e>-?\d+)\)"
    r"|(?P<b>[^\s:]+(?::+[^\s:]+)*))"  # a flag (K, PRDR...) or a word we do not know
    r"|(?P<m>:(?: |$))"
)
# Exim writes a delivery as "addr [<orig>] [F=<s>] [P=<s>] R= T= [defer (n)]
# [S=n] [H=host [ip]:port] [I=[ip]:port] [X=..] [CV=..] [K] [C="..."] [QT=]
# [DT=] [: message]" under the default and the common log_selectors. A line
# that is *entirely* this shape is read in one match (no field left over, so
# none can be lost); every other line goes through the field reader.
_DEFAULT_SHAPE = re.compile(
    r"(?P<addr>(?:[^\s<\"=]+ )+[^\s<\"=]*@[^\s<]+(?= <\")|[^\s<:|/\"][^\s<:]*)(?: <(?P<orig>[^>]*)>)?"
    r"(?: F=<(?P<F>[^>]*)>)?(?: P=<[^>]*>)?"
    r" R=(?P<R>[^\s:\"]+) T=(?P<T>[^\s:\"]+)(?: defer \((?P<errno>-?\d+)\))?(?: S=\d+)?"
    r"(?: H=(?:(?P<host>[^\s\[\]()]+) )?\[(?P<ip>[^\]]+)\](?::(?P<port>\d{1,5}))?\*?)?"
    r"(?: I=\[[^\]]*\](?::\d{1,5})?)?(?: X=\S+)?(?: CV=\S+)?(?: K)?"
    r'(?: C="(?P<C>(?:[^"\\]|\\.)*)")?(?: QT=[^\s:]+)?(?: DT=[^\s:]+)?'
    r"(?:: (?P<msg>.*))?",
    re.S,
)
_ARRIVAL_ID = re.compile(r"(?:^| )id=(\S+)")
_ARRIVAL_R = re.compile(r"(?:^| )R=(\S+)")
# One host value, split.
_HOSTVAL = re.compile(
    r"(?P<host>[^\s\[\]()]+?)?(?: ?\((?P<helo>[^)]*)\))?"
    r"(?: ?\[(?P<ip>[^\]]*)\](?::(?P<port>\d{1,5}))?)?\*?"
)
# Timing items Exim appends after a failure's message (deliver_time, 53.15).
_TRAILING_TIMES = re.compile(r"(?: (?:DT|QT|RT)=[0-9.smhdw]+)+$")
_SMTP_ERROR = re.compile(
    r"SMTP error from remote (?:mail server|mailer|host) after (?P<cmd>.*?): "
    r"(?:host (?P<host>[^\s\[]+) \[(?P<ip>[^\]]+)\](?::\d{1,5})?: )?"
    r"(?P<reply>.*)$",
    re.S,
)
# A deferral with a positive errno logs "defer (N): <strerror(N)>" *before* the host and
# timing items, and the transport's own message after them:
# "defer (110): Connection timed out H=mx [ip]:25 I=[ip]:port DT=6s: SMTP timeout after RCPT TO:<a>".
# src: Exim 4.96 src/deliver.c, deferral logging (errno text, then d_hostlog(), then ": message");
# observed with Exim 4.96 (Debian) for connect, greeting, RCPT and end-of-data timeouts.
_ERRNO_TEXT = re.compile(r"(?P<etext>[^:=]+?)(?= [A-Za-z][A-Za-z0-9]{0,7}\*?=)")
# "retry time not reached [for any host ...]": nothing was tried. Its errno (ERRNO_HRETRY...) is
# renumbered between releases (-53 in 4.8x-4.94, -54 in 4.96, -61 in 4.97+), the words are not.
# src: Exim src/exim.h ERRNO_* lists of those releases; Exim 4.96 logs "defer (-54): retry time not reached".
_NOT_REACHED = "retry time not reached"
# Exim's messages for "we gave up because it kept failing", not "refused".
_GAVE_UP = ("retry timeout exceeded", "have been failing for a long time")


def _host_value(value: str) -> tuple[str | None, str | None, int | None]:
    """(host, ip, port) of an ``H=`` item: "mx.example [192.0.2.1]:25", or a bare name."""
    found = _HOSTVAL.fullmatch(value)
    if found is None:
        return value, None, None
    return found.group("host") or None, found.group("ip") or None, int(found.group("port")) if found.group("port") else None


# Transport / router names that deliver inside the host (the conventional
# names of Exim's default configuration and the common distributions').
_INTERNAL_NAME = re.compile(
    r"(?:^|_)(?:local|localuser|pipe|file|reply|autoreply|appendfile|maildir|mailbox|"
    r"virtual|dovecot|lmtp|procmail|blackhole|mailman|userforward|devnull)(?:_|$|user)",
    re.I,
)

_NAME_MEMO: dict[str, bool] = {}


def _internal_name(name: str) -> bool:
    """Whether a transport or router name means local delivery (memoised:
    a log has a handful of names)."""
    known = _NAME_MEMO.get(name)
    if known is None:
        known = _INTERNAL_NAME.search(name) is not None
        if len(_NAME_MEMO) < 1024:
            _NAME_MEMO[name] = known
    return known


_FLAGS: dict[str, AttemptVerdict] = {
    "=>": "accepted",
    "->": "accepted",
    ">>": "accepted",
    "==": "deferred",
    "**": "rejected",
}

_UNESCAPE = re.compile(r"\\(.)")


def looks_like_exim(first_lines: list[str]) -> bool:
    """True when at least one line carries an Exim message id with an event
    flag (or an unmistakable Exim daemon line) and a fifth of the non-blank
    lines have Exim's stamp or come from an ``exim`` syslog program."""
    seen = hits = strong = 0
    for line in first_lines:
        if not isinstance(line, str) or not line.strip():
            continue
        seen += 1
        rest = _strip_prefix(line)
        if rest is None:
            continue
        hits += 1
        if len(rest) > 20 and _MSGID.match(rest) is not None:
            after = rest[_MSGID.match(rest).end() :]  # type: ignore[union-attr]
            if after[:4] in (" <= ", " => ", " -> ", " == ", " ** ", " >> ") or after.startswith(" Completed"):
                strong += 1
        elif rest.startswith(("SMTP connection from", "Start queue run", "exim ", "End queue run")):
            strong += 1
    return strong > 0 and hits * 5 >= seen


def _strip_prefix(line: str) -> str | None:
    """The part after the stamp (Exim's own, or a syslog header from an
    ``exim`` program), or None when the line has neither."""
    m = _STAMP.match(line)
    if m is not None:
        return line[m.end() :]
    h = match_syslog_header(line)
    if h is None or not h.group("prog").lower().startswith("exim"):
        return None
    return _past_stamp(line[h.end() :])[1]


def _past_stamp(rest: str) -> tuple[str | None, str]:
    """What follows a syslog header of Exim's: Exim's own stamp (``syslog_timestamp``, the
    default) and the text after it, or None and the text after a bare ``[pid]`` (``+pid``
    without the stamp) or the text itself."""
    m = _STAMP.match(rest)
    if m is not None:
        return m.group("ts"), rest[m.end() :]
    p = _BARE_PID.match(rest)
    return None, rest[p.end() :] if p is not None else rest


def _unquote(value: str) -> str:
    return _UNESCAPE.sub(r"\1", value) if "\\" in value else value


class EximParser(CountingParser):
    """Stateful parser for one Exim main log. See the module docstring.

    ``dsn_links`` maps the id of each bounce Exim generated to the message it
    reports on (``<= <> R=<id>``); capped like the message state.
    """

    journal_starts = JOURNAL_STARTS  # it logs through syslog: read journal exports too

    format_name = "exim"

    def __init__(self, options: ParseOptions) -> None:
        super().__init__()
        self.options = options
        self._stamps = StampReader(options.reference_time, options.timezone)
        self._relays = RelayClassifier(options.internal_relays)
        self._cap = options.max_tracked_queue_ids
        self._messages: dict[str, QueueState] = {}
        self.dsn_links: dict[str, DsnLink] = {}

    @property
    def tracked_queue_ids(self) -> int:
        """How many message ids currently have state (for tests and metrics)."""
        return len(self._messages)

    # -- entry point ---------------------------------------------------------

    def _feed(self, raw: str) -> list[Attempt]:
        m = _LINE.match(raw)
        if m is not None:
            # the common case in one match: Exim's stamp, the id, the flag
            ts = m.group("ts")
            mid = m.group("id")
            if mid is None:
                return []  # daemon chatter: connections, queue runs...
            flag = m.group("flag")
            body = raw[m.end() + 1 :]
            rest = raw[m.start("id") :]
        else:
            h = match_syslog_header(raw)
            if h is None:
                if raw.strip():
                    self._skip(raw)
                return []
            if not h.group("prog").lower().startswith("exim"):
                return []  # another daemon in a shared mail.log
            rest = raw[h.end() :]
            if rest[:1] == "[":
                # src: Exim src/log.c write_syslog(): a line longer than MAX_SYSLOG_LEN (870),
                # or holding newlines, goes to syslog as "[1/n] part", "[2/n] part" ("\\" for
                # a newline split). The first part holds the id, flag and address; the others
                # only continue its text.
                part = _SYSLOG_PART.match(rest)
                if part is not None:
                    if part.group(1) != "1":
                        return []
                    rest = rest[part.end() :]
            own, rest = _past_stamp(rest)
            ts = own or h.group("ts")
            idm = _MSGID.match(rest)
            if idm is None or rest[idm.end() : idm.end() + 1] != " ":
                return []
            mid = idm.group()
            flag = rest[idm.end() + 1 : idm.end() + 3]
            body = rest[idm.end() + 4 :]
        end = len(mid)
        if rest[end + 3 : end + 4] != " ":
            body = None

        verdict = _FLAGS.get(flag)
        if verdict is not None and body is not None:
            return self._delivery(ts, mid, verdict, body, raw)
        if flag == "<=" and body is not None:
            self._arrival(ts, mid, body)
            return []
        tail = rest[end + 1 :]
        if tail.startswith("Completed") or tail.startswith("removed by"):
            self._messages.pop(mid, None)
        return []

    # -- line kinds ----------------------------------------------------------

    def _arrival(self, ts: str, mid: str, body: str) -> None:
        raw_sender, _, fields_part = body.partition(" ")
        sender = raw_sender
        if sender.startswith("<") and sender.endswith(">"):
            sender = sender[1:-1]
        self._messages.pop(mid, None)  # an id is never reused; start afresh
        state = self._open(mid)
        state.sender = sender
        # Before the first quoted value (T="subject"...) nothing is free-form
        # that could hold " id=" or " R=": two searches there find them
        # wherever they are; only what they miss needs the field reader.
        quote = fields_part.find('"')
        head = fields_part if quote == -1 else fields_part[:quote]
        fields = {}
        im = _ARRIVAL_ID.search(head)
        if im is not None:
            fields["id"] = im.group(1)
        if sender == "":
            rm = _ARRIVAL_R.search(head)
            if rm is not None:
                fields["R"] = rm.group(1)
        if quote != -1 and (im is None or (sender == "" and "R" not in fields)):
            fields, _ = _fields(body, len(raw_sender))
        msgid = fields.get("id")
        if msgid:
            if msgid.startswith("<") and msgid.endswith(">"):
                msgid = msgid[1:-1]
            state.message_id = msgid or None
        original = fields.get("R") if sender == "" else None
        if original is not None and _MSGID.fullmatch(original) is None:
            original = None  # R= names a router on other lines, a message id only here
        if original:
            orig_state = self._messages.get(original)
            self.dsn_links.pop(mid, None)
            self.dsn_links[mid] = DsnLink(
                notification_queue_id=mid,
                original_queue_id=original,
                kind="notification",  # Exim does not say bounce or delay warning
                addressee="sender",
                original_message_id=orig_state.message_id if orig_state is not None else None,
                at=self._at(ts),
            )
            if len(self.dsn_links) > self._cap:
                del self.dsn_links[next(iter(self.dsn_links))]

    def _delivery(self, ts: str, mid: str, verdict: AttemptVerdict, body: str, raw: str) -> list[Attempt]:
        at = self._at(ts)
        if at is None:
            if _ADDRESS.match(body) is not None:
                self._skip(raw)
            return []
        host = ip = sender = None
        port: int | None = None
        fast = _DEFAULT_SHAPE.fullmatch(body)
        if fast is not None:
            addr, orig, sender, router, transport, errno, host, ip, p, c, message = fast.groups()
            conf = _unquote(c) if c is not None else None
            message = message or ""
            if p:
                port = int(p)
        else:
            a = _ADDRESS.match(body)
            if a is None:
                return []
            addr = a.group("addr")
            orig = a.group("orig")
            message = ""
            fields: dict[str, str]
            if a.group("c1") or a.group("c2"):
                fields = {}  # "** x@y: Unrouteable address": no fields at all
                message = body[a.end() :].lstrip()
            else:
                fields, start = _fields(body, a.end())
                if start < len(body):
                    message = body[start:].strip()
            transport = fields.get("T")
            router = fields.get("R")
            sender = fields.get("F")
            conf = fields.get("C")
            errno = fields.get("defer")
            if fields.get("H"):
                host, ip, port = _host_value(fields["H"])
        if errno is not None and host is None and ip is None and message and "=" in message:
            em = _ERRNO_TEXT.match(message)
            if em is not None:
                more, start = _fields(message, em.end())
                if more:
                    if more.get("H"):
                        host, ip, port = _host_value(more["H"])
                    said = message[start:].strip()
                    # in the words of the host's own line: "SMTP timeout after X: Connection timed out"
                    message = f"{said}: {em.group('etext')}" if said else em.group("etext")
        if message and " " in message and "=" in message:
            message = _TRAILING_TIMES.sub("", message)

        # What kind of delivery: a pipe, a file, the bit bucket, a local
        # transport, or SMTP to a remote host.
        kind: str | None = None
        if addr.startswith("|"):
            kind = "pipe"
        elif addr.startswith("/"):
            kind = "local"
        elif addr == ":blackhole:":
            kind = "discard"
        elif (transport and _internal_name(transport)) or (router and _internal_name(router)):
            kind = "local"
        if kind is None and host is None and ip is None and verdict == "accepted":
            kind = "local"  # delivered without a remote host: appendfile, lmtp socket...

        if "@" in addr and kind is None and not _downconverted(addr, orig):
            recipient = addr
        else:
            recipient = orig or addr
            orig = None if orig is None or orig == recipient else orig
        recipient = normalise_address(recipient) or recipient.lower()
        if orig is not None:
            orig = normalise_address(orig) or orig.lower()
            if orig == recipient:
                orig = None

        replycode = status = stage = None
        text = ""
        if verdict == "accepted":
            if conf:
                replycode, status, text = split_reply(conf)
        elif message:
            e = _SMTP_ERROR.search(message)
            if e is not None:
                stage = normalize_stage(e.group("cmd"))
                if host is None and ip is None and e.group("ip"):
                    host, ip = e.group("host"), e.group("ip")
                replycode, status, text = split_reply(e.group("reply"))
            else:
                text = message
            if verdict == "rejected" and any(p in message for p in _GAVE_UP):
                verdict = "expired"

        relay_ip = ip if looks_like_ip(ip) else None
        if sender is not None and sender.startswith("<") and sender.endswith(">"):
            sender = sender[1:-1]
        state = self._touch(mid)
        attempt = Attempt(
            at=at,
            recipient=recipient,
            verdict=verdict,
            queue_id=mid,
            message_id=state.message_id if state is not None else None,
            sender=sender if sender is not None else (state.sender if state is not None else None),
            orig_recipient=orig,
            relay_host=host,
            relay_ip=relay_ip,
            relay_port=port,
            replycode=replycode,
            status=status,
            text=text,
            smtp_stage=stage,
            next_hop_queue_id=next_hop_queue_id(text) if verdict == "accepted" else None,
            delivery_agent=transport or kind,
            first_hop=self._relays.is_first_hop(kind or "smtp", host, ip, port),
            raw=raw,
        )

        if verdict == "deferred":
            state = state or self._open(mid)
            # "retry time not reached" (-53) tried nothing: keep the last
            # real reply for the expiry that may follow.
            if (errno != "-53" and _NOT_REACHED not in text) or recipient not in (state.pending or {}):
                state.defer(recipient, attempt)
        elif state is not None and state.pending:
            last = state.settle(recipient)
            if verdict == "expired" and last is not None and attempt.replycode is None:
                # Exim names no host on a retry-timeout failure: keep the
                # last remote reply, which is what the sender needs to see.
                attempt = dataclasses.replace(
                    last, at=at, verdict="expired", raw=raw,
                    message_id=attempt.message_id, sender=attempt.sender,
                )
        return [attempt]

    # -- helpers -------------------------------------------------------------

    def _open(self, mid: str) -> QueueState:
        return remember(self._messages, mid, QueueState(), self._cap)

    def _touch(self, mid: str) -> QueueState | None:
        return refresh(self._messages, mid)

    def _at(self, ts: str) -> datetime | None:
        if len(ts) > 19 and ts[-6] == " ":
            ts = ts[:-6] + ts[-5:]  # "... 10:14:06.123 +0100": fromisoformat wants no blank
        return header_time(self._stamps, ts)


def _downconverted(addr: str, orig: str | None) -> bool:
    """Whether ``addr <orig>`` is Exim's ASCII form of an internationalised address it was given.

    Exim keeps an address in its UTF-8 form (spec 4.96 ch. 60, "Both localparts and domain
    are maintained as the original UTF-8 form internally") and, sending to a host without
    SMTPUTF8, logs the converted form first and the address as given in brackets; 4.96
    writes that form with the whole domain as one Punycode label
    (``u@xn--bcher.example-wob <u@bücher.example>``; the wire carried
    ``u@xn--bcher-kva.example``) and its DSN names the address as given. The delivery is
    the one to the address as given.
    """
    return bool(orig) and addr.isascii() and not orig.isascii() and "xn--" in addr.lower()


def _fields(body: str, pos: int) -> tuple[dict[str, str], int]:
    """Read the `` NAME=value`` items from ``pos`` in whatever order and
    subset log_selector made (plus ``defer (N)``; bare flags such as ``K``
    and ``PRDR`` are stepped over); returns them and where the message text
    starts (``len(body)`` when there is none).

    A value is read by its shape, never by its name's position: ``"quoted"``
    with backslash escapes, a host (``host [ip]:port``, ``[ip]``), or a bare
    token up to the next blank, or up to a colon followed by a blank, which
    opens the ``: message``. Whatever fits none of these also ends the fields.
    """
    fields: dict[str, str] = {}
    end = pos
    for t in _TOKEN.finditer(body, pos):
        if t.start() != end:
            break
        end = t.end()
        g = t.lastgroup
        if g == "b":
            continue
        if g == "m":
            return fields, end
        if g == "e":
            fields["defer"] = t.group("e")
        elif g == "q":
            fields[t.group("k")] = _unquote(t.group("q"))
        else:
            fields[t.group("k")] = t.group(g)  # type: ignore[arg-type]
    return fields, end
