"""Sendmail send-log parser: syslog lines from ``sm-mta``/``sendmail`` in,
``Attempt`` records out.

Sendmail logs a message's story under its queue id (``xAR9F2mK012345`` in
8.12+, ``KAA12345`` in older releases):

* ``QID: from=<s>, size=.., nrcpts=N, msgid=<m>, ..`` -> sender and Message-ID
* ``QID: to=<a>,<b>, [ctladdr=..,] delay=.., mailer=esmtp, pri=.., relay=host. [ip],
  dsn=X.Y.Z, stat=...``                             -> one attempt per recipient
* ``QID: NEWQID: DSN: <reason>`` (also ``return to sender``, ``sender
  notify``, ``postmaster notify``)                  -> a ``DsnLink``; when the
  reason is ``Cannot send message for ...`` the recipients still deferred
  expire

``stat=`` decides the verdict: ``Sent (...)`` accepted, ``Deferred: ...``
deferred, ``queued`` is no attempt at all (the message merely went to the
queue); anything else is a failure whose ``dsn=`` class says permanent (5) or
not (4). Sendmail keeps the remote reply code only in ``Deferred: 451 4.2.0
...`` texts (and in ``reply=`` where a build logs it); for ``stat=User
unknown`` the code stays unknown and the status comes from ``dsn=``.

Sendmail logs no "removed" line, so per-queue-id state only ends by
eviction (oldest first, capped like Postfix's).

First hop: ``mailer=local``/``prog``/``*file*``/``lmtp``... never leave the
host, and neither does the submission program's hand-off to the local MTA
(``mailer=relay, relay=[127.0.0.1]``: the MSP queue relaying to sm-mta, whose
own line for the same message is the real first hop). Other relays go
through the configured internal-relay patterns.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

from bounceledger.ingest.mta_replies import faked_reply_words, is_faked_reply
from bounceledger.ingest.records import Attempt, AttemptVerdict
from bounceledger.ingest.sendlog.base import (
    CountingParser,
    DsnLink,
    ParseOptions,
    QueueState,
    looks_like_ip,
    next_hop_queue_id,
    refresh,
    remember,
    split_reply,
    strip_angles,
)
from bounceledger.ingest.sendlog.relays import RelayClassifier
from bounceledger.ingest.sendlog.journal import JOURNAL_STARTS
from bounceledger.ingest.sendlog.syslogtime import StampReader, header_time, match_syslog_header

__all__ = ["SendmailParser", "looks_like_sendmail"]

_RELAY_MEMO_LIMIT = 4096
# Classic syslog header of a Sendmail program, the fast path of _feed.
_CLASSIC_QID = re.compile(
    r"(?P<ts>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,9})?)"
    r" (?P<host>[^\s\[\]]+) (?P<prog>sm-[^\s\[\]:/]+|sendmail)(?:\[\d+\])?:  ?"
)  # a second space: the message went through RFC 5424 on its way (see syslogtime.CLASSIC_HEADER)
_QID_CHARS = re.compile(r"[0-9A-Za-z]{6,20}")
_FAST = re.compile(
    r"to=(?P<to>[^ ]*?), (?:ctladdr=(?P<ctladdr>[^,]*), )?delay=[^,]*, (?:xdelay=[^,]*, )?"
    r"mailer=(?P<mailer>[^,]*), pri=\d+, (?:relay=(?P<relay>[^,]*), )?(?:dsn=(?P<dsn>[^,]*))?$"
)
_CTLADDR = re.compile(r"<?([^>\s]+)>?")
# The delivery line is a list of "key=value" items joined by ", " (sendmail's
# doc/op "Logging": to=, ctladdr=, delay=, xdelay=, mailer=, pri=, relay=,
# dsn=, reply=, stat=; which appear depends on LogLevel and the mailer). A
# free-text value (reply=, stat=) may itself hold ", ", so an item starts
# only where ", " is followed by a key and "=".
_ITEM_SPLIT = re.compile(r", (?=[A-Za-z][A-Za-z0-9_]{0,19}=)")
# A known key after stat=: stat= was not last, the one-match path cannot be used.
_LATER_KEY = re.compile(
    r", (?:to|ctladdr|delay|xdelay|mailer|pri|relay|dsn|reply|tries|orcpt|stat)="
)
_FROM = re.compile(r"from=(?:<(?P<a>[^>]*)>|(?P<b>[^,\s]*))")
_MSGID = re.compile(r", msgid=<?(?P<m>[^>,\s]*)>?")
_RELAY = re.compile(
    r"(?P<host>\[[^\]]*\]|[^\s\[]+)?(?: ?\[(?P<ip>[^\]]*)\])?"
)
_NOTIFY = re.compile(
    r"(?P<new>[0-9A-Za-z]{6,20}): (?P<what>DSN|return to sender|sender notify|postmaster notify): (?P<reason>.*)$",
    re.S,
)

# mailer= values that deliver inside the host, with the agent class that
# relays.py knows.
_INTERNAL_MAILERS: dict[str, str] = {
    "local": "local",
    "prog": "pipe",
    "*file*": "local",
    "*include*": "local",
    "lmtp": "local",
    "cyrus": "local",
    "cyrusv2": "local",
    "procmail": "pipe",
    "mailman": "pipe",
    "dovecot": "local",
    "discard": "discard",
    "error": "error",
}
_LOOPBACK = frozenset({"127.0.0.1", "::1", "IPv6:::1", "localhost", "localhost.localdomain"})


_PROG_MEMO: dict[str, bool] = {}


def _is_sendmail_prog(prog: str) -> bool:
    """``sm-mta``, ``sendmail``, ``sm-msp-queue``... but not Postfix's
    ``postfix/sendmail`` (memoised: a log has a handful of programs)."""
    known = _PROG_MEMO.get(prog)
    if known is None:
        low = prog.lower()
        known = "/" not in low and (low.startswith("sm-") or "sendmail" in low)
        if len(_PROG_MEMO) < 1024:
            _PROG_MEMO[prog] = known
    return known


def looks_like_sendmail(first_lines: list[str]) -> bool:
    """True when at least one line is a Sendmail ``QID: from=``/``to=`` line
    and a fifth of the non-blank lines come from a Sendmail program."""
    seen = hits = strong = 0
    for line in first_lines:
        if not isinstance(line, str) or not line.strip():
            continue
        seen += 1
        h = match_syslog_header(line)
        if h is None or not _is_sendmail_prog(h.group("prog")):
            continue
        hits += 1
        msg = line[h.end() :]
        colon = msg.find(": ")
        if 6 <= colon <= 20 and msg[colon + 2 : colon + 5] in ("fro", "to="):
            strong += 1
    return strong > 0 and hits * 5 >= seen


class SendmailParser(CountingParser):
    """Stateful parser for one Sendmail log stream. See the module docstring.

    ``dsn_links`` maps the queue id of each notification Sendmail generated
    to a :class:`DsnLink` (capped like the queue state).
    """

    journal_starts = JOURNAL_STARTS  # it logs through syslog: read journal exports too

    format_name = "sendmail"

    def __init__(self, options: ParseOptions) -> None:
        super().__init__()
        self.options = options
        self._stamps = StampReader(options.reference_time, options.timezone)
        self._relays = RelayClassifier(options.internal_relays)
        self._cap = options.max_tracked_queue_ids
        self._queues: dict[str, QueueState] = {}
        self.dsn_links: dict[str, DsnLink] = {}
        self._relay_memo: dict[str, tuple[str | None, str | None]] = {}

    @property
    def tracked_queue_ids(self) -> int:
        return len(self._queues)

    def _feed(self, raw: str) -> list[Attempt]:
        h = _CLASSIC_QID.match(raw)  # the common shape in one match
        if h is None:
            h = match_syslog_header(raw)
            if h is None:
                if raw.strip():
                    self._skip(raw)
                return []
        if not _is_sendmail_prog(h.group("prog")):
            return []
        msg = raw[h.end() :]
        colon = msg.find(": ")
        if colon < 6 or colon > 20:
            return []  # STARTTLS=, ruleset=, daemon chatter
        qid = msg[:colon]
        if _QID_CHARS.fullmatch(qid) is None:
            return []
        body = msg[colon + 2 :]
        if body.startswith("to="):
            return self._delivery(h.group("ts"), qid, body, raw)
        if body.startswith("from="):
            self._from(qid, body)
            return []
        n = _NOTIFY.match(body)
        if n is not None:
            return self._notify(h.group("ts"), qid, n, raw)
        return []

    # -- line kinds ----------------------------------------------------------

    def _from(self, qid: str, body: str) -> None:
        f = _FROM.match(body)
        if f is None:
            return
        sender = f.group("a")
        if sender is None:
            sender = f.group("b") or ""
        self._queues.pop(qid, None)  # the from= line starts a queue entry
        state = self._open(qid)
        state.sender = sender
        m = _MSGID.search(body, f.end())
        if m is not None:
            state.message_id = m.group("m") or None

    def _delivery(self, ts: str, qid: str, body: str, raw: str) -> list[Attempt]:
        cut = body.find(", stat=")
        fast = _FAST.match(body, 0, cut) if cut != -1 else None
        kv: dict[str, str]
        if fast is not None and _LATER_KEY.search(body, cut + 7) is None:
            # Sendmail's usual order, ending in "dsn=.., stat=<text>", in one match
            stat = body[cut + 7 :]
            recipients = _recipients(fast.group("to"))
            kv = {k: v for k, v in fast.groupdict().items() if v is not None}
        else:
            kv = _pairs(body)
            found = kv.get("stat")
            if found is None:
                return []
            stat = found
            recipients = _recipients(kv.get("to", ""))
        if not recipients:
            return []
        if recipients[0][:1] in ("|", "/"):
            # a pipe or file: the controlling address is what was mailed
            owner = _CTLADDR.match(kv.get("ctladdr", ""))
            if owner is not None and "@" in owner.group(1):
                recipients = [owner.group(1).lower()]

        reply = kv.get("reply")
        status = kv.get("dsn") or None
        faked = None
        if reply and is_faked_reply(reply):
            # Sendmail's own words where the server said nothing (usersmtp.c): no reply code, dsn= stays
            faked, reply = faked_reply_words(reply), None
        if stat.startswith("Sent"):
            verdict: AttemptVerdict = "accepted"
            detail = stat[4:].strip()
            if detail.startswith("(") and detail.endswith(")"):
                detail = detail[1:-1]
            text = detail
        elif stat.startswith("Deferred"):
            verdict = "deferred"
            text = stat[8:].lstrip(":").strip()
        elif stat.lower().startswith("queued"):
            if not (status or "").startswith("4"):
                return []  # into the queue, not an attempt
            # queued after a temporary failure (dsn=4.4.3: the name server failed): a deferral,
            # and the one an expiry ("Cannot send message for ...") will name.
            # src: RFC 3463 class 4 = persistent transient failure; Sendmail 8.17 observed logging
            # "dsn=4.4.3, stat=queued" (SERVFAIL/timeout of the MX lookup) and nothing else
            # for that recipient until "sender notify: Cannot send message for ...".
            verdict = "deferred"
            text = stat.strip()
        else:
            lead = status[:1] if status else ""
            verdict = "deferred" if lead == "4" else ("accepted" if lead == "2" else "rejected")
            text = stat.strip()
        if faked is not None and not text:
            text = faked
        replycode, xstatus, text = split_reply(reply if reply else text)
        if status is None or (reply and xstatus):
            # The remote's own enhanced code (reply=) over the one Sendmail
            # maps from the reply code into dsn= (a "554 5.7.1" logs dsn=5.0.0)
            status = xstatus

        at = header_time(self._stamps, ts)
        if at is None:
            self._skip(raw)
            return []

        mailer = kv.get("mailer")
        relay = kv.get("relay")
        if relay:
            parsed = self._relay_memo.get(relay)
            if parsed is None:
                parsed = _parse_relay(relay)
                if len(self._relay_memo) >= _RELAY_MEMO_LIMIT:
                    self._relay_memo.clear()
                self._relay_memo[relay] = parsed
            host, ip = parsed
        else:
            host = ip = None
        kind = _INTERNAL_MAILERS.get(mailer.lower()) if mailer else None
        if kind is None and mailer == "relay" and (host in _LOOPBACK or ip in _LOOPBACK or (ip or "").startswith("127.")):
            kind = "local"  # the MSP's hand-off to the local MTA
        first_hop = self._relays.is_first_hop(kind or "smtp", host, ip, None)
        relay_ip = ip if looks_like_ip(ip) else None
        next_hop = next_hop_queue_id(text) if verdict == "accepted" else None
        orig = strip_angles(kv.get("orcpt"))
        if orig is not None and ";" in orig:
            orig = orig.split(";", 1)[1]

        state = self._touch(qid)
        out: list[Attempt] = []
        for rcpt in recipients:
            attempt = Attempt(
                at=at,
                recipient=rcpt,
                verdict=verdict,
                queue_id=qid,
                message_id=state.message_id if state is not None else None,
                sender=state.sender if state is not None else None,
                orig_recipient=orig.lower() if orig and orig.lower() != rcpt else None,
                relay_host=host,
                relay_ip=relay_ip,
                replycode=replycode,
                status=status,
                text=text,
                next_hop_queue_id=next_hop,
                delivery_agent=mailer,
                first_hop=first_hop,
                raw=raw,
            )
            out.append(attempt)
            if verdict == "deferred":
                state = state or self._open(qid)
                state.defer(rcpt, attempt)
            elif state is not None:
                state.settle(rcpt)
        return out

    def _notify(self, ts: str, qid: str, n: re.Match[str], raw: str) -> list[Attempt]:
        reason = n.group("reason")
        what = n.group("what")
        new = n.group("new")
        if reason.startswith("Warning"):
            kind = "delay"
        elif reason.startswith("Return receipt"):
            kind = "success"
        else:
            kind = "non-delivery"
        state = self._queues.get(qid)
        at = header_time(self._stamps, ts)
        self.dsn_links.pop(new, None)
        self.dsn_links[new] = DsnLink(
            notification_queue_id=new,
            original_queue_id=qid,
            kind=kind,
            addressee="postmaster" if "postmaster" in what else "sender",
            original_message_id=state.message_id if state is not None else None,
            at=at,
        )
        if len(self.dsn_links) > self._cap:
            del self.dsn_links[next(iter(self.dsn_links))]
        # NEW is a message Sendmail wrote itself (DSN, delay warning, return receipt): it goes
        # out with the null reverse-path and Sendmail logs no from= line for it, so its own
        # to= lines would otherwise carry sender None and count as sent mail (is_notice).
        # src: RFC 5321 4.5.5 (notifications MUST use the null reverse-path); Sendmail 8.17
        # observed on the wire (MAIL FROM:<>) with no "NEW: from=" log line at LogLevel 9 or 14.
        notice = self._queues.get(new) or self._open(new)
        if notice.sender is None:
            notice.sender = ""
        if "Cannot send message" not in reason or state is None or not state.pending:
            return []
        if at is None:
            self._skip(raw)
            return []
        pending = state.pending
        state.pending = None
        return [dataclasses.replace(last, at=at, verdict="expired", raw=raw) for last in pending.values()]

    # -- helpers -------------------------------------------------------------

    def _open(self, qid: str) -> QueueState:
        return remember(self._queues, qid, QueueState(), self._cap)

    def _touch(self, qid: str) -> QueueState | None:
        return refresh(self._queues, qid)

    def _at(self, ts: str) -> datetime | None:
        return header_time(self._stamps, ts)


def _parse_relay(relay: str) -> tuple[str | None, str | None]:
    """``mx.example.net. [192.0.2.1]`` -> ("mx.example.net", "192.0.2.1");
    ``[192.0.2.1] [192.0.2.1]`` and ``[IPv6:2001:db8::1]`` forms too."""
    r = _RELAY.match(relay)
    if r is None:
        return None, None
    host = r.group("host")
    ip = r.group("ip")
    if host and host.startswith("["):
        host = host[1:-1]
    if ip and ip.startswith("IPv6:"):
        ip = ip[5:]
    if host and host.startswith("IPv6:"):
        host = host[5:]
    if host and host.endswith(".") and len(host) > 1:
        host = host[:-1]
    host = host or None
    ip = ip or None
    if ip is None and looks_like_ip(host):
        ip = host
    return host, ip


def _pairs(body: str) -> dict[str, str]:
    """``to=a, k=v, stat=Deferred: 451 x, y`` -> a dict, in whatever order the
    items come (the first of a repeated key wins)."""
    out: dict[str, str] = {}
    for item in _ITEM_SPLIT.split(body):
        k, eq, v = item.partition("=")
        if eq and k not in out:
            out[k] = v
    return out


def _recipients(value: str) -> list[str]:
    """``<a@x>,<b@y>`` / ``a@x,b@y`` / ``"|/usr/bin/prog"`` -> lowercased list."""
    out: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if item.startswith('"') and item.endswith('"') and len(item) > 1:
            item = item[1:-1]
        if item.startswith("<") and item.endswith(">"):
            item = item[1:-1]
        # A list too long for one line is logged over several, each but the last ending in
        # ", [more]" after the last whole address that fit: a marker, not a recipient.
        # src: Sendmail 8.17.1.9 logdelivery() format "to=%.*s [more]%s" (sendmail/deliver.c),
        # observed for a 30-recipient message through syslog.
        if item and item != "[more]":
            out.append(item.lower())
    return out
