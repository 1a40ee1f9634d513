"""Postfix send-log parser: one stream of log lines in, ``Attempt`` records out.

Postfix spreads a message's story over several daemons, each logging under
``<syslog_name>/<daemon>`` (``postfix/smtp``, ``pfA/qmgr``,
``postfix/submission/smtpd``, ``postfix-out/smtp``):

* ``cleanup``  ``QID: message-id=<...>``            -> the message's Message-ID
* ``qmgr``     ``QID: from=<...>, size=.., nrcpt=..`` -> the envelope sender
* any agent    ``QID: to=<...>, relay=.., dsn=.., status=..`` -> one attempt
* ``qmgr``     ``QID: from=<...>, status=expired, returned to sender``
                                                  -> still-deferred recipients expire
               (``status=force-expired``: the same after postsuper -e/-f)
* ``bounce``   ``QID: sender non-delivery notification: NEW`` -> a ``DsnLink``
* ``qmgr``     ``QID: removed``                   -> the queue id is closed

So the parser keeps a little state per open queue id. Short hex ids are
reused, and logs get cut at rotation, so that state is dropped on
``removed`` and capped in size (oldest evicted first): a ten-million-line
log parses in flat memory.

Attempt lines are recognised by the *message* shape, not by daemon name,
because master.cf services are freely named (``-o syslog_name=postfix/amavis``
or a transport called ``relay``, ``slow``, ``dkim-out``...). The daemon name
is still recorded as ``delivery_agent`` and feeds the first-hop decision.

Where the lines come from changes only what precedes ``QID: ``:

* the program name is ``<syslog_name>/<service>``: postconf(5) syslog_name
  is any prefix (``mycorp``, ``postfix/submission`` set with ``-o`` in
  master.cf), and MULTI_INSTANCE_README gives each instance its own
  (``postfix-out``); the daemon is the part after the last "/";
* the stamp and header are syslog's (RFC 3164 ``Dec  5 07:55:36``), Postfix's
  own maillog_file (MAILLOG_README, Postfix >= 3.4; 3.7 writes ``Dec 05
  07:55:36``, the day zero-padded), RFC 5424 (``<22>1 2026-12-05T07:55:36Z
  host postfix/smtp 123 - - ``), or ISO 8601 (rsyslog's RSYSLOG_FileFormat,
  journalctl(1) ``-o short-iso``, whose ``-- Boot ... --`` marker lines are
  no records); see syslogtime.match_syslog_header.

The delivery fields are read in one match in the order log_adhoc.c writes
them (``to, orig_to, relay, [conn_use,] delay, delays, dsn, status``); a line
with any other order goes to _key_values, which reads the same list field by
field, so no order is assumed.

Address-verification probes (``status=deliverable`` / ``undeliverable``)
are not deliveries and produce no attempt (see _PROBE_STATUSES for why);
neither do the informational ``QID: host X said: ...`` lines that precede a
final per-recipient line when Postfix moves on to the next MX.

Connection-level deferrals carry no SMTP reply: ``conversation with
host[ip] timed out while ...``, ``lost connection with host[ip] while ...``
and ``connect to host[ip]:port: ...`` name the peer in their text. Postfix
3.7 logs the relay beside the first two (seen in the real-instance test);
when the relay field says ``none`` the peer in the text stands for it.

Recipients are lowercased as a whole: mailbox local parts are
case-insensitive in practice everywhere we deliver, and DSNs, VERP tokens and
the ledger all compare case-insensitively. Senders are kept as written,
because a signed return-path token can be case-sensitive.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

from bounceledger.ingest.keys import header_ref
from bounceledger.ingest.records import Attempt, AttemptVerdict
from bounceledger.ingest.sendlog.base import (
    LINE_END_BLANKS,
    LINE_START_NOISE,
    CountingParser,
    DsnLink,
    ParseOptions,
    QueueState,
    as_text,
    new_attempt,
    refresh,
    remember,
)
from bounceledger.ingest.sendlog.relays import RelayClassifier
from bounceledger.ingest.sendlog.journal import JOURNAL_STARTS as _JOURNAL_STARTS, syslog_line
from bounceledger.ingest.sendlog.syslogtime import CLASSIC_HEADER, StampReader, ascii_only, match_syslog_header

__all__ = ["POSTFIX_DAEMONS", "PostfixParser", "looks_like_postfix"]

# Programs Postfix itself logs as (the part after the last "/").
POSTFIX_DAEMONS: frozenset[str] = frozenset(
    {
        "anvil", "bounce", "cleanup", "discard", "dnsblog", "error", "flush",
        "lmtp", "local", "master", "oqmgr", "pickup", "pipe", "postdrop",
        "postfix-script", "postlogd", "postqueue", "postscreen", "postsuper",
        "proxymap", "qmgr", "qmqpd", "relay", "retry", "scache", "sendmail",
        "showq", "smtp", "smtpd", "spawn", "tlsmgr", "tlsproxy", "trivial-rewrite",
        "verify", "virtual", "postmap", "postalias", "postconf", "postlog",
    }
)

# -- whole lines -------------------------------------------------------------

# "QID: " at the start of a message: 5 to 24 ASCII letters and digits.
_QID = r"(?P<qid>[0-9A-Za-z]{5,24}+): "

# The fields of a delivery: "to=<r>, [orig_to=<o>, ]relay=R, k=v, ..., status=word";
# the status word's detail follows the match and is read by _detail. The
# relay is split here too when it has the shape "host[addr]" with an
# optional ":port" of one to five digits (the host without brackets, the
# address without "]"); an address of IP characters with a "." or ":" in it
# is relay_ip, any other relay_addr. Otherwise ("none", a transport name)
# relay_host is None and the value is taken whole. Optional parts are
# written "(?:X|)" and runs are possessive where that matches the same,
# because re runs "(?:X)?" and backtrackable runs through its slower
# general machinery.
_DELIVERY_FIELDS = (
    r"to=(?:<(?P<to>[^>]*+)>|(?P<to_bare>[^,\s]*+)), "
    r"(?:orig_to=(?:<(?P<orig>[^>]*+)>|(?P<orig_bare>[^,\s]*+)), |)"
    r"relay=(?P<relay>"
    r"(?P<relay_host>[^\[\],\s]*+)"
    r"\[(?:(?P<relay_ip>[0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*)|(?P<relay_addr>[^\],\s]*+))\]"
    r"(?::(?P<relay_port>\d{1,5}+)|)(?=,)"
    r"|[^,\s]*+), "
    r"(?P<kv>(?:[a-z_]++=[^,\s]*+, )*?)"
    r"status=(?P<status>[A-Za-z-]++)"
)

# The other messages the parser reads, told apart by how they begin.
_KIND = r"(?P<kind>message-id=|from=<|removed|info: header )"

# Nearly every line has the classic syslog header, so that case is read in a
# single match -- header, queue id and then a delivery's fields or the kind
# of message -- rather than one regex, slice and test after another (each
# costs about as much as a regex scanning the whole header). The optional
# parts accept exactly what the step-by-step reading in _feed_other
# accepts. Pure ASCII lines, nearly all of them, take the ASCII spelling of
# the same regex (see syslogtime.ascii_only).
_LINE = CLASSIC_HEADER + r"(?:" + _QID + r"(?:" + _DELIVERY_FIELDS + r"|" + _KIND + r"|)|)"
_LINE_UNICODE = re.compile(_LINE)
_LINE_ASCII = re.compile(ascii_only(_LINE))
_QID_AT = re.compile(_QID)
_DELIVERY = re.compile(_DELIVERY_FIELDS)
_KIND_AT = re.compile(_KIND)
# Bodies beginning like these are never notifications (the "to=" of a line
# that is not a delivery after all, a malformed "from=", ...).
_NOT_NOTIFICATIONS = frozenset({"to=", "mes", "fro", "rem", "inf"})

# -- message bodies ----------------------------------------------------------

_DSN = re.compile(r"dsn=(\d\.\d{1,3}\.\d{1,3})")
_SAID = re.compile(
    r"host (?P<host>[^\s\[\]]+)\[(?P<addr>[^\]]*)\](?::\d+)? (?:said|refused to talk to me): (?P<reply>.*)",
    re.S,
)
_REPLY_CODE = re.compile(r"(?P<code>[2-5]\d\d)(?:[ -](?P<status>[245]\.\d{1,3}\.\d{1,3}))?(?=[ -]|$)")
# " (REPLY)" read as _detail reads it when there is no said/while/in reply to:
# the detail is what the parentheses enclose, _REPLY_CODE matches at its start
# (its "$" is the detail's end: before the ")", or before a final "\n)") and
# the text is the rest, less the " -" that follow the code. On the way, the
# first "queued as ID" in the text is taken, as _next_hop would take it.
_PLAIN_REPLY = re.compile(
    r" \((?P<code>[2-5]\d\d)(?:[ -](?P<status>[245]\.\d{1,3}\.\d{1,3}))?(?=[ -]|\)\Z|\n\)\Z)"
    r"[ -]*(?P<text>.*?(?:queued as (?P<queued_as>[0-9A-Za-z]+).*|))\)\Z",
    re.S,
)
# "lost connection with mx[192.0.2.1] while sending end of data -- message may be
# sent more than once": the stage ends before the " -- " remark (Postfix's
# smtp_proto.c and smtp_trouble.c write both parts; the remark is no stage).
_WHILE = re.compile(
    r" while (?:sending|receiving|performing) (?:the )?(?P<stage>[^()]+?)(?: -- [^()]*)?\s*$"
)
_PEER = re.compile(
    r"(?:connect to|with|host|for) (?P<host>[^\s\[\]]+)\[(?P<addr>[^\]]+)\](?::(?P<port>\d{1,5}))?"
)
_QUEUED_AS = re.compile(r"queued as ([0-9A-Za-z]+)")  # Postfix, and many others
_EXIM_ID = re.compile(r"\bOK id=([0-9A-Za-z-]+)", re.I)  # Exim: "250 OK id=1SoWf6-0000Dv-Lf"
_SENDMAIL_ID = re.compile(r"([0-9A-Za-z]{8,20}) Message accepted for delivery")
_NOTIFICATION = re.compile(
    r"(?P<who>\S+) (?P<kind>[\w -]+?) notification: (?P<new>[0-9A-Za-z]+)\s*$"
)

_VERDICTS: dict[str, AttemptVerdict] = {
    "sent": "accepted",
    "deferred": "deferred",
    "softbounce": "deferred",  # soft_bounce=yes: logged as SOFTBOUNCE, kept in the queue
    "bounced": "rejected",
    "expired": "expired",
}

# verify(8): "Probe messages are run through all the routing and rewriting
# machinery except for final delivery, and are discarded rather than being
# deferred or bounced"; ADDRESS_VERIFICATION_README: the probe's result only
# feeds the verify cache that smtpd consults. sendmail(1) -bv logs the same
# words: "Do not collect or deliver a message. Instead, send an email report
# after verifying each recipient address". So a "status=deliverable" or
# "status=undeliverable" line (its dsn= may be 4.x as well as 5.x: a probe's
# deferral is logged as "undeliverable" too, as Postfix 3.7 did for a 451 in
# tests/sendlog/fixtures/postfix_out_real.log) is no delivery of any message the
# ledger tracks: no attempt, no first hop, and the recipient's state is not
# touched. The parser counts them (``probes``) so they are not "skipped".
_PROBE_STATUSES = frozenset({"deliverable", "undeliverable"})

# How qmgr prefixes the reason of recipients it defers for a destination it
# has throttled (qmgr_deliver.c SUSPENDED); Postfix >= 2.4 logs them through
# the retry service, i.e. with the agent name "error".
_SUSPENDED = "delivery temporarily suspended: "

_IP_CHARS = "0123456789abcdefABCDEF.:"

# orig_to= among the other fields rather than right after to=.
_ORIG_IN_KV = re.compile(r"(?:^|, )orig_to=(?:<([^>]*)>|([^,\s]*))")

# One field of a delivery's "key=value, key=value" list, for _key_values.
_FIELD_KEY = re.compile(r"([a-z][a-z_]*+)=")
# A relay= value split as _DELIVERY_FIELDS splits it (same groups).
_RELAY_PARTS = re.compile(
    r"(?P<relay_host>[^\[\],\s]*+)"
    r"\[(?:(?P<relay_ip>[0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*)|(?P<relay_addr>[^\],\s]*+))\]"
    r"(?::(?P<relay_port>\d{1,5}+)|)"
)

# Bound on the per-parser memo of parsed relay= fields (a log repeats its relays).
_RELAY_MEMO_LIMIT = 4096


def looks_like_postfix(first_lines: list[str]) -> bool:
    """True when the lines look like a Postfix log: at least one line, and a
    fifth of the non-blank lines, come from a Postfix daemon."""
    seen = hits = 0
    for line in first_lines:
        if not isinstance(line, str) or not line.strip():
            continue
        seen += 1
        m = match_syslog_header(line)
        if m is None:
            continue
        prog = m.group("prog")
        slash = prog.rfind("/")
        if slash > 0 and prog[slash + 1 :] in POSTFIX_DAEMONS:
            hits += 1
        elif slash <= 0 and _rfc5424_agentless(line, prog, m.end()) and _postfix_body(line, m.end()):
            hits += 1  # RFC 5424 APP-NAME cut at "/" (see _rfc5424_agentless)
    return hits > 0 and hits * 5 >= seen


def _postfix_body(line: str, start: int) -> bool:
    """Does the message from ``start`` read like a Postfix queue-file line
    ("QID: to=<", "QID: from=<", "QID: message-id=<", "QID: removed")?"""
    q = _QID_AT.match(line, start)
    if q is None or q.group("qid") == "NOQUEUE":
        return False
    return line.startswith(("to=<", "from=<", "message-id=", "removed"), q.end())


#: Programs of the other MTAs whose queue-file lines have Postfix's shape ("QID: to=<",
#: "QID: from=<"): Sendmail's (sm-mta, sendmail, sm-msp-queue) and Exim's. Their lines
#: never stand for a Postfix daemon whose name was cut off.
_OTHER_MTA_PROGS = ("sm-", "sendmail", "exim")


def _rfc5424_agentless(raw: str, prog: str, end: int = 0) -> bool:
    """An RFC 5424 line whose APP-NAME lost the daemon: rsyslog emulates
    APP-NAME from the programname, which ends at the first "/" unless
    global(parser.PermitSlashInProgramname="on"), so RSYSLOG_SyslogProtocol23Format
    files hold "postfix 1234" for "postfix/smtp[1234]".
    src: rsyslog runtime/msg.c tryEmulateAPPNAME(); rsyslog doc properties "programname".

    The same message filed again by a second daemon as a classic line ("postfix[1234]:  QID:
    ...", syslog-ng's default template after rsyslog forwarded it as RFC 5424) is known by the
    second space after the header (``end`` is where the header ends), which only a message
    that went through RFC 5424 carries (see syslogtime.CLASSIC_HEADER)."""
    if "/" in prog or prog.lower().startswith(_OTHER_MTA_PROGS):
        return False
    return raw[:1] == "<" or (end >= 2 and raw[end - 2 : end] == "  ")


class PostfixParser(CountingParser):
    """Stateful parser for one Postfix log stream. See the module docstring.

    ``dsn_links`` maps the queue id of each notification Postfix generated
    (bounce, delay, success DSN) to a :class:`DsnLink`; the caller may read
    and clear it at will. It is capped like the queue state.
    """

    format_name = "postfix"

    def __init__(self, options: ParseOptions) -> None:
        super().__init__()
        self.options = options
        self._stamps = StampReader(options.reference_time, options.timezone)
        self._relays = RelayClassifier(options.internal_relays)
        self._campaign_header = options.campaign_header.lower()
        self._match_headers = {name.lower(): name for name in options.match_headers}
        self._cap = options.max_tracked_queue_ids
        self._queues: dict[str, QueueState] = {}
        self._relay_memo: dict[
            str, tuple[str | None, str | None, str | None, int | None, bool | None, str]
        ] = {}
        self.dsn_links: dict[str, DsnLink] = {}
        self._last_ts = ""  # the stamp of the last delivery, and its time
        self._last_at: datetime | None = None
        self.probes = 0  # address-verification results read (no attempt each)

    @property
    def tracked_queue_ids(self) -> int:
        """How many queue ids currently have state (for tests and metrics)."""
        return len(self._queues)

    # -- entry point ---------------------------------------------------------

    def feed(self, line: str) -> list[Attempt]:
        """One raw line -> the attempts it completes. Never raises.

        CountingParser.feed and _feed in one: this runs for every line of
        the log, and a Python call costs about as much as matching the
        syslog header does.
        """
        self.lines += 1
        try:
            if type(line) is str:
                raw = line.rstrip("\r\n")
            else:
                text = as_text(line)
                if text is None:
                    self._skip(line)
                    return []
                raw = text.rstrip("\r\n")
            if raw[:1] in LINE_START_NOISE:  # a byte order mark, NULs a crash left
                raw = raw.lstrip("\ufeff\x00")
            if raw[-1:] in LINE_END_BLANKS:  # trimmed here; a container's chunk keeps its blanks until joined
                trimmed = raw.rstrip()
                m = (_LINE_ASCII if trimmed.isascii() else _LINE_UNICODE).match(trimmed)
                if m is not None:
                    raw = trimmed
            else:
                m = (_LINE_ASCII if raw.isascii() else _LINE_UNICODE).match(raw)
            if m is None:
                return self._feed_other(raw)
            (ts, _, _, agent, qid, to, to_bare, orig, orig_bare,
             relay, relay_host, relay_ip, relay_addr, relay_port, kv, word, kind) = m.groups()  # fmt: skip
            if qid is None or agent is None or qid == "NOQUEUE":
                if agent is None and qid is not None and raw[m.start("qid") - 2 : m.start("qid")] == "  ":
                    return self._feed_other(raw)  # a daemon's name cut off on the way (see _rfc5424_agentless)
                return []  # not Postfix's, or connect/disconnect, warnings, TLS chatter...
            if relay is None:
                if kind is None and raw.find("status=", m.end()) != -1:
                    moved = self._delivery_any_order(ts, agent, qid, raw, m.end())
                    if moved is not None:
                        return moved
                return self._message(ts, qid, kind, raw, m.end())
            if raw[-1:] != ")" and raw.find("=", m.end()) != -1:
                # Fields after the status detail (Postfix ends with it): read them all.
                moved = self._delivery_any_order(ts, agent, qid, raw, m.end("qid") + 2)
                if moved is not None:
                    return moved
            return self._delivery(
                ts, agent, qid, to, to_bare, orig, orig_bare,
                relay, relay_host, relay_ip, relay_addr, relay_port, kv, word, raw, raw[m.end() :],
            )  # fmt: skip
        except Exception:  # a log line must never stop ingestion
            self._skip(line)
            return []

    def _feed(self, raw: str) -> list[Attempt]:
        """CountingParser's hook, unused here: feed does it all (and counts the line)."""
        return self.feed(raw)

    def _feed_other(self, raw: str) -> list[Attempt]:
        """ISO and RFC 5424 headers, a <PRI> prefix, lines that are no syslog
        at all: what feed reads in one match, one step at a time; a journal
        record (``journalctl -o json``) as the syslog line it carries."""
        carried = self.runtime.line(raw)  # a container runtime's "<RFC 3339 time> [stream P|F] <line>"
        if carried is None:
            return []  # a chunk of a longer line: read with the chunk that ends it
        if carried is not raw:
            self.lines -= 1  # feed counts it again: one line of the file
            return self.feed(carried)
        if raw[:1] in _JOURNAL_STARTS:
            line = syslog_line(raw)
            if line is not raw:
                self.lines -= 1  # feed counts it again: one line of the file
                return self.feed(line)
        raw = raw.rstrip()
        h = match_syslog_header(raw)
        if h is None:
            if raw.startswith("-- ") and raw.endswith(" --"):
                # journalctl(1)'s own marker lines ("-- Boot 1f2e... --",
                # "-- Logs begin at ... --", "-- No entries --"): not log records.
                return []
            if raw.strip():
                self._skip(raw)
            return []
        prog = h.group("prog")
        slash = prog.rfind("/")
        if slash <= 0:
            if not _rfc5424_agentless(raw, prog, h.end()):
                return []
            # The daemon is unknown: "" as the agent, so the first hop is
            # decided by the relay alone (relay=local/virtual stay internal;
            # a pipe transport's relay=NAME does not say it is one).
            prog, slash = "/", 0
        q = _QID_AT.match(raw, h.end())
        if q is None:
            return []
        qid = q.group("qid")
        if qid == "NOQUEUE":
            return []
        start = q.end()
        if raw.startswith("to=", start):
            d = _DELIVERY.match(raw, start) if raw.find(", status=", start) != -1 else None
            if d is None or (raw[-1:] != ")" and raw.find("=", d.end()) != -1):
                moved = self._delivery_any_order(h.group("ts"), prog[slash + 1 :], qid, raw, start)
                if moved is not None or d is None:
                    return moved or []
            return self._delivery(
                h.group("ts"), prog[slash + 1 :], qid, *d.groups(), raw, raw[d.end() :]
            )
        if raw.find("status=", start) != -1 and _KIND_AT.match(raw, start) is None:
            moved = self._delivery_any_order(h.group("ts"), prog[slash + 1 :], qid, raw, start)
            if moved is not None:
                return moved
        k = _KIND_AT.match(raw, start)
        if k is None:
            return self._message(h.group("ts"), qid, None, raw, start)
        return self._message(h.group("ts"), qid, k.group(), raw, k.end())

    def _message(self, ts: str, qid: str, kind: str | None, raw: str, end: int) -> list[Attempt]:
        """Everything after ``QID: `` except a delivery: ``kind`` is how the
        message begins (see _KIND), ``raw[end:]`` what follows that."""
        if kind is None:
            if raw.find(" notification: ", end) != -1 and raw[end : end + 3] not in _NOT_NOTIFICATIONS:
                self._notification(ts, qid, raw[end:])
            return []  # client=, pickup's uid=, ...
        if kind == "from=<":
            return self._qmgr_from(ts, qid, raw[end:], raw)
        if kind == "message-id=":
            self._message_id(qid, raw[end:])
        elif kind == "removed":
            self._queues.pop(qid, None)
        else:
            self._header_info(qid, raw[end:])
        return []

    def _delivery_any_order(
        self, ts: str, agent: str, qid: str, raw: str, start: int
    ) -> list[Attempt] | None:
        """A delivery whose fields _DELIVERY_FIELDS could not read in one
        go: the same ``key=value`` list from ``raw[start:]`` read field by
        field, in any order (a log rewriter's, or a future Postfix's). None
        when the text is no such list, or lacks ``to=`` or ``status=``."""
        fields = _key_values(raw, start)
        if fields is None:
            return None
        to = fields.get("to")
        word = fields.get("status")
        if to is None or word is None or not word[0]:
            return None
        relay = fields.get("relay", "none")[0]
        r = _RELAY_PARTS.fullmatch(relay)
        relay_host, relay_ip, relay_addr, relay_port = (
            r.groups() if r is not None else (None, None, None, None)
        )
        orig = fields.get("orig_to")
        dsn = fields.get("dsn")
        return self._delivery(
            ts, agent, qid,
            *_address(to[0]), *_address(orig[0] if orig is not None else None),
            relay, relay_host, relay_ip, relay_addr, relay_port,
            f"dsn={dsn[0]}, " if dsn is not None else "", word[0], raw, word[1],
        )  # fmt: skip

    # -- line kinds ----------------------------------------------------------

    def _delivery(
        self,
        ts: str,
        agent: str,
        qid: str,
        to: str | None,
        to_bare: str | None,
        orig: str | None,
        orig_bare: str | None,
        relay: str,
        relay_host: str | None,
        relay_ip: str | None,
        relay_addr: str | None,
        relay_port: str | None,
        kv: str,
        word: str,
        raw: str,
        detail: str,
    ) -> list[Attempt]:
        """The groups of _DELIVERY_FIELDS; ``detail`` is what follows the
        status word (`` (250 2.0.0 Ok)``)."""
        verdict = _VERDICTS.get(word) or _VERDICTS.get(word.lower())
        if verdict is None:
            if word.lower() in _PROBE_STATUSES:
                self.probes += 1
            return []  # address-verification probe (see _PROBE_STATUSES) or an unknown word
        if ts == self._last_ts:  # the lines of one second share their stamp
            at = self._last_at
        else:
            at = self._last_at = self._at(ts)
            self._last_ts = ts
        if at is None:
            self._skip(raw)
            return []

        recipient = (to if to is not None else to_bare or "").lower()
        if orig is None:
            orig = orig_bare
            if orig is None and kv and "orig_to=" in kv:  # not where Postfix puts it
                o = _ORIG_IN_KV.search(kv)
                if o is not None:
                    orig = o.group(1) if o.group(1) is not None else o.group(2)
        if orig is not None:
            orig = orig.lower() or None

        host, addr, ip, port, first_hop, _ = self._relay(
            agent, relay, relay_host, relay_ip, relay_addr, relay_port
        )
        dsn_m = _DSN.search(kv) if kv else None
        text, replycode, stage, said_host, said_addr, queued_as = _detail(detail)
        if first_hop is None:
            # relay=none: name the peer from the text when it says who it was.
            if said_host is not None:
                host, addr = said_host, said_addr
                ip = said_addr if _looks_like_ip(said_addr) else None
            else:
                peer = _PEER.search(text)
                if peer is not None:
                    host = peer.group("host")
                    addr = peer.group("addr")
                    ip = addr if _looks_like_ip(addr) else None
                    peer_port = peer.group("port")
                    port = int(peer_port) if peer_port else None
            # qmgr defers the recipients of a throttled destination through
            # the retry service, an error(8) process, so the line's agent is
            # "error"; the deferral is still about that destination, so the
            # first hop is decided by the peer the reason names, not by the
            # agent. src: Postfix qmgr_deliver.c SUSPENDED "delivery
            # temporarily suspended: "; error(8) "error or retry" service.
            if text.startswith(_SUSPENDED):
                first_hop = self._relays.is_first_hop(None, host, addr, port)
            else:
                first_hop = self._relays.is_first_hop(agent, host, addr, port)

        state = self._queues.get(qid)
        attempt = new_attempt(
            at,
            recipient,
            verdict,
            qid,
            state.message_id if state is not None else None,
            state.sender if state is not None else None,
            orig,  # orig_recipient
            host,  # relay_host
            ip,  # relay_ip
            port,  # relay_port
            replycode,
            dsn_m.group(1) if dsn_m else None,  # status
            text,
            stage,
            (queued_as or _next_hop(text)) if verdict == "accepted" and text else None,
            None,  # envelope_id: Postfix does not log it
            agent,  # delivery_agent
            state.campaign if state is not None else None,
            state.header_ref if state is not None else None,
            first_hop,
            raw,
        )

        # Remember deferred recipients so that an expiry can name them.
        if verdict == "deferred":
            (state or self._open(qid)).defer(recipient, attempt)
        elif state is not None and state.pending:
            state.settle(recipient)
        return [attempt]

    def _header_info(self, qid: str, rest: str) -> None:
        """``header_checks`` INFO lines log chosen headers: the campaign and
        the configured match headers (the first one logged is kept) come from here.

        ``NAME: VALUE from client[ip]; from=<...> to=<...> proto=...``
        """
        name, colon, tail = rest.partition(": ")
        key = name.lower()
        if not colon or (key != self._campaign_header and key not in self._match_headers):
            return
        value = tail.split("; from=<", 1)[0]
        value = value.rsplit(" from ", 1)[0].strip()
        if not value:
            return
        state = self._queues.get(qid) or self._open(qid)
        if key == self._campaign_header:
            state.campaign = value[:200]
        if key in self._match_headers and state.header_ref is None:
            state.header_ref = header_ref(self._match_headers[key], value)

    def _message_id(self, qid: str, value: str) -> None:
        # A cleanup message-id line starts a message's story: if a short id is
        # being reused without us having seen "removed", start afresh (but keep
        # the headers cleanup logged just before the Message-ID).
        old = self._queues.pop(qid, None)
        state = self._open(qid)
        if old is not None and old.message_id is None:
            state.campaign, state.header_ref = old.campaign, old.header_ref
        value = value.strip()
        if value.startswith("<") and value.endswith(">"):
            value = value[1:-1]
        state.message_id = value or None

    def _qmgr_from(self, ts: str, qid: str, rest: str, raw: str) -> list[Attempt]:
        """``rest`` follows ``from=<``: ``SENDER>, size=..`` or ``SENDER>, status=expired, ...``."""
        end = rest.find(">")
        if end == -1:
            return []
        sender = rest[:end]
        tail = rest[end + 1 :]
        state = refresh(self._queues, qid) or self._open(qid)  # most recent last
        state.sender = sender
        # src: postsuper(1) -e/-f (Postfix >= 3.5): a forced expiration is
        # logged by qmgr as "status=force-expired, returned to sender" (seen
        # on Postfix 3.7.11); the recipients are returned just as at
        # maximal_queue_lifetime.
        if not tail.startswith((", status=expired", ", status=force-expired")):
            return []
        pending = state.pending
        state.pending = None
        if not pending:
            return []
        at = self._at(ts)
        if at is None:
            self._skip(raw)
            return []
        return [
            dataclasses.replace(last, at=at, verdict="expired", sender=sender, raw=raw)
            for last in pending.values()
        ]

    def _notification(self, ts: str, qid: str, body: str) -> None:
        n = _NOTIFICATION.match(body)
        if n is None:
            return
        state = self._queues.get(qid)
        new = n.group("new")
        self.dsn_links.pop(new, None)
        self.dsn_links[new] = DsnLink(
            notification_queue_id=new,
            original_queue_id=qid,
            kind=n.group("kind"),
            addressee=n.group("who"),
            original_message_id=state.message_id if state is not None else None,
            at=self._at(ts),
        )
        if len(self.dsn_links) > self._cap:
            del self.dsn_links[next(iter(self.dsn_links))]

    # -- helpers -------------------------------------------------------------

    def _open(self, qid: str) -> QueueState:
        return remember(self._queues, qid, QueueState(), self._cap)

    def _at(self, ts: str) -> datetime | None:
        if ts[0].isdigit():
            return self._stamps.iso(ts)
        return self._stamps.classic(ts)

    def _relay(
        self,
        agent: str,
        relay: str,
        host: str | None,
        ip: str | None,
        addr: str | None,
        port: str | None,
    ) -> tuple[str | None, str | None, str | None, int | None, bool | None, str]:
        """``relay=`` value, with the parts _DELIVERY_FIELDS split off
        -> (host, bracketed addr, ip, port, first hop, agent).

        ``mx.example[192.0.2.1]:25`` -> ("mx.example", "192.0.2.1", "192.0.2.1", 25);
        ``host[private/dovecot-lmtp]`` keeps the socket path as addr but not as ip;
        ``local``/``dovecot`` are transport names kept as host; ``none`` is
        nobody, and so is ``[]``: the first hop is then None, and the caller
        decides it from the peer the detail text names.

        Memoised per relay (and the agent it was decided for), since a log
        repeats its relays.
        """
        known = self._relay_memo.get(relay)
        if known is not None and known[5] == agent:
            return known
        number = int(port) if port else None
        if host is None:  # not host[addr]: a transport name, "none" or garbage
            host = relay if relay and relay != "none" else None
        else:
            host = host or None
            addr = ip or addr or None
        if host is None and addr is None:
            known = (None, None, None, number, None, agent)
        else:
            known = (host, addr, ip, number, self._relays.classify(agent, host, addr, number), agent)
        if len(self._relay_memo) >= _RELAY_MEMO_LIMIT:
            self._relay_memo.clear()
        self._relay_memo[relay] = known
        return known


def _key_values(raw: str, start: int) -> dict[str, tuple[str, str]] | None:
    """``to=<a>, relay=r, dsn=5.1.1, status=bounced (text)`` from ``start``
    -> {key: (value, detail)}, in whatever order the fields come; None when
    the text is not such a list.

    Postfix writes these lists with ", " between fields (log_adhoc.c), an
    address in angle brackets (which may itself hold ", "), and free text
    only after the status word, in parentheses that may nest: ``detail`` is
    that `` (text)`` for ``status`` (its closing parenthesis found by
    counting, or the line's end) and "" for every other key.
    """
    out: dict[str, tuple[str, str]] = {}
    pos, end = start, len(raw)
    while pos < end:
        k = _FIELD_KEY.match(raw, pos)
        if k is None:
            return None
        key, pos = k.group(1), k.end()
        detail = ""
        if raw.startswith("<", pos):
            close = raw.find(">", pos)
            if close == -1:
                return None
            value, pos = raw[pos : close + 1], close + 1
        elif key == "status":
            stop = pos
            while stop < end and (raw[stop].isalpha() or raw[stop] == "-"):
                stop += 1
            value, pos = raw[pos:stop], stop
            if raw.startswith(" (", pos):
                depth, i = 0, pos + 1
                while i < end:
                    c = raw[i]
                    if c == "(":
                        depth += 1
                    elif c == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    i += 1
                close = min(i + 1, end)
                if close < end and not (
                    raw.startswith(", ", close) and _FIELD_KEY.match(raw, close + 2)
                ):
                    close = end  # unbalanced, or text after it: the rest is the detail
                detail, pos = raw[pos:close], close
            elif raw.startswith(", ", pos) and _FIELD_KEY.match(raw, pos + 2) is None:
                detail, pos = raw[pos:], end  # "status=expired, returned to sender"
        else:
            stop = raw.find(", ", pos)
            stop = end if stop == -1 else stop
            value, pos = raw[pos:stop], stop
        out.setdefault(key, (value, detail))
        if pos >= end:
            break
        if not raw.startswith(", ", pos):
            return None
        pos += 2
    return out


def _address(value: str | None) -> tuple[str | None, str | None]:
    """A to=/orig_to= value -> (bracketed, bare), as _DELIVERY_FIELDS splits it."""
    if value is None:
        return None, None
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1], None
    return None, value


def _looks_like_ip(addr: str | None) -> bool:
    """An IPv4/IPv6 literal rather than a socket path like ``private/lmtp``."""
    if not addr:
        return False
    return not addr.strip(_IP_CHARS) and ("." in addr or ":" in addr)


def _next_hop(text: str) -> str | None:
    """The receiving MTA's queue id from its 2xx reply, when it says one."""
    if "queued as " in text:
        m = _QUEUED_AS.search(text)
    elif " id=" in text:
        m = _EXIM_ID.search(text)
    elif "Message accepted" in text:
        m = _SENDMAIL_ID.search(text)
    else:
        return None
    return m.group(1) if m is not None else None


def _detail(rest: str) -> tuple[str, str | None, str | None, str | None, str | None, str | None]:
    """The part after ``status=word``
    -> (text, replycode, stage, said_host, said_addr, queued_as).

    ``text`` is the remote server's words with the reply code and enhanced
    status removed (they have their own fields), including the ``550-5.7.1``
    markers Postfix leaves when it joins a multi-line reply. Without a reply
    code (``connect to ...: Connection refused``, ``delivered to maildir``)
    it is the parenthesised detail as Postfix wrote it. ``queued_as`` is
    what ``_next_hop(text)`` would find when it was found on the way; when
    it is None, ask _next_hop.
    """
    # Most details are a bare reply, "(250 2.0.0 Ok: queued as 7B2E0C4B1D)":
    # when none of the words the general reading looks for is present, one
    # regex does all of it, for half the cost.
    if (
        " said: " not in rest
        and "(in reply to " not in rest
        and " while " not in rest
        and " refused to talk to me: " not in rest
    ):
        plain = _PLAIN_REPLY.match(rest)
        if plain is not None:
            replycode, xstatus, text, queued_as = plain.groups()
            if "-" in text:  # else there is no "250-" marker to unfold
                text = _unfold(text, replycode, xstatus)
                queued_as = None  # taken before the unfolding: let _next_hop look again
            return text.strip(), replycode, None, None, None, queued_as

    if rest.startswith(" ("):
        detail = rest[2:]
        if detail.endswith(")"):
            detail = detail[:-1]
    elif rest.startswith(", "):
        detail = rest[2:]  # "status=expired, returned to sender"
    else:
        detail = rest.strip()

    said_host = said_addr = None
    s = None
    reply = detail
    if " said: " in detail or " refused to talk to me: " in detail:
        s = _SAID.search(detail)
        if s is not None:
            said_host = s.group("host")
            said_addr = s.group("addr")
            reply = s.group("reply")

    stage = None
    cut = reply.rfind("(in reply to ")
    if cut != -1 and reply.endswith(" command)", cut):
        stage = reply[cut + 13 : -9]
        reply = reply[:cut].rstrip()
    elif " while " in reply:
        w = _WHILE.search(reply)
        if w is not None:
            stage = w.group("stage")

    replycode = None
    rc = _REPLY_CODE.match(reply) if "2" <= reply[:1] <= "5" else None
    if rc is not None:
        replycode, xstatus = rc.groups()
        text = _unfold(reply[rc.end() :].lstrip(" -"), replycode, xstatus)
    elif s is not None:
        text = reply
    else:
        text = detail
    return text.strip(), replycode, stage, said_host, said_addr, None


def _unfold(text: str, replycode: str, xstatus: str | None) -> str:
    """Drop the ``550-5.7.1`` markers of the continuation lines Postfix
    joined into one reply (the first line's were cut off already)."""
    prefix = f"{replycode}-{xstatus} " if xstatus else f"{replycode}-"
    if prefix in text:
        text = text.replace(" " + prefix, " ")
        last = f" {replycode} {xstatus} " if xstatus else f" {replycode} "
        text = text.replace(last, " ")
    return text
