"""Postfix send-log parser: one stream of log lines in, ``Attempt`` records out.

Postfix spreads a message's story over several daemons, each logging under
``<syslog_name>/<daemon>`` (``postfix/smtp``, ``pfA/qmgr``,
``postfix/submission/smtpd``, ``postfix-out/smtp``):

* ``cleanup``  ``QID: message-id=<...>``            -> the message's Message-ID
* ``qmgr``     ``QID: from=<...>, size=.., nrcpt=..`` -> the envelope sender
* any agent    ``QID: to=<...>, relay=.., dsn=.., status=..`` -> one attempt
* ``qmgr``     ``QID: from=<...>, status=expired, returned to sender``
                                                  -> still-deferred recipients expire
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

Address-verification probes (``status=deliverable`` / ``undeliverable``)
are not deliveries and produce no attempt; neither do the informational
``QID: host X said: ...`` lines that precede a final per-recipient line when
Postfix moves on to the next MX.

Recipients are lowercased as a whole: mailbox local parts are
case-insensitive in practice everywhere we deliver, and DSNs, VERP tokens and
the ledger all compare case-insensitively. Senders are kept as written,
because a signed return-path token can be case-sensitive.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

from ingest.records import Attempt, AttemptVerdict
from ingest.sendlog.base import (
    CountingParser,
    DsnLink,
    ParseOptions,
    QueueState,
    refresh,
    remember,
)
from ingest.sendlog.relays import RelayClassifier
from ingest.sendlog.syslogtime import StampReader, match_syslog_header

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

# -- message bodies ----------------------------------------------------------

_DELIVERY = re.compile(
    r"to=(?:<(?P<to>[^>]*)>|(?P<to_bare>[^,\s]*)), "
    r"(?:orig_to=(?:<(?P<orig>[^>]*)>|(?P<orig_bare>[^,\s]*)), )?"
    r"relay=(?P<relay>[^,\s]*), "
    r"(?P<kv>(?:[a-z_]+=[^,\s]*, )*?)"
    r"status=(?P<status>[A-Za-z-]+)(?P<rest>.*)",
    re.S,
)
_DSN = re.compile(r"dsn=(\d\.\d{1,3}\.\d{1,3})")
_RELAY = re.compile(r"(?P<host>[^\[\]]*)\[(?P<addr>[^\]]*)\](?::(?P<port>\d{1,5}))?$")
_SAID = re.compile(
    r"host (?P<host>[^\s\[\]]+)\[(?P<addr>[^\]]*)\](?::\d+)? (?:said|refused to talk to me): (?P<reply>.*)",
    re.S,
)
_REPLY_CODE = re.compile(r"(?P<code>[2-5]\d\d)(?:[ -](?P<status>[245]\.\d{1,3}\.\d{1,3}))?(?=[ -]|$)")
_WHILE = re.compile(r" while (?:sending|receiving|performing) (?:the )?(?P<stage>[^()]+?)\s*$")
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

_IP_CHARS = "0123456789abcdefABCDEF.:"

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
    return hits > 0 and hits * 5 >= seen


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
        self._cap = options.max_tracked_queue_ids
        self._queues: dict[str, QueueState] = {}
        self._relay_memo: dict[str, tuple[str | None, str | None, str | None, int | None]] = {}
        self.dsn_links: dict[str, DsnLink] = {}

    @property
    def tracked_queue_ids(self) -> int:
        """How many queue ids currently have state (for tests and metrics)."""
        return len(self._queues)

    # -- entry point ---------------------------------------------------------

    def _feed(self, raw: str) -> list[Attempt]:
        m = match_syslog_header(raw)
        if m is None:
            if raw.strip():
                self._skip(raw)
            return []

        prog = m.group("prog")
        slash = prog.rfind("/")
        if slash <= 0:
            return []  # a valid syslog line, but not Postfix's
        msg = raw[m.end() :]
        colon = msg.find(": ")
        if colon < 5 or colon > 24:
            return []  # warnings, connect/disconnect, TLS chatter...
        qid = msg[:colon]
        if not (qid.isalnum() and qid.isascii()) or qid == "NOQUEUE":
            return []
        body = msg[colon + 2 :]
        c = body[:3]
        if c == "to=":
            if ", status=" in body:
                return self._delivery(m, prog[slash + 1 :], qid, body, raw)
            return []
        if c == "mes":
            if body.startswith("message-id="):
                self._message_id(qid, body[11:])
            return []
        if c == "fro":
            if body.startswith("from=<"):
                return self._qmgr_from(m, qid, body, raw)
            return []
        if c == "rem":
            if body.startswith("removed"):
                self._queues.pop(qid, None)
            return []
        if c == "inf":
            if body.startswith("info: header "):
                self._header_info(qid, body[13:])
            return []
        if " notification: " in body:
            self._notification(m, qid, body)
        return []

    # -- line kinds ----------------------------------------------------------

    def _delivery(self, m: re.Match[str], agent: str, qid: str, body: str, raw: str) -> list[Attempt]:
        d = _DELIVERY.match(body)
        if d is None:
            return []
        verdict = _VERDICTS.get(d.group("status").lower())
        if verdict is None:
            return []  # address-verification probe or an unknown status word
        at = self._at(m)
        if at is None:
            self._skip(raw)
            return []

        recipient = d.group("to")
        if recipient is None:
            recipient = d.group("to_bare") or ""
        recipient = recipient.lower()
        orig = d.group("orig")
        if orig is None:
            orig = d.group("orig_bare")
        if orig is not None:
            orig = orig.lower() or None

        relay = d.group("relay")
        parsed = self._relay_memo.get(relay)
        if parsed is None:
            parsed = _parse_relay(relay)
            if len(self._relay_memo) >= _RELAY_MEMO_LIMIT:
                self._relay_memo.clear()
            self._relay_memo[relay] = parsed
        relay_host, relay_addr, relay_ip, relay_port = parsed

        kv = d.group("kv")
        dsn_m = _DSN.search(kv) if kv else None
        status = dsn_m.group(1) if dsn_m else None

        text, replycode, stage, said_host, said_addr = _detail(d.group("rest"))
        if relay_host is None and relay_addr is None:
            # relay=none: name the peer from the text when it says who it was.
            if said_host is not None:
                relay_host, relay_addr = said_host, said_addr
                relay_ip = said_addr if _looks_like_ip(said_addr) else None
            else:
                peer = _PEER.search(text)
                if peer is not None:
                    relay_host = peer.group("host")
                    relay_addr = peer.group("addr")
                    relay_ip = relay_addr if _looks_like_ip(relay_addr) else None
                    port = peer.group("port")
                    relay_port = int(port) if port else None

        next_hop = _next_hop(text) if verdict == "accepted" and text else None

        state = self._queues.get(qid)
        attempt = Attempt(
            at=at,
            recipient=recipient,
            verdict=verdict,
            queue_id=qid,
            message_id=state.message_id if state is not None else None,
            sender=state.sender if state is not None else None,
            campaign=state.campaign if state is not None else None,
            orig_recipient=orig,
            relay_host=relay_host,
            relay_ip=relay_ip,
            relay_port=relay_port,
            replycode=replycode,
            status=status,
            text=text,
            smtp_stage=stage,
            next_hop_queue_id=next_hop,
            delivery_agent=agent,
            first_hop=self._relays.is_first_hop(agent, relay_host, relay_addr, relay_port),
            raw=raw,
        )

        # Remember deferred recipients so that an expiry can name them.
        if verdict == "deferred":
            (state or self._open(qid)).defer(recipient, attempt)
        elif state is not None:
            state.settle(recipient)
        return [attempt]

    def _header_info(self, qid: str, rest: str) -> None:
        """``header_checks`` INFO lines log chosen headers: the campaign comes from here.

        ``NAME: VALUE from client[ip]; from=<...> to=<...> proto=...``
        """
        name, colon, tail = rest.partition(": ")
        if not colon or name.lower() != self._campaign_header:
            return
        value = tail.split("; from=<", 1)[0]
        value = value.rsplit(" from ", 1)[0].strip()
        if not value:
            return
        state = self._queues.get(qid) or self._open(qid)
        state.campaign = value[:200]

    def _message_id(self, qid: str, value: str) -> None:
        # A cleanup message-id line starts a message's story: if a short id is
        # being reused without us having seen "removed", start afresh (but keep
        # a campaign header that cleanup logged just before the Message-ID).
        old = self._queues.pop(qid, None)
        state = self._open(qid)
        if old is not None and old.message_id is None:
            state.campaign = old.campaign
        value = value.strip()
        if value.startswith("<") and value.endswith(">"):
            value = value[1:-1]
        state.message_id = value or None

    def _qmgr_from(self, m: re.Match[str], qid: str, body: str, raw: str) -> list[Attempt]:
        end = body.find(">", 6)
        if end == -1:
            return []
        sender = body[6:end]
        tail = body[end + 1 :]
        state = refresh(self._queues, qid) or self._open(qid)  # most recent last
        state.sender = sender
        if not tail.startswith(", status=expired"):
            return []
        pending = state.pending
        state.pending = None
        if not pending:
            return []
        at = self._at(m)
        if at is None:
            self._skip(raw)
            return []
        return [
            dataclasses.replace(last, at=at, verdict="expired", sender=sender, raw=raw)
            for last in pending.values()
        ]

    def _notification(self, m: re.Match[str], qid: str, body: str) -> None:
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
            at=self._at(m),
        )
        if len(self.dsn_links) > self._cap:
            del self.dsn_links[next(iter(self.dsn_links))]

    # -- helpers -------------------------------------------------------------

    def _open(self, qid: str) -> QueueState:
        return remember(self._queues, qid, QueueState(), self._cap)

    def _at(self, m: re.Match[str]) -> datetime | None:
        ts = m.group("ts")
        if ts[0].isdigit():
            return self._stamps.iso(ts)
        return self._stamps.classic(ts)


def _looks_like_ip(addr: str | None) -> bool:
    """An IPv4/IPv6 literal rather than a socket path like ``private/lmtp``."""
    if not addr:
        return False
    return not addr.strip(_IP_CHARS) and ("." in addr or ":" in addr)


def _parse_relay(relay: str) -> tuple[str | None, str | None, str | None, int | None]:
    """``relay=`` value -> (host, bracketed addr, ip, port).

    ``mx.example[192.0.2.1]:25`` -> ("mx.example", "192.0.2.1", "192.0.2.1", 25);
    ``host[private/dovecot-lmtp]`` keeps the socket path as addr but not as ip;
    ``local``/``dovecot`` are transport names kept as host; ``none`` is None.
    """
    if not relay or relay == "none":
        return (None, None, None, None)
    r = _RELAY.match(relay)
    if r is None:
        return (relay, None, None, None)
    host = r.group("host") or None
    addr = r.group("addr") or None
    port = r.group("port")
    return (host, addr, addr if _looks_like_ip(addr) else None, int(port) if port else None)


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


def _detail(rest: str) -> tuple[str, str | None, str | None, str | None, str | None]:
    """The part after ``status=word`` -> (text, replycode, stage, said_host, said_addr).

    ``text`` is the remote server's words with the reply code and enhanced
    status removed (they have their own fields), including the ``550-5.7.1``
    markers Postfix leaves when it joins a multi-line reply. Without a reply
    code (``connect to ...: Connection refused``, ``delivered to maildir``)
    it is the parenthesised detail as Postfix wrote it.
    """
    if rest.startswith(" ("):
        detail = rest[2:]
        if detail.endswith(")"):
            detail = detail[:-1]
    elif rest.startswith(", "):
        detail = rest[2:]  # "status=expired, returned to sender"
    else:
        detail = rest.strip()

    said_host = said_addr = None
    s = _SAID.search(detail)
    reply = detail
    if s is not None:
        said_host = s.group("host")
        said_addr = s.group("addr")
        reply = s.group("reply")

    stage = None
    cut = reply.rfind("(in reply to ")
    if cut != -1 and reply.endswith(" command)", cut):
        stage = reply[cut + 13 : -9]
        reply = reply[:cut].rstrip()
    else:
        w = _WHILE.search(reply)
        if w is not None:
            stage = w.group("stage")

    replycode = None
    rc = _REPLY_CODE.match(reply)
    if rc is not None:
        replycode = rc.group("code")
        xstatus = rc.group("status")
        text = reply[rc.end() :].lstrip(" -")
        prefix = f"{replycode}-{xstatus} " if xstatus else f"{replycode}-"
        if prefix in text:
            text = text.replace(" " + prefix, " ")
            last = f" {replycode} {xstatus} " if xstatus else f" {replycode} "
            text = text.replace(last, " ")
    elif s is not None:
        text = reply
    else:
        text = detail
    return text.strip(), replycode, stage, said_host, said_addr
